import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Paths whose values never reach the log: secrets, tokens, signatures. */
export const REDACT_PATHS = [
  'secret',
  '*.secret',
  'token',
  '*.token',
  'signature',
  '*.signature',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["webhook-signature"]',
  'headers["x-slack-signature"]',
  'headers.cookie',
  'grant',
  '*.grant',
];

/** The product's logger: JSON lines, secrets redacted. */
export function createLogger(level: string = 'info', options: LoggerOptions = {}): Logger {
  return pino({
    level,
    base: { service: 'countersign' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options,
  });
}
