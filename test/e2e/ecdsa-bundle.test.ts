// The threshold ECDSA worker is the measured bundle itself: build/enclave-dev.mjs started as a
// worker thread with workerData.role = 'cosigner-ecdsa-worker' serves the ECDSA host protocol (and
// does not start an enclave), so no code outside what the image measures runs a protocol party.
import { rm } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ECDSA_WORKER_ROLE } from '../../enclave/mpc/ecdsa/host/worker.ts';
import { workerHost } from '../../enclave/mpc/ecdsa/host/pool.ts';
import { freshBundle } from './helpers.ts';

let build: Awaited<ReturnType<typeof freshBundle>>;

beforeAll(async () => {
  build = await freshBundle();
}, 120_000);

afterAll(async () => {
  if (build) await rm(build.dir, { recursive: true, force: true });
});

describe('ECDSA worker role of the enclave bundle', () => {
  it('answers host requests from inside the bundle; its refusal (or run) comes back typed', async () => {
    const host = workerHost({ size: 1, spawn: () => new Worker(build.bundlePath, { workerData: { role: ECDSA_WORKER_ROLE } }) });
    try {
      const code = await host.start('dkg:bundle', { kind: 'dkg', params: { threshold: 2, participants: [1, 2], identifier: 1, now: 0 } }).then(() => undefined, (e: { code?: string }) => e.code);
      // Without DKLs23 in the build the worker refuses with ERR_UNSUPPORTED_SCHEME; with it, the run starts.
      expect([undefined, 'ERR_UNSUPPORTED_SCHEME']).toContain(code);
      if (code === undefined) expect((await host.step('dkg:bundle', [])).messages.length).toBeGreaterThan(0);
    } finally {
      await host.close();
    }
  }, 60_000);
});
