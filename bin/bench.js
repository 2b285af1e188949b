#!/usr/bin/env node
// `npm run bench -- NAME [--json]` runs bench/NAME.ts through tsx.
import { register } from 'tsx/esm/api';
import fs from 'node:fs';

const name = process.argv[2];
const available = fs
  .readdirSync(new URL('../bench/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [--json]`);
  process.exit(2);
}
register();
const bench = await import(`../bench/${name}.ts`);
await bench.main(process.argv.slice(3));
