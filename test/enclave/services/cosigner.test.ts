import { describe, expect, it } from 'vitest';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { ownerKeyFingerprint } from '../../../proto/coordinator/owner-approval.ts';
import { CosignerError } from '../../../proto/errors.ts';
import { Cosigner } from '../../../enclave/services/cosigner.ts';
import { captureLogger, FakeBackends, fakeAttestor, instantClock, SETUP } from './fakes.ts';

function make(opts: { backends?: FakeBackends; localMode?: boolean; mode?: 'dev' | 'nsm' } = {}) {
  const backends = opts.backends ?? new FakeBackends();
  const { logger, lines } = captureLogger();
  const attestor = fakeAttestor(opts.mode ?? 'dev');
  const clock = instantClock();
  const cosigner = new Cosigner({ backends, attestor, buildId: 'test-build', localMode: opts.localMode ?? false, logger, clock });
  return { cosigner, backends, lines, attestor, clock };
}

async function code(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(CosignerError);
    return (err as CosignerError).code;
  }
  throw new Error('expected a CosignerError');
}

describe('Cosigner lifecycle', () => {
  it('boots into not-set-up when no secrets exist, then setup unseals', async () => {
    const { cosigner } = make();
    await cosigner.boot();
    expect(cosigner.status().state).toBe('not-set-up');
    expect(await code(() => cosigner.listUsers())).toBe('ERR_NOT_SET_UP');
    const r = await cosigner.setup(SETUP);
    expect(r.status.state).toBe('unsealed');
    expect(r.user).toBeUndefined();
    expect(createPublicKey(r.callbackPublicKeyPem).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(cosigner.printPublicKey().publicKeyPem).toBe(r.callbackPublicKeyPem);
    expect(cosigner.status().cosignerId).toBe(r.cosignerId);
    expect(cosigner.status().coordinator).toBe('connected');
  });

  it('refuses a second setup: secrets are never overwritten', async () => {
    const { cosigner } = make();
    await cosigner.boot();
    await cosigner.setup(SETUP);
    expect(await code(cosigner.setup(SETUP))).toBe('ERR_ALREADY_SET_UP');
  });

  it('refuses setup before boot finished', async () => {
    const { cosigner } = make();
    expect(await code(cosigner.setup(SETUP))).toBe('ERR_UNAVAILABLE');
  });

  it('rejects malformed setup input', async () => {
    const { cosigner } = make();
    await cosigner.boot();
    expect(await code(cosigner.setup({ ...SETUP, kmsKeyArn: 'not-an-arn' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.setup({ ...SETUP, region: 'eu-west-1' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.setup({ ...SETUP, coordinatorUrl: 'no-port' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.setup({ ...SETUP, coordinatorPublicKeyPem: 'garbage' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.setup({ ...SETUP, region: 'us-east-1\n' + 'x'.repeat(40) }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.setup({ ...SETUP, callback: { url: 'https://h.example:443' } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(cosigner.status().state).toBe('not-set-up');
  });

  it('requires the workspace owner\'s Ed25519 key at setup and shows its fingerprint in status', async () => {
    const { cosigner } = make();
    await cosigner.boot();
    const { ownerPublicKeyPem: _omit, ...withoutOwner } = SETUP;
    expect(await code(cosigner.setup(withoutOwner))).toBe('ERR_INVALID_ARGUMENT');
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
    expect(await code(cosigner.setup({ ...SETUP, ownerPublicKeyPem: p256 }))).toBe('ERR_INVALID_ARGUMENT');
    expect(cosigner.status().state).toBe('not-set-up');
    expect(cosigner.status().ownerKeyFingerprint).toBe('');
    await cosigner.setup(SETUP);
    expect(cosigner.status().ownerKeyFingerprint).toBe(ownerKeyFingerprint(SETUP.ownerPublicKeyPem));
  });

  it('a setup cut short by a full disk can be finished with the same data key; a complete one cannot', async () => {
    const backends = new FakeBackends();
    backends.setupError = new CosignerError('ERR_DISK_FULL', 'disk full');
    const { cosigner } = make({ backends });
    await cosigner.boot();
    expect(await code(cosigner.setup(SETUP))).toBe('ERR_DISK_FULL');
    expect(cosigner.status().state).toBe('sealed');
    const firstId = backends.partial!;
    backends.setupError = undefined;
    const r = await cosigner.setup(SETUP);
    expect(r.status.state).toBe('unsealed');
    expect(r.cosignerId).toBe(firstId);
    expect(await code(cosigner.setup(SETUP))).toBe('ERR_ALREADY_SET_UP');
  });

  it('accepts a KMS endpoint override only in a development build in local mode', async () => {
    const prod = make({ mode: 'nsm', localMode: true });
    await prod.cosigner.boot();
    expect(await code(prod.cosigner.setup({ ...SETUP, kmsEndpoint: 'https://127.0.0.1:4443' }))).toBe('ERR_PERMISSION_DENIED');
    const notLocal = make({ mode: 'dev', localMode: false });
    await notLocal.cosigner.boot();
    expect(await code(notLocal.cosigner.setup({ ...SETUP, kmsEndpoint: 'https://127.0.0.1:4443' }))).toBe('ERR_PERMISSION_DENIED');
    const local = make({ mode: 'dev', localMode: true });
    await local.cosigner.boot();
    expect((await local.cosigner.setup({ ...SETUP, kmsEndpoint: 'https://127.0.0.1:4443' })).status.state).toBe('unsealed');
  });

  it('a failed setup leaves not-set-up when nothing was stored', async () => {
    const backends = new FakeBackends();
    backends.setupError = new CosignerError('ERR_KMS_UNAVAILABLE', 'down');
    const { cosigner } = make({ backends });
    await cosigner.boot();
    expect(await code(cosigner.setup(SETUP))).toBe('ERR_KMS_UNAVAILABLE');
    expect(cosigner.status().state).toBe('not-set-up');
  });
});

describe('boot unseal', () => {
  async function sealedBackends(errors: CosignerError[]): Promise<FakeBackends> {
    const seed = make();
    await seed.cosigner.boot();
    await seed.cosigner.setup(SETUP);
    return new FakeBackends({ secrets: seed.backends.stored!, unsealErrors: errors });
  }

  it('unseals at boot when secrets exist', async () => {
    const { cosigner, backends } = make({ backends: await sealedBackends([]) });
    await cosigner.boot();
    expect(cosigner.status().state).toBe('unsealed');
    expect(backends.unsealCalls).toBe(1);
  });

  it('KMS access denied is a clear, final status until the operator retries', async () => {
    const { cosigner } = make({ backends: await sealedBackends([new CosignerError('ERR_KMS_ACCESS_DENIED', 'policy')]) });
    await cosigner.boot();
    const s = cosigner.status();
    expect(s.state).toBe('access-denied');
    expect(s.errorCode).toBe('ERR_KMS_ACCESS_DENIED');
    expect(s.notes.join(' ')).toMatch(/key policy/);
    expect(await code(() => cosigner.listUsers())).toBe('ERR_SEALED');
    expect(await code(cosigner.addUser({ pairingToken: 'abcdef' }))).toBe('ERR_SEALED');
    expect((await cosigner.unseal({})).state).toBe('unsealed');
  });

  it('retries a transient failure for as long as it lasts, backing off 1 s doubling to 60 s', async () => {
    const transient = () => new CosignerError('ERR_KMS_UNAVAILABLE', 'down');
    const m = make({ backends: await sealedBackends(Array.from({ length: 12 }, transient)) });
    await m.cosigner.boot();
    expect(m.cosigner.status().state).toBe('unsealed');
    expect(m.backends.unsealCalls).toBe(13);
    expect(m.clock.sleeps).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000]);
    expect(m.cosigner.status().unsealAttempts).toBe(0);
    expect(m.cosigner.status().nextUnsealAttemptAt).toBe('');
  });

  it('while waiting, status shows the last error and the next attempt; operator requests are not held up', async () => {
    const m = make({ backends: await sealedBackends(Array.from({ length: 3 }, () => new CosignerError('ERR_EGRESS_FAILED', 'refused'))) });
    let release!: () => void;
    const waiting: Array<ReturnType<typeof m.cosigner.status>> = [];
    m.clock.sleep = (ms) => {
      m.clock.sleeps.push(ms);
      waiting.push(m.cosigner.status());
      // The second wait lasts until the test lets it go.
      return m.clock.sleeps.length === 2 ? new Promise<void>((r) => (release = r)) : Promise.resolve();
    };
    const booted = m.cosigner.boot();
    while (m.clock.sleeps.length < 2) await new Promise((r) => setImmediate(r));
    const s = waiting[1]!;
    expect(s.state).toBe('sealed');
    expect(s.errorCode).toBe('ERR_EGRESS_FAILED');
    expect(s.unsealAttempts).toBe(2);
    expect(s.nextUnsealAttemptAt).toBe(new Date(1_700_000_000_000 + 2_000).toISOString());
    // The wait does not hold the mutation queue: an operator `Unseal` runs now (and fails: KMS is still down).
    expect(await code(m.cosigner.unseal({}))).toBe('ERR_EGRESS_FAILED');
    release();
    await booted;
    expect(m.cosigner.status().state).toBe('unsealed');
  });

  it('an operator Unseal that succeeds while boot waits ends the retries', async () => {
    const m = make({ backends: await sealedBackends([new CosignerError('ERR_KMS_UNAVAILABLE', 'down')]) });
    let release!: () => void;
    m.clock.sleep = () => new Promise<void>((r) => (release = r));
    const booted = m.cosigner.boot();
    while (!release) await new Promise((r) => setImmediate(r));
    expect((await m.cosigner.unseal({})).state).toBe('unsealed');
    expect(m.cosigner.status().nextUnsealAttemptAt).toBe('');
    release();
    await booted;
    expect(m.backends.unsealCalls).toBe(2);
  });

  it('shutdown stops the retries', async () => {
    const m = make({ backends: await sealedBackends(Array.from({ length: 1_000 }, () => new CosignerError('ERR_KMS_UNAVAILABLE', 'down'))) });
    m.clock.sleep = (ms, signal) =>
      new Promise<void>((_r, reject) => {
        m.clock.sleeps.push(ms);
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    const booted = m.cosigner.boot();
    while (m.clock.sleeps.length < 1) await new Promise((r) => setImmediate(r));
    await m.cosigner.shutdown();
    await booted;
    expect(m.backends.unsealCalls).toBe(1);
    expect(m.cosigner.status()).toMatchObject({ state: 'sealed', errorCode: 'ERR_KMS_UNAVAILABLE', nextUnsealAttemptAt: '' });
  });

  it('a transient failure of an operator Unseal after a final verdict is retried when a parent reconnects', async () => {
    const m = make({ backends: await sealedBackends([new CosignerError('ERR_KMS_ACCESS_DENIED', 'policy'), new CosignerError('ERR_UNAVAILABLE', 'no parent')]) });
    await m.cosigner.boot();
    expect(m.cosigner.status().state).toBe('access-denied');
    expect(await code(m.cosigner.unseal({}))).toBe('ERR_UNAVAILABLE');
    expect(m.cosigner.status().state).toBe('sealed');
    await m.cosigner.boot();
    expect(m.cosigner.status().state).toBe('unsealed');
  });

  it('an unreachable blob store keeps the state starting (setup waits), with the error shown', async () => {
    const backends = new FakeBackends();
    let fails = 2;
    backends.hasSecrets = async () => {
      if (fails-- > 0) throw new CosignerError('ERR_UNAVAILABLE', 'no parent');
      return false;
    };
    const m = make({ backends });
    const seen: string[] = [];
    m.clock.sleep = async (ms) => {
      m.clock.sleeps.push(ms);
      seen.push(`${m.cosigner.status().state}/${m.cosigner.status().errorCode}`);
    };
    await m.cosigner.boot();
    expect(seen).toEqual(['starting/ERR_UNAVAILABLE', 'starting/ERR_UNAVAILABLE']);
    expect(m.cosigner.status()).toMatchObject({ state: 'not-set-up', errorCode: '' });
  });

  it('a corrupt DB is not retried and stays sealed', async () => {
    const { cosigner, backends } = make({ backends: await sealedBackends([new CosignerError('ERR_SECRETS_DB_CORRUPT', 'bad tag')]) });
    await cosigner.boot();
    expect(cosigner.status().state).toBe('sealed');
    expect(cosigner.status().errorCode).toBe('ERR_SECRETS_DB_CORRUPT');
    await cosigner.boot();
    expect(backends.unsealCalls).toBe(1);
  });

  it('Unseal validates allow_rollback_to', async () => {
    const { cosigner } = make({ backends: await sealedBackends([new CosignerError('ERR_ROLLBACK', 'old')]) });
    await cosigner.boot();
    expect(await code(cosigner.unseal({ allowRollbackTo: '12x' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.unseal({ allowRollbackTo: '99999999999999999999' }))).toBe('ERR_INVALID_ARGUMENT');
    expect((await cosigner.unseal({ allowRollbackTo: '3' })).state).toBe('unsealed');
  });
});

describe('users', () => {
  async function ready(localMode = false) {
    const m = make({ localMode });
    await m.cosigner.boot();
    await m.cosigner.setup(SETUP);
    return m;
  }

  it('a pairing failure during setup still reports the sealed co-signer', async () => {
    const m = make();
    await m.cosigner.boot();
    m.backends.pairUser = async () => {
      throw new CosignerError('ERR_PAIRING_TOKEN_EXPIRED', 'token expired');
    };
    try {
      await m.cosigner.setup({ ...SETUP, pairingToken: 'oldtoken' });
      throw new Error('expected failure');
    } catch (err) {
      expect((err as CosignerError).code).toBe('ERR_PAIRING_TOKEN_EXPIRED');
      expect((err as Error).message).toMatch(/setup done .* sealed.*add-user/);
    }
    expect(m.cosigner.status().state).toBe('unsealed');
  });

  it('pairs, lists without secrets, refuses duplicates, removes', async () => {
    const { cosigner, backends } = await ready();
    const u = await cosigner.addUser({ pairingToken: 'token1' });
    expect(u.status).toBe('pending');
    expect(await code(cosigner.addUser({ pairingToken: 'token1' }))).toBe('ERR_ALREADY_EXISTS');
    const listed = cosigner.listUsers();
    expect(listed.map((x) => x.id)).toEqual([u.id]);
    const text = JSON.stringify(listed);
    expect(text).not.toContain('ssss');
    expect(text).not.toContain('aaaa');
    expect(text).not.toMatch(/secretShare|approvalKey/);
    expect(backends.pairCalls).toHaveLength(2);
    expect(await code(cosigner.removeUser({ userId: 'nobody' }))).toBe('ERR_NOT_FOUND');
    expect(await code(cosigner.removeUser({ userId: '../../etc' }))).toBe('ERR_INVALID_ARGUMENT');
    // A proposal only: the user and its shares stay until the owner approves (owner-changes.test.ts).
    const r = await cosigner.removeUser({ userId: u.id });
    expect(r).toMatchObject({ userId: u.id, pending: { kind: 'user.remove', userId: u.id } });
    expect(cosigner.listUsers().map((x) => x.id)).toEqual([u.id]);
    expect(backends.sent.map((m) => m.type)).toContain('change.propose');
  });

  it('rejects bad tokens and callback settings before pairing', async () => {
    const { cosigner, backends } = await ready();
    expect(await code(cosigner.addUser({ pairingToken: '' }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.addUser({ pairingToken: 'x'.repeat(9000) }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.addUser({ pairingToken: 'tok en' }))).toBe('ERR_INVALID_ARGUMENT');
    // plain http only in local mode
    expect(await code(cosigner.addUser({ pairingToken: 'token2', callback: { url: 'http://127.0.0.1:9', authMode: 'public-key', handlerPublicKeyPem: SETUP.coordinatorPublicKeyPem } }))).toBe('ERR_INVALID_ARGUMENT');
    // public-key mode needs the handler key
    expect(await code(cosigner.addUser({ pairingToken: 'token2', callback: { url: 'https://127.0.0.1:9' } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.addUser({ pairingToken: 'token2', callback: { url: 'https://127.0.0.1:9', authMode: 'magic' } }))).toBe('ERR_INVALID_ARGUMENT');
    expect(backends.pairCalls).toHaveLength(0);
  });

  it('local mode accepts a plain-http handler', async () => {
    const { cosigner } = await ready(true);
    const u = await cosigner.addUser({ pairingToken: 'token3', callback: { url: 'http://127.0.0.1:9', authMode: 'public-key', handlerPublicKeyPem: SETUP.coordinatorPublicKeyPem } });
    expect(u.handlerUrl).toBe('http://127.0.0.1:9');
    expect(u.authMode).toBe('public-key');
  });

  it('a callback update is a proposal: nothing changes, whatever flag the parent sends', async () => {
    const { cosigner, backends } = await ready();
    const u = await cosigner.addUser({ pairingToken: 'token4' });
    const handlerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const next = { url: 'https://127.0.0.1:9', authMode: 'public-key', handlerPublicKeyPem: handlerKey };
    const r = await cosigner.callbackUpdate({ userId: u.id, callback: next, confirmed: true } as Parameters<Cosigner['callbackUpdate']>[0]);
    expect(r.applied).toBe(false);
    expect(r.pending).toMatchObject({ kind: 'callback.update', userId: u.id });
    expect(cosigner.listUsers()[0]?.handlerUrl).toBe('');
    expect(cosigner.status().pendingChanges).toBe(1);
    expect(backends.confirmedSeen).toEqual([]);
  });

  it('attestation binds the nonce and, once unsealed, the identity user data', async () => {
    const { cosigner, attestor } = await ready();
    const r = await cosigner.getAttestation({ nonce: new Uint8Array(32) });
    expect(r.userData.length).toBeGreaterThan(0);
    expect(attestor.requests[0]).toMatchObject({ nonce: new Uint8Array(32) });
    expect(await code(cosigner.getAttestation({ nonce: new Uint8Array(513) }))).toBe('ERR_INVALID_ARGUMENT');
    expect(await code(cosigner.getAttestation({ nonce: 'abc' }))).toBe('ERR_INVALID_ARGUMENT');
  });

  it('disk full while sealing a new user: clear error, nothing half-written, the next try works', async () => {
    const { cosigner } = await ready();
    const vault = cosigner.openVault as unknown as { update: (m: unknown) => Promise<void> };
    const real = vault.update.bind(vault);
    vault.update = async () => {
      throw new CosignerError('ERR_DISK_FULL', 'disk full while writing secrets.db; the previous generation is intact');
    };
    expect(await code(cosigner.addUser({ pairingToken: 'token5' }))).toBe('ERR_DISK_FULL');
    expect(cosigner.listUsers()).toEqual([]);
    expect(cosigner.status().state).toBe('unsealed');
    vault.update = real;
    expect((await cosigner.addUser({ pairingToken: 'token5' })).id).toBe('user-token5');
  });

  it('shutdown stops the coordinator client and closes the vault', async () => {
    const { cosigner, backends } = await ready();
    const vault = cosigner.openVault as unknown as { closed: boolean };
    await cosigner.shutdown();
    expect(backends.upstreamStops).toBe(1);
    expect(vault.closed).toBe(true);
  });
});
