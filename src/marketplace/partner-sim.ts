/**
 * The reference partner server (`millet partner-sim`): a lender or card issuer that speaks the
 * partner protocol for development, tests, the demo and the benchmark. Configurable latency,
 * approval probability per score band, a partner that never answers, and a way to make its monthly
 * report disagree with the platform. Several run at once on different ports (port 0 = any free).
 */
import http from 'node:http';
import {
  newMessageId,
  pingRequestSchema,
  postRequestSchema,
  reportRequestSchema,
  signatureHeaders,
  verifySignature,
  type PartnerCallback,
  type PartnerReport,
  type PingResponse,
  type PostResponse,
  type PartnerReportRow,
  type PingRequest,
  type PostRequest,
} from './protocol.ts';
import { seededRandom } from './ranking.ts';
import type { ScoreBand } from './types.ts';
import { webhookSigningKey } from '../webhooks/index.ts';

export interface PartnerSimOptions {
  secret: string;
  port?: number;
  host?: string;
  name?: string;
  /** Fixed, or uniform in [min, max]. */
  latencyMs?: number | readonly [number, number];
  /** Take pings and never answer them (a dead partner). */
  neverAnswer?: boolean;
  /** P(approve) per band; bands missing get no offer. */
  approvalByBand?: Partial<Record<ScoreBand, number>>;
  aprBpByBand?: Partial<Record<ScoreBand, number>>;
  interestFreeDays?: number;
  maxAmount?: bigint;
  /** How long after a post the decision callback goes out. */
  decisionDelayMs?: number;
  /** Send `disbursed` right after `approved` (default true). */
  disburse?: boolean;
  seed?: number;
  /** The partner's clock for its report months (tests pass the platform's business clock). */
  now?: () => Date;
  /** Answer the first N posts with 503 (a partner having trouble). */
  failPosts?: number;
  /** Rewrites the monthly report, to inject a discrepancy. */
  tamperReport?: (rows: PartnerReportRow[]) => PartnerReportRow[];
  /** Keep every ping and post in `received` (default true; a long benchmark turns it off). */
  record?: boolean;
}

interface Booked {
  applicationId: string;
  callbackUrl: string;
  events: Array<{ type: PartnerCallback['type']; amount: bigint; interest: bigint; at: Date }>;
}

export interface PartnerSim {
  readonly url: string;
  readonly port: number;
  /** Every ping and post received, as parsed JSON (what the partner could see). */
  readonly received: { pings: PingRequest[]; posts: PostRequest[]; rawPosts: string[] };
  /** Callbacks sent and the status Millet answered. */
  readonly callbacks: Array<{ body: PartnerCallback; status: number }>;
  /** Sends a `repaid` callback for an application this partner disbursed. */
  repay(applicationId: string, amount: bigint, interest: bigint): Promise<number>;
  /** Resolves when no callback is in flight. */
  idle(): Promise<void>;
  /** TCP connections accepted so far (keep-alive reuse shows as few). */
  connections(): number;
  close(): Promise<void>;
}

export const defaultApproval: Record<ScoreBand, number> = { A: 0.9, B: 0.75, C: 0.5, D: 0.3, E: 0.1 };
// Within the 24% APR cap (2400 bp): Millet drops any offer above it, so the demo's offers are lawful.
const defaultApr: Record<ScoreBand, number> = { A: 720, B: 1080, C: 1500, D: 2400, E: 2400 };

