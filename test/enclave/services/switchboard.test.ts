import { describe, expect, it } from 'vitest';
import { PortSwitchboard, MAX_BUFFERED_LOG_LINES } from '../../../enclave/services/switchboard.ts';
import type { EnclavePorts } from '../../../proto/ports.ts';
import { createEnclaveLogger } from '../../../enclave/services/logger.ts';
import { instantClock } from './fakes.ts';

function memPorts(lines: string[]): EnclavePorts {
  return {
    dial: async () => { throw new Error('no'); },
    blobs: { get: async () => null, put: async () => 1n },
    credentials: { get: async () => ({ accessKeyId: 'A', secretAccessKey: 'B' }) },
    logs: { write: (l) => void lines.push(l) },
    clock: instantClock(),
  };
}

describe('PortSwitchboard', () => {
  it('fails with ERR_UNAVAILABLE while no parent is connected', async () => {
    const sb = new PortSwitchboard(instantClock());
    await expect(sb.blobs.get('secrets.key')).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    await expect(sb.blobs.put('secrets.db', new Uint8Array(1), 0n)).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    await expect(sb.credentials.get()).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    await expect(sb.dial('127.0.0.1', 1)).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
  });

  it('routes to the current parent, and only a current detach disconnects', async () => {
    const sb = new PortSwitchboard(instantClock());
    const a = memPorts([]);
    const b = memPorts([]);
    sb.attach(a);
    sb.attach(b);
    sb.detach(a);
    expect(sb.connected).toBe(true);
    expect(await sb.blobs.put('x', new Uint8Array(1), 0n)).toBe(1n);
    sb.detach(b);
    expect(sb.connected).toBe(false);
  });

  it('buffers a bounded number of log lines and flushes them on connect', () => {
    const sb = new PortSwitchboard(instantClock());
    for (let i = 0; i < MAX_BUFFERED_LOG_LINES + 5; i++) sb.logs.write(`line ${i}\n`);
    const got: string[] = [];
    sb.attach(memPorts(got));
    expect(got).toHaveLength(MAX_BUFFERED_LOG_LINES + 1);
    expect(JSON.parse(got[0]!).droppedLines).toBe(5);
    expect(got[1]).toBe('line 5\n');
    expect(got.at(-1)).toBe(`line ${MAX_BUFFERED_LOG_LINES + 4}\n`);
  });
});

describe('enclave logger', () => {
  it('redacts secret-named fields wherever they appear', () => {
    const lines: string[] = [];
    const log = createEnclaveLogger({ write: (l) => void lines.push(l) }, { buildId: 'b1' });
    const canary = 'c4n4ry-5ecret-value';
    log.info({ secretShare: canary, user: { approvalKeyPkcs8: canary, nested: { token: canary } }, creds: { secretAccessKey: canary } }, 'hello');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(canary);
    const rec = JSON.parse(lines[0]!);
    expect(rec.side).toBe('enclave');
    expect(rec.buildId).toBe('b1');
    expect(rec.msg).toBe('hello');
  });
});
