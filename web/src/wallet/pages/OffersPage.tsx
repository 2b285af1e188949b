import { useEffect, useState, type FormEvent } from 'react';
import './market.css';
import { useI18n, type MessageKey } from '../../shared/i18n.tsx';
import { formatBasisPoints, formatFen, parseYuan } from '../../shared/money.ts';
import { Card, ErrorNotice, Field, Loading, Select, Success, useAction, useLoad } from '../../shared/ui.tsx';
import { shanghaiDate } from '../../shared/dates.ts';
import { useSession } from '../session.tsx';
import { getAllPages, type Page } from '../../shared/api.ts';

type ApplicantField = 'real_name' | 'phone' | 'resident_id' | 'monthly_income' | 'employer' | 'address';
type Outcome = 'posted' | 'approved' | 'declined' | 'disbursed' | 'repaid' | 'failed';

interface Offer {
  id: string;
  apr_bp: number;
  lender: string;
  source: 'partner' | 'own';
  partner_id: string | null;
  amount: string;
  term_months: number;
  promotions: Array<{ kind: string; days: number }>;
  rank: number;
  required_fields: ApplicantField[];
}
interface Application {
  id: string;
  product: 'loan' | 'card';
  amount: string;
  status: string;
  outcome: Outcome | null;
  offers: Offer[];
}
interface Consent {
  id: string;
  recipient: string;
  fields: ApplicantField[];
  granted_at: string;
  withdrawn_at: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fieldKey = (f: ApplicantField) => `field.${f}` as MessageKey;

/**
 * Partner offers: apply once, see the ranked offers (APR first, the platform's own loan among
 * them), choose one, agree on a consent screen that names exactly the fields, the recipient and
 * the purpose, then follow the lender's answer. The consents can be withdrawn below.
 */
export function OffersPage() {
  const { api } = useSession();
  const consents = useLoad(() => getAllPages<Page<Consent>>(api, '/v1/marketplace/consents'));
  return (
    <>
      <Marketplace onConsented={consents.reload} />
      <Consents consents={consents} />
    </>
  );
}

function Marketplace({ onConsented }: { onConsented(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [product, setProduct] = useState<'loan' | 'card'>('loan');
  const [amount, setAmount] = useState('');
  const [term, setTerm] = useState('12');
  const [region, setRegion] = useState('');
  const [application, setApplication] = useState<Application>();
  const [chosen, setChosen] = useState<Offer>();
  const [sent, setSent] = useState<Offer>();

  const apply = useAction(async () => {
    const fen = parseYuan(amount);
    if (!fen || fen === '0') throw new Error(t('error.amount'));
    setApplication(undefined);
    setChosen(undefined);
    setSent(undefined);
    setApplication(
      await api.post<Application>('/v1/marketplace/applications', {
        product,
        amount: fen,
        term_months: Number.parseInt(term, 10),
        region_code: region.trim(),
      }),
    );
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void apply.run();
  };

  if (application && sent)
    return (
      <OutcomeCard
        application={application}
        offer={sent}
        onAgain={() => (setApplication(undefined), setSent(undefined))}
      />
    );
  if (application && chosen)
    return (
      <ConsentScreen
        application={application}
        offer={chosen}
        onBack={() => setChosen(undefined)}
        onAgreed={() => {
          setSent(chosen);
          onConsented();
        }}
      />
    );
  return (
    <>
      <form className="card" onSubmit={submit} aria-label={t('offers.applyTitle')}>
        <h2>{t('offers.applyTitle')}</h2>
        <p className="muted">{t('offers.intro')}</p>
        <Select
          label={t('offers.product')}
          value={product}
          onChange={(v) => setProduct(v as 'loan' | 'card')}
          options={[
            { value: 'loan', label: t('offers.productLoan') },
            { value: 'card', label: t('offers.productCard') },
          ]}
        />
        <Field
          label={t('common.amountYuan')}
          name="offer_amount"
          inputMode="decimal"
          value={amount}
          onChange={setAmount}
          required
        />
        <Field
          label={t('offers.term')}
          name="term_months"
          inputMode="numeric"
          value={term}
          onChange={setTerm}
          required
        />
        <Field
          label={t('offers.region')}
          name="region_code"
          inputMode="numeric"
          hint={t('offers.regionHint')}
          value={region}
          onChange={setRegion}
          required
        />
        <ErrorNotice error={apply.error} />
        <button type="submit" className="primary" disabled={apply.busy}>
          {t('offers.submit')}
        </button>
      </form>
      {application && <OfferList application={application} onChoose={setChosen} />}
    </>
  );
}

function lenderName(t: ReturnType<typeof useI18n>['t'], offer: Offer) {
  return offer.source === 'own' ? t('offers.ownLabel') : offer.lender;
}

function OfferList({ application, onChoose }: { application: Application; onChoose(o: Offer): void }) {
  const { t } = useI18n();
  return (
    <Card title={t('offers.listTitle')}>
      {application.offers.length === 0 ? (
        <p className="muted">{t('offers.none')}</p>
      ) : (
        <ol className="offers" data-testid="offers">
          {application.offers.map((o) => {
            const lender = lenderName(t, o);
            return (
              <li key={o.id} data-testid="offer">
                {/* The APR first and largest: what the offer costs, comparable across lenders. */}
                <p className="apr">{t('common.apr', { apr: formatBasisPoints(o.apr_bp) })}</p>
                <p>
                  <strong>{lender}</strong>
                  {' · '}
                  {t('offers.line', { amount: formatFen(o.amount), terms: String(o.term_months) })}
                </p>
                {o.promotions.length > 0 && (
                  <ul className="tags">
                    {o.promotions.map((p) => (
                      <li key={`${p.kind}-${p.days}`}>{t('offers.promo', { days: String(p.days) })}</li>
                    ))}
                  </ul>
                )}
                <button type="button" onClick={() => onChoose(o)}>
                  {t('offers.choose', { lender })}
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </Card>
  );
}

function ConsentScreen(props: { application: Application; offer: Offer; onBack(): void; onAgreed(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const { application, offer } = props;
  const lender = lenderName(t, offer);
  // Empty, not prefilled: the wallet shows its own copies masked, and the user types what is sent.
  const [values, setValues] = useState<Partial<Record<ApplicantField, string>>>({});
  const agree = useAction(async () => {
    const applicant: Partial<Record<ApplicantField, string>> = {};
    for (const f of offer.required_fields) {
      const value = (values[f] ?? '').trim();
      // The field asks for yuan; the partner protocol carries the income in fen, like every amount
      // (the yuan typed were sent as they were: a hundredth of the income).
      if (f === 'monthly_income') {
        const fen = parseYuan(value);
        if (fen === undefined) throw new Error(t('error.amount'));
        applicant[f] = fen;
      } else applicant[f] = value;
    }
    await api.post(`/v1/marketplace/applications/${application.id}/choose`, {
      offer_id: offer.id,
      consent: { fields: offer.required_fields },
      applicant,
    });
    props.onAgreed();
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void agree.run();
  };
  const product = application.product === 'card' ? t('offers.productCard') : t('offers.productLoan');
  return (
    <form className="card consent" onSubmit={submit} aria-labelledby="consent-title">
      <h2 id="consent-title">{t('consent.title', { lender })}</h2>
      <p className="apr">{t('common.apr', { apr: formatBasisPoints(offer.apr_bp) })}</p>
      <dl>
        <dt>{t('consent.recipient')}</dt>
        <dd data-testid="consent-recipient">{lender}</dd>
        <dt>{t('consent.purpose')}</dt>
        <dd>{t('consent.purposeText', { product, amount: formatFen(offer.amount) })}</dd>
      </dl>
      <fieldset>
        <legend>{t('consent.fields')}</legend>
        {offer.required_fields.length === 0 ? (
          <p className="muted">{t('consent.noFields')}</p>
        ) : (
          <>
            <ul className="visually-hidden" data-testid="consent-fields">
              {offer.required_fields.map((f) => (
                <li key={f}>{t(fieldKey(f))}</li>
              ))}
            </ul>
            {offer.required_fields.map((f) => (
              <Field
                key={f}
                label={t(fieldKey(f))}
                name={`applicant_${f}`}
                inputMode={f === 'monthly_income' ? 'numeric' : f === 'phone' ? 'tel' : 'text'}
                value={values[f] ?? ''}
                onChange={(v) => setValues((old) => ({ ...old, [f]: v }))}
                required
              />
            ))}
          </>
        )}
      </fieldset>
      <p className="muted">{t('consent.note')}</p>
      <ErrorNotice error={agree.error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={agree.busy}>
          {t('consent.agree')}
        </button>
        <button type="button" onClick={props.onBack} disabled={agree.busy}>
          {t('consent.back')}
        </button>
      </div>
    </form>
  );
}

/** The lender answers by callback: the page asks again until the answer is in. */
function OutcomeCard(props: { application: Application; offer: Offer; onAgain(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [outcome, setOutcome] = useState<Outcome>('posted');
  const [error, setError] = useState<unknown>();
  const lender = lenderName(t, props.offer);
  useEffect(() => {
    let live = true;
    void (async () => {
      for (let i = 0; live && i < 60; i++) {
        try {
          const a = await api.get<Application>(`/v1/marketplace/applications/${props.application.id}`);
          if (!live) return;
          const now = a.outcome ?? 'posted';
          setOutcome(now);
          // Approved may still turn into disbursed a moment later; other answers are final.
          if (now !== 'posted' && !(now === 'approved' && props.offer.source === 'partner' && i < 10)) return;
        } catch (e) {
          if (live) setError(e);
          return;
        }
        await sleep(1000);
      }
    })();
    return () => {
      live = false;
    };
  }, [api, props.application.id, props.offer.source]);
  const vars = { lender, amount: formatFen(props.offer.amount) };
  return (
    <Card title={t('outcome.title', { lender })}>
      <p className="apr">{t('common.apr', { apr: formatBasisPoints(props.offer.apr_bp) })}</p>
      <p
        className={`notice ${outcome === 'declined' || outcome === 'failed' ? 'error' : 'success'}`}
        role="status"
        data-testid="offer-outcome"
      >
        {t(`outcome.${outcome}`, vars)}
      </p>
      {props.offer.source === 'own' && outcome === 'approved' && (
        <p>
          <a href="#/loans">{t('outcome.ownNext')}</a>
        </p>
      )}
      <ErrorNotice error={error} />
      <button type="button" onClick={props.onAgain}>
        {t('outcome.again')}
      </button>
    </Card>
  );
}

function Consents({ consents }: { consents: ReturnType<typeof useLoad<{ items: Consent[] }>> }) {
  const { t } = useI18n();
  if (consents.loading && !consents.data) return <Loading />;
  if (consents.error) return <ErrorNotice error={consents.error} />;
  const items = consents.data?.items ?? [];
  return (
    <Card title={t('consents.title')}>
      {items.length === 0 ? (
        <p className="muted">{t('consents.none')}</p>
      ) : (
        <ul data-testid="consents">
          {items.map((c) => (
            <ConsentItem key={c.id} consent={c} onDone={consents.reload} />
          ))}
        </ul>
      )}
    </Card>
  );
}

function ConsentItem({ consent, onDone }: { consent: Consent; onDone(): void }) {
  const { t } = useI18n();
  const { api } = useSession();
  const [done, setDone] = useState<string>();
  const withdraw = useAction(async () => {
    await api.post(`/v1/marketplace/consents/${consent.id}/withdraw`);
    setDone(t('consents.withdrawDone', { recipient: consent.recipient }));
    onDone();
  });
  return (
    <li>
      <p>
        <strong>{consent.recipient}</strong>
      </p>
      <p className="muted">
        {consent.fields.length === 0
          ? t('consents.noFields')
          : t('consents.fields', { fields: consent.fields.map((f) => t(fieldKey(f))).join(', ') })}
      </p>
      <p className="muted">
        {t('consents.granted', { date: shanghaiDate(Date.parse(consent.granted_at)) })}
        {consent.withdrawn_at
          ? ` · ${t('consents.withdrawn', { date: shanghaiDate(Date.parse(consent.withdrawn_at)) })}`
          : ''}
      </p>
      {!consent.withdrawn_at && (
        <button type="button" disabled={withdraw.busy} onClick={() => void withdraw.run()}>
          {t('consents.withdraw', { recipient: consent.recipient })}
        </button>
      )}
      <ErrorNotice error={withdraw.error} />
      {done && <Success>{done}</Success>}
    </li>
  );
}
