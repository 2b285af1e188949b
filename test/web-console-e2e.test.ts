import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../src/app.ts';
import { createLogger } from '../src/api/index.ts';
import { startPartnerSim, type PartnerSim } from '../src/marketplace/index.ts';
import { generateWebhookSecret } from '../src/webhooks/index.ts';
import { errorMessages, messages } from '../web/src/shared/messages.ts';
import { apiClient, CHROMIUM, fullPageShot, hasChromium, launchChromium } from './support/browser.ts';
import { makeResidentId } from './support/resident-ids.ts';
import { freePort } from './support/free-port.ts';

/**
 * The console's loan book, marketplace, live flash sales, configuration and audit log pages in Chromium,
 * against the app (createApp, as `npm start` runs it) on a fresh embedded database. The API seeds
 * what the pages show (loans, a partner-sim partner with applications, a sale with attempts); the
 * operator creates a store product, a SKU, a sale, a partner and a loan product version through the
 * forms; the audit log shows what operators and a merchant did. Each page is saved as
 * docs/screenshots/console-*.png.
 */
if (!hasChromium) console.warn(`web-console-e2e: skipped, no Chromium at ${CHROMIUM}`);

const root = fileURLToPath(new URL('..', import.meta.url));
const shots = path.join(root, 'docs', 'screenshots');
const en = messages.en;
/** AUDIT_PAGE_SIZE of the console's audit log page (a .tsx module, which the server's tsc cannot import). */
const AUDIT_PAGE_SIZE = 25;

let app: App;
let base = '';
let adminKey: string;
let browser: Browser;
let dataDir: string;
let sim: PartnerSim | undefined;
const api = apiClient(() => base);

const shot = (page: Page, name: string) => fullPageShot(page, path.join(shots, `${name}.png`));

/** A verified user with a wallet and a credit score; returns the access token. */
async function scoredUser(i: number): Promise<string> {
  const phone = `1360000${String(i).padStart(4, '0')}`;
  // A code by SMS first: the embedded demo answers with it (MILLET_SMS_SANDBOX_CODES).
  const sent = await api<{ sandbox_code: string }>('POST', '/v1/phone-verifications', undefined, {
    phone,
    purpose: 'sign_up',
  });
  expect(sent.status).toBe(202);
  const user = await api('POST', '/v1/users', undefined, {
    phone,
    password: 'password-9',
    verification_code: sent.json.sandbox_code,
  });
  expect(user.status).toBe(201);
  const session = await api<{ access_token: string }>('POST', '/v1/sessions', undefined, {
    phone,
    password: 'password-9',
  });
  const token = session.json.access_token;
  const kyc = await api('POST', '/v1/me/identity', token, {
    real_name: '李娜',
    resident_id: makeResidentId('310101', `1988031${i % 10}`, String(300 + i)),
  });
  expect(kyc.status, JSON.stringify(kyc.json)).toBe(200);
  await api('POST', '/v1/wallet', token);
  expect((await api('POST', '/v1/me/credit-consent', token)).status).toBe(201);
  const scored = await api('POST', '/v1/me/score', token, {
    application: {
      amount: '500000',
      duration_months: 12,
      purpose: 'education',
      employment: '7_years_or_more',
      housing: 'own',
    },
  });
  expect(scored.status, JSON.stringify(scored.json)).toBe(201);
  return token;
}

async function navTo(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation').getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
}

