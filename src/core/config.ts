import path from 'node:path';

/** Runtime configuration, read once from the environment by the composition root. */
export interface Config {
  port: number;
  host: string;
  /** PGlite data directory, used when no DATABASE_URL is given. */
  dataDir: string;
  databaseUrl: string | undefined;
  /** PostgreSQL schema to run in (search_path); lets tests and tenants share one database. */
  databaseSchema: string | undefined;
  redisUrl: string | undefined;
  logLevel: string;
  /** Seed demo data into an empty database on start. */
  demo: boolean;
  /** MILLET_PII_KEY: 32 bytes in base64 that encrypt personal data (a file in dataDir when unset). */
  piiKey: string | undefined;
  /**
   * MILLET_TRUST_PROXY: which proxies' X-Forwarded-For to believe for the client's address (the
   * log-in limiter and the flash sale's per-IP velocity key on it). false: the socket's peer.
   */
  trustProxy: boolean | number | string;
}

/**
 * "true" (every proxy: only when nothing else can reach the port), a number of hops, or a
 * comma-separated list of proxy addresses and CIDR ranges; unset or "false", none.
 */
export function parseTrustProxy(value: string | undefined): boolean | number | string {
  const text = value?.trim() ?? '';
  if (text === '' || text === 'false') return false;
  if (text === 'true') return true;
  if (/^[0-9]+$/.test(text)) return Number(text);
  const parts = text.split(',').map((part) => part.trim());
  if (parts.some((part) => !/^[0-9a-fA-F:.]+(\/[0-9]{1,3})?$/.test(part)))
    throw new Error(
      `MILLET_TRUST_PROXY must be true, a number of hops, or proxy addresses and CIDR ranges, got "${value}"`,
    );
  return parts.join(',');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, got "${env.PORT}"`);
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    dataDir: path.resolve(env.MILLET_DATA_DIR ?? './.millet'),
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.MILLET_DB_SCHEMA || undefined,
    redisUrl: env.REDIS_URL || undefined,
    logLevel: env.LOG_LEVEL ?? 'info',
    demo: (env.MILLET_DEMO ?? '1') !== '0',
    piiKey: env.MILLET_PII_KEY || undefined,
    trustProxy: parseTrustProxy(env.MILLET_TRUST_PROXY),
  };
}
