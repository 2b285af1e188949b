import { describe, expect, it } from 'vitest';
import { newId } from '../core/index.ts';
import { applyMigrations } from '../db/index.ts';
import { openTestDatabase } from '../../test/support/test-database.ts';
import { marketplaceMigrations } from './index.ts';
import { funnel } from './settlement.ts';

describe('marketplace migration 0004 (choices)', () => {
  it('recovers from consents the choices a later choice took the post row from, and keeps the rest', async () => {
    const t = await openTestDatabase(marketplaceMigrations.filter((m) => m.version <= 3));
    try {
      const { db } = t;
      const at = new Date('2025-06-01T02:00:00Z');
      const partnerRow = async (name: string) => {
        const id = newId();
        await db.query(
          `INSERT INTO marketplace_partners (id, name, kind, endpoint_url, secret_sealed, eligibility,
             required_fields, cpa_fen, cps_bp, revenue_share_bp, status, created_at, updated_at)
           VALUES ($1,$2,'lender','http://127.0.0.1:1','sealed','{}','[]',0,0,0,'active',$3,$3)`,
          [id, name, at],
        );
        return id;
      };
      const down = await partnerRow('down');
      const up = await partnerRow('up');
      const user = newId();
      const application = async () => {
        const id = newId();
        await db.query(
          `INSERT INTO marketplace_applications (id, user_id, product, score_band, amount, term_months,
             region_code, status, business_date, created_at)
           VALUES ($1,$2,'loan','B',100000,12,'110101','posted','2025-06-01',$3)`,
          [id, user, at],
        );
        return id;
      };
      const offer = async (app: string, partnerId: string | null) => {
        const id = newId();
        await db.query(
          `INSERT INTO marketplace_offers (id, application_id, source, partner_id, partner_offer_ref, amount,
             apr_bp, term_months, promotions, rank, explanation)
           VALUES ($1,$2,$3,$4,'ref',100000,1000,12,'[]',1,'{}')`,
          [id, app, partnerId ? 'partner' : 'own', partnerId],
        );
        return id;
      };
      const consent = async (app: string, partnerId: string | null) => {
        const id = newId();
        await db.query(
          `INSERT INTO marketplace_consents (id, user_id, application_id, partner_id, recipient, purpose,
             fields, terms_version, granted_at)
           VALUES ($1,$2,$3,$4,'r','p','[]','v',$5)`,
          [id, user, app, partnerId, at],
        );
        return id;
      };
      const post = async (
        app: string,
        offerId: string,
        partnerId: string | null,
        consentId: string,
        status: string,
      ) =>
        db.query(
          `INSERT INTO marketplace_posts (application_id, offer_id, user_id, source, partner_id, score_band,
             consent_id, sent_fields, amount, status, posted_at, business_date)
           VALUES ($1,$2,$3,$4,$5,'B',$6,'[]',100000,$7,$8,'2025-06-01')`,
          [app, offerId, user, partnerId ? 'partner' : 'own', partnerId, consentId, status, at],
        );
      // Chosen `down`, its post failed, then chosen `up`, which approved: the post row is up's.
      const first = await application();
      await offer(first, down);
      await consent(first, down);
      const upOffer = await offer(first, up);
      await post(first, upOffer, up, await consent(first, up), 'approved');
      // The own loan chosen, its post failed, nothing chosen since.
      const second = await application();
      await post(second, await offer(second, null), null, await consent(second, null), 'failed');

      await applyMigrations(db, marketplaceMigrations);
      const day = (chosen: number, posted: number, approved: number) => [
        expect.objectContaining({ date: '2025-06-01', chosen, posted, approved }),
      ];
      expect(await funnel(db, down, '2025-06-01', '2025-06-30')).toEqual(day(1, 0, 0));
      expect(await funnel(db, up, '2025-06-01', '2025-06-30')).toEqual(day(1, 1, 1));
      expect(await funnel(db, 'own', '2025-06-01', '2025-06-30')).toEqual(day(1, 0, 0));
    } finally {
      await t.close();
    }
  });
});
