import { useState, type FormEvent } from 'react';
import { ApiError } from '../../shared/api.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { formatFen, parseYuan } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Select, useAction, useLoad } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

interface WalletBalance {
  balance: string;
  available: string;
  currency: string;
}

interface Score {
  score: number;
  model: 'behaviour' | 'application';
  business_date: string;
  reasons: Array<{ code: string; points_lost: number; text_en: string; text_zh: string }>;
}

/** Home: the balance, the credit score with its reasons (consent first). */
export function HomePage() {
  const { t } = useI18n();
  const { me } = useSession();
  return (
    <>
      {me?.kyc_status !== 'verified' && (
        <Card title={t('home.verifyTitle')} className="banner">
          <p>{t('home.verifyText')}</p>
          <a className="button primary" href="#/verify">
            {t('home.verifyAction')}
          </a>
        </Card>
      )}
      <BalanceCard />
      {me?.kyc_status === 'verified' && <ScoreCard />}
      {/* Pay-later bills due join here when the pay-later API lands (a module's home widget). */}
    </>
  );
}

function BalanceCard() {
  const { t } = useI18n();
  const { api, me } = useSession();
  const wallet = useLoad(async () => {
    try {
      return await api.get<WalletBalance>('/v1/wallet');
    } catch (error) {
      if (error instanceof ApiError && error.code === 'WALLET_NOT_FOUND' && me?.kyc_status === 'verified') {
        await api.post('/v1/wallet', {});
        return api.get<WalletBalance>('/v1/wallet');
      }
      throw error;
    }
  }, [me?.kyc_status]);
  return (
    <Card title={t('home.balance')} className="balance">
      {wallet.loading && !wallet.data ? (
        <Loading />
      ) : wallet.data ? (
        <>
          <p className="amount" data-testid="balance">
            <span className="currency">¥</span>
            {formatFen(wallet.data.balance)}
          </p>
          <p className="muted">{t('home.available', { amount: formatFen(wallet.data.available) })}</p>
          <div className="actions">
            <a className="button" href="#/bank">
              {t('bank.topUp')}
            </a>
            <a className="button" href="#/transfer">
              {t('nav.transfer')}
            </a>
            <a className="button" href="#/pay">
              {t('nav.pay')}
            </a>
          </div>
        </>
      ) : (
        <ErrorNotice error={wallet.error} />
      )}
    </Card>
  );
}

const purposes = [
  'other',
  'education',
  'furniture',
  'domestic_appliances',
  'repairs',
  'business',
  'used_car',
  'new_car',
];
const employments = ['1_to_4_years', 'less_than_1_year', '4_to_7_years', '7_years_or_more', 'unemployed'];
const housings = ['rent', 'own', 'free'];

function ScoreCard() {
  const { t, language } = useI18n();
  const { api } = useSession();
  const consent = useLoad(() => api.get<{ active: boolean }>('/v1/me/credit-consent'));
  const score = useLoad(async () => {
    try {
      return await api.get<Score>('/v1/me/score');
    } catch (error) {
      if (
        error instanceof ApiError &&
        (error.code === 'CREDIT_SCORE_NOT_FOUND' || error.code === 'NOT_FOUND')
      )
        return null;
      throw error;
    }
  }, [consent.data?.active]);
  const grant = useAction(async () => {
    await api.post('/v1/me/credit-consent', {});
    consent.reload();
  });
  const withdraw = useAction(async () => {
    await api.post('/v1/me/credit-consent/withdraw', {});
    consent.reload();
  });
  const [amount, setAmount] = useState('5000');
  const [months, setMonths] = useState('12');
  const [purpose, setPurpose] = useState('other');
  const [employment, setEmployment] = useState('1_to_4_years');
  const [housing, setHousing] = useState('rent');
  const compute = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen) throw new Error(t('error.amount'));
    await api.post('/v1/me/score', {
      application: {
        amount: fen,
        duration_months: Number(months),
        purpose,
        employment,
        housing,
      },
    });
    score.reload();
  });

  if (consent.loading && !consent.data) return <Loading />;
  if (consent.error) return <ErrorNotice error={consent.error} />;
  if (!consent.data?.active)
    return (
      <Card title={t('score.consentTitle')} className="consent">
        <p>{t('score.consentText')}</p>
        <ul>
          <li>{t('score.consentData1')}</li>
          <li>{t('score.consentData2')}</li>
          <li>{t('score.consentData3')}</li>
        </ul>
        <p className="muted">{t('score.consentWithdraw')}</p>
        <ErrorNotice error={grant.error} />
        <button type="button" className="primary" disabled={grant.busy} onClick={() => void grant.run()}>
          {t('score.consentAgree')}
        </button>
      </Card>
    );
  if (score.loading && score.data === undefined) return <Loading />;
  if (score.data)
    return (
      <Card title={t('score.title')} className="score">
        <p className="score-value" data-testid="score">
          {score.data.score}
          <span className="muted"> / 950</span>
        </p>
        <p className="muted">
          {t('score.asOf', { date: score.data.business_date })} ·{' '}
          {score.data.model === 'application' ? t('score.modelApplication') : t('score.modelBehaviour')}
        </p>
        {/* A score can have no reasons: none of its characteristics costs points and is true of the user. */}
        {score.data.reasons.length > 0 && (
          <>
            <h3>{t('score.reasons')}</h3>
            <ol className="reasons">
              {score.data.reasons.map((r) => (
                <li key={r.code}>
                  {language === 'zh-CN' ? r.text_zh : r.text_en}{' '}
                  <span className="muted">
                    {t('score.pointsLost', { points: Math.round(r.points_lost) })}
                  </span>
                </li>
              ))}
            </ol>
          </>
        )}
        <ErrorNotice error={withdraw.error} />
        <button
          type="button"
          className="link-button"
          disabled={withdraw.busy}
          onClick={() => void withdraw.run()}
        >
          {t('score.withdraw')}
        </button>
      </Card>
    );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void compute.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('score.applicationTitle')}>
      <h2>{t('score.applicationTitle')}</h2>
      <p className="muted">{t('score.applicationText')}</p>
      <Field label={t('score.amount')} inputMode="decimal" value={amount} onChange={setAmount} />
      <Field label={t('score.months')} inputMode="numeric" value={months} onChange={setMonths} />
      <Select
        label={t('score.purpose')}
        value={purpose}
        onChange={setPurpose}
        options={purposes.map((p) => ({ value: p, label: t(`purpose.${p}` as never) }))}
      />
      <Select
        label={t('score.employment')}
        value={employment}
        onChange={setEmployment}
        options={employments.map((p) => ({ value: p, label: t(`employment.${p}` as never) }))}
      />
      <Select
        label={t('score.housing')}
        value={housing}
        onChange={setHousing}
        options={housings.map((p) => ({ value: p, label: t(`housing.${p}` as never) }))}
      />
      <ErrorNotice error={compute.error ?? score.error} />
      <button type="submit" className="primary" disabled={compute.busy}>
        {t('score.compute')}
      </button>
    </form>
  );
}
