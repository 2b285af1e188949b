import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { I18nProvider } from '../shared/i18n.tsx';
import '../shared/styles.css';
import { WalletApp } from './WalletApp.tsx';
import { SessionProvider } from './session.tsx';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <I18nProvider>
      <SessionProvider>
        <WalletApp />
      </SessionProvider>
    </I18nProvider>
  </StrictMode>,
);
