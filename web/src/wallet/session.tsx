import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import { ApiError, createApiClient, type ApiClient } from '../shared/api.ts';
import { useI18n } from '../shared/i18n.tsx';

/** GET /v1/me */
export interface Me {
  id: string;
  phone: string;
  kyc_status: 'none' | 'verified';
  account_class: 'I' | 'II' | 'III' | null;
  real_name: string | null;
  resident_id: string | null;
  is_adult: boolean;
}

/** POST /v1/phone-verifications */
export interface PhoneVerification {
  phone: string;
  expires_in: number;
  resend_after: number;
  /** Only where the server runs with sandbox codes (the embedded demo): no SMS is really sent. */
  sandbox_code?: string | null;
}

interface Tokens {
  access_token: string;
  refresh_token: string;
  /** Log-in and password reset only: this browser's device token for the account. */
  device_token?: string | null;
}

interface Session {
  api: ApiClient;
  me: Me | undefined;
  /** True until the saved session (if any) has been checked. */
  restoring: boolean;
  /** The session ended without the user logging out (expired, or ended elsewhere): say so at log-in. */
  sessionEnded: boolean;
  logIn(phone: string, password: string): Promise<void>;
  /** Sends the sign-up code to the phone by SMS. */
  sendSignUpCode(phone: string): Promise<PhoneVerification>;
  signUp(phone: string, verificationCode: string, password: string): Promise<void>;
  /** Sends a password-reset code (only a number with an account gets one; the answer is the same). */
  sendResetCode(phone: string): Promise<PhoneVerification>;
  /** Forgot password: sets the new one with the code, ends every other session, logs in. */
  resetPassword(phone: string, verificationCode: string, newPassword: string): Promise<void>;
  logOut(): Promise<void>;
  reloadMe(): Promise<void>;
}

const STORAGE_KEY = 'millet.session';
/**
 * The device token of the last log-in in this browser, kept across tabs and restarts (unlike the
 * session): sent with every log-in, it lets the owner in even while strangers have used up the
 * phone's daily allowance of failed log-ins. One per browser: another account logging in here
 * replaces it (the API ignores a token of another account).
 */
const DEVICE_KEY = 'millet.device';

function savedDeviceToken(): string | undefined {
  try {
    return localStorage.getItem(DEVICE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function keepDeviceToken(tokens: Tokens): void {
  try {
    if (tokens.device_token) localStorage.setItem(DEVICE_KEY, tokens.device_token);
  } catch {
    // Storage refused (private mode, full): log-ins work without it, only less shielded.
  }
}
const SessionContext = createContext<Session | undefined>(undefined);

function savedTokens(): Tokens | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The logged-in user: tokens kept in sessionStorage (gone with the tab), the 15-minute access
 * token refreshed once on ACCESS_TOKEN_EXPIRED with the single-use refresh token.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const { language } = useI18n();
  const tokens = useRef<Tokens | undefined>(savedTokens());
  const languageRef = useRef(language);
  languageRef.current = language;
  const [me, setMe] = useState<Me>();
  const refreshing = useRef<Promise<boolean> | undefined>(undefined);
  const [restoring, setRestoring] = useState(tokens.current !== undefined);
  const [sessionEnded, setSessionEnded] = useState(false);

  const store = (next: Tokens | undefined) => {
    tokens.current = next;
    if (next) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    else sessionStorage.removeItem(STORAGE_KEY);
  };

  const api = useMemo(() => {
    const client: ApiClient = createApiClient({
      token: () => tokens.current?.access_token,
      language: () => languageRef.current,
      // One refresh at a time: the refresh token is single use, and a second use of it revokes
      // the session (REFRESH_TOKEN_REUSED), so requests that fail together share one refresh.
      refresh: () => {
        refreshing.current ??= (async () => {
          const refresh = tokens.current?.refresh_token;
          if (!refresh) return false;
          try {
            const plain = createApiClient({ token: () => undefined, language: () => languageRef.current });
            store(await plain.post<Tokens>('/v1/sessions/refresh', { refresh_token: refresh }));
            return true;
          } catch {
            store(undefined);
            setMe(undefined);
            setSessionEnded(true);
            return false;
          }
        })().finally(() => {
          refreshing.current = undefined;
        });
        return refreshing.current;
      },
      // Any other 401 (the session was ended by a log-out elsewhere, a reused refresh token or a
      // password change) left the tab "logged in", every page failing with "please log in
      // again": it ends the tab's session and goes back to the log-in page, saying why.
      unauthorized: (sentToken) => {
        if (tokens.current?.access_token !== sentToken) return;
        store(undefined);
        setMe(undefined);
        setSessionEnded(true);
      },
    });
    return client;
  }, []);

  const reloadMe = useCallback(async () => {
    setMe(await api.get<Me>('/v1/me'));
  }, [api]);

  useEffect(() => {
    if (!tokens.current) return;
    reloadMe()
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.status === 401) store(undefined);
      })
      .finally(() => setRestoring(false));
  }, [reloadMe]);

  const logIn = useCallback(
    async (phone: string, password: string) => {
      const device = savedDeviceToken();
      const tokens = await api.post<Tokens>(
        '/v1/sessions',
        { phone, password },
        undefined,
        device ? { 'x-device-token': device } : {},
      );
      keepDeviceToken(tokens);
      store(tokens);
      setSessionEnded(false);
      await reloadMe();
    },
    [api, reloadMe],
  );
  const sendSignUpCode = useCallback(
    (phone: string) => api.post<PhoneVerification>('/v1/phone-verifications', { phone, purpose: 'sign_up' }),
    [api],
  );
  const signUp = useCallback(
    async (phone: string, verificationCode: string, password: string) => {
      await api.post('/v1/users', { phone, password, verification_code: verificationCode });
      await logIn(phone, password);
    },
    [api, logIn],
  );
  const sendResetCode = useCallback(
    (phone: string) =>
      api.post<PhoneVerification>('/v1/phone-verifications', { phone, purpose: 'password_reset' }),
    [api],
  );
  const resetPassword = useCallback(
    async (phone: string, verificationCode: string, newPassword: string) => {
      const tokens = await api.post<Tokens>('/v1/auth/password-reset', {
        phone,
        verification_code: verificationCode,
        new_password: newPassword,
      });
      keepDeviceToken(tokens);
      store(tokens);
      setSessionEnded(false);
      await reloadMe();
    },
    [api, reloadMe],
  );
  const logOut = useCallback(async () => {
    const refresh = tokens.current?.refresh_token;
    store(undefined);
    setMe(undefined);
    setSessionEnded(false);
    if (refresh) await api.post('/v1/sessions/logout', { refresh_token: refresh }).catch(() => {});
  }, [api]);

  const value = useMemo(
    () => ({
      api,
      me,
      restoring,
      sessionEnded,
      logIn,
      sendSignUpCode,
      signUp,
      sendResetCode,
      resetPassword,
      logOut,
      reloadMe,
    }),
    [
      api,
      me,
      restoring,
      sessionEnded,
      logIn,
      sendSignUpCode,
      signUp,
      sendResetCode,
      resetPassword,
      logOut,
      reloadMe,
    ],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
