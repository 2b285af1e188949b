import { useState, type FormEvent, type ReactNode } from 'react';
import { useI18n, type Translate } from '../../shared/i18n.tsx';
import { formatFen, formatPercent, parseYuan } from '../../shared/money.ts';
import { ErrorNotice, Field, Loading, Select, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';
import { maxAprNote, type MaxAprBasis } from '../max-apr.ts';
import { getAllPages, type Page } from '../../shared/api.ts';
import { parseWholeNumber } from '../../shared/numbers.ts';

interface StoreProduct {
  id: string;
  name: string;
  description: string;
}
interface Sku {
  id: string;
  product_id: string;
  code: string;
  name: string;
  price: string;
  stock: string;
}
interface LoanProduct {
  code: string;
  version: number;
  name: string;
  annual_rate: string;
  max_apr: string;
  /** A loan at max_apr; null when max_apr is a bound no loan meets, the cap, or found at the ends only. */
  max_apr_at: { amount: string; terms: number } | null;
  max_apr_basis: MaxAprBasis;
  terms: number[];
  min_amount: string;
  max_amount: string;
  schedule_type: string;
  day_count: string;
}

/** Configuration: store products, SKUs and flash sales; marketplace partners; cash-loan product versions. */
export function ConfigPage() {
  return (
    <div className="grid">
      <StoreConfig />
      <PartnerForm />
      <PartnerLimitsForm />
      <LoanProducts />
    </div>
  );
}

/** A form card: the submit runs `action`; its error (client check or problem+json) is shown in plain words. */
function FormCard(props: {
  title: string;
  submit: string;
  action: ReturnType<typeof useAction<[], void>>;
  done?: ReactNode;
  children: ReactNode;
}) {
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void props.action.run();
  };
  return (
    <form className="card" onSubmit={onSubmit} aria-label={props.title} noValidate>
      <h2>{props.title}</h2>
      {props.children}
      <ErrorNotice error={props.action.error} />
      {props.done && <Success>{props.done}</Success>}
      <button type="submit" className="primary" disabled={props.action.busy}>
        {props.submit}
      </button>
    </form>
  );
}

function yuan(t: Translate, text: string, label: string): string {
  const fen = parseYuan(text);
  if (fen === undefined) throw new Error(t('cconfig.amountInvalid', { field: label }));
  return fen;
}
function integer(t: Translate, text: string, label: string, min: number, max: number): number {
  const n = parseWholeNumber(text, min, max);
  if (n === undefined) throw new Error(t('cconfig.integerInvalid', { field: label, min, max }));
  return n;
}
function required(t: Translate, text: string, label: string): string {
  if (!text.trim()) throw new Error(t('cconfig.required', { field: label }));
  return text.trim();
}
function instant(t: Translate, text: string, label: string): string {
  const at = new Date(text);
  if (!text || Number.isNaN(at.getTime())) throw new Error(t('cconfig.timeInvalid', { field: label }));
  return at.toISOString();
}
/** "2026-11-10T10:00" in the browser's time zone, for a datetime-local input. */
function localInput(at: Date): string {
  const shifted = new Date(at.getTime() - at.getTimezoneOffset() * 60_000);
  return shifted.toISOString().slice(0, 16);
}

