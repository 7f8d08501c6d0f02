import { describe, expect, it } from 'vitest';
import { CosignerError } from '../../../proto/errors.ts';
import { systemClock } from '../../../proto/ports.ts';
import type { AuditRecordBody } from '../../../proto/coordinator/messages.ts';
import { AuditOutbox, type AuditLink } from '../../../enclave/upstream/audit-outbox.ts';

/** A coordinator stand-in: keeps records once per id (as local/coordinator/audit-log.ts does). */
function store() {
  const kept: AuditRecordBody[] = [];
  const ids = new Set<string>();
  const requests: AuditRecordBody[] = [];
  let failNext = 0;
  let loseReply = 0;
  const link: AuditLink = {
    async request(type, body) {
      expect(type).toBe('audit.record');
      const r = body as AuditRecordBody;
      requests.push(r);
      if (failNext > 0) {
        failNext--;
        throw new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'connection closed');
      }
      if (!ids.has(r.id as string)) {
        ids.add(r.id as string);
        kept.push(r);
      }
      if (loseReply > 0) {
        // Stored, but the reply never arrives (the link dropped after the coordinator kept it).
        loseReply--;
        throw new CosignerError('ERR_COORDINATOR_UNAVAILABLE', 'connection closed before the reply');
      }
      return {};
    },
  };
  return { kept, requests, link, failOnce: (n = 1) => (failNext = n), loseReplyOnce: () => (loseReply = 1) };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe('audit outbox', () => {
  it('sends records in order once connected, and removes them only after the reply', async () => {
    const s = store();
    let up = false;
    const box = new AuditOutbox({ clock: systemClock, link: () => (up ? s.link : undefined) });
    for (let i = 0; i < 5; i++) box.record({ kind: 'approval.sign', userId: 'alice', subjectId: `tx-${i}`, decision: 'approve' });
    await settle();
    expect(s.requests).toHaveLength(0);
    expect(box.size).toBe(5);
    up = true;
    box.kick();
    await settle();
    expect(s.kept.map((r) => r.subjectId)).toEqual(['tx-0', 'tx-1', 'tx-2', 'tx-3', 'tx-4']);
    expect(new Set(s.kept.map((r) => r.id)).size).toBe(5);
    expect(s.kept.every((r) => typeof r.at === 'number' && r.dropped === undefined)).toBe(true);
    expect(box.size).toBe(0);
  });

  it('keeps at most `capacity` records, drops the oldest and reports the count in the next record sent', async () => {
    const s = store();
    let up = false;
    const box = new AuditOutbox({ clock: systemClock, link: () => (up ? s.link : undefined), capacity: 4 });
    for (let i = 0; i < 10; i++) box.record({ kind: 'approval.sign', subjectId: `tx-${i}` });
    expect(box.size).toBe(4);
    up = true;
    box.kick();
    await settle();
    expect(s.kept.map((r) => r.subjectId)).toEqual(['tx-6', 'tx-7', 'tx-8', 'tx-9']);
    expect(s.kept.map((r) => r.dropped)).toEqual([6, undefined, undefined, undefined]);
  });

  it('resends after a failed send once the link is back (at-least-once), in order', async () => {
    const s = store();
    let up = true;
    const box = new AuditOutbox({ clock: systemClock, link: () => (up ? s.link : undefined), retryMs: 60_000 });
    s.failOnce();
    box.record({ kind: 'approval.sign', subjectId: 'tx-a' });
    await settle();
    up = false; // the link dropped
    box.record({ kind: 'approval.sign', subjectId: 'tx-b' });
    await settle();
    expect(s.kept).toHaveLength(0);
    expect(box.size).toBe(2);
    up = true; // reconnect kicks the outbox
    box.kick();
    await settle();
    expect(s.kept.map((r) => r.subjectId)).toEqual(['tx-a', 'tx-b']);
    expect(box.size).toBe(0);
    box.pause();
  });

  it('a record stored but unacknowledged is resent with the same id and body, and kept once', async () => {
    const s = store();
    const box = new AuditOutbox({ clock: systemClock, link: () => s.link, retryMs: 5 });
    s.loseReplyOnce();
    box.record({ kind: 'approval.transaction', subjectId: 'tx-1', decision: 'reject', code: 'ERR_CALLBACK_REJECTED' });
    box.record({ kind: 'approval.transaction', subjectId: 'tx-2', decision: 'approve' });
    for (let i = 0; i < 50 && box.size > 0; i++) await settle();
    expect(s.requests.map((r) => r.subjectId)).toEqual(['tx-1', 'tx-1', 'tx-2']);
    expect(s.requests[0]).toEqual(s.requests[1]);
    expect(s.kept.map((r) => r.subjectId)).toEqual(['tx-1', 'tx-2']);
  });

  it('a dropped record that carried a count passes it on to the next record sent', async () => {
    const s = store();
    let up = false;
    const box = new AuditOutbox({ clock: systemClock, link: () => (up ? s.link : undefined), capacity: 2, retryMs: 60_000 });
    for (let i = 0; i < 3; i++) box.record({ kind: 'k', subjectId: `a-${i}` }); // a-0 dropped
    up = true;
    s.failOnce();
    box.kick();
    await settle();
    up = false;
    // a-1 was attempted (dropped: 1) and waits, unacknowledged; two more arrive and evict a-1 and a-2:
    // a-1's own count travels on with it, so nothing lost goes unreported.
    box.record({ kind: 'k', subjectId: 'a-3' });
    box.record({ kind: 'k', subjectId: 'a-4' });
    up = true;
    box.kick();
    await settle();
    expect(s.requests[0]).toMatchObject({ subjectId: 'a-1', dropped: 1 });
    expect(s.kept.map((r) => [r.subjectId, r.dropped])).toEqual([['a-3', 3], ['a-4', undefined]]);
    box.pause();
  });

  it('never throws into the decision that records: a malformed record is logged and dropped', () => {
    const logged: string[] = [];
    const box = new AuditOutbox({ clock: systemClock, link: () => undefined, log: (_l, _f, m) => logged.push(m) });
    expect(() => box.record({ kind: 'approval.sign', userId: 'not a valid user id!' })).not.toThrow();
    expect(box.size).toBe(0);
    expect(logged).toEqual(['audit record not queued']);
  });
});