export async function startPartnerSim(options: PartnerSimOptions): Promise<PartnerSim> {
  const random = seededRandom(options.seed ?? 1);
  const approval = options.approvalByBand ?? defaultApproval;
  const apr = { ...defaultApr, ...options.aprBpByBand };
  const now = options.now ?? (() => new Date());
  const received: PartnerSim['received'] = { pings: [], posts: [], rawPosts: [] };
  const callbacks: PartnerSim['callbacks'] = [];
  const booked = new Map<string, Booked>();
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;
  let failedPosts = 0;

  const key = webhookSigningKey(options.secret);
  const record = options.record !== false;
  let offerSeq = 0;
  const latency = () => {
    const l = options.latencyMs ?? 0;
    return typeof l === 'number' ? l : l[0] + random() * (l[1] - l[0]);
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const verified = (headers: http.IncomingHttpHeaders, raw: string): boolean => {
    try {
      verifySignature(key, headers as Record<string, string>, raw);
      return true;
    } catch {
      return false;
    }
  };
  const parseJson = (raw: string): unknown => {
    try {
      return JSON.parse(raw);
    } catch {
      return undefined;
    }
  };

  const send = async (booking: Booked, body: PartnerCallback): Promise<number> => {
    const text = JSON.stringify(body);
    let status = 0;
    // One message, one id: Millet deduplicates on it, so a retry after a lost answer must repeat it
    // (a new id would count the event twice). Each attempt is signed afresh for the replay window.
    const messageId = newMessageId();
    for (let attempt = 0; attempt < 3 && !closed; attempt++) {
      const headers = signatureHeaders(options.secret, text, new Date(), messageId);
      try {
        const response = await fetch(booking.callbackUrl, {
          method: 'POST',
          body: text,
          headers: {
            'content-type': 'application/json',
            'idempotency-key': headers['webhook-id']!,
            ...headers,
          },
          signal: AbortSignal.timeout(5_000),
        });
        status = response.status;
        await response.arrayBuffer();
        if (status < 500) break;
      } catch {
        status = 0;
      }
      await sleep(50 * (attempt + 1));
    }
    callbacks.push({ body, status });
    return status;
  };
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    return work;
  };
  const event = (booking: Booked, type: PartnerCallback['type'], amount: bigint, interest = 0n) => {
    booking.events.push({ type, amount, interest, at: now() });
    return send(booking, {
      type,
      application_id: booking.applicationId,
      partner_ref: `ref_${booking.applicationId.slice(0, 8)}`,
      ...(type === 'declined' ? {} : { amount: amount.toString() }),
      ...(type === 'repaid' ? { interest: interest.toString() } : {}),
      occurred_at: now().toISOString(),
    });
  };

  type Answer = { status: number; body: unknown } | null;
  const refuse = (status: number, error: string): Answer => ({ status, body: { error } });

  /** A ping: no personal data in, indicative offers out after the configured latency. */
  const onPing = async (raw: string, headers: http.IncomingHttpHeaders): Promise<Answer> => {
    if (!verified(headers, raw)) return refuse(401, 'bad signature');
    const ping = pingRequestSchema.safeParse(parseJson(raw));
    if (!ping.success) return refuse(400, 'bad ping');
    if (record) received.pings.push(ping.data);
    if (options.neverAnswer) return null;
    await sleep(latency());
    const band = ping.data.score_band;
    if (approval[band] === undefined) return { status: 200, body: { offers: [] } };
    const asked = BigInt(ping.data.amount);
    const amount = options.maxAmount !== undefined && asked > options.maxAmount ? options.maxAmount : asked;
    offerSeq += 1;
    const body: PingResponse = {
      offers: [
        {
          // Unique per sim; the platform keeps it with the offer and sends it back in the post.
          offer_ref: `off_${port}_${offerSeq}`,
          amount: amount.toString(),
          apr_bp: apr[band],
          term_months: ping.data.term_months,
          promotions: options.interestFreeDays
            ? [{ kind: 'interest_free_days', days: options.interestFreeDays }]
            : [],
        },
      ],
    };
    return { status: 200, body };
  };

  const onPost = (raw: string, headers: http.IncomingHttpHeaders): Answer => {
    if (!verified(headers, raw)) return refuse(401, 'bad signature');
    const post = postRequestSchema.safeParse(parseJson(raw));
    if (!post.success) return refuse(400, 'bad post');
    received.posts.push(post.data);
    received.rawPosts.push(raw);
    if (failedPosts < (options.failPosts ?? 0)) {
      failedPosts += 1;
      return refuse(503, 'try again later');
    }
    const booking: Booked = {
      applicationId: post.data.application_id,
      callbackUrl: post.data.callback_url,
      events: [],
    };
    booked.set(booking.applicationId, booking);
    const approve = random() < (approval[post.data.score_band] ?? 0);
    const amount = BigInt(post.data.amount);
    void track(
      (async () => {
        await sleep(options.decisionDelayMs ?? 5);
        if (!approve) return event(booking, 'declined', 0n);
        const status = await event(booking, 'approved', amount);
        if (status < 300 && options.disburse !== false) await event(booking, 'disbursed', amount);
      })(),
    );
    const body: PostResponse = {
      status: 'received',
      partner_ref: `ref_${booking.applicationId.slice(0, 8)}`,
    };
    return { status: 200, body };
  };

  const onReport = (raw: string, headers: http.IncomingHttpHeaders): Answer => {
    if (!verified(headers, raw)) return refuse(401, 'bad signature');
    const asked = reportRequestSchema.safeParse(parseJson(raw));
    if (!asked.success) return refuse(400, 'bad report request');
    const { month } = asked.data;
    const monthOf = (d: Date) => new Date(d.getTime() + 8 * 3_600_000).toISOString().slice(0, 7);
    let rows: PartnerReportRow[] = [];
    for (const b of booked.values()) {
      const events = b.events.filter((e) => monthOf(e.at) === month);
      if (events.length === 0) continue;
      rows.push({
        application_id: b.applicationId,
        approved: events.some((e) => e.type === 'approved'),
        disbursed_amount: events
          .filter((e) => e.type === 'disbursed')
          .reduce((s, e) => s + e.amount, 0n)
          .toString(),
        repaid_interest: events
          .filter((e) => e.type === 'repaid')
          .reduce((s, e) => s + e.interest, 0n)
          .toString(),
      });
    }
    rows.sort((a, b) => (a.application_id < b.application_id ? -1 : 1));
    if (options.tamperReport) rows = options.tamperReport(rows);
    const body: PartnerReport = { month, rows };
    return { status: 200, body };
  };

  const routes: Record<string, (raw: string, headers: http.IncomingHttpHeaders) => Answer | Promise<Answer>> =
    { '/ping': onPing, '/post': onPost, '/report': onReport };

  // Plain node:http rather than Fastify: the benchmark's sims answer over ten thousand pings a
  // second beside the router on the same two cores, and a framework's per-request work shows there.
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    const route = req.method === 'POST' ? routes[req.url ?? ''] : undefined;
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      raw += chunk;
    });
    req.on('end', () => {
      if (!route) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
        return;
      }
      void Promise.resolve(route(raw, req.headers)).then(
        (answer) => {
          if (!answer) return; // never answers
          const text = JSON.stringify(answer.body);
          res.writeHead(answer.status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
          });
          res.end(text);
        },
        () => res.writeHead(500).end(),
      );
    });
  });

  let accepted = 0;
  server.on('connection', () => {
    accepted += 1;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    received,
    callbacks,
    repay: (applicationId, amount, interest) => {
      const booking = booked.get(applicationId);
      if (!booking) throw new Error(`partner-sim: no application ${applicationId}`);
      return track(event(booking, 'repaid', amount, interest));
    },
    connections: () => accepted,
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    async close() {
      closed = true;
      const stopped = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await stopped;
    },
  };
}
