import { Counter, type Registry } from 'prom-client';

/** Bumps the counter for one pair of label values by one. */
export type Tally = (first: string, second: string) => void;

interface Cell {
  count: number;
  reported: number;
}

/**
 * A Prometheus counter with two labels for paths taken thousands of times a second (flash-sale
 * attempts, risk decisions). prom-client's `inc(labels)` validates and hashes the label object on
 * every call; here a call is two Map lookups and an addition, and the counts reach prom-client's
 * counter when it is collected (a scrape, `registry.metrics()`), so what Prometheus sees is the same.
 * Stores and guards sharing a registry (tests build several) share one counter and one tally.
 */
export function tallyCounter(
  registry: Registry,
  config: { name: string; help: string; labelNames: readonly [string, string] },
): Tally {
  const existing = tallies.get(registry)?.get(config.name);
  if (existing) return existing;
  const cells = new Map<string, Map<string, Cell>>();
  const [firstLabel, secondLabel] = config.labelNames;
  new Counter({
    name: config.name,
    help: config.help,
    labelNames: [...config.labelNames],
    registers: [registry],
    collect() {
      for (const [first, row] of cells)
        for (const [second, cell] of row) {
          // inc(0) still shows the series, as an inc() at the time of the call would have.
          this.inc({ [firstLabel]: first, [secondLabel]: second }, cell.count - cell.reported);
          cell.reported = cell.count;
        }
    },
  });
  const tally: Tally = (first, second) => {
    let row = cells.get(first);
    if (!row) cells.set(first, (row = new Map()));
    const cell = row.get(second);
    if (cell) cell.count += 1;
    else row.set(second, { count: 1, reported: 0 });
  };
  let byName = tallies.get(registry);
  if (!byName) tallies.set(registry, (byName = new Map()));
  byName.set(config.name, tally);
  return tally;
}

const tallies = new WeakMap<Registry, Map<string, Tally>>();
