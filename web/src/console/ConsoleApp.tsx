import { Suspense, useEffect, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../shared/api.ts';
import { LanguageSwitch, useI18n } from '../shared/i18n.tsx';
import { findRoute, useHashPath } from '../shared/router.ts';
import { ErrorNotice, Field, Loading, useAction } from '../shared/ui.tsx';
import { consoleModules } from './routes.ts';
import { useOperator } from './session.tsx';

/** The operator console: a side navigation and the page of the current hash route. */
export function ConsoleApp() {
  const { t } = useI18n();
  const { signedIn, signOut } = useOperator();
  const path = useHashPath();
  const route = findRoute(consoleModules, path) ?? findRoute(consoleModules, '/')!;
  const main = useRef<HTMLElement>(null);
  const title = signedIn ? t(route.title) : t('console.signIn');
  useEffect(() => {
    document.title = `${title} · ${t('app.console')}`;
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [title, t]);
  const Page = route.component;
  return (
    <div className="console">
      <header className="topbar">
        <span className="brand" aria-hidden="true">
          米
        </span>
        <span className="brand-name">{t('app.console')}</span>
        <LanguageSwitch />
        {signedIn && (
          <button type="button" className="link" onClick={signOut}>
            {t('common.logout')}
          </button>
        )}
      </header>
      <div className="console-body">
        {signedIn && (
          <nav className="sidenav" aria-label={t('nav.label')}>
            <ul>
              {consoleModules
                .flatMap((m) => m.routes)
                .filter((r) => r.nav)
                .map((r) => (
                  <li key={r.path}>
                    <a href={`#${r.path}`} aria-current={r.path === route.path ? 'page' : undefined}>
                      {t(r.title)}
                    </a>
                  </li>
                ))}
            </ul>
          </nav>
        )}
        <main ref={main} tabIndex={-1}>
          <h1 tabIndex={-1}>{title}</h1>
          {signedIn ? (
            <Suspense fallback={<Loading />}>
              <Page />
            </Suspense>
          ) : (
            <KeySignIn />
          )}
        </main>
      </div>
    </div>
  );
}

function KeySignIn() {
  const { t } = useI18n();
  const { signIn, keyRejected } = useOperator();
  const [key, setKey] = useState('');
  const action = useAction(async () => {
    try {
      await signIn(key);
    } catch (error) {
      // A wrong key is 401 UNAUTHENTICATED: say that the key is wrong, not "log in again".
      if (error instanceof ApiError && error.status === 401) throw new Error(t('console.keyInvalid'));
      throw error;
    }
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run();
  };
  return (
    <form className="card narrow" onSubmit={submit} aria-label={t('console.signIn')}>
      <p>{t('console.keyIntro')}</p>
      {keyRejected && !action.error && (
        <p className="notice error" role="alert">
          {t('console.keyRejected')}
        </p>
      )}
      <Field
        label={t('console.key')}
        name="operator_key"
        type="password"
        autoComplete="off"
        value={key}
        onChange={setKey}
        required
        hint={t('console.keyHint')}
      />
      <ErrorNotice error={action.error} />
      <button type="submit" className="primary" disabled={action.busy}>
        {t('console.signInSubmit')}
      </button>
    </form>
  );
}