function StoreConfig() {
  const { t } = useI18n();
  const { api } = useOperator();
  const products = useLoad(() => getAllPages<Page<StoreProduct>>(api, '/v1/operator/store/products'));
  const [productId, setProductId] = useState<string>();
  const currentProduct = productId ?? products.data?.items.at(-1)?.id;
  const skus = useLoad(
    () =>
      currentProduct
        ? api.get<{ items: Sku[] }>(`/v1/operator/store/products/${currentProduct}/skus`)
        : Promise.resolve({ items: [] as Sku[] }),
    [currentProduct],
  );
  const [skuId, setSkuId] = useState<string>();
  const currentSku = skus.data?.items.find((s) => s.id === skuId)?.id ?? skus.data?.items.at(-1)?.id;

  const [pName, setPName] = useState('');
  const [pDescription, setPDescription] = useState('');
  const [pDone, setPDone] = useState<string>();
  const createProduct = useAction(async () => {
    const created = await api.post<StoreProduct>('/v1/operator/store/products', {
      name: required(t, pName, t('cconfig.productName')),
      ...(pDescription.trim() ? { description: pDescription.trim() } : {}),
    });
    setPDone(t('cconfig.productCreated', { name: created.name }));
    setPName('');
    setPDescription('');
    setProductId(created.id);
    products.reload();
  });

  const [code, setCode] = useState('');
  const [skuName, setSkuName] = useState('');
  const [price, setPrice] = useState('');
  const [stock, setStock] = useState('100');
  const [sDone, setSDone] = useState<string>();
  const createSku = useAction(async () => {
    if (!currentProduct) throw new Error(t('cconfig.productFirst'));
    const created = await api.post<Sku>('/v1/operator/store/skus', {
      product_id: currentProduct,
      code: required(t, code, t('cconfig.skuCode')),
      name: required(t, skuName, t('cconfig.skuName')),
      price: yuan(t, price, t('cconfig.price')),
      stock: integer(t, stock, t('cconfig.stock'), 0, 1e12),
    });
    setSDone(t('cconfig.skuCreated', { name: created.name }));
    setCode('');
    setSkuName('');
    setSkuId(created.id);
    skus.reload();
  });

  const soon = new Date(Date.now() + 10 * 60_000);
  const [saleName, setSaleName] = useState('');
  const [salePrice, setSalePrice] = useState('');
  const [allotment, setAllotment] = useState('10');
  const [perUser, setPerUser] = useState('1');
  const [startsAt, setStartsAt] = useState(localInput(soon));
  const [endsAt, setEndsAt] = useState(localInput(new Date(soon.getTime() + 3_600_000)));
  const [saleDone, setSaleDone] = useState<string>();
  const createSale = useAction(async () => {
    if (!currentSku) throw new Error(t('cconfig.skuFirst'));
    const body = {
      sku_id: currentSku,
      name: required(t, saleName, t('cconfig.saleName')),
      price: yuan(t, salePrice, t('cconfig.salePrice')),
      allotment: integer(t, allotment, t('cconfig.allotment'), 1, 1e9),
      per_user_limit: integer(t, perUser, t('cconfig.perUser'), 1, 100),
      starts_at: instant(t, startsAt, t('cconfig.startsAt')),
      ends_at: instant(t, endsAt, t('cconfig.endsAt')),
    };
    if (body.ends_at <= body.starts_at) throw new Error(t('cconfig.endsBeforeStart'));
    const created = await api.post<{ name: string }>('/v1/operator/store/sales', body);
    setSaleDone(t('cconfig.saleCreated', { name: created.name }));
    setSaleName('');
  });

  const productOptions = (products.data?.items ?? []).map((p) => ({ value: p.id, label: p.name }));
  const skuOptions = (skus.data?.items ?? []).map((s) => ({
    value: s.id,
    label: `${s.name} (${s.code}) ¥${formatFen(s.price)} · ${t('cconfig.inStock', { n: s.stock })}`,
  }));
  return (
    <>
      <FormCard
        title={t('cconfig.productTitle')}
        submit={t('cconfig.createProduct')}
        action={createProduct}
        done={pDone}
      >
        <Field
          label={t('cconfig.productName')}
          name="product_name"
          value={pName}
          onChange={setPName}
          required
        />
        <Field
          label={t('cconfig.description')}
          name="description"
          value={pDescription}
          onChange={setPDescription}
        />
      </FormCard>
      <FormCard title={t('cconfig.skuTitle')} submit={t('cconfig.createSku')} action={createSku} done={sDone}>
        {products.error ? (
          <ErrorNotice error={products.error} />
        ) : !products.data ? (
          <Loading />
        ) : productOptions.length === 0 ? (
          <p className="muted">{t('cconfig.productFirst')}</p>
        ) : (
          <Select
            label={t('cconfig.product')}
            value={currentProduct ?? ''}
            onChange={setProductId}
            options={productOptions}
          />
        )}
        <Field label={t('cconfig.skuCode')} name="sku_code" value={code} onChange={setCode} required />
        <Field label={t('cconfig.skuName')} name="sku_name" value={skuName} onChange={setSkuName} required />
        <Field
          label={t('cconfig.price')}
          name="price"
          inputMode="decimal"
          value={price}
          onChange={setPrice}
          required
        />
        <Field
          label={t('cconfig.stock')}
          name="stock"
          inputMode="numeric"
          value={stock}
          onChange={setStock}
        />
      </FormCard>
      <FormCard
        title={t('cconfig.saleTitle')}
        submit={t('cconfig.createSale')}
        action={createSale}
        done={saleDone}
      >
        {skuOptions.length === 0 ? (
          <p className="muted">{t('cconfig.skuFirst')}</p>
        ) : (
          <Select
            label={t('cconfig.sku')}
            value={currentSku ?? ''}
            onChange={setSkuId}
            options={skuOptions}
          />
        )}
        <Field
          label={t('cconfig.saleName')}
          name="sale_name"
          value={saleName}
          onChange={setSaleName}
          required
        />
        <Field
          label={t('cconfig.salePrice')}
          name="sale_price"
          inputMode="decimal"
          value={salePrice}
          onChange={setSalePrice}
          required
        />
        <Field
          label={t('cconfig.allotment')}
          name="allotment"
          inputMode="numeric"
          value={allotment}
          onChange={setAllotment}
          hint={t('cconfig.allotmentHint')}
        />
        <Field
          label={t('cconfig.perUser')}
          name="per_user_limit"
          inputMode="numeric"
          value={perUser}
          onChange={setPerUser}
        />
        <Field
          label={t('cconfig.startsAt')}
          name="starts_at"
          type="datetime-local"
          value={startsAt}
          onChange={setStartsAt}
        />
        <Field
          label={t('cconfig.endsAt')}
          name="ends_at"
          type="datetime-local"
          value={endsAt}
          onChange={setEndsAt}
        />
      </FormCard>
    </>
  );
}

