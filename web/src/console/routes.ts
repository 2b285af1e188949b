import { lazy } from 'react';
import type { PageModule } from '../shared/router.ts';
import { ClosePage } from './pages/ClosePage.tsx';
import { LedgerPage } from './pages/LedgerPage.tsx';
import { MerchantsPage } from './pages/MerchantsPage.tsx';

const CreditPage = lazy(() => import('./pages/CreditPage.tsx').then((m) => ({ default: m.CreditPage })));
const FundPage = lazy(() => import('./pages/FundPage.tsx').then((m) => ({ default: m.FundPage })));

/**
 * The console's route table, one module per domain. The loan book (lending), marketplace funnel,
 * live flash sales and product/partner/sale configuration join as modules when their APIs land.
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
  { name: 'wealth', routes: [{ path: '/fund', title: 'console.fund', component: FundPage, nav: true }] },
  {
    name: 'merchants',
    routes: [{ path: '/merchants', title: 'console.merchants', component: MerchantsPage, nav: true }],
  },
];
