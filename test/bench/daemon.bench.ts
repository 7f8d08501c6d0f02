// Benchmark of the parent daemon's control path: `node --import tsx test/bench/daemon.bench.ts`.
// Rows, each beside the baseline measured in the same run:
//   - a parent-local control request (logs, n=0) vs a raw JSON-line ping-pong over a unix socket;
//   - a request forwarded to the enclave (listUsers → wire → stand-in enclave from
//     test/parent/daemon/fake-enclave.ts) vs the same RPC sent straight over the wire (no daemon);
//   - forwarded throughput at concurrency 1 and 32 vs the direct wire at the same concurrency.
// The stand-in enclave does no cryptography: these figures are the daemon's own overhead.
import { createServer, connect, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient } from '../../parent/control/client.ts';
import { Peer } from '../../proto/runtime/peer.ts';
import { testConfig, fakeEnclaveBundle, removeTempDirs, tempDir } from '../parent/daemon/helpers.ts';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

const N = 2000;
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const us = (ns: number): string => (ns / 1000).toFixed(1);

async function timeSeq(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t));
  }
  return out;
}

async function throughput(total: number, conc: number, fn: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next++ < total) await fn();
    }),
  );
  return total / (Number(process.hrtime.bigint() - t) / 1e9);
}

async function rawPingPong(path: string): Promise<{ ask: () => Promise<void>; close: () => void }> {
  const server = createServer((s) => {
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const req = JSON.parse(line) as { id: number };
        s.write(JSON.stringify({ id: req.id, ok: true, result: { lines: [], next: 0 } }) + '\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  const sock: Socket = connect(path);
  await new Promise((r) => sock.once('connect', r));
  sock.setEncoding('utf8');
  let waiting: (() => void) | null = null;
  let buf = '';
  sock.on('data', (c: string) => {
    buf += c;
    if (buf.includes('\n')) {
      buf = '';
      waiting?.();
    }
  });
  let id = 0;
  return {
    ask: () =>
      new Promise<void>((r) => {
        waiting = r;
        sock.write(JSON.stringify({ id: ++id, method: 'logs', params: { n: 0 } }) + '\n');
      }),
    close: () => {
      sock.destroy();
      server.close();
    },
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const dir = tempDir('bench-daemon-');
  const raw = await rawPingPong(join(dir, 'raw.sock'));
  const rawLat = await timeSeq(N, raw.ask);
  raw.close();

  // The daemon runs as its own process (bin/cosigner-parent.mjs), as in production, so the client
  // and the daemon do not share an event loop; the direct-wire baseline likewise has the enclave
  // in another process.
  const config = await testConfig({ queueLimit: 1000, maxConcurrent: 64, metricsAddress: '' });
  const configPath = join(dir, 'parent.json');
  writeFileSync(configPath, JSON.stringify({ ...config, enclaveArgs: [...config.enclaveArgs] }));
  const daemonProc = spawn(process.execPath, [join(repo, 'bin', 'cosigner-parent.mjs'), '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((res, rej) => {
    let err = '';
    daemonProc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.includes('running')) res();
    });
    daemonProc.once('exit', (c) => rej(new Error(`cosigner-parent exited ${c}: ${err}`)));
  });
  const client = await ControlClient.connect(config.controlSocket);
  const localLat = await timeSeq(N, () => client.request('logs', { n: 0 }));
  for (let i = 0; i < 400; i++) {
    if ((await (client.request('status') as Promise<{ wire: { connected: boolean } }>)).wire.connected) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const fwdLat = await timeSeq(N, () => client.request('listUsers'));
  // 16 connections (the daemon allows 32), two requests in flight on each.
  const clients = await Promise.all(Array.from({ length: 16 }, () => ControlClient.connect(config.controlSocket)));
  let rr = 0;
  const fwd1 = await throughput(N, 1, () => client.request('listUsers'));
  const fwd32 = await throughput(N * 2, 32, () => clients[rr++ % 16]!.request('listUsers'));
  for (const c of clients) c.close();
  client.close();
  daemonProc.kill('SIGTERM');
  await new Promise((r) => daemonProc.once('exit', r));

  // Baseline: the same RPC straight over the wire to a stand-in enclave, no daemon in between.
  const wireSock = join(dir, 'direct.sock');
  const enclave = spawn(process.execPath, [await fakeEnclaveBundle(), '--listen', `unix://${wireSock}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => enclave.stdout!.once('data', r));
  const peer = await Peer.connect(`unix://${wireSock}`, { role: 'parent', buildId: 'bench' });
  peer.register('cosigner.v1.Parent', {
    BlobGet: async () => ({ found: false, data: new Uint8Array(0), generation: 0n }),
    Log: async () => ({}),
  });
  const ctl = peer.client<Record<string, (r: object) => Promise<unknown>>>('cosigner.v1.Control');
  const directLat = await timeSeq(N, () => ctl.ListUsers!({}));
  const dir1 = await throughput(N, 1, () => ctl.ListUsers!({}));
  const dir32 = await throughput(N * 2, 32, () => ctl.ListUsers!({}));
  await peer.close();
  enclave.kill('SIGTERM');

  const rows: Array<[string, string, string, string]> = [
    ['control request, parent-local (p50 µs)', us(pct(localLat, 50)), `raw unix JSON ping-pong ${us(pct(rawLat, 50))}`, (pct(localLat, 50) / pct(rawLat, 50)).toFixed(2)],
    ['control request, parent-local (p99 µs)', us(pct(localLat, 99)), `raw unix JSON ping-pong ${us(pct(rawLat, 99))}`, (pct(localLat, 99) / pct(rawLat, 99)).toFixed(2)],
    ['forwarded to enclave (p50 µs)', us(pct(fwdLat, 50)), `direct wire RPC ${us(pct(directLat, 50))}`, (pct(fwdLat, 50) / pct(directLat, 50)).toFixed(2)],
    ['forwarded to enclave (p99 µs)', us(pct(fwdLat, 99)), `direct wire RPC ${us(pct(directLat, 99))}`, (pct(fwdLat, 99) / pct(directLat, 99)).toFixed(2)],
    ['forwarded, concurrency 1 (req/s)', fwd1.toFixed(0), `direct wire ${dir1.toFixed(0)}`, (fwd1 / dir1).toFixed(2)],
    ['forwarded, concurrency 32 (req/s)', fwd32.toFixed(0), `direct wire ${dir32.toFixed(0)}`, (fwd32 / dir32).toFixed(2)],
  ];
  const w = [40, 12, 36, 6];
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(w[i] ?? 0)).join('  ');
  process.stdout.write(line(['measure', 'daemon', 'baseline (same run)', 'ratio']) + '\n');
  for (const r of rows) process.stdout.write(line(r) + '\n');
  process.stdout.write(`(${N} sequential requests per latency row; ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

main().then(
  () => {
    removeTempDirs();
    process.exit(0);
  },
  (err: unknown) => {
    removeTempDirs();
    process.stderr.write(`daemon.bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
