import { useMemo } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { BarChart, MultiLineChart } from '../../shared/LineChart.tsx';
import { formatFen } from '../../shared/money.ts';
import { Card, ErrorNotice, Loading, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';

interface Bucket {
  bucket: string;
  loans: number;
  principal_outstanding: string;
  interest_receivable: string;
  penalty_receivable: string;
}
interface Vintage {
  origination_month: string;
  months_on_book: number;
  loans: number;
  loans_30_plus: number;
  share_30_plus: string;
  principal_outstanding: string;
}

/** The cash-loan book: outstanding by delinquency bucket and vintage curves (30+ share by month on book). */
export function LoanBookPage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const buckets = useLoad(() => api.get<{ items: Bucket[] }>('/v1/operator/lending/book/buckets'));
  const vintages = useLoad(() => api.get<{ items: Vintage[] }>('/v1/operator/lending/book/vintages'));
  const bucketChart = useMemo(() => {
    const items = buckets.data?.items ?? [];
    // Fen to yuan for the chart's axis only; the table shows the exact amounts.
    return {
      labels: items.map((b) => b.bucket),
      values: items.map((b) => Number(BigInt(b.principal_outstanding) / 100n)),
    };
  }, [buckets.data]);
  const curves = useMemo(() => {
    const items = vintages.data?.items ?? [];
    const maxMob = items.reduce((n, v) => Math.max(n, v.months_on_book), 0);
    const labels = Array.from({ length: maxMob + 1 }, (_, i) => String(i));
    const months = [...new Set(items.map((v) => v.origination_month))].sort();
    const series = months.map((month) => ({
      label: month,
      values: labels.map((_, mob) => {
        const v = items.find((i) => i.origination_month === month && i.months_on_book === mob);
        return v ? Number(v.share_30_plus) : null;
      }),
    }));
    return { labels, series };
  }, [vintages.data]);
  const total = (buckets.data?.items ?? []).reduce((n, b) => n + BigInt(b.principal_outstanding), 0n);
  return (
    <div className="grid">
      <Card title={t('cbook.bucketsTitle')} className="wide">
        {buckets.error ? (
          <ErrorNotice error={buckets.error} />
        ) : !buckets.data ? (
          <Loading />
        ) : buckets.data.items.length === 0 ? (
          <p className="muted">{t('cbook.noLoans')}</p>
        ) : (
          <div className="two">
            <div>
              <p className="amount" data-testid="book-total">
                ¥{formatFen(total)}
              </p>
              <table data-testid="book-buckets">
                <caption className="visually-hidden">{t('cbook.bucketsTitle')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('cbook.bucket')}</th>
                    <th scope="col" className="num">
                      {t('cbook.loans')}
                    </th>
                    <th scope="col" className="num">
                      {t('cbook.principal')}
                    </th>
                    <th scope="col" className="num">
                      {t('cbook.interest')}
                    </th>
                    <th scope="col" className="num">
                      {t('cbook.penalty')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {buckets.data.items.map((b) => (
                    <tr key={b.bucket}>
                      <th scope="row">{b.bucket}</th>
                      <td className="num">{b.loans}</td>
                      <td className="num">{formatFen(b.principal_outstanding)}</td>
                      <td className="num">{formatFen(b.interest_receivable)}</td>
                      <td className="num">{formatFen(b.penalty_receivable)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <BarChart
              labels={bucketChart.labels}
              values={bucketChart.values}
              label={t('cbook.principal')}
              unit=" ¥"
              description={t('cbook.bucketsAlt', { total: formatFen(total) })}
            />
          </div>
        )}
      </Card>
      <Card title={t('cbook.vintagesTitle')} className="wide">
        <p className="muted">{t('cbook.vintagesIntro')}</p>
        {vintages.error ? (
          <ErrorNotice error={vintages.error} />
        ) : !vintages.data ? (
          <Loading />
        ) : vintages.data.items.length === 0 ? (
          <p className="muted">{t('cbook.noVintages')}</p>
        ) : (
          <>
            <MultiLineChart
              labels={curves.labels}
              series={curves.series}
              unit="%"
              description={t('cbook.vintagesAlt', { months: curves.series.map((s) => s.label).join(', ') })}
            />
            <table data-testid="book-vintages">
              <caption className="visually-hidden">{t('cbook.vintagesTitle')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('cbook.origination')}</th>
                  <th scope="col" className="num">
                    {t('cbook.mob')}
                  </th>
                  <th scope="col" className="num">
                    {t('cbook.loans')}
                  </th>
                  <th scope="col" className="num">
                    {t('cbook.loans30')}
                  </th>
                  <th scope="col" className="num">
                    {t('cbook.share30')}
                  </th>
                  <th scope="col" className="num">
                    {t('cbook.principal')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {vintages.data.items.map((v) => (
                  <tr key={`${v.origination_month}-${v.months_on_book}`}>
                    <th scope="row">{v.origination_month}</th>
                    <td className="num">{v.months_on_book}</td>
                    <td className="num">{v.loans}</td>
                    <td className="num">{v.loans_30_plus}</td>
                    <td className="num">{v.share_30_plus}%</td>
                    <td className="num">{formatFen(v.principal_outstanding)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </Card>
    </div>
  );
}
