import DataLoader from 'dataloader';

/**
 * Reads one row per key for many concurrent callers in one statement: every `load` made while
 * the event loop handles one round of I/O (requests arriving together) joins one call of `fetch`,
 * dispatched after that round (setImmediate, so callers from different sockets meet), with no
 * caching — each caller sees the row as of its own batch's read, as if it had read alone. `fetch`
 * returns the rows it found; a key without one resolves to undefined.
 *
 * @example
 * const users = batchedLoader((ids) => db.query('SELECT * FROM users WHERE id = ANY($1)', [ids])
 *   .then((r) => r.rows), (row) => row.id);
 * const user = await users.load(id);
 */
export function batchedLoader<Row>(
  fetch: (keys: readonly string[]) => Promise<readonly Row[]>,
  keyOf: (row: Row) => string,
  maxBatchSize = 1_000,
): DataLoader<string, Row | undefined> {
  return new DataLoader<string, Row | undefined>(
    async (keys) => {
      const rows = new Map((await fetch(keys)).map((row) => [keyOf(row), row]));
      return keys.map((key) => rows.get(key));
    },
    { cache: false, maxBatchSize, batchScheduleFn: (dispatch) => setImmediate(dispatch) },
  );
}
