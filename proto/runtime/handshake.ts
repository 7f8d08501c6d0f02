// Both sides. The handshake each side sends first, and the checks on the one the remote sends.
import { CosignerError } from '../errors.ts';
import { MAX_FRAME_BYTES_CEILING } from './framing.ts';
import { MAX_BUILD_ID, type ResolvedOptions } from './options.ts';
import { PROTOCOL_VERSION } from './schema.ts';
import { MAX_WINDOW } from './stream.ts';

/** A decoded Handshake message as the remote sent it. */
export interface HandshakeMessage {
  protocolVersion: number;
  buildId: string;
  role: string;
  maxFrameBytes: number;
  maxConcurrentStreams: number;
  initialWindow: number;
}

/** The limits the remote stated in its handshake. */
export interface RemoteLimits {
  buildId: string;
  maxFrameBytes: number;
  maxConcurrentStreams: number;
  initialWindow: number;
}

/** The handshake frame this side sends as soon as the transport is up. */
export function handshakeFrame(opts: ResolvedOptions): Record<string, unknown> {
  return {
    streamId: 0,
    handshake: {
      protocolVersion: PROTOCOL_VERSION,
      buildId: opts.buildId,
      role: opts.role,
      maxFrameBytes: opts.maxFrameBytes,
      maxConcurrentStreams: opts.maxConcurrentStreams,
      initialWindow: opts.initialWindow,
    },
  };
}

/** Checks the remote's handshake: its limits, or the typed reason to refuse it. */
export function checkHandshake(h: HandshakeMessage, opts: ResolvedOptions): RemoteLimits | CosignerError {
  if (h.protocolVersion !== PROTOCOL_VERSION) {
    return new CosignerError('ERR_PROTOCOL_VERSION', `peer speaks protocol ${h.protocolVersion}, this side ${PROTOCOL_VERSION}`);
  }
  const expectedRole = opts.role === 'parent' ? 'enclave' : 'parent';
  if (h.role !== expectedRole) return new CosignerError('ERR_FRAME_MALFORMED', `peer says it is ${JSON.stringify(String(h.role).slice(0, 16))}, expected ${expectedRole}`);
  if (typeof h.buildId !== 'string' || h.buildId.length === 0 || h.buildId.length > MAX_BUILD_ID) {
    return new CosignerError('ERR_FRAME_MALFORMED', 'peer build id missing or too long');
  }
  if (opts.requireSameBuild && h.buildId !== opts.buildId) {
    return new CosignerError('ERR_BUILD_MISMATCH', `peer build ${h.buildId} differs from ${opts.buildId}`);
  }
  if (h.maxFrameBytes < 1024 || h.maxConcurrentStreams < 1 || h.initialWindow < 1024 || h.initialWindow > MAX_WINDOW) {
    return new CosignerError('ERR_FRAME_MALFORMED', 'peer handshake limits out of range');
  }
  return {
    buildId: h.buildId,
    maxFrameBytes: Math.min(h.maxFrameBytes, MAX_FRAME_BYTES_CEILING),
    maxConcurrentStreams: h.maxConcurrentStreams,
    initialWindow: h.initialWindow,
  };
}
