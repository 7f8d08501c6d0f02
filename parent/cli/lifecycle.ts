// Runs on the parent (the `cosigner` CLI). `start`, `stop`, `restart`, `status` and `unseal`, and
// the one question they share: can this co-signer sign now? It can only when the enclave runs, its
// secrets are unsealed, nothing (e.g. a rollback refusal) stopped it, and the coordinator is
// connected (its welcome accepted this secrets DB as the newest: the rollback floor). Otherwise
// these commands exit non-zero (EXIT.CANNOT_SIGN, or EXIT.UNAVAILABLE while the enclave is down)
// with the status still printed, so a script never reads "started" for a co-signer that cannot work.
import { CosignerError, isErrorCode, type ErrorCode } from '../../proto/errors.ts';
import type { ParsedCommand } from './args.ts';
import { call, s, type Obj } from './common.ts';
import { EXIT, fail, ok, usage, withProgress, type CliIo } from './io.ts';
import { renderStatus } from './render.ts';

/** Why the co-signer cannot sign, or null when it can. `final`: waiting longer will not change it. */
export function notReady(st: Obj): { error: CosignerError; final: boolean } | null {
  const lease = st.lease as Obj | undefined;
  if (lease?.role === 'standby') {
    // A standby never signs until the active instance's lease lapses: a verdict, not a wait.
    return { error: new CosignerError('ERR_STATE', `this instance is a standby${lease.holder ? `: ${s(lease.holder)} is the active signer` : ''}`, { details: { role: 'standby', next: 'it takes over by itself when the lease lapses (docs/operations.md, "One active signer")' } }), final: true };
  }
  const e = st.enclave as Obj | null | undefined;
  const sup = (st.supervisor ?? {}) as Obj;
  if (!e) {
    const stopped = sup.state === 'stopped';
    return {
      error: new CosignerError('ERR_ENCLAVE_NOT_RUNNING', `the enclave is ${s(sup.state)}${stopped ? '' : ' (not connected yet)'}`, {
        details: { next: stopped ? 'run `cosigner start`' : 'wait for the enclave to boot (`cosigner status`), or `cosigner logs -n 50` if it keeps restarting' },
      }),
      final: stopped,
    };
  }
  const state = String(e.state);
  const code: ErrorCode | undefined = isErrorCode(e.errorCode) ? e.errorCode : undefined;
  const why = e.errorMessage ? `: ${s(e.errorMessage)}` : '';
  const cannot = (c: ErrorCode, message: string, final: boolean, next?: string): { error: CosignerError; final: boolean } => ({
    error: new CosignerError(c, message, { details: { cannotSign: true, ...(next ? { next } : {}) } }),
    final,
  });
  if (state === 'not-set-up') return cannot('ERR_NOT_SET_UP', 'the co-signer is not set up', true);
  if (state !== 'unsealed') {
    // A boot unseal that waits out a transient failure retries by itself; anything else is a verdict.
    const retrying = Boolean(e.nextUnsealAttemptAt);
    const next = retrying ? `the enclave retries by itself at ${s(e.nextUnsealAttemptAt)}; \`cosigner unseal\` tries now` : undefined;
    return cannot(code ?? 'ERR_SEALED', `the co-signer is ${state}${why}`, state === 'access-denied' || (Boolean(code) && !retrying), next);
  }
  if (code) return cannot(code, `the co-signer is unsealed but stopped${why}`, true);
  if (e.coordinator !== 'connected') {
    return cannot(
      'ERR_COORDINATOR_UNAVAILABLE',
      `the co-signer is unsealed but the coordinator is ${s(e.coordinator)}: nothing is signed until it connects and confirms this secrets DB is the newest`,
      false,
    );
  }
  return null;
}

/** Exit for a status that cannot sign: the status is printed, the error and its `next:` follow. */
function notReadyExit(io: CliIo, p: ParsedCommand, st: Obj, err: CosignerError): number {
  if (!p.json) io.stdout(renderStatus(st) + '\n');
  const code = fail(io, p.json, p.command, err, st);
  return code === EXIT.OK ? EXIT.FAILURE : code;
}

