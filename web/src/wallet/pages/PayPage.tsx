import { useEffect, useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen } from '../../shared/money.ts';
import { msUntilNextStep, paymentCode, PAYMENT_CODE_STEP_MS } from '../../shared/payment-code.ts';
import { Card, ErrorNotice, Field, Success, useAction } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface Order {
  id: string;
  merchant_name: string;
  amount: string;
  description: string;
  status: 'open' | 'pending' | 'paid' | 'cancelled' | 'expired';
  expires_at: string;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** Pay: scan (paste) a merchant's order, or show my payment code for the merchant to scan. */
export function PayPage() {
  return (
    <>
      <ScanOrder />
      <MyPaymentCode />
    </>
  );
}

function ScanOrder() {
  const { t } = useI18n();
  const { api } = useSession();
  const [text, setText] = useState('');
  const [order, setOrder] = useState<Order>();
  const [paid, setPaid] = useState(false);
  const look = useAction(async () => {
    const id = UUID.exec(text)?.[0];
    if (!id) throw new Error(t('pay.codeUnreadable'));
    setPaid(false);
    setOrder(await api.get<Order>(`/v1/payment-orders/${id.toLowerCase()}`));
  });
  const pay = useAction(async () => {
    if (!order) return;
    await api.post(`/v1/payment-orders/${order.id}/pay`, { method: 'balance' });
    setOrder(await api.get<Order>(`/v1/payment-orders/${order.id}`));
    setPaid(true);
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void look.run();
  };
  return (
    <Card title={t('pay.scanTitle')}>
      <form onSubmit={submit} aria-label={t('pay.scanTitle')}>
        <Field
          label={t('pay.orderCode')}
          name="order"
          value={text}
          onChange={setText}
          hint={t('pay.orderCodeHint')}
          required
        />
        <ErrorNotice error={look.error} />
        <button type="submit" disabled={look.busy}>
          {t('pay.lookUp')}
        </button>
      </form>
      {order && (
        <div className="order" aria-live="polite">
          <dl>
            <dt>{t('pay.merchant')}</dt>
            <dd data-testid="merchant-name">{order.merchant_name}</dd>
            <dt>{t('pay.description')}</dt>
            <dd>{order.description}</dd>
            <dt>{t('pay.amount')}</dt>
            <dd className="amount-sm">¥{formatFen(order.amount)}</dd>
            <dt>{t('pay.status')}</dt>
            <dd>{t(`orderStatus.${order.status}` as never)}</dd>
          </dl>
          {paid && (
            <Success>
              {t('pay.paid', { amount: formatFen(order.amount), merchant: order.merchant_name })}
            </Success>
          )}
          <ErrorNotice error={pay.error} />
          {order.status === 'open' && (
            <button type="button" className="primary" disabled={pay.busy} onClick={() => void pay.run()}>
              {t('pay.payFromBalance', { amount: formatFen(order.amount) })}
            </button>
          )}
        </div>
      )}
    </Card>
  );
}

interface Device {
  id: string;
  device_index: number;
  secret: string;
}

function deviceKey(userId: string) {
  return `millet.payment-device.${userId}`;
}

function MyPaymentCode() {
  const { t } = useI18n();
  const { api, me } = useSession();
  const [device, setDevice] = useState<Device | undefined>(() => {
    const raw = me && localStorage.getItem(deviceKey(me.id));
    return raw ? (JSON.parse(raw) as Device) : undefined;
  });
  const [shown, setShown] = useState(false);
  const [code, setCode] = useState<string>();
  const [remaining, setRemaining] = useState(PAYMENT_CODE_STEP_MS);
  const register = useAction(async () => {
    const created = await api.post<Device & { secret: string | null }>('/v1/me/payment-devices', {
      name: t('pay.deviceName'),
    });
    if (!created.secret || !me) throw new Error(t('error.generic'));
    const saved = { id: created.id, device_index: created.device_index, secret: created.secret };
    localStorage.setItem(deviceKey(me.id), JSON.stringify(saved));
    setDevice(saved);
    setShown(true);
  });

  useEffect(() => {
    if (!device || !shown) return;
    let live = true;
    const tick = async () => {
      const now = Date.now();
      const next = await paymentCode(device.secret, device.device_index, now);
      if (!live) return;
      setCode(next);
      setRemaining(msUntilNextStep(now));
    };
    void tick();
    const timer = setInterval(() => void tick(), 1000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [device, shown]);

  const seconds = Math.ceil(remaining / 1000);
  return (
    <Card title={t('pay.codeTitle')}>
      <p className="muted">{t('pay.codeIntro')}</p>
      {!device || !shown ? (
        <>
          <ErrorNotice error={register.error} />
          <button
            type="button"
            className="primary"
            disabled={register.busy}
            onClick={() => (device ? setShown(true) : void register.run())}
          >
            {t('pay.showCode')}
          </button>
        </>
      ) : (
        <div className="payment-code">
          <p className="code" data-testid="payment-code" aria-label={t('pay.codeLabel')}>
            {code ? `${code.slice(0, 2)} ${code.slice(2).replace(/(\d{4})(?=\d)/g, '$1 ')}` : '…'}
          </p>
          <div
            className="countdown"
            role="timer"
            aria-live="off"
            aria-label={t('pay.countdown', { seconds })}
          >
            <div className="bar" style={{ width: `${(remaining / PAYMENT_CODE_STEP_MS) * 100}%` }} />
          </div>
          <p className="muted">{t('pay.countdown', { seconds })}</p>
          <button type="button" onClick={() => setShown(false)}>
            {t('pay.hideCode')}
          </button>
        </div>
      )}
    </Card>
  );
}
