// Boot unseal against the real KMS stand-in (local/kms) reached through a Dial the test switches
// between "up", "refused" (nothing listens) and "black hole" (a loopback server that accepts and never
// answers): the co-signer keeps retrying a transient outage and unseals by itself once KMS is back,
// with no `unseal` request, and `status` says why it is waiting and when it tries next.
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Cosigner, type StatusInfo } from '../../../enclave/services/cosigner.ts';
import type { Backends } from '../../../enclave/services/backends.ts';
import { createRealBackends } from '../../../enclave/services/real-backends.ts';
import { ImdsCredentialSource } from '../../../parent/credentials/imds.ts';
import { loopbackDial } from '../../../local/kms/loopback-dial.ts';
import type { Clock, Dial } from '../../../proto/ports.ts';
import { sampleState, startStack, type Stack } from '../vault/stack.ts';

type Mode = 'up' | 'refused' | 'blackhole';

let stack: Stack;
let blackhole: net.Server;
let blackholePort: number;
let closedPort: number;
const held: net.Socket[] = [];

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

beforeAll(async () => {
  stack = await startStack();
  // Accepts and never answers: the TLS handshake to "KMS" never completes.
  blackhole = net.createServer((s) => void held.push(s));
  blackholePort = await listen(blackhole);
  // A port nothing listens on: connections are refused.
  const probe = net.createServer();
  closedPort = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterAll(async () => {
  for (const s of held) s.destroy();
  await new Promise<void>((resolve) => blackhole.close(() => resolve()));
  await stack.close();
});

/** A Dial to the stand-in that the test can point elsewhere, as an outage would. */
function switchableDial(): { dial: Dial; mode: Mode } {
  const ctl = { mode: 'up' as Mode, dial: undefined as unknown as Dial };
  ctl.dial = (host, port, o) => {
    const to = ctl.mode === 'up' ? stack.kms.port : ctl.mode === 'refused' ? closedPort : blackholePort;
    return loopbackDial({ hostMap: { [`${host}:${port}`]: { host: '127.0.0.1', port: to } } }).dial(host, port, o);
  };
  return ctl;
}

/** Real sleeps, shortened: the retry schedule is the co-signer's, only the waiting is sped up. */
function fastClock(): Clock & { sleeps: number[]; onSleep: () => void } {
  const sleeps: number[] = [];
  return {
    sleeps,
    onSleep: () => undefined,
    now: () => Date.now(),
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        sleeps.push(ms);
        this.onSleep();
        if (signal?.aborted) return reject(signal.reason);
        const t = setTimeout(resolve, 20);
        signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
      });
    },
  };
}

function backendsFor(dial: Dial, clock: Clock, kmsCallDeadlineMs = 1_500): Backends {
  const real = createRealBackends({
    ports: { dial, blobs: stack.blobs, credentials: new ImdsCredentialSource({ endpoint: stack.imds.url }), logs: { write: () => undefined }, clock },
    attestor: stack.attestor(),
    logger: pino({ level: 'silent' }),
    localMode: true,
    tlsCaPem: stack.ca.certPem,
    callback: {},
    kmsCallDeadlineMs,
  });
  // No coordinator in this test: the client it would start is not what is under test.
  return { ...real, startUpstream: () => ({ state: () => 'connected', openSessions: () => 0, stop: async () => undefined }) };
}

/** Every tunnel `dial` opened, to see which are still open. */
function recording(dial: Dial): { dial: Dial; tunnels: Duplex[] } {
  const tunnels: Duplex[] = [];
  return {
    tunnels,
    dial: async (host, port, o) => {
      const t = await dial(host, port, o);
      tunnels.push(t);
      return t;
    },
  };
}

