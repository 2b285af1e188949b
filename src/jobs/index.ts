import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrations, type Migration } from '../db/index.ts';

export { startJobs, type Job, type JobsOptions, type RunningJobs } from './scheduler.ts';
export {
  createEndOfDayClose,
  type CloseOptions,
  type CloseProgress,
  type CloseRunView,
  type CloseStep,
  type CloseStepContext,
  type EndOfDayClose,
  MAX_CLOSE_DAYS,
} from './end-of-day-close.ts';
export { addDays, endOfBusinessDate, isBusinessDate } from './business-dates.ts';

export const jobsMigrations: Migration[] = loadMigrations(
  'jobs',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);
