// Canary: plant known secret values, then look for them (raw, hex, base64, base64url) in every byte
// that crossed the Dial tunnels, every blob the store was handed, every file under COSIGNER_HOME and
// every error/log line produced. secrets.key itself is a canary too (the KMS stand-in reports it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RollbackGuard, Vault } from '../../../enclave/vault/vault.ts';
import type { BlobStore } from '../../../proto/ports.ts';
import { measurementsFor, sampleState, startStack, type Stack } from './stack.ts';

let s: Stack;
beforeAll(async () => {
  s = await startStack({ record: true });
});
afterAll(async () => s?.close());

function filesUnder(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(readFileSync(p));
  }
  return out;
}

/** The forms a leaked secret could take. Secrets in the state are hex strings; the key is raw bytes. */
function forms(secret: Buffer): Buffer[] {
  const out = [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('hex').toUpperCase())];
  // base64 of the secret at each of the three alignments, minus the edge characters that depend on neighbours
  for (let shift = 0; shift < 3; shift++) {
    const b = secret.subarray(shift);
    const b64 = b.toString('base64').replace(/=+$/, '');
    const core = b64.slice(0, Math.floor((b.length * 4) / 3) - 2);
    if (core.length >= 16) {
      out.push(Buffer.from(core), Buffer.from(core.replace(/\+/g, '-').replace(/\//g, '_')));
    }
  }
  return out;
}

describe('canary: no secret leaves the enclave unsealed', () => {
  it('finds no canary in tunnel bytes, stored blobs, files or log lines', async () => {
    const canaryHex = randomBytes(24).toString('hex');
    const logLines: string[] = [];
    const written: Buffer[] = [];
    const recordingStore: BlobStore = {
      get: (n) => s.blobs.get(n),
      put: (n, d, g) => {
        written.push(Buffer.from(d));
        return s.blobs.put(n, d, g);
      },
    };
    const log = (x: unknown): void => {
      logLines.push(JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
      if (x instanceof Error) logLines.push(String(x.stack), JSON.stringify((x as { toJSON?: () => unknown }).toJSON?.() ?? {}));
    };
    const ID = 'canary-cosigner';
    const v = await Vault.setup({ kms: s.kmsClient(), attestor: s.attestor(), blobs: recordingStore, keyArn: s.keyArn, cosignerId: ID, initialState: sampleState(ID, canaryHex), guard: new RollbackGuard() });
    await v.update((st) => ({ ...st, users: [...st.users, { ...st.users[0]!, id: 'u2' }] }));
    v.close();
    const u = await Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: recordingStore, cosignerId: ID, guard: new RollbackGuard() });
    expect(u.state.identity.callbackSigningKeyPkcs8).toBe(`${canaryHex}01`);
    u.close();
    // failure paths log too
    for (const attempt of [
      () => Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(measurementsFor('evil')), blobs: recordingStore, cosignerId: ID, guard: new RollbackGuard() }),
      () => Vault.unseal({ kms: s.kmsClient(), attestor: s.attestor(), blobs: recordingStore, cosignerId: 'other', guard: new RollbackGuard() }),
    ]) {
      await attempt().then(log, log);
    }
    expect(logLines.join('\n')).toMatch(/ERR_KMS_ACCESS_DENIED[\s\S]*ERR_SECRETS_KEY_CORRUPT/);

    expect(s.recorder.recorded.length).toBeGreaterThan(0);
    expect(s.kmsPlaintexts.length).toBeGreaterThan(0);
    const haystacks: Buffer[] = [...s.recorder.recorded.map((b) => b), ...written, ...filesUnder(s.home), ...logLines.map((l) => Buffer.from(l))];
    // Tunnel bytes arrive in TLS-record-sized pieces: search the concatenation per direction too.
    haystacks.push(Buffer.concat(s.recorder.recorded));
    const secrets = [Buffer.from(canaryHex, 'hex'), ...s.kmsPlaintexts];
    // The planted value is a hex string inside the state: look for the string itself as well.
    const needles = [...secrets.flatMap(forms), Buffer.from(canaryHex), ...forms(Buffer.from(canaryHex))];
    for (const hay of haystacks) {
      for (const needle of needles) {
        expect(hay.includes(needle)).toBe(false);
      }
    }
    // and the search itself works: a planted copy is found
    const planted = Buffer.from(`{"k":"${Buffer.from(`zz${canaryHex}01`).toString('base64')}","h":"${s.kmsPlaintexts[0]!.toString('hex')}"}`);
    expect(forms(Buffer.from(canaryHex)).some((n) => planted.includes(n))).toBe(true);
    expect(forms(s.kmsPlaintexts[0]!).some((n) => planted.includes(n))).toBe(true);
  });
});
