// Enclave side. Accepts parent connections on the wire URL. AF_VSOCK has no permissions: any process
// on the parent instance can connect, and the handshake proves nothing about who is calling. So the
// listener never lets a connection displace the link that is serving: while one connection that
// completed the handshake is alive, every new one is refused with goaway ERR_LINK_BUSY before a byte
// of it is parsed. Connections still in the handshake are few (maxPending) and each may make us hold
// at most HANDSHAKE_MAX_FRAME_BYTES (framing.ts) until handshakeTimeoutMs; the excess is closed at
// once. docs/wire.md ("One parent at a time") states the limits.
import type net from 'node:net';
import pino from 'pino';
import { CosignerError, toCosignerError } from '../errors.ts';
import { listenTransport } from '../transport/index.ts';
import { encodeFrame } from './framing.ts';
import type { PeerOptions } from './options.ts';
import type { Peer } from './peer.ts';
import { toWireError } from './wire-error.ts';

/** Default number of connections that may be in the handshake at once. */
export const DEFAULT_MAX_PENDING = 8;
/** A refused socket that does not take our goaway within this long is destroyed regardless. */
const REFUSE_LINGER_MS = 250;

export interface LinkListenOptions {
  /** Serve one connection at a time: refuse new ones while a handshaken one is alive. Default true. */
  exclusive?: boolean;
  /** Connections accepted but not yet through the handshake; beyond, new ones are closed at once. Default 8. */
  maxPending?: number;
}

/** What the listener holds now, and what it refused so far. */
export interface LinkStats {
  /** Connections accepted and still in the handshake. */
  pending: number;
  /** Bytes those connections make us hold (partial frames in their decoders). */
  pendingBytes: number;
  /** A connection completed the handshake and is being served. */
  active: boolean;
  /** Connections refused because a link was active (ERR_LINK_BUSY). */
  refusedBusy: number;
  /** Connections closed because maxPending were already in the handshake (ERR_BUSY). */
  refusedPending: number;
}

/** A listening wire endpoint. */
export interface LinkListener {
  readonly address: string;
  stats(): LinkStats;
  close(): Promise<void>;
}

/**
 * Tells a connection we will not serve why (goaway with `err` as its first frame, so the dialler's
 * Peer.connect rejects with that code), then closes it. Nothing it sent is read.
 */
function refuseSocket(sock: net.Socket, err: CosignerError): void {
  sock.on('error', () => undefined);
  sock.pause();
  const timer = setTimeout(() => sock.destroy(), REFUSE_LINGER_MS);
  timer.unref?.();
  sock.end(encodeFrame({ streamId: 0, goaway: { error: toWireError(err) } }), () => {
    clearTimeout(timer);
    sock.destroy();
  });
}

/**
 * Listens on `url`; every connection that completes the handshake, and that the limits let in, is
 * handed to `onPeer`. Connections that fail the handshake are logged and dropped. `create` wraps an
 * accepted socket in a Peer.
 */
export async function listenLink(url: string, opts: PeerOptions, onPeer: (p: Peer) => void, create: (sock: net.Socket) => Peer, limits: LinkListenOptions = {}): Promise<LinkListener> {
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'wire', side: opts.role });
  const exclusive = limits.exclusive ?? true;
  const maxPending = limits.maxPending ?? DEFAULT_MAX_PENDING;
  if (!Number.isInteger(maxPending) || maxPending < 1) throw new CosignerError('ERR_CONFIG_INVALID', 'maxPending must be an integer ≥ 1');
  const peers = new Set<Peer>();
  const pending = new Set<Peer>();
  let active: Peer | null = null;
  const counts = { refusedBusy: 0, refusedPending: 0 };

  // Refusals are logged at 1, 2, 4, 8, ...: a flood must not flood the log (it travels to the parent).
  const noteRefusal = (kind: keyof typeof counts, code: string): void => {
    const n = ++counts[kind];
    if ((n & (n - 1)) === 0) log.warn({ code, refused: n }, 'refused a parent connection');
  };

  const admit = (peer: Peer): void => {
    pending.delete(peer);
    if (peer.isClosed) return;
    if (exclusive && active) {
      // Another connection finished its handshake first: it keeps the link.
      noteRefusal('refusedBusy', 'ERR_LINK_BUSY');
      peer.terminate(new CosignerError('ERR_LINK_BUSY', 'another parent connection is being served'));
      return;
    }
    if (exclusive) active = peer;
    onPeer(peer);
  };

  const listener = await listenTransport(url, (sock) => {
    if (exclusive && active) {
      noteRefusal('refusedBusy', 'ERR_LINK_BUSY');
      return refuseSocket(sock, new CosignerError('ERR_LINK_BUSY', 'another parent connection is being served'));
    }
    if (pending.size >= maxPending) {
      noteRefusal('refusedPending', 'ERR_BUSY');
      return refuseSocket(sock, new CosignerError('ERR_BUSY', `${maxPending} connections are already in the handshake`));
    }
    let peer: Peer;
    try {
      peer = create(sock);
    } catch (err) {
      log.error({ code: toCosignerError(err).code }, 'cannot create peer');
      sock.destroy();
      return;
    }
    peers.add(peer);
    pending.add(peer);
    peer.once('close', () => {
      peers.delete(peer);
      pending.delete(peer);
      if (active === peer) active = null;
    });
    peer.ready.then(
      () => admit(peer),
      (err: CosignerError) => log.warn({ code: err.code, msg: err.message }, 'handshake failed'),
    );
  });
  return {
    address: listener.address,
    stats: () => {
      let pendingBytes = 0;
      for (const p of pending) pendingBytes += p.stats().decoderBuffered;
      return { pending: pending.size, pendingBytes, active: active !== null, ...counts };
    },
    close: async () => {
      await Promise.all([...peers].map((p) => p.close()));
      await listener.close();
    },
  };
}
