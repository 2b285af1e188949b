import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { ApiHarness, ApiResponse } from './api-harness.ts';
import { makeResidentId } from './resident-ids.ts';

export interface Customer {
  id: string;
  token: string;
  /** To log in again after the clock moved past the token's expiry (password "password-1"). */
  phone: string;
}

export interface CustomerOptions {
  /** Verify identity (KYC); default true. */
  verify?: boolean;
  /** Birth date (YYYYMMDD) in the resident ID; default an adult's. */
  birth?: string;
  accountClass?: 'I' | 'II' | 'III';
  /** Open a wallet; default true. */
  wallet?: boolean;
  /** Fen credited to the wallet from bank clearing, as a settled top-up would; default none. */
  funds?: bigint;
}

let sequence = 0;

/**
 * A resident ID is unique per person, and its sequence field has only 900 values here: past 900
 * customers in one file the birth date moves on a day, so every customer stays a distinct person.
 */
function adultBirth(n: number): string {
  const birth = new Date(Date.UTC(1988, 3, 12 + Math.floor(n / 900)));
  return birth.toISOString().slice(0, 10).replaceAll('-', '');
}

/**
 * Sign-up over HTTP as the app does it: a code sent to the phone (the harness answers with it,
 * as the embedded demo does), then POST /v1/users with it. Returns the sign-up's response.
 */
export async function signUpOverHttp(h: ApiHarness, phone: string, password: string): Promise<ApiResponse> {
  const sent = await h.post('/v1/phone-verifications', { phone, purpose: 'sign_up' }, { key: null });
  expect(sent.statusCode, sent.body).toBe(202);
  const code = sent.json().sandbox_code as string;
  return h.post('/v1/users', { phone, password, verification_code: code }, { key: null });
}

/** A user signed up and logged in over HTTP, by default verified and with a wallet. */
export async function newCustomer(h: ApiHarness, options: CustomerOptions = {}): Promise<Customer> {
  sequence += 1;
  const phone = `137${String(10_000_000 + sequence * 7919).slice(-8)}`;
  const user = await signUpOverHttp(h, phone, 'password-1');
  expect(user.statusCode, user.body).toBe(201);
  const session = await h.post('/v1/sessions', { phone, password: 'password-1' }, { key: null });
  const token = session.json().access_token as string;
  const id = user.json().id as string;
  if (options.verify ?? true) {
    const kyc = await h.post(
      '/v1/me/identity',
      {
        real_name: '李小红',
        resident_id: makeResidentId(
          '110105',
          options.birth ?? adultBirth(sequence),
          String(100 + (sequence % 900)),
        ),
        account_class: options.accountClass ?? 'II',
      },
      { key: token },
    );
    expect(kyc.statusCode, kyc.body).toBe(200);
  }
  if (options.wallet ?? true) {
    expect((await h.post('/v1/wallet', {}, { key: token })).statusCode).toBe(201);
    if (options.funds && options.funds > 0n) {
      await h.ledger.transfer({
        id: randomUUID(),
        debitAccountId: h.wallet.bankClearingAccountId(),
        creditAccountId: (await h.wallet.getWallet(id)).ledgerAccountId,
        amount: options.funds,
      });
    }
  }
  return { id, token, phone };
}

/** Application answers that give a typical applicant a score (the first score needs answers). */
export const sampleApplication = {
  amount: '1500000',
  duration_months: 12,
  purpose: 'used_car',
  employment: '1_to_4_years',
  housing: 'rent',
};

/** Grants credit-scoring consent and takes a first score over HTTP. */
export async function scoreCustomer(
  h: ApiHarness,
  c: Customer,
  application = sampleApplication,
): Promise<void> {
  expect((await h.post('/v1/me/credit-consent', {}, { key: c.token })).statusCode).toBe(201);
  const score = await h.post('/v1/me/score', { application }, { key: c.token });
  expect(score.statusCode, score.body).toBe(201);
}
