import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { I18nProvider } from '../shared/i18n.tsx';
import '../shared/styles.css';
import { ConsoleApp } from './ConsoleApp.tsx';
import { OperatorSessionProvider } from './session.tsx';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <I18nProvider>
      <OperatorSessionProvider>
        <ConsoleApp />
      </OperatorSessionProvider>
    </I18nProvider>
  </StrictMode>,
);
