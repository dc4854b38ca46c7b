import { Link, NavLink, Outlet, useNavigate } from 'react-router';
import { session } from './api/session';
import { useAuth } from './auth';
import { useI18n } from './i18n';

export function Layout() {
  const { t, lang, setLang } = useI18n();
  const { user } = useAuth();
  const navigate = useNavigate();
  const nav = ({ isActive }: { isActive: boolean }) =>
    `rounded-lg px-3 py-2 text-sm font-semibold ${isActive ? 'bg-brand-50 text-brand-800' : 'text-slate-700 hover:bg-slate-100'}`;
  return (
    <div className="flex min-h-screen flex-col">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:p-2">
        {t('nav.skip')}
      </a>
      <header className="sticky top-0 z-30 border-b border-slate-200 bg-white/95 backdrop-blur">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-2 px-4 py-2">
          <Link to="/" className="mr-2 flex items-center gap-2 text-lg font-extrabold text-brand-700">
            <img src="/favicon.svg" alt="" className="h-7 w-7" />
            Tiketi
          </Link>
          <nav aria-label={t('nav.main')} className="order-last flex w-full items-center gap-1 sm:order-none sm:w-auto sm:flex-1">
            <NavLink to="/" end className={nav}>
              {t('nav.events')}
            </NavLink>
            {user && (
              <NavLink to="/me/reservations" className={nav}>
                {t('nav.tickets')}
              </NavLink>
            )}
            {user?.role === 'admin' && (
              <NavLink to="/admin" className={nav}>
                {t('nav.console')}
              </NavLink>
            )}
          </nav>
          <div className="ml-auto flex items-center gap-2">
            <button
              type="button"
              onClick={() => setLang(lang === 'ko' ? 'en' : 'ko')}
              className="rounded-lg px-2 py-2 text-sm font-semibold text-slate-700 hover:bg-slate-100"
              aria-label={t('nav.language')}
              lang={lang === 'ko' ? 'en' : 'ko'}
            >
              {lang === 'ko' ? 'English' : '한국어'}
            </button>
            {user ? (
              <>
                <span className="hidden text-sm text-slate-700 sm:inline">{user.name}</span>
                <button
                  type="button"
                  className="rounded-lg px-3 py-2 text-sm font-semibold text-slate-700 hover:bg-slate-100"
                  onClick={() => void session.signOut().then(() => navigate('/'))}
                >
                  {t('nav.signOut')}
                </button>
              </>
            ) : (
              <Link to="/signin" className="rounded-lg bg-brand-700 px-3 py-2 text-sm font-semibold text-white hover:bg-brand-800">
                {t('nav.signIn')}
              </Link>
            )}
          </div>
        </div>
      </header>
      <main id="main" className="mx-auto w-full max-w-6xl flex-1 px-4 py-6 sm:py-8">
        <Outlet />
      </main>
      <footer className="border-t border-slate-200 py-6 text-center text-xs text-slate-600">{t('footer')}</footer>
    </div>
  );
}
