import { lazy } from 'react';
import type { PageModule } from '../shared/router.ts';
import { ClosePage } from './pages/ClosePage.tsx';
import { LedgerPage } from './pages/LedgerPage.tsx';
import { MerchantsPage } from './pages/MerchantsPage.tsx';

const CreditPage = lazy(() => import('./pages/CreditPage.tsx').then((m) => ({ default: m.CreditPage })));
const FundPage = lazy(() => import('./pages/FundPage.tsx').then((m) => ({ default: m.FundPage })));
const LoanBookPage = lazy(() =>
  import('./pages/LoanBookPage.tsx').then((m) => ({ default: m.LoanBookPage })),
);
const MarketplacePage = lazy(() =>
  import('./pages/MarketplacePage.tsx').then((m) => ({ default: m.MarketplacePage })),
);
const SalesPage = lazy(() => import('./pages/SalesPage.tsx').then((m) => ({ default: m.SalesPage })));
const ConfigPage = lazy(() => import('./pages/ConfigPage.tsx').then((m) => ({ default: m.ConfigPage })));
const AuditLogPage = lazy(() =>
  import('./pages/AuditLogPage.tsx').then((m) => ({ default: m.AuditLogPage })),
);

/**
 * The console's route table, one module per domain; configuration (store products, SKUs and
 * sales, marketplace partners, loan product versions) spans domains, so it is a module of its own.
 */
export const consoleModules: PageModule[] = [
  {
    name: 'ledger',
    routes: [
      { path: '/', title: 'console.ledger', component: LedgerPage, nav: true },
      { path: '/close', title: 'console.close', component: ClosePage, nav: true },
    ],
  },
  {
    name: 'credit',
    routes: [{ path: '/credit', title: 'console.credit', component: CreditPage, nav: true }],
  },
  {
    name: 'lending',
    routes: [{ path: '/loan-book', title: 'console.loanBook', component: LoanBookPage, nav: true }],
  },
  {
    name: 'marketplace',
    routes: [{ path: '/marketplace', title: 'console.marketplace', component: MarketplacePage, nav: true }],
  },
  { name: 'wealth', routes: [{ path: '/fund', title: 'console.fund', component: FundPage, nav: true }] },
  {
    name: 'merchants',
    routes: [{ path: '/merchants', title: 'console.merchants', component: MerchantsPage, nav: true }],
  },
  { name: 'store', routes: [{ path: '/sales', title: 'console.sales', component: SalesPage, nav: true }] },
  {
    name: 'config',
    routes: [{ path: '/config', title: 'console.config', component: ConfigPage, nav: true }],
  },
  {
    name: 'audit',
    routes: [{ path: '/audit-log', title: 'console.auditLog', component: AuditLogPage, nav: true }],
  },
];
