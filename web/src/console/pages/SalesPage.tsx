import { useEffect, useState } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen } from '../../shared/money.ts';
import { Card, ErrorNotice, Loading, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';
import { getAllPages, type Page } from '../../shared/api.ts';

export interface Sale {
  id: string;
  sku_id: string;
  name: string;
  price: string;
  allotment: number;
  per_user_limit: number;
  starts_at: string;
  ends_at: string;
  units_taken: number;
}
interface Metrics {
  attempts_per_s: number;
  attempts: number;
  accepted: number;
  units_accepted: number;
  sold: number;
  /** Units returned: the goods back with the store; not in `sold`. */
  returned: number;
  reserved: number;
  remaining: number;
  lobby: number;
  pending_hand_off: number;
  rejections: Record<string, number>;
}
/** Delivery against the 3-day target; returned orders are counted apart, not in paid or delivered. */
interface Fulfilment {
  paid: number;
  delivered: number;
  delivered_on_time: number;
  delivered_late: number;
  overdue: number;
  returned: number;
}
interface Drift {
  drift: number;
  status: 'ok' | 'undersell' | 'oversell_risk';
  engine_remaining: number;
  db_units_taken: number;
}

/** How often the live figures are fetched again. */
const POLL_MS = 2000;

/** Live flash sales: each sale's attempts per second, accepted, sold, remaining and rejections by reason. */
export function SalesPage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const sales = useLoad(() => getAllPages<Page<Sale>>(api, '/v1/operator/store/sales'));
  if (sales.error) return <ErrorNotice error={sales.error} />;
  if (!sales.data) return <Loading />;
  if (sales.data.items.length === 0) return <p className="muted">{t('csales.none')}</p>;
  return (
    <div className="grid">
      {sales.data.items.map((s) => (
        <SaleCard key={s.id} sale={s} />
      ))}
    </div>
  );
}

function SaleCard({ sale }: { sale: Sale }) {
  const { t } = useI18n();
  const { api } = useOperator();
  const [metrics, setMetrics] = useState<Metrics>();
  const [error, setError] = useState<unknown>();
  const [updatedAt, setUpdatedAt] = useState<Date>();
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Poll one request at a time: a slow answer delays the next one instead of piling them up.
    const tick = async () => {
      try {
        const m = await api.get<Metrics>(`/v1/operator/store/sales/${sale.id}/metrics`);
        if (!live) return;
        setMetrics(m);
        setError(undefined);
        setUpdatedAt(new Date());
      } catch (e) {
        if (live) setError(e);
      }
      if (live) timer = setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [api, sale.id]);
  const [drift, setDrift] = useState<Drift>();
  const reconcile = useAction(async () => {
    setDrift(await api.post<Drift>(`/v1/operator/store/sales/${sale.id}/reconciliation`, {}));
  });
  const now = Date.now();
  const state =
    now < Date.parse(sale.starts_at) ? 'upcoming' : now > Date.parse(sale.ends_at) ? 'ended' : 'live';
  const rejections = Object.entries(metrics?.rejections ?? {}).sort((a, b) => b[1] - a[1]);
  return (
    <Card title={sale.name} className="wide">
      <p className="muted">
        <span className={`status-pill ${state === 'live' ? 'ok' : ''}`}>{t(`csales.state.${state}`)}</span> ¥
        {formatFen(sale.price)} · {t('csales.allotment', { n: sale.allotment })} ·{' '}
        {new Date(sale.starts_at).toLocaleString()} – {new Date(sale.ends_at).toLocaleString()}
      </p>
      <ErrorNotice error={error} />
      {!metrics ? (
        !error && <Loading />
      ) : (
        <>
          <dl className="live-stats" data-testid={`sale-metrics-${sale.id}`} aria-live="polite">
            {(
              [
                ['attempts_per_s', metrics.attempts_per_s.toFixed(1)],
                ['attempts', metrics.attempts],
                ['accepted', metrics.accepted],
                ['sold', metrics.sold],
                ['returned', metrics.returned],
                ['reserved', metrics.reserved],
                ['remaining', metrics.remaining],
                ['lobby', metrics.lobby],
              ] as const
            ).map(([key, value]) => (
              <div key={key}>
                <dt>{t(`csales.metric.${key}`)}</dt>
                <dd data-testid={`metric-${key}`}>{value}</dd>
              </div>
            ))}
          </dl>
          <h3>{t('csales.rejections')}</h3>
          {rejections.length === 0 ? (
            <p className="muted">{t('csales.noRejections')}</p>
          ) : (
            <table data-testid="rejections">
              <caption className="visually-hidden">{t('csales.rejections')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('csales.reason')}</th>
                  <th scope="col" className="num">
                    {t('csales.count')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {rejections.map(([reason, n]) => (
                  <tr key={reason}>
                    <th scope="row">
                      <code>{reason}</code>
                    </th>
                    <td className="num">{n}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {updatedAt && (
            <p className="muted small">{t('csales.updated', { time: updatedAt.toLocaleTimeString() })}</p>
          )}
        </>
      )}
      <FulfilmentReport sale={sale} />
      <button type="button" onClick={() => void reconcile.run()} disabled={reconcile.busy}>
        {t('csales.reconcile')}
        <span className="visually-hidden"> {sale.name}</span>
      </button>
      <ErrorNotice error={reconcile.error} />
      {drift && (
        <Success>
          {t(`csales.drift.${drift.status}`, { drift: drift.drift, taken: drift.db_units_taken })}
        </Success>
      )}
    </Card>
  );
}

/**
 * Delivery figures, fetched on demand rather than with the live poll: they change with the
 * warehouse's pace, not the sale's, and each is an aggregate over the sale's orders.
 */
function FulfilmentReport({ sale }: { sale: Sale }) {
  const { t } = useI18n();
  const { api } = useOperator();
  const report = useLoad(() => api.get<Fulfilment>(`/v1/operator/store/sales/${sale.id}/fulfilment`));
  const keys = ['paid', 'delivered', 'delivered_on_time', 'delivered_late', 'overdue', 'returned'] as const;
  return (
    <>
      <h3>{t('csales.fulfilmentTitle')}</h3>
      {report.error ? (
        <ErrorNotice error={report.error} />
      ) : !report.data ? (
        <Loading />
      ) : (
        <>
          <dl className="live-stats" data-testid={`sale-fulfilment-${sale.id}`}>
            {keys.map((key) => (
              <div key={key}>
                <dt>{t(`csales.fulfilment.${key}`)}</dt>
                <dd data-testid={`fulfilment-${key}`}>{report.data![key]}</dd>
              </div>
            ))}
          </dl>
          <p className="muted small">{t('csales.fulfilmentNote')}</p>
        </>
      )}
      <button type="button" onClick={report.reload} disabled={report.loading}>
        {t('csales.fulfilmentRefresh')}
        <span className="visually-hidden"> {sale.name}</span>
      </button>
    </>
  );
}
