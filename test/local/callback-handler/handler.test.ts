// The sample handler itself: its rules, and that it refuses what a real handler refuses.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompactSign, compactVerify, importSPKI } from 'jose';
import { describe, expect, it } from 'vitest';
import { compareDecimal, decideTx } from '../../../local/callback-handler/rules.ts';
import { startSampleHandler } from '../../../local/callback-handler/handler.ts';

const cosigner = generateKeyPairSync('rsa', { modulusLength: 2048 });
const cosignerPem = cosigner.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const sign = (o: object): Promise<string> => new CompactSign(Buffer.from(JSON.stringify(o))).setProtectedHeader({ alg: 'RS256' }).sign(cosigner.privateKey);

describe('rules', () => {
  it('compares decimals exactly', () => {
    expect(compareDecimal('0.010000000000000000', '0.01')).toBe(0);
    expect(compareDecimal('1.0000000001', '1')).toBe(1);
    expect(compareDecimal('2', '10')).toBe(-1);
  });

  it('applies limit, allow-list and retry-first-N', () => {
    const rules = { maxAmountPerAsset: { ETH: '1' }, allowedDestinations: ['0xAA'], retryFirstN: 1 };
    expect(decideTx(rules, { asset: 'ETH', amountStr: '0.5', destAddress: '0xaa' }, 0).action).toBe('RETRY');
    expect(decideTx(rules, { asset: 'ETH', amountStr: '0.5', destAddress: '0xaa' }, 1).action).toBe('APPROVE');
    expect(decideTx(rules, { asset: 'ETH', amountStr: '1.5', destAddress: '0xaa' }, 1).action).toBe('REJECT');
    expect(decideTx(rules, { asset: 'ETH', amountStr: '0.5', destAddress: '0xbb' }, 1).action).toBe('REJECT');
  });
});

describe('sample handler', () => {
  it('answers a signed request with a signed decision and refuses forged or misrouted requests', async () => {
    const h = await startSampleHandler({ mode: 'public-key', cosignerPublicKeyPem: cosignerPem });
    try {
      const ok = await fetch(`${h.url}/v2/tx_sign_request`, { method: 'POST', body: await sign({ requestId: 'r1', asset: 'ETH' }) });
      expect(ok.status).toBe(200);
      const { payload } = await compactVerify(await ok.text(), await importSPKI(h.publicKeyPem, 'RS256'));
      expect(JSON.parse(Buffer.from(payload).toString())).toMatchObject({ action: 'APPROVE', requestId: 'r1' });
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forged = await new CompactSign(Buffer.from('{"requestId":"r2"}')).setProtectedHeader({ alg: 'RS256' }).sign(other.privateKey);
      expect((await fetch(`${h.url}/v2/tx_sign_request`, { method: 'POST', body: forged })).status).toBe(401);
      expect((await fetch(`${h.url}/tx_sign_request`, { method: 'POST', body: await sign({ requestId: 'r3' }) })).status).toBe(404);
    } finally {
      await h.close();
    }
  });

  it('runs standalone and prints its URL and key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cb-handler-'));
    const keyFile = join(dir, 'cosigner.pub');
    writeFileSync(keyFile, cosignerPem);
    const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/callback-handler/cli.ts', '--cosigner-key', keyFile, '--max', 'ETH=1'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((res, rej) => {
        let buf = '';
        child.stdout.on('data', (c: Buffer) => {
          buf += c.toString();
          if (buf.includes('\n')) res(buf.split('\n')[0] ?? '');
        });
        child.once('exit', (code) => rej(new Error(`exited ${code}`)));
      });
      const info = JSON.parse(line) as { url: string; publicKeyPem: string };
      expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await fetch(`${info.url}/v2/tx_sign_request`, { method: 'POST', body: await sign({ requestId: 'big', asset: 'ETH', amountStr: '2' }) });
      const { payload } = await compactVerify(await r.text(), await importSPKI(info.publicKeyPem, 'RS256'));
      expect(JSON.parse(Buffer.from(payload).toString())).toMatchObject({ action: 'REJECT', requestId: 'big' });
    } finally {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
