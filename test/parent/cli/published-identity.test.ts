// `cosigner print-public-key --json` publishes the identity a fresh attestation carries, and
// `cosigner verify-attestation --identity FILE` checks another document's user_data against it.
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { identityUserData, type IdentityFields } from '../../../proto/attestation/identity.ts';
import { startControlServer } from '../../../parent/control/server.ts';
import type { ControlRequest } from '../../../parent/control/protocol.ts';
import { main } from '../../../parent/cli/main.ts';
import { EXIT, type CliIo } from '../../../parent/cli/io.ts';
import { DevAttestor, DevAuthority } from '../../../enclave/dev/dev-authority.ts';
import { tempDir } from '../../support/temp-dir.ts';

const der = (k: KeyObject): Uint8Array => new Uint8Array(k.export({ type: 'spki', format: 'der' }));
const callbackKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
const callbackPem = String(callbackKey.export({ type: 'spki', format: 'pem' }));
const fields: IdentityFields = {
  coordinatorAuthPublicKeyDer: der(generateKeyPairSync('ed25519').publicKey),
  callbackSigningPublicKeyDer: der(callbackKey),
  coordinatorPublicKeyDer: der(generateKeyPairSync('ed25519').publicKey),
  ownerKeyFingerprint: 'ab'.repeat(32),
  cosignerId: 'cs-published',
  protocolVersion: 1,
  buildId: 'build-1',
  kmsPolicyChangeable: false,
};

let dir: string;
let socket: string;
let close: () => Promise<void>;
let reply: (r: ControlRequest) => Promise<unknown>;
let attestor: DevAttestor;
let rootPath: string;

beforeAll(async () => {
  const authority = await DevAuthority.createEphemeral();
  attestor = new DevAttestor({ authority, bundleBytes: new TextEncoder().encode('bundle') });
  rootPath = join(tempDir('cli-id-root-'), 'root.pem');
  writeFileSync(rootPath, authority.rootPem);
});

beforeEach(async () => {
  dir = tempDir('cli-id-');
  socket = join(dir, 'c.sock');
  const userData = identityUserData(fields);
  reply = async (r) => {
    if (r.method === 'printPublicKey') return { publicKeyPem: callbackPem, spkiSha256: createHash('sha256').update(fields.callbackSigningPublicKeyDer).digest('hex') };
    if (r.method === 'getAttestation') return { document: Buffer.from(await attestor.attest({ userData })).toString('base64'), userData: Buffer.from(userData).toString('base64'), attestationMode: 'local' };
    return {};
  };
  close = (await startControlServer({ path: socket, handler: async (r) => reply(r) })).close;
});
afterEach(async () => close());

function io(): CliIo & { out: string; err: string } {
  const o = {
    out: '',
    err: '',
    stdin: new PassThrough(),
    interactive: false,
    env: { COSIGNER_SOCKET: socket } as NodeJS.ProcessEnv,
    stdout: (s: string) => void (o.out += s),
    stderr: (s: string) => void (o.err += s),
  };
  return o;
}

/** Runs `print-public-key --json` and saves its output as a reviewer would. */
async function publish(): Promise<string> {
  const a = io();
  expect(await main(['print-public-key', '--json'], a)).toBe(0);
  const file = join(dir, 'identity.json');
  writeFileSync(file, a.out);
  return file;
}

async function docFile(f: IdentityFields | null, name: string): Promise<string> {
  const p = join(dir, name);
  writeFileSync(p, await attestor.attest(f ? { userData: identityUserData(f) } : {}));
  return p;
}

describe('cosigner print-public-key', () => {
  it('--json carries the key and the identity read from a fresh attestation\'s user_data', async () => {
    const a = io();
    expect(await main(['print-public-key', '--json'], a)).toBe(0);
    const j = JSON.parse(a.out);
    expect(j).toMatchObject({ ok: true, command: 'print-public-key', result: { publicKeyPem: callbackPem } });
    expect(j.result.identity).toEqual({
      version: 2,
      protocolVersion: 1,
      coordinatorAuthKeySha256: createHash('sha256').update(fields.coordinatorAuthPublicKeyDer).digest('hex'),
      callbackSigningKeySha256: createHash('sha256').update(fields.callbackSigningPublicKeyDer).digest('hex'),
      coordinatorKeySha256: createHash('sha256').update(fields.coordinatorPublicKeyDer).digest('hex'),
      ownerKeyFingerprint: 'ab'.repeat(32),
      cosignerId: 'cs-published',
      buildId: 'build-1',
      kmsPolicyChangeable: false,
    });
    const h = io();
    expect(await main(['print-public-key'], h)).toBe(0);
    expect(h.out).toContain('# cosigner id: cs-published');
  });

  it('without an attestation the key is still printed and identity is null (and says why)', async () => {
    reply = async (r) => {
      if (r.method === 'getAttestation') throw new CosignerError('ERR_NOT_SET_UP', 'not set up');
      return { publicKeyPem: callbackPem, spkiSha256: 'x' };
    };
    const j = io();
    expect(await main(['print-public-key', '--json'], j)).toBe(0);
    expect(JSON.parse(j.out).result.identity).toBeNull();
    const h = io();
    expect(await main(['print-public-key'], h)).toBe(0);
    expect(h.err).toContain('no identity from an attestation (ERR_NOT_SET_UP)');
  });
});

