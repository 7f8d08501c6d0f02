// Runs in the enclave. The KMS client: the unmodified @aws-sdk/client-kms, whose HTTPS connections
// are Dial tunnels through the parent (TLS terminated in the enclave) and whose credentials come
// from the parent's IMDSv2 source. Retries and timeouts are bounded (DESIGN invariant 7).
import { KMSClient } from '@aws-sdk/client-kms';
import type { CredentialSource, Dial } from '../../proto/ports.ts';
import { CosignerError } from '../../proto/errors.ts';
import { AMAZON_TRUST_ROOTS_PEM } from './amazon-roots.ts';
import { DialAgent } from './dial-agent.ts';

export interface KmsClientOptions {
  readonly region: string;
  readonly dial: Dial;
  readonly credentials: CredentialSource;
  /** Override for the local stand-in, e.g. https://localhost:4566. Default https://kms.<region>.amazonaws.com. */
  readonly endpoint?: string;
  /** Trust anchors for the endpoint (the local CA); default: Amazon's roots only (amazon-roots.ts). */
  readonly caPem?: string | readonly string[];
  readonly maxAttempts?: number;
  readonly requestTimeoutMs?: number;
  /** Bound on getting a tunnel from the parent (default 5 s). */
  readonly dialTimeoutMs?: number;
  /** Bound on a whole call, the SDK's retries included (default 10 s): past it, ERR_KMS_UNAVAILABLE. */
  readonly callDeadlineMs?: number;
}

const DEFAULT_CALL_DEADLINE_MS = 10_000;

/**
 * Ends `call` with ERR_KMS_UNAVAILABLE once `ms` pass. Sits outermost in the SDK's middleware stack,
 * so it bounds the SDK's retries and backoff too: a black-holed KMS (connections accepted, never
 * answered) fails fast and the caller's own retry schedule (boot unseal) goes on. A request still in
 * flight ends by itself within its own socket and dial bounds.
 */
function withDeadline<T>(call: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new CosignerError('ERR_KMS_UNAVAILABLE', `KMS did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([call, deadline]).finally(() => clearTimeout(timer));
}

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * Builds a KMSClient that reaches KMS only through `dial`. Plain http endpoints are refused: KMS
 * traffic must be TLS from the enclave. Its tunnels are kept alive between calls: call `destroy()`
 * when done with it, which closes them.
 *
 * @example const kms = createKmsClient({ region: 'us-east-1', dial, credentials });
 */
export function createKmsClient(opts: KmsClientOptions): KMSClient {
  if (!REGION_RE.test(opts.region)) throw new CosignerError('ERR_CONFIG_INVALID', 'invalid AWS region', { details: { region: opts.region.slice(0, 32) } });
  const endpoint = opts.endpoint ?? `https://kms.${opts.region}.amazonaws.com`;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new CosignerError('ERR_CONFIG_INVALID', 'invalid KMS endpoint');
  }
  if (url.protocol !== 'https:' || url.pathname !== '/' || url.search || url.username) {
    throw new CosignerError('ERR_CONFIG_INVALID', 'KMS endpoint must be a bare https:// URL (TLS terminates in the enclave)');
  }
  const deadlineMs = opts.callDeadlineMs ?? DEFAULT_CALL_DEADLINE_MS;
  const agent = new DialAgent({
    dial: opts.dial,
    // Not Node's whole bundle: only the roots KMS's certificates chain to can vouch for KMS.
    caPem: opts.caPem ?? AMAZON_TRUST_ROOTS_PEM,
    // Within the call's deadline, so a hanging tunnel is seen as such rather than as a late call.
    dialTimeoutMs: Math.min(opts.dialTimeoutMs ?? 5_000, deadlineMs),
  });
  const client = new KMSClient({
    region: opts.region,
    endpoint: url.origin,
    maxAttempts: Math.min(Math.max(opts.maxAttempts ?? 3, 1), 5),
    credentials: async () => {
      let c;
      try {
        c = await opts.credentials.get();
      } catch (err) {
        throw new CosignerError('ERR_CREDENTIALS', 'no AWS credentials from the parent', { cause: err });
      }
      if (!c || typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string' || c.accessKeyId.length > 128 || c.secretAccessKey.length > 256) {
        throw new CosignerError('ERR_CREDENTIALS', 'malformed AWS credentials from the parent');
      }
      return {
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        ...(c.sessionToken !== undefined ? { sessionToken: c.sessionToken } : {}),
        ...(c.expiration !== undefined ? { expiration: c.expiration } : {}),
      };
    },
    // The SDK only logs a warning when requestTimeout passes unless told to throw: a black-holed
    // connection would otherwise hold the call for ever (the deadline below ends it regardless).
    requestHandler: { httpsAgent: agent, connectionTimeout: 5_000, requestTimeout: opts.requestTimeoutMs ?? deadlineMs, throwOnRequestTimeout: true },
  });
  client.middlewareStack.add((next) => (args) => withDeadline(next(args), deadlineMs), { step: 'initialize', priority: 'high', name: 'cosignerCallDeadline' });
  // The SDK's destroy() reaches the agent only once its request handler resolved its config (after a
  // first request); closing the agent here as well means destroy() always closes every tunnel.
  const destroySdk = client.destroy.bind(client);
  client.destroy = () => {
    destroySdk();
    agent.destroy();
  };
  return client;
}
