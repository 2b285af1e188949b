import { useMemo, useState, type FormEvent } from 'react';
import { addDays, shanghaiDate } from '../../shared/dates.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { LineChart } from '../../shared/LineChart.tsx';
import { formatFen } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Select, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';

interface Product {
  id: string;
  kind: 'money_fund' | 'fixed_term';
  code: string;
  name: string;
  term_days: number | null;
  expected_yield: string | null;
}
interface DailyYield {
  date: string;
  income_per_10k: string;
  seven_day_yield: string | null;
}

/** Fund AUM per product, the 7-day yield and 万份收益 over 30 days, publishing a day's income, new products. */
export function FundPage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const products = useLoad(() => api.get<{ items: Product[] }>('/v1/operator/wealth/products'));
  const aum = useLoad(() =>
    api.get<{ total: string; items: Array<{ product_id: string; shares: string }> }>(
      '/v1/operator/wealth/aum',
    ),
  );
  const [selected, setSelected] = useState<string>();
  const funds = products.data?.items.filter((p) => p.kind === 'money_fund') ?? [];
  const fundId = selected ?? funds[0]?.id;
  const reload = () => {
    products.reload();
    aum.reload();
  };
  return (
    <div className="grid">
      <Card title={t('cfund.aumTitle')}>
        {aum.error || products.error ? (
          <ErrorNotice error={aum.error ?? products.error} />
        ) : !aum.data || !products.data ? (
          <Loading />
        ) : (
          <>
            <p className="amount" data-testid="aum-total">
              ¥{formatFen(aum.data.total)}
            </p>
            <table>
              <caption className="visually-hidden">{t('cfund.aumTitle')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('cfund.product')}</th>
                  <th scope="col">{t('cfund.kind')}</th>
                  <th scope="col" className="num">
                    {t('cfund.aum')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {products.data.items.map((p) => (
                  <tr key={p.id}>
                    <td>
                      {p.name} <code className="muted">{p.code}</code>
                    </td>
                    <td>
                      {p.kind === 'money_fund'
                        ? t('cfund.moneyFund')
                        : t('cfund.fixedTerm', { days: p.term_days ?? 0, rate: p.expected_yield ?? '' })}
                    </td>
                    <td className="num">
                      {formatFen(aum.data?.items.find((i) => i.product_id === p.id)?.shares ?? '0')}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Card>
      {fundId && (
        <YieldsCard key={fundId} fundId={fundId} funds={funds} onSelect={setSelected} onPublished={reload} />
      )}
      <NewProduct onCreated={reload} funds={funds} />
    </div>
  );
}

function YieldsCard(props: {
  fundId: string;
  funds: Product[];
  onSelect(id: string): void;
  onPublished(): void;
}) {
  const { t } = useI18n();
  const { api } = useOperator();
  const today = shanghaiDate();
  const yields = useLoad(() =>
    api.get<{ items: DailyYield[] }>(
      `/v1/operator/wealth/products/${props.fundId}/yields?from=${addDays(today, -30)}&to=${today}`,
    ),
  );
  const series = useMemo(() => {
    const items = yields.data?.items ?? [];
    return {
      labels: items.map((y) => y.date.slice(5)),
      seven: items.map((y) => (y.seven_day_yield === null ? null : Number(y.seven_day_yield))),
      per10k: items.map((y) => Number(y.income_per_10k)),
    };
  }, [yields.data]);
  const lastDate = yields.data?.items.at(-1)?.date;
  const [date, setDate] = useState(addDays(today, -1));
  const [rate, setRate] = useState('');
  const [published, setPublished] = useState<DailyYield>();
  const publish = useAction(async () => {
    setPublished(
      await api.post<DailyYield>(`/v1/operator/wealth/products/${props.fundId}/daily-income`, {
        date,
        income_per_10k: rate.trim(),
      }),
    );
    setDate(addDays(date, 1));
    yields.reload();
    props.onPublished();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void publish.run();
  };
  return (
    <Card title={t('cfund.yieldsTitle')} className="wide">
      {props.funds.length > 1 && (
        <Select
          label={t('cfund.fund')}
          value={props.fundId}
          onChange={props.onSelect}
          options={props.funds.map((f) => ({ value: f.id, label: f.name }))}
        />
      )}
      {yields.error ? (
        <ErrorNotice error={yields.error} />
      ) : series.labels.length === 0 ? (
        <p className="muted">{t('fund.noYields')}</p>
      ) : (
        <div className="two">
          <div>
            <h3>{t('fund.sevenDay')}</h3>
            <LineChart
              labels={series.labels}
              values={series.seven}
              unit="%"
              label={t('fund.sevenDay')}
              description={t('cfund.sevenAlt', { last: lastDate ?? '' })}
            />
          </div>
          <div>
            <h3>{t('fund.per10k')}</h3>
            <LineChart
              labels={series.labels}
              values={series.per10k}
              label={t('fund.per10k')}
              color="#b45309"
              description={t('cfund.per10kAlt', { last: lastDate ?? '' })}
            />
          </div>
        </div>
      )}
      <form onSubmit={submit} className="inline-form" aria-label={t('cfund.publishTitle')}>
        <h3>{t('cfund.publishTitle')}</h3>
        <Field label={t('fund.date')} name="date" type="date" value={date} onChange={setDate} required />
        <Field
          label={t('fund.per10k')}
          name="income_per_10k"
          inputMode="decimal"
          value={rate}
          onChange={setRate}
          required
          hint={t('cfund.rateHint')}
        />
        <ErrorNotice error={publish.error} />
        {published && (
          <Success>{t('cfund.published', { date: published.date, rate: published.income_per_10k })}</Success>
        )}
        <button type="submit" className="primary" disabled={publish.busy}>
          {t('cfund.publish')}
        </button>
      </form>
    </Card>
  );
}

function NewProduct({ onCreated, funds }: { onCreated(): void; funds: Product[] }) {
  const { t } = useI18n();
  const { api } = useOperator();
  const [kind, setKind] = useState<'money_fund' | 'fixed_term'>('money_fund');
  const [code, setCode] = useState('');
  const [name, setName] = useState('');
  const [days, setDays] = useState('90');
  const [rate, setRate] = useState('3.00');
  const create = useAction(async () => {
    await api.post('/v1/operator/wealth/products', {
      kind,
      code: code.trim(),
      name: name.trim(),
      ...(kind === 'fixed_term'
        ? {
            term_days: Number(days),
            expected_yield: rate.trim(),
            ...(funds[0] ? { roll_into_product_id: funds[0].id } : {}),
          }
        : {}),
    });
    setCode('');
    setName('');
    onCreated();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void create.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('cfund.newTitle')}>
      <h2>{t('cfund.newTitle')}</h2>
      <Select
        label={t('cfund.kind')}
        value={kind}
        onChange={(v) => setKind(v as typeof kind)}
        options={[
          { value: 'money_fund', label: t('cfund.moneyFund') },
          { value: 'fixed_term', label: t('cfund.fixedTermKind') },
        ]}
      />
      <Field label={t('cfund.code')} name="code" value={code} onChange={setCode} required />
      <Field label={t('cfund.name')} name="name" value={name} onChange={setName} required />
      {kind === 'fixed_term' && (
        <>
          <Field
            label={t('cfund.termDays')}
            name="term_days"
            inputMode="numeric"
            value={days}
            onChange={setDays}
          />
          <Field
            label={t('cfund.expectedYield')}
            name="expected_yield"
            inputMode="decimal"
            value={rate}
            onChange={setRate}
          />
        </>
      )}
      <ErrorNotice error={create.error} />
      <button type="submit" disabled={create.busy}>
        {t('cfund.create')}
      </button>
    </form>
  );
}
