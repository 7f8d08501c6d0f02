import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CosignerError, ERROR_CODES, type ErrorCode } from '../../../proto/errors.ts';
import { createPairingToken } from '../../../proto/coordinator/pairing-token.ts';
import { buildKeyPolicy, ENCLAVE_READ_ACTIONS } from '../../../proto/kms/key-policy.ts';
import { startControlServer } from '../../../parent/control/server.ts';
import type { ControlRequest } from '../../../parent/control/protocol.ts';
import { main } from '../../../parent/cli/main.ts';
import { COMMANDS, DELEGATED } from '../../../parent/cli/args.ts';
import { EXAMPLES, FLAG_HELP } from '../../../parent/cli/help.ts';
import { HINTS } from '../../../parent/cli/hints.ts';
import { EXIT, type CliIo } from '../../../parent/cli/io.ts';
import { tempDir } from '../../support/temp-dir.ts';

let dir: string;
let socket: string;
let calls: ControlRequest[];
let close: () => Promise<void>;
let reply: (r: ControlRequest) => Promise<unknown>;

const ready = { daemon: {}, supervisor: { state: 'running' }, wire: { connected: true }, enclave: { state: 'unsealed', errorCode: '', errorMessage: '', coordinator: 'connected' } };

beforeEach(async () => {
  dir = tempDir('cli-op-');
  socket = join(dir, 'run', 'c.sock');
  calls = [];
  reply = async (r) => (r.method === 'checkEgress' ? { allowed: true, allowListPath: '/etc/cosigner/allowlist.json' } : r.method === 'status' ? ready : {});
  const s = await startControlServer({
    path: socket,
    handler: async (r) => {
      calls.push(r);
      return reply(r);
    },
  });
  close = s.close;
});
afterEach(async () => close());

function io(opts: { interactive?: boolean; input?: string; cwd?: string; socket?: string } = {}): CliIo & { out: string; err: string } {
  const o = {
    out: '',
    err: '',
    stdin: opts.input !== undefined ? Readable.from([opts.input]) : new PassThrough(),
    interactive: opts.interactive ?? false,
    env: { COSIGNER_SOCKET: opts.socket ?? socket } as NodeJS.ProcessEnv,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    stdout: (s: string) => void (o.out += s),
    stderr: (s: string) => void (o.err += s),
  };
  return o;
}

const ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const coord = generateKeyPairSync('ed25519');
const pem = (k: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer }): string => String(k.export({ type: 'spki', format: 'pem' }));

describe('help', () => {
  it('every command has a description, described flags, an example, and --help exits 0', async () => {
    const all = io();
    expect(await main(['help'], all)).toBe(0);
    for (const [name, spec] of Object.entries(COMMANDS)) {
      expect(spec.summary.length, name).toBeGreaterThan(10);
      expect(all.out).toContain(name);
      expect(EXAMPLES[name as keyof typeof COMMANDS]).toMatch(new RegExp(`^cosigner ${name}`));
      for (const flag of Object.keys(spec.options)) expect(FLAG_HELP[flag], `${name} --${flag}`).toBeTruthy();
      const a = io();
      expect(await main([name, '--help'], a), name).toBe(0);
      expect(a.out).toContain(spec.summary);
      expect(a.out).toContain('example:');
    }
    for (const name of Object.keys(DELEGATED)) {
      const a = io();
      expect(await main([name, '--help'], a), name).toBe(0);
      expect(a.out).toContain('usage: cosigner');
    }
    expect(calls).toEqual([]);
  });

  it('every error code has its own next: step (no generic fallback)', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) expect(HINTS[code], code).toMatch(/\S{3}/);
    expect(HINTS.ERR_EGRESS_DENIED).toContain('allowListPath');
  });
});

