import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PII_KEY_FILE, decodePiiKey, resolvePiiKey } from './pii-key.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the PII key', () => {
  it('comes from MILLET_PII_KEY when set', () => {
    const key = randomBytes(32);
    const resolved = resolvePiiKey({ envKey: key.toString('base64'), dataDir: '/nonexistent' });
    expect(resolved).toMatchObject({ source: 'env', generated: false });
    expect(resolved.key.equals(key)).toBe(true);
    expect(() => decodePiiKey(randomBytes(16).toString('base64'))).toThrow(/32 bytes/);
  });

  it('is generated once into the data directory, owner-only, and read back after', () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'millet-pii-')), 'data');
    dirs.push(path.dirname(dataDir));
    const first = resolvePiiKey({ envKey: undefined, dataDir });
    expect(first).toMatchObject({ source: 'file', generated: true, file: path.join(dataDir, PII_KEY_FILE) });
    expect(fs.statSync(first.file!).mode & 0o777).toBe(0o600);
    const second = resolvePiiKey({ envKey: undefined, dataDir });
    expect(second.generated).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
  });
});
