// Fault case: concurrent start/restart/stop requests on the control socket must never leave more
// than one enclave process, and none once the daemon stopped (each could hold unsealed secrets).
import { afterEach, describe, expect, it } from 'vitest';
import { ControlClient } from '../../parent/control/client.ts';
import type { RunningDaemon } from '../../parent/daemon/daemon.ts';
import { startTestDaemon } from '../parent/daemon/helpers.ts';
import { enclaveProcesses } from './tmpfs.ts';

let daemon: RunningDaemon | null = null;
let wire: string | null = null;
const clients: ControlClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await daemon?.close();
  daemon = null;
  // A failed run must not leave enclave processes behind on the machine.
  for (const pid of wire ? enclaveProcesses(wire) : []) process.kill(pid, 'SIGKILL');
  wire = null;
});

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('parallel supervisor requests (local mode)', () => {
  it('keeps exactly one enclave process through concurrent start/restart/stop, and none after the daemon stops', async () => {
    daemon = await startTestDaemon();
    const wireUrl = daemon.config.wireUrl;
    wire = wireUrl;
    await until('the first enclave', () => enclaveProcesses(wireUrl).length === 1);
    for (let i = 0; i < 6; i++) clients.push(await ControlClient.connect(daemon.controlSocketPath));

    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, enclaveProcesses(wireUrl).length);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const burst = async (methods: Array<'start' | 'restart' | 'stop'>): Promise<void> => {
      await Promise.allSettled(methods.map((m, i) => clients[i % clients.length]!.request(m, {}, 30_000)));
    };
    await burst(['restart', 'restart', 'restart', 'restart', 'restart']);
    await until('one enclave after the restarts', () => enclaveProcesses(wireUrl).length === 1);
    await burst(['start', 'restart', 'start', 'restart', 'start', 'restart']);
    await until('one enclave after start/restart', () => enclaveProcesses(wireUrl).length === 1);
    // The last request of a burst decides; the order is fixed by the serialised supervisor, so
    // end with a plain start to know what to expect.
    await burst(['stop', 'restart', 'start', 'stop', 'restart']);
    await burst(['start']);
    await until('one enclave after the mixed burst', () => enclaveProcesses(wireUrl).length === 1);
    sampling = false;
    await sampler;
    expect(most).toBe(1);
    expect(daemon.supervisor.state).toBe('running');

    for (const c of clients.splice(0)) c.close();
    await daemon.close();
    daemon = null;
    await until('no enclave after the daemon stopped', () => enclaveProcesses(wireUrl).length === 0, 8000);
    expect(enclaveProcesses(wireUrl)).toEqual([]);
  });
});
