import { lazy } from 'react';
import type { PageModule } from '../shared/router.ts';
import { BankPage } from './pages/BankPage.tsx';
import { HomePage } from './pages/HomePage.tsx';
import { PayPage } from './pages/PayPage.tsx';
import { TransferPage } from './pages/TransferPage.tsx';
import { VerifyPage } from './pages/VerifyPage.tsx';

/**
 * The wallet's route table: one module per domain. A domain whose API lands adds a module here
 * and its pages under pages/.
 * Pages with charts are lazy: their code (and Chart.js) is not in the first page's JavaScript.
 */
export const walletModules: PageModule[] = [
  {
    name: 'wallet',
    routes: [
      { path: '/', title: 'nav.home', component: HomePage, nav: true, icon: '⌂' },
      { path: '/pay', title: 'nav.pay', component: PayPage, nav: true, icon: '▣' },
      { path: '/transfer', title: 'nav.transfer', component: TransferPage, nav: true, icon: '⇄' },
      { path: '/bank', title: 'nav.bank', component: BankPage, nav: true, icon: '¥' },
    ],
  },
  {
    name: 'wealth',
    routes: [
      {
        path: '/fund',
        title: 'nav.fund',
        component: lazy(() => import('./pages/FundPage.tsx').then((m) => ({ default: m.FundPage }))),
        nav: true,
        icon: '↗',
      },
    ],
  },
  {
    name: 'paylater',
    routes: [
      {
        path: '/paylater',
        title: 'nav.paylater',
        component: lazy(() => import('./pages/PaylaterPage.tsx').then((m) => ({ default: m.PaylaterPage }))),
        nav: true,
        icon: '◷',
      },
    ],
  },
  {
    name: 'loans',
    routes: [
      {
        path: '/loans',
        title: 'nav.loans',
        component: lazy(() => import('./pages/LoansPage.tsx').then((m) => ({ default: m.LoansPage }))),
        nav: true,
        icon: '✎',
      },
    ],
  },
  {
    name: 'marketplace',
    routes: [
      {
        path: '/offers',
        title: 'nav.offers',
        component: lazy(() => import('./pages/OffersPage.tsx').then((m) => ({ default: m.OffersPage }))),
        nav: true,
        icon: '☰',
      },
    ],
  },
  {
    name: 'store',
    routes: [
      {
        path: '/store',
        title: 'nav.store',
        component: lazy(() => import('./pages/StorePage.tsx').then((m) => ({ default: m.StorePage }))),
        nav: true,
        icon: '◫',
      },
    ],
  },
  { name: 'identity', routes: [{ path: '/verify', title: 'nav.verify', component: VerifyPage }] },
];
