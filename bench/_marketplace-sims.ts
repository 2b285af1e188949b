/**
 * Child process of `npm run bench -- marketplace`: runs N partner-sims with latency uniform in
 * [min, max] ms plus one that never answers, all on 127.0.0.1 port 0, and prints their URLs as one
 * JSON line. In its own process so the sims' CPU does not sit on the router's event loop.
 */
import { startPartnerSim, type PartnerSim } from '../src/marketplace/index.ts';

const [count, min, max, secret] = [
  Number(process.argv[2]),
  Number(process.argv[3]),
  Number(process.argv[4]),
  process.argv[5]!,
];
const sims: PartnerSim[] = [];
for (let i = 0; i < count; i++)
  sims.push(
    await startPartnerSim({ secret, latencyMs: [min, max], seed: i + 1, name: `sim-${i}`, record: false }),
  );
sims.push(await startPartnerSim({ secret, neverAnswer: true, name: 'silent', record: false }));
process.stdout.write(`${JSON.stringify(sims.map((s) => s.url))}\n`);
process.on('SIGTERM', () => void Promise.all(sims.map((s) => s.close())).then(() => process.exit(0)));
