import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrations, type Migration } from '../db/index.ts';

export const apiMigrations: Migration[] = loadMigrations(
  'api',
  path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations'),
);
