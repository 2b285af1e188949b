import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MilletError } from '../core/index.ts';

/**
 * PGlite is a single-process database: two processes writing one data directory corrupt it. The
 * lock file records the owner's pid and host; a second opener gets DATABASE_LOCKED, while a lock left
 * by a process that no longer runs (kill -9) is taken over.
 */
export interface DirectoryLock {
  readonly path: string;
  release(): void;
}

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(lockPath: string): LockOwner | undefined {
  try {
    return JSON.parse(fs.readFileSync(lockPath, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

export function acquireDirectoryLock(dataDir: string): DirectoryLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, 'millet.lock');
  const me: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockPath, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      let released = false;
      return {
        path: lockPath,
        release() {
          if (released) return;
          released = true;
          if (readOwner(lockPath)?.pid === me.pid) fs.rmSync(lockPath, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(lockPath);
      const stale = owner !== undefined && owner.host === me.host && !processIsAlive(owner.pid);
      if (!stale || attempt > 0) {
        throw new MilletError(
          'DATABASE_LOCKED',
          `The data directory ${dataDir} is in use by another Millet process` +
            (owner ? ` (pid ${owner.pid} on ${owner.host} since ${owner.since})` : '') +
            '. Stop it first, or point MILLET_DATA_DIR elsewhere; to share one database between processes use DATABASE_URL.',
          { lockPath },
        );
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new Error('unreachable');
}
