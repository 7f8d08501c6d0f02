// Enclave (NSM mode only). The Attestor backed by the Nitro Secure Module: CBOR requests through
// ioctl(/dev/nsm, 0xC0200A00) in a tiny N-API addon (enclave/attestation/nsm/native/). The device
// call is injected as an `NsmTransport`, so everything but the ioctl itself is unit-tested here.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CosignerError } from '../../proto/errors.ts';
import { decodeCoseSign1 } from '../../proto/attestation/document.ts';
import { MAX_RANDOM_BYTES, checkAttestRequest } from './request-limits.ts';
import { decodeNsmResponse, encodeNsmRequest, NSM_RESPONSE_BUFFER_BYTES, type NsmDescription, type NsmRequest, type NsmResponses } from './nsm-protocol.ts';
import type { AttestRequest, Attestor, PcrDescription } from '../../proto/attestation/types.ts';

/** One request/response exchange with the NSM: CBOR bytes in, CBOR bytes out. */
export type NsmTransport = (request: Uint8Array) => Uint8Array;

/** What the native addon exports (enclave/attestation/nsm/native/nsm.cc). */
export interface NsmNative {
  open(path: string): number;
  request(fd: number, request: Uint8Array, responseCapacity: number): Uint8Array;
  close(fd: number): void;
}

/** Default location of the built addon, beside this module's sources. */
export const NSM_ADDON_PATH = fileURLToPath(new URL('./nsm/native/build/Release/nsm.node', import.meta.url));

/** Loads the N-API addon. Throws ERR_NSM when it is not built or cannot load. */
export function loadNsmNative(path: string = NSM_ADDON_PATH): NsmNative {
  try {
    return createRequire(import.meta.url)(path) as NsmNative;
  } catch (err) {
    throw new CosignerError('ERR_NSM', 'NSM addon not available (run `make native`)', { cause: err });
  }
}

/** Opens /dev/nsm through the addon and returns a transport bound to that descriptor. */
export function openNsmDevice(native: NsmNative = loadNsmNative(), device = '/dev/nsm'): NsmTransport & { close(): void } {
  let fd: number;
  try {
    fd = native.open(device);
  } catch (err) {
    throw new CosignerError('ERR_NSM', `cannot open ${device}`, { cause: err });
  }
  const transport = ((request: Uint8Array) => {
    try {
      return native.request(fd, request, NSM_RESPONSE_BUFFER_BYTES);
    } catch (err) {
      throw new CosignerError('ERR_NSM', 'NSM ioctl failed', { cause: err, details: { errno: String((err as { code?: unknown }).code ?? 'unknown') } });
    }
  }) as NsmTransport & { close(): void };
  transport.close = () => native.close(fd);
  return transport;
}

/** The production {@link Attestor}. */
export class NsmAttestor implements Attestor {
  readonly mode = 'nsm' as const;

  constructor(private readonly transport: NsmTransport) {}

  private call<K extends NsmRequest['kind']>(req: NsmRequest & { kind: K }): NsmResponses[K] {
    const bytes = encodeNsmRequest(req);
    let resp: Uint8Array;
    try {
      resp = this.transport(bytes);
    } catch (err) {
      throw err instanceof CosignerError ? err : new CosignerError('ERR_NSM', 'NSM request failed', { cause: err });
    }
    if (!(resp instanceof Uint8Array)) throw new CosignerError('ERR_NSM', 'NSM transport returned no bytes');
    return decodeNsmResponse(req.kind, resp);
  }

  async attest(req: AttestRequest): Promise<Uint8Array> {
    checkAttestRequest(req);
    const doc = this.call({ kind: 'Attestation', ...(req.userData ? { userData: req.userData } : {}), ...(req.nonce ? { nonce: req.nonce } : {}), ...(req.publicKey ? { publicKey: req.publicKey } : {}) });
    try {
      decodeCoseSign1(doc);
    } catch (err) {
      throw new CosignerError('ERR_NSM', 'NSM returned a malformed document', { cause: err });
    }
    return doc;
  }

  /** Collects `length` random bytes; the NSM returns up to 256 per call. */
  async getRandom(length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 1 || length > MAX_RANDOM_BYTES) throw new CosignerError('ERR_INVALID_ARGUMENT', `random length must be 1..${MAX_RANDOM_BYTES}`);
    const out = new Uint8Array(length);
    let filled = 0;
    // Each call must make progress; MAX_RANDOM_BYTES bounds the loop.
    while (filled < length) {
      const chunk = this.call({ kind: 'GetRandom' });
      const take = Math.min(chunk.length, length - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
    }
    return out;
  }

  async describePcr(index: number): Promise<PcrDescription> {
    const r = this.call({ kind: 'DescribePCR', index });
    return { index, locked: r.lock, value: r.data };
  }

  /** DescribeNSM: version, module id, PCR count and the locked PCRs. */
  async describeNsm(): Promise<NsmDescription> {
    return this.call({ kind: 'DescribeNSM' });
  }

  /** Extends a PCR (16..31; 0..15 are locked at boot) and returns its new value. */
  async extendPcr(index: number, data: Uint8Array): Promise<Uint8Array> {
    return this.call({ kind: 'ExtendPCR', index, data });
  }

  /** Locks one PCR. */
  async lockPcr(index: number): Promise<void> {
    this.call({ kind: 'LockPCR', index });
  }

  /** Locks PCRs 0..range-1. */
  async lockPcrs(range: number): Promise<void> {
    this.call({ kind: 'LockPCRs', range });
  }
}
