import { useEffect, useRef, useState, type FormEvent } from 'react';
import './market.css';
import { ApiError, getAllPages, newIdempotencyKey, type Page } from '../../shared/api.ts';
import { shanghaiDate } from '../../shared/dates.ts';
import { useI18n, type MessageKey } from '../../shared/i18n.tsx';
import { formatFen } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Select, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface Sale {
  id: string;
  name: string;
  price: string;
  allotment: number;
  per_user_limit: number;
  starts_at: string;
  ends_at: string;
  units_taken: number;
  product: { id: string; name: string; description: string };
  sku: { id: string; name: string; price: string };
}
type OrderStatus =
  | 'reserved'
  | 'deposit_held'
  | 'paying'
  | 'paid'
  | 'packed'
  | 'shipped'
  | 'delivered'
  | 'expired'
  | 'cancelled';
interface Order {
  id: string;
  sale_id: string;
  quantity: number;
  amount: string;
  status: OrderStatus;
  pay_by: string;
  refund_id: string | null;
  paid_at: string | null;
  packed_at: string | null;
  shipped_at: string | null;
  delivered_at: string | null;
  delivery_due_at: string | null;
  /** Delivered orders: the last instant a seven-day return may be asked for. */
  return_by: string | null;
  return: { status: 'requested' | 'received' | 'refunded'; refund_id: string | null } | null;
}
interface Attempt {
  status: 'accepted' | 'queued';
  attempt_id: string;
}

const methods = ['balance', 'bank_card', 'pay_later', 'pay_later_instalments'] as const;
const steps = ['paid', 'packed', 'shipped', 'delivered'] as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One id per browser, so the anti-scalper rules see the same device on every attempt. */
function deviceId(): string {
  const key = 'millet.device';
  let id = localStorage.getItem(key);
  if (!id) localStorage.setItem(key, (id = newIdempotencyKey()));
  return id;
}

/** "01:02:03" for a duration in ms, rounded up to the second. */
function clockText(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return [hh, mm, ss].map((n) => String(n).padStart(2, '0')).join(':');
}

/** The current time on the server's clock: its `now` when the sales were read, moved on since. */
function useServerNow(serverNow: string | undefined): number {
  const offset = useRef(0);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (serverNow) offset.current = Date.parse(serverNow) - Date.now();
    setNow(Date.now() + offset.current);
    const timer = setInterval(() => setNow(Date.now() + offset.current), 1000);
    return () => clearInterval(timer);
  }, [serverNow]);
  return now;
}

/**
 * The store: flash sales with a countdown to the start, buy (an attempt; accepted is a reservation
 * to pay within 15 minutes), pay with a chosen method through checkout, and the orders tracked.
 */
export function StorePage() {
  const { api } = useSession();
  const sales = useLoad(() => api.get<{ now: string; items: Sale[] }>('/v1/store/sales'));
  const orders = useLoad(() => getAllPages<Page<Order>>(api, '/v1/store/orders'));
  const now = useServerNow(sales.data?.now);
  const [reservation, setReservation] = useState<{ order: Order; sale: Sale }>();
  const names = new Map((sales.data?.items ?? []).map((s) => [s.id, s.product.name]));
  return (
    <>
      <SaleList
        sales={sales}
        now={now}
        onReserved={(order, sale) => {
          setReservation({ order, sale });
          sales.reload();
          orders.reload();
        }}
      />
      {reservation && reservation.order.status === 'reserved' && (
        <PayCard
          {...reservation}
          now={now}
          onPaid={(order) => {
            setReservation({ ...reservation, order });
            orders.reload();
          }}
        />
      )}
      {reservation && reservation.order.status !== 'reserved' && (
        <Success>
          <PaidText order={reservation.order} />
        </Success>
      )}
      <OrderList orders={orders} names={names} />
    </>
  );
}

function PaidText({ order }: { order: Order }) {
  const { t } = useI18n();
  return <>{t('store.paid', { amount: formatFen(order.amount) })}</>;
}

function SaleList(props: {
  sales: ReturnType<typeof useLoad<{ now: string; items: Sale[] }>>;
  now: number;
  onReserved(order: Order, sale: Sale): void;
}) {
  const { t } = useI18n();
  const { sales } = props;
  if (sales.loading && !sales.data) return <Loading />;
  if (sales.error) return <ErrorNotice error={sales.error} />;
  const items = sales.data?.items ?? [];
  return (
    <Card title={t('store.salesTitle')}>
      {items.length === 0 ? (
        <p className="muted">{t('store.none')}</p>
      ) : (
        <ul className="sales" data-testid="sales">
          {items.map((s) => (
            <SaleItem key={s.id} sale={s} now={props.now} onReserved={props.onReserved} />
          ))}
        </ul>
      )}
    </Card>
  );
}

