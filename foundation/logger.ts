// Logger factory: pino with key material and decrypted bodies redacted by
// configuration, so a careless `log.info({ req })` cannot leak them.
import { pino, type Logger, type LoggerOptions } from 'pino';

/** Field names that never reach a log line, at any of the first few depths. */
export const REDACTED_FIELDS = [
  'privateKey', 'private_key', 'privateKeyPem', 'key', 'keys', 'cek', 'dataKey', 'data_key', 'data_key_b64',
  'dataKeyB64', 'passphrase', 'password', 'secret', 'token', 'authorization', 'plaintext', 'body', 'kek',
  'sessionKey', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'k',
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const f of REDACTED_FIELDS) {
    paths.push(f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`);
  }
  paths.push('req.headers.authorization', 'req.headers.cookie');
  return paths;
}

export type { Logger };

export interface LoggerFactoryOptions {
  level?: string;
  /** A pino destination; defaults to stdout. Tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream;
  base?: Record<string, unknown>;
}

export function createLogger(name: string, opts: LoggerFactoryOptions = {}): Logger {
  const options: LoggerOptions = {
    name,
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...opts.base },
    redact: { paths: redactPaths(), censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options);
}

/** A logger that drops everything (for libraries used without a host logger). */
export const silentLogger: Logger = pino({ level: 'silent' });
