import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dropPrivileges, ENCLAVE_GID, ENCLAVE_UID, type ProcessCredentials } from '../../../enclave/services/drop-privileges.ts';
import { CosignerError } from '../../../proto/errors.ts';

const repo = resolve(import.meta.dirname, '..', '..', '..');

/** A fake credential table that behaves like Linux: only root may change ids. */
function fakeProcess(start: { uid: number; gid: number; groups?: number[] }, quirks: { rootSticks?: boolean; setgroupsFails?: boolean } = {}): ProcessCredentials & { state: { uid: number; gid: number; groups: number[] } } {
  const state = { uid: start.uid, gid: start.gid, groups: start.groups ?? [0] };
  const mayChange = (to: number, current: number): void => {
    if (state.uid !== 0 && to !== current) throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
  };
  return {
    state,
    getuid: () => state.uid,
    geteuid: () => state.uid,
    getgid: () => state.gid,
    getegid: () => state.gid,
    getgroups: () => [...state.groups],
    setgroups: (g) => {
      if (quirks.setgroupsFails || state.uid !== 0) throw new Error('EPERM');
      state.groups = g;
    },
    setgid: (id) => {
      mayChange(id, state.gid);
      state.gid = id;
    },
    setuid: (id) => {
      // rootSticks: a broken drop that leaves the saved uid at 0, so setuid(0) still works.
      if (!(quirks.rootSticks && id === 0)) mayChange(id, state.uid);
      state.uid = id;
    },
  };
}

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CosignerError);
    return (err as CosignerError).code;
  }
  return undefined;
}

describe('dropPrivileges (fake credentials)', () => {
  it('switches root to 65532:65532 with no supplementary groups', () => {
    const p = fakeProcess({ uid: 0, gid: 0, groups: [0, 10] });
    dropPrivileges(p);
    expect(p.state).toEqual({ uid: ENCLAVE_UID, gid: ENCLAVE_GID, groups: [] });
  });

  it('accepts a process that already runs as 65532 and cannot regain root', () => {
    const p = fakeProcess({ uid: ENCLAVE_UID, gid: ENCLAVE_GID, groups: [] });
    dropPrivileges(p);
    expect(p.state.uid).toBe(ENCLAVE_UID);
  });

  it('refuses when setuid(0) still works afterwards', () => {
    expect(codeOf(() => dropPrivileges(fakeProcess({ uid: 0, gid: 0 }, { rootSticks: true })))).toBe('ERR_PRIVILEGE_DROP');
  });

  it('refuses when the switch itself fails', () => {
    expect(codeOf(() => dropPrivileges(fakeProcess({ uid: 0, gid: 0 }, { setgroupsFails: true })))).toBe('ERR_PRIVILEGE_DROP');
  });

  it('refuses to run as another unprivileged user, or with a foreign group left', () => {
    expect(codeOf(() => dropPrivileges(fakeProcess({ uid: 1000, gid: 1000, groups: [] })))).toBe('ERR_PRIVILEGE_DROP');
    expect(codeOf(() => dropPrivileges(fakeProcess({ uid: ENCLAVE_UID, gid: ENCLAVE_GID, groups: [0] })))).toBe('ERR_PRIVILEGE_DROP');
  });

  it('refuses on a platform without the POSIX credential calls', () => {
    expect(codeOf(() => dropPrivileges({}))).toBe('ERR_PRIVILEGE_DROP');
  });
});

describe('dropPrivileges (real process)', () => {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) console.log('drop-privileges: not running as root; the real-process test is skipped');

  // Node's getgroups() always lists the effective gid; no other group may remain.
  it.skipIf(!isRoot)('a root child process ends as 65532:65532, no other groups, and setuid(0) fails', () => {
    const code = `
      const { dropPrivileges } = await import(${JSON.stringify(join(repo, 'enclave/services/drop-privileges.ts'))});
      dropPrivileges();
      let back = 'refused';
      try { process.setuid(0); back = 'regained'; } catch {}
      console.log(JSON.stringify({ uid: process.getuid(), euid: process.geteuid(), gid: process.getgid(), egid: process.getegid(), groups: process.getgroups(), back }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim())).toEqual({ uid: ENCLAVE_UID, euid: ENCLAVE_UID, gid: ENCLAVE_GID, egid: ENCLAVE_GID, groups: [ENCLAVE_GID], back: 'refused' });
  });
});

describe('enclave/main.ts', () => {
  it('drops privileges in the NSM profile, after the attestor (/dev/nsm) and before listening', () => {
    const src = readFileSync(join(repo, 'enclave/main.ts'), 'utf8');
    const attestor = src.indexOf('await profile.createAttestor(');
    const drop = src.indexOf("if (profile.mode === 'nsm') dropPrivileges();");
    const listen = src.indexOf('await Peer.listen(');
    expect(attestor).toBeGreaterThan(0);
    expect(drop).toBeGreaterThan(attestor);
    expect(listen).toBeGreaterThan(drop);
  });
});
