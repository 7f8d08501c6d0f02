import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlClient, callDaemon } from '../../../parent/control/client.ts';
import { MAX_REQUEST_BYTES } from '../../../parent/control/protocol.ts';
import { startControlServer, type ControlHandler } from '../../../parent/control/server.ts';

let dir: string;
let closers: Array<() => Promise<void>> = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ctl-'));
});
afterEach(async () => {
  for (const c of closers) await c();
  closers = [];
  rmSync(dir, { recursive: true, force: true });
});

const echo: ControlHandler = async (req) => ({ method: req.method, params: req.params });

async function start(path = join(dir, 'run', 'control.sock'), handler = echo): Promise<string> {
  const s = await startControlServer({ path, handler });
  closers.push(() => s.close());
  return path;
}

/** Send raw bytes, collect response lines until `count` arrived or the server hung up. */
function raw(path: string, data: string, count = 1): Promise<{ lines: Array<Record<string, unknown>>; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(path);
    let buf = '';
    const lines: Array<Record<string, unknown>> = [];
    const done = (closed: boolean): void => {
      s.destroy();
      resolve({ lines, closed });
    };
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
      }
      if (lines.length >= count) done(false);
    });
    s.on('end', () => done(true));
    s.on('error', () => done(true));
    s.write(data);
  });
}

describe('control socket permissions', () => {
  it('creates the socket with mode 0600 in a 0700 directory', async () => {
    const p = await start();
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
  });

  it('refuses a group- or world-writable socket directory', async () => {
    const d = join(dir, 'open');
    mkdirSync(d);
    chmodSync(d, 0o777);
    await expect(start(join(d, 'control.sock'))).rejects.toMatchObject({ code: 'ERR_CONTROL_SOCKET' });
    chmodSync(d, 0o720);
    await expect(start(join(d, 'control.sock'))).rejects.toMatchObject({ code: 'ERR_CONTROL_SOCKET' });
  });

  it('refuses a directory whose parent others can write (no sticky bit)', async () => {
    const d = join(dir, 'shared');
    mkdirSync(join(d, 'ctl'), { recursive: true, mode: 0o700 });
    chmodSync(d, 0o777);
    await expect(start(join(d, 'ctl', 'control.sock'))).rejects.toMatchObject({ code: 'ERR_CONTROL_SOCKET', message: expect.stringContaining('sticky') });
    chmodSync(d, 0o1777);
    await start(join(d, 'ctl', 'control.sock'));
  });

  it('refuses a path that exists and is not a socket', async () => {
    mkdirSync(join(dir, 'run'), { mode: 0o700 });
    writeFileSync(join(dir, 'run', 'control.sock'), 'x');
    await expect(start()).rejects.toMatchObject({ code: 'ERR_CONTROL_SOCKET' });
  });

  it('refuses to start while another daemon listens, and replaces a stale socket', async () => {
    const p = await start();
    await expect(start(p)).rejects.toMatchObject({ code: 'ERR_CONTROL_SOCKET', message: expect.stringContaining('already listening') });
    await closers.pop()!();
    // A daemon killed with SIGKILL leaves its socket file behind.
    const { execFileSync } = await import('node:child_process');
    try {
      execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(p)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore' });
    } catch {
      // exits by SIGKILL, as intended
    }
    expect(statSync(p).isSocket()).toBe(true);
    await start(p);
    expect(await callDaemon(p, 'status')).toEqual({ method: 'status', params: {} });
  });
});

