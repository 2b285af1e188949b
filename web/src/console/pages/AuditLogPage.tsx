import { useCallback, useEffect, useRef, useState } from 'react';
import type { Page } from '../../shared/api.ts';
import { useI18n } from '../../shared/i18n.tsx';
import { Card, ErrorNotice, Loading, Select, useAction, useLoad } from '../../shared/ui.tsx';
import { useOperator } from '../session.tsx';

type ActorKind = 'operator' | 'merchant' | 'partner';

interface AuditEntry {
  id: string;
  occurred_at: string;
  actor_kind: ActorKind;
  actor_id: string;
  actor_name: string | null;
  method: string;
  route: string;
  path: string;
  resource_id: string | null;
  status: number;
  replayed: boolean;
  request_id: string;
}

/** Rows per request: a screen or two of a dense table; older ones come on demand. The e2e test knows it. */
const AUDIT_PAGE_SIZE = 25;

/**
 * The audit log (operators:admin): who changed what, newest first, refusals and replayed retries
 * included. A page at a time, filtered by the kind of actor.
 */
export function AuditLogPage() {
  const { t } = useI18n();
  const { api } = useOperator();
  const [kind, setKind] = useState<ActorKind | ''>('');
  const fetchPage = useCallback(
    (cursor: string | null) =>
      api.get<Page<AuditEntry>>(
        `/v1/operator/audit-log?limit=${AUDIT_PAGE_SIZE}${kind ? `&actor_kind=${kind}` : ''}${
          cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''
        }`,
      ),
    [api, kind],
  );
  const first = useLoad(() => fetchPage(null), [fetchPage]);
  const [more, setMore] = useState<{ items: AuditEntry[]; cursor: string | null }>();
  useEffect(() => setMore(undefined), [first.data]);
  // A page asked for under one filter must not be appended to the list of another.
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const cursor = more ? more.cursor : (first.data?.next_cursor ?? null);
  const loadMore = useAction(async () => {
    const asked = fetchPage;
    const page = await asked(cursor);
    if (fetchRef.current !== asked) return;
    setMore((m) => ({ items: [...(m?.items ?? []), ...page.items], cursor: page.next_cursor }));
  });
  const items = [...(first.data?.items ?? []), ...(more?.items ?? [])];
  return (
    <Card title={t('caudit.title')} className="wide">
      <p className="muted">{t('caudit.intro')}</p>
      <div className="inline-form">
        <Select
          label={t('caudit.actorKind')}
          name="actor_kind"
          value={kind}
          onChange={(v) => setKind(v as ActorKind | '')}
          options={[
            { value: '', label: t('caudit.kind.all') },
            { value: 'operator', label: t('caudit.kind.operator') },
            { value: 'merchant', label: t('caudit.kind.merchant') },
            { value: 'partner', label: t('caudit.kind.partner') },
          ]}
        />
      </div>
      {first.error ? (
        <ErrorNotice error={first.error} />
      ) : !first.data || first.loading ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">{t('caudit.none')}</p>
      ) : (
        <table data-testid="audit-log">
          <caption className="visually-hidden">{t('caudit.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('caudit.time')}</th>
              <th scope="col">{t('caudit.actor')}</th>
              <th scope="col">{t('caudit.action')}</th>
              <th scope="col">{t('caudit.resource')}</th>
              <th scope="col">{t('caudit.status')}</th>
              <th scope="col">{t('caudit.replayed')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.occurred_at).toLocaleString()}</td>
                <td>
                  {t(`caudit.kind.${e.actor_kind}`)}
                  {e.actor_name && <> · {e.actor_name}</>}
                  <br />
                  <code className="muted small">{e.actor_id}</code>
                </td>
                <td>
                  <code>
                    {e.method} {e.route}
                  </code>
                </td>
                <td>{e.resource_id ? <code className="small">{e.resource_id}</code> : '—'}</td>
                <td>
                  <span className={`status-pill ${e.status < 400 ? 'ok' : 'bad'}`}>{e.status}</span>
                </td>
                <td>{e.replayed ? t('caudit.yes') : t('caudit.no')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorNotice error={loadMore.error} />
      {cursor && first.data && !first.loading && (
        <button type="button" onClick={() => void loadMore.run()} disabled={loadMore.busy}>
          {t('caudit.more')}
        </button>
      )}
    </Card>
  );
}
