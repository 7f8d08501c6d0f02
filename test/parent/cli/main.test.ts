import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { startControlServer } from '../../../parent/control/server.ts';
import type { ControlRequest } from '../../../parent/control/protocol.ts';
import { main } from '../../../parent/cli/main.ts';
import { parseSince } from '../../../parent/cli/args.ts';
import type { CliIo } from '../../../parent/cli/io.ts';
import { buildKeyPolicy } from '../../../proto/kms/key-policy.ts';
import { createPairingToken } from '../../../proto/coordinator/pairing-token.ts';
import { generateKeyPairSync } from 'node:crypto';

let dir: string;
let socket: string;
let calls: ControlRequest[];
let close: () => Promise<void>;
let reply: (r: ControlRequest) => Promise<unknown>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cli-'));
  socket = join(dir, 'run', 'c.sock');
  calls = [];
  reply = async (r) => (r.method === 'checkEgress' ? { allowed: true, allowListPath: '/etc/cosigner/allowlist.json' } : { echo: r.method });
  const s = await startControlServer({
    path: socket,
    handler: async (r) => {
      calls.push(r);
      return reply(r);
    },
  });
  close = s.close;
});
afterEach(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

function io(opts: { interactive?: boolean; input?: string } = {}): CliIo & { out: string; err: string } {
  const o = {
    out: '',
    err: '',
    stdin: opts.input !== undefined ? Readable.from([opts.input]) : new PassThrough(),
    interactive: opts.interactive ?? false,
    env: { COSIGNER_SOCKET: socket } as NodeJS.ProcessEnv,
    stdout: (s: string) => void (o.out += s),
    stderr: (s: string) => void (o.err += s),
  };
  return o;
}

const coord = generateKeyPairSync('ed25519');
/** A status in which the co-signer can sign. */
const readyStatus = {
  daemon: {},
  supervisor: { state: 'running' },
  wire: { connected: true },
  enclave: { state: 'unsealed', errorCode: '', errorMessage: '', coordinator: 'connected' },
};
const ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE = 'arn:aws:iam::111122223333:role/cosigner-parent';
const ADMIN = 'arn:aws:iam::111122223333:role/admin';
const meas = (c: string): unknown => ({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: c.repeat(96), PCR1: 'b'.repeat(96), PCR2: 'c'.repeat(96) } });

describe('cosigner CLI: usage and exit codes', () => {
  it('prints help; no command is a usage error (2)', async () => {
    const a = io();
    expect(await main(['help'], a)).toBe(0);
    expect(a.out).toContain('upgrade');
    expect(await main([], io())).toBe(2);
  });

  it('unknown commands and flags exit 2 with ERR_USAGE', async () => {
    const a = io();
    expect(await main(['frobnicate', '--json'], a)).toBe(2);
    expect(JSON.parse(a.out)).toMatchObject({ ok: false, exitCode: 2, error: { code: 'ERR_USAGE' } });
    const b = io();
    expect(await main(['status', '--colour'], b)).toBe(2);
    expect(b.err).toContain('ERR_USAGE');
    expect(b.err).toContain('next:');
    expect(await main(['remove-user'], io())).toBe(2);
    expect(calls).toEqual([]);
  });

  it('setup without a TTY and without required flags exits 2 at once (never waits for input)', async () => {
    const a = io();
    expect(await main(['setup', '--json', '--region', 'us-east-1'], a)).toBe(2);
    expect(JSON.parse(a.out)).toMatchObject({ ok: false, error: { code: 'ERR_USAGE', message: expect.stringContaining('--kms-key-arn') } });
    // --yes disables prompts even on a terminal
    const b = io({ interactive: true });
    expect(await main(['setup', '--yes', '--kms-key-arn', ARN], b)).toBe(2);
    expect(b.err).toContain('--region');
    // a callback URL without any key or certificate
    expect(await main(['setup', '--kms-key-arn', ARN, '--region', 'us-east-1', '--callback-url', 'https://h.example'], io())).toBe(2);
    expect(await main(['add-user'], io())).toBe(2);
    // remove-user needs no interactive confirmation any more: it only proposes (the owner decides).
    expect(calls).toEqual([]);
  });

  it('daemon unreachable exits 3 and says how to fix it', async () => {
    const a = io();
    expect(await main(['status', '--socket', join(dir, 'none.sock')], a)).toBe(3);
    expect(a.err).toContain('ERR_CONTROL_SOCKET');
    expect(a.err).toContain('systemctl');
  });

  it('enclave not running exits 4; other daemon errors exit 1', async () => {
    reply = async () => {
      throw new CosignerError('ERR_ENCLAVE_NOT_RUNNING', 'not connected');
    };
    expect(await main(['list-users'], io())).toBe(4);
    reply = async () => {
      throw new CosignerError('ERR_PAIRING_TOKEN_EXPIRED', 'expired');
    };
    const a = io();
    expect(await main(['add-user', '--pairing-token', 't', '--json'], a)).toBe(1);
    expect(JSON.parse(a.out)).toMatchObject({ ok: false, command: 'add-user', exitCode: 1, error: { code: 'ERR_PAIRING_TOKEN_EXPIRED', hint: expect.stringContaining('new pairing token') } });
  });
});

