import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrations, type Migration } from '../db/index.ts';

export const riskMigrations: Migration[] = loadMigrations(
  'risk',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);
export {
  createRiskGuard,
  defaultRiskPolicy,
  normaliseAddress,
  riskReasons,
  type RiskAction,
  type RiskDecision,
  type RiskGuard,
  type RiskPolicy,
  type RiskReason,
  type RiskSignals,
} from './risk-guard.ts';
export { Blacklist, type BlacklistEntry } from './blacklist.ts';
