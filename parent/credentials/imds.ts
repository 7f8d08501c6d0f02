// Runs on the parent. Instance-role credentials from IMDSv2 (session token first, then the role's
// credentials), cached and refreshed ahead of expiry, handed to the enclave through the
// CredentialSource port. Responses are size-bounded and strictly parsed; every failure is
// ERR_CREDENTIALS and never includes a secret.
import http from 'node:http';
import type { AwsCredentials, Clock, CredentialSource } from '../../proto/ports.ts';
import { systemClock } from '../../proto/ports.ts';
import { CosignerError } from '../../proto/errors.ts';

export interface ImdsCredentialOptions {
  /** Default http://169.254.169.254 (the EC2 link-local address). */
  readonly endpoint?: string;
  /** Refresh this long before the credentials expire (default 5 min). */
  readonly refreshBeforeMs?: number;
  /** IMDS session token lifetime (default 6 h, the maximum). */
  readonly tokenTtlSeconds?: number;
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

const MAX_RESPONSE = 16 * 1024;
const ROLE_RE = /^[\w+=,.@-]{1,64}$/;

function credErr(message: string, cause?: unknown): CosignerError {
  return new CosignerError('ERR_CREDENTIALS', message, cause === undefined ? {} : { cause });
}

/**
 * CredentialSource backed by IMDSv2. Concurrent `get()` calls share one refresh; a failed refresh
 * keeps serving still-valid cached credentials.
 *
 * @example const creds = new ImdsCredentialSource(); const c = await creds.get();
 */
export class ImdsCredentialSource implements CredentialSource {
  private readonly base: URL;
  private readonly refreshBeforeMs: number;
  private readonly tokenTtl: number;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private cached: AwsCredentials | null = null;
  private token: { value: string; expires: number } | null = null;
  private inflight: Promise<AwsCredentials> | null = null;

  constructor(opts: ImdsCredentialOptions = {}) {
    this.base = new URL(opts.endpoint ?? 'http://169.254.169.254');
    if (this.base.protocol !== 'http:') throw new CosignerError('ERR_CONFIG_INVALID', 'IMDS endpoint must be http://');
    this.refreshBeforeMs = opts.refreshBeforeMs ?? 5 * 60 * 1000;
    this.tokenTtl = Math.min(Math.max(opts.tokenTtlSeconds ?? 21600, 60), 21600);
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.clock = opts.clock ?? systemClock;
  }

  async get(): Promise<AwsCredentials> {
    const c = this.cached;
    const now = this.clock.now();
    if (c && (c.expiration === undefined || c.expiration.getTime() - now > this.refreshBeforeMs)) return c;
    if (!this.inflight) {
      this.inflight = this.refresh().finally(() => {
        this.inflight = null;
      });
    }
    try {
      return await this.inflight;
    } catch (err) {
      // Still valid, just inside the refresh window: keep going on the old credentials.
      if (c && c.expiration !== undefined && c.expiration.getTime() > this.clock.now()) return c;
      throw err;
    }
  }

  private async refresh(): Promise<AwsCredentials> {
    let token = await this.sessionToken();
    let roleRes = await this.request('GET', '/latest/meta-data/iam/security-credentials/', { 'x-aws-ec2-metadata-token': token });
    if (roleRes.status === 401) {
      this.token = null;
      token = await this.sessionToken();
      roleRes = await this.request('GET', '/latest/meta-data/iam/security-credentials/', { 'x-aws-ec2-metadata-token': token });
    }
    if (roleRes.status !== 200) throw credErr(`IMDS role list: HTTP ${roleRes.status}`);
    const role = roleRes.body.split('\n')[0]?.trim() ?? '';
    if (!ROLE_RE.test(role)) throw credErr('IMDS returned no valid instance role (is an instance profile attached?)');
    const res = await this.request('GET', `/latest/meta-data/iam/security-credentials/${role}`, { 'x-aws-ec2-metadata-token': token });
    if (res.status !== 200) throw credErr(`IMDS role credentials: HTTP ${res.status}`);
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      throw credErr('IMDS credentials are not JSON');
    }
    const { Code, AccessKeyId, SecretAccessKey, Token, Expiration } = j;
    if (Code !== 'Success') throw credErr('IMDS credentials not available');
    const str = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
    if (!str(AccessKeyId, 128) || !/^[A-Z0-9]+$/.test(AccessKeyId) || !str(SecretAccessKey, 256) || !str(Token, 4096) || !str(Expiration, 64)) {
      throw credErr('IMDS credentials malformed');
    }
    const expiration = new Date(Expiration);
    if (Number.isNaN(expiration.getTime()) || expiration.getTime() <= this.clock.now()) throw credErr('IMDS credentials already expired');
    const creds: AwsCredentials = { accessKeyId: AccessKeyId, secretAccessKey: SecretAccessKey, sessionToken: Token, expiration };
    this.cached = creds;
    return creds;
  }

  private async sessionToken(): Promise<string> {
    if (this.token && this.token.expires - this.clock.now() > 60_000) return this.token.value;
    const res = await this.request('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': String(this.tokenTtl) });
    if (res.status !== 200 || !/^[A-Za-z0-9+/=_-]{1,512}$/.test(res.body)) throw credErr(`IMDS token: HTTP ${res.status}`);
    this.token = { value: res.body, expires: this.clock.now() + this.tokenTtl * 1000 };
    return res.body;
  }

  private request(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(new URL(path, this.base), { method, headers, timeout: this.timeoutMs, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > MAX_RESPONSE) {
            req.destroy();
            reject(credErr('IMDS response too large'));
            return;
          }
          chunks.push(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(credErr('IMDS response failed', err)));
      });
      req.on('timeout', () => req.destroy(credErr('IMDS timed out')));
      req.on('error', (err) => reject(err instanceof CosignerError ? err : credErr(`IMDS unreachable (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err)));
      req.end();
    });
  }
}
