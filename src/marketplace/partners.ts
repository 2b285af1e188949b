import { MilletError, deriveSubkey, isUuid, newId, openSealed, seal, type Clock } from '../core/index.ts';
import type { Database, Queryable } from '../db/index.ts';
import type { KeyObject } from 'node:crypto';
import { generateWebhookSecret, webhookSigningKey, type Webhooks } from '../webhooks/index.ts';
import {
  applicantFields,
  scoreBands,
  type ApplicantField,
  type Eligibility,
  type Partner,
  type PartnerKind,
  type PartnerStatus,
  type Pricing,
} from './types.ts';

export interface CreatePartnerCommand {
  id?: string;
  name: string;
  kind: PartnerKind;
  endpointUrl: string;
  eligibility: Eligibility;
  requiredFields?: ApplicantField[];
  pricing: Pricing;
  dailyCap?: number | null;
  monthlyBudgetFen?: bigint | null;
  priority?: number;
  /** A given secret (tests, a partner migrating); default a new `whsec_` one. */
  secret?: string;
}

export interface PartnerLimits {
  dailyCap: number | null;
  monthlyBudgetFen: bigint | null;
}

export interface CreatedPartner {
  partner: Partner;
  /** The signing secret, shown once. */
  secret: string;
}

export interface PartnerPage {
  items: Partner[];
  nextCursor: string | null;
}

interface PartnerRow {
  id: string;
  name: string;
  kind: PartnerKind;
  endpoint_url: string;
  secret_sealed: string;
  eligibility: Record<string, unknown>;
  required_fields: ApplicantField[];
  cpa_fen: bigint;
  cps_bp: number;
  revenue_share_bp: number;
  daily_cap: number | null;
  monthly_budget_fen: bigint | null;
  priority: number;
  status: PartnerStatus;
  created_at: Date;
  updated_at: Date;
}

const eligibilityJson = (e: Eligibility) => ({
  score_bands: e.scoreBands,
  min_age: e.minAge,
  max_age: e.maxAge,
  regions: e.regions,
  min_amount: e.minAmount.toString(),
  max_amount: e.maxAmount.toString(),
  min_term_months: e.minTermMonths,
  max_term_months: e.maxTermMonths,
  identity_classes: e.identityClasses,
});

function eligibilityFrom(j: Record<string, unknown>): Eligibility {
  return {
    scoreBands: j.score_bands as Eligibility['scoreBands'],
    minAge: j.min_age as number,
    maxAge: j.max_age as number,
    regions: j.regions as string[],
    minAmount: BigInt(j.min_amount as string),
    maxAmount: BigInt(j.max_amount as string),
    minTermMonths: j.min_term_months as number,
    maxTermMonths: j.max_term_months as number,
    identityClasses: j.identity_classes as Eligibility['identityClasses'],
  };
}

const fromRow = (r: PartnerRow): Partner => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  endpointUrl: r.endpoint_url,
  eligibility: eligibilityFrom(r.eligibility),
  requiredFields: r.required_fields,
  pricing: { cpaFen: r.cpa_fen, cpsBp: r.cps_bp, revenueShareBp: r.revenue_share_bp },
  dailyCap: r.daily_cap,
  monthlyBudgetFen: r.monthly_budget_fen,
  priority: r.priority,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

function invalid(field: string, message: string): never {
  throw new MilletError('VALIDATION_FAILED', message, { field });
}

/**
 * Where requests to partners may go: the webhooks module's policy (public hosts; this machine's
 * loopback only where the app allows it). `checkUrl` checks an endpoint URL when it is given and
 * again before a request; `connectLookup` checks what its name resolves to at every connection,
 * since the name may have been pointed elsewhere since (DNS rebinding).
 */
export type PartnerEndpointPolicy = Pick<Webhooks, 'checkUrl' | 'connectLookup'>;

/** daily_cap is an int4 column. */
const MAX_DAILY_CAP = 2_147_483_647;

function checkDailyCap(cap: number | null | undefined): void {
  if (cap !== null && cap !== undefined && (!Number.isInteger(cap) || cap < 0 || cap > MAX_DAILY_CAP))
    invalid('daily_cap', `the daily cap must be a whole number from 0 to ${MAX_DAILY_CAP}`);
}

