import { useState, type FormEvent } from 'react';
import { getAllPages, type Page } from '../../shared/api.ts';
import { parseWholeNumber } from '../../shared/numbers.ts';
import { formatBasisPoints } from '../../shared/money.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { Card, ErrorNotice, Field, Loading, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';

interface Merchant {
  id: string;
  name: string;
  status: 'active' | 'suspended';
  fee_bps: number;
  settlement_card_token: string;
  created_at: string;
}

/** Merchants: the list with status and fee, onboarding, suspend/activate, API keys. */
export function MerchantsPage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const list = useLoad(() => getAllPages<Page<Merchant>>(api, '/v1/operator/merchants'));
  const [name, setName] = useState('');
  const [fee, setFee] = useState('60');
  const [secret, setSecret] = useState<{ name: string; value: string; kind: 'secret' | 'key' }>();
  const onboard = useAction(async () => {
    const bps = parseWholeNumber(fee, 0, 10_000);
    if (bps === undefined) throw new Error(t('merchants.feeInvalid'));
    const created = await api.post<Merchant & { signing_secret: string | null }>('/v1/operator/merchants', {
      name: name.trim(),
      fee_bps: bps,
    });
    if (created.signing_secret)
      setSecret({ name: created.name, value: created.signing_secret, kind: 'secret' });
    setName('');
    list.reload();
  });
  const toggle = useAction(async (m: Merchant) => {
    await api.post(`/v1/operator/merchants/${m.id}/${m.status === 'active' ? 'suspend' : 'activate'}`, {});
    list.reload();
  });
  const issueKey = useAction(async (m: Merchant) => {
    const created = await api.post<{ key: string | null }>(`/v1/operator/merchants/${m.id}/api-keys`, {
      name: 'console',
      scopes: ['payments:write', 'payments:read', 'refunds:write'],
    });
    if (created.key) setSecret({ name: m.name, value: created.key, kind: 'key' });
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void onboard.run();
  };
  return (
    <div className="grid">
      <Card title={t('merchants.listTitle')} className="wide">
        <ErrorNotice error={list.error ?? toggle.error ?? issueKey.error} />
        {secret && (
          <Success>
            {t(secret.kind === 'secret' ? 'merchants.secretOnce' : 'merchants.keyOnce', {
              name: secret.name,
            })}{' '}
            <code>{secret.value}</code>
          </Success>
        )}
        {!list.data ? (
          !list.error && <Loading />
        ) : list.data.items.length === 0 ? (
          <p className="muted">{t('merchants.none')}</p>
        ) : (
          <table data-testid="merchants">
            <caption className="visually-hidden">{t('merchants.listTitle')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('merchants.name')}</th>
                <th scope="col">{t('merchants.status')}</th>
                <th scope="col" className="num">
                  {t('merchants.fee')}
                </th>
                <th scope="col">{t('merchants.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((m) => (
                <tr key={m.id}>
                  <td>
                    {m.name}
                    <br />
                    <code className="muted small">{m.id}</code>
                  </td>
                  <td>
                    <span className={`status-pill ${m.status === 'active' ? 'ok' : 'bad'}`}>
                      {t(m.status === 'active' ? 'merchants.active' : 'merchants.suspended')}
                    </span>
                  </td>
                  <td className="num">{formatBasisPoints(m.fee_bps)}%</td>
                  <td className="row-actions">
                    <button type="button" onClick={() => void toggle.run(m)} disabled={toggle.busy}>
                      {m.status === 'active' ? t('merchants.suspend') : t('merchants.activate')}
                      <span className="visually-hidden"> {m.name}</span>
                    </button>
                    <button type="button" onClick={() => void issueKey.run(m)} disabled={issueKey.busy}>
                      {t('merchants.newKey')}
                      <span className="visually-hidden"> {m.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <form className="card" onSubmit={submit} aria-label={t('merchants.onboardTitle')}>
        <h2>{t('merchants.onboardTitle')}</h2>
        <Field label={t('merchants.name')} name="merchant_name" value={name} onChange={setName} required />
        <Field
          label={t('merchants.feeBps')}
          name="fee_bps"
          inputMode="numeric"
          value={fee}
          onChange={setFee}
          hint={t('merchants.feeHint')}
        />
        <ErrorNotice error={onboard.error} />
        <button type="submit" className="primary" disabled={onboard.busy}>
          {t('merchants.onboard')}
        </button>
      </form>
    </div>
  );
}
