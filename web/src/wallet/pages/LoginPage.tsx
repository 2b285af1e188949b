import { useEffect, useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { navigate } from '../../shared/router.ts';
import { ErrorNotice, Field, Success, useAction } from '../../shared/ui.tsx';
import { useSession, type PhoneVerification } from '../session.tsx';

/**
 * Log in, or sign up: a code sent to the phone by SMS proves the number is the user's, then a
 * password (logged in at once). Where the server runs with sandbox codes (the demo), the code
 * comes back in the answer and is shown and filled in, since no SMS is sent.
 */
export function LoginPage() {
  const { t } = useI18n();
  const { logIn, sendSignUpCode, signUp, sessionEnded } = useSession();
  const [mode, setMode] = useState<'login' | 'signup'>('login');
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
    const result = await sendSignUpCode(phone);
    setSent(result);
    setNow(Date.now());
    setResendAt(Date.now() + result.resend_after * 1000);
    if (result.sandbox_code) setCode(result.sandbox_code);
  });
  const action = useAction(async () => {
    if (mode === 'signup') {
      await signUp(phone, code, password);
      navigate('/verify');
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
  return (
    <>
      <h1 tabIndex={-1}>{mode === 'login' ? t('login.title') : t('signup.title')}</h1>
      <div className="tabs" role="tablist" aria-label={t('login.modes')}>
        {(['login', 'signup'] as const).map((m) => (
          <button
            key={m}
            type="button"
            role="tab"
            aria-selected={mode === m}
            onClick={() => (setMode(m), action.setError(undefined), codeAction.setError(undefined))}
          >
            {m === 'login' ? t('login.tab') : t('signup.tab')}
          </button>
        ))}
      </div>
      <form
        className="card"
        onSubmit={submit}
        aria-label={mode === 'login' ? t('login.title') : t('signup.title')}
      >
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
        {mode === 'signup' && (
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
                {t('signup.codeSent', { phone: sent.phone })}
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
          label={t('login.password')}
          name="password"
          type="password"
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
          value={password}
          onChange={setPassword}
          required
          hint={mode === 'signup' ? t('signup.passwordHint') : undefined}
        />
        {sessionEnded && !action.error && !codeAction.error && (
          <p className="notice error" role="alert">
            {t('login.sessionEnded')}
          </p>
        )}
        <ErrorNotice error={action.error ?? codeAction.error} />
        <button type="submit" className="primary" disabled={action.busy}>
          {mode === 'login' ? t('login.submit') : t('signup.submit')}
        </button>
      </form>
    </>
  );
}
