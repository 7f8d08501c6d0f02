// Runs in the enclave. pino logger whose records go over the wire to the parent's log sink (the
// enclave has no disk). Redaction is belt and braces: code never passes secrets to the logger, and
// these paths are censored should one slip into a logged object (DESIGN invariant 8).
import pino, { type Logger } from 'pino';
import type { LogSink } from '../../proto/ports.ts';

/** Field names that must never reach a log line, wherever they appear (two levels deep). */
export const REDACTED_KEYS = [
  'secretShare',
  'approvalKeyPkcs8',
  'callbackSigningKeyPkcs8',
  'coordinatorAuthKeyPkcs8',
  'secretAccessKey',
  'sessionToken',
  'plaintext',
  'Plaintext',
  'secretsKey',
  'privateKey',
  'nonces',
  'token',
  'pairingToken',
  'jws',
  'authorization',
] as const;

const paths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

/** A pino logger writing JSON lines to `sink`, tagged `side: 'enclave'`. */
export function createEnclaveLogger(sink: LogSink, opts: { level?: string; buildId?: string } = {}): Logger {
  const stream = { write: (line: string): void => sink.write(line) };
  return pino(
    {
      level: opts.level ?? 'info',
      base: { side: 'enclave', ...(opts.buildId ? { buildId: opts.buildId } : {}) },
      redact: { paths, censor: '[redacted]' },
      messageKey: 'msg',
    },
    stream,
  );
}
