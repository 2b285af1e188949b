import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LineHistory } from '../credit/index.ts';
import { loadMigrations, type Migration } from '../db/index.ts';
import type { CloseStep } from '../jobs/index.ts';
import type { PaymentMethodHandler } from '../merchants/index.ts';
import { paylaterMethods } from './checkout.ts';
import { paylaterCloseSteps } from './close-steps.ts';
import { lineHistories } from './features.ts';
import { instalmentOffer, type FeePayer } from './instalments.ts';
import { Lines, offerView, type LinesDeps } from './lines.ts';
import { Products } from './products.ts';
import type {
  CreateProductCommand,
  InstalmentPlan,
  LimitBand,
  LimitBandTable,
  Movement,
  OfferView,
  PaylaterLine,
  PaylaterProduct,
  PaylaterStatement,
} from './types.ts';

export const paylaterMigrations: Migration[] = loadMigrations(
  'paylater',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);

export interface PaylaterOptions extends Omit<LinesDeps, 'products'> {
  /** Where the checkout methods go: the merchants' registerPaymentMethod. */
  registerPaymentMethod?: (name: string, handler: PaymentMethodHandler) => void;
}

/** The pay-later line's public API. */
export interface Paylater {
  createProduct(command: CreateProductCommand): Promise<PaylaterProduct>;
  getProduct(id: string): Promise<PaylaterProduct>;
  listProducts(): Promise<PaylaterProduct[]>;
  setLimitBands(bands: readonly LimitBand[]): Promise<LimitBandTable>;
  limitBands(): Promise<LimitBandTable>;
  openLine(command: { id?: string; userId: string; productId: string }): Promise<PaylaterLine>;
  getLine(userId: string): Promise<PaylaterLine>;
  listStatements(
    userId: string,
    query?: { limit?: number; cursor?: string },
  ): Promise<{ items: PaylaterStatement[]; nextCursor: string | null }>;
  getStatement(userId: string, statementId: string): Promise<PaylaterStatement>;
  repay(command: { id: string; userId: string; amount: bigint }): Promise<Movement>;
  setAutoRepay(userId: string, enabled: boolean): Promise<PaylaterLine>;
  setRepaymentDay(userId: string, day: number): Promise<PaylaterLine>;
  /** The instalment offers for a checkout of `amount` (each with its APR). */
  checkoutOffers(userId: string, amount: bigint, feePayer?: FeePayer): Promise<OfferView[]>;
  statementOffers(userId: string, statementId: string): Promise<OfferView[]>;
  convertStatement(command: { userId: string; statementId: string; terms: number }): Promise<InstalmentPlan>;
  listPlans(userId: string): Promise<InstalmentPlan[]>;
  settlePlan(command: { id: string; userId: string; planId: string }): Promise<Movement>;
  /** src/credit's FeatureSource.lineHistories. */
  lineHistories(userIds: readonly string[], asOf: Date): Promise<ReadonlyMap<string, LineHistory>>;
  closeSteps(options?: { chunkSize?: number }): CloseStep[];
}

export function createPaylater(options: PaylaterOptions): Paylater {
  const { db, ledger, clock } = options;
  const products = new Products(db, ledger, clock);
  const lines = new Lines({
    db,
    ledger,
    clock,
    products,
    users: options.users,
    scores: options.scores,
    wallets: options.wallets,
  });
  if (options.registerPaymentMethod)
    for (const [name, handler] of Object.entries(paylaterMethods(lines)))
      options.registerPaymentMethod(name, handler);
  return {
    createProduct: (c) => products.create(c),
    getProduct: (id) => products.get(id),
    listProducts: () => products.list(),
    setLimitBands: (bands) => products.setBands(bands),
    limitBands: () => products.bands(),
    openLine: (c) => lines.open(c),
    getLine: (userId) => lines.view(userId),
    listStatements: (userId, query) => lines.statements(userId, query),
    getStatement: (userId, id) => lines.statement(userId, id),
    repay: (c) => lines.repay(c),
    setAutoRepay: (userId, enabled) => lines.setAutoRepay(userId, enabled),
    setRepaymentDay: (userId, day) => lines.setRepaymentDay(userId, day),
    async checkoutOffers(userId, amount, feePayer = 'user') {
      const line = await lines.lineRow(userId);
      const product = await products.get(line.product_id);
      return Object.keys(product.instalmentFees)
        .map(Number)
        .sort((a, b) => a - b)
        .map((terms) => offerView(instalmentOffer(amount, terms, product.instalmentFees, feePayer)));
    },
    statementOffers: (userId, id) => lines.statementOffers(userId, id),
    convertStatement: (c) => lines.convertStatement(c),
    listPlans: (userId) => lines.listPlans(userId),
    settlePlan: (c) => lines.settlePlan(c),
    lineHistories: (userIds, asOf) => lineHistories(db, userIds, asOf),
    closeSteps: (o) => paylaterCloseSteps({ db, ledger, lines, chunkSize: o?.chunkSize }),
  };
}
