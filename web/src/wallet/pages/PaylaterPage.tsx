import { useState, type FormEvent } from 'react';
import { ApiError } from '../../shared/api.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen, formatPercent, parseYuan } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Select, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface Statement {
  id: string;
  statement_date: string;
  due_date: string;
  status: 'open' | 'paid' | 'overdue';
  total_due: string;
  unpaid: string;
  min_payment: string;
  paid: string;
  principal: string;
  instalment_principal: string;
  converted_principal: string;
  convertible_principal: string;
}
interface Line {
  id: string;
  status: 'active' | 'suspended';
  limit: string;
  available: string;
  used: string;
  total_owed: string;
  bill: Statement | null;
}
interface Offer {
  apr_percent: string;
  terms: number;
  principal: string;
  fee: string;
  first_payment: string;
  later_payment: string;
  fee_rate_percent: string;
}

/** Pay later: the line (limit, available), the current bill, repay, turn the bill into instalments. */
export function PaylaterPage() {
  const { t } = useI18n();
  const { api } = useSession();
  // Kept here: once converted, the bill has nothing left to split and its instalments card goes.
  const [converted, setConverted] = useState<string>();
  const line = useLoad(async () => {
    try {
      return await api.get<Line>('/v1/paylater/line');
    } catch (error) {
      if (error instanceof ApiError && error.code === 'PAYLATER_LINE_NOT_FOUND') return null;
      throw error;
    }
  });
  if (line.loading && line.data === undefined) return <Loading />;
  if (line.error) return <ErrorNotice error={line.error} />;
  if (!line.data) return <OpenLine onDone={line.reload} />;
  const l = line.data;
  return (
    <>
      <Card title={t('paylater.lineTitle')}>
        <div className="stats">
          <div>
            <span className="label">{t('paylater.available')}</span>
            <span className="amount-sm" data-testid="paylater-available">
              ¥{formatFen(l.available)}
            </span>
          </div>
          <div>
            <span className="label">{t('paylater.limit')}</span>
            <span className="amount-sm" data-testid="paylater-limit">
              ¥{formatFen(l.limit)}
            </span>
          </div>
          <div>
            <span className="label">{t('paylater.owed')}</span>
            <span className="amount-sm">¥{formatFen(l.total_owed)}</span>
          </div>
        </div>
        {l.status === 'suspended' && <p className="notice error">{t('paylater.suspended')}</p>}
      </Card>
      <Card title={t('paylater.billTitle')}>
        {l.bill ? (
          <dl data-testid="paylater-bill">
            <dt>{t('paylater.billDate')}</dt>
            <dd>{l.bill.statement_date}</dd>
            <dt>{t('paylater.unpaid')}</dt>
            <dd>¥{formatFen(l.bill.unpaid)}</dd>
            <dt>{t('paylater.minPayment')}</dt>
            <dd>¥{formatFen(l.bill.min_payment)}</dd>
            <dt>{t('paylater.dueDate')}</dt>
            <dd>{l.bill.due_date}</dd>
          </dl>
        ) : (
          <p className="muted">{t('paylater.noBill')}</p>
        )}
      </Card>
      <RepayForm onDone={line.reload} />
      {l.bill && convertible(l.bill) && (
        <Instalments
          statementId={l.bill.id}
          onDone={(terms) => {
            setConverted(t('paylater.converted', { terms: String(terms) }));
            line.reload();
          }}
        />
      )}
      {converted && <Success>{converted}</Success>}
    </>
  );
}

/**
 * Whether the bill has anything to turn into instalments: its purchases still unpaid (not the
 * instalment months it bills), while it is open; a partly repaid bill converts what is left.
 */
const convertible = (s: Statement) => s.status === 'open' && BigInt(s.convertible_principal) > 0n;

function OpenLine({ onDone }: { onDone(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const products = useLoad(() =>
    api.get<{ items: Array<{ id: string; name: string }> }>('/v1/paylater/products'),
  );
  const [chosen, setChosen] = useState('');
  const items = products.data?.items ?? [];
  const productId = chosen || items[0]?.id || '';
  const open = useAction(async () => {
    await api.post('/v1/paylater/line', { product_id: productId });
    onDone();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void open.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('paylater.openTitle')}>
      <h2>{t('paylater.openTitle')}</h2>
      <p className="muted">{t('paylater.openIntro')}</p>
      {products.loading ? (
        <Loading />
      ) : (
        <Select
          label={t('paylater.product')}
          name="product_id"
          value={productId}
          onChange={setChosen}
          options={items.map((p) => ({ value: p.id, label: p.name }))}
        />
      )}
      <ErrorNotice error={products.error ?? open.error} />
      <button type="submit" className="primary" disabled={open.busy || !productId}>
        {t('paylater.openSubmit')}
      </button>
    </form>
  );
}

function RepayForm({ onDone }: { onDone(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [amount, setAmount] = useState('');
  const [done, setDone] = useState<string>();
  const repay = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen || fen === '0') throw new Error(t('error.amount'));
    setDone(undefined);
    const r = await api.post<{ amount: string }>('/v1/paylater/repayments', { amount: fen });
    setDone(t('paylater.repaid', { amount: formatFen(r.amount) }));
    setAmount('');
    onDone();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void repay.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('paylater.repay')}>
      <h2>{t('paylater.repay')}</h2>
      <Field
        label={t('common.amountYuan')}
        name="repay_amount"
        inputMode="decimal"
        value={amount}
        onChange={setAmount}
        required
      />
      <ErrorNotice error={repay.error} />
      {done && <Success>{done}</Success>}
      <button type="submit" className="primary" disabled={repay.busy}>
        {t('paylater.repaySubmit')}
      </button>
    </form>
  );
}

function Instalments({ statementId, onDone }: { statementId: string; onDone(terms: number): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const offers = useLoad(
    () => api.get<{ items: Offer[] }>(`/v1/paylater/statements/${statementId}/instalment-offers`),
    [statementId],
  );
  const convert = useAction(async (terms: number) => {
    await api.post(`/v1/paylater/statements/${statementId}/instalments`, { terms });
    onDone(terms);
  });
  return (
    <Card title={t('paylater.instalmentsTitle')}>
      {offers.loading && !offers.data && <Loading />}
      <ErrorNotice error={offers.error} />
      <ul className="offers">
        {offers.data?.items.map((o) => (
          <li key={o.terms} data-testid="instalment-offer">
            {/* The APR first and largest; the fee after it (PBoC Announcement [2021] No. 3). */}
            <strong className="apr">{t('common.apr', { apr: formatPercent(o.apr_percent) })}</strong>
            <span>
              {t('paylater.offerLine', {
                terms: String(o.terms),
                payment: formatFen(o.later_payment),
              })}
            </span>
            <small className="muted">
              {t('paylater.offerFee', { fee: formatFen(o.fee), rate: o.fee_rate_percent })}
            </small>
            <button type="button" disabled={convert.busy} onClick={() => void convert.run(o.terms)}>
              {t('paylater.convert', { terms: String(o.terms) })}
            </button>
          </li>
        ))}
      </ul>
      <ErrorNotice error={convert.error} />
    </Card>
  );
}