function SaleItem({
  sale,
  now,
  onReserved,
}: {
  sale: Sale;
  now: number;
  onReserved(o: Order, s: Sale): void;
}) {
  const { t, errorText } = useI18n();
  const { api } = useSession();
  const [quantity, setQuantity] = useState('1');
  const [address, setAddress] = useState('');
  const [queued, setQueued] = useState(false);
  const startsIn = Date.parse(sale.starts_at) - now;
  const left = Math.max(0, sale.allotment - sale.units_taken);
  const buy = useAction(async () => {
    // Booking is idempotent: the first buy books the user for the sale, then tries.
    await api.post(`/v1/store/sales/${sale.id}/registrations`);
    const key = newIdempotencyKey();
    let attempt: Attempt;
    try {
      attempt = await api.post<Attempt>(
        `/v1/store/sales/${sale.id}/attempts`,
        {
          quantity: Number(quantity),
          device_id: deviceId(),
          ...(address.trim() ? { address: address.trim() } : {}),
        },
        key,
      );
    } catch (e) {
      if (e instanceof ApiError && e.code === 'STORE_ATTEMPT_REJECTED') throw new Error(reasonText(e));
      throw e;
    }
    setQueued(attempt.status === 'queued');
    // The order is written a moment after the answer (and a queued attempt decided later).
    for (let i = 0; i < 120; i++) {
      const s = await api.get<{ status: string; reason: string | null; order: Order | null }>(
        `/v1/store/sales/${sale.id}/attempts/${attempt.attempt_id}`,
      );
      if (s.order) {
        setQueued(false);
        onReserved(s.order, sale);
        return;
      }
      if (s.status === 'rejected') {
        setQueued(false);
        throw new Error(reasonLabel(s.reason ?? ''));
      }
      await sleep(250);
    }
    throw new Error(t('error.generic'));
  });
  const reasonLabel = (reason: string) =>
    (`store.reason.${reason}` as MessageKey) in reasons
      ? t(`store.reason.${reason}` as MessageKey)
      : t('error.generic');
  const reasonText = (e: ApiError) =>
    typeof e.problem.reason === 'string' ? reasonLabel(e.problem.reason) : errorText(e);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void buy.run();
  };
  const quantities = Array.from({ length: Math.max(1, sale.per_user_limit) }, (_, i) => String(i + 1));
  return (
    <li data-testid="sale">
      <h3>{sale.product.name}</h3>
      <p className="muted">
        {sale.name} · {sale.sku.name}
      </p>
      <p>
        <strong className="price">¥{formatFen(sale.price)}</strong>{' '}
        <s className="muted">{t('store.regular', { price: `¥${formatFen(sale.sku.price)}` })}</s>
      </p>
      {startsIn > 0 ? (
        <p className="countdown-text" role="timer" aria-live="off" data-testid="sale-countdown">
          {t('store.startsIn', { time: clockText(startsIn) })}
        </p>
      ) : (
        <p className="muted">{t('store.onNow', { date: new Date(sale.ends_at).toLocaleString() })}</p>
      )}
      <p className="muted">
        {t('store.left', {
          left: String(left),
          allotment: String(sale.allotment),
          limit: String(sale.per_user_limit),
        })}
      </p>
      <form onSubmit={submit} aria-label={t('store.buy', { name: sale.product.name })}>
        <Select
          label={t('store.quantity')}
          value={quantity}
          onChange={setQuantity}
          options={quantities.map((q) => ({ value: q, label: q }))}
        />
        <Field label={t('store.address')} name={`address_${sale.id}`} value={address} onChange={setAddress} />
        {queued && <p role="status">{t('store.queued')}</p>}
        <ErrorNotice error={buy.error} />
        <button type="submit" className="primary" disabled={buy.busy || left === 0}>
          {t('store.buy', { name: sale.product.name })}
        </button>
      </form>
    </li>
  );
}

const reasons: Record<string, true> = Object.fromEntries(
  [
    'sold_out',
    'limit_reached',
    'not_started',
    'ended',
    'over_limit',
    'blacklisted',
    'already_queued',
    'not_registered',
  ].map((r) => [`store.reason.${r}`, true]),
);

