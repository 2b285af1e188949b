import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const PII_KEY_FILE = 'pii-key';

/** MILLET_PII_KEY: 32 bytes in base64 (or base64url). */
export function decodePiiKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32)
    throw new Error(
      `MILLET_PII_KEY must be 32 bytes in base64 (openssl rand -base64 32); got ${key.length} bytes`,
    );
  return key;
}

export interface ResolvedPiiKey {
  key: Buffer;
  /** env: MILLET_PII_KEY; file: the key kept in the data directory (generated on first start). */
  source: 'env' | 'file';
  /** The file the key was read from or generated into. */
  file: string | undefined;
  generated: boolean;
}

/**
 * The PII master key: MILLET_PII_KEY when set. Otherwise a key kept beside the embedded database
 * (`<dataDir>/pii-key`, owner-only), generated on first start, so a local start needs no setup.
 * Production on PostgreSQL should set MILLET_PII_KEY (the composition root warns when it does not):
 * every process must share the key, and losing it loses every encrypted field.
 */
export function resolvePiiKey(options: { envKey: string | undefined; dataDir: string }): ResolvedPiiKey {
  if (options.envKey)
    return { key: decodePiiKey(options.envKey), source: 'env', file: undefined, generated: false };
  const file = path.join(options.dataDir, PII_KEY_FILE);
  const existing = () => ({
    key: decodePiiKey(fs.readFileSync(file, 'utf8')),
    source: 'file' as const,
    file,
    generated: false,
  });
  if (fs.existsSync(file)) return existing();
  fs.mkdirSync(options.dataDir, { recursive: true });
  const key = randomBytes(32);
  // wx: two processes racing here cannot both write; the loser reads the winner's key.
  try {
    fs.writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return existing();
    throw error;
  }
  fs.chmodSync(file, 0o600);
  return { key, source: 'file', file, generated: true };
}
