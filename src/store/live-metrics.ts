import type { Registry } from 'prom-client';
import { tallyCounter } from '../core/tally-counter.ts';

export type AttemptMetric = (result: string, reason: string) => void;

/** Prometheus counter of flash-sale attempts by result and reason (shared by every store in a registry). */
export function attemptCounter(registry: Registry | undefined): AttemptMetric {
  if (!registry) return () => {};
  return tallyCounter(registry, {
    name: 'millet_store_attempts_total',
    help: 'Flash-sale attempts by result (accepted, queued, rejected) and the reason of a rejection',
    labelNames: ['result', 'reason'],
  });
}

/** Attempts per second over the last seconds, and the store-level rejections, per sale. */
export class SaleRates {
  readonly #seconds = new Map<string, { second: number[]; count: number[] }>();
  readonly #rejections = new Map<string, Map<string, number>>();

  constructor(private readonly span = 10) {}

  hit(saleId: string, nowMs: number): void {
    let ring = this.#seconds.get(saleId);
    if (!ring) {
      ring = { second: new Array<number>(this.span).fill(-1), count: new Array<number>(this.span).fill(0) };
      this.#seconds.set(saleId, ring);
    }
    const s = Math.floor(nowMs / 1000);
    const i = s % this.span;
    if (ring.second[i] !== s) {
      ring.second[i] = s;
      ring.count[i] = 0;
    }
    ring.count[i]! += 1;
  }

  reject(saleId: string, reason: string): void {
    let m = this.#rejections.get(saleId);
    if (!m) {
      m = new Map();
      this.#rejections.set(saleId, m);
    }
    m.set(reason, (m.get(reason) ?? 0) + 1);
  }

  /** Mean attempts per second over the last `span` full seconds. */
  perSecond(saleId: string, nowMs: number): number {
    const ring = this.#seconds.get(saleId);
    if (!ring) return 0;
    const now = Math.floor(nowMs / 1000);
    let total = 0;
    for (let i = 0; i < this.span; i++) {
      const s = ring.second[i]!;
      if (s < now && s >= now - this.span) total += ring.count[i]!;
    }
    return total / this.span;
  }

  rejections(saleId: string): Record<string, number> {
    return Object.fromEntries(this.#rejections.get(saleId) ?? []);
  }
}
