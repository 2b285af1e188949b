import { useMemo, useState, type FormEvent } from 'react';
import { ApiError } from '../../shared/api.ts';
import { addDays, shanghaiDate } from '../../shared/dates.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { LineChart } from '../../shared/LineChart.tsx';
import { formatFen, parseYuan } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface Product {
  id: string;
  kind: 'money_fund' | 'fixed_term';
  name: string;
  code: string;
  term_days: number | null;
  expected_yield: string | null;
}
interface Holding {
  product_id: string;
  product_name: string;
  shares: string;
  value: string;
  frozen_shares: string;
  yesterday_income: string;
  cumulative_income: string;
}
interface DailyYield {
  date: string;
  income_per_10k: string;
  seven_day_yield: string | null;
}
interface Subscription {
  id: string;
  product_id: string;
  amount: string;
  status: string;
  confirm_date: string;
}

/** The T+0 (fast) redemption cap per day, 10,000.00 CNY (src/wealth). */
const FAST_CAP_FEN = '1000000';

/** The money fund: holdings, yesterday's income, the 7-day yield chart, buy and redeem. */
export function FundPage() {
  const { t } = useI18n();
  const { api } = useSession();
  const products = useLoad(() => api.get<{ items: Product[] }>('/v1/wealth/products'));
  const fund = products.data?.items.find((p) => p.kind === 'money_fund');
  if (products.loading && !products.data) return <Loading />;
  if (products.error) return <ErrorNotice error={products.error} />;
  if (!fund) return <p>{t('fund.none')}</p>;
  return <FundView fund={fund} />;
}

