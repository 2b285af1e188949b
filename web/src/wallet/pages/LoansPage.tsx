import { useRef, useState, type FormEvent } from 'react';
import { ApiError, getAllPages, newIdempotencyKey, type Page } from '../../shared/api.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen, parseYuan, formatPercent } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface Instalment {
  number: number;
  due_date: string;
  total: string;
  principal: string;
  interest: string;
}
interface Offer {
  apr: string;
  id: string;
  product_code: string;
  amount: string;
  terms: number;
  instalment: string;
  total_interest: string;
  annual_rate: string;
  expires_on: string;
  status: 'open' | 'accepted';
  schedule: Instalment[];
}
interface Application {
  id: string;
  status: 'approved' | 'declined';
  decline_reason: string | null;
  offer: Offer | null;
}
interface Loan {
  apr: string;
  id: string;
  product_code: string;
  principal: string;
  terms: number;
  status: string;
  principal_outstanding: string;
  next_payment_due_date: string | null;
  next_payment_amount: string | null;
  early_instalment: EarlyInstalment | null;
}
/** The instalment paying early settles today, as the API shows it. */
interface EarlyInstalment {
  instalment: number;
  due_date: string;
  amount: string;
}

/**
 * Cash loans: apply, the offer (APR first) with its schedule, accept to the wallet, repay, pay the
 * next instalment early, prepay.
 */
export function LoansPage() {
  const { api } = useSession();
  const loans = useLoad(() => getAllPages<Page<Loan>>(api, '/v1/loans'));
  return (
    <>
      <ApplyForm onAccepted={loans.reload} />
      <LoanList loans={loans} />
    </>
  );
}

