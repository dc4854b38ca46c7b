import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { BrowserRouter, Route, Routes } from 'react-router';
import { ApiError } from './api/problem';
import { AuthProvider, RequireAuth } from './auth';
import { I18nProvider } from './i18n';
import { Layout } from './Layout';
import { CheckoutFail, CheckoutSuccess } from './pages/Checkout';
import { EventPage } from './pages/Event';
import { EventsPage } from './pages/Events';
import { NotFound } from './pages/NotFound';
import { QueuePage } from './pages/Queue';
import { ReservationPage, ReservationsPage } from './pages/Reservations';
import { SignIn, SignUp } from './pages/SignIn';
import { Loading } from './ui';

// Pages a buyer may never open are separate downloads: the seat map and the operator console.
const SeatsPage = lazy(() => import('./pages/Seats'));
const AdminApp = lazy(() => import('./admin/AdminApp'));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      // 4xx answers will not change by asking again; 429/503 and network errors may.
      retry: (count, error) =>
        count < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429),
    },
  },
});

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <I18nProvider>
        <AuthProvider>
          <BrowserRouter>
            <Suspense fallback={<Loading />}>
              <Routes>
                <Route element={<Layout />}>
                  <Route index element={<EventsPage />} />
                  <Route path="events/:id" element={<EventPage />} />
                  <Route path="events/:id/queue" element={<RequireAuth><QueuePage /></RequireAuth>} />
                  <Route path="events/:id/seats" element={<RequireAuth><SeatsPage /></RequireAuth>} />
                  <Route path="checkout/success" element={<RequireAuth><CheckoutSuccess /></RequireAuth>} />
                  <Route path="checkout/fail" element={<CheckoutFail />} />
                  <Route path="me/reservations" element={<RequireAuth><ReservationsPage /></RequireAuth>} />
                  <Route path="me/reservations/:id" element={<RequireAuth><ReservationPage /></RequireAuth>} />
                  <Route path="signin" element={<SignIn />} />
                  <Route path="signup" element={<SignUp />} />
                  <Route path="admin/*" element={<RequireAuth admin><AdminApp /></RequireAuth>} />
                  <Route path="*" element={<NotFound />} />
                </Route>
              </Routes>
            </Suspense>
          </BrowserRouter>
        </AuthProvider>
      </I18nProvider>
    </QueryClientProvider>
  );
}
