import { useState, type FormEvent } from 'react';
import { useI18n } from '../../shared/i18n.tsx';
import { navigate } from '../../shared/router.ts';
import { Card, ErrorNotice, Field, Select, Success, useAction } from '../../shared/ui.tsx';
import { useSession } from '../session.tsx';

/** Identity verification (KYC): real name and the 18-character resident ID; sets the account class. */
export function VerifyPage() {
  const { t } = useI18n();
  const { api, me, reloadMe } = useSession();
  const [realName, setRealName] = useState('');
  const [residentId, setResidentId] = useState('');
  const [accountClass, setAccountClass] = useState('II');
  const action = useAction(async () => {
    await api.post('/v1/me/identity', {
      real_name: realName.trim(),
      resident_id: residentId.trim().toUpperCase(),
      account_class: accountClass,
    });
    await api.post('/v1/wallet', {});
    await reloadMe();
  });
  if (me?.kyc_status === 'verified')
    return (
      <Card title={t('verify.done')}>
        <Success>{t('verify.verifiedAs', { name: me.real_name ?? '', id: me.resident_id ?? '' })}</Success>
        <p>{t('verify.class', { class: me.account_class ?? '' })}</p>
        <button type="button" className="primary" onClick={() => navigate('/')}>
          {t('verify.toHome')}
        </button>
      </Card>
    );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void action.run();
  };
  return (
    <form className="card" onSubmit={submit} aria-label={t('nav.verify')}>
      <p>{t('verify.intro')}</p>
      <Field label={t('verify.realName')} name="real_name" value={realName} onChange={setRealName} required />
      <Field
        label={t('verify.residentId')}
        name="resident_id"
        value={residentId}
        onChange={setResidentId}
        required
        hint={t('verify.residentIdHint')}
      />
      <Select
        label={t('verify.accountClass')}
        name="account_class"
        value={accountClass}
        onChange={setAccountClass}
        options={(['I', 'II', 'III'] as const).map((c) => ({ value: c, label: t(`verify.class${c}`) }))}
      />
      <ErrorNotice error={action.error} />
      <button type="submit" className="primary" disabled={action.busy}>
        {t('verify.submit')}
      </button>
    </form>
  );
}
