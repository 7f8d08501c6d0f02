// Runs on the parent. The daemon's half of `cosigner upgrade`: the CLI has already checked that the
// KMS key policy admits the new measurements (it refuses otherwise); here the daemon switches the
// enclave to the new image, waits for it to unseal, and rolls back to the previous image by itself
// when the new one cannot. Nothing is deleted: the old image stays where it was, on record in
// COSIGNER_HOME/image.json.
import { readFile, stat } from 'node:fs/promises';
import type pino from 'pino';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { parseMeasurements } from '../../proto/kms/key-policy.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { EnclaveLink } from './enclave-link.ts';
import { writeImageState } from './image-state.ts';

/** States after which an enclave will not change on its own. */
const SETTLED = new Set(['unsealed', 'not-set-up', 'access-denied', 'error']);

export interface UpgradeParams {
  readonly eifPath: string;
  readonly measurementsPath: string;
  readonly policyChecked: boolean;
  readonly timeoutMs?: number;
}

export interface UpgradeResult {
  readonly previous: string;
  readonly current: string;
  readonly state: string;
  readonly measurements: Record<string, string>;
}

interface Ctx {
  readonly supervisor: Supervisor;
  readonly link: EnclaveLink;
  readonly home: string;
  readonly logger: pino.Logger;
}

async function enclaveState(link: EnclaveLink): Promise<{ state: string; errorCode: string }> {
  const s = await link.control().Status!({}, { deadlineMs: 10_000 });
  return { state: String(s.state ?? ''), errorCode: String(s.errorCode ?? '') };
}

/** Wait for the enclave to connect and reach a settled state; returns that state. */
export async function waitSettled(link: EnclaveLink, timeoutMs: number): Promise<{ state: string; errorCode: string }> {
  const end = Date.now() + timeoutMs;
  await link.waitConnected(timeoutMs);
  let last = { state: 'unknown', errorCode: '' };
  while (Date.now() < end) {
    try {
      last = await enclaveState(link);
      if (SETTLED.has(last.state)) return last;
    } catch (err) {
      last = { state: 'unreachable', errorCode: toCosignerError(err).code };
      if (!link.connected) await link.waitConnected(Math.max(1, end - Date.now())).catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}

/** Switch images; roll back when the new enclave does not reach the state the old one had. */
export async function performUpgrade(ctx: Ctx, p: UpgradeParams): Promise<UpgradeResult> {
  if (!p.policyChecked) {
    throw new CosignerError('ERR_UPGRADE_REFUSED', 'upgrade refused: the key policy check was not done; run `cosigner upgrade`, which checks that KMS will release secrets to the new image first');
  }
  const timeoutMs = p.timeoutMs ?? 180_000;
  try {
    const st = await stat(p.eifPath);
    if (!st.isFile()) throw new Error('not a file');
  } catch {
    throw new CosignerError('ERR_UPGRADE_REFUSED', `upgrade refused: new image ${p.eifPath} is not a readable file`);
  }
  let measurements: Record<string, string>;
  try {
    measurements = { ...parseMeasurements(JSON.parse(await readFile(p.measurementsPath, 'utf8'))) };
  } catch (err) {
    throw new CosignerError('ERR_UPGRADE_REFUSED', `upgrade refused: cannot read measurements ${p.measurementsPath}: ${toCosignerError(err).message}`);
  }
  const previous = ctx.supervisor.image;
  if (previous === p.eifPath) throw new CosignerError('ERR_UPGRADE_REFUSED', 'upgrade refused: the new image is the one already running');

  let before = { state: 'unknown', errorCode: '' };
  try {
    before = await enclaveState(ctx.link);
  } catch {
    // Not running: the upgrade still may proceed, it then only needs to start.
  }
  const success = (s: string): boolean => s === 'unsealed' || (before.state !== 'unsealed' && s === 'not-set-up');
  ctx.logger.info({ previous, next: p.eifPath, before: before.state }, 'upgrade: switching enclave image');

  // switchImage stops the running enclave (SIGTERM in local mode) before the link is touched, as
  // `cosigner stop`/`restart` do: the enclave sends its last records while the wire is open, and the
  // link, told of the new enclave by the supervisor's `started`, drops the old connection and dials
  // the new one by itself. Closing the link first sent GoAway and waited the wire's whole close
  // grace (5 s) for the relayed coordinator stream.
  let after: { state: string; errorCode: string };
  try {
    await ctx.supervisor.switchImage(p.eifPath);
    after = await waitSettled(ctx.link, timeoutMs);
  } catch (err) {
    after = { state: 'start-failed', errorCode: toCosignerError(err).code };
  }
  if (success(after.state)) {
    await writeImageState(ctx.home, { current: p.eifPath, previous, switchedAt: new Date().toISOString(), measurements });
    ctx.logger.info({ current: p.eifPath, state: after.state }, 'upgrade: done');
    return { previous, current: p.eifPath, state: after.state, measurements };
  }

  ctx.logger.error({ state: after.state, code: after.errorCode }, 'upgrade: new image did not unseal; rolling back');
  let rolled = { state: 'unknown', errorCode: '' };
  try {
    await ctx.supervisor.switchImage(previous);
    rolled = await waitSettled(ctx.link, timeoutMs);
  } catch (err) {
    rolled = { state: 'start-failed', errorCode: toCosignerError(err).code };
  }
  throw new CosignerError(
    'ERR_UPGRADE_ROLLED_BACK',
    `the new image reached state "${after.state}"${after.errorCode ? ` (${after.errorCode})` : ''} instead of unsealing; rolled back to ${previous}, which is now "${rolled.state}". ` +
      'Check that the key policy admits the new measurements (cosigner key-policy … --also NEW.json) and see `cosigner logs`.',
    { details: { newState: after.state, newErrorCode: after.errorCode, rolledBackTo: previous, rolledBackState: rolled.state } },
  );
}
