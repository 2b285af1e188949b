import pino, { type DestinationStream, type Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  /** Where the JSON lines go; stdout by default. Tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/**
 * Paths never written to logs. Fastify's request serializer leaves headers out, but a handler
 * logging `request.headers` must not leak an operator key either.
 */
export const redactedLogPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'req.headers["x-device-token"]',
  'headers["x-device-token"]',
  'authorization',
  'plaintext',
];

/** The process's structured logger (pino JSON lines), shared by Fastify and the other modules. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'millet' },
      redact: { paths: redactedLogPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