const bands = ['A', 'B', 'C', 'D', 'E'] as const;

/** A partner's daily cap and monthly budget, changed after it was created. */
function PartnerLimitsForm() {
  const { t } = useI18n();
  const { api } = useOperator();
  const partners = useLoad(() =>
    getAllPages<Page<{ id: string; name: string; status: string }>>(api, '/v1/operator/marketplace/partners'),
  );
  const items = (partners.data?.items ?? []).filter((p) => p.status !== 'terminated');
  const [chosen, setChosen] = useState('');
  const [dailyCap, setDailyCap] = useState('');
  const [budget, setBudget] = useState('');
  const [done, setDone] = useState<string>();
  const partnerId = chosen || items[0]?.id || '';
  const save = useAction(async () => {
    if (!partnerId) throw new Error(t('cconfig.required', { field: t('cmarket.partner') }));
    const saved = await api.post<{ name: string }>(`/v1/operator/marketplace/partners/${partnerId}/limits`, {
      daily_cap: dailyCap.trim() ? integer(t, dailyCap, t('cmarket.dailyCap'), 0, 1e9) : null,
      monthly_budget: budget.trim() ? yuan(t, budget, t('cmarket.budget')) : null,
    });
    setDone(saved.name);
  });
  return (
    <FormCard
      title={t('cconfig.limitsTitle')}
      submit={t('cconfig.saveLimits')}
      action={save}
      done={done && t('cconfig.limitsSaved', { name: done })}
    >
      <ErrorNotice error={partners.error} />
      <Select
        label={t('cmarket.partner')}
        name="limits_partner"
        value={partnerId}
        onChange={setChosen}
        options={items.map((p) => ({ value: p.id, label: p.name }))}
      />
      <Field
        label={t('cmarket.dailyCap')}
        name="limits_daily_cap"
        inputMode="numeric"
        value={dailyCap}
        onChange={setDailyCap}
        hint={t('cconfig.blankNoCap')}
      />
      <Field
        label={t('cmarket.budget')}
        name="limits_monthly_budget"
        inputMode="decimal"
        value={budget}
        onChange={setBudget}
        hint={t('cconfig.blankNoCap')}
      />
    </FormCard>
  );
}

