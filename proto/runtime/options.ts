// Both sides. The options of one end of the wire, their defaults and their validation, and the fixed
// limits the connection code shares.
import type pino from 'pino';
import { CosignerError } from '../errors.ts';
import { DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_BYTES_CEILING } from './framing.ts';
import { MAX_WINDOW } from './stream.ts';

/** Options for one side of the wire. Only role and buildId are required. */
export interface PeerOptions {
  role: 'parent' | 'enclave';
  buildId: string;
  /** Largest frame accepted (and sent). Default 1 MiB. */
  maxFrameBytes?: number;
  /** Refuse a remote with a different build id (ERR_BUILD_MISMATCH). Default false. */
  requireSameBuild?: boolean;
  logger?: pino.Logger;
  /** Streams + calls the remote may have open towards us at once. Default 1024. */
  maxConcurrentStreams?: number;
  /** Receive window per stream, bytes. Default 256 KiB. */
  initialWindow?: number;
  /** Deadline of a call when the caller gives none. Default 30 s. */
  defaultDeadlineMs?: number;
  /** Upper bound on any deadline, either side. Default 5 min. */
  maxDeadlineMs?: number;
  /** Ping interval. Default 10 s; 0 disables keepalive. */
  keepaliveMs?: number;
  /** Close the connection when nothing arrived for this long. Default 3 × keepaliveMs. */
  keepaliveTimeoutMs?: number;
  /** Time allowed for the handshake. Default 5 s. */
  handshakeTimeoutMs?: number;
  /** After close() or GoAway, how long open streams may finish. Default 5 s. */
  closeGraceMs?: number;
  /** Time to wait for the remote to accept a tunnel. Default 15 s. */
  tunnelOpenTimeoutMs?: number;
  /** Time to establish the transport connection (Peer.connect). Default 5 s. */
  dialTimeoutMs?: number;
  /** Bytes queued towards a peer that does not read before it is disconnected. Default 32 MiB. */
  maxSocketBacklogBytes?: number;
}

/** PeerOptions with every default applied (dial and backlog options are read where they are used). */
export type ResolvedOptions = Required<Omit<PeerOptions, 'logger' | 'requireSameBuild' | 'keepaliveTimeoutMs' | 'dialTimeoutMs' | 'maxSocketBacklogBytes'>> & {
  keepaliveTimeoutMs: number;
  requireSameBuild: boolean;
};

const DEFAULTS = {
  maxConcurrentStreams: 1024,
  initialWindow: 1024 * 1024,
  defaultDeadlineMs: 30_000,
  maxDeadlineMs: 300_000,
  keepaliveMs: 10_000,
  handshakeTimeoutMs: 5_000,
  closeGraceMs: 5_000,
  tunnelOpenTimeoutMs: 15_000,
};
/** Bytes queued in the socket above which streams wait for 'drain'. */
export const SOCKET_HIGH_WATER = 1024 * 1024;
/** Bytes queued in the socket at which the peer is deemed not to read and is disconnected. */
export const SOCKET_HARD_LIMIT = 32 * 1024 * 1024;
/**
 * Largest StreamData payload per frame. Fewer, larger frames: less per-frame work on both sides,
 * and on the relay one writev to the TCP target per 256 KiB (the parent's syscalls are most of its
 * cost per byte). A quarter of the default window, well inside the default 1 MiB frame limit.
 */
export const MAX_DATA_CHUNK = 256 * 1024;
/** Frame buffers kept for reuse per connection (each MAX_DATA_CHUNK + header; ≤ 4 MiB in all). */
export const FRAME_POOL_MAX = 16;
export const MAX_BUILD_ID = 256;
export const MAX_HOST = 253;
export const MAX_METHOD = 256;
export const MAX_STREAM_ID = 0x7fff_ffff;

/** Applies the defaults and checks every value; throws ERR_CONFIG_INVALID before any I/O. */
export function resolveOptions(options: PeerOptions): ResolvedOptions {
  if (options.role !== 'parent' && options.role !== 'enclave') throw new CosignerError('ERR_CONFIG_INVALID', 'role must be parent or enclave');
  if (typeof options.buildId !== 'string' || options.buildId.length === 0 || options.buildId.length > MAX_BUILD_ID) {
    throw new CosignerError('ERR_CONFIG_INVALID', `buildId must be 1..${MAX_BUILD_ID} characters`);
  }
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 1024 || maxFrameBytes > MAX_FRAME_BYTES_CEILING) {
    throw new CosignerError('ERR_CONFIG_INVALID', `maxFrameBytes must be an integer in 1024..${MAX_FRAME_BYTES_CEILING}`);
  }
  const keepaliveMs = options.keepaliveMs ?? DEFAULTS.keepaliveMs;
  const opts: ResolvedOptions = {
    role: options.role,
    buildId: options.buildId,
    maxFrameBytes,
    requireSameBuild: options.requireSameBuild ?? false,
    maxConcurrentStreams: options.maxConcurrentStreams ?? DEFAULTS.maxConcurrentStreams,
    initialWindow: Math.min(options.initialWindow ?? DEFAULTS.initialWindow, MAX_WINDOW),
    defaultDeadlineMs: options.defaultDeadlineMs ?? DEFAULTS.defaultDeadlineMs,
    maxDeadlineMs: options.maxDeadlineMs ?? DEFAULTS.maxDeadlineMs,
    keepaliveMs,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? keepaliveMs * 3,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
    closeGraceMs: options.closeGraceMs ?? DEFAULTS.closeGraceMs,
    tunnelOpenTimeoutMs: options.tunnelOpenTimeoutMs ?? DEFAULTS.tunnelOpenTimeoutMs,
  };
  for (const [k, v, min] of [
    ['maxConcurrentStreams', opts.maxConcurrentStreams, 1],
    ['initialWindow', opts.initialWindow, 1024],
    ['defaultDeadlineMs', opts.defaultDeadlineMs, 1],
    ['maxDeadlineMs', opts.maxDeadlineMs, 1],
    ['keepaliveMs', opts.keepaliveMs, 0],
    ['keepaliveTimeoutMs', opts.keepaliveTimeoutMs, 0],
    ['handshakeTimeoutMs', opts.handshakeTimeoutMs, 1],
    ['closeGraceMs', opts.closeGraceMs, 0],
    ['tunnelOpenTimeoutMs', opts.tunnelOpenTimeoutMs, 1],
  ] as const) {
    if (!Number.isInteger(v) || v < min || v > 0x7fff_ffff) throw new CosignerError('ERR_CONFIG_INVALID', `${k} must be an integer ≥ ${min}`);
  }
  return opts;
}

export function closedError(why = 'connection closed'): CosignerError {
  return new CosignerError('ERR_CONNECTION_CLOSED', why);
}
