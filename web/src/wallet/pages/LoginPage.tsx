import { useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { navigate } from '../../shared/router.ts';
import { ErrorNotice, Field, useAction } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

/** Log in, or sign up with a phone number and a password (then logged in at once). */
export function LoginPage() {
  const { t } = useI18n();
  const { logIn, signUp } = useSession();
  const [mode, setMode] = useState<'login' | 'signup'>('login');
  const [phone, setPhone] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction(async () => {
    if (mode === 'signup') {
      await signUp(phone, password);
      navigate('/verify');
    } else {
      await logIn(phone, password);
      navigate('/');
    }
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run();
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
            onClick={() => (setMode(m), action.setError(undefined))}
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
        <ErrorNotice error={action.error} />
        <button type="submit" className="primary" disabled={action.busy}>
          {mode === 'login' ? t('login.submit') : t('signup.submit')}
        </button>
      </form>
    </>
  );
}