function PartnerForm() {
  const { t } = useI18n();
  const { api } = useOperator();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'lender' | 'card_issuer'>('lender');
  const [url, setUrl] = useState('');
  const [chosenBands, setBands] = useState<string[]>(['A', 'B', 'C']);
  const [minAmount, setMinAmount] = useState('1000');
  const [maxAmount, setMaxAmount] = useState('50000');
  const [minTerm, setMinTerm] = useState('3');
  const [maxTerm, setMaxTerm] = useState('36');
  const [cpa, setCpa] = useState('50');
  const [cps, setCps] = useState('100');
  const [dailyCap, setDailyCap] = useState('');
  const [budget, setBudget] = useState('');
  const [done, setDone] = useState<{ name: string; secret: string }>();
  const create = useAction(async () => {
    if (chosenBands.length === 0) throw new Error(t('cconfig.bandsRequired'));
    const created = await api.post<{ name: string; secret: string }>('/v1/operator/marketplace/partners', {
      name: required(t, name, t('cconfig.partnerName')),
      kind,
      endpoint_url: required(t, url, t('cconfig.endpoint')),
      eligibility: {
        score_bands: chosenBands,
        min_amount: yuan(t, minAmount, t('cconfig.minAmount')),
        max_amount: yuan(t, maxAmount, t('cconfig.maxAmount')),
        min_term_months: integer(t, minTerm, t('cconfig.minTerm'), 1, 360),
        max_term_months: integer(t, maxTerm, t('cconfig.maxTerm'), 1, 360),
      },
      pricing: {
        cpa: yuan(t, cpa, t('cmarket.cpa')),
        cps_bp: integer(t, cps, t('cconfig.cpsBp'), 0, 10_000),
      },
      daily_cap: dailyCap.trim() ? integer(t, dailyCap, t('cmarket.dailyCap'), 0, 1e9) : null,
      monthly_budget: budget.trim() ? yuan(t, budget, t('cmarket.budget')) : null,
    });
    setDone({ name: created.name, secret: created.secret });
    setName('');
  });
  const toggleBand = (band: string) =>
    setBands((list) => (list.includes(band) ? list.filter((b) => b !== band) : [...list, band].sort()));
  return (
    <FormCard
      title={t('cconfig.partnerTitle')}
      submit={t('cconfig.createPartner')}
      action={create}
      done={
        done && (
          <>
            {t('cconfig.partnerCreated', { name: done.name })} <code>{done.secret}</code>
          </>
        )
      }
    >
      <Field label={t('cconfig.partnerName')} name="partner_name" value={name} onChange={setName} required />
      <Select
        label={t('cconfig.kind')}
        value={kind}
        onChange={(v) => setKind(v as typeof kind)}
        options={[
          { value: 'lender', label: t('cmarket.lender') },
          { value: 'card_issuer', label: t('cmarket.cardIssuer') },
        ]}
      />
      <Field
        label={t('cconfig.endpoint')}
        name="endpoint_url"
        type="url"
        value={url}
        onChange={setUrl}
        required
      />
      <fieldset className="field">
        <legend>{t('cconfig.bands')}</legend>
        {bands.map((b) => (
          <label key={b} className="checkbox">
            <input type="checkbox" checked={chosenBands.includes(b)} onChange={() => toggleBand(b)} /> {b}
          </label>
        ))}
      </fieldset>
      <Field
        label={t('cconfig.minAmount')}
        name="min_amount"
        inputMode="decimal"
        value={minAmount}
        onChange={setMinAmount}
      />
      <Field
        label={t('cconfig.maxAmount')}
        name="max_amount"
        inputMode="decimal"
        value={maxAmount}
        onChange={setMaxAmount}
      />
      <Field
        label={t('cconfig.minTerm')}
        name="min_term"
        inputMode="numeric"
        value={minTerm}
        onChange={setMinTerm}
      />
      <Field
        label={t('cconfig.maxTerm')}
        name="max_term"
        inputMode="numeric"
        value={maxTerm}
        onChange={setMaxTerm}
      />
      <Field label={t('cmarket.cpa')} name="cpa" inputMode="decimal" value={cpa} onChange={setCpa} />
      <Field label={t('cconfig.cpsBp')} name="cps_bp" inputMode="numeric" value={cps} onChange={setCps} />
      <Field
        label={t('cmarket.dailyCap')}
        name="daily_cap"
        inputMode="numeric"
        value={dailyCap}
        onChange={setDailyCap}
        hint={t('cconfig.blankNoCap')}
      />
      <Field
        label={t('cmarket.budget')}
        name="monthly_budget"
        inputMode="decimal"
        value={budget}
        onChange={setBudget}
        hint={t('cconfig.blankNoCap')}
      />
    </FormCard>
  );
}