describe('control socket requests', () => {
  it('answers a valid request and keeps the connection for more', async () => {
    const p = await start();
    const c = await ControlClient.connect(p);
    expect(await c.request('removeUser', { userId: 'u1' })).toEqual({ method: 'removeUser', params: { userId: 'u1' } });
    expect(await c.request('logs', { n: 5 })).toEqual({ method: 'logs', params: { n: 5 } });
    c.close();
  });

  it('rejects malformed JSON with ERR_INVALID_ARGUMENT and stays usable', async () => {
    const p = await start();
    const r = await raw(p, '{not json\n{"id":7,"method":"status","params":{}}\n', 2);
    expect(r.lines[0]).toMatchObject({ id: null, ok: false, error: { code: 'ERR_INVALID_ARGUMENT' } });
    expect(r.lines[1]).toMatchObject({ id: 7, ok: true });
  });

  it('rejects unknown fields at the top level and inside params', async () => {
    const p = await start();
    const r = await raw(
      p,
      [
        JSON.stringify({ id: 1, method: 'status', params: {}, extra: 1 }),
        JSON.stringify({ id: 2, method: 'removeUser', params: { userId: 'u', force: true } }),
        JSON.stringify({ id: 3, method: 'setup', params: { kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/k', region: 'us-east-1', callback: { url: 'https://h', bogus: 'x' } } }),
      ].join('\n') + '\n',
      3,
    );
    expect(r.lines.map((l) => [l.id, (l.error as { code: string }).code])).toEqual([
      [1, 'ERR_INVALID_ARGUMENT'],
      [2, 'ERR_INVALID_ARGUMENT'],
      [3, 'ERR_INVALID_ARGUMENT'],
    ]);
    expect(JSON.stringify(r.lines[2])).toContain('params.callback.bogus');
  });

  it('rejects unknown methods, wrong types, missing required params and bad formats', async () => {
    const p = await start();
    const c = await ControlClient.connect(p);
    c.writeRaw(JSON.stringify({ id: 'x', method: 'format-disk', params: {} }) + '\n');
    await expect(c.requestUnchecked('removeUser', {})).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('required') });
    await expect(c.requestUnchecked('removeUser', { userId: 5 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(c.request('logs', { n: 1e9 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(c.request('getAttestation', { nonce: 'zz' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(c.request('setup', { kmsKeyArn: 'not-an-arn', region: 'us-east-1' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    c.close();
    const r = await raw(p, JSON.stringify({ id: 'x', method: 'format-disk', params: {} }) + '\n');
    expect(r.lines[0]).toMatchObject({ id: 'x', ok: false, error: { code: 'ERR_UNKNOWN_METHOD' } });
  });

  it('rejects an oversized request and hangs up, without buffering it all', async () => {
    const p = await start();
    const r = await raw(p, 'x'.repeat(MAX_REQUEST_BYTES + 10), 1);
    expect(r.lines[0]).toMatchObject({ ok: false, error: { code: 'ERR_LIMIT_EXCEEDED' } });
    const big = JSON.stringify({ id: 1, method: 'removeUser', params: { userId: 'u'.repeat(MAX_REQUEST_BYTES) } }) + '\n';
    const r2 = await raw(p, big, 1);
    expect(r2.lines[0]).toMatchObject({ error: { code: 'ERR_LIMIT_EXCEEDED' } });
  });

  it('returns the handler\'s typed error and never a stack', async () => {
    const { CosignerError } = await import('../../../proto/errors.ts');
    const p = await start(undefined, async () => {
      throw new CosignerError('ERR_SEALED', 'sealed');
    });
    const r = await raw(p, JSON.stringify({ id: 1, method: 'status', params: {} }) + '\n');
    expect(r.lines[0]).toEqual({ id: 1, ok: false, error: { code: 'ERR_SEALED', message: 'sealed', retryable: false } });
    const p2 = await start(join(dir, 'r2', 'c.sock'), async () => {
      throw new TypeError('boom at secret place');
    });
    const r2 = await raw(p2, JSON.stringify({ id: 1, method: 'status', params: {} }) + '\n');
    expect(r2.lines[0]).toMatchObject({ ok: false, error: { code: 'ERR_INTERNAL' } });
    expect(JSON.stringify(r2.lines[0])).not.toContain('secret place');
  });

  it('reports an unreachable daemon as ERR_CONTROL_SOCKET with details.unreachable', async () => {
    await expect(callDaemon(join(dir, 'nobody.sock'), 'status')).rejects.toMatchObject({ code: 'ERR_CONTROL_SOCKET', details: { unreachable: true } });
  });
});

describe('control socket limits', () => {
  /** Send `data`, then FIN; collect every line until the server closes. */
  function sendAndEnd(path: string, data: string): Promise<Array<Record<string, unknown>>> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (buf += c));
      s.on('end', () => resolve(buf.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)));
      s.on('error', reject);
      s.end(data);
    });
  }

  it('answers a request ended by FIN without a newline, then closes', async () => {
    const p = await start();
    const lines = await sendAndEnd(p, '{"id":1,"method":"status","params":{}}\n{"id":2,"method":"logs","params":{"n":3}}');
    expect(lines).toEqual([
      { id: 1, ok: true, result: { method: 'status', params: {} } },
      { id: 2, ok: true, result: { method: 'logs', params: { n: 3 } } },
    ]);
  });

  it('refuses duplicate keys (the last one would win) with ERR_INVALID_ARGUMENT', async () => {
    const calls: string[] = [];
    const p = await start(undefined, async (req) => {
      calls.push(req.method);
      return null;
    });
    const r = await raw(p, '{"id":1,"method":"status","method":"stop"}\n{"id":2,"method":"removeUser","params":{"userId":"a","userId":"b"}}\n', 2);
    expect(r.lines[0]).toMatchObject({ id: 1, ok: false, error: { code: 'ERR_INVALID_ARGUMENT' } });
    expect(r.lines[1]).toMatchObject({ id: 2, ok: false, error: { code: 'ERR_INVALID_ARGUMENT' } });
    // Same key in different objects, and key-like text inside strings, are fine.
    const ok = await raw(p, '{"id":3,"method":"removeUser","params":{"userId":"\\"id\\":1,"}}\n', 1);
    expect(ok.lines[0]).toMatchObject({ id: 3, ok: true });
    expect(calls).toEqual(['removeUser']);
  });

  it('answers ERR_BUSY past the connection limit instead of resetting the connection', async () => {
    const path = join(dir, 'run', 'control.sock');
    const s = await startControlServer({ path, handler: echo, maxConnections: 2 });
    closers.push(() => s.close());
    const a = await ControlClient.connect(path);
    const b = await ControlClient.connect(path);
    await a.request('status');
    await b.request('status');
    const third = await raw(path, '{"id":1,"method":"status","params":{}}\n');
    expect(third.lines[0]).toMatchObject({ id: null, ok: false, error: { code: 'ERR_BUSY', retryable: true } });
    a.close();
    await new Promise((r) => setTimeout(r, 50));
    const fourth = await raw(path, '{"id":2,"method":"status","params":{}}\n');
    expect(fourth.lines[0]).toMatchObject({ id: 2, ok: true });
    b.close();
  });

  it('closes an idle connection after its timeout, but never one waiting for an answer', async () => {
    const path = join(dir, 'run', 'control.sock');
    const s = await startControlServer({
      path,
      idleTimeoutMs: 100,
      handler: async (req) => {
        if (req.method === 'restart') await new Promise((r) => setTimeout(r, 400));
        return req.method;
      },
    });
    closers.push(() => s.close());
    const slow = await ControlClient.connect(path);
    expect(await slow.request('restart')).toBe('restart');
    slow.close();
    const idle = await raw(path, '', 1);
    expect(idle.closed).toBe(true);
  });
});