describe('cosigner verify-attestation --identity', () => {
  it('exit 0 when the document carries exactly the published identity', async () => {
    const published = await publish();
    const doc = await docFile(fields, 'same.cose');
    const a = io();
    expect(await main(['verify-attestation', doc, '--root', rootPath, '--identity', published], a)).toBe(EXIT.OK);
    expect(a.out).toContain('published    identity matches');
    const j = io();
    expect(await main(['verify-attestation', doc, '--root', rootPath, '--identity', published, '--json'], j)).toBe(EXIT.OK);
    expect(JSON.parse(j.out)).toMatchObject({ ok: true, result: { verdict: 'valid', identityMatches: true } });
  });

  it('exit 1 (ERR_ATTESTATION_USER_DATA) naming each differing field, or when user_data is no identity', async () => {
    const published = await publish();
    const other = await docFile({ ...fields, cosignerId: 'cs-other', kmsPolicyChangeable: true }, 'other.cose');
    const a = io();
    expect(await main(['verify-attestation', other, '--root', rootPath, '--identity', published, '--json'], a)).toBe(EXIT.FAILURE);
    const j = JSON.parse(a.out);
    expect(j).toMatchObject({ ok: false, exitCode: 1, error: { code: 'ERR_ATTESTATION_USER_DATA', hint: expect.stringContaining('--identity') }, result: { verdict: 'invalid', identityMatches: false } });
    expect(j.result.failures).toHaveLength(1);
    expect(j.result.failures[0].message).toContain('cosignerId (published "cs-published", document "cs-other")');
    expect(j.result.failures[0].message).toContain('kmsPolicyChangeable (published false, document true)');
    expect(j.result.failures[0].message).not.toContain('buildId');
    const h = io();
    expect(await main(['verify-attestation', other, '--root', rootPath, '--identity', published], h)).toBe(EXIT.FAILURE);
    expect(h.out).toContain('identity DIFFERS');
    const none = io();
    expect(await main(['verify-attestation', await docFile(null, 'none.cose'), '--root', rootPath, '--identity', published, '--json'], none)).toBe(EXIT.FAILURE);
    expect(JSON.parse(none.out).result.failures[0]).toMatchObject({ code: 'ERR_ATTESTATION_USER_DATA', message: expect.stringContaining('not a co-signer identity') });
  });

  it('refuses an identity file that is not print-public-key output (exit 2), before any verdict', async () => {
    const doc = await docFile(fields, 'doc.cose');
    const good = JSON.parse(readFileSync(await publish(), 'utf8'));
    const otherPem = String(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const cases: Array<[string, string, string]> = [
      ['not JSON', '{nope', 'not JSON'],
      ['a failed envelope', JSON.stringify({ ok: false, command: 'print-public-key', exitCode: 1 }), 'not a successful'],
      ['another command', JSON.stringify({ ...good, command: 'status' }), 'not a successful'],
      ['no identity', JSON.stringify({ ...good, result: { ...good.result, identity: null } }), 'no "identity"'],
      ['an unknown identity field', JSON.stringify({ ...good, result: { ...good.result, identity: { ...good.result.identity, extra: 1 } } }), 'unknown identity field'],
      ['a malformed fingerprint', JSON.stringify({ ...good, result: { ...good.result, identity: { ...good.result.identity, coordinatorKeySha256: 'AB' } } }), 'coordinatorKeySha256'],
      ['a key that is not the identity\'s', JSON.stringify({ ...good, result: { ...good.result, publicKeyPem: otherPem } }), 'not the callback signing key'],
    ];
    for (const [what, text, says] of cases) {
      const f = join(dir, 'bad.json');
      writeFileSync(f, text);
      const a = io();
      expect(await main(['verify-attestation', doc, '--root', rootPath, '--identity', f, '--json'], a), what).toBe(EXIT.USAGE);
      const j = JSON.parse(a.out);
      expect(j, what).toMatchObject({ ok: false, exitCode: 2, error: { code: 'ERR_INVALID_ARGUMENT' } });
      expect(j.error.message, what).toContain(says);
      expect(j.result, what).toBeUndefined();
    }
    // The bare `result` object (without the envelope) is accepted too.
    const bare = join(dir, 'bare.json');
    writeFileSync(bare, JSON.stringify(good.result));
    expect(await main(['verify-attestation', doc, '--root', rootPath, '--identity', bare], io())).toBe(EXIT.OK);
  });
});