function ApplyForm({ onAccepted }: { onAccepted(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [product, setProduct] = useState('');
  const [amount, setAmount] = useState('');
  const [terms, setTerms] = useState('12');
  const [offer, setOffer] = useState<Offer>();
  const [declined, setDeclined] = useState<string>();
  const [accepted, setAccepted] = useState<string>();
  const apply = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen || fen === '0') throw new Error(t('error.amount'));
    setOffer(undefined);
    setDeclined(undefined);
    setAccepted(undefined);
    const a = await api.post<Application>('/v1/loans/applications', {
      product_code: product.trim(),
      amount: fen,
      terms: Number.parseInt(terms, 10),
    });
    if (a.offer) setOffer(a.offer);
    else setDeclined(t('loans.declined', { reason: a.decline_reason ?? '' }));
  });
  const accept = useAction(async () => {
    if (!offer) return;
    const loan = await api.post<Loan>(`/v1/loans/offers/${offer.id}/accept`, { to: 'wallet' });
    setAccepted(t('loans.accepted', { amount: formatFen(loan.principal) }));
    setOffer(undefined);
    onAccepted();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void apply.run();
  };
  return (
    <>
      <form className="card" onSubmit={submit} aria-label={t('loans.applyTitle')}>
        <h2>{t('loans.applyTitle')}</h2>
        <Field
          label={t('loans.product')}
          name="product_code"
          value={product}
          onChange={setProduct}
          required
        />
        <Field
          label={t('common.amountYuan')}
          name="loan_amount"
          inputMode="decimal"
          value={amount}
          onChange={setAmount}
          required
        />
        <Field
          label={t('loans.terms')}
          name="terms"
          inputMode="numeric"
          value={terms}
          onChange={setTerms}
          required
        />
        <ErrorNotice error={apply.error} />
        {declined && (
          <p className="notice error" role="alert">
            {declined}
          </p>
        )}
        {accepted && <Success>{accepted}</Success>}
        <button type="submit" className="primary" disabled={apply.busy}>
          {t('loans.applySubmit')}
        </button>
      </form>
      {offer && (
        <Card title={t('loans.offerTitle')}>
          {/* The APR first and largest, the nominal rate after it. */}
          <p className="apr" data-testid="loan-apr">
            {t('common.apr', { apr: formatPercent(offer.apr) })}
          </p>
          <p>
            {t('loans.offerLine', {
              amount: formatFen(offer.amount),
              terms: String(offer.terms),
              instalment: formatFen(offer.instalment),
            })}
          </p>
          <p className="muted">
            {t('loans.offerRate', {
              rate: offer.annual_rate,
              interest: formatFen(offer.total_interest),
              date: offer.expires_on,
            })}
          </p>
          <table>
            <caption className="visually-hidden">{t('loans.scheduleTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">{t('loans.dueDate')}</th>
                <th scope="col">{t('loans.total')}</th>
                <th scope="col">{t('loans.interest')}</th>
              </tr>
            </thead>
            <tbody>
              {offer.schedule.map((i) => (
                <tr key={i.number}>
                  <td>{i.number}</td>
                  <td>{i.due_date}</td>
                  <td>{formatFen(i.total)}</td>
                  <td>{formatFen(i.interest)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <ErrorNotice error={accept.error} />
          <button type="button" className="primary" disabled={accept.busy} onClick={() => void accept.run()}>
            {t('loans.accept')}
          </button>
        </Card>
      )}
    </>
  );
}

function LoanList({ loans }: { loans: ReturnType<typeof useLoad<{ items: Loan[] }>> }) {
  const { t } = useI18n();
  if (loans.loading && !loans.data) return <Loading />;
  if (loans.error) return <ErrorNotice error={loans.error} />;
  const items = loans.data?.items ?? [];
  return (
    <Card title={t('loans.myLoans')}>
      {items.length === 0 ? (
        <p className="muted">{t('loans.none')}</p>
      ) : (
        <ul data-testid="loans">
          {items.map((l) => (
            <LoanItem key={l.id} loan={l} onDone={loans.reload} />
          ))}
        </ul>
      )}
    </Card>
  );
}

function LoanItem({ loan, onDone }: { loan: Loan; onDone(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [amount, setAmount] = useState('');
  const [done, setDone] = useState<string>();
  const pay = useAction(async (kind: 'repayments' | 'prepayments') => {
    let body: { amount?: string } = {};
    if (kind === 'repayments') {
      const fen = parseYuan(amount);
      if (!fen || fen === '0') throw new Error(t('error.amount'));
      body = { amount: fen };
    }
    setDone(undefined);
    const r = await api.post<{ amount: string }>(`/v1/loans/${loan.id}/${kind}`, body);
    setDone(t('loans.repaid', { amount: formatFen(r.amount) }));
    setAmount('');
    onDone();
  });
  // One key per instalment shown, so a retry after a lost answer pays it once; an answer (paid or
  // refused: a refusal is stored with its key) or another instalment shown takes a new key.
  const earlyKey = useRef<{ instalment: number; key: string }>(undefined);
  const payEarly = useAction(async (shown: EarlyInstalment) => {
    if (earlyKey.current?.instalment !== shown.instalment)
      earlyKey.current = { instalment: shown.instalment, key: newIdempotencyKey() };
    setDone(undefined);
    try {
      const r = await api.post<{ amount: string }>(
        `/v1/loans/${loan.id}/early-instalment-payments`,
        // The instalment on screen: if a due date passed meanwhile, the API refuses rather than pay another.
        { instalment: shown.instalment },
        earlyKey.current.key,
      );
      earlyKey.current = undefined;
      setDone(t('loans.paidEarly', { number: String(shown.instalment), amount: formatFen(r.amount) }));
      onDone();
    } catch (e) {
      const answered =
        e instanceof ApiError &&
        e.status >= 400 &&
        e.status < 500 &&
        e.status !== 401 &&
        e.code !== 'IDEMPOTENCY_KEY_IN_PROGRESS';
      if (answered) {
        earlyKey.current = undefined;
        // The loan moved on (a due date passed, another device paid): show what is payable now.
        onDone();
      }
      throw e;
    }
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void pay.run('repayments');
  };
  const early = loan.status === 'active' ? loan.early_instalment : null;
  return (
    <li>
      <p>
        <strong>{t('common.apr', { apr: formatPercent(loan.apr) })}</strong>{' '}
        {t('loans.loanLine', {
          principal: formatFen(loan.principal),
          terms: String(loan.terms),
          outstanding: formatFen(loan.principal_outstanding),
        })}
      </p>
      <p className="muted">
        {t(`loans.status.${loan.status}` as 'loans.status.active')}
        {loan.next_payment_due_date && loan.next_payment_amount
          ? ` · ${t('loans.nextPayment', {
              amount: formatFen(loan.next_payment_amount),
              date: loan.next_payment_due_date,
            })}`
          : ''}
      </p>
      {early && (
        <div role="group" aria-label={t('loans.payEarly')}>
          <p data-testid="loan-early-instalment">
            {t('loans.earlyLine', {
              number: String(early.instalment),
              amount: formatFen(early.amount),
              date: early.due_date,
            })}
          </p>
          <div className="actions">
            <button
              type="button"
              disabled={payEarly.busy || pay.busy}
              onClick={() => void payEarly.run(early)}
            >
              {t('loans.payEarly')}
            </button>
          </div>
        </div>
      )}
      <ErrorNotice error={payEarly.error} />
      {loan.status === 'active' && (
        <form onSubmit={submit} aria-label={t('loans.repay')}>
          <Field
            label={t('common.amountYuan')}
            name={`repay_${loan.id}`}
            inputMode="decimal"
            value={amount}
            onChange={setAmount}
          />
          <div className="actions">
            <button type="submit" disabled={pay.busy}>
              {t('loans.repaySubmit')}
            </button>
            <button type="button" disabled={pay.busy} onClick={() => void pay.run('prepayments')}>
              {t('loans.prepay')}
            </button>
          </div>
        </form>
      )}
      <ErrorNotice error={pay.error} />
      {done && <Success>{done}</Success>}
    </li>
  );
}
