import { describe, expect, it } from 'vitest';
import { newId } from '../core/index.ts';
import { applyMigrations } from '../db/index.ts';
import { openTestDatabase } from '../../test/support/test-database.ts';
import { marketplaceMigrations } from './index.ts';

describe('marketplace migration 0006 (post holds)', () => {
  it('gives the posts open when it runs their payout, half-even, and the rest none', async () => {
    const t = await openTestDatabase(marketplaceMigrations.filter((m) => m.version <= 5));
    try {
      const { db } = t;
      const at = new Date('2025-06-01T02:00:00Z');
      const user = newId();
      const partnerRow = async (kind: 'lender' | 'card_issuer') => {
        const id = newId();
        await db.query(
          `INSERT INTO marketplace_partners (id, name, kind, endpoint_url, secret_sealed, eligibility,
             required_fields, cpa_fen, cps_bp, revenue_share_bp, status, created_at, updated_at)
           VALUES ($1,$2,$3,'http://127.0.0.1:1','sealed','{}','[]',5000,150,0,'active',$4,$4)`,
          [id, `p-${id}`, kind, at],
        );
        return id;
      };
      const post = async (partnerId: string, amount: number, status: string) => {
        const app = newId();
        await db.query(
          `INSERT INTO marketplace_applications (id, user_id, product, score_band, amount, term_months,
             region_code, status, business_date, created_at)
           VALUES ($1,$2,'loan','B',100000,12,'110101','posted','2025-06-01',$3)`,
          [app, user, at],
        );
        const offer = newId();
        await db.query(
          `INSERT INTO marketplace_offers (id, application_id, source, partner_id, partner_offer_ref, amount,
             apr_bp, term_months, promotions, rank, explanation)
           VALUES ($1,$2,'partner',$3,'ref',$4,1000,12,'[]',1,'{}')`,
          [offer, app, partnerId, amount],
        );
        const consent = newId();
        await db.query(
          `INSERT INTO marketplace_consents (id, user_id, application_id, partner_id, recipient, purpose,
             fields, terms_version, granted_at)
           VALUES ($1,$2,$3,$4,'r','p','[]','v',$5)`,
          [consent, user, app, partnerId, at],
        );
        await db.query(
          `INSERT INTO marketplace_posts (application_id, offer_id, user_id, source, partner_id, score_band,
             consent_id, sent_fields, amount, status, posted_at, business_date)
           VALUES ($1,$2,$3,'partner',$4,'B',$5,'[]',$6,$7,$8,'2025-06-01')`,
          [app, offer, user, partnerId, consent, amount, status, at],
        );
        return app;
      };
      const lender = await partnerRow('lender');
      const issuer = await partnerRow('card_issuer');
      // CPS 1.5% of 100 fen is 1.5 → 2 and of 300 fen 4.5 → 4 (half to even); an issuer pays CPA only.
      const held = [
        await post(lender, 100, 'posted'),
        await post(lender, 300, 'approved'),
        await post(lender, 1_000_000, 'posted'),
        await post(issuer, 1_000_000, 'posted'),
      ];
      const settled = [await post(lender, 1_000_000, 'failed'), await post(lender, 1_000_000, 'declined')];

      await applyMigrations(db, marketplaceMigrations);
      const reserved = async (app: string) =>
        (
          await db.query<{ reserved_fen: bigint }>(
            'SELECT reserved_fen FROM marketplace_posts WHERE application_id = $1',
            [app],
          )
        ).rows[0]!.reserved_fen;
      expect(await Promise.all(held.map(reserved))).toEqual([5002n, 5004n, 20_000n, 5000n]);
      expect(await Promise.all(settled.map(reserved))).toEqual([0n, 0n]);
    } finally {
      await t.close();
    }
  });
});
