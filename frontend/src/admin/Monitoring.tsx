// Grafana's dashboards when the deployment has one; otherwise where the raw metrics are.
import { useQuery } from '@tanstack/react-query';
import { useI18n } from '../i18n';
import { Card, ErrorMessage, Loading, PageTitle } from '../ui';
import { configQuery } from './queries';

export default function Monitoring() {
  const { t } = useI18n();
  const config = useQuery(configQuery);
  if (config.isPending) return <Loading />;
  if (config.isError) return <ErrorMessage error={config.error} retry={() => void config.refetch()} />;
  const grafana = config.data.grafana_url;
  return (
    <>
      <PageTitle sub={grafana ? t('admin.monitoring.subtitle') : undefined}>{t('admin.monitoring.title')}</PageTitle>
      {grafana ? (
        <>
          <iframe src={grafana} title={t('admin.monitoring.frame')} className="h-[80vh] min-h-[36rem] w-full rounded-2xl bg-white ring-1 ring-slate-200" />
          <p className="mt-2 text-sm">
            <a href={grafana} target="_blank" rel="noreferrer" className="font-semibold text-brand-700 hover:underline">
              {t('admin.monitoring.open')}
            </a>
          </p>
        </>
      ) : (
        <Card>
          <p>{t('admin.monitoring.none')}</p>
          <p className="mt-2">
            {t('admin.monitoring.metrics')}{' '}
            <a href="/metrics" className="font-semibold text-brand-700 hover:underline">
              /metrics
            </a>
          </p>
        </Card>
      )}
    </>
  );
}
