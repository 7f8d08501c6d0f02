// Runs in the enclave. Everything the enclave needs from the untrusted parent, as interfaces.
// Production implementations go over the wire (enclave/wire/); tests plug in loopback sockets and
// in-memory stores. Whatever comes back through a port is hostile input: callers bound and verify it.
import type { Duplex } from 'node:stream';

/** Opens an outbound byte stream to host:port through the parent's egress relay. */
export type Dial = (host: string, port: number, opts?: { signal?: AbortSignal }) => Promise<Duplex>;

/** A stored blob and the generation the parent's store assigned to it. */
export interface StoredBlob {
  readonly data: Uint8Array;
  readonly generation: bigint;
}

/**
 * The parent's blob store (COSIGNER_HOME/db). Names are short ASCII (`secrets.key`, `secrets.db`).
 * `put` is compare-and-swap on the generation the caller last saw (0n = must not exist) and
 * returns the new generation; the parent writes atomically and keeps backups.
 */
export interface BlobStore {
  get(name: string): Promise<StoredBlob | null>;
  put(name: string, data: Uint8Array, expectedGeneration: bigint): Promise<bigint>;
}

/** AWS credentials the parent took from IMDSv2 and hands to the enclave. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface CredentialSource {
  get(): Promise<AwsCredentials>;
}

/** A structured log record sent to the parent's log sink. Never holds a secret. */
export interface LogSink {
  write(line: string): void;
}

/** Injected time, so retry schedules and token expiry are testable. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** All the ports together, as enclave/main.ts hands them to the services. */
export interface EnclavePorts {
  readonly dial: Dial;
  readonly blobs: BlobStore;
  readonly credentials: CredentialSource;
  readonly logs: LogSink;
  readonly clock: Clock;
}
