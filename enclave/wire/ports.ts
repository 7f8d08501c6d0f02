// Runs in the enclave. EnclavePorts implemented over the wire: tunnels through the parent's relay,
// blobs and credentials by RPC to `cosigner.v1.Parent`, log lines batched to the parent. Whatever
// the parent answers is hostile: sizes and shapes are checked here before anyone uses them.
import type { Duplex } from 'node:stream';
import { CosignerError } from '../../proto/errors.ts';
import type { Peer } from '../../proto/runtime/peer.ts';
import { typedClient } from '../../proto/runtime/typed-service.ts';
import { systemClock, type AwsCredentials, type BlobStore, type Clock, type CredentialSource, type Dial, type EnclavePorts, type StoredBlob } from '../../proto/ports.ts';
import { WireLogSink, type WireLogSinkOptions } from './log-sink.ts';

/** Blob names the enclave may use: short, ASCII, no path separators. */
const BLOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Largest blob accepted back from the parent. Must stay below the frame limit. */
export const MAX_BLOB_BYTES = 768 * 1024;
const MAX_CRED_FIELD = 4096;
const U64_MAX = (1n << 64n) - 1n;

function checkName(name: string): void {
  if (typeof name !== 'string' || !BLOB_NAME.test(name)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'blob name must be 1-128 characters of [A-Za-z0-9._-]');
}

/** BlobStore over `cosigner.v1.Parent/BlobGet|BlobPut`. */
export function wireBlobStore(peer: Peer, opts: { deadlineMs?: number } = {}): BlobStore {
  const parent = typedClient(peer, 'cosigner.v1.Parent');
  const deadlineMs = opts.deadlineMs ?? 30_000;
  return {
    async get(name: string): Promise<StoredBlob | null> {
      checkName(name);
      const r = await parent.BlobGet({ name }, { deadlineMs });
      if (!r.found) return null;
      if (r.data.length > MAX_BLOB_BYTES) throw new CosignerError('ERR_LIMIT_EXCEEDED', `blob ${name} larger than ${MAX_BLOB_BYTES} bytes`);
      if (r.generation <= 0n) throw new CosignerError('ERR_STORAGE', `parent returned blob ${name} without a generation`);
      // Copy: the decoded bytes may share memory with a larger frame buffer.
      return { data: new Uint8Array(r.data), generation: r.generation };
    },
    async put(name: string, data: Uint8Array, expectedGeneration: bigint): Promise<bigint> {
      checkName(name);
      if (!(data instanceof Uint8Array) || data.length > MAX_BLOB_BYTES) throw new CosignerError('ERR_LIMIT_EXCEEDED', `blob must be a Uint8Array of at most ${MAX_BLOB_BYTES} bytes`);
      if (typeof expectedGeneration !== 'bigint' || expectedGeneration < 0n || expectedGeneration > U64_MAX) throw new CosignerError('ERR_INVALID_ARGUMENT', 'expectedGeneration must be a u64 bigint');
      const r = await parent.BlobPut({ name, data, expectedGeneration }, { deadlineMs });
      // A parent that does not move the generation forward is lying or broken: fail closed.
      if (r.generation <= expectedGeneration) throw new CosignerError('ERR_STORAGE', `parent returned generation ${r.generation} after ${expectedGeneration}`);
      return r.generation;
    },
  };
}

/** CredentialSource over `cosigner.v1.Parent/GetCredentials`. */
export function wireCredentials(peer: Peer, opts: { deadlineMs?: number } = {}): CredentialSource {
  const parent = typedClient(peer, 'cosigner.v1.Parent');
  return {
    async get(): Promise<AwsCredentials> {
      const r = await parent.GetCredentials({}, { deadlineMs: opts.deadlineMs ?? 15_000 });
      const ok = (s: unknown, min: number): s is string => typeof s === 'string' && s.length >= min && s.length <= MAX_CRED_FIELD;
      if (!ok(r.accessKeyId, 1) || !ok(r.secretAccessKey, 1) || !ok(r.sessionToken, 0)) {
        throw new CosignerError('ERR_CREDENTIALS', 'parent returned malformed credentials');
      }
      const creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date } = { accessKeyId: r.accessKeyId, secretAccessKey: r.secretAccessKey };
      if (r.sessionToken.length > 0) creds.sessionToken = r.sessionToken;
      if (r.expirationUnixMs > 0n) {
        if (r.expirationUnixMs > BigInt(8.64e15)) throw new CosignerError('ERR_CREDENTIALS', 'credential expiration out of range');
        creds.expiration = new Date(Number(r.expirationUnixMs));
      }
      return creds;
    },
  };
}

/** Dial over the wire: a tunnel through the parent's egress relay (TLS then runs inside the enclave). */
export function wireDial(peer: Peer): Dial {
  return (host: string, port: number, opts?: { signal?: AbortSignal }): Promise<Duplex> => peer.openTunnel(host, port, opts);
}

/**
 * All enclave ports over one wire connection. Logs are batched to the parent (see WireLogSink);
 * call `(ports.logs as WireLogSink).flush()` before a planned shutdown if the last lines matter.
 */
export function createWirePorts(peer: Peer, opts: { clock?: Clock; log?: WireLogSinkOptions } = {}): EnclavePorts {
  return {
    dial: wireDial(peer),
    blobs: wireBlobStore(peer),
    credentials: wireCredentials(peer),
    logs: new WireLogSink(peer, opts.log),
    clock: opts.clock ?? systemClock,
  };
}
