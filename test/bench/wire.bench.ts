// `make bench` (wire). The enclave side runs in a child process (this file, forked with "child"),
// as it would in its own VM; this process is the parent. Measured in the same run:
//   RPC round trip: Enclave.Health over the wire  vs  a 32-byte ping-pong on a raw unix socket;
//   throughput: enclave tunnel → parent relay → TCP sink  vs  the child copying to a raw unix socket
//   (and, for scale, the child copying straight to the sink over TCP loopback: the relay's last hop;
//   and the same two hops with no wire at all: child → unix socket → this process piping into a TCP
//   connection to the sink. That last row is what any relay through a third process pays for the
//   two hops: on a 2-CPU machine three processes share two cores, well below the one-hop raw copy).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Peer } from '../../proto/runtime/peer.ts';
import { createRelay, parseAllowList } from '../../parent/relay/index.ts';

const RTT_ITER = Number(process.env.WIRE_BENCH_RTT ?? 20_000);
const BYTES = Number(process.env.WIRE_BENCH_BYTES ?? 256 * 1024 * 1024);
const CHUNK = 64 * 1024;
/** Throughput rounds (each path once per round, alternating); the best round of each is reported. */
const ROUNDS = Number(process.env.WIRE_BENCH_ROUNDS ?? 3);

type Cmd = { type: 'copy-raw'; path: string } | { type: 'copy-tcp'; port: number } | { type: 'copy-tunnel'; port: number } | { type: 'cpu' } | { type: 'exit' };

async function writeAll(w: NodeJS.WritableStream): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, 7);
  for (let sent = 0; sent < BYTES; sent += CHUNK) {
    if (!w.write(chunk)) await new Promise((r) => w.once('drain', r));
  }
  await new Promise<void>((r) => w.end(() => r()));
}

async function child(dir: string): Promise<void> {
  // Enclave side: wire listener + raw echo server for the baseline.
  let peer: Peer | null = null;
  const listener = await Peer.listen(`unix://${join(dir, 'wire.sock')}`, { role: 'enclave', buildId: 'bench', keepaliveMs: 0 }, (p) => {
    p.register('cosigner.v1.Enclave', { Health: async () => ({ buildId: 'bench', state: 'ready', protocolVersion: 1 }) });
    peer = p;
  });
  const echo = net.createServer((s) => s.on('data', (b) => s.write(b)));
  await new Promise<void>((r) => echo.listen(join(dir, 'echo.sock'), () => r()));
  process.on('message', (m: Cmd) => {
    void (async () => {
      if (m.type === 'cpu') {
        const c = process.cpuUsage();
        process.send!({ type: 'cpu', us: c.user + c.system });
        return;
      }
      if (m.type === 'exit') {
        echo.close();
        await listener.close();
        process.exit(0);
      }
      if (m.type === 'copy-raw') {
        const s = net.connect(m.path);
        await new Promise((r) => s.once('connect', r));
        await writeAll(s);
      }
      if (m.type === 'copy-tcp') {
        const s = net.connect({ host: '127.0.0.1', port: m.port });
        await new Promise((r) => s.once('connect', r));
        await writeAll(s);
      }
      if (m.type === 'copy-tunnel') await writeAll(await peer!.openTunnel('127.0.0.1', m.port));
    })();
  });
  process.send!({ type: 'ready' });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeLoop(fn: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < RTT_ITER; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return samples.slice(RTT_ITER / 10).sort((a, b) => a - b); // drop warm-up
}

/** Sink process: counts bytes on a TCP and a unix listener, reports each BYTES received. */
async function sinkProcess(dir: string): Promise<void> {
  const onConn = (s: net.Socket): void => {
    let got = 0;
    s.on('data', (b: Buffer) => {
      got += b.length;
      if (got >= BYTES) {
        got = -Infinity;
        process.send!({ type: 'sunk' });
      }
    });
  };
  const tcp = net.createServer(onConn);
  const unix = net.createServer(onConn);
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => unix.listen(join(dir, 'sink.sock'), () => r()));
  process.on('message', (m: Cmd) => {
    if (m.type === 'cpu') {
      const c = process.cpuUsage();
      process.send!({ type: 'cpu', us: c.user + c.system });
    }
    if (m.type === 'exit') process.exit(0);
  });
  process.send!({ type: 'ready', port: (tcp.address() as net.AddressInfo).port });
}

