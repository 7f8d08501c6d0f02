// End-to-end test helpers: a fresh development bundle in a temporary build folder (so a concurrent
// `make bundle` cannot change it under the test), a local stack in a temporary state folder, and the
// demo's operator steps (setup, add-user, owner approval) through the real CLI.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleEnclave, copyRuntimeFiles, writeDevMeasurements } from '../../scripts/bundle-enclave.ts';
import { callDaemon } from '../../parent/control/client.ts';
import { startLocalStack, type HandlerHandle, type LocalStack, type LocalStackOptions } from '../../local/stack.ts';

export interface E2eStack {
  readonly stack: LocalStack;
  readonly handler: HandlerHandle;
  readonly userId: string;
  /** POST /v1/transactions at the reference coordinator; 4xx bodies that are transactions are returned. */
  tx(input: Record<string, unknown>): Promise<TxRecord>;
  /** A fresh pairing token from the coordinator. */
  pairingToken(userId: string): Promise<string>;
  /** The sample handler's public key, written to a file for `--handler-public-key`. */
  readonly handlerPem: string;
  cleanup(): Promise<void>;
}

export interface TxRecord {
  id: string;
  status: string;
  scheme: string;
  payload: string;
  signature?: string;
  publicKey?: string;
  error?: { code: string; message: string };
  approval?: { decision: string };
}

export type CliResult = Awaited<ReturnType<LocalStack['cli']>>;

/** The daemon's `status`, as far as the e2e tests read it. */
export type DaemonStatus = { enclave?: { state?: string; coordinator?: string } | null; wire?: { connected?: boolean } };

/** Polls the daemon's `status` (every 100 ms) until `ok`; throws with the last status after the timeout. */
export async function waitForStatus(what: string, e: E2eStack, ok: (s: DaemonStatus) => boolean, timeoutMs = 30_000): Promise<DaemonStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const s = await (callDaemon(e.stack.paths.controlSocket, 'status', {}, 5_000) as Promise<DaemonStatus>);
      last = s;
      if (ok(s)) return s;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last status ${JSON.stringify(last).slice(0, 400)}`);
}

/** The enclave is unsealed, its wire link to the daemon is up and it is connected to the coordinator. */
export const signingReady = (s: DaemonStatus): boolean => s.wire?.connected === true && s.enclave?.state === 'unsealed' && s.enclave?.coordinator === 'connected';

/** Parse the last stdout line of a `--json` CLI run. */
export function cliJson(r: CliResult): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  } catch {
    throw new Error(`cosigner did not print JSON (exit ${r.code}): ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  }
}

/** Build a development bundle (with its proto/ and measurements) into a fresh temporary folder. */
export async function freshBundle(): Promise<{ dir: string; bundlePath: string; measurementsPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cosigner-e2e-build-'));
  const r = await bundleEnclave('dev', dir);
  await copyRuntimeFiles(dir);
  const measurementsPath = join(dir, 'measurements-dev.json');
  await writeDevMeasurements(r.path, measurementsPath);
  return { dir, bundlePath: r.path, measurementsPath };
}

async function post<T>(url: string, body: unknown): Promise<T> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const parsed = (await r.json()) as T & { id?: unknown; status?: unknown };
  if (!r.ok && !(typeof parsed?.id === 'string' && typeof parsed?.status === 'string')) throw new Error(`POST ${url}: HTTP ${r.status} ${JSON.stringify(parsed).slice(0, 300)}`);
  return parsed;
}

/**
 * A local stack taken through setup, add-user (with the sample handler) and owner approval, as in
 * `make demo`. `opts.callback` tunes the enclave's handler client (defaults: the demo's).
 */
export async function setUpStack(
  opts: { callback?: LocalStackOptions['callback']; userId?: string; coordinatorLink?: boolean; inProcessDaemon?: LocalStackOptions['inProcessDaemon']; storage?: 'file' | 's3'; leaseTtlMs?: number } = {},
): Promise<E2eStack> {
  const build = await freshBundle();
  const dir = await mkdtemp(join(tmpdir(), 'cosigner-e2e-'));
  const lines: string[] = [];
  const stack = await startLocalStack({
    dir,
    fresh: true,
    bundlePath: build.bundlePath,
    measurementsPath: build.measurementsPath,
    callback: opts.callback ?? { timeoutMs: 1_000, retryIntervalMs: 30_000, retryTotalMs: 120_000, clockSpeedup: 200 },
    log: (l) => void lines.push(l),
    coordinatorLink: opts.coordinatorLink ?? false,
    ...(opts.inProcessDaemon ? { inProcessDaemon: opts.inProcessDaemon } : {}),
    // File storage unless asked: most e2e tests read the sealed files in COSIGNER_HOME/db.
    storage: opts.storage ?? 'file',
    ...(opts.leaseTtlMs !== undefined ? { leaseTtlMs: opts.leaseTtlMs } : {}),
  });
  const cleanup = async (): Promise<void> => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
    await rm(build.dir, { recursive: true, force: true });
  };
  try {
    if (stack.missing.length > 0) throw new Error(`local stack incomplete: ${stack.missing.join('; ')}`);
    await stack.waitReady(30_000);
    const coordPem = join(dir, 'coordinator.pem');
    await writeFile(coordPem, stack.coordinator!.publicKeyPem);
    const ownerPem = join(dir, 'owner.pem');
    await writeFile(ownerPem, stack.coordinator!.ownerPublicKeyPem);
    const setup = await stack.cli(['setup', '--json', '--yes', '--kms-key-arn', stack.kms!.keyArn, '--region', stack.kms!.region, '--kms-endpoint', stack.kms!.url, '--coordinator-url', stack.coordinatorEndpoint!, '--coordinator-public-key', coordPem, '--owner-public-key', ownerPem]);
    if (setup.code !== 0) throw new Error(`setup failed: ${setup.stdout} ${setup.stderr}`);
    const pk = cliJson(await stack.cli(['print-public-key', '--json'])).result as { publicKeyPem: string };
    const handler = (await stack.startHandler({ cosignerPublicKeyPem: pk.publicKeyPem, rules: { maxAmountPerAsset: { ETH: '10' } } }))!;
    const handlerPem = join(dir, 'handler.pem');
    await writeFile(handlerPem, handler.publicKeyPem);
    const userId = opts.userId ?? 'e2e-user';
    const restUrl = stack.coordinator!.restUrl.replace(/\/+$/, '');
    const { token } = await post<{ token: string }>(`${restUrl}/v1/pairing-tokens`, { userId, workspace: 'e2e' });
    const add = await stack.cli(['add-user', '--json', '--yes', '--pairing-token', token, '--callback-url', handler.url, '--auth-mode', 'public-key', '--handler-public-key', handlerPem]);
    if (add.code !== 0) throw new Error(`add-user failed: ${add.stdout} ${add.stderr}`);
    await post(`${restUrl}/v1/users/${userId}/approve`, {});
    return {
      stack,
      handler,
      userId,
      tx: (input) => post<TxRecord>(`${restUrl}/v1/transactions`, { userId, destination: '0xabc', ...input }),
      pairingToken: async (id) => (await post<{ token: string }>(`${restUrl}/v1/pairing-tokens`, { userId: id, workspace: 'e2e' })).token,
      handlerPem,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw new Error(`${(err as Error).message}\n--- stack log ---\n${lines.join('\n')}`);
  }
}
