// Runs on the parent. Access control of the control socket. Node cannot read SO_PEERCRED, so the
// daemon cannot check a client's uid itself; instead the socket is created mode 0600 (owner only:
// root in production) inside a directory that nobody else can write to, and both are checked at
// start-up. Anyone who can connect can operate the co-signer, so a group/world-writable directory
// (where another user could swap the socket for their own) is refused, not warned about.
import { lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { CosignerError } from '../../proto/errors.ts';

function refuse(message: string, path: string): never {
  throw new CosignerError('ERR_CONTROL_SOCKET', message, { details: { path } });
}

/** Create the socket's directory (0700) if missing; refuse one that others can write or that is not ours. */
export async function checkSocketDir(socketPath: string): Promise<void> {
  const dir = dirname(socketPath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  if (st.isSymbolicLink()) refuse(`control socket directory ${dir} is a symbolic link; use a real directory owned by the daemon's user`, dir);
  if (!st.isDirectory()) refuse(`control socket directory ${dir} is not a directory`, dir);
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== uid && st.uid !== 0) refuse(`control socket directory ${dir} belongs to uid ${st.uid}, not to the daemon's user (uid ${uid}); chown it or choose another controlSocket`, dir);
  if ((st.mode & 0o022) !== 0) {
    refuse(`control socket directory ${dir} is group- or world-writable (mode ${(st.mode & 0o777).toString(8)}); run: chmod go-w ${dir}`, dir);
  }
  // Whoever can write an ancestor (without the sticky bit) can rename the directory away and put
  // their own in its place. World-writable ancestors are refused; group-writable ones are left to
  // the operator (checkouts made under umask 002 have them; /run/cosigner never does).
  for (let a = dirname(dir); ; a = dirname(a)) {
    const as = await stat(a);
    if ((as.mode & 0o002) !== 0 && (as.mode & 0o1000) === 0) {
      refuse(`${a}, above the control socket, is world-writable without the sticky bit; others could replace ${dir}`, a);
    }
    if (a === dirname(a)) break;
  }
}

/** Remove a stale socket file left by a dead daemon; refuse if a live daemon answers or the path is not a socket. */
export async function clearStaleSocket(socketPath: string): Promise<void> {
  let st;
  try {
    st = await lstat(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) refuse(`${socketPath} exists and is not a socket; remove it or choose another controlSocket`, socketPath);
  const alive = await new Promise<boolean>((res) => {
    const s = connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
  if (alive) refuse(`another cosigner-parent is already listening on ${socketPath}; stop it first`, socketPath);
  await unlink(socketPath);
}

/** After listen(): the socket must be 0600 and ours. */
export async function checkSocketFile(socketPath: string): Promise<void> {
  const st = await lstat(socketPath);
  if (!st.isSocket()) refuse(`${socketPath} is not a socket`, socketPath);
  if ((st.mode & 0o077) !== 0) refuse(`control socket ${socketPath} has mode ${(st.mode & 0o777).toString(8)}, expected 600`, socketPath);
}