function LoanProducts() {
  const { t } = useI18n();
  const { api } = useOperator();
  const products = useLoad(() => api.get<{ items: LoanProduct[] }>('/v1/operator/lending/products'));
  const [code, setCode] = useState('');
  const [name, setName] = useState('');
  const [rate, setRate] = useState('7.2');
  const [terms, setTerms] = useState('6,12');
  const [minAmount, setMinAmount] = useState('1000');
  const [maxAmount, setMaxAmount] = useState('50000');
  const [schedule, setSchedule] = useState('equal_instalments');
  const [done, setDone] = useState<string>();
  const save = useAction(async () => {
    const c = required(t, code, t('cconfig.loanCode'));
    const termList = terms
      .split(/[,，\s]+/)
      .filter(Boolean)
      .map((x) => integer(t, x, t('cconfig.terms'), 1, 60));
    if (termList.length === 0) throw new Error(t('cconfig.required', { field: t('cconfig.terms') }));
    if (!/^\d{1,4}(\.\d{1,8})?$/.test(rate.trim())) throw new Error(t('cconfig.rateInvalid'));
    const body = {
      name: required(t, name, t('cconfig.loanName')),
      schedule_type: schedule,
      day_count: '30/360',
      annual_rate: rate.trim(),
      terms: termList,
      min_amount: yuan(t, minAmount, t('cconfig.minAmount')),
      max_amount: yuan(t, maxAmount, t('cconfig.maxAmount')),
    };
    // A known code gets a new version (its loans keep theirs); a new code starts at version 1.
    const exists = products.data?.items.some((p) => p.code === c);
    const saved = await api.post<LoanProduct>(
      exists
        ? `/v1/operator/lending/products/${encodeURIComponent(c)}/versions`
        : '/v1/operator/lending/products',
      exists ? body : { ...body, code: c },
    );
    setDone(
      t('cconfig.loanSaved', { code: saved.code, version: saved.version, apr: formatPercent(saved.max_apr) }),
    );
    products.reload();
  });
  const edit = (p: LoanProduct) => {
    setCode(p.code);
    setName(p.name);
    setRate(p.annual_rate);
    setTerms(p.terms.join(','));
    setMinAmount(formatFen(p.min_amount).replaceAll(',', ''));
    setMaxAmount(formatFen(p.max_amount).replaceAll(',', ''));
    setSchedule(p.schedule_type);
  };
  return (
    <section className="card wide" aria-label={t('cconfig.loanTitle')}>
      <h2>{t('cconfig.loanTitle')}</h2>
      {products.error ? (
        <ErrorNotice error={products.error} />
      ) : !products.data ? (
        <Loading />
      ) : products.data.items.length === 0 ? (
        <p className="muted">{t('cconfig.noLoanProducts')}</p>
      ) : (
        <table data-testid="loan-products">
          <caption className="visually-hidden">{t('cconfig.loanTitle')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('cconfig.loanCode')}</th>
              <th scope="col" className="num">
                {t('cconfig.version')}
              </th>
              <th scope="col">{t('cconfig.loanName')}</th>
              <th scope="col" className="num">
                {t('cconfig.maxApr')}
              </th>
              <th scope="col">{t('cconfig.terms')}</th>
              <th scope="col">{t('merchants.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {products.data.items.map((p) => (
              <tr key={p.code}>
                <th scope="row">
                  <code>{p.code}</code>
                </th>
                <td className="num">v{p.version}</td>
                <td>{p.name}</td>
                <td className="num">
                  {formatPercent(p.max_apr)}%{' '}
                  <span className="muted small" data-testid="max-apr-at">
                    {maxAprNote(t, p)}
                  </span>
                </td>
                <td>{p.terms.join(', ')}</td>
                <td>
                  <button type="button" onClick={() => edit(p)}>
                    {t('cconfig.newVersion')}
                    <span className="visually-hidden"> {p.code}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <FormCard title={t('cconfig.loanFormTitle')} submit={t('cconfig.saveLoan')} action={save} done={done}>
        <Field
          label={t('cconfig.loanCode')}
          name="loan_code"
          value={code}
          onChange={setCode}
          required
          hint={t('cconfig.loanCodeHint')}
        />
        <Field label={t('cconfig.loanName')} name="loan_name" value={name} onChange={setName} required />
        <Select
          label={t('cconfig.schedule')}
          value={schedule}
          onChange={setSchedule}
          options={(['equal_instalments', 'equal_principal', 'interest_first'] as const).map((s) => ({
            value: s,
            label: t(`cconfig.schedule.${s}`),
          }))}
        />
        <Field
          label={t('cconfig.annualRate')}
          name="annual_rate"
          inputMode="decimal"
          value={rate}
          onChange={setRate}
          hint={t('cconfig.annualRateHint')}
        />
        <Field
          label={t('cconfig.terms')}
          name="terms"
          value={terms}
          onChange={setTerms}
          hint={t('cconfig.termsHint')}
        />
        <Field
          label={t('cconfig.minAmount')}
          name="loan_min_amount"
          inputMode="decimal"
          value={minAmount}
          onChange={setMinAmount}
        />
        <Field
          label={t('cconfig.maxAmount')}
          name="loan_max_amount"
          inputMode="decimal"
          value={maxAmount}
          onChange={setMaxAmount}
        />
      </FormCard>
    </section>
  );
}
