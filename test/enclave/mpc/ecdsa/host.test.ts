// The ECDSA worker pool (enclave/mpc/ecdsa/host/pool.ts): runs live in worker threads and answer
// with plain data; protocol errors cross the thread boundary typed (ERR_PEER_CHEATED keeps the
// peer and the check); a worker that dies fails its pending and later calls with
// ERR_SESSION_ABORTED / ERR_SESSION_NOT_FOUND instead of hanging, and new runs get a fresh worker.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { EcdsaHost } from '../../../../enclave/mpc/ecdsa/host/host.ts';
import { workerHost } from '../../../../enclave/mpc/ecdsa/host/pool.ts';
import type { PartyMessage } from '../../../../enclave/mpc/ecdsa/party.ts';
import type { KeyShareRecord } from '../../../../enclave/vault/records.ts';
import { rejectionCode } from '../../../support/error-code.ts';

const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
const fakeEntry = new URL('../../../support/fake-ecdsa-worker.ts', import.meta.url).href;
const fakeWorker = (): Worker => new Worker(`import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(fakeEntry)}); });`, { eval: true });

let hosts: EcdsaHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  hosts = [];
});

const dkg = (identifier: number) => ({ kind: 'dkg' as const, params: { threshold: 2, participants: [1, 2], identifier, now: 0 } });

describe('ECDSA worker pool', () => {
  it('runs two parties of a key generation on two workers to the same key', async () => {
    const host = workerHost({ size: 2, spawn: fakeWorker });
    hosts.push(host);
    await host.start('a', dkg(1));
    await host.start('b', dkg(2));
    const a1 = await host.step('a', []);
    const b1 = await host.step('b', []);
    const a2 = await host.step('a', b1.messages as PartyMessage[]);
    const b2 = await host.step('b', a1.messages as PartyMessage[]);
    const ka = a2.result as KeyShareRecord;
    expect(ka.scheme).toBe('dkls23-secp256k1');
    expect(ka.groupPublicKey).toBe((b2.result as KeyShareRecord).groupPublicKey);
    // A finished run is gone.
    expect(await rejectionCode(host.step('a', []))).toBe('ERR_SESSION_NOT_FOUND');
  });

  it('a peer failing a check: ERR_PEER_CHEATED with its identifier and check, the run aborted', async () => {
    const host = workerHost({ size: 1, spawn: fakeWorker });
    hosts.push(host);
    await host.start('c', dkg(1));
    await host.step('c', []);
    const err = await host.step('c', [{ from: 2, to: 0, payload: Uint8Array.of(0, 0, 1) }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PEER_CHEATED', details: { identifier: 2, check: expect.any(String) } });
    expect(await rejectionCode(host.step('c', []))).toBe('ERR_SESSION_NOT_FOUND');
  });

  it('the build without the protocol refuses with a typed error from the worker', async () => {
    // The real worker entry (worker-entry.ts) through tsx, as unbundled runs use it.
    const host = workerHost({ size: 1 });
    hosts.push(host);
    const code = await rejectionCode(host.start('d', dkg(1)));
    // Until DKLs23 is in the build: ERR_UNSUPPORTED_SCHEME; afterwards the run starts.
    expect([undefined, 'ERR_UNSUPPORTED_SCHEME']).toContain(code);
  });

  it('a worker that dies: pending calls fail with ERR_SESSION_ABORTED (no hang), its runs are gone, new runs get a fresh worker', async () => {
    const spawned: Worker[] = [];
    let mute = true;
    const spawn = (): Worker => {
      // The first worker never answers; later ones are real (fake-protocol) workers.
      const w = mute ? new Worker('require("node:worker_threads").parentPort.on("message", () => {});', { eval: true }) : fakeWorker();
      spawned.push(w);
      return w;
    };
    const host = workerHost({ size: 1, spawn });
    hosts.push(host);
    const pending = host.start('e', dkg(1));
    mute = false;
    await spawned[0]!.terminate();
    expect(await rejectionCode(pending)).toBe('ERR_SESSION_ABORTED');
    expect(await rejectionCode(host.step('e', []))).toBe('ERR_SESSION_NOT_FOUND');
    await host.start('f', dkg(1));
    expect((await host.step('f', [])).messages).toHaveLength(1);
    expect(spawned).toHaveLength(2);
  });
});
