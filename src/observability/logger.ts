// Structured JSON logs. Anything that could hold a credential is redacted by
// path, so a careless `log.info({ req })` still never prints a token.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  'headers["x-forwarded-client-cert"]',
  'secret',
  '*.secret',
  'password',
  '*.password',
  'api_token',
  '*.api_token',
  'client_secret',
  '*.client_secret',
  'key',
  '*.key',
];

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const opts = { level, base: { service: 'authz-sidecar' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(opts, destination as pino.DestinationStream) : pino(opts);
}
