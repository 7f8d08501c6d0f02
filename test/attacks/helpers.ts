// Test helpers for the attack tests: a real enclave-side wire listener (the one enclave/main.ts uses,
// with its default limits) serving a stub Control, and a raw client that plays a malicious local
// process on the parent, speaking the wire protocol byte by byte over a unix socket (same framing
// as vsock).
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameDecoder, encodeFrame, type DecodedFrame } from '../../proto/runtime/framing.ts';
import { Peer, type LinkListener, type PeerOptions } from '../../proto/runtime/peer.ts';
import { fromWireError } from '../../proto/runtime/wire-error.ts';

export interface Enclave {
  url: string;
  path: string;
  listener: LinkListener;
  /** Control calls the stub answered. */
  served: number;
  close(): Promise<void>;
}

/** Listens like the enclave does (Peer.listen, default limits) and serves a stub Control. */
export async function startEnclaveListener(opts: Partial<PeerOptions> = {}): Promise<Enclave> {
  const dir = mkdtempSync(join(tmpdir(), 'wire-attack-'));
  const path = join(dir, 'e.sock');
  const url = `unix://${path}`;
  const e: Enclave = {
    url,
    path,
    listener: undefined as unknown as LinkListener,
    served: 0,
    async close() {
      await e.listener.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  e.listener = await Peer.listen(url, { role: 'enclave', buildId: 'enclave-build', keepaliveMs: 0, closeGraceMs: 100, ...opts }, (peer) => {
    peer.register('cosigner.v1.Control', {
      Status: async () => {
        e.served++;
        return { state: 'unsealed' };
      },
    });
  });
  return e;
}

/** The legitimate parent: a Peer that dials the enclave. */
export function connectParent(url: string): Promise<Peer> {
  return Peer.connect(url, { role: 'parent', buildId: 'parent-build', keepaliveMs: 0, closeGraceMs: 100 });
}

/** Retries connectParent (as the parent daemon's redial does) until it succeeds or `ms` pass. */
export async function connectParentEventually(url: string, ms = 3000): Promise<Peer> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await connectParent(url);
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** A raw client: writes whatever bytes it is told, decodes what the enclave sends. */
export interface RawClient {
  sock: net.Socket;
  frames: DecodedFrame[];
  closed: Promise<void>;
  isClosed(): boolean;
}

export function rawConnect(path: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ path });
    const decoder = new FrameDecoder();
    const frames: DecodedFrame[] = [];
    let closed = false;
    const closedP = new Promise<void>((r) => sock.once('close', () => ((closed = true), r())));
    sock.on('data', (c) => {
      try {
        frames.push(...decoder.push(c));
      } catch {
        sock.destroy();
      }
    });
    sock.on('error', () => undefined);
    sock.once('connect', () => resolve({ sock, frames, closed: closedP, isClosed: () => closed }));
    sock.once('error', reject);
  });
}

/** A parent handshake as the real parent sends it. */
export function parentHandshake(): Buffer {
  return encodeFrame({ streamId: 0, handshake: { protocolVersion: 1, buildId: 'attacker', role: 'parent', maxFrameBytes: 1 << 20, maxConcurrentStreams: 64, initialWindow: 65536 } });
}

/** A Control/Status request on stream `id` (parent ids are odd). */
export function statusRequest(id: number): Buffer {
  return encodeFrame({ streamId: id, request: { method: 'cosigner.v1.Control/Status', payload: Buffer.alloc(0), deadlineMs: 2000 } });
}

/** The error code of the goaway the enclave sent, if any. */
export function goawayCode(frames: DecodedFrame[]): string | undefined {
  const g = frames.find((f) => f.kind === 'goaway');
  return g?.goaway?.error ? fromWireError(g.goaway.error).code : undefined;
}

export async function until(what: string, fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
