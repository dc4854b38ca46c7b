import { useI18n } from '../i18n';
import { PageTitle, TextLink } from '../ui';

export function NotFound() {
  const { t } = useI18n();
  return (
    <div className="py-16 text-center">
      <PageTitle>{t('notFound.title')}</PageTitle>
      <TextLink to="/">{t('notFound.home')}</TextLink>
    </div>
  );
}