describe('cosigner CLI: commands', () => {
  it('setup from flags sends a validated request; --json shape', async () => {
    const key = join(dir, 'handler.pem');
    const { generateKeyPairSync } = await import('node:crypto');
    writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
    const setupReply = { cosignerId: 'cs-1', callbackPublicKeyPem: 'PEM', user: { id: 'u1', status: 'pending' } };
    reply = async (r) => (r.method === 'checkEgress' ? { allowed: true, allowListPath: '/a.json' } : setupReply);
    const a = io();
    const owner = join(dir, 'owner.pem');
    writeFileSync(owner, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const coordFile = join(dir, 'coord.pem');
    writeFileSync(coordFile, coord.publicKey.export({ type: 'spki', format: 'pem' }));
    const pt = createPairingToken({ userId: 'u1', workspace: 'ws', now: Date.now() }, coord).token;
    const code = await main(['setup', '--json', '--kms-key-arn', ARN, '--region', 'us-east-1', '--coordinator-url', 'coord.example:443', '--coordinator-public-key', coordFile, '--owner-public-key', owner, '--pairing-token', pt, '--callback-url', 'https://h.example/v2', '--handler-public-key', key], a);
    expect(code).toBe(0);
    expect(JSON.parse(a.out)).toEqual({ ok: true, command: 'setup', result: { cosignerId: 'cs-1', callbackPublicKeyPem: 'PEM', user: { id: 'u1', status: 'pending' } } });
    expect(calls.map((c) => c.method)).toEqual(['checkEgress', 'checkEgress', 'setup']);
    expect(calls[2]?.params).toMatchObject({ kmsKeyArn: ARN, region: 'us-east-1', coordinatorUrl: 'coord.example:443', ownerPublicKeyPem: expect.stringContaining('BEGIN PUBLIC KEY'), pairingToken: pt, callback: { url: 'https://h.example/v2', authMode: 'public-key', handlerPublicKeyPem: expect.stringContaining('BEGIN PUBLIC KEY') } });
  });

  it('setup asks interactively for what is missing', async () => {
    reply = async (r) => (r.method === 'checkEgress' ? { allowed: true, allowListPath: '/a.json' } : { cosignerId: 'cs-1', callbackPublicKeyPem: 'PEM' });
    const owner = join(dir, 'owner-i.pem');
    const ownerPem = (await import('node:crypto')).generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    writeFileSync(owner, ownerPem);
    const coordPem = coord.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    // Region defaults to the ARN's (empty answer); the coordinator key is pasted; no pairing token.
    const a = io({ interactive: true, input: `${ARN}\n\ncoord.example:443\n${coordPem}${owner}\n\n` });
    expect(await main(['setup'], a)).toBe(0);
    expect(a.err).toContain('KMS key ARN');
    expect(a.err).toContain('Coordinator address');
    expect(a.err).toContain('owner');
    expect(calls.at(-1)?.params).toEqual({ kmsKeyArn: ARN, region: 'us-east-1', coordinatorUrl: 'coord.example:443', coordinatorPublicKeyPem: coordPem, ownerPublicKeyPem: ownerPem });
    expect(a.out).toContain('co-signer cs-1 is set up');
  });

  it('status prints a human summary and the raw object with --json', async () => {
    reply = async () => ({
      daemon: { version: '0.1.0', mode: 'local', home: '/h', queueDepth: 0, queueLimit: 64 },
      supervisor: { state: 'running', enclaveId: 'local-1', since: 't', image: '/b.mjs', restarts: 0, lastError: null, nextRestartInMs: null },
      wire: { connected: true, remoteBuildId: 'b1' },
      enclave: { state: 'unsealed', attestationMode: 'dev', users: 2, pendingUsers: 1, coordinator: 'connected', openSessions: 0, localMode: true, notes: ['n1'] },
    });
    const a = io();
    expect(await main(['status'], a)).toBe(0);
    expect(a.out).toMatch(/enclave\s+running local-1/);
    expect(a.out).toMatch(/secrets\s+unsealed/);
    const b = io();
    expect(await main(['status', '--json'], b)).toBe(0);
    expect(JSON.parse(b.out)).toMatchObject({ ok: true, command: 'status', result: { enclave: { state: 'unsealed' } } });
  });

  it('status shows why boot unseal is waiting and when it tries next', async () => {
    reply = async () => ({
      daemon: { version: '0.1.0', mode: 'local', home: '/h', queueDepth: 0, queueLimit: 64 },
      supervisor: { state: 'running', enclaveId: 'local-1', since: 't', image: '/b.mjs', restarts: 0, lastError: null, nextRestartInMs: null },
      wire: { connected: true, remoteBuildId: 'b1' },
      enclave: {
        state: 'sealed', attestationMode: 'dev', errorCode: 'ERR_KMS_UNAVAILABLE', errorMessage: 'KMS did not answer within 10000 ms',
        users: 0, pendingUsers: 0, coordinator: 'not-started', openSessions: 0, localMode: true, notes: [],
        nextUnsealAttemptAt: '2030-01-01T00:00:30.000Z', unsealAttempts: 4,
      },
    });
    const a = io();
    // It cannot sign yet: exit 6, the status printed, and a next: line saying it retries by itself.
    expect(await main(['status'], a)).toBe(6);
    expect(a.err).toContain('next: the enclave retries by itself at 2030-01-01T00:00:30.000Z');
    expect(a.out).toMatch(/secrets\s+sealed \(ERR_KMS_UNAVAILABLE: KMS did not answer/);
    expect(a.out).toMatch(/unseal attempt 5 at 2030-01-01T00:00:30.000Z \(retrying by itself/);
  });

  it('attestation --out writes the document bytes', async () => {
    reply = async (r) => ({ document: Buffer.from(`doc:${String(r.params.nonce)}`).toString('base64'), attestationMode: 'dev' });
    const out = join(dir, 'att.cose');
    expect(await main(['attestation', '--nonce', 'abcd', '--out', out], io())).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('doc:abcd');
    expect(await main(['attestation', '--nonce', 'xyz'], io())).toBe(2);
    // Never creates missing directories.
    const missing = join(dir, 'no', 'such', 'dir', 'att.cose');
    expect(await main(['attestation', '--out', missing], io())).toBe(2);
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });

  it('logs prints records; --since accepts ages, ISO and epoch ms', async () => {
    reply = async () => ({ lines: [JSON.stringify({ level: 30, time: 0, src: 'enclave', msg: 'hello' })], next: 10 });
    const a = io();
    expect(await main(['logs', '-n', '5', '--since', '10m'], a)).toBe(0);
    expect(a.out).toContain('INFO  enclave  hello');
    expect(calls[0]?.params.n).toBe(5);
    expect(parseSince('2h', 10_000_000)).toBe(10_000_000 - 7_200_000);
    expect(parseSince('2026-01-01T00:00:00Z')).toBe(Date.UTC(2026, 0, 1));
    expect(parseSince('1700000000000')).toBe(1700000000000);
    expect(() => parseSince('yesterday')).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it('key-policy delegates to parent/cli/key-policy.ts', async () => {
    const m = join(dir, 'm.json');
    writeFileSync(m, JSON.stringify(meas('a')));
    const a = io();
    expect(await main(['key-policy', m, '--instance-role', ROLE, '--admin', ADMIN], a)).toBe(0);
    expect(JSON.parse(a.out).Statement.length).toBeGreaterThanOrEqual(2);
    expect(await main(['key-policy', m], io())).toBe(2);
  });
});

describe('cosigner upgrade', () => {
  function files(admitted: string): { policy: string; next: string; eif: string } {
    const policy = join(dir, 'policy.json');
    const next = join(dir, 'next.json');
    const eif = join(dir, 'next.eif');
    writeFileSync(policy, JSON.stringify(buildKeyPolicy({ measurements: meas(admitted) as never, instanceRoleArn: ROLE, adminArn: ADMIN })));
    writeFileSync(next, JSON.stringify(meas('d')));
    writeFileSync(eif, 'eif');
    return { policy, next, eif };
  }

  it('refuses (exit 5, ERR_UPGRADE_REFUSED) when the key policy does not admit the new measurements, without touching the daemon', async () => {
    const f = files('a');
    const a = io();
    const code = await main(['upgrade', '--json', '--eif', f.eif, '--measurements', f.next, '--policy', f.policy, '--instance-role', ROLE], a);
    expect(code).toBe(5);
    const j = JSON.parse(a.out);
    expect(j).toMatchObject({ ok: false, exitCode: 5, error: { code: 'ERR_UPGRADE_REFUSED' } });
    expect(j.error.message).toContain('--also');
    expect(calls).toEqual([]);
  });

  it('refuses debug-mode (all-zero) measurements', async () => {
    const f = files('a');
    writeFileSync(f.next, JSON.stringify(meas('0')));
    expect(await main(['upgrade', '--eif', f.eif, '--measurements', f.next, '--policy', f.policy, '--instance-role', ROLE], io())).toBe(5);
    expect(calls).toEqual([]);
  });

  it('asks the daemon to switch once the policy admits the new image', async () => {
    const f = files('d');
    reply = async () => ({ previous: '/old.eif', current: f.eif, state: 'unsealed' });
    const a = io();
    expect(await main(['upgrade', '--eif', f.eif, '--measurements', f.next, '--policy', f.policy, '--instance-role', ROLE], a)).toBe(0);
    expect(calls[0]).toMatchObject({ method: 'upgrade', params: { eifPath: f.eif, measurementsPath: f.next, policyChecked: true } });
    expect(a.out).toContain('previous image kept at /old.eif');
  });

  it('reports a rollback with exit 5', async () => {
    const f = files('d');
    reply = async () => {
      throw new CosignerError('ERR_UPGRADE_ROLLED_BACK', 'rolled back');
    };
    expect(await main(['upgrade', '--eif', f.eif, '--measurements', f.next, '--policy', f.policy, '--instance-role', ROLE], io())).toBe(5);
  });

  it('needs --instance-role and a policy source', async () => {
    const f = files('d');
    expect(await main(['upgrade', '--eif', f.eif, '--measurements', f.next, '--policy', f.policy], io())).toBe(2);
    expect(await main(['upgrade', '--eif', f.eif, '--measurements', f.next, '--instance-role', ROLE], io())).toBe(2);
  });
});

describe('cosigner callback settings', () => {
  it('fetches the handler certificate and pins it only when the fingerprint matches', async () => {
    const { selfSignedCert } = await import('../../../local/local-ca.ts');
    const tls = await import('node:tls');
    const { X509Certificate } = await import('node:crypto');
    const cert = await selfSignedCert(['127.0.0.1']);
    const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    const fp = new X509Certificate(cert.certPem).fingerprint256;
    try {
      reply = async (r) => (r.method === 'checkEgress' ? { allowed: true, allowListPath: '/a.json' } : { user: { id: 'u1', status: 'pending' } });
      const wrong = io();
      expect(await main(['add-user', '--pairing-token', 't', '--callback-url', url, '--fetch-certificate', '--certificate-fingerprint', 'AA:BB'], wrong)).toBe(1);
      expect(wrong.err).toContain('ERR_CALLBACK_TLS');
      expect(await main(['add-user', '--pairing-token', 't', '--callback-url', url, '--fetch-certificate'], io())).toBe(2);
      expect(calls.filter((c) => c.method === 'addUser')).toEqual([]);
      expect(await main(['add-user', '--pairing-token', 't', '--callback-url', url, '--fetch-certificate', '--certificate-fingerprint', fp.toLowerCase()], io())).toBe(0);
      expect(calls.find((c) => c.method === 'addUser')?.params.callback).toMatchObject({ url, authMode: 'certificate', certificatePem: expect.stringContaining('BEGIN CERTIFICATE') });
    } finally {
      server.close();
    }
  });

  it('takes a pasted handler key interactively after confirmation, and refuses a bad one', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    reply = async (r) => (r.method === 'checkEgress' ? { allowed: true, allowListPath: '/a.json' } : { user: { id: 'u1', status: 'pending' } });
    const a = io({ interactive: true, input: `tok\nhttps://h.example\np\n${pem}y\n` });
    expect(await main(['add-user'], a)).toBe(0);
    expect(a.err).toContain('ES256 key, SPKI SHA-256');
    expect(calls.find((c) => c.method === 'addUser')?.params).toMatchObject({ pairingToken: 'tok', callback: { url: 'https://h.example', authMode: 'public-key', handlerPublicKeyPem: expect.stringContaining('BEGIN PUBLIC KEY') } });
    const bad = join(dir, 'bad.pem');
    writeFileSync(bad, '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
    expect(await main(['add-user', '--pairing-token', 't', '--callback-url', 'https://h.example', '--handler-public-key', bad], io())).toBe(2);
    expect(calls.filter((c) => c.method === 'addUser')).toHaveLength(1);
  });
});

describe('cosigner unseal', () => {
  it('forwards an explicit rollback generation and validates it', async () => {
    reply = async (r) => (r.method === 'status' ? readyStatus : { state: 'unsealed' });
    const a = io();
    expect(await main(['unseal', '--allow-rollback-to', '12'], a)).toBe(0);
    expect(a.out).toMatch(/secrets\s+unsealed/);
    expect(calls[0]).toMatchObject({ method: 'unseal', params: { allowRollbackTo: '12' } });
    expect(await main(['unseal', '--allow-rollback-to', 'latest'], io())).toBe(2);
  });
});

describe('cosigner start/restart', () => {
  const status = (state: string | null): unknown => ({
    daemon: {},
    supervisor: { state: 'running' },
    wire: { connected: state !== null },
    enclave: state === null ? null : { state, errorCode: state === 'access-denied' ? 'ERR_KMS_ACCESS_DENIED' : '', errorMessage: '', coordinator: 'connected' },
  });

  it('waits through boot and unseal, printing progress', async () => {
    const seq = [null, 'sealed', 'unsealing', 'unsealed'];
    reply = async (r) => (r.method === 'status' ? status(seq.length > 1 ? (seq.shift() as string | null) : (seq[0] as string)) : { state: 'running' });
    const a = io();
    expect(await main(['restart'], a)).toBe(0);
    expect(a.err).toContain('… enclave unsealing');
    expect(a.out).toMatch(/secrets\s+unsealed/);
  });

  it('fails with the enclave\'s code when it comes up access-denied', async () => {
    reply = async (r) => (r.method === 'status' ? status('access-denied') : { state: 'running' });
    const a = io();
    expect(await main(['start', '--json'], a)).toBe(6);
    expect(JSON.parse(a.out.trim().split('\n').at(-1)!)).toMatchObject({ ok: false, error: { code: 'ERR_KMS_ACCESS_DENIED' } });
    expect(await main(['start', '--no-wait'], io())).toBe(0);
  });
});
