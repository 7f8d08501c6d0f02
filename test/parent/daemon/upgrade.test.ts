// performUpgrade's order against a fake supervisor and link: the running enclave is stopped (by
// switchImage) before anything closes the wire link, which reconnects to the new enclave by itself;
// the same holds for the rollback. Closing the link first cost the wire's whole close grace.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { performUpgrade } from '../../../parent/daemon/upgrade.ts';
import type { EnclaveLink } from '../../../parent/daemon/enclave-link.ts';
import type { Supervisor } from '../../../parent/supervisor/supervisor.ts';
import { tempDir } from '../../support/temp-dir.ts';

const measurements = JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: 'a'.repeat(96), PCR1: 'b'.repeat(96), PCR2: 'c'.repeat(96) } });

/** A supervisor and link that log what happens, in order; `states` is what each image's enclave reports. */
function fakes(states: Record<string, string>, first: string) {
  const events: string[] = [];
  let image = first;
  let connected = true;
  const supervisor = {
    get image() {
      return image;
    },
    switchImage: async (next: string) => {
      events.push(`stop enclave ${image}`);
      connected = false;
      image = next;
      events.push(`start enclave ${next}`);
      // The daemon's `started` handler: the link drops the old connection and dials the new enclave.
      connected = true;
    },
  } as unknown as Supervisor;
  const link = {
    get connected() {
      return connected;
    },
    control: () => ({ Status: async () => ({ state: states[image] ?? 'error', errorCode: '' }) }),
    waitConnected: async () => undefined,
    disconnect: async () => {
      events.push('link closed');
      connected = false;
    },
  } as unknown as EnclaveLink;
  return { events, supervisor, link };
}

function files(): { home: string; eif: (name: string) => string; m: string } {
  const dir = tempDir('cosigner-upgrade-');
  const m = join(dir, 'm.json');
  writeFileSync(m, measurements);
  return {
    home: dir,
    m,
    eif: (name) => {
      const p = join(dir, name);
      writeFileSync(p, 'image');
      return p;
    },
  };
}

const logger = pino({ level: 'silent' });

describe('performUpgrade: stop the enclave first, never close the link before it', () => {
  it('switches images without closing the link; the link reconnects to the new enclave', async () => {
    const f = files();
    const old = f.eif('old.mjs');
    const next = f.eif('next.mjs');
    const { events, supervisor, link } = fakes({ [old]: 'unsealed', [next]: 'unsealed' }, old);
    const r = await performUpgrade({ supervisor, link, home: f.home, logger }, { eifPath: next, measurementsPath: f.m, policyChecked: true, timeoutMs: 2_000 });
    expect(r).toMatchObject({ previous: old, current: next, state: 'unsealed' });
    expect(events).toEqual([`stop enclave ${old}`, `start enclave ${next}`]);
  });

  it('rolls back the same way: old enclave stopped, previous image started, the link never closed', async () => {
    const f = files();
    const old = f.eif('old.mjs');
    const locked = f.eif('locked.mjs');
    const { events, supervisor, link } = fakes({ [old]: 'unsealed', [locked]: 'access-denied' }, old);
    const err = await performUpgrade({ supervisor, link, home: f.home, logger }, { eifPath: locked, measurementsPath: f.m, policyChecked: true, timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_UPGRADE_ROLLED_BACK', details: { newState: 'access-denied', rolledBackTo: old, rolledBackState: 'unsealed' } });
    expect(events).toEqual([`stop enclave ${old}`, `start enclave ${locked}`, `stop enclave ${locked}`, `start enclave ${old}`]);
    expect(supervisor.image).toBe(old);
  });
});
