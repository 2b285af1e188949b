import { useMemo, useState } from 'react';
import { addDays, shanghaiDate } from '../../shared/dates.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { LineChart } from '../../shared/LineChart.tsx';
import { formatBasisPoints, formatFen } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Select, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';
import { getAllPages, type Page } from '../../shared/api.ts';

export interface Partner {
  id: string;
  name: string;
  kind: 'lender' | 'card_issuer';
  endpoint_url: string;
  status: 'active' | 'paused' | 'terminated';
  pricing: { cpa: string; cps_bp: number; revenue_share_bp: number };
  daily_cap: number | null;
  monthly_budget: string | null;
  priority: number;
}
interface FunnelDay {
  date: string;
  pinged: number;
  offered: number;
  chosen: number;
  posted: number;
  approved: number;
  declined: number;
  disbursed: number;
  pass_rate: number | null;
}
interface Posterior {
  score_band: string;
  approvals: number;
  declines: number;
  posterior_mean: number;
}

const stages = ['pinged', 'offered', 'chosen', 'posted', 'approved', 'disbursed'] as const;

/** The marketplace: partners, and for one partner its funnel, pass rate per day and learned approval rates. */
export function MarketplacePage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const partners = useLoad(() => getAllPages<Page<Partner>>(api, '/v1/operator/marketplace/partners'));
  const [selected, setSelected] = useState<string>();
  const items = partners.data?.items ?? [];
  const partnerId = selected ?? items[0]?.id;
  const setStatus = useAction(async (p: Partner, status: Partner['status']) => {
    await api.post(`/v1/operator/marketplace/partners/${p.id}/status`, { status });
    partners.reload();
  });
  return (
    <div className="grid">
      <Card title={t('cmarket.partnersTitle')} className="wide">
        <ErrorNotice error={partners.error ?? setStatus.error} />
        {!partners.data ? (
          !partners.error && <Loading />
        ) : items.length === 0 ? (
          <p className="muted">{t('cmarket.noPartners')}</p>
        ) : (
          <table data-testid="partners">
            <caption className="visually-hidden">{t('cmarket.partnersTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('cmarket.partner')}</th>
                <th scope="col">{t('cmarket.status')}</th>
                <th scope="col" className="num">
                  {t('cmarket.cpa')}
                </th>
                <th scope="col" className="num">
                  {t('cmarket.cps')}
                </th>
                <th scope="col" className="num">
                  {t('cmarket.dailyCap')}
                </th>
                <th scope="col" className="num">
                  {t('cmarket.budget')}
                </th>
                <th scope="col">{t('merchants.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((p) => (
                <tr key={p.id}>
                  <td>
                    {p.name}{' '}
                    <span className="muted">
                      ({t(p.kind === 'lender' ? 'cmarket.lender' : 'cmarket.cardIssuer')})
                    </span>
                    <br />
                    <code className="muted small">{p.id}</code>
                  </td>
                  <td>
                    <span className={`status-pill ${p.status === 'active' ? 'ok' : 'bad'}`}>
                      {t(`cmarket.status.${p.status}`)}
                    </span>
                  </td>
                  <td className="num">{formatFen(p.pricing.cpa)}</td>
                  <td className="num">{formatBasisPoints(p.pricing.cps_bp)}%</td>
                  <td className="num">{p.daily_cap ?? t('cmarket.none')}</td>
                  <td className="num">
                    {p.monthly_budget === null ? t('cmarket.none') : formatFen(p.monthly_budget)}
                  </td>
                  <td className="row-actions">
                    {p.status !== 'terminated' && (
                      <button
                        type="button"
                        disabled={setStatus.busy}
                        onClick={() => void setStatus.run(p, p.status === 'active' ? 'paused' : 'active')}
                      >
                        {t(p.status === 'active' ? 'cmarket.pause' : 'cmarket.resume')}
                        <span className="visually-hidden"> {p.name}</span>
                      </button>
                    )}
                    {p.status !== 'terminated' && (
                      <button
                        type="button"
                        disabled={setStatus.busy}
                        onClick={() => {
                          if (window.confirm(t('cmarket.terminateConfirm', { name: p.name })))
                            void setStatus.run(p, 'terminated');
                        }}
                      >
                        {t('cmarket.terminate')}
                        <span className="visually-hidden"> {p.name}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {partnerId && (
        <PartnerDetail key={partnerId} partnerId={partnerId} partners={items} onSelect={setSelected} />
      )}
    </div>
  );
}

function PartnerDetail(props: { partnerId: string; partners: Partner[]; onSelect(id: string): void }) {
  const { t } = useI18n();
  const { api } = useOperator();
  const today = shanghaiDate();
  const [from, setFrom] = useState(addDays(today, -29));
  const [to, setTo] = useState(today);
  const valid = /^\d{4}-\d{2}-\d{2}$/.test(from) && /^\d{4}-\d{2}-\d{2}$/.test(to) && from <= to;
  const funnel = useLoad(
    () =>
      valid
        ? api.get<{ items: FunnelDay[] }>(
            `/v1/operator/marketplace/partners/${props.partnerId}/funnel?from=${from}&to=${to}`,
          )
        : Promise.reject(new Error(t('cmarket.rangeInvalid'))),
    [from, to],
  );
  const posteriors = useLoad(() =>
    api.get<{ items: Posterior[] }>(`/v1/operator/marketplace/partners/${props.partnerId}/posteriors`),
  );
  const days = funnel.data?.items ?? [];
  const totals = useMemo(
    () =>
      Object.fromEntries(stages.map((s) => [s, days.reduce((n, d) => n + d[s], 0)])) as Record<
        (typeof stages)[number],
        number
      >,
    [days],
  );
  const rates = useMemo(
    () => ({
      labels: days.map((d) => d.date.slice(5)),
      values: days.map((d) => (d.pass_rate === null ? null : Math.round(d.pass_rate * 1000) / 10)),
    }),
    [days],
  );
  const name = props.partners.find((p) => p.id === props.partnerId)?.name ?? props.partnerId;
  return (
    <>
      <Card title={t('cmarket.funnelTitle', { name })} className="wide">
        <div className="inline-form">
          <Select
            label={t('cmarket.partner')}
            value={props.partnerId}
            onChange={props.onSelect}
            options={props.partners.map((p) => ({ value: p.id, label: p.name }))}
          />
          <Field label={t('cmarket.from')} type="date" name="from" value={from} onChange={setFrom} />
          <Field label={t('cmarket.to')} type="date" name="to" value={to} onChange={setTo} />
        </div>
        {funnel.error ? (
          <ErrorNotice error={funnel.error} />
        ) : !funnel.data ? (
          <Loading />
        ) : (
          <div className="two">
            <table data-testid="funnel">
              <caption className="visually-hidden">{t('cmarket.funnelTitle', { name })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('cmarket.stage')}</th>
                  <th scope="col" className="num">
                    {t('cmarket.count')}
                  </th>
                  <th scope="col" className="num">
                    {t('cmarket.ofPinged')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {stages.map((s) => (
                  <tr key={s}>
                    <th scope="row">{t(`cmarket.stage.${s}`)}</th>
                    <td className="num">{totals[s]}</td>
                    <td className="num">
                      {totals.pinged === 0 ? '—' : `${((totals[s] * 100) / totals.pinged).toFixed(1)}%`}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div>
              <h3>{t('cmarket.passRate')}</h3>
              {rates.values.every((v) => v === null) ? (
                <p className="muted">{t('cmarket.noDecisions')}</p>
              ) : (
                <LineChart
                  labels={rates.labels}
                  values={rates.values}
                  unit="%"
                  label={t('cmarket.passRate')}
                  description={t('cmarket.passRateAlt', { name, from, to })}
                />
              )}
            </div>
          </div>
        )}
      </Card>
      <Card title={t('cmarket.posteriorsTitle')}>
        <p className="muted">{t('cmarket.posteriorsIntro')}</p>
        {posteriors.error ? (
          <ErrorNotice error={posteriors.error} />
        ) : !posteriors.data ? (
          <Loading />
        ) : (
          <table data-testid="posteriors">
            <caption className="visually-hidden">{t('cmarket.posteriorsTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('cmarket.band')}</th>
                <th scope="col" className="num">
                  {t('cmarket.approvals')}
                </th>
                <th scope="col" className="num">
                  {t('cmarket.declines')}
                </th>
                <th scope="col" className="num">
                  {t('cmarket.mean')}
                </th>
              </tr>
            </thead>
            <tbody>
              {posteriors.data.items.map((p) => (
                <tr key={p.score_band}>
                  <th scope="row">{p.score_band}</th>
                  <td className="num">{p.approvals}</td>
                  <td className="num">{p.declines}</td>
                  <td className="num">{(p.posterior_mean * 100).toFixed(1)}%</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
