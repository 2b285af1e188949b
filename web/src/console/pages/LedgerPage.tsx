import { useMemo } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen } from '../../shared/money.ts';
import { Card, ErrorNotice, Loading, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';

interface Verify {
  ok: boolean;
  entries: string;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
}
interface Account {
  id: string;
  code: string;
  currency: string;
  balances: { posted: string; debits_pending: string; credits_pending: string };
}

/** Ledger health: the verification (hash chain, zero-sum, balances, bounds) and totals per account code. */
export function LedgerPage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const verify = useLoad(() => api.get<Verify>('/v1/ledger/verify'));
  const accounts = useLoad(async () => {
    const all: Account[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const res: { items: Account[]; next_cursor: string | null } = await api.get(
        `/v1/ledger/accounts?limit=500${query}`,
      );
      all.push(...res.items);
      cursor = res.next_cursor;
      if (!cursor) break;
    }
    return all;
  });
  const totals = useMemo(() => {
    const byCode = new Map<
      string,
      { code: string; currency: string; count: number; posted: bigint; pending: bigint }
    >();
    for (const a of accounts.data ?? []) {
      const key = `${a.code} ${a.currency}`;
      const row = byCode.get(key) ?? {
        code: a.code,
        currency: a.currency,
        count: 0,
        posted: 0n,
        pending: 0n,
      };
      row.count += 1;
      row.posted += BigInt(a.balances.posted);
      row.pending += BigInt(a.balances.debits_pending) + BigInt(a.balances.credits_pending);
      byCode.set(key, row);
    }
    return [...byCode.values()].sort((a, b) => a.code.localeCompare(b.code));
  }, [accounts.data]);
  return (
    <div className="grid">
      <Card title={t('ledger.verifyTitle')}>
        {verify.loading && !verify.data ? (
          <Loading />
        ) : verify.data ? (
          <>
            <p
              className={`status-pill ${verify.data.ok ? 'ok' : 'bad'}`}
              data-testid="verify-status"
              role="status"
            >
              {verify.data.ok ? t('ledger.ok') : t('ledger.notOk')}
            </p>
            <p className="muted">{t('ledger.entries', { count: verify.data.entries })}</p>
            <ul className="checks">
              {verify.data.checks.map((c) => (
                <li key={c.name}>
                  <span aria-hidden="true">{c.ok ? '✔' : '✘'}</span> <strong>{c.name}</strong>
                  <span className="visually-hidden">
                    {c.ok ? t('ledger.passed') : t('ledger.failed')}
                  </span> — <span className="muted">{c.detail}</span>
                </li>
              ))}
            </ul>
          </>
        ) : (
          <ErrorNotice error={verify.error} />
        )}
        <button type="button" onClick={verify.reload} disabled={verify.loading}>
          {t('ledger.verifyAgain')}
        </button>
      </Card>
      <Card title={t('ledger.totalsTitle')}>
        {accounts.error ? (
          <ErrorNotice error={accounts.error} />
        ) : !accounts.data ? (
          <Loading />
        ) : (
          <table data-testid="ledger-totals">
            <caption className="visually-hidden">{t('ledger.totalsTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ledger.code')}</th>
                <th scope="col">{t('ledger.accounts')}</th>
                <th scope="col" className="num">
                  {t('ledger.posted')}
                </th>
                <th scope="col" className="num">
                  {t('ledger.pending')}
                </th>
              </tr>
            </thead>
            <tbody>
              {totals.map((r) => (
                <tr key={`${r.code}-${r.currency}`}>
                  <td>
                    <code>{r.code}</code> <span className="muted">{r.currency}</span>
                  </td>
                  <td>{r.count}</td>
                  <td className="num">{formatFen(r.posted)}</td>
                  <td className="num">{formatFen(r.pending)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
