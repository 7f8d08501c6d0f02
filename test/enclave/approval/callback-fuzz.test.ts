// Property: whatever bytes a handler answers with, the client returns APPROVE only for a well-formed
// APPROVE for this requestId, and otherwise throws a typed ERR_CALLBACK_* error.
import https from 'node:https';
import type net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CallbackClient } from '../../../enclave/approval/callback-client.ts';
import { CosignerError } from '../../../proto/errors.ts';
import { createEphemeralCa, type LocalCa } from '../../../local/local-ca.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import { cosignerKey, fakeClock, signRequest } from './helpers.ts';

let ca: LocalCa;
let server: https.Server;
let url: string;
let nextBody: Buffer = Buffer.alloc(0);

beforeAll(async () => {
  ca = await createEphemeralCa();
  const tls = await ca.issueServerCert();
  server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200).end(nextBody));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

it('never approves anything but a well-formed APPROVE for the same requestId', async () => {
  const client = new CallbackClient({ dial: loopbackDial().dial, signingKey: cosignerKey().privateKey, callTimeoutMs: 5_000, maxBodyBytes: 2048, clock: fakeClock() });
  const user = { id: 'u1', callback: { url, authMode: 'root-ca' as const, rootCaPem: ca.certPem } };
  const req = signRequest('u1', { txId: 'fz', requestId: 'fz' });
  const answer = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)),
    fc.record({ action: fc.constantFrom('APPROVE', 'approve', 'REJECT', 'IGNORE', 'RETRY', 'X', 1), requestId: fc.constantFrom('fz', 'FZ', 'fz ', '', 7), rejectionReason: fc.option(fc.string()) }, { requiredKeys: [] })
      .map((o) => Buffer.from(JSON.stringify(o))),
    fc.json().map((j) => Buffer.from(j)),
  );
  await fc.assert(
    fc.asyncProperty(answer, async (body) => {
      nextBody = body;
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        parsed = undefined;
      }
      const p = parsed as { action?: unknown; requestId?: unknown } | undefined;
      const wellFormedApprove = body.length <= 2048 && typeof p === 'object' && p !== null && p.action === 'APPROVE' && p.requestId === 'fz';
      const rejectionOk = typeof p !== 'object' || p === null || !('rejectionReason' in p) || typeof (p as { rejectionReason?: unknown }).rejectionReason === 'string' || (p as { rejectionReason?: unknown }).rejectionReason === null;
      try {
        const d = await client.ask(user, 'tx_sign_request', req, { purpose: 'sign' });
        expect(d.action).toBe('APPROVE');
        expect(wellFormedApprove && rejectionOk).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(CosignerError);
        expect((e as CosignerError).code).toMatch(/^ERR_CALLBACK_/);
        if ((e as CosignerError).code !== 'ERR_CALLBACK_RETRY_EXHAUSTED') expect(wellFormedApprove && rejectionOk).toBe(false);
      }
    }),
    { numRuns: 60, seed: 11 },
  );
});
