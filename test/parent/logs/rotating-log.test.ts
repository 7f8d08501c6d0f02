import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/temp-dir.ts';
import { capBytes, readFrom, readLogs, logFiles } from '../../../parent/logs/read-logs.ts';
import { MAX_RECORD_BYTES, RotatingLog, enclaveRecord } from '../../../parent/logs/rotating-log.ts';

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