async function until(what: string, cond: () => boolean, limitMs = 30_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('boot unseal survives a KMS outage (real KMS stand-in)', () => {
  beforeAll(async () => {
    const ctl = switchableDial();
    const b = backendsFor(ctl.dial, fastClock());
    const cosignerId = 'c-boot-outage';
    // Setup binds secrets.key to the coordinator and owner keys (setup-binding.ts): give real ones.
    const pem = (): string => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const initialState = {
      ...sampleState(cosignerId),
      coordinator: { url: 'coordinator.example:443', publicKeyPem: pem() },
      owner: { publicKeyPem: pem() },
      kms: { keyArn: stack.keyArn, region: 'us-east-1' },
    };
    const v = await b.setupVault({ kms: { keyArn: stack.keyArn, region: 'us-east-1', endpoint: `https://localhost:${stack.kms.port}` }, initialState });
    v.close();
  });

  for (const outage of ['refused', 'blackhole'] as const) {
    it(`${outage}: retries past the old bound, shows the reason and the next attempt, unseals by itself when KMS returns`, async () => {
      const ctl = switchableDial();
      ctl.mode = outage;
      const clock = fastClock();
      const cosigner = new Cosigner({ backends: backendsFor(ctl.dial, clock), attestor: stack.attestor(), buildId: 'test', localMode: true, logger: pino({ level: 'silent' }), clock });
      // What `status` says while boot waits for its next attempt.
      const waiting: StatusInfo[] = [];
      clock.onSleep = () => void waiting.push(cosigner.status());
      void cosigner.boot();
      try {
        // More attempts than the six the old schedule allowed, and the status says why.
        await until('eight failed attempts', () => waiting.length >= 8, 60_000);
        const s = waiting[7]!;
        expect(s.unsealAttempts).toBe(8);
        expect(Date.parse(s.nextUnsealAttemptAt)).toBeGreaterThan(Date.now() - 60_000);
        expect(s.state).toBe('sealed');
        expect(['ERR_EGRESS_FAILED', 'ERR_KMS_UNAVAILABLE']).toContain(s.errorCode);
        expect(Math.max(...clock.sleeps)).toBeLessThanOrEqual(60_000);
        ctl.mode = 'up';
        await until('unsealed', () => cosigner.status().state === 'unsealed');
        const after = cosigner.status();
        expect(after.errorCode).toBe('');
        expect(after.nextUnsealAttemptAt).toBe('');
        expect(after.unsealAttempts).toBe(0);
      } finally {
        await cosigner.shutdown();
      }
    }, 90_000);
  }

  it('no KMS tunnel stays open once unsealed (keep-alive ones included), nor after shutdown', async () => {
    const rec = recording(switchableDial().dial);
    const clock = fastClock();
    const cosigner = new Cosigner({ backends: backendsFor(rec.dial, clock), attestor: stack.attestor(), buildId: 'test', localMode: true, logger: pino({ level: 'silent' }), clock });
    void cosigner.boot();
    try {
      await until('unsealed', () => cosigner.status().state === 'unsealed');
      expect(rec.tunnels.length).toBeGreaterThan(0);
      // The KMS client is closed when unseal ends: its idle keep-alive tunnel does not linger (the
      // stand-in would close it only after its own 5 s idle timeout, real KMS much later).
      await new Promise((r) => setImmediate(r));
      expect(rec.tunnels.filter((t) => !t.destroyed)).toEqual([]);
    } finally {
      await cosigner.shutdown();
    }
    expect(rec.tunnels.filter((t) => !t.destroyed)).toEqual([]);
  }, 60_000);

  it('shutdown during an unseal that waits on KMS closes that tunnel at once', async () => {
    const ctl = switchableDial();
    ctl.mode = 'blackhole';
    const rec = recording(ctl.dial);
    const clock = fastClock();
    // A long KMS deadline: only the shutdown can end the hanging handshake within this test.
    const cosigner = new Cosigner({ backends: backendsFor(rec.dial, clock, 30_000), attestor: stack.attestor(), buildId: 'test', localMode: true, logger: pino({ level: 'silent' }), clock });
    void cosigner.boot();
    await until('a KMS tunnel waiting on the black hole', () => rec.tunnels.some((t) => !t.destroyed), 10_000);
    await cosigner.shutdown();
    expect(rec.tunnels.filter((t) => !t.destroyed)).toEqual([]);
  }, 60_000);
});
