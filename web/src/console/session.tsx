import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { createApiClient, type ApiClient } from '../shared/api.ts';
import { useI18n } from '../shared/i18n.tsx';

interface OperatorSession {
  api: ApiClient;
  signedIn: boolean;
  /** Why the tab was signed out without the operator asking: the key stopped working. */
  keyRejected: boolean;
  /** Checks the key against the API (it must read the ledger) and keeps it for this tab. */
  signIn(key: string): Promise<void>;
  signOut(): void;
}

const STORAGE_KEY = 'millet.operator-key';
const Context = createContext<OperatorSession | undefined>(undefined);

/** The operator's API key (mlt_op_…), kept in sessionStorage: gone when the tab closes. */
export function OperatorSessionProvider({ children }: { children: ReactNode }) {
  const { language } = useI18n();
  const key = useRef<string | undefined>(sessionStorage.getItem(STORAGE_KEY) ?? undefined);
  const languageRef = useRef(language);
  languageRef.current = language;
  const [signedIn, setSignedIn] = useState(key.current !== undefined);
  const [keyRejected, setKeyRejected] = useState(false);
  const forget = useCallback((rejected: boolean) => {
    key.current = undefined;
    sessionStorage.removeItem(STORAGE_KEY);
    setSignedIn(false);
    setKeyRejected(rejected);
  }, []);
  // The sign-in check goes through a client of its own: a wrong candidate key is the form's error.
  const checker = useMemo(
    () => createApiClient({ token: () => key.current, language: () => languageRef.current }),
    [],
  );
  // A key revoked (or expired) while the tab is open answers every request 401: the tab stayed
  // "signed in", each page failing one by one. The first 401 signs the tab out instead, unless
  // the operator has meanwhile signed in with another key.
  const api = useMemo(
    () =>
      createApiClient({
        token: () => key.current,
        language: () => languageRef.current,
        unauthorized: (sentKey) => {
          if (key.current === sentKey) forget(true);
        },
      }),
    [forget],
  );
  const signIn = useCallback(
    async (candidate: string) => {
      const previous = key.current;
      key.current = candidate.trim();
      try {
        await checker.get('/v1/operator/close-runs?limit=1');
      } catch (error) {
        key.current = previous;
        throw error;
      }
      sessionStorage.setItem(STORAGE_KEY, key.current);
      setKeyRejected(false);
      setSignedIn(true);
    },
    [checker],
  );
  const signOut = useCallback(() => forget(false), [forget]);
  const value = useMemo(
    () => ({ api, signedIn, keyRejected, signIn, signOut }),
    [api, signedIn, keyRejected, signIn, signOut],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useOperator(): OperatorSession {
  const value = useContext(Context);
  if (!value) throw new Error('useOperator outside OperatorSessionProvider');
  return value;
}
