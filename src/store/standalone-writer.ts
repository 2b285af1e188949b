import { MilletError, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';
import { OrderWriter } from './order-writer.ts';
import { Orders } from './orders.ts';
import { Sales } from './sales.ts';
import type { StockEngine } from './stock-engine.ts';

const writerOnly = (): never => {
  throw new MilletError('INTERNAL', 'This process only writes orders; payments run in the server');
};

/**
 * An order writer in a process of its own (a deployment with the Redis engine can run it beside
 * the servers, or several of them): it needs the database and the engine, nothing of checkout.
 */
export async function createStandaloneOrderWriter(options: {
  db: Database;
  clock: Clock;
  engine: StockEngine;
  saleIds: readonly string[];
  batchSize?: number;
  minIdleMs?: number;
  consumer?: string;
}): Promise<OrderWriter> {
  const sales = new Sales(options.db, options.clock);
  const live = await Promise.all(options.saleIds.map((id) => sales.get(id)));
  const orders = new Orders(
    options.db,
    options.clock,
    options.engine,
    {
      createOrder: writerOnly,
      payOrder: writerOnly,
      getPayment: writerOnly,
      getRefund: writerOnly,
      refund: writerOnly,
    },
    () => '',
    {
      walletAccountId: writerOnly,
      depositAccountId: writerOnly,
      placeHold: writerOnly,
      postHold: writerOnly,
      voidHold: writerOnly,
    },
    (id) => sales.cached(id),
  );
  return new OrderWriter({
    engine: options.engine,
    orders,
    sales: () => live,
    batchSize: options.batchSize,
    minIdleMs: options.minIdleMs,
    consumer: options.consumer,
  });
}
