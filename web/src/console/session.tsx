import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { createApiClient, type ApiClient } from '../shared/api.ts';
import { useI18n } from '../shared/i18n.tsx';

interface OperatorSession {
  api: ApiClient;
  signedIn: boolean;
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
  const api = useMemo(
    () => createApiClient({ token: () => key.current, language: () => languageRef.current }),
    [],
  );
  const signIn = useCallback(
    async (candidate: string) => {
      const previous = key.current;
      key.current = candidate.trim();
      try {
        await api.get('/v1/operator/close-runs?limit=1');
      } catch (error) {
        key.current = previous;
        throw error;
      }
      sessionStorage.setItem(STORAGE_KEY, key.current);
      setSignedIn(true);
    },
    [api],
  );
  const signOut = useCallback(() => {
    key.current = undefined;
    sessionStorage.removeItem(STORAGE_KEY);
    setSignedIn(false);
  }, []);
  const value = useMemo(() => ({ api, signedIn, signIn, signOut }), [api, signedIn, signIn, signOut]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useOperator(): OperatorSession {
  const value = useContext(Context);
  if (!value) throw new Error('useOperator outside OperatorSessionProvider');
  return value;
}