function validate(c: CreatePartnerCommand, urls: PartnerEndpointPolicy): void {
  checkDailyCap(c.dailyCap);
  const e = c.eligibility;
  if (e.scoreBands.length === 0 || e.scoreBands.some((b) => !scoreBands.includes(b)))
    invalid('eligibility.score_bands', `score bands must be some of ${scoreBands.join(', ')}`);
  if (e.minAge < 18 || e.maxAge < e.minAge)
    invalid('eligibility.min_age', 'ages must be 18 or more, min ≤ max');
  if (e.minAmount <= 0n || e.maxAmount < e.minAmount)
    invalid('eligibility.min_amount', 'amounts must be positive, min ≤ max');
  if (e.minTermMonths < 1 || e.maxTermMonths < e.minTermMonths)
    invalid('eligibility.min_term_months', 'terms must be 1 month or more, min ≤ max');
  if (e.identityClasses.length === 0) invalid('eligibility.identity_classes', 'at least one identity class');
  if (e.regions.some((r) => !/^\d{2,6}$/.test(r)))
    invalid('eligibility.regions', 'region prefixes are 2–6 digits');
  if ((c.requiredFields ?? []).some((f) => !applicantFields.includes(f)))
    invalid('required_fields', `fields must be some of ${applicantFields.join(', ')}`);
  const p = c.pricing;
  if (p.cpaFen < 0n) invalid('pricing.cpa', 'CPA may not be negative');
  for (const [name, bp] of [
    ['cps_bp', p.cpsBp],
    ['revenue_share_bp', p.revenueShareBp],
  ] as const)
    if (!Number.isInteger(bp) || bp < 0 || bp > 10_000) invalid(`pricing.${name}`, 'basis points 0–10,000');
  urls.checkUrl(c.endpointUrl, 'endpoint_url');
}

/** An active partner as routing uses it: its signing secret opened and decoded into a key. */
export interface RoutablePartner {
  partner: Partner;
  secret: string;
  key: KeyObject;
}

/**
 * How long the active partners (and their opened secrets) are reused for routing: one query and 20
 * AES-GCM opens per application otherwise. Changes made through this directory apply at once;
 * another instance's within this time.
 */
const ACTIVE_TTL_MS = 1_000;