function timeoutOf(p: ParsedCommand, def: number): number {
  const t = p.values.timeout;
  const ms = t === undefined ? def : Number(t) * 1000;
  if (!Number.isSafeInteger(ms) || ms < 1000 || ms > 3_600_000) throw usage('--timeout is in seconds, 1 to 3600');
  return ms;
}

/**
 * Poll `status` until the co-signer can sign or says it never will on its own, printing each new
 * state. Polls quickly at first (a restart usually settles within a second) and then every 500 ms.
 */
export async function waitReady(p: ParsedCommand, io: CliIo, timeoutMs: number): Promise<{ st: Obj; problem: ReturnType<typeof notReady> }> {
  const end = Date.now() + timeoutMs;
  let last = '';
  let delay = 100;
  for (;;) {
    const st = await call(p, 'status');
    const e = st.enclave as Obj | null;
    const sup = (st.supervisor ?? {}) as Obj;
    const now = e ? `enclave ${String(e.state)}, coordinator ${s(e.coordinator)}` : `enclave ${String(sup.state)}, wire ${((st.wire ?? {}) as Obj).connected ? 'connected' : 'connecting'}`;
    if (now !== last && !p.json) io.stderr(`… ${now}\n`);
    last = now;
    const problem = notReady(st);
    if (!problem || (problem.final && e)) return { st, problem };
    if (Date.now() >= end) {
      // The enclave never answered: a timeout (retry later). It answered but cannot sign: say why.
      if (!e) throw new CosignerError('ERR_TIMEOUT', `the enclave did not boot within ${Math.round(timeoutMs / 1000)} s (last: ${last})`);
      return { st, problem };
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, end - Date.now()))));
    delay = Math.min(delay * 2, 500);
  }
}

/** `start`, `stop`, `restart`: ask the daemon, then (except stop) wait until the co-signer can sign. */
export async function lifecycleCommand(p: ParsedCommand, io: CliIo, command: 'start' | 'stop' | 'restart'): Promise<number> {
  const timeoutMs = timeoutOf(p, 120_000);
  // The daemon answers once the enclave is down (stop) or launched (start, restart): no fixed sleep.
  const r = await withProgress(io, p.json, `${command}: waiting for the enclave`, call(p, command, {}, 300_000));
  if (command === 'stop' || p.values['no-wait']) return ok(io, p.json, command, r, () => `enclave ${s(r.state)}${r.enclaveId ? ` (${s(r.enclaveId)})` : ''}`);
  const { st, problem } = await waitReady(p, io, timeoutMs);
  if (problem) return notReadyExit(io, p, st, problem.error);
  return ok(io, p.json, command, st, () => renderStatus(st));
}

/** `status`: exits 0 only when the co-signer can sign. */
export async function statusCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const st = await call(p, 'status');
  const problem = notReady(st);
  if (problem) return notReadyExit(io, p, st, problem.error);
  return ok(io, p.json, 'status', st, () => renderStatus(st));
}

/** `unseal [--allow-rollback-to GEN]`: then waits (bounded) for the coordinator to accept the DB. */
export async function unsealCommand(p: ParsedCommand, io: CliIo): Promise<number> {
  const gen = p.values['allow-rollback-to'] as string | undefined;
  if (gen !== undefined && !/^\d{1,20}$/.test(gen)) throw usage('--allow-rollback-to takes a generation number (see `cosigner backups list`)');
  const timeoutMs = timeoutOf(p, 60_000);
  try {
    await withProgress(io, p.json, 'unseal: KMS and the secrets DB', call(p, 'unseal', gen ? { allowRollbackTo: gen } : {}, 300_000));
  } catch (err) {
    // A failed unseal leaves the co-signer unable to sign, whatever the cause's code.
    if (err instanceof CosignerError && !['ERR_USAGE', 'ERR_INVALID_ARGUMENT', 'ERR_CONTROL_SOCKET', 'ERR_BUSY', 'ERR_ENCLAVE_NOT_RUNNING'].includes(err.code)) {
      throw new CosignerError(err.code, err.message, { cause: err, details: { ...(err.details ?? {}), cannotSign: true } });
    }
    throw err;
  }
  const { st, problem } = await waitReady(p, io, timeoutMs);
  if (problem) return notReadyExit(io, p, st, problem.error);
  return ok(io, p.json, 'unseal', st, () => renderStatus(st));
}
