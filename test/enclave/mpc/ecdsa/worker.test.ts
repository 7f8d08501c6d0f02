// The protocol objects run inside a worker thread (how the integration hosts them): the worker gets
// only plain data (key records, digest, signers), imports the protocol and the OT layer itself,
// and hands back plain messages and the signature.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { PartyMessage } from '../../../../enclave/mpc/ecdsa/party.ts';
import type { EcdsaSignature } from '../../../../enclave/mpc/ecdsa/signature.ts';
import { checkSignature, runEcdsaDkg, signingParties } from './helpers.ts';

// The worker: one signing party for party 2, driven by messages from this thread.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  // tsx's ESM loader so the worker imports the TypeScript sources as they are.
  const { register } = await import('tsx/esm/api');
  register();
  const { createEcdsaSigning } = await import(workerData.signing);
  const { idealOt } = await import(workerData.ot);
  const party = createEcdsaSigning({ ...workerData.params, ot: idealOt });
  parentPort.on('message', (incoming) => {
    try {
      parentPort.postMessage({ out: party.step(incoming) });
    } catch (err) {
      parentPort.postMessage({ error: err.code });
    }
  });
  parentPort.postMessage({ ready: true });
})();
`;

describe('a signing party inside a worker thread', () => {
  it('signs with a party in this thread, exchanging only structured-clone data', async () => {
    const keys = runEcdsaDkg(2, [1, 2]);
    const digest = new Uint8Array(32).fill(8);
    const here = signingParties(keys, [1, 2], digest)[0]!;
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        signing: fileURLToPath(new URL('../../../../enclave/mpc/ecdsa/signing.ts', import.meta.url)),
        ot: fileURLToPath(new URL('../../../support/ecdsa-ideal-ot.ts', import.meta.url)),
        params: { sessionId: 'sess-1', key: keys[1], digest, signers: [1, 2] },
      },
    });
    const replies: { ready?: boolean; out?: { messages: PartyMessage[]; result?: EcdsaSignature }; error?: string }[] = [];
    let wake: (() => void) | undefined;
    worker.on('message', (m) => {
      replies.push(m);
      wake?.();
    });
    worker.on('error', (err) => {
      replies.push({ error: String(err) });
      wake?.();
    });
    const next = async () => {
      while (replies.length === 0) await new Promise<void>((r) => (wake = r));
      return replies.shift()!;
    };
    try {
      expect((await next()).ready).toBe(true);
      let toWorker: PartyMessage[] = [];
      let toHere: PartyMessage[] = [];
      let sigHere: EcdsaSignature | undefined;
      let sigThere: EcdsaSignature | undefined;
      for (let round = 0; round < 4; round++) {
        const mine = here.step(toHere);
        worker.postMessage(toWorker);
        const theirs = await next();
        expect(theirs.error).toBeUndefined();
        toWorker = [...mine.messages];
        toHere = [...theirs.out!.messages];
        sigHere ??= mine.result;
        sigThere ??= theirs.out!.result;
      }
      expect(sigThere).toEqual(sigHere);
      checkSignature(sigThere!, digest, Buffer.from(keys[0]!.groupPublicKey, 'hex'));
    } finally {
      await worker.terminate();
    }
  });
});
