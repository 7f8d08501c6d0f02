// The local stack's kept ports (local/stack/persisted.ts): a restart must listen where the enclave
// sealed it would, so a taken port is an error naming the role and the port, never a silent new one.
import { createServer, type Server } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSetUp, loadPorts, savedPortOr0, savedPortOrFree, savePorts } from '../../../local/stack/persisted.ts';
import { tempDir } from '../../support/temp-dir.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function hold(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    servers.push(s);
    s.listen(0, '127.0.0.1', () => res((s.address() as { port: number }).port));
  });
}

describe('local stack: kept ports', () => {
  it('saved ports come back; a taken one is refused naming the role and the port', async () => {
    const dir = tempDir('ncs-ports-');
    expect(await loadPorts(dir)).toEqual({});
    expect(await savedPortOr0({}, 'kms', dir)).toBe(0);
    const taken = await hold();
    await savePorts(dir, { kms: taken, handler: 1 });
    const saved = await loadPorts(dir);
    expect(saved).toEqual({ kms: taken, handler: 1 });
    await expect(savedPortOr0(saved, 'kms', dir)).rejects.toThrow(new RegExp(`port ${taken} \\(kms\\).*is taken`));
    await expect(savedPortOrFree(saved, 'kms', dir)).rejects.toThrow(/ports\.json/);
    await new Promise((r) => servers.pop()!.close(r));
    expect(await savedPortOr0(saved, 'kms', dir)).toBe(taken);
  });

  it('a damaged ports file is an error, not a fresh start on new ports', async () => {
    const dir = tempDir('ncs-ports-bad-');
    writeFileSync(join(dir, 'ports.json'), JSON.stringify({ kms: 'x' }));
    await expect(loadPorts(dir)).rejects.toThrow(/bad port for kms/);
  });
});

describe('local stack: set up or not', () => {
  it('a sealed DB in the home or sealed objects in the S3 stand-in bucket count; empty folders do not', () => {
    const dir = tempDir('stack-setup-');
    const home = join(dir, 'home');
    const objects = join(dir, 's3', 'bucket', 'o');
    expect(isSetUp(home, objects)).toBe(false);
    mkdirSync(join(home, 'db'), { recursive: true });
    mkdirSync(objects, { recursive: true });
    expect(isSetUp(home, objects)).toBe(false);
    writeFileSync(join(objects, 'Y29zaWduZXI'), 'x');
    expect(isSetUp(home, objects)).toBe(true);
    expect(isSetUp(home)).toBe(false);
    writeFileSync(join(home, 'db', 'secrets.db'), 'x');
    expect(isSetUp(home)).toBe(true);
  });
});
