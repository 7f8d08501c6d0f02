// Runs in the enclave (NSM production build only). `nitro-cli build-enclave` keeps only the image's
// CMD/ENTRYPOINT and ENV: USER and WORKDIR are dropped, so the enclave's init starts us as root. The
// entrypoint therefore gives up root itself, once everything that needs it is open (/dev/nsm, whose
// device node is root's), and refuses to serve at all if it cannot prove root is gone for good: a
// bug anywhere in the process must not come with root's power over the enclave's memory and devices.
import { CosignerError } from '../../proto/errors.ts';

/** The unprivileged identity the enclave runs as (distroless "nonroot", the uid docs name). */
export const ENCLAVE_UID = 65532;
export const ENCLAVE_GID = 65532;

/** The process credential calls used here (POSIX only; `process` in production, a fake in tests). */
export interface ProcessCredentials {
  getuid?: () => number;
  geteuid?: () => number;
  getgid?: () => number;
  getegid?: () => number;
  getgroups?: () => number[];
  setuid?: (id: number) => void;
  setgid?: (id: number) => void;
  setgroups?: (groups: number[]) => void;
}

function refuse(message: string, cause?: unknown): CosignerError {
  return new CosignerError('ERR_PRIVILEGE_DROP', message, cause === undefined ? {} : { cause });
}

/**
 * Switch to uid/gid 65532 with no supplementary groups, then verify: real and effective ids are the
 * unprivileged ones, no group but ours remains, and setuid(0) / setgid(0) fail. Already running as
 * 65532 (a container started with USER) skips the switch but not the verification. Throws
 * ERR_PRIVILEGE_DROP on anything else; the caller must exit.
 */
export function dropPrivileges(p: ProcessCredentials = process, uid = ENCLAVE_UID, gid = ENCLAVE_GID): void {
  const { getuid, geteuid, getgid, getegid, getgroups, setuid, setgid, setgroups } = p;
  if (!getuid || !geteuid || !getgid || !getegid || !getgroups || !setuid || !setgid || !setgroups) {
    throw refuse('this platform has no POSIX credential calls; cannot drop root');
  }
  if (geteuid() === 0) {
    try {
      // Order matters: groups and gid can only be changed while we are still root.
      setgroups([]);
      setgid(gid);
      setuid(uid);
    } catch (err) {
      throw refuse(`cannot switch to uid ${uid} gid ${gid}`, err);
    }
  }
  const ids = { uid: getuid(), euid: geteuid(), gid: getgid(), egid: getegid() };
  if (ids.uid !== uid || ids.euid !== uid || ids.gid !== gid || ids.egid !== gid) {
    throw refuse(`running as uid ${ids.uid}/${ids.euid} gid ${ids.gid}/${ids.egid}, expected ${uid}/${gid}`);
  }
  const extra = getgroups().filter((g) => g !== gid);
  if (extra.length > 0) throw refuse(`supplementary groups remain: ${extra.join(',')}`);
  // The proof: with saved ids also switched (setuid(2) as root sets all three), going back must fail.
  for (const [name, call] of [['setuid', setuid], ['setgid', setgid]] as const) {
    let regained = true;
    try {
      call(0);
    } catch {
      regained = false;
    }
    if (regained) throw refuse(`${name}(0) succeeded after dropping privileges`);
  }
}
