// Runs on the parent. Serves `cosigner.v1.Parent` (what the enclave needs from outside: blobs,
// credentials, log sink) and plugs the egress relay into the peer's tunnel handler. The enclave is
// trusted but the wire is bounded anyway: names and sizes are checked before touching the disk.
import type { Duplex } from 'node:stream';
import { CosignerError } from '../../proto/errors.ts';
import type { Peer } from '../../proto/runtime/peer.ts';
import { serveTyped } from '../../proto/runtime/typed-service.ts';
import type { BlobStore, CredentialSource } from '../../proto/ports.ts';

/** What the parent provides to the enclave. */
export interface EnclavePortDeps {
  blobs: BlobStore;
  credentials: CredentialSource;
  /** Opens the TCP connection for a tunnel, or throws ERR_EGRESS_DENIED / ERR_EGRESS_FAILED. */
  relay: (host: string, port: number) => Promise<Duplex>;
  /** One enclave log line (a pino JSON record). */
  onLog: (line: string) => void;
}

const BLOB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_LOG_LINE = 16 * 1024;
const MAX_LOG_LINES = 1024;

/** Registers the Parent service and the tunnel handler on `peer`. */
export function serveEnclavePorts(peer: Peer, deps: EnclavePortDeps): void {
  const checkName = (name: unknown): string => {
    if (typeof name !== 'string' || !BLOB_NAME.test(name)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'invalid blob name');
    return name;
  };
  serveTyped(peer, 'cosigner.v1.Parent', {
    async BlobGet(req) {
      const b = await deps.blobs.get(checkName(req.name));
      if (!b) return { found: false, data: new Uint8Array(0), generation: 0n };
      return { found: true, data: b.data, generation: b.generation };
    },
    async BlobPut(req) {
      const generation = await deps.blobs.put(checkName(req.name), req.data, req.expectedGeneration);
      return { generation };
    },
    async GetCredentials() {
      const c = await deps.credentials.get();
      return {
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        sessionToken: c.sessionToken ?? '',
        expirationUnixMs: c.expiration ? BigInt(c.expiration.getTime()) : 0n,
      };
    },
    async Log(req) {
      if (req.lines.length > MAX_LOG_LINES) throw new CosignerError('ERR_LIMIT_EXCEEDED', `at most ${MAX_LOG_LINES} log lines per batch`);
      if (req.dropped > 0) deps.onLog(JSON.stringify({ level: 40, msg: 'enclave dropped log lines', dropped: req.dropped, component: 'wire' }));
      for (const line of req.lines) deps.onLog(line.length > MAX_LOG_LINE ? line.slice(0, MAX_LOG_LINE) : line);
      return {};
    },
  });
  peer.onTunnel((host, port) => deps.relay(host, port));
}
