import { Suspense, useEffect, useRef } from 'react';
import { LanguageSwitch, useI18n } from '../shared/i18n.tsx';
import { findRoute, useHashPath } from '../shared/router.ts';
import { Loading } from '../shared/ui.tsx';
import { LoginPage } from './pages/LoginPage.tsx';
import { walletModules } from './routes.ts';
import { useSession } from './session.tsx';

/** The wallet's shell: a header, the page of the current hash route, a bottom navigation bar. */
export function WalletApp() {
  const { t } = useI18n();
  const { me, restoring, logOut } = useSession();
  const path = useHashPath();
  const route = findRoute(walletModules, path) ?? findRoute(walletModules, '/')!;
  const main = useRef<HTMLElement>(null);
  const title = me ? t(route.title) : t('login.title');

  useEffect(() => {
    document.title = `${title} · ${t('app.wallet')}`;
    // Move focus to the new page's heading so keyboard and screen-reader users land on it.
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [title, t]);

  const Page = route.component;
  return (
    <div className="wallet">
      <a className="skip-link" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        {t('common.skip')}
      </a>
      <header className="topbar">
        <span className="brand" aria-hidden="true">
          米
        </span>
        <span className="brand-name">{t('app.wallet')}</span>
        <LanguageSwitch />
        {me && (
          <button type="button" className="link" onClick={() => void logOut()}>
            {t('common.logout')}
          </button>
        )}
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {restoring ? (
          <Loading />
        ) : !me ? (
          <LoginPage />
        ) : (
          <>
            <h1 tabIndex={-1}>{title}</h1>
            <Suspense fallback={<Loading />}>
              <Page />
            </Suspense>
          </>
        )}
      </main>
      {me && (
        <nav className="tabbar" aria-label={t('nav.label')}>
          <ul>
            {walletModules
              .flatMap((m) => m.routes)
              .filter((r) => r.nav)
              .map((r) => (
                <li key={r.path}>
                  <a href={`#${r.path}`} aria-current={r.path === route.path ? 'page' : undefined}>
                    <span aria-hidden="true">{r.icon}</span>
                    {t(r.title)}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
      )}
    </div>
  );
}