/** The target of the copies runs in its own process, as a remote server would. */
async function sinks(dir: string): Promise<{ kid: ChildProcess; port: number; path: string; measure(start: () => void): Promise<number>; close(): void }> {
  const kid = fork(fileURLToPath(import.meta.url), ['sink', dir], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((r) => kid.once('message', (m: { port: number }) => r(m.port)));
  return {
    kid,
    port,
    path: join(dir, 'sink.sock'),
    measure: (start) =>
      new Promise<number>((resolve) => {
        const t0 = process.hrtime.bigint();
        const on = (m: { type: string }): void => {
          if (m.type !== 'sunk') return;
          kid.removeListener('message', on);
          resolve(BYTES / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e6);
        };
        kid.on('message', on);
        start();
      }),
    close: () => void kid.send({ type: 'exit' }),
  };
}

/** CPU time (µs) used so far by this process and the children: cost figures that load skews less. */
async function cpuAll(kids: ChildProcess[]): Promise<number> {
  const mine = process.cpuUsage();
  let total = mine.user + mine.system;
  for (const kid of kids) {
    total += await new Promise<number>((r) => {
      const on = (m: { type: string; us: number }): void => {
        if (m.type !== 'cpu') return;
        kid.removeListener('message', on);
        r(m.us);
      };
      kid.on('message', on);
      kid.send({ type: 'cpu' });
    });
  }
  return total;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wire-bench-'));
  const kid = fork(fileURLToPath(import.meta.url), ['child', dir], { execArgv: ['--import', 'tsx'] });
  await new Promise<void>((r) => kid.once('message', () => r()));
  const parent = await Peer.connect(`unix://${join(dir, 'wire.sock')}`, { role: 'parent', buildId: 'bench', keepaliveMs: 0, closeGraceMs: 200 });
  const s = await sinks(dir);
  const cpuBoth = (_k: ChildProcess): Promise<number> => cpuAll([kid, s.kid]);
  parent.onTunnel(createRelay(parseAllowList({ allowlist: [{ address: '127.0.0.1', port: s.port }] })));
  // Plain two-hop relay: no framing, no flow control beyond Node's own pipe().
  const hopPath = join(dir, 'hop.sock');
  const hop = net.createServer((c) => {
    const t = net.connect({ host: '127.0.0.1', port: s.port });
    t.on('error', () => c.destroy());
    c.pipe(t);
  });
  await new Promise<void>((r) => hop.listen(hopPath, () => r()));

  // Round trips. Raw: one 32-byte write, wait for the echo.
  const raw = net.connect(join(dir, 'echo.sock'));
  await new Promise((r) => raw.once('connect', r));
  const msg = Buffer.alloc(32, 1);
  let wake: (() => void) | null = null;
  raw.on('data', () => wake?.());
  let c0 = await cpuBoth(kid);
  const rawRtt = await timeLoop(() => new Promise<void>((r) => ((wake = r), raw.write(msg))));
  const rawRttCpu = ((await cpuBoth(kid)) - c0) / RTT_ITER;
  raw.destroy();
  const health = parent.client('cosigner.v1.Enclave');
  c0 = await cpuBoth(kid);
  const wireRtt = await timeLoop(() => health.Health({}));
  const wireRttCpu = ((await cpuBoth(kid)) - c0) / RTT_ITER;

  // Throughput, ROUNDS times each, alternating, best of them (the machine may be shared).
  const rawMbs: number[] = [];
  const relayMbs: number[] = [];
  let rawCpu = 0;
  let relayCpu = 0;
  let tcpCpu = 0;
  const relaySplit: [number, number, number] = [0, 0, 0]; // parent, enclave, target
  const mineUs = (): number => {
    const c = process.cpuUsage();
    return c.user + c.system;
  };
  const tcpMbs: number[] = [];
  const hopMbs: number[] = [];
  let hopCpu = 0;
  const hopSplit: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < ROUNDS; i++) {
    c0 = await cpuBoth(kid);
    rawMbs.push(await s.measure(() => kid.send({ type: 'copy-raw', path: s.path })));
    rawCpu += (await cpuBoth(kid)) - c0;
    c0 = await cpuBoth(kid);
    const split0 = [process.cpuUsage(), await cpuAll([kid]) - mineUs(), await cpuAll([s.kid]) - mineUs()] as const;
    relayMbs.push(await s.measure(() => kid.send({ type: 'copy-tunnel', port: s.port })));
    const p1 = process.cpuUsage(split0[0]);
    relaySplit[0] += p1.user + p1.system;
    relaySplit[1] += (await cpuAll([kid])) - mineUs() - split0[1];
    relaySplit[2] += (await cpuAll([s.kid])) - mineUs() - split0[2];
    relayCpu += (await cpuBoth(kid)) - c0;
    c0 = await cpuBoth(kid);
    const hop0 = [process.cpuUsage(), await cpuAll([kid]) - mineUs(), await cpuAll([s.kid]) - mineUs()] as const;
    hopMbs.push(await s.measure(() => kid.send({ type: 'copy-raw', path: hopPath })));
    const h1 = process.cpuUsage(hop0[0]);
    hopSplit[0] += h1.user + h1.system;
    hopSplit[1] += (await cpuAll([kid])) - mineUs() - hop0[1];
    hopSplit[2] += (await cpuAll([s.kid])) - mineUs() - hop0[2];
    hopCpu += (await cpuBoth(kid)) - c0;
    c0 = await cpuBoth(kid);
    tcpMbs.push(await s.measure(() => kid.send({ type: 'copy-tcp', port: s.port })));
    tcpCpu += (await cpuBoth(kid)) - c0;
  }
  const mib = (ROUNDS * BYTES) / 1048576;
  hop.close();
  s.close();
  kid.send({ type: 'exit' });
  await parent.close();
  await new Promise((r) => kid.once('exit', r));
  rmSync(dir, { recursive: true, force: true });

  const w50 = pct(wireRtt, 50);
  const w99 = pct(wireRtt, 99);
  const r50 = pct(rawRtt, 50);
  const r99 = pct(rawRtt, 99);
  const rm = Math.max(...rawMbs);
  const wm = Math.max(...relayMbs);
  const row = (a: string, b: string, c: string, d: string, e: string): string => `| ${a.padEnd(26)} | ${b.padStart(10)} | ${c.padStart(10)} | ${d.padStart(7)} | ${e.padEnd(24)} |`;
  console.log(`wire: ${RTT_ITER} round trips (first 10% dropped), ${BYTES / 1048576} MiB per copy, enclave side and copy target each in a child process, node ${process.version}`);
  console.log(row('measure', 'wire', 'raw unix', 'ratio', 'target'));
  console.log(row('-'.repeat(26), '-'.repeat(10), '-'.repeat(10), '-'.repeat(7), '-'.repeat(24)));
  console.log(row('RPC round trip p50 (µs)', w50.toFixed(1), r50.toFixed(1), (w50 / r50).toFixed(2), `≤ raw + 50 µs: ${w50 <= r50 + 50 ? 'met' : 'MISSED'}`));
  console.log(row('RPC round trip p99 (µs)', w99.toFixed(1), r99.toFixed(1), (w99 / r99).toFixed(2), ''));
  console.log(row('relay throughput (MB/s)', wm.toFixed(0), rm.toFixed(0), (wm / rm).toFixed(2), `≥ 0.8× raw: ${wm >= 0.8 * rm ? 'met' : 'MISSED'}`));
  const tm = Math.max(...tcpMbs);
  console.log(row('  for scale: raw TCP copy', tm.toFixed(0), rm.toFixed(0), (tm / rm).toFixed(2), 'the relay\'s last hop'));
  const hm = Math.max(...hopMbs);
  console.log(row('  raw 2-hop relay, no wire', hm.toFixed(0), rm.toFixed(0), (hm / rm).toFixed(2), 'baseline: relay, no wire'));
  console.log(row('relay vs raw 2-hop relay', wm.toFixed(0), hm.toFixed(0), (wm / hm).toFixed(2), 'the wire\'s own overhead'));
  console.log(row('CPU per round trip (µs)', wireRttCpu.toFixed(1), rawRttCpu.toFixed(1), (wireRttCpu / rawRttCpu).toFixed(2), 'all processes'));
  console.log(row('CPU per MiB copied (ms)', (relayCpu / 1000 / mib).toFixed(2), (rawCpu / 1000 / mib).toFixed(2), (relayCpu / rawCpu).toFixed(2), 'all processes'));
  const [sp, se, st] = relaySplit.map((x) => (x / 1000 / mib).toFixed(2));
  console.log(`  relay CPU per MiB by process (ms): enclave ${se}, parent ${sp}, target ${st}`);
  const [hp, he, ht] = hopSplit.map((x) => (x / 1000 / mib).toFixed(2));
  console.log(`  raw 2-hop relay CPU per MiB by process (ms): writer ${he}, relay ${hp}, target ${ht}`);
  console.log(row('  raw 2-hop relay', (hopCpu / 1000 / mib).toFixed(2), (rawCpu / 1000 / mib).toFixed(2), (hopCpu / rawCpu).toFixed(2), 'CPU per MiB, all processes'));
  console.log(row('  for scale: raw TCP copy', (tcpCpu / 1000 / mib).toFixed(2), (rawCpu / 1000 / mib).toFixed(2), (tcpCpu / rawCpu).toFixed(2), 'CPU per MiB, all processes'));
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs (wall-clock figures suffer on a busy machine; the CPU rows less so)`);
}

if (process.argv[2] === 'child') await child(process.argv[3]!);
else if (process.argv[2] === 'sink') await sinkProcess(process.argv[3]!);
else await main();
