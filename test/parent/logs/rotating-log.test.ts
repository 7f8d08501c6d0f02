import { readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/temp-dir.ts';
import { capBytes, readFrom, readLogs, logFiles } from '../../../parent/logs/read-logs.ts';
import { AUDIT_BUFFER_RECORDS, MAX_RECORD_BYTES, RotatingLog, enclaveRecord } from '../../../parent/logs/rotating-log.ts';

const rec = (i: number, time = i): string => JSON.stringify({ level: 30, time, msg: `record ${i}`, pad: 'x'.repeat(80) });

describe('RotatingLog', () => {
  it('rotates by size and keeps exactly N files', () => {
    const dir = tempDir('log-');
    const log = new RotatingLog({ dir, maxBytes: 4096, keep: 3 });
    for (let i = 0; i < 500; i++) log.write(rec(i));
    log.close();
    expect(readdirSync(dir).sort()).toEqual(['cosigner.log', 'cosigner.log.1', 'cosigner.log.2']);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(4096);
    const live = readFileSync(join(dir, 'cosigner.log'), 'utf8').trim().split('\n');
    expect(JSON.parse(live.at(-1)!).msg).toBe('record 499');
  });

  it('keep = 1 keeps only the live file', () => {
    const dir = tempDir('log-');
    const log = new RotatingLog({ dir, maxBytes: 4096, keep: 1 });
    for (let i = 0; i < 200; i++) log.write(rec(i));
    log.close();
    expect(readdirSync(dir)).toEqual(['cosigner.log']);
  });

  it('keeps one record per line even if a record holds newlines', () => {
    const dir = tempDir('log-');
    const log = new RotatingLog({ dir, maxBytes: 4096, keep: 2 });
    log.write('{"msg":"a\nb"}');
    log.close();
    expect(readFileSync(join(dir, 'cosigner.log'), 'utf8')).toBe('{"msg":"a b"}\n');
  });
});

describe('RotatingLog on a full disk (/dev/full)', () => {
  it('never throws, counts failures, keeps audit records and writes them first when space returns', () => {
    const dir = tempDir('log-');
    const live = join(dir, 'cosigner.log');
    // Every write to /dev/full fails with ENOSPC, as on a full filesystem.
    symlinkSync('/dev/full', live);
    const codes: string[] = [];
    const log = new RotatingLog({ dir, maxBytes: 1 << 20, keep: 2, onWriteFailure: (c) => codes.push(c) });
    expect(() => log.write(rec(1))).not.toThrow();
    log.write(JSON.stringify({ level: 30, time: 2, audit: true, msg: 'user removed' }));
    log.write(rec(3));
    expect(log.stats).toMatchObject({ failing: true, lastError: 'ENOSPC', dropped: 2, auditBuffered: 1, auditDropped: 0 });
    expect(log.stats.writeFailures).toBeGreaterThanOrEqual(3);
    expect(codes.every((c) => c === 'ENOSPC')).toBe(true);

    // Space returns (the operator removed the file that filled the disk).
    rmSync(live);
    log.write(rec(4));
    log.close();
    const lines = readFileSync(live, 'utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    const recs = lines.slice(0, -1).map((l) => JSON.parse(l) as { msg: string; dropped?: number; auditDropped?: number });
    expect(recs.map((r) => r.msg)).toEqual(['user removed', 'log records lost while the log could not be written', 'record 4']);
    expect(recs[1]).toMatchObject({ dropped: 2, auditDropped: 0 });
    expect(log.stats).toMatchObject({ failing: false, auditBuffered: 0 });
  });

  it('bounds the audit buffer and counts what it had to drop', () => {
    const dir = tempDir('log-');
    symlinkSync('/dev/full', join(dir, 'cosigner.log'));
    const log = new RotatingLog({ dir, maxBytes: 1 << 20, keep: 2 });
    for (let i = 0; i < AUDIT_BUFFER_RECORDS + 10; i++) log.write(JSON.stringify({ audit: true, i }));
    log.close();
    expect(log.stats).toMatchObject({ auditBuffered: AUDIT_BUFFER_RECORDS, auditDropped: 10 });
  });
});

describe('readLogs', () => {
  it('returns the last N records across rotated files, oldest first, and filters by time', async () => {
    const dir = tempDir('log-');
    const log = new RotatingLog({ dir, maxBytes: 4096, keep: 4 });
    for (let i = 0; i < 100; i++) log.write(rec(i, 1000 + i));
    log.close();
    expect((await logFiles(dir)).length).toBeGreaterThan(1);
    const last = await readLogs(dir, { n: 60 });
    expect(last.map((l) => JSON.parse(l).msg)).toEqual(Array.from({ length: 60 }, (_, k) => `record ${40 + k}`));
    const since = await readLogs(dir, { n: 1000, sinceMs: 1095 });
    expect(since.map((l) => JSON.parse(l).msg)).toEqual(['record 95', 'record 96', 'record 97', 'record 98', 'record 99']);
  });

  it('caps the bytes of one answer, keeping the newest lines', () => {
    expect(capBytes(['aaaa', 'bbbb', 'cccc'], 10)).toEqual(['bbbb', 'cccc']);
    expect(capBytes(['a'], 100)).toEqual(['a']);
  });

  it('follows appended records from a byte offset', async () => {
    const dir = tempDir('log-');
    const log = new RotatingLog({ dir, maxBytes: 1 << 20, keep: 2 });
    log.write(rec(1));
    const a = await readFrom(dir, 0);
    expect(a.lines).toHaveLength(1);
    log.write(rec(2));
    const b = await readFrom(dir, a.next);
    expect(b.lines.map((l) => JSON.parse(l).msg)).toEqual(['record 2']);
    log.close();
  });
});

describe('enclaveRecord', () => {
  it('tags enclave records so they cannot pass for parent ones', () => {
    expect(JSON.parse(enclaveRecord('{"level":30,"msg":"hi","src":"parent"}'))).toMatchObject({ msg: 'hi', src: 'enclave' });
  });
  it('replaces non-JSON and non-object input, and caps size', () => {
    expect(JSON.parse(enclaveRecord('garbage'))).toMatchObject({ src: 'enclave', msg: 'unparseable enclave log record', bytes: 7 });
    expect(JSON.parse(enclaveRecord('[1,2]')).msg).toBe('unparseable enclave log record');
    const huge = JSON.stringify({ msg: 'y'.repeat(MAX_RECORD_BYTES * 2) });
    expect(enclaveRecord(huge).length).toBeLessThan(200);
  });
});