describe.skipIf(!hasChromium)(
  'console pages in Chromium: loan book, marketplace, flash sales, configuration, audit log',
  () => {
    beforeAll(async () => {
      execFileSync(process.execPath, [path.join(root, 'web', 'scripts', 'build.mjs')], { stdio: 'pipe' });
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'millet-console-e2e-'));
      // A known port: partners call the marketplace back at the app's public URL.
      const port = await freePort();
      app = await createApp(
        {
          port,
          host: '127.0.0.1',
          dataDir,
          databaseUrl: undefined,
          databaseSchema: undefined,
          redisUrl: undefined,
          logLevel: 'warn',
          demo: true,
          piiKey: undefined,
          trustProxy: false,
        },
        { logger: createLogger({ level: 'warn' }), jobsIntervalMs: 200 },
      );
      base = (await app.listen()).replace('localhost', '127.0.0.1');
      adminKey = app.bootstrapKey!.plaintext;
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await sim?.close();
      await app?.close();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('an operator reads the loan book, the funnel and the live sale, and configures through the forms', async () => {
      // ---- Seed over the API: two borrowers with a cash loan each.
      const product = await api('POST', '/v1/operator/lending/products', adminKey, {
        code: 'cash-book',
        name: '米粒借',
        schedule_type: 'equal_instalments',
        day_count: '30/360',
        annual_rate: '7.2',
        terms: [6, 12],
        min_amount: '100000',
        max_amount: '5000000',
        min_score: 350,
        account_classes: ['I', 'II', 'III'],
      });
      expect(product.status, JSON.stringify(product.json)).toBe(201);
      const borrowers = [await scoredUser(1), await scoredUser(2)];
      for (const [i, token] of borrowers.entries()) {
        const applied = await api<{ status: string; offer: { id: string } | null }>(
          'POST',
          '/v1/loans/applications',
          token,
          { product_code: 'cash-book', amount: String(200_000 * (i + 1)), terms: 12 },
        );
        expect(applied.status, JSON.stringify(applied.json)).toBe(201);
        expect(applied.json.offer, JSON.stringify(applied.json)).toBeTruthy();
        const accepted = await api('POST', `/v1/loans/offers/${applied.json.offer!.id}/accept`, token, {});
        expect(accepted.status, JSON.stringify(accepted.json)).toBe(201);
      }

      // ---- A partner-sim partner that approves every band at once, and an application through it.
      const secret = generateWebhookSecret();
      sim = await startPartnerSim({
        secret,
        name: 'sim-lender',
        approvalByBand: { A: 1, B: 1, C: 1, D: 1, E: 1 },
        decisionDelayMs: 50,
      });
      const partner = await api<{ id: string }>('POST', '/v1/operator/marketplace/partners', adminKey, {
        name: '模拟银行',
        kind: 'lender',
        endpoint_url: sim.url,
        eligibility: {
          score_bands: ['A', 'B', 'C', 'D', 'E'],
          min_amount: '100000',
          max_amount: '30000000',
          min_term_months: 3,
          max_term_months: 36,
          identity_classes: ['I', 'II', 'III'],
        },
        pricing: { cpa: '5000', cps_bp: 150 },
        secret,
      });
      expect(partner.status, JSON.stringify(partner.json)).toBe(201);
      const shopper = borrowers[0]!;
      const application = await api<{ id: string; offers: Array<{ id: string; partner_id: string | null }> }>(
        'POST',
        '/v1/marketplace/applications',
        shopper,
        { amount: '1000000', term_months: 12, region_code: '310101' },
      );
      expect(application.status, JSON.stringify(application.json)).toBe(201);
      const simOffer = application.json.offers.find((o) => o.partner_id === partner.json.id);
      const routing = await api(
        'GET',
        `/v1/operator/marketplace/applications/${application.json.id}`,
        adminKey,
      );
      expect(simOffer, JSON.stringify(routing.json)).toBeDefined();
      const chosen = await api(
        'POST',
        `/v1/marketplace/applications/${application.json.id}/choose`,
        shopper,
        {
          offer_id: simOffer!.id,
          consent: { fields: [] },
        },
      );
      expect(chosen.status, JSON.stringify(chosen.json)).toBe(201);
      // The partner calls back approved, then disbursed.
      await expect
        .poll(
          async () => {
            const today = new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
            const funnel = await api<{ items: Array<{ disbursed: number }> }>(
              'GET',
              `/v1/operator/marketplace/partners/${partner.json.id}/funnel?from=${today}&to=${today}`,
              adminKey,
            );
            return funnel.json.items.reduce((n, d) => n + d.disbursed, 0);
          },
          { timeout: 15_000 },
        )
        .toBe(1);

      // ---- A flash sale live now, with accepted and rejected attempts.
      const storeProduct = await api<{ id: string }>('POST', '/v1/operator/store/products', adminKey, {
        name: '米粒手机 15',
      });
      const sku = await api<{ id: string }>('POST', '/v1/operator/store/skus', adminKey, {
        product_id: storeProduct.json.id,
        code: 'M15-BLK',
        name: '12 GB + 256 GB 黑',
        price: '399900',
        stock: 100,
      });
      expect(sku.status, JSON.stringify(sku.json)).toBe(201);
      const startsAt = Date.now() + 1_500;
      const sale = await api<{ id: string }>('POST', '/v1/operator/store/sales', adminKey, {
        sku_id: sku.json.id,
        name: '双十二秒杀',
        price: '299900',
        allotment: 5,
        per_user_limit: 1,
        starts_at: new Date(startsAt).toISOString(),
        ends_at: new Date(startsAt + 3_600_000).toISOString(),
        admission_window_ms: 0,
      });
      expect(sale.status, JSON.stringify(sale.json)).toBe(201);
      for (const token of borrowers)
        expect((await api('POST', `/v1/store/sales/${sale.json.id}/registrations`, token, {})).status).toBe(
          201,
        );
      const late = await scoredUser(3); // never registers: refused before the stock engine
      await new Promise((r) => setTimeout(r, Math.max(0, startsAt - Date.now() + 100)));
      const attempt = (token: string) =>
        api('POST', `/v1/store/sales/${sale.json.id}/attempts`, token, {
          device_id: `dev-${token.slice(-6)}`,
        });
      const outcomes = [
        await attempt(borrowers[0]!),
        await attempt(borrowers[0]!), // over the per-user limit
        await attempt(borrowers[1]!),
        await attempt(late),
      ].map((r) => r.status);
      expect(outcomes, 'the second attempt is over the per-user limit').toContain(409);

      // ---- The operator signs in.
      const context = await browser.newContext({
        locale: 'en-US',
        timezoneId: 'Asia/Shanghai',
        viewport: { width: 1280, height: 860 },
        deviceScaleFactor: 1,
      });
      const op = await context.newPage();
      await op.goto(`${base}/console`);
      await op.getByLabel(en['console.key']).fill(adminKey);
      await op.getByRole('button', { name: en['console.signInSubmit'] }).click();
      await op.getByRole('heading', { name: en['console.ledger'], level: 1 }).waitFor();

      // Loan book: both loans current, their principal in the table, one vintage.
      await navTo(op, en['console.loanBook']);
      const buckets = op.getByTestId('book-buckets');
      await buckets.waitFor();
      const book = await api<{ items: Array<{ bucket: string; loans: number }> }>(
        'GET',
        '/v1/operator/lending/book/buckets',
        adminKey,
      );
      const loans = book.json.items.reduce((n, b) => n + b.loans, 0);
      expect(loans).toBe(2);
      expect(await buckets.locator('tbody tr').count()).toBe(book.json.items.length);
      await expect.poll(() => op.getByTestId('book-total').textContent()).toBe('¥6,000.00');
      // Vintages come from the last close: the page shows what the API has, chart and table, or says there is none.
      const vintages = await api<{ items: unknown[] }>('GET', '/v1/operator/lending/book/vintages', adminKey);
      const vintageCard = op.getByRole('region', { name: en['cbook.vintagesTitle'] });
      if (vintages.json.items.length > 0) {
        await op.getByTestId('book-vintages').waitFor();
        expect(await op.getByTestId('book-vintages').locator('tbody tr').count()).toBe(
          vintages.json.items.length,
        );
      } else await vintageCard.getByText(en['cbook.noVintages']).waitFor();
      expect(await op.locator('canvas[role="img"]').count()).toBe(vintages.json.items.length > 0 ? 2 : 1);
      await shot(op, 'console-loan-book');

      // Marketplace: the partner, its funnel with every stage at 1, the learned rates.
      await navTo(op, en['console.marketplace']);
      await op.getByTestId('partners').getByText('模拟银行').first().waitFor();
      const funnel = op.getByTestId('funnel');
      await funnel.waitFor();
      for (const stage of ['pinged', 'offered', 'chosen', 'posted', 'approved', 'disbursed'] as const)
        expect(
          await funnel
            .getByRole('row', { name: new RegExp(`^${en[`cmarket.stage.${stage}`]} `) })
            .locator('td')
            .first()
            .textContent(),
        ).toBe('1');
      await op.getByRole('img', { name: /daily pass rate/ }).waitFor();
      await op.getByTestId('posteriors').waitFor();
      // Pausing from the list, then resuming: keyboard-reachable buttons named after the partner.
      await op.getByRole('button', { name: `${en['cmarket.pause']} 模拟银行` }).click();
      await op.getByTestId('partners').getByText(en['cmarket.status.paused']).waitFor();
      await op.getByRole('button', { name: `${en['cmarket.resume']} 模拟银行` }).focus();
      await op.keyboard.press('Enter');
      await op.getByTestId('partners').getByText(en['cmarket.status.active']).waitFor();
      await shot(op, 'console-marketplace');

      // Live flash sale: the figures match the metrics endpoint, and refresh as attempts come in.
      await navTo(op, en['console.sales']);
      const metricsBox = op.getByTestId(`sale-metrics-${sale.json.id}`);
      await metricsBox.waitFor();
      const metrics = await api<{
        accepted: number;
        remaining: number;
        returned: number;
        rejections: Record<string, number>;
      }>('GET', `/v1/operator/store/sales/${sale.json.id}/metrics`, adminKey);
      expect(await metricsBox.getByTestId('metric-accepted').textContent()).toBe(
        String(metrics.json.accepted),
      );
      expect(await metricsBox.getByTestId('metric-remaining').textContent()).toBe(
        String(metrics.json.remaining),
      );
      expect(await metricsBox.getByTestId('metric-returned').textContent()).toBe(
        String(metrics.json.returned),
      );
      // Delivery against the 3-day target, returned orders counted apart, as the report has them.
      const fulfilment = await api<Record<string, number>>(
        'GET',
        `/v1/operator/store/sales/${sale.json.id}/fulfilment`,
        adminKey,
      );
      const fulfilmentBox = op.getByTestId(`sale-fulfilment-${sale.json.id}`);
      for (const key of ['paid', 'delivered', 'overdue', 'returned'])
        expect(await fulfilmentBox.getByTestId(`fulfilment-${key}`).textContent()).toBe(
          String(fulfilment.json[key]),
        );
      const reasons = Object.keys(metrics.json.rejections);
      expect(reasons.length).toBeGreaterThan(0);
      for (const reason of reasons) await op.getByTestId('rejections').getByText(reason).waitFor();
      const before = metrics.json.accepted;
      const fourth = await scoredUser(4);
      expect((await api('POST', `/v1/store/sales/${sale.json.id}/registrations`, fourth, {})).status).toBe(
        201,
      );
      expect((await attempt(fourth)).status).toBe(201);
      await expect
        .poll(() => metricsBox.getByTestId('metric-accepted').textContent(), { timeout: 8_000 })
        .toBe(String(before + 1));
      await op.getByRole('button', { name: `${en['csales.reconcile']} 双十二秒杀` }).click();
      await op
        .getByRole('status')
        .filter({ hasText: /Stock and orders agree|Undersell|Oversell/ })
        .waitFor();
      await shot(op, 'console-sales');

      // Configuration: a store product, a SKU and a sale through the forms.
      await navTo(op, en['console.config']);
      const productForm = op.getByRole('form', { name: en['cconfig.productTitle'] });
      await productForm.getByRole('button', { name: en['cconfig.createProduct'] }).click();
      await expect
        .poll(() => productForm.getByRole('alert').textContent())
        .toBe(en['cconfig.required'].replace('{field}', en['cconfig.productName']));
      await productForm.getByLabel(en['cconfig.productName']).fill('米粒耳机');
      await productForm.getByRole('button', { name: en['cconfig.createProduct'] }).click();
      await productForm.getByText(en['cconfig.productCreated'].replace('{name}', '米粒耳机')).waitFor();

      const skuForm = op.getByRole('form', { name: en['cconfig.skuTitle'] });
      await expect
        .poll(() => skuForm.getByLabel(en['cconfig.product']).locator('option:checked').textContent())
        .toBe('米粒耳机');
      await skuForm.getByLabel(en['cconfig.skuCode']).fill('EAR-1');
      await skuForm.getByLabel(en['cconfig.skuName']).fill('白色');
      await skuForm.getByLabel(en['cconfig.price']).fill('199.5');
      await skuForm.getByLabel(en['cconfig.stock']).fill('50');
      await skuForm.getByRole('button', { name: en['cconfig.createSku'] }).click();
      await skuForm.getByText(en['cconfig.skuCreated'].replace('{name}', '白色')).waitFor();

      const saleForm = op.getByRole('form', { name: en['cconfig.saleTitle'] });
      await saleForm.getByLabel(en['cconfig.saleName']).fill('耳机秒杀');
      await saleForm.getByLabel(en['cconfig.salePrice']).fill('99');
      // More than the SKU holds: the API's problem+json in plain words.
      await saleForm.getByLabel(en['cconfig.allotment']).fill('500');
      await saleForm.getByRole('button', { name: en['cconfig.createSale'] }).click();
      const saleError = saleForm.getByRole('alert');
      await saleError.waitFor();
      expect((await saleError.textContent())!.length).toBeGreaterThan(0);
      expect(await saleError.textContent()).not.toMatch(/^HTTP \d+$/);
      await saleForm.getByLabel(en['cconfig.allotment']).fill('20');
      await saleForm.getByRole('button', { name: en['cconfig.createSale'] }).click();
      await saleForm.getByText(en['cconfig.saleCreated'].replace('{name}', '耳机秒杀')).waitFor();
      const sales = await api<{ items: Array<{ name: string; allotment: number; price: string }> }>(
        'GET',
        '/v1/operator/store/sales?limit=100',
        adminKey,
      );
      expect(sales.json.items.find((s) => s.name === '耳机秒杀')).toMatchObject({
        allotment: 20,
        price: '9900',
      });

      // A partner through the form; its secret is shown once.
      const partnerForm = op.getByRole('form', { name: en['cconfig.partnerTitle'] });
      await partnerForm.getByLabel(en['cconfig.partnerName']).fill('米粒信用卡');
      await partnerForm.getByLabel(en['cconfig.kind']).selectOption('card_issuer');
      await partnerForm.getByLabel(en['cconfig.endpoint']).fill('http://127.0.0.1:9/partner');
      await partnerForm.getByLabel(en['cmarket.dailyCap']).fill('200');
      await partnerForm.getByRole('button', { name: en['cconfig.createPartner'] }).click();
      await partnerForm
        .getByRole('status')
        .locator('code')
        .filter({ hasText: /^whsec_/ })
        .waitFor();
      const partners = await api<{ items: Array<{ name: string; kind: string; daily_cap: number | null }> }>(
        'GET',
        '/v1/operator/marketplace/partners?limit=100',
        adminKey,
      );
      expect(partners.json.items.find((p) => p.name === '米粒信用卡')).toMatchObject({
        kind: 'card_issuer',
        daily_cap: 200,
      });

      // The seeded partner's caps, changed after it was created.
      const limitsForm = op.getByRole('form', { name: en['cconfig.limitsTitle'] });
      await limitsForm.getByLabel(en['cmarket.partner']).selectOption({ label: '模拟银行' });
      await limitsForm.getByLabel(en['cmarket.dailyCap']).fill('30');
      await limitsForm.getByLabel(en['cmarket.budget']).fill('1500.5');
      await limitsForm.getByRole('button', { name: en['cconfig.saveLimits'] }).click();
      await limitsForm.getByText(en['cconfig.limitsSaved'].replace('{name}', '模拟银行')).waitFor();
      const limited = await api<{
        items: Array<{ name: string; daily_cap: number | null; monthly_budget: string | null }>;
      }>('GET', '/v1/operator/marketplace/partners?limit=100', adminKey);
      expect(limited.json.items.find((p) => p.name === '模拟银行')).toMatchObject({
        daily_cap: 30,
        monthly_budget: '150050',
      });

      // A new version of the loan product; above the 24% APR cap is refused in plain words.
      const loanTable = op.getByTestId('loan-products');
      await loanTable.locator('code', { hasText: 'cash-book' }).waitFor();
      await op.getByRole('button', { name: `${en['cconfig.newVersion']} cash-book` }).click();
      const loanForm = op.getByRole('form', { name: en['cconfig.loanFormTitle'] });
      expect(await loanForm.getByLabel(en['cconfig.loanCode']).inputValue()).toBe('cash-book');
      await loanForm.getByLabel(en['cconfig.annualRate']).fill('30');
      await loanForm.getByRole('button', { name: en['cconfig.saveLoan'] }).click();
      await expect.poll(() => loanForm.getByRole('alert').textContent()).toBe(errorMessages.en.APR_ABOVE_CAP);
      await loanForm.getByLabel(en['cconfig.annualRate']).fill('9.6');
      await loanForm.getByRole('button', { name: en['cconfig.saveLoan'] }).click();
      await loanForm.getByText(/cash-book version 2 saved/).waitFor();
      await loanTable.getByRole('row', { name: /cash-book v2/ }).waitFor();
      // Beside the highest APR, the loan that reaches it (or that none does): a new version's is
      // found over every amount, never only at the ends of its amount range.
      const v2 = (
        await api<{
          items: Array<{
            code: string;
            max_apr_at: { amount: string; terms: number } | null;
            max_apr_basis: string;
          }>;
        }>('GET', '/v1/operator/lending/products', adminKey)
      ).json.items.find((p) => p.code === 'cash-book')!;
      expect(v2.max_apr_basis).toBe('every_amount');
      const aprAt = await loanTable
        .getByRole('row', { name: /cash-book v2/ })
        .getByTestId('max-apr-at')
        .textContent();
      if (v2.max_apr_at) expect(aprAt).toMatch(new RegExp(` over ${v2.max_apr_at.terms} months$`));
      else expect(aprAt).toBe(en['cconfig.maxAprAtNone']);
      await shot(op, 'console-config');

      // The same pages in Chinese.
      await op.getByLabel(en['language.label']).selectOption('zh-CN');
      await navTo(op, messages['zh-CN']['console.sales']);
      await op.getByText(messages['zh-CN']['csales.rejections']).first().waitFor();
      await context.close();
    }, 180_000);

    it('signs the tab out, in plain words, when the operator’s key is revoked while it is open', async () => {
      const created = await api<{ id: string; key: string }>('POST', '/v1/operator/api-keys', adminKey, {
        name: 'night shift',
        scopes: ['ledger:read'],
      });
      expect(created.status, JSON.stringify(created.json)).toBe(201);
      const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 860 } });
      const op = await context.newPage();
      await op.goto(`${base}/console`);
      await op.getByLabel(en['console.key']).fill(created.json.key);
      await op.getByRole('button', { name: en['console.signInSubmit'] }).click();
      await op.getByRole('heading', { name: en['console.ledger'], level: 1 }).waitFor();

      const revoked = await api('POST', `/v1/operator/api-keys/${created.json.id}/revoke`, adminKey, {});
      expect(revoked.status, JSON.stringify(revoked.json)).toBe(200);
      // The next request the tab sends is refused 401: back to the key prompt, saying why.
      await op.getByRole('navigation').getByRole('link', { name: en['console.close'], exact: true }).click();
      await op.getByRole('heading', { name: en['console.signIn'], level: 1 }).waitFor({ timeout: 10_000 });
      await expect.poll(() => op.getByRole('alert').textContent()).toBe(en['console.keyRejected']);
      expect(await op.getByRole('navigation').count()).toBe(0);
      expect(await op.evaluate("sessionStorage.getItem('millet.operator-key')")).toBeNull();
      await op.getByLabel(en['language.label']).selectOption('zh-CN');
      await expect
        .poll(() => op.getByRole('alert').textContent())
        .toBe(messages['zh-CN']['console.keyRejected']);

      // A reload with a key that no longer works (kept in sessionStorage) signs out the same way.
      await op.evaluate(`sessionStorage.setItem('millet.operator-key', ${JSON.stringify(created.json.key)})`);
      await op.reload();
      await op
        .getByRole('heading', { name: messages['zh-CN']['console.signIn'], level: 1 })
        .waitFor({ timeout: 10_000 });
      await expect
        .poll(() => op.getByRole('alert').textContent())
        .toBe(messages['zh-CN']['console.keyRejected']);

      // Signing in again with a valid key clears the notice and shows the page the tab was on.
      await op.getByLabel(messages['zh-CN']['console.key']).fill(adminKey);
      await op.getByRole('button', { name: messages['zh-CN']['console.signInSubmit'] }).click();
      await op.getByRole('heading', { name: messages['zh-CN']['console.close'], level: 1 }).waitFor();
      expect(await op.getByText(messages['zh-CN']['console.keyRejected']).count()).toBe(0);
      // The close page also lists wallet operations the bank has left undecided for a day: none here.
      await op.getByText(messages['zh-CN']['cwallet.attentionNone']).waitFor();
      await context.close();
    }, 60_000);

    it('refuses a merchant fee left empty or typed as an exponent, instead of onboarding at 0 or 1000', async () => {
      const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 860 } });
      const op = await context.newPage();
      await op.goto(`${base}/console`);
      await op.getByLabel(en['console.key']).fill(adminKey);
      await op.getByRole('button', { name: en['console.signInSubmit'] }).click();
      await navTo(op, en['console.merchants']);
      const form = op.getByRole('form', { name: en['merchants.onboardTitle'] });
      await form.getByLabel(en['merchants.name']).fill('零费率商户');
      for (const fee of ['', '1e3']) {
        await form.getByLabel(en['merchants.feeBps']).fill(fee);
        await form.getByRole('button', { name: en['merchants.onboard'] }).click();
        await expect.poll(() => form.getByRole('alert').textContent()).toBe(en['merchants.feeInvalid']);
      }
      const merchants = await api<{ items: Array<{ name: string }> }>(
        'GET',
        '/v1/operator/merchants?limit=100',
        adminKey,
      );
      expect(merchants.json.items.map((m) => m.name)).not.toContain('零费率商户');
      await context.close();
    }, 60_000);

    it('shows who did what in the audit log, newest first, by actor kind and a page at a time', async () => {
      // A merchant that, given a key, creates a payment order and retries it under the same Idempotency-Key.
      const shop = await api<{ id: string }>('POST', '/v1/operator/merchants', adminKey, {
        name: '审计面馆',
        fee_bps: 60,
      });
      expect(shop.status, JSON.stringify(shop.json)).toBe(201);
      // More operator actions than a page holds, before the ones the first rows show; an even count leaves the merchant active.
      for (let i = 0; i < AUDIT_PAGE_SIZE + (AUDIT_PAGE_SIZE % 2); i++)
        expect(
          (
            await api(
              'POST',
              `/v1/operator/merchants/${shop.json.id}/${i % 2 ? 'activate' : 'suspend'}`,
              adminKey,
              {},
            )
          ).status,
        ).toBe(200);
      const till = await api<{ key: string }>(
        'POST',
        `/v1/operator/merchants/${shop.json.id}/api-keys`,
        adminKey,
        {
          name: 'till',
          scopes: ['payments:write'],
        },
      );
      expect(till.status, JSON.stringify(till.json)).toBe(201);
      const orderKey = randomUUID();
      const orderBody = JSON.stringify({
        merchant_reference: orderKey.slice(0, 20),
        amount: '1200',
        description: '面',
      });
      for (let i = 0; i < 2; i++) {
        const order = await fetch(`${base}/v1/merchant/payment-orders`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${till.json.key}`,
            'content-type': 'application/json',
            'idempotency-key': orderKey,
          },
          body: orderBody,
        });
        expect(order.status, await order.text()).toBe(201);
      }

      const context = await browser.newContext({
        locale: 'en-US',
        timezoneId: 'Asia/Shanghai',
        viewport: { width: 1280, height: 860 },
        deviceScaleFactor: 1,
      });
      const op = await context.newPage();
      await op.goto(`${base}/console`);
      await op.getByLabel(en['console.key']).fill(adminKey);
      await op.getByRole('button', { name: en['console.signInSubmit'] }).click();
      // The operator's action in the browser: suspending the merchant.
      await navTo(op, en['console.merchants']);
      await op.getByRole('button', { name: `${en['merchants.suspend']} 审计面馆` }).click();
      await op.getByRole('button', { name: `${en['merchants.activate']} 审计面馆` }).waitFor();

      await navTo(op, en['console.auditLog']);
      const log = op.getByTestId('audit-log');
      const rows = log.locator('tbody tr');
      await rows.first().waitFor();
      const cells = (row: number) => rows.nth(row).locator('td').allTextContents();
      const [time, actor, action, resource, status, replayed] = await cells(0);
      expect(time).toMatch(/\d/);
      expect(actor).toContain(`${en['caudit.kind.operator']} · bootstrap`);
      expect(action).toBe('POST /v1/operator/merchants/:id/suspend');
      expect(resource).toBe(shop.json.id);
      expect(status).toBe('200');
      expect(replayed).toBe(en['caudit.no']);
      expect(await rows.count()).toBe(AUDIT_PAGE_SIZE);
      await shot(op, 'console-audit-log');

      // Older entries on demand, as many as the API holds past the first page.
      let total = 0;
      let cursor: string | null = null;
      do {
        const page: { status: number; json: { items: unknown[]; next_cursor: string | null } } = await api(
          'GET',
          `/v1/operator/audit-log?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          adminKey,
        );
        total += page.json.items.length;
        cursor = page.json.next_cursor;
      } while (cursor);
      await op.getByRole('button', { name: en['caudit.more'] }).click();
      await expect.poll(() => rows.count()).toBe(Math.min(total, 2 * AUDIT_PAGE_SIZE));

      // Only the merchant's entries: the order and its retry, answered from the stored response.
      await op.getByLabel(en['caudit.actorKind']).selectOption('merchant');
      const orderRows = rows.filter({ hasText: 'POST /v1/merchant/payment-orders' });
      await expect.poll(() => orderRows.count()).toBe(2);
      const merchantEntries = await api<{ items: Array<{ actor_kind: string }> }>(
        'GET',
        `/v1/operator/audit-log?actor_kind=merchant&limit=${AUDIT_PAGE_SIZE}`,
        adminKey,
      );
      expect(await rows.count()).toBe(merchantEntries.json.items.length);
      expect(await rows.filter({ hasText: en['caudit.kind.operator'] }).count()).toBe(0);
      const [retry, original] = [await cells(0), await cells(1)];
      expect(retry[1]).toContain(`${en['caudit.kind.merchant']} · key `);
      expect(retry[1]).toContain(shop.json.id);
      expect([retry[4], retry[5]]).toEqual(['201', en['caudit.yes']]);
      expect([original[4], original[5]]).toEqual(['201', en['caudit.no']]);
      expect(retry[3]).toBe(original[3]);
      await context.close();
    }, 60_000);
  },
);
