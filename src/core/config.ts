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
  /**
   * MILLET_WEBHOOKS_ALLOW_LOOPBACK: whether webhooks may go to this machine's loopback (127.0.0.1,
   * [::1], localhost), plain http included. Unset here: {@link webhooksAllowLoopback} decides.
   */
  webhooksAllowLoopback?: boolean | undefined;
  /**
   * MILLET_SMS_SANDBOX_CODES: whether POST /v1/phone-verifications answers with the code it sent
   * (`sandbox_code`). Unset here: {@link smsSandboxCodes} decides.
   */
  smsSandboxCodes?: boolean | undefined;
}

/**
 * Whether webhooks may be delivered to this machine's loopback: MILLET_WEBHOOKS_ALLOW_LOOPBACK
 * when set, otherwise only for the embedded demo (no DATABASE_URL and MILLET_DEMO not 0), which a
 * developer runs next to their own test receiver. Any deployment on PostgreSQL refuses it unless
 * the variable says 1: any merchant could otherwise make the server POST to its own ports.
 */
export function webhooksAllowLoopback(
  config: Pick<Config, 'databaseUrl' | 'demo' | 'webhooksAllowLoopback'>,
): boolean {
  return config.webhooksAllowLoopback ?? (config.databaseUrl === undefined && config.demo);
}

/**
 * Whether sign-up codes come back in the API's answer: MILLET_SMS_SANDBOX_CODES when set, otherwise
 * only for the embedded demo (no DATABASE_URL and MILLET_DEMO not 0), where no SMS gateway exists and
 * the web app shows the code. Anywhere else it would let anyone sign up any phone number.
 */
export function smsSandboxCodes(config: Pick<Config, 'databaseUrl' | 'demo' | 'smsSandboxCodes'>): boolean {
  return config.smsSandboxCodes ?? (config.databaseUrl === undefined && config.demo);
}

/** "1"/"true" or "0"/"false"; unset or empty, undefined. */
function parseSwitch(name: string, value: string | undefined): boolean | undefined {
  const text = value?.trim().toLowerCase() ?? '';
  if (text === '') return undefined;
  if (text === '1' || text === 'true') return true;
  if (text === '0' || text === 'false') return false;
  throw new Error(`${name} must be 1 or 0, got "${value}"`);
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
  // A setting left blank (`PORT= npm start`, an empty line in an env file) is unset, not ''. Read
  // as given, a blank PORT was port 0 (any free port) and a blank MILLET_DATA_DIR the working
  // directory.
  const setting = (name: string) => (env[name]?.trim() ? env[name] : undefined);
  const port = Number(setting('PORT') ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, got "${env.PORT}"`);
  return {
    port,
    host: setting('HOST') ?? '0.0.0.0',
    dataDir: path.resolve(setting('MILLET_DATA_DIR') ?? './.millet'),
    databaseUrl: env.DATABASE_URL || undefined,
    databaseSchema: env.MILLET_DB_SCHEMA || undefined,
    redisUrl: env.REDIS_URL || undefined,
    logLevel: setting('LOG_LEVEL') ?? 'info',
    demo: (setting('MILLET_DEMO') ?? '1') !== '0',
    piiKey: env.MILLET_PII_KEY || undefined,
    trustProxy: parseTrustProxy(env.MILLET_TRUST_PROXY),
    webhooksAllowLoopback: parseSwitch('MILLET_WEBHOOKS_ALLOW_LOOPBACK', env.MILLET_WEBHOOKS_ALLOW_LOOPBACK),
    smsSandboxCodes: parseSwitch('MILLET_SMS_SANDBOX_CODES', env.MILLET_SMS_SANDBOX_CODES),
  };
}