function FundView({ fund }: { fund: Product }) {
  const { t } = useI18n();
  const { api } = useSession();
  const today = shanghaiDate();
  const holdings = useLoad(() => api.get<{ items: Holding[] }>('/v1/wealth/holdings'));
  const pending = useLoad(() => api.get<{ items: Subscription[] }>('/v1/wealth/subscriptions'));
  const yields = useLoad(() =>
    api.get<{ items: DailyYield[] }>(
      `/v1/wealth/products/${fund.id}/yields?from=${addDays(today, -30)}&to=${today}`,
    ),
  );
  const holding = holdings.data?.items.find((h) => h.product_id === fund.id);
  const series = useMemo(() => {
    const items = (yields.data?.items ?? []).slice(-14);
    return {
      labels: items.map((y) => y.date.slice(5)),
      values: items.map((y) => (y.seven_day_yield === null ? null : Number(y.seven_day_yield))),
      last7: items.slice(-7).reverse(),
    };
  }, [yields.data]);
  const latest = series.last7.find((y) => y.seven_day_yield !== null);
  const reload = () => {
    holdings.reload();
    pending.reload();
  };

  return (
    <>
      <Card title={fund.name} className="fund">
        <div className="stats">
          <div>
            <span className="label">{t('fund.holding')}</span>
            <span className="amount-sm" data-testid="fund-value">
              ¥{formatFen(holding?.value ?? '0')}
            </span>
          </div>
          <div>
            <span className="label">{t('fund.yesterday')}</span>
            <span className="amount-sm gain" data-testid="fund-yesterday">
              {formatFen(holding?.yesterday_income ?? '0', { sign: true })}
            </span>
          </div>
          <div>
            <span className="label">{t('fund.cumulative')}</span>
            <span className="amount-sm">{formatFen(holding?.cumulative_income ?? '0', { sign: true })}</span>
          </div>
          <div>
            <span className="label">{t('fund.sevenDay')}</span>
            <span className="amount-sm">{latest?.seven_day_yield ? `${latest.seven_day_yield}%` : '—'}</span>
          </div>
        </div>
      </Card>
      <Card title={t('fund.chartTitle')}>
        {yields.error ? (
          <ErrorNotice error={yields.error} />
        ) : series.values.some((v) => v !== null) ? (
          <>
            <LineChart
              labels={series.labels}
              values={series.values}
              label={t('fund.sevenDay')}
              unit="%"
              description={t('fund.chartAlt', {
                from: series.labels[0] ?? '',
                to: series.labels.at(-1) ?? '',
                latest: latest?.seven_day_yield ?? '—',
              })}
            />
            <table>
              <caption className="visually-hidden">{t('fund.tableCaption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('fund.date')}</th>
                  <th scope="col">{t('fund.per10k')}</th>
                  <th scope="col">{t('fund.sevenDay')}</th>
                </tr>
              </thead>
              <tbody>
                {series.last7.map((y) => (
                  <tr key={y.date}>
                    <td>{y.date}</td>
                    <td>{y.income_per_10k}</td>
                    <td>{y.seven_day_yield ? `${y.seven_day_yield}%` : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : (
          <p className="muted">{t('fund.noYields')}</p>
        )}
      </Card>
      <BuyForm fund={fund} onDone={reload} />
      {pending.data && pending.data.items.length > 0 && (
        <Card title={t('fund.pendingTitle')}>
          <ul>
            {pending.data.items.map((s) => (
              <li key={s.id}>
                {t('fund.pendingLine', { amount: formatFen(s.amount), date: s.confirm_date })}
              </li>
            ))}
          </ul>
        </Card>
      )}
      <RedeemForm fund={fund} available={holding?.shares ?? '0'} onDone={reload} />
    </>
  );
}

function BuyForm({ fund, onDone }: { fund: Product; onDone(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [amount, setAmount] = useState('');
  const [done, setDone] = useState<Subscription>();
  const buy = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen || fen === '0') throw new Error(t('error.amount'));
    setDone(await api.post<Subscription>('/v1/wealth/subscriptions', { product_id: fund.id, amount: fen }));
    setAmount('');
    onDone();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void buy.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('fund.buy')}>
      <h2>{t('fund.buy')}</h2>
      <p className="muted">{t('fund.buyRule')}</p>
      <Field
        label={t('common.amountYuan')}
        name="buy_amount"
        inputMode="decimal"
        value={amount}
        onChange={setAmount}
        required
      />
      <ErrorNotice error={buy.error} />
      {done && (
        <Success>{t('fund.bought', { amount: formatFen(done.amount), date: done.confirm_date })}</Success>
      )}
      <button type="submit" className="primary" disabled={buy.busy}>
        {t('fund.buySubmit')}
      </button>
    </form>
  );
}

function RedeemForm({ fund, available, onDone }: { fund: Product; available: string; onDone(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [amount, setAmount] = useState('');
  const [kind, setKind] = useState<'fast' | 'normal'>('fast');
  const [done, setDone] = useState<string>();
  const redeem = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen || fen === '0') throw new Error(t('error.amount'));
    setDone(undefined);
    try {
      const r = await api.post<{ shares: string; confirm_date: string }>(`/v1/wealth/redemptions/${kind}`, {
        product_id: fund.id,
        shares: fen,
      });
      setDone(
        kind === 'fast'
          ? t('fund.redeemedFast', { amount: formatFen(r.shares) })
          : t('fund.redeemedNormal', { amount: formatFen(r.shares), date: r.confirm_date }),
      );
      setAmount('');
      onDone();
    } catch (error) {
      // The problem carries what is left of today's T+0 cap: say it in the user's language.
      if (error instanceof ApiError && error.code === 'WEALTH_FAST_REDEMPTION_LIMIT_EXCEEDED')
        throw new Error(t('fund.capLeft', { remaining: String(error.problem.remaining ?? '') }));
      throw error;
    }
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void redeem.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('fund.redeem')}>
      <h2>{t('fund.redeem')}</h2>
      <p className="muted">{t('fund.redeemable', { amount: formatFen(available) })}</p>
      <fieldset>
        <legend>{t('fund.redeemKind')}</legend>
        <label className="radio">
          <input type="radio" name="kind" checked={kind === 'fast'} onChange={() => setKind('fast')} />
          {t('fund.fast', { cap: formatFen(FAST_CAP_FEN) })}
        </label>
        <label className="radio">
          <input type="radio" name="kind" checked={kind === 'normal'} onChange={() => setKind('normal')} />
          {t('fund.normal')}
        </label>
      </fieldset>
      <Field
        label={t('common.amountYuan')}
        name="redeem_amount"
        inputMode="decimal"
        value={amount}
        onChange={setAmount}
        required
      />
      <ErrorNotice error={redeem.error} />
      {done && <Success>{done}</Success>}
      <button type="submit" className="primary" disabled={redeem.busy}>
        {t('fund.redeemSubmit')}
      </button>
    </form>
  );
}
