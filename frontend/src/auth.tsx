// Who is signed in, for React: restores the session from the refresh cookie once at start-up.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { session, type User } from './api/session';
import { Loading } from './ui';

interface AuthState {
  user: User | null;
  /** False until the start-up refresh has answered. */
  ready: boolean;
}

const Context = createContext<AuthState>({ user: null, ready: false });
/** Not a secret: only whether this browser had a session, to skip a pointless refresh call. */
const MARK = 'tiketi.session';

export function AuthProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<AuthState>({ user: session.user, ready: false });
  useEffect(() => {
    const off = session.subscribe((user) => {
      if (user) localStorage.setItem(MARK, '1');
      else localStorage.removeItem(MARK);
      setState({ user, ready: true });
    });
    const restore = localStorage.getItem(MARK) || new URLSearchParams(location.search).has('signed_in');
    if (restore && !session.user) {
      void session.refresh().finally(() => setState({ user: session.user, ready: true }));
    } else {
      setState({ user: session.user, ready: true });
    }
    return off;
  }, []);
  return <Context.Provider value={state}>{children}</Context.Provider>;
}

export function useAuth(): AuthState {
  return useContext(Context);
}

/** Renders children for a signed-in user (admins only with `admin`), else sends them to sign in. */
export function RequireAuth({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const { user, ready } = useAuth();
  const location = useLocation();
  if (!ready) return <Loading />;
  if (!user) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  if (admin && user.role !== 'admin') return <Navigate to="/" replace />;
  return <>{children}</>;
}