describe('exit codes (docs/operations.md table)', () => {
  const failWith = (code: ErrorCode, details?: Record<string, string | number | boolean>) => async () => {
    throw new CosignerError(code, 'x', details ? { details } : {});
  };
  const rows: Array<[string, string[], number, (() => Promise<unknown>) | null]> = [
    ['unknown command', ['frobnicate'], EXIT.USAGE, null],
    ['unknown flag', ['status', '--colour'], EXIT.USAGE, null],
    ['bad flag value', ['logs', '-n', 'many'], EXIT.USAGE, null],
    ['bad value found by the daemon', ['list-users'], EXIT.USAGE, failWith('ERR_INVALID_ARGUMENT')],
    ['operation failed', ['remove-user', 'u1'], EXIT.FAILURE, failWith('ERR_NOT_FOUND')],
    ['refresh-key without a key id', ['refresh-key', 'u1'], EXIT.USAGE, null],
    ['refresh-key of a FROST key', ['refresh-key', 'u1', 'frost-ed25519:00'], EXIT.FAILURE, failWith('ERR_UNSUPPORTED_SCHEME')],
    ['enclave not running', ['list-users'], EXIT.UNAVAILABLE, failWith('ERR_ENCLAVE_NOT_RUNNING')],
    ['daemon busy', ['list-users'], EXIT.UNAVAILABLE, failWith('ERR_BUSY')],
    ['restore refused', ['backups', 'restore', '3'], EXIT.REFUSED, failWith('ERR_RESTORE_REFUSED')],
    ['sealed', ['list-users'], EXIT.CANNOT_SIGN, failWith('ERR_SEALED')],
    ['rollback', ['unseal'], EXIT.CANNOT_SIGN, failWith('ERR_ROLLBACK')],
    ['unseal failed for another reason', ['unseal'], EXIT.CANNOT_SIGN, failWith('ERR_KMS')],
  ];
  for (const [what, argv, code, handler] of rows) {
    it(`${what}: exit ${code}, with a next: line`, async () => {
      if (handler) reply = handler;
      const a = io();
      expect(await main(argv, a)).toBe(code);
      expect(a.err).toMatch(/\n  next: \S/);
    });
  }

  it('daemon not running: exit 3', async () => {
    const a = io({ socket: join(dir, 'nope.sock') });
    expect(await main(['status'], a)).toBe(EXIT.UNREACHABLE);
    expect(a.err).toContain('systemctl start cosigner-parent');
  });

  const enclave = (e: Record<string, unknown> | null, sup = 'running') => ({ daemon: {}, supervisor: { state: sup }, wire: { connected: e !== null }, enclave: e });
  const cannot: Array<[string, ReturnType<typeof enclave>, number, string]> = [
    ['enclave stopped', enclave(null, 'stopped'), EXIT.UNAVAILABLE, 'cosigner start'],
    ['not set up', enclave({ state: 'not-set-up', coordinator: 'not-started' }), EXIT.CANNOT_SIGN, 'cosigner setup'],
    ['access denied', enclave({ state: 'access-denied', errorCode: 'ERR_KMS_ACCESS_DENIED', coordinator: 'not-started' }), EXIT.CANNOT_SIGN, 'key-policy'],
    ['rollback refused by the coordinator', enclave({ state: 'unsealed', errorCode: 'ERR_ROLLBACK', coordinator: 'disconnected' }), EXIT.CANNOT_SIGN, 'backups restore'],
    ['no coordinator floor yet', enclave({ state: 'unsealed', errorCode: '', coordinator: 'connecting' }), EXIT.CANNOT_SIGN, 'allowListPath'],
  ];
  for (const [what, st, code, next] of cannot) {
    it(`status/start/unseal when ${what}: exit ${code}, status printed, specific next:`, async () => {
      reply = async (r) => (r.method === 'status' ? st : { state: 'running' });
      for (const argv of [['status'], ['start', '--timeout', '1'], ...(st.enclave ? [['unseal', '--timeout', '1']] : [])]) {
        const a = io();
        expect(await main(argv, a), argv.join(' ')).toBe(code);
        expect(a.err).toContain(next);
      }
      const j = io();
      expect(await main(['status', '--json'], j)).toBe(code);
      expect(JSON.parse(j.out)).toMatchObject({ ok: false, exitCode: code, result: { supervisor: st.supervisor } });
    });
  }

  it('start exits 0 once the co-signer can sign', async () => {
    expect(await main(['start'], io())).toBe(0);
  });
});

describe('interactive setup', () => {
  it('re-asks a bad answer, names flags, checks the pairing token before setup is sent', async () => {
    const owner = join(dir, 'owner.pem');
    writeFileSync(owner, pem(generateKeyPairSync('ed25519').publicKey));
    const coordFile = join(dir, 'coord.pem');
    writeFileSync(coordFile, pem(coord.publicKey));
    const other = generateKeyPairSync('ed25519');
    const forged = createPairingToken({ userId: 'u1', workspace: 'ws', now: Date.now() }, other).token;
    const expired = createPairingToken({ userId: 'u1', workspace: 'ws', now: Date.now() - 2 * 3600_000 }, coord).token;
    const good = createPairingToken({ userId: 'u1', workspace: 'ws', now: Date.now() }, coord).token;
    reply = async (r) => (r.method === 'checkEgress' ? { allowed: true, allowListPath: '/a.json' } : r.method === 'setup' ? { cosignerId: 'cs-1', callbackPublicKeyPem: 'PEM' } : {});
    // ARN typo, then right; region wrong, then default; bad coordinator address; an RSA owner key is refused.
    const rsa = join(dir, 'rsa.pem');
    writeFileSync(rsa, pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey));
    const input = ['arn:aws:kms:nope', ARN, 'eu-west-1', '', 'coordinator', 'coord.example:443', coordFile, rsa, owner, forged, expired, good, '', ''].join('\n') + '\n';
    const a = io({ interactive: true, input, cwd: dir });
    expect(await main(['setup'], a)).toBe(0);
    expect(a.err).toContain('--kms-key-arn: must look like');
    expect(a.err).toContain('--region: is eu-west-1 but the key ARN is in us-east-1');
    expect(a.err).toContain('--coordinator-url: must be host:port');
    expect(a.err).toContain('--owner-public-key: must be an Ed25519 public key');
    expect(a.err).toContain('not signed by the coordinator key');
    expect(a.err).toContain('pairing token expired');
    expect(a.err).not.toContain('coordinator_public_key_pem');
    expect(calls.at(-1)).toMatchObject({ method: 'setup', params: { kmsKeyArn: ARN, region: 'us-east-1', coordinatorUrl: 'coord.example:443', pairingToken: good } });
  });

  it('gives up after three bad answers without sending setup (exit 2)', async () => {
    const a = io({ interactive: true, input: 'x\ny\nz\n' });
    expect(await main(['setup'], a)).toBe(EXIT.USAGE);
    expect(calls.filter((c) => c.method === 'setup')).toEqual([]);
  });

  it('a garbage --pairing-token is refused before anything is sealed; the error names the flag otherwise', async () => {
    const owner = join(dir, 'owner2.pem');
    writeFileSync(owner, pem(generateKeyPairSync('ed25519').publicKey));
    const coordFile = join(dir, 'coord2.pem');
    writeFileSync(coordFile, pem(coord.publicKey));
    const base = ['setup', '--kms-key-arn', ARN, '--region', 'us-east-1', '--coordinator-url', 'c.example:443', '--coordinator-public-key', coordFile, '--owner-public-key', owner];
    const a = io();
    expect(await main([...base, '--pairing-token', 'garbage'], a)).toBe(EXIT.FAILURE);
    expect(a.err).toContain('ERR_PAIRING_TOKEN_INVALID');
    const b = io();
    expect(await main(['setup', '--kms-key-arn', ARN, '--region', 'us-east-1', '--coordinator-url', 'c.example:443', '--owner-public-key', owner], b)).toBe(EXIT.USAGE);
    expect(b.err).toContain('--coordinator-public-key is required');
    expect(calls.filter((c) => c.method === 'setup')).toEqual([]);
  });
});

