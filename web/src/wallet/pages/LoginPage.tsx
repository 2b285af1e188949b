import { useEffect, useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { navigate } from '../../shared/router.ts';
import { ErrorNotice, Field, Success, useAction } from '../../shared/ui.tsx';
import { useSession, type PhoneVerification } from '../session.tsx';

/**
 * Log in, or sign up: a code sent to the phone by SMS proves the number is the user's, then a
 * password (logged in at once). "Forgot password?" proves the phone the same way and sets a new
 * password, logged in at once even while the phone's log-in is locked by wrong passwords. Where the
 * server runs with sandbox codes (the demo), the code comes back in the answer and is shown and
 * filled in, since no SMS is sent.
 */
export function LoginPage() {
  const { t } = useI18n();
  const { logIn, sendSignUpCode, signUp, sendResetCode, resetPassword, sessionEnded } = useSession();
  const [mode, setMode] = useState<'login' | 'signup' | 'reset'>('login');
  const [phone, setPhone] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [sent, setSent] = useState<PhoneVerification>();
  const [resendAt, setResendAt] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const waitSeconds = Math.max(0, Math.ceil((resendAt - now) / 1000));

  useEffect(() => {
    if (resendAt <= Date.now()) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [resendAt]);

  const codeAction = useAction(async () => {
    const result = await (mode === 'reset' ? sendResetCode(phone) : sendSignUpCode(phone));
    setSent(result);
    setNow(Date.now());
    setResendAt(Date.now() + result.resend_after * 1000);
    if (result.sandbox_code) setCode(result.sandbox_code);
  });
  const action = useAction(async () => {
    if (mode === 'signup') {
      await signUp(phone, code, password);
      navigate('/verify');
    } else if (mode === 'reset') {
      await resetPassword(phone, code, password);
      navigate('/');
    } else {
      await logIn(phone, password);
      navigate('/');
    }
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    codeAction.setError(undefined);
    void action.run();
  };
  const sendCode = () => {
    action.setError(undefined);
    void codeAction.run();
  };
  const switchTo = (next: typeof mode) => {
    // A code is for one purpose: one sent for sign-up does not reset a password, nor the reverse.
    if ((next === 'reset') !== (mode === 'reset')) {
      setCode('');
      setSent(undefined);
    }
    setMode(next);
    action.setError(undefined);
    codeAction.setError(undefined);
  };
  const title = t(mode === 'login' ? 'login.title' : mode === 'signup' ? 'signup.title' : 'reset.title');
  return (
    <>
      <h1 tabIndex={-1}>{title}</h1>
      {mode === 'reset' ? (
        <p>{t('reset.intro')}</p>
      ) : (
        <div className="tabs" role="tablist" aria-label={t('login.modes')}>
          {(['login', 'signup'] as const).map((m) => (
            <button key={m} type="button" role="tab" aria-selected={mode === m} onClick={() => switchTo(m)}>
              {m === 'login' ? t('login.tab') : t('signup.tab')}
            </button>
          ))}
        </div>
      )}
      <form className="card" onSubmit={submit} aria-label={title}>
        <Field
          label={t('login.phone')}
          name="phone"
          type="tel"
          inputMode="tel"
          autoComplete="tel"
          value={phone}
          onChange={setPhone}
          required
          hint={t('login.phoneHint')}
        />
        {mode !== 'login' && (
          <>
            <Field
              label={t('signup.code')}
              name="verification_code"
              inputMode="numeric"
              autoComplete="one-time-code"
              value={code}
              onChange={setCode}
              required
              hint={t('signup.codeHint')}
            />
            <button
              type="button"
              onClick={sendCode}
              disabled={codeAction.busy || waitSeconds > 0 || phone.trim() === ''}
            >
              {waitSeconds > 0 ? t('signup.resendIn', { seconds: waitSeconds }) : t('signup.sendCode')}
            </button>
            {sent && (
              <Success>
                {t(mode === 'reset' ? 'reset.codeSent' : 'signup.codeSent', { phone: sent.phone })}
                {sent.sandbox_code && (
                  <>
                    {' '}
                    <span data-testid="sandbox-code">
                      {t('signup.sandboxCode', { code: sent.sandbox_code })}
                    </span>
                  </>
                )}
              </Success>
            )}
          </>
        )}
        <Field
          label={mode === 'reset' ? t('reset.newPassword') : t('login.password')}
          name={mode === 'reset' ? 'new_password' : 'password'}
          type="password"
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
          value={password}
          onChange={setPassword}
          required
          hint={mode === 'login' ? undefined : t('signup.passwordHint')}
        />
        {sessionEnded && !action.error && !codeAction.error && (
          <p className="notice error" role="alert">
            {t('login.sessionEnded')}
          </p>
        )}
        <ErrorNotice error={action.error ?? codeAction.error} />
        <button type="submit" className="primary" disabled={action.busy}>
          {t(mode === 'login' ? 'login.submit' : mode === 'signup' ? 'signup.submit' : 'reset.submit')}
        </button>
        {mode === 'login' && (
          <button type="button" className="link" onClick={() => switchTo('reset')}>
            {t('login.forgot')}
          </button>
        )}
        {mode === 'reset' && (
          <button type="button" className="link" onClick={() => switchTo('login')}>
            {t('reset.back')}
          </button>
        )}
      </form>
    </>
  );
}