/** Partners as data, with their signing secrets sealed at rest (AES-256-GCM, HKDF subkey). */
export class PartnerDirectory {
  private readonly key: Buffer;
  private activeCache: { at: number; value: Promise<RoutablePartner[]> } | null = null;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    masterKey: Uint8Array,
    private readonly urls: PartnerEndpointPolicy,
  ) {
    this.key = deriveSubkey(masterKey, 'millet/marketplace/partner-secret-aes-256-gcm');
  }

  async create(command: CreatePartnerCommand): Promise<CreatedPartner> {
    validate(command, this.urls);
    const id = command.id ?? newId();
    const secret = command.secret ?? generateWebhookSecret();
    const now = this.clock.now();
    const inserted = await this.db.query<PartnerRow>(
      `INSERT INTO marketplace_partners (id, name, kind, endpoint_url, secret_sealed, eligibility,
         required_fields, cpa_fen, cps_bp, revenue_share_bp, daily_cap, monthly_budget_fen, priority,
         status, created_at, updated_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,'active',$14,$14)
       ON CONFLICT DO NOTHING RETURNING *`,
      [
        id,
        command.name,
        command.kind,
        command.endpointUrl,
        seal(this.key, secret, `marketplace_partners.secret:${id}`),
        JSON.stringify(eligibilityJson(command.eligibility)),
        JSON.stringify(command.requiredFields ?? []),
        command.pricing.cpaFen,
        command.pricing.cpsBp,
        command.pricing.revenueShareBp,
        command.dailyCap ?? null,
        command.monthlyBudgetFen ?? null,
        command.priority ?? 0,
        now,
      ],
    );
    this.activeCache = null;
    if (inserted.rows.length === 0)
      throw new MilletError('MARKETPLACE_PARTNER_CONFLICT', 'A partner with this id or name exists', {
        field: 'name',
      });
    return { partner: fromRow(inserted.rows[0]!), secret };
  }

  async get(id: string, q: Queryable = this.db): Promise<Partner> {
    return fromRow(await this.row(id, q));
  }

  /**
   * The partner as it is now, its row locked until `tx` ends: the choices of one partner's offers
   * take turns, so each counts the posts and holds of the ones before it against the cap and budget.
   * NO KEY UPDATE: posts and callbacks that name the partner (a key share) do not wait for it.
   */
  async getLocked(id: string, tx: Queryable): Promise<Partner> {
    return fromRow(await this.row(id, tx, ' FOR NO KEY UPDATE'));
  }

  /** The partner's signing secret, for signing requests to it and checking its callbacks. */
  async secret(id: string): Promise<string> {
    const row = await this.row(id, this.db);
    // Sealed naming the stored id: the id asked with may be the same UUID in capitals.
    return openSealed(this.key, row.secret_sealed, `marketplace_partners.secret:${row.id}`).toString('utf8');
  }

  private async row(id: string, q: Queryable, lock = ''): Promise<PartnerRow> {
    const { rows } = isUuid(id)
      ? await q.query<PartnerRow>(`SELECT * FROM marketplace_partners WHERE id = $1${lock}`, [id])
      : { rows: [] };
    if (!rows[0])
      throw new MilletError('MARKETPLACE_PARTNER_NOT_FOUND', 'No such partner', { partner_id: id });
    return rows[0];
  }

  /** Partners in id order; `after` is the last id of the previous page. */
  async list(query: { after?: string; limit?: number; status?: PartnerStatus } = {}): Promise<PartnerPage> {
    const limit = query.limit ?? 50;
    const { rows } = await this.db.query<PartnerRow>(
      `SELECT * FROM marketplace_partners
        WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($2::text IS NULL OR status = $2)
        ORDER BY id LIMIT $3`,
      [query.after ?? null, query.status ?? null, limit + 1],
    );
    const items = rows.slice(0, limit).map(fromRow);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  /** Active partners with their secrets opened: one query for the whole fan-out. */
  active(): Promise<RoutablePartner[]> {
    const now = performance.now();
    if (this.activeCache && now - this.activeCache.at < ACTIVE_TTL_MS) return this.activeCache.value;
    const value = this.loadActive();
    this.activeCache = { at: now, value };
    // A failed load is not kept: the next application asks again.
    value.catch(() => {
      if (this.activeCache?.value === value) this.activeCache = null;
    });
    return value;
  }

  private async loadActive(): Promise<RoutablePartner[]> {
    const { rows } = await this.db.query<PartnerRow>(
      `SELECT * FROM marketplace_partners WHERE status = 'active' ORDER BY id`,
    );
    return rows.map((row) => {
      const secret = openSealed(
        this.key,
        row.secret_sealed,
        `marketplace_partners.secret:${row.id}`,
      ).toString('utf8');
      return { partner: fromRow(row), secret, key: webhookSigningKey(secret) };
    });
  }

  /**
   * Changes a partner's daily cap and monthly budget (null: none). Routing reads them on its next
   * application, so raising a reached cap opens the partner again at once.
   */
  async setLimits(id: string, limits: PartnerLimits): Promise<Partner> {
    checkDailyCap(limits.dailyCap);
    await this.row(id, this.db);
    const { rows } = await this.db.query<PartnerRow>(
      `UPDATE marketplace_partners SET daily_cap = $2, monthly_budget_fen = $3, updated_at = $4
        WHERE id = $1 RETURNING *`,
      [id, limits.dailyCap, limits.monthlyBudgetFen, this.clock.now()],
    );
    this.activeCache = null;
    return fromRow(rows[0]!);
  }

  async setStatus(id: string, status: PartnerStatus): Promise<Partner> {
    await this.row(id, this.db);
    const { rows } = await this.db.query<PartnerRow>(
      `UPDATE marketplace_partners SET status = $2, updated_at = $3 WHERE id = $1 RETURNING *`,
      [id, status, this.clock.now()],
    );
    this.activeCache = null;
    return fromRow(rows[0]!);
  }
}
