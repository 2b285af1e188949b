import { MilletError, isUuid, type Clock } from '../core/index.ts';
import type { Database } from '../db/index.ts';

export interface BlacklistEntry {
  userId: string;
  reason: string;
  createdBy: string | null;
  createdAt: Date;
}

interface Row {
  user_id: string;
  reason: string;
  created_by: string | null;
  created_at: Date;
}

const entry = (r: Row): BlacklistEntry => ({
  userId: r.user_id,
  reason: r.reason,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

/**
 * The operator-managed blacklist. Kept in the database, mirrored in memory for the attempt path;
 * `onChange` tells listeners (the store pushes entries into every live sale's stock engine).
 *
 * Changes run one at a time, each from its SQL statement to its last listener: an add and a
 * remove sent together had their statements answered in one order and their memory and listener
 * steps run in the other, so the table said one thing and the mirror and the engines the other.
 */
export class Blacklist {
  readonly #users = new Set<string>();
  readonly #listeners: Array<(userId: string, listed: boolean) => Promise<void>> = [];
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
  ) {}

  async load(): Promise<void> {
    const rows = await this.db.query<{ user_id: string }>('SELECT user_id FROM risk_blacklist');
    this.#users.clear();
    for (const r of rows.rows) this.#users.add(r.user_id);
  }

  has(userId: string): boolean {
    return this.#users.has(userId);
  }

  userIds(): string[] {
    return [...this.#users];
  }

  onChange(listener: (userId: string, listed: boolean) => Promise<void>): void {
    this.#listeners.push(listener);
  }

  /**
   * Runs `task` with no blacklist change under way: what it reads of the list (`userIds`) stays
   * true until it ends. The store configures a sale's engine this way, so an entry added or removed
   * meanwhile reaches that sale too.
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async add(requestedUserId: string, reason: string, createdBy: string | null): Promise<BlacklistEntry> {
    if (!isUuid(requestedUserId))
      throw new MilletError('VALIDATION_FAILED', 'user_id must be a UUID', { field: 'user_id' });
    // The mirror and the engines' sets are keyed by the lower-case form the table returns and the
    // attempt path compares: an id sent in upper case was stored, yet its user still bought.
    const userId = requestedUserId.toLowerCase();
    const text = reason.trim();
    if (text.length === 0 || text.length > 256)
      throw new MilletError('VALIDATION_FAILED', 'reason must be 1–256 characters', { field: 'reason' });
    return this.exclusive(async () => {
      const result = await this.db.query<Row>(
        `INSERT INTO risk_blacklist (user_id, reason, created_by, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET reason = EXCLUDED.reason RETURNING *`,
        [userId, text, createdBy, this.clock.now()],
      );
      this.#users.add(userId);
      for (const l of this.#listeners) await l(userId, true);
      return entry(result.rows[0]!);
    });
  }

  async remove(requestedUserId: string): Promise<boolean> {
    if (!isUuid(requestedUserId))
      throw new MilletError('VALIDATION_FAILED', 'user_id must be a UUID', { field: 'user_id' });
    // Lower case, as in `add`: in upper case the row went, the mirror's and engines' entries stayed.
    const userId = requestedUserId.toLowerCase();
    return this.exclusive(async () => {
      const result = await this.db.query('DELETE FROM risk_blacklist WHERE user_id = $1', [userId]);
      this.#users.delete(userId);
      for (const l of this.#listeners) await l(userId, false);
      return result.rowCount > 0;
    });
  }

  async list(query: { after?: string; limit: number }): Promise<BlacklistEntry[]> {
    const rows = await this.db.query<Row>(
      `SELECT * FROM risk_blacklist WHERE ($1::uuid IS NULL OR user_id > $1) ORDER BY user_id LIMIT $2`,
      [query.after ?? null, query.limit],
    );
    return rows.rows.map(entry);
  }
}
