import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryConditionalObjects, type ConditionalObjects } from '../../../parent/storage/conditional-objects.ts';
import { Lease, parseLeaseRecord } from '../../../parent/storage/lease.ts';

const KEY = 'cosigner/lease.json';
const TTL = 30_000;

/** A clock per instance, advanced by hand (instances may disagree on the absolute time). */
function fakeClock(start = 1_700_000_000_000): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function pair(store: ConditionalObjects = new MemoryConditionalObjects(), offsetB = 0) {
  const ca = fakeClock();
  const cb = fakeClock(1_700_000_000_000 + offsetB);
  const a = new Lease({ store, key: KEY, holder: 'a', clock: ca, ttlMs: TTL });
  const b = new Lease({ store, key: KEY, holder: 'b', clock: cb, ttlMs: TTL });
  const advance = (ms: number): void => {
    ca.advance(ms);
    cb.advance(ms);
  };
  return { store, a, b, ca, cb, advance };
}

describe('MemoryConditionalObjects', () => {
  it('creates only when absent and replaces only the version it was given', async () => {
    const s = new MemoryConditionalObjects();
    expect(await s.get('k')).toBeNull();
    expect(await s.putIfMatch('k', Buffer.from('x'), '"nope"')).toBe('changed');
    const e1 = await s.putIfAbsent('k', Buffer.from('one'));
    expect(e1).not.toBe('exists');
    expect(await s.putIfAbsent('k', Buffer.from('two'))).toBe('exists');
    const e2 = await s.putIfMatch('k', Buffer.from('one'), e1);
    expect(e2).not.toBe(e1);
    // Same body, new version: the old tag no longer matches.
    expect(await s.putIfMatch('k', Buffer.from('three'), e1)).toBe('changed');
    expect(Buffer.from((await s.get('k'))!.body).toString()).toBe('one');
  });
});

