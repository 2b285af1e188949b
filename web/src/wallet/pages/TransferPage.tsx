import { useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen, parseYuan } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Success, useAction } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface Transfer {
  id: string;
  amount: string;
  status: 'pending' | 'succeeded' | 'failed';
  failure_code: string | null;
}

/** Send money to another Millet user by their user ID; my own ID is shown to share. */
export function TransferPage() {
  const { t } = useI18n();
  const { api, me } = useSession();
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('');
  const [memo, setMemo] = useState('');
  const [done, setDone] = useState<Transfer>();
  const send = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen || fen === '0') throw new Error(t('error.amount'));
    setDone(undefined);
    const transfer = await api.post<Transfer>('/v1/transfers', {
      to_user_id: to.trim().toLowerCase(),
      amount: fen,
      ...(memo.trim() ? { memo: memo.trim() } : {}),
    });
    setDone(transfer);
    setAmount('');
    setMemo('');
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void send.run();
  };
  return (
    <>
      <form className="card" onSubmit={submit} aria-label={t('nav.transfer')}>
        <Field
          label={t('transfer.to')}
          name="to_user_id"
          value={to}
          onChange={setTo}
          required
          hint={t('transfer.toHint')}
        />
        <Field
          label={t('common.amountYuan')}
          name="amount"
          inputMode="decimal"
          value={amount}
          onChange={setAmount}
          required
        />
        <Field label={t('transfer.memo')} name="memo" value={memo} onChange={setMemo} />
        <ErrorNotice error={send.error} />
        {done && (
          <Success>
            {t(done.status === 'failed' ? 'transfer.failed' : 'transfer.sent', {
              amount: formatFen(done.amount),
            })}
          </Success>
        )}
        <button type="submit" className="primary" disabled={send.busy}>
          {t('transfer.submit')}
        </button>
      </form>
      <Card title={t('transfer.myId')}>
        <p className="muted">{t('transfer.myIdHint')}</p>
        <code className="user-id" data-testid="my-user-id">
          {me?.id}
        </code>
      </Card>
    </>
  );
}