describe('callback URL vs the egress allow-list', () => {
  it('add-user and callback-update refuse a handler the allow-list does not name, saying what to add', async () => {
    reply = async (r) => (r.method === 'checkEgress' ? { allowed: false, allowListPath: '/etc/cosigner/allowlist.json' } : {});
    const key = join(dir, 'h.pem');
    writeFileSync(key, pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
    for (const argv of [['add-user', '--pairing-token', 't'], ['callback-update', 'u1']]) {
      const a = io();
      expect(await main([...argv, '--callback-url', 'https://Handler.example:8443/x', '--handler-public-key', key], a)).toBe(EXIT.FAILURE);
      expect(a.err).toContain('ERR_EGRESS_DENIED');
      expect(a.err).toContain('next: add {"address":"handler.example","port":8443} to the "allowlist" array of /etc/cosigner/allowlist.json');
    }
    expect(calls.map((c) => c.method)).toEqual(['checkEgress', 'checkEgress']);
    expect(calls[0]?.params).toEqual({ host: 'handler.example', port: 8443 });
  });
});

describe('upgrade', () => {
  it('sends absolute paths resolved in the CLI\'s working directory', async () => {
    const role = 'arn:aws:iam::111122223333:role/cosigner-parent';
    const m = { Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: 'a'.repeat(96), PCR1: 'b'.repeat(96), PCR2: 'c'.repeat(96) } };
    writeFileSync(join(dir, 'm.json'), JSON.stringify(m));
    writeFileSync(join(dir, 'policy.json'), JSON.stringify(buildKeyPolicy({ measurements: m.Measurements, instanceRoleArn: role, adminArn: 'arn:aws:iam::111122223333:role/admin' })));
    reply = async () => ({ current: 'x', state: 'unsealed' });
    expect(await main(['upgrade', '--eif', 'new.eif', '--measurements', 'm.json', '--policy', 'policy.json', '--instance-role', role], io({ cwd: dir }))).toBe(0);
    expect(calls[0]?.params).toMatchObject({ eifPath: join(dir, 'new.eif'), measurementsPath: join(dir, 'm.json') });
  });

  it('the generated key policy lets the instance role read it (kms:GetKeyPolicy) for the --kms-key-arn check', () => {
    const role = 'arn:aws:iam::111122223333:role/cosigner-parent';
    const p = buildKeyPolicy({ measurements: { PCR0: 'a'.repeat(96), PCR1: 'b'.repeat(96), PCR2: 'c'.repeat(96) } as never, instanceRoleArn: role, adminArn: 'arn:aws:iam::111122223333:role/admin' });
    const read = p.Statement.find((st) => ([] as string[]).concat(st.Action).includes('kms:GetKeyPolicy') && JSON.stringify(st.Principal).includes(role));
    expect(ENCLAVE_READ_ACTIONS).toContain('kms:GetKeyPolicy');
    expect(read?.Effect).toBe('Allow');
  });
});

describe('list-users', () => {
  it('shows each user\'s handler key fingerprint', async () => {
    reply = async () => ({ users: [{ id: 'u1', workspace: 'ws', status: 'active', authMode: 'public-key', handlerUrl: 'https://h', handlerKeySha256: 'ab'.repeat(32), keys: [] }] });
    const a = io();
    expect(await main(['list-users'], a)).toBe(0);
    expect(a.out).toContain(`key ${'ab'.repeat(32)}`);
  });
});