describe('Lease', () => {
  it('of two instances exactly one is active', async () => {
    const { a, b } = pair();
    expect(await a.tick()).toBe(true);
    expect(await b.tick()).toBe(false);
    expect(a.status()).toMatchObject({ role: 'active', holder: 'a', epoch: 1 });
    expect(b.status()).toMatchObject({ role: 'standby', holder: 'a', epoch: 1 });
  });

  it('the standby takes over only after the holder stopped renewing for a whole TTL', async () => {
    const { a, b, advance } = pair();
    await a.tick();
    await b.tick();
    // The holder renews every TTL/3: the standby never takes over.
    for (let i = 0; i < 10; i++) {
      advance(a.renewEveryMs);
      expect(await a.tick()).toBe(true);
      expect(await b.tick()).toBe(false);
    }
    // The holder stops renewing (crashed): no takeover before b has seen its last version unchanged
    // for a whole TTL.
    advance(a.renewEveryMs);
    expect(await b.tick()).toBe(false);
    advance(TTL - a.renewEveryMs - 1);
    expect(await b.tick()).toBe(false);
    expect(a.canAct()).toBe(false);
    advance(1);
    expect(await b.tick()).toBe(true);
    expect(b.status()).toMatchObject({ role: 'active', holder: 'b', epoch: 2 });
  });

  it('takeover does not depend on the instances\' clocks agreeing', async () => {
    // b's clock is an hour ahead: the holder's stated expiresAt is long past for b, yet b waits.
    const { a, b, advance } = pair(undefined, 3_600_000);
    await a.tick();
    expect(await b.tick()).toBe(false);
    advance(TTL - 1);
    expect(await b.tick()).toBe(false);
  });

  it('a holder whose renewal fails stops acting before its lease expires', async () => {
    const { a, ca } = pair();
    await a.tick();
    const deadline = a.actUntil()!;
    expect(deadline).toBe(ca.now() + TTL - a.marginMs);
    // The store fails from now on (partition): renewals throw, the window closes on time.
    const failing = new Lease({ store: { get: () => Promise.reject(new Error('down')), putIfAbsent: () => Promise.reject(new Error('down')), putIfMatch: () => Promise.reject(new Error('down')) }, key: KEY, holder: 'x', clock: ca, ttlMs: TTL });
    await expect(failing.tick()).rejects.toThrow('down');
    ca.advance(TTL - a.marginMs - 1);
    expect(a.canAct()).toBe(true);
    ca.advance(1);
    expect(a.canAct()).toBe(false);
    expect(a.status().role).toBe('standby');
  });

  it('a holder whose renewal the store refuses (changed) stops acting at once', async () => {
    const { a, store } = pair();
    await a.tick();
    // Someone replaced the object behind the holder's back.
    const cur = await store.get(KEY);
    await store.putIfMatch(KEY, Buffer.from(JSON.stringify({ v: 1, holder: 'z', epoch: 9, expiresAt: 0, ttlMs: TTL, released: false })), cur!.etag);
    expect(await a.renew()).toBe('lost');
    expect(a.canAct()).toBe(false);
    expect(await a.tick()).toBe(false);
  });

  it('a partitioned old holder cannot renew after the takeover (its etag and epoch are stale)', async () => {
    const { a, b, store, advance } = pair();
    await a.tick();
    await b.tick();
    advance(TTL);
    expect(await b.tick()).toBe(true);
    // a comes back from the partition and tries to renew with the version it held.
    expect(await a.renew()).toBe('lost');
    expect(a.canAct()).toBe(false);
    expect(a.status()).toMatchObject({ role: 'standby', holder: 'b', epoch: 2 });
    expect(b.canAct()).toBe(true);
    expect(parseLeaseRecord((await store.get(KEY))!.body)).toMatchObject({ holder: 'b', epoch: 2 });
  });

  it('a renewal that landed but whose answer was lost is continued, not mistaken for a loss', async () => {
    const mem = new MemoryConditionalObjects();
    let dropNext = false;
    const lossy: ConditionalObjects = {
      get: (k) => mem.get(k),
      putIfAbsent: (k, b) => mem.putIfAbsent(k, b),
      putIfMatch: async (k, b, e) => {
        const r = await mem.putIfMatch(k, b, e);
        if (dropNext) {
          dropNext = false;
          throw new Error('answer lost');
        }
        return r;
      },
    };
    const { a, ca } = pair(lossy);
    await a.tick();
    dropNext = true;
    ca.advance(a.renewEveryMs);
    await expect(a.renew()).rejects.toThrow('answer lost');
    ca.advance(a.renewEveryMs);
    expect(await a.renew()).toBe('renewed');
    expect(a.canAct()).toBe(true);
  });

  it('release lets the standby take over without waiting out the TTL', async () => {
    const { a, b } = pair();
    await a.tick();
    expect(await b.tick()).toBe(false);
    await a.release();
    expect(a.canAct()).toBe(false);
    expect(await b.tick()).toBe(true);
    expect(b.status()).toMatchObject({ role: 'active', epoch: 2 });
  });

  it('a malformed lease object is taken over only after a TTL, never at once', async () => {
    const { a, store, ca } = pair();
    await store.putIfAbsent(KEY, Buffer.from('{"v":1,"holder":"q","epoch":"1"}'));
    expect(await a.tick()).toBe(false);
    ca.advance(TTL - 1);
    expect(await a.tick()).toBe(false);
    ca.advance(1);
    expect(await a.tick()).toBe(true);
  });

  it('refuses a TTL outside its bounds', () => {
    const store = new MemoryConditionalObjects();
    expect(() => new Lease({ store, key: KEY, holder: 'a', clock: fakeClock(), ttlMs: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
    expect(() => new Lease({ store, key: KEY, holder: 'a', clock: fakeClock(), ttlMs: 3_600_000 })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID' }));
  });

  it('races: however instances interleave their steps, at most one may act at any instant', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ who: fc.nat(2), step: fc.constantFrom('tick', 'tick', 'release', 'wait'), ms: fc.integer({ min: 0, max: 20_000 }) }), { minLength: 1, maxLength: 40 }),
        async (steps) => {
          const store = new MemoryConditionalObjects();
          const clock = fakeClock();
          const leases = ['a', 'b', 'c'].map((holder) => new Lease({ store, key: KEY, holder, clock, ttlMs: TTL }));
          for (const s of steps) {
            const l = leases[s.who]!;
            // Concurrent steps of all three at once, then one instance's chosen action.
            await Promise.all(leases.map((x) => x.tick()));
            expect(leases.filter((x) => x.canAct()).length).toBeLessThanOrEqual(1);
            if (s.step === 'tick') await l.tick();
            else if (s.step === 'release') await l.release();
            else clock.advance(s.ms);
            expect(leases.filter((x) => x.canAct()).length).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('both acquire at once on an empty store: one wins', async () => {
    const { a, b } = pair();
    const [ra, rb] = await Promise.all([a.acquire(), b.acquire()]);
    expect([ra, rb].filter(Boolean)).toHaveLength(1);
    expect([a.canAct(), b.canAct()].filter(Boolean)).toHaveLength(1);
  });
});
