import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate, useSearchParams } from 'react-router';
import { api, signIn, unwrap } from '../api/client';
import { ApiError } from '../api/problem';
import { useAuth } from '../auth';
import { useI18n } from '../i18n';
import { oauthReturn, safeNext } from '../lib/nav';
import { Button, Card, ErrorMessage, Field, inputClass, PageTitle } from '../ui';

function AuthForm({ mode }: { mode: 'signin' | 'signup' }) {
  const { t } = useI18n();
  const { user } = useAuth();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = safeNext(params.get('next'));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const providers = useQuery({ queryKey: ['providers'], queryFn: () => unwrap(api.GET('/api/auth/providers')), staleTime: Infinity });

  if (user) return <Navigate to={next} replace />;

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      if (mode === 'signup') {
        await signIn('/api/auth/register', { email: form.get('email'), password: form.get('password'), name: form.get('name') });
      } else {
        await signIn('/api/auth/login', { email: form.get('email'), password: form.get('password') });
      }
      navigate(next, { replace: true });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const fieldError = (name: string) => (error instanceof ApiError ? error.field(name) : undefined);
  const other = mode === 'signin' ? '/signup' : '/signin';
  return (
    <div className="mx-auto max-w-md">
      <PageTitle>{t(mode === 'signin' ? 'auth.signInTitle' : 'auth.signUpTitle')}</PageTitle>
      <Card>
        <form onSubmit={submit} className="space-y-4" noValidate>
          {mode === 'signup' && (
            <Field label={t('auth.name')} error={fieldError('name')}>
              <input name="name" autoComplete="name" required className={inputClass} aria-invalid={!!fieldError('name')} />
            </Field>
          )}
          <Field label={t('auth.email')} error={fieldError('email')}>
            <input name="email" type="email" autoComplete="email" required className={inputClass} aria-invalid={!!fieldError('email')} />
          </Field>
          <Field label={t('auth.password')} error={fieldError('password')} hint={mode === 'signup' ? t('auth.passwordHint') : undefined}>
            <input
              name="password"
              type="password"
              autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
              required
              minLength={mode === 'signup' ? 8 : undefined}
              className={inputClass}
              aria-invalid={!!fieldError('password')}
            />
          </Field>
          {error != null && !(error instanceof ApiError && error.code === 'VALIDATION_FAILED') && <ErrorMessage error={error} />}
          <Button type="submit" busy={busy} className="w-full">
            {t(mode === 'signin' ? 'auth.signIn' : 'auth.signUp')}
          </Button>
        </form>
        {!!providers.data?.providers.length && (
          <div className="mt-6 space-y-2 border-t border-slate-200 pt-4">
            {providers.data.providers.map((provider) => (
              <a
                key={provider}
                href={`/api/auth/oauth/${encodeURIComponent(provider)}/start?return_to=${encodeURIComponent(oauthReturn(next))}`}
                className="block rounded-lg px-4 py-2.5 text-center text-sm font-semibold ring-1 ring-slate-300 hover:bg-slate-100"
              >
                {t('auth.continueWith', { provider })}
              </a>
            ))}
          </div>
        )}
        <p className="mt-6 text-center text-sm text-slate-700">
          {t(mode === 'signin' ? 'auth.noAccount' : 'auth.haveAccount')}{' '}
          <Link to={`${other}?next=${encodeURIComponent(next)}`} className="font-semibold text-brand-700 underline">
            {t(mode === 'signin' ? 'auth.signUp' : 'auth.signIn')}
          </Link>
        </p>
      </Card>
    </div>
  );
}

export const SignIn = () => <AuthForm mode="signin" />;
export const SignUp = () => <AuthForm mode="signup" />;
