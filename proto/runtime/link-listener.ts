// Enclave side. Accepts parent connections on the wire URL and hands each one that completes the
// handshake to the caller.
import type net from 'node:net';
import pino from 'pino';
import { toCosignerError, type CosignerError } from '../errors.ts';
import { listenTransport } from '../transport/index.ts';
import type { PeerOptions } from './options.ts';
import type { Peer } from './peer.ts';

/** Limits of a listener (none yet). */
export interface LinkListenOptions {}

/** Counts a listener keeps (none yet). */
export interface LinkStats {}

/** A listening wire endpoint. */
export interface LinkListener {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Listens on `url`; every connection that completes the handshake is handed to `onPeer`.
 * Connections that fail it are logged and dropped. `create` wraps an accepted socket in a Peer.
 */
export async function listenLink(url: string, opts: PeerOptions, onPeer: (p: Peer) => void, create: (sock: net.Socket) => Peer, _limits: LinkListenOptions = {}): Promise<LinkListener> {
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'wire', side: opts.role });
  const peers = new Set<Peer>();
  const listener = await listenTransport(url, (sock) => {
    let peer: Peer;
    try {
      peer = create(sock);
    } catch (err) {
      log.error({ code: toCosignerError(err).code }, 'cannot create peer');
      sock.destroy();
      return;
    }
    peers.add(peer);
    peer.once('close', () => peers.delete(peer));
    peer.ready.then(
      () => onPeer(peer),
      (err: CosignerError) => log.warn({ code: err.code, msg: err.message }, 'handshake failed'),
    );
  });
  return {
    address: listener.address,
    close: async () => {
      await Promise.all([...peers].map((p) => p.close()));
      await listener.close();
    },
  };
}