function PayCard(props: { order: Order; sale: Sale; now: number; onPaid(order: Order): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const { order, sale } = props;
  const [method, setMethod] = useState<(typeof methods)[number]>('balance');
  const [terms, setTerms] = useState('3');
  const [card, setCard] = useState('card_1');
  // One payment id per reservation and method: a retry after a lost answer pays once.
  const key = useRef(newIdempotencyKey());
  const pay = useAction(async () => {
    const paid = await api.post<Order>(
      `/v1/store/orders/${order.id}/pay`,
      {
        method,
        ...(method === 'bank_card' ? { card_token: card.trim() } : {}),
        ...(method === 'pay_later_instalments' ? { terms } : {}),
      },
      key.current,
    );
    props.onPaid(paid);
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void pay.run();
  };
  const remaining = Date.parse(order.pay_by) - props.now;
  return (
    <form className="card" onSubmit={submit} aria-labelledby="reserved-title">
      <h2 id="reserved-title">{t('store.reservedTitle')}</h2>
      <p>
        {t('store.reservedLine', {
          name: sale.product.name,
          quantity: String(order.quantity),
          amount: `¥${formatFen(order.amount)}`,
        })}
      </p>
      <p className="muted">{t('store.payWithin')}</p>
      <p className="countdown-text" role="timer" aria-live="off" data-testid="pay-countdown">
        {clockText(remaining).slice(3)}
      </p>
      <fieldset>
        <legend>{t('store.method')}</legend>
        {methods.map((m) => (
          <label key={m} className="choice">
            <input
              type="radio"
              name="method"
              value={m}
              checked={method === m}
              onChange={() => {
                setMethod(m);
                key.current = newIdempotencyKey();
              }}
            />
            {t(`store.method.${m}`)}
          </label>
        ))}
      </fieldset>
      {method === 'pay_later_instalments' && (
        <Select
          label={t('store.terms')}
          value={terms}
          onChange={setTerms}
          options={['3', '6', '12'].map((n) => ({ value: n, label: n }))}
        />
      )}
      {method === 'bank_card' && (
        <Field label={t('store.card')} name="store_card" value={card} onChange={setCard} />
      )}
      <ErrorNotice error={pay.error} />
      <button type="submit" className="primary" disabled={pay.busy || remaining <= 0}>
        {t('store.pay', { amount: formatFen(order.amount) })}
      </button>
    </form>
  );
}

function OrderList(props: {
  orders: ReturnType<typeof useLoad<{ items: Order[] }>>;
  names: Map<string, string>;
}) {
  const { t } = useI18n();
  const { orders } = props;
  if (orders.loading && !orders.data) return <Loading />;
  if (orders.error) return <ErrorNotice error={orders.error} />;
  const items = orders.data?.items ?? [];
  return (
    <Card title={t('store.ordersTitle')}>
      <button type="button" onClick={orders.reload}>
        {t('store.refresh')}
      </button>
      {items.length === 0 ? (
        <p className="muted">{t('store.noOrders')}</p>
      ) : (
        <ul className="sales" data-testid="orders">
          {items.map((o) => (
            <OrderItem
              key={o.id}
              order={o}
              name={props.names.get(o.sale_id) ?? o.sale_id.slice(0, 8)}
              onDone={orders.reload}
            />
          ))}
        </ul>
      )}
    </Card>
  );
}

function OrderItem({ order, name, onDone }: { order: Order; name: string; onDone(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [done, setDone] = useState<string>();
  const cancel = useAction(async () => {
    await api.post(`/v1/store/orders/${order.id}/cancel`, {});
    setDone(t('store.cancelled'));
    onDone();
  });
  const giveBack = useAction(async () => {
    await api.post(`/v1/store/orders/${order.id}/return`, {});
    setDone(t('store.returnAsked'));
    onDone();
  });
  const at: Record<(typeof steps)[number], string | null> = {
    paid: order.paid_at,
    packed: order.packed_at,
    shipped: order.shipped_at,
    delivered: order.delivered_at,
  };
  const reached = steps.filter((s) => at[s]);
  const current = reached.at(-1);
  const cancellable = ['reserved', 'paid', 'packed'].includes(order.status);
  // Seven days from the day after delivery, no reason needed: the server judges the deadline on
  // its business clock (STORE_RETURN_WINDOW_CLOSED after it), not this device's clock.
  const returnable = order.status === 'delivered' && !order.return && !!order.return_by;
  return (
    <li data-testid="order">
      <p>
        {t('store.orderLine', {
          name,
          quantity: String(order.quantity),
          amount: `¥${formatFen(order.amount)}`,
        })}
      </p>
      <p data-testid="order-status">{t(`store.status.${order.status}`)}</p>
      {order.refund_id && <p className="muted">{t('store.refunded')}</p>}
      {order.paid_at && order.status !== 'cancelled' && (
        <ol className="steps" aria-label={t('store.progress')}>
          {steps.map((s) => (
            <li
              key={s}
              className={at[s] ? 'done' : undefined}
              aria-current={s === current ? 'step' : undefined}
            >
              {at[s]
                ? t('store.stepDone', { step: t(`store.step.${s}`), date: shanghaiDate(Date.parse(at[s])) })
                : t('store.stepTodo', { step: t(`store.step.${s}`) })}
            </li>
          ))}
        </ol>
      )}
      {order.delivery_due_at && !order.delivered_at && order.status !== 'cancelled' && (
        <p className="muted">
          {t('store.deliveryDue', { date: shanghaiDate(Date.parse(order.delivery_due_at)) })}
        </p>
      )}
      {cancellable && (
        <button type="button" disabled={cancel.busy} onClick={() => void cancel.run()}>
          {t('store.cancel')}
        </button>
      )}
      {order.return && (
        <p className="muted" data-testid="order-return">
          {t(`store.return.${order.return.status}`)}
        </p>
      )}
      {returnable && (
        <button type="button" disabled={giveBack.busy} onClick={() => void giveBack.run()}>
          {t('store.returnIt', { date: shanghaiDate(Date.parse(order.return_by!)) })}
        </button>
      )}
      <ErrorNotice error={giveBack.error} />
      <ErrorNotice error={cancel.error} />
      {done && <Success>{done}</Success>}
    </li>
  );
}
