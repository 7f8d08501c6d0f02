// Runs in the enclave. Opening one coordinator connection (moved out of client.ts): the TLS tunnel
// through the parent's Dial, the authenticated handshake, then the attested-link step; nothing is
// routed to the co-signer before the coordinator has checked the attestation document.
import type { KeyObject } from 'node:crypto';
import { toCosignerError } from '../../proto/errors.ts';
import type { Dial } from '../../proto/ports.ts';
import { attestLink } from '../../proto/coordinator/attest-link.ts';
import { FramedSocket, PeerConnection } from '../../proto/coordinator/connection.ts';
import { clientHandshake } from '../../proto/coordinator/handshake.ts';
import { openTlsTunnel } from '../wire/tls-tunnel.ts';

export interface ConnectParams {
  readonly dial: Dial;
  readonly host: string;
  readonly port: number;
  readonly ca: string | readonly string[] | undefined;
  readonly signal: AbortSignal;
  readonly handshakeTimeoutMs: number;
  readonly requestTimeoutMs: number | undefined;
  /** The sealed DB generation the hello states (undefined: none). */
  readonly generation: bigint | undefined;
  readonly authKey: KeyObject;
  readonly authPublicKey: KeyObject;
  readonly cosignerId: string;
  readonly coordinatorKey: KeyObject;
  readonly attest: (nonce: Uint8Array) => Promise<Uint8Array>;
  readonly handler: (type: string, body: unknown, id: string) => Promise<unknown>;
}

/** One authenticated, attested coordinator connection. */
export async function connectCoordinator(p: ConnectParams): Promise<PeerConnection> {
  // A dial failure propagates as the port reported it; the client maps untyped ones to ERR_COORDINATOR_UNAVAILABLE.
  const socket = await openTlsTunnel({
    dial: p.dial,
    host: p.host,
    port: p.port,
    ca: p.ca,
    timeoutMs: p.handshakeTimeoutMs,
    signal: p.signal,
    codes: { timeout: 'ERR_TIMEOUT', tls: 'ERR_COORDINATOR_UNAVAILABLE' },
    peerName: 'the coordinator',
  });
  const framed = new FramedSocket(socket);
  let serverNonce = '';
  try {
    const channel = await clientHandshake(framed, {
      onWelcome: (n) => (serverNonce = n),
      ...(p.generation !== undefined ? { generation: Number(p.generation) } : {}),
      authKey: p.authKey,
      authPublicKey: p.authPublicKey,
      cosignerId: p.cosignerId,
      coordinatorKey: p.coordinatorKey,
      timeoutMs: p.handshakeTimeoutMs,
    });
    const conn = new PeerConnection({ framed, channel, handler: p.handler, ...(p.requestTimeoutMs ? { requestTimeoutMs: p.requestTimeoutMs } : {}) });
    // Attested identity: nothing is routed to us before the coordinator has checked the document.
    await attestLink(conn, p.attest, serverNonce, p.handshakeTimeoutMs);
    return conn;
  } catch (err) {
    framed.fail(toCosignerError(err, 'ERR_COORDINATOR_AUTH'));
    throw err;
  }
}
