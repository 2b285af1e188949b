// Builds the web app into web/dist. Run by `npm run build:web`, by npm's `prepare` (so `npm ci`
// builds it) and before `npm start` when web/dist is missing (`--if-missing`).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/index.html', import.meta.url));
if (process.argv.includes('--if-missing') && fs.existsSync(dist)) process.exit(0);

// A production build whatever the caller's NODE_ENV (vitest sets "test", which would bundle
// React's development build).
process.env.NODE_ENV = 'production';

let vite;
try {
  vite = await import('vite');
} catch {
  // An install without devDependencies (npm ci --omit=dev) cannot build; the API still runs.
  console.warn('millet: vite is not installed, so the web app is not built (install devDependencies)');
  process.exit(0);
}
await vite.build({
  configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)),
  mode: 'production',
  logLevel: 'warn',
});
console.log('millet: built the web app into web/dist');
