import { useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen, parseYuan } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, useAction, useLoad } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface Operation {
  id: string;
  kind: 'top_up' | 'withdrawal';
  amount: string;
  status: 'pending' | 'succeeded' | 'failed';
  failure_message: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Top up from a bank card, or withdraw to one; both settle asynchronously at the bank. */
export function BankPage() {
  const { t } = useI18n();
  const { api } = useSession();
  const [kind, setKind] = useState<'top-ups' | 'withdrawals'>('top-ups');
  const [amount, setAmount] = useState('');
  const [card, setCard] = useState('card_1');
  const [operation, setOperation] = useState<Operation>();
  const wallet = useLoad(() => api.get<{ balance: string; available: string }>('/v1/wallet'));
  const submit = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen || fen === '0') throw new Error(t('error.amount'));
    setOperation(undefined);
    let op = await api.post<Operation>(`/v1/wallet/${kind}`, { amount: fen, card_token: card.trim() });
    setOperation(op);
    // The bank answers later: follow the operation for a while so the user sees it settle.
    for (let i = 0; i < 40 && op.status === 'pending'; i++) {
      await sleep(500);
      op = await api.get<Operation>(`/v1/wallet/${kind}/${op.id}`);
      setOperation(op);
    }
    wallet.reload();
  });
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void submit.run();
  };
  return (
    <>
      <div className="tabs" role="tablist" aria-label={t('nav.bank')}>
        {(['top-ups', 'withdrawals'] as const).map((k) => (
          <button
            key={k}
            type="button"
            role="tab"
            aria-selected={kind === k}
            onClick={() => (setKind(k), setOperation(undefined), submit.setError(undefined))}
          >
            {k === 'top-ups' ? t('bank.topUp') : t('bank.withdraw')}
          </button>
        ))}
      </div>
      <form
        className="card"
        onSubmit={onSubmit}
        aria-label={kind === 'top-ups' ? t('bank.topUp') : t('bank.withdraw')}
      >
        {wallet.data && (
          <p className="muted" data-testid="bank-balance">
            {t('bank.balanceNow', {
              balance: formatFen(wallet.data.balance),
              available: formatFen(wallet.data.available),
            })}
          </p>
        )}
        <Field
          label={t('common.amountYuan')}
          name="amount"
          inputMode="decimal"
          value={amount}
          onChange={setAmount}
          required
        />
        <Field
          label={t('bank.card')}
          name="card_token"
          value={card}
          onChange={setCard}
          required
          hint={t('bank.cardHint')}
        />
        <ErrorNotice error={submit.error} />
        {operation && (
          <div
            role="status"
            data-testid="operation-status"
            className={`notice ${operation.status === 'failed' ? 'error' : 'success'}`}
          >
            {t(`bank.status.${operation.status}`, { amount: formatFen(operation.amount) })}
            {operation.failure_message && <> — {operation.failure_message}</>}
          </div>
        )}
        <button type="submit" className="primary" disabled={submit.busy}>
          {kind === 'top-ups' ? t('bank.topUpSubmit') : t('bank.withdrawSubmit')}
        </button>
      </form>
      <Card title={t('bank.howTitle')} headingLevel={2}>
        <p className="muted">{t('bank.how')}</p>
      </Card>
    </>
  );
}
