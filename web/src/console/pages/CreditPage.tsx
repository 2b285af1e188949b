import { useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { BarChart, LineChart } from '../../shared/LineChart.tsx';
import { Card, ErrorNotice, Field, Loading, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';

interface Distribution {
  users: number;
  mean: number | null;
  bands: Array<{ from: number; to: number; count: number }>;
  months: Array<{ month: string; users: number; mean: number; bands: number[] }>;
  psi: number | null;
}
interface Score {
  id: string;
  score: number;
  model: string;
  business_date: string;
  trigger: string;
  reasons: Array<{ code: string; text: string }>;
}

/** Score distribution (bands of 50), drift month over month (mean, PSI), one user's score history. */
export function CreditPage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const d = useLoad(() => api.get<Distribution>('/v1/operator/credit/score-distribution'));
  const psiText = (psi: number) =>
    psi < 0.1 ? t('credit.psiStable') : psi <= 0.25 ? t('credit.psiSome') : t('credit.psiShift');
  return (
    <div className="grid">
      <Card title={t('credit.distributionTitle')} className="wide">
        {d.error ? (
          <ErrorNotice error={d.error} />
        ) : !d.data ? (
          <Loading />
        ) : (
          <>
            <p data-testid="score-users">
              {t('credit.users', { users: d.data.users })}
              {d.data.mean !== null && ` · ${t('credit.mean', { mean: d.data.mean })}`}
            </p>
            <BarChart
              labels={d.data.bands.map((b) => `${b.from}–${b.to}`)}
              values={d.data.bands.map((b) => b.count)}
              label={t('credit.usersAxis')}
              description={t('credit.distributionAlt', {
                bands: d.data.bands
                  .filter((b) => b.count > 0)
                  .map((b) => `${b.from}–${b.to}: ${b.count}`)
                  .join(', '),
              })}
              height={220}
            />
          </>
        )}
      </Card>
      <Card title={t('credit.driftTitle')}>
        {d.data && d.data.months.length > 0 ? (
          <>
            <p role="status">
              {d.data.psi === null
                ? t('credit.psiNone')
                : `PSI ${d.data.psi.toFixed(4)} — ${psiText(d.data.psi)}`}
            </p>
            <LineChart
              labels={d.data.months.map((m) => m.month)}
              values={d.data.months.map((m) => m.mean)}
              label={t('credit.meanAxis')}
              description={t('credit.driftAlt', {
                months: d.data.months.map((m) => `${m.month}: ${m.mean}`).join(', '),
              })}
              color="#7c3aed"
              height={160}
            />
            <table>
              <caption className="visually-hidden">{t('credit.driftTitle')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('credit.month')}</th>
                  <th scope="col">{t('credit.usersAxis')}</th>
                  <th scope="col">{t('credit.meanAxis')}</th>
                </tr>
              </thead>
              <tbody>
                {d.data.months.map((m) => (
                  <tr key={m.month}>
                    <td>{m.month}</td>
                    <td>{m.users}</td>
                    <td>{m.mean}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : (
          <p className="muted">{t('credit.noScores')}</p>
        )}
      </Card>
      <UserScores />
    </div>
  );
}

function UserScores() {
  const { t } = useI18n();
  const { api } = useOperator();
  const [userId, setUserId] = useState('');
  const [scores, setScores] = useState<Score[]>();
  const look = useAction(async () => {
    setScores(
      (
        await api.get<{ items: Score[] }>(
          `/v1/operator/credit/users/${encodeURIComponent(userId.trim())}/scores?limit=10`,
        )
      ).items,
    );
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void look.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('credit.userTitle')}>
      <h2>{t('credit.userTitle')}</h2>
      <Field label={t('credit.userId')} name="user_id" value={userId} onChange={setUserId} required />
      <ErrorNotice error={look.error} />
      <button type="submit" disabled={look.busy}>
        {t('credit.lookUp')}
      </button>
      {scores && (
        <ul>
          {scores.length === 0 && <li className="muted">{t('credit.noScores')}</li>}
          {scores.map((s) => (
            <li key={s.id}>
              <strong>{s.score}</strong> · {s.business_date} · {s.model} · {s.trigger}
              <br />
              <span className="muted">{s.reasons.map((r) => r.text).join('; ')}</span>
            </li>
          ))}
        </ul>
      )}
    </form>
  );
}
