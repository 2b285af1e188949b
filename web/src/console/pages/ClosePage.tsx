import { useCallback, useEffect, useState } from 'react';
import { addDays, shanghaiDate } from '../../shared/dates.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen } from '../../shared/money.ts';
import { Card, ErrorNotice, Loading, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';

interface FlaggedOperation {
  id: string;
  kind: 'top_up' | 'withdrawal';
  user_id: string;
  amount: string;
  created_at: string;
  attention_at: string | null;
}

/** Operations per page of the flagged list. */
const FLAGGED_PAGE = 50;
const FLAGGED_PATH = '/v1/operator/wallet/bank-operations?attention=true';

interface Run {
  business_date: string;
  status: 'running' | 'completed' | 'failed';
  started_at: string;
  finished_at: string | null;
  error: string | null;
  steps: Array<{ step: string; status: string; done: string; total: string | null; error: string | null }>;
}

/** End-of-day close runs with each step's progress; closes the next date (polling while it runs). */
export function ClosePage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const runs = useLoad(() =>
    api.get<{ items: Run[]; last_closed_date: string | null }>('/v1/operator/close-runs?limit=14'),
  );
  const [closing, setClosing] = useState(false);
  const [closed, setClosed] = useState<Run>();
  const last = runs.data?.last_closed_date ?? null;
  const next = last ? addDays(last, 1) : addDays(shanghaiDate(), -1);
  const close = useAction(async () => {
    setClosing(true);
    setClosed(undefined);
    try {
      setClosed(
        await api.post<Run>('/v1/operator/close-runs', {
          business_date: next,
          fast_forward: next >= shanghaiDate(),
        }),
      );
    } finally {
      setClosing(false);
      runs.reload();
    }
  });
  // Poll for step progress while a close runs (ours, or one started elsewhere).
  const running = closing || runs.data?.items.some((r) => r.status === 'running');
  const { reload } = runs;
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(reload, 700);
    return () => clearInterval(timer);
  }, [running, reload]);

  return (
    <div className="grid">
      <Card title={t('close.nextTitle')}>
        <p>
          {last ? t('close.lastClosed', { date: last }) : t('close.neverClosed')}{' '}
          {t('close.next', { date: next })}
        </p>
        {next >= shanghaiDate() && <p className="muted">{t('close.fastForward')}</p>}
        <ErrorNotice error={close.error} />
        {closed && <Success>{t('close.done', { date: closed.business_date })}</Success>}
        <button type="button" className="primary" disabled={close.busy} onClick={() => void close.run()}>
          {t('close.run', { date: next })}
        </button>
      </Card>
      <Card title={t('close.runsTitle')} className="wide">
        {runs.error ? (
          <ErrorNotice error={runs.error} />
        ) : !runs.data ? (
          <Loading />
        ) : runs.data.items.length === 0 ? (
          <p className="muted">{t('close.none')}</p>
        ) : (
          <ul className="runs" data-testid="close-runs">
            {runs.data.items.map((run) => (
              <li key={run.business_date} className={`run ${run.status}`}>
                <h3>
                  {run.business_date}{' '}
                  <span
                    className={`status-pill ${run.status === 'failed' ? 'bad' : run.status === 'completed' ? 'ok' : ''}`}
                  >
                    {t(`close.status.${run.status}`)}
                  </span>
                </h3>
                {run.error && <p className="notice error">{run.error}</p>}
                <table>
                  <caption className="visually-hidden">
                    {t('close.stepsOf', { date: run.business_date })}
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">{t('close.step')}</th>
                      <th scope="col">{t('close.progress')}</th>
                      <th scope="col">{t('close.stepStatus')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {run.steps.map((s) => {
                      const total = s.total === null ? null : Number(s.total);
                      const done = Number(s.done);
                      const max = total && total > 0 ? total : s.status === 'completed' ? 1 : 0;
                      const value =
                        total && total > 0 ? Math.min(done, total) : s.status === 'completed' ? 1 : 0;
                      return (
                        <tr key={s.step}>
                          <td>
                            <code>{s.step}</code>
                          </td>
                          <td>
                            <progress
                              max={max || 1}
                              value={value}
                              aria-label={t('close.progressOf', { step: s.step })}
                            />{' '}
                            <span className="muted">
                              {total === null ? s.done : `${s.done} / ${s.total}`}
                            </span>
                          </td>
                          <td>{t(`close.status.${s.status}` as never)}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <BankAttention />
    </div>
  );
}

/** A user id cut to its ends: enough to match it against another screen, not to copy it around. */
const maskedId = (id: string) => `${id.slice(0, 4)}…${id.slice(-4)}`;

/**
 * Wallet top-ups and withdrawals the bank has left undecided for a day. Reconciliation, which the
 * close runs, flags them; they stay listed until the bank decides. A page at a time, more on demand.
 */
function BankAttention() {
  const { t } = useI18n();
  const { api } = useOperator();
  const fetchPage = useCallback(
    (cursor: string | null) =>
      api.get<{ items: FlaggedOperation[]; next_cursor: string | null }>(
        `${FLAGGED_PATH}&limit=${FLAGGED_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      ),
    [api],
  );
  const first = useLoad(() => fetchPage(null));
  const [more, setMore] = useState<{ items: FlaggedOperation[]; cursor: string | null }>();
  useEffect(() => setMore(undefined), [first.data]);
  const cursor = more ? more.cursor : (first.data?.next_cursor ?? null);
  const loadMore = useAction(async () => {
    const page = await fetchPage(cursor);
    setMore((m) => ({ items: [...(m?.items ?? []), ...page.items], cursor: page.next_cursor }));
  });
  const items = [...(first.data?.items ?? []), ...(more?.items ?? [])];
  return (
    <Card title={t('cwallet.attentionTitle')} className="wide">
      <p className="muted">{t('cwallet.attentionIntro')}</p>
      {first.error ? (
        <ErrorNotice error={first.error} />
      ) : !first.data ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">{t('cwallet.attentionNone')}</p>
      ) : (
        <table data-testid="bank-attention">
          <caption className="visually-hidden">{t('cwallet.attentionTitle')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('cwallet.id')}</th>
              <th scope="col">{t('cwallet.kind')}</th>
              <th scope="col" className="num">
                {t('cwallet.amount')}
              </th>
              <th scope="col">{t('cwallet.user')}</th>
              <th scope="col">{t('cwallet.created')}</th>
              <th scope="col">{t('cwallet.flagged')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((o) => (
              <tr key={o.id}>
                <th scope="row">
                  <code>{o.id}</code>
                </th>
                <td>{t(`cwallet.kind.${o.kind}`)}</td>
                <td className="num">{formatFen(o.amount)}</td>
                <td>
                  <code>{maskedId(o.user_id)}</code>
                </td>
                <td>{new Date(o.created_at).toLocaleString()}</td>
                <td>{o.attention_at && new Date(o.attention_at).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorNotice error={loadMore.error} />
      {cursor && (
        <button type="button" onClick={() => void loadMore.run()} disabled={loadMore.busy}>
          {t('cwallet.more')}
        </button>
      )}
    </Card>
  );
}
