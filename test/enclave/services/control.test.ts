import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { Cosigner } from '../../../enclave/services/cosigner.ts';
import { createControlService } from '../../../enclave/services/control.ts';
import { CONTROL_LIMITS } from '../../../enclave/services/limits.ts';
import { captureLogger, FakeBackends, fakeAttestor, instantClock, SETUP } from './fakes.ts';

const ctx = { signal: new AbortController().signal };

async function rejectCode(p: Promise<unknown>): Promise<CosignerError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CosignerError);
    return err as CosignerError;
  }
  throw new Error('expected rejection');
}

describe('Control service', () => {
  it('translates protobuf objects both ways', async () => {
    const backends = new FakeBackends();
    const { logger } = captureLogger();
    const cosigner = new Cosigner({ backends, attestor: fakeAttestor(), buildId: 'b', localMode: true, logger, clock: instantClock() });
    await cosigner.boot();
    const svc = createControlService(cosigner, logger);
    expect((await svc.Status!({}, ctx)).state).toBe('not-set-up');
    const setup = await svc.Setup!({ ...SETUP, kmsEndpoint: '', pairingToken: 'token9', callback: { url: '', authMode: '', handlerPublicKeyPem: '', certificatePem: '', rootCaPem: '' } }, ctx);
    expect(setup.cosignerId).toMatch(/^[0-9a-f-]{36}$/);
    expect((setup.user as { status: string }).status).toBe('pending');
    expect((setup.status as { users: number }).users).toBe(1);
    const list = await svc.ListUsers!({}, ctx);
    expect((list.users as unknown[]).length).toBe(1);
    const att = await svc.GetAttestation!({ nonce: new Uint8Array(4) }, ctx);
    expect(att.document).toBeInstanceOf(Uint8Array);
    expect(att.attestationMode).toBe('dev');
    expect(String((await svc.PrintPublicKey!({}, ctx)).publicKeyPem)).toMatch(/BEGIN PUBLIC KEY/);
  });

  it('hides the text of unexpected internal errors', async () => {
    const backends = new FakeBackends();
    backends.hasSecrets = async () => true;
    backends.unsealVault = async () => {
      throw new Error('secret=0123456789abcdef leaked by a library');
    };
    const { logger, lines } = captureLogger();
    const cosigner = new Cosigner({ backends, attestor: fakeAttestor(), buildId: 'b', localMode: false, logger, clock: instantClock() });
    const svc = createControlService(cosigner, logger);
    await cosigner.boot();
    const e = await rejectCode(svc.Unseal!({ allowRollbackTo: '' }, ctx));
    expect(e.code).toBe('ERR_INTERNAL');
    expect(e.message).not.toContain('0123456789abcdef');
    expect(lines.join('')).not.toContain('0123456789abcdef');
  });

  it('answers ERR_BUSY beyond the concurrency bound', async () => {
    const backends = new FakeBackends();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    backends.hasSecrets = async () => {
      await gate;
      return false;
    };
    const { logger } = captureLogger();
    const attestor = fakeAttestor();
    const slow = { ...attestor, attest: async () => { await gate; return new Uint8Array(1); } };
    const cosigner = new Cosigner({ backends, attestor: slow, buildId: 'b', localMode: false, logger, clock: instantClock() });
    const svc = createControlService(cosigner, logger);
    const pending = Array.from({ length: CONTROL_LIMITS.maxConcurrentRequests }, () => svc.GetAttestation!({ nonce: new Uint8Array(0) }, ctx));
    const e = await rejectCode(svc.Status!({}, ctx));
    expect(e.code).toBe('ERR_BUSY');
    release();
    await Promise.all(pending);
    expect((await svc.Status!({}, ctx)).state).toBe('starting');
  });
});
