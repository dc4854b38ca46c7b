// The operator console: its own navigation and pages under /admin (a separate, lazily loaded bundle).
import { useEffect, useId, useState } from 'react';
import { NavLink, Outlet, Route, Routes, useLocation } from 'react-router';
import { useI18n, type MessageKey } from '../i18n';
import { Empty, TextLink } from '../ui';
import Dashboard from './Dashboard';
import EventDashboard from './EventDashboard';
import EventEdit from './EventEdit';
import EventNew from './EventNew';
import Events from './Events';
import Monitoring from './Monitoring';
import Reports from './Reports';
import VenueForm from './VenueForm';
import Venues from './Venues';

export default function AdminApp() {
  return (
    <Routes>
      <Route element={<Console />}>
        <Route index element={<Dashboard />} />
        <Route path="events" element={<Events />} />
        <Route path="events/new" element={<EventNew />} />
        <Route path="events/:id" element={<EventDashboard />} />
        <Route path="events/:id/edit" element={<EventEdit />} />
        <Route path="venues" element={<Venues />} />
        <Route path="venues/new" element={<VenueForm />} />
        <Route path="reports" element={<Reports />} />
        <Route path="monitoring" element={<Monitoring />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

const TABS: { to: string; label: MessageKey; end?: boolean }[] = [
  { to: '/admin', label: 'admin.nav.dashboard', end: true },
  { to: '/admin/events', label: 'admin.nav.events' },
  { to: '/admin/venues', label: 'admin.nav.venues' },
  { to: '/admin/reports', label: 'admin.nav.reports' },
  { to: '/admin/monitoring', label: 'admin.nav.monitoring' },
];

function Console() {
  const { t } = useI18n();
  const { pathname } = useLocation();
  const [open, setOpen] = useState(false);
  const listId = useId();
  // A chosen page closes the phone menu.
  useEffect(() => setOpen(false), [pathname]);
  const tab = ({ isActive }: { isActive: boolean }) =>
    `block rounded-lg px-3 py-2 text-sm font-semibold ${isActive ? 'bg-brand-700 text-white' : 'text-slate-700 hover:bg-slate-100'}`;
  return (
    <div>
      <nav aria-label={t('admin.nav')} className="mb-6 border-b border-slate-200 pb-3">
        <div className="flex items-center justify-between gap-3">
          <p className="text-sm font-bold uppercase tracking-wide text-slate-600">{t('admin.title')}</p>
          <button
            type="button"
            className="rounded-lg px-3 py-2 text-sm font-semibold text-slate-800 ring-1 ring-slate-300 md:hidden"
            aria-expanded={open}
            aria-controls={listId}
            onClick={() => setOpen((o) => !o)}
          >
            {t('admin.nav.menu')}
          </button>
        </div>
        <ul id={listId} className={`mt-2 flex-col gap-1 md:flex md:flex-row md:flex-wrap ${open ? 'flex' : 'hidden'}`}>
          {TABS.map((item) => (
            <li key={item.to}>
              <NavLink to={item.to} end={item.end} className={tab}>
                {t(item.label)}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Outlet />
    </div>
  );
}

function NotFound() {
  const { t } = useI18n();
  return (
    <Empty>
      {t('admin.notFound')} <TextLink to="/admin">{t('admin.nav.dashboard')}</TextLink>
    </Empty>
  );
}
