import { existsSync } from 'node:fs';
import { Decoder, Encoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { createAttestor } from '../../../enclave/dev/create-attestor.ts';
import { loadNsmNative, NSM_ADDON_PATH, NsmAttestor, openNsmDevice, type NsmTransport } from '../../../enclave/attestation/nsm.ts';
import { decodeNsmResponse, encodeNsmRequest } from '../../../enclave/attestation/nsm-protocol.ts';
import { SEQUENCE_PROD } from '../../proto/attestation/vectors.ts';

const enc = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
const dec = new Decoder({ mapsAsObjects: false, useRecords: false });
const cbor = (v: unknown): Uint8Array => new Uint8Array(enc.encode(v));
const m = (entries: [string, unknown][]): Map<string, unknown> => new Map(entries);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (s: string): string => Buffer.from(s).toString('hex');

function codeAndDetail(fn: () => unknown): { code: string; nsmError?: unknown } {
  try {
    fn();
  } catch (err) {
    if (err instanceof CosignerError) return { code: err.code, nsmError: err.details?.['nsmError'] };
    throw err;
  }
  throw new Error('expected a CosignerError');
}

/** A fake NSM: records requests, answers from a function. */
function fake(answer: (req: unknown) => unknown): NsmTransport & { requests: unknown[] } {
  const requests: unknown[] = [];
  const t = ((bytes: Uint8Array) => {
    const req = dec.decode(bytes);
    requests.push(req);
    return cbor(answer(req));
  }) as NsmTransport & { requests: unknown[] };
  t.requests = requests;
  return t;
}

describe('NSM request encoding', () => {
  it('bare-string requests', () => {
    expect(hex(encodeNsmRequest({ kind: 'DescribeNSM' }))).toBe('6b' + text('DescribeNSM'));
    expect(hex(encodeNsmRequest({ kind: 'GetRandom' }))).toBe('69' + text('GetRandom'));
  });

  it('map requests, byte for byte', () => {
    expect(hex(encodeNsmRequest({ kind: 'DescribePCR', index: 3 }))).toBe('a16b' + text('DescribePCR') + 'a165' + text('index') + '03');
    expect(hex(encodeNsmRequest({ kind: 'LockPCRs', range: 16 }))).toBe('a168' + text('LockPCRs') + 'a165' + text('range') + '10');
    expect(hex(encodeNsmRequest({ kind: 'LockPCR', index: 16 }))).toBe('a167' + text('LockPCR') + 'a165' + text('index') + '10');
    expect(hex(encodeNsmRequest({ kind: 'ExtendPCR', index: 17, data: Uint8Array.of(1, 2) }))).toBe('a169' + text('ExtendPCR') + 'a265' + text('index') + '1164' + text('data') + '420102');
    expect(hex(encodeNsmRequest({ kind: 'Attestation' }))).toBe('a16b' + text('Attestation') + 'a369' + text('user_data') + 'f665' + text('nonce') + 'f66a' + text('public_key') + 'f6');
    expect(hex(encodeNsmRequest({ kind: 'Attestation', nonce: Uint8Array.of(9) }))).toContain('65' + text('nonce') + '4109');
  });

  it('refuses out-of-range arguments before they reach the device', () => {
    for (const r of [
      () => encodeNsmRequest({ kind: 'DescribePCR', index: 32 }),
      () => encodeNsmRequest({ kind: 'DescribePCR', index: -1 }),
      () => encodeNsmRequest({ kind: 'LockPCRs', range: 33 }),
      () => encodeNsmRequest({ kind: 'ExtendPCR', index: 16, data: new Uint8Array(513) }),
      () => encodeNsmRequest({ kind: 'Attestation', userData: new Uint8Array(513) }),
      () => encodeNsmRequest({ kind: 'Attestation', publicKey: new Uint8Array(1025) }),
    ]) expect(codeAndDetail(r).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('NSM response decoding and errors', () => {
  it('decodes each response kind', () => {
    expect(hex(decodeNsmResponse('Attestation', cbor(m([['Attestation', m([['document', Uint8Array.of(0x84)]])]]))))).toBe('84');
    expect(decodeNsmResponse('GetRandom', cbor(m([['GetRandom', m([['random', new Uint8Array(256)]])]])))).toHaveLength(256);
    expect(decodeNsmResponse('DescribePCR', cbor(m([['DescribePCR', m([['lock', true], ['data', new Uint8Array(48)]])]]))).lock).toBe(true);
    expect(decodeNsmResponse('ExtendPCR', cbor(m([['ExtendPCR', m([['data', new Uint8Array(48)]])]])))).toHaveLength(48);
    expect(decodeNsmResponse('LockPCR', cbor('LockPCR'))).toBeNull();
    expect(decodeNsmResponse('LockPCRs', cbor('LockPCRs'))).toBeNull();
    const d = decodeNsmResponse(
      'DescribeNSM',
      cbor(m([['DescribeNSM', m([['version_major', 1], ['version_minor', 0], ['version_patch', 0], ['module_id', 'i-1-enc2'], ['max_pcrs', 32], ['locked_pcrs', [...Array(16).keys()]], ['digest', 'SHA384']])]])),
    );
    expect(d).toEqual({ versionMajor: 1, versionMinor: 0, versionPatch: 0, moduleId: 'i-1-enc2', maxPcrs: 32, lockedPcrs: [...Array(16).keys()], digest: 'SHA384' });
  });

  it('maps {"Error": name} to ERR_NSM with the NSM error name', () => {
    for (const name of ['InvalidIndex', 'InvalidArgument', 'ReadOnlyIndex', 'InvalidOperation', 'BufferTooSmall', 'InputTooLarge', 'InternalError', 'InvalidResponse']) {
      expect(codeAndDetail(() => decodeNsmResponse('DescribePCR', cbor(m([['Error', name]]))))).toEqual({ code: 'ERR_NSM', nsmError: name });
    }
    expect(codeAndDetail(() => decodeNsmResponse('DescribePCR', cbor(m([['Error', 'SomethingNew']]))))).toEqual({ code: 'ERR_NSM', nsmError: 'Unknown' });
  });

  it('refuses a response of the wrong kind or shape', () => {
    const cases: [Parameters<typeof decodeNsmResponse>[0], Uint8Array][] = [
      ['DescribePCR', cbor(m([['ExtendPCR', m([['data', new Uint8Array(48)]])]]))],
      ['DescribePCR', cbor(m([['DescribePCR', m([['lock', 1], ['data', new Uint8Array(48)]])]]))],
      ['Attestation', cbor(m([['Attestation', m([['document', 'text']])]]))],
      ['Attestation', cbor(m([['Attestation', m([['document', new Uint8Array(0x3001)]])]]))],
      ['GetRandom', cbor(m([['GetRandom', m([['random', new Uint8Array(0)]])]]))],
      ['LockPCR', cbor('LockPCRs')],
      ['GetRandom', cbor(m([['GetRandom', m([])], ['Extra', 1]]))],
      ['GetRandom', new Uint8Array(0)],
      ['GetRandom', Uint8Array.of(0xfb, 0, 0, 0, 0, 0, 0, 0, 0)],
      ['DescribeNSM', cbor(m([['DescribeNSM', m([['module_id', 'x'], ['digest', 'SHA384'], ['locked_pcrs', [99]]])]]))],
    ];
    for (const [kind, bytes] of cases) expect(codeAndDetail(() => decodeNsmResponse(kind, bytes)).code).toBe('ERR_NSM');
  });
});

describe('NsmAttestor with an injected device', () => {
  it('attest sends the request fields and returns the document', async () => {
    const t = fake(() => m([['Attestation', m([['document', SEQUENCE_PROD.bytes]])]]));
    const a = new NsmAttestor(t);
    const doc = await a.attest({ nonce: Uint8Array.of(1), userData: Uint8Array.of(2), publicKey: Uint8Array.of(3) });
    expect(hex(doc)).toBe(hex(SEQUENCE_PROD.bytes));
    const body = (t.requests[0] as Map<string, Map<string, Uint8Array>>).get('Attestation');
    expect(hex(body?.get('nonce') as Uint8Array)).toBe('01');
    expect(hex(body?.get('user_data') as Uint8Array)).toBe('02');
    expect(hex(body?.get('public_key') as Uint8Array)).toBe('03');
  });

  it('refuses a document that is not COSE_Sign1', async () => {
    const a = new NsmAttestor(fake(() => m([['Attestation', m([['document', Uint8Array.of(1, 2, 3)]])]])));
    await expect(a.attest({})).rejects.toMatchObject({ code: 'ERR_NSM' });
  });

  it('getRandom collects 256-byte chunks up to the length asked, and is bounded', async () => {
    let n = 0;
    const t = fake(() => m([['GetRandom', m([['random', new Uint8Array(256).fill(++n)]])]]));
    const a = new NsmAttestor(t);
    const r = await a.getRandom(600);
    expect(r).toHaveLength(600);
    expect(t.requests).toHaveLength(3);
    expect([r[0], r[256], r[599]]).toEqual([1, 2, 3]);
    await expect(a.getRandom(0)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(a.getRandom(4097)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('describePcr, extendPcr, lockPcr(s), describeNsm, and NSM errors', async () => {
    const a = new NsmAttestor(
      fake((req) => {
        if (req === 'DescribeNSM') return m([['Error', 'InternalError']]);
        const [k, body] = [...(req as Map<string, Map<string, unknown>>)][0] as [string, Map<string, unknown>];
        if (k === 'DescribePCR') return body.get('index') === 5 ? m([['Error', 'InvalidIndex']]) : m([['DescribePCR', m([['lock', false], ['data', new Uint8Array(48).fill(7)]])]]);
        if (k === 'ExtendPCR') return m([['ExtendPCR', m([['data', new Uint8Array(48).fill(8)]])]]);
        if (k === 'LockPCR') return body.get('index') === 16 ? 'LockPCR' : m([['Error', 'ReadOnlyIndex']]);
        return 'LockPCRs';
      }),
    );
    expect(await a.describePcr(16)).toEqual({ index: 16, locked: false, value: new Uint8Array(48).fill(7) });
    await expect(a.describePcr(5)).rejects.toMatchObject({ code: 'ERR_NSM', details: { nsmError: 'InvalidIndex' } });
    expect(await a.extendPcr(16, Uint8Array.of(1))).toEqual(new Uint8Array(48).fill(8));
    await expect(a.lockPcr(16)).resolves.toBeUndefined();
    await expect(a.lockPcr(17)).rejects.toMatchObject({ code: 'ERR_NSM', details: { nsmError: 'ReadOnlyIndex' } });
    await expect(a.lockPcrs(16)).resolves.toBeUndefined();
    await expect(a.describeNsm()).rejects.toMatchObject({ code: 'ERR_NSM', details: { nsmError: 'InternalError' } });
  });

  it('a failing transport becomes ERR_NSM', async () => {
    const a = new NsmAttestor(() => {
      throw new Error('EIO');
    });
    await expect(a.describePcr(0)).rejects.toMatchObject({ code: 'ERR_NSM' });
  });

  it('createAttestor("nsm") uses the given transport', async () => {
    const a = await createAttestor('nsm', { nsmTransport: fake(() => m([['DescribePCR', m([['lock', true], ['data', new Uint8Array(48)]])]])) });
    expect(a.mode).toBe('nsm');
    expect((await a.describePcr(0)).locked).toBe(true);
  });
});

describe('native addon', () => {
  it('loading a missing addon is ERR_NSM', () => {
    expect(codeAndDetail(() => loadNsmNative('/nonexistent/nsm.node')).code).toBe('ERR_NSM');
  });

  // Only when `make native` has run: /dev/nsm does not exist outside an enclave, so open must fail typed.
  it.skipIf(!existsSync(NSM_ADDON_PATH))('opening a device that does not exist is ERR_NSM', () => {
    expect(codeAndDetail(() => openNsmDevice(loadNsmNative(), '/nonexistent/nsm')).code).toBe('ERR_NSM');
  });
});
