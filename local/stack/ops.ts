// Local development host only. What a caller does with a running local stack: wait for the enclave
// to be ready, and run the real `cosigner` CLI against the stack's control socket.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { callDaemon } from '../../parent/control/client.ts';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';
import { repoRoot, type LocalStack } from './types.ts';

/**
 * Poll the daemon until it reports the enclave connected and past its boot (not-set-up, unsealed,
 * sealed or access-denied). Returns the daemon's status.
 */
export async function waitReady(controlSocket: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const st = await (callDaemon(controlSocket, 'status', {}, 5_000) as Promise<Record<string, unknown>>);
      last = st;
      const wire = st.wire as { connected?: boolean } | undefined;
      const enclave = st.enclave as { state?: string } | null | undefined;
      if (wire?.connected && enclave && enclave.state !== 'starting' && enclave.state !== 'unsealing') return st;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the enclave did not become ready within ${timeoutMs} ms: ${JSON.stringify(last instanceof Error ? last.message : last).slice(0, 500)}`);
}

/**
 * The environment the CLI sees on the stack's "instance": trust in the local CA (as the CLI on EC2
 * trusts AWS's certificates) and the IMDSv2 stand-in as the instance metadata service, so that the
 * AWS SDK's default credential chain yields the instance role, as on the host (`cosigner upgrade
 * --kms-key-arn` reads the key policy with them). AWS credentials and profiles of the developer's own
 * environment are dropped: they must not stand in for the instance role.
 */
function instanceEnv(instance: { caPem: string; imdsUrl: string } | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  if (!instance) return env;
  return {
    ...env,
    NODE_EXTRA_CA_CERTS: instance.caPem,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: instance.imdsUrl,
    AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: 'IPv4',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_CONFIG_FILE: '/dev/null',
  };
}

/** Run `bin/cosigner.mjs` with COSIGNER_SOCKET pointing at the stack; never rejects. */
export function runCli(
  controlSocket: string,
  args: readonly string[],
  o: { timeoutMs?: number; input?: string; instance?: { caPem: string; imdsUrl: string } } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'cosigner.mjs'), ...args], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...instanceEnv(o.instance), COSIGNER_SOCKET: controlSocket },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.stdin.end(o.input ?? '');
    child.once('close', (code, signal) => {
      clearTimeout(t);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** `<dir>/stack.json`: every address the stack chose, for tools and people outside the process. */
export async function writeStackSummary(stack: LocalStack, imdsRoleArn: string): Promise<void> {
  const { kms, imds, coordinator } = stack;
  await writeFileAtomic(
    join(stack.dir, 'stack.json'),
    `${JSON.stringify(
      {
        kms: kms ?? null,
        imds: imds ? { url: imds.url, roleArn: imdsRoleArn } : null,
        coordinator: coordinator ? { restUrl: coordinator.restUrl, cosignerUrl: coordinator.cosignerUrl } : null,
        handlerPort: stack.handlerPort,
        controlSocket: stack.paths.controlSocket,
        home: stack.paths.home,
        missing: stack.missing,
      },
      null,
      2,
    )}\n`,
  );
}
