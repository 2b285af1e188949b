import { Command, InvalidArgumentError } from 'commander';
import { scoreBands, startPartnerSim, type ScoreBand } from '../marketplace/index.ts';
import { generateWebhookSecret } from '../webhooks/index.ts';

function parseApproval(text: string): Partial<Record<ScoreBand, number>> {
  const out: Partial<Record<ScoreBand, number>> = {};
  for (const part of text.split(',')) {
    const [band, value] = part.split('=');
    const p = Number(value);
    if (!scoreBands.includes(band as ScoreBand) || !(p >= 0 && p <= 1))
      throw new InvalidArgumentError('use BAND=P pairs, e.g. A=0.9,B=0.7,C=0.4 (bands A–E, P in 0–1)');
    out[band as ScoreBand] = p;
  }
  return out;
}

function parseLatency(text: string): number | [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) throw new InvalidArgumentError('use MS or MIN-MAX, e.g. 50-600');
  return m[2] === undefined ? Number(m[1]) : [Number(m[1]), Number(m[2])];
}

/** `millet partner-sim`: the reference partner server, for development, the demo and the benchmark. */
export function partnerSimCommand(): Command {
  return new Command('partner-sim')
    .description('Run a reference partner lender that speaks the partner protocol (docs/partner-protocol.md)')
    .option('--port <port>', 'port on 127.0.0.1 (0 = any free port)', '4100')
    .option('--secret <whsec>', "the partner's signing secret (as registered in Millet); default a new one")
    .option(
      '--approval <bands>',
      'approval probability per score band, e.g. A=0.9,B=0.7,C=0.4',
      parseApproval,
    )
    .option('--latency <ms>', 'answer delay in ms, fixed or MIN-MAX', parseLatency, 0)
    .option('--interest-free-days <n>', 'promotion: N days interest free', (v) => Number(v))
    .option('--never-answer', 'take pings and never answer (a dead partner)')
    .option('--seed <n>', 'random seed for decisions and latency', (v) => Number(v), 1)
    .action(
      async (o: {
        port: string;
        secret?: string;
        approval?: Partial<Record<ScoreBand, number>>;
        latency: number | [number, number];
        interestFreeDays?: number;
        neverAnswer?: boolean;
        seed: number;
      }) => {
        const secret = o.secret ?? generateWebhookSecret();
        const sim = await startPartnerSim({
          port: Number(o.port),
          secret,
          approvalByBand: o.approval,
          latencyMs: o.latency,
          interestFreeDays: o.interestFreeDays,
          neverAnswer: o.neverAnswer,
          seed: o.seed,
        });
        process.stdout.write(
          `partner-sim listening on ${sim.url}\n` +
            (o.secret ? '' : `signing secret (register it in Millet): ${secret}\n`),
        );
        const stop = () => void sim.close().then(() => process.exit(0));
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      },
    );
}
