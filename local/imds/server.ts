// IMDSv2 stand-in (local stack and tests only): a loopback HTTP server with the session-token flow
// of the EC2 instance metadata service: PUT /latest/api/token (TTL header required), then GET
// /latest/meta-data/iam/security-credentials/ and …/<role> with the token. Credentials expire after
// a configurable lifetime and rotate; every issued key pair can be looked up (the KMS stand-in uses
// that to check SigV4 and to name the assumed-role principal).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImdsStandinOptions {
  /** IAM role name of the "instance" (default cosigner-instance). */
  readonly roleName?: string;
  readonly account?: string;
  readonly instanceId?: string;
  /** Lifetime of issued credentials (default 6 h, as EC2). */
  readonly credentialLifetimeMs?: number;
  /** Rotate this long before expiry (default: a fifth of the lifetime). */
  readonly rotateBeforeMs?: number;
  readonly port?: number;
  readonly now?: () => number;
}

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: number;
  readonly arn: string;
}

export interface ImdsStandin {
  readonly url: string;
  readonly port: number;
  readonly roleArn: string;
  /** Every credential set issued so far, newest last. */
  readonly issued: readonly IssuedCredentials[];
  /** accessKeyId → principal, for the KMS stand-in's `principals` option; expired keys are refused. */
  lookup(accessKeyId: string): { secretAccessKey: string; arn: string; sessionToken: string } | undefined;
  /** Forces the next GET of the role to issue new credentials. */
  rotate(): void;
  /** Requests seen, for tests. */
  readonly requests: { method: string; path: string; hadToken: boolean }[];
  close(): Promise<void>;
}

const MAX_TTL = 21600;

/**
 * Starts the IMDSv2 stand-in on 127.0.0.1.
 *
 * @example const imds = await startImdsStandin({ credentialLifetimeMs: 60_000 }); new ImdsCredentialSource({ endpoint: imds.url })
 */
export async function startImdsStandin(opts: ImdsStandinOptions = {}): Promise<ImdsStandin> {
  const now = opts.now ?? Date.now;
  const role = opts.roleName ?? 'cosigner-instance';
  const account = opts.account ?? '111122223333';
  const instanceId = opts.instanceId ?? 'i-0123456789abcdef0';
  const lifetime = opts.credentialLifetimeMs ?? 6 * 3600 * 1000;
  const rotateBefore = opts.rotateBeforeMs ?? Math.floor(lifetime / 5);
  const tokens = new Map<string, number>(); // token → expiry
  const issued: IssuedCredentials[] = [];
  const requests: ImdsStandin['requests'] = [];
  let forceRotate = false;

  const current = (): IssuedCredentials => {
    const last = issued[issued.length - 1];
    if (!last || forceRotate || last.expiration - now() <= rotateBefore) {
      forceRotate = false;
      const c: IssuedCredentials = {
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString('base64'),
        sessionToken: randomBytes(64).toString('base64'),
        expiration: now() + lifetime,
        arn: `arn:aws:sts::${account}:assumed-role/${role}/${instanceId}`,
      };
      issued.push(c);
      return c;
    }
    return last;
  };

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const token = req.headers['x-aws-ec2-metadata-token'];
    const tokenOk = typeof token === 'string' && (tokens.get(token) ?? 0) > now();
    requests.push({ method: req.method ?? '', path, hadToken: typeof token === 'string' });
    const send = (status: number, body: string, type = 'text/plain'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    req.resume();
    if (req.headers['x-forwarded-for']) return send(403, 'Forbidden');
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return send(405, 'Method Not Allowed');
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL) return send(400, 'Bad Request');
      const t = randomBytes(32).toString('base64');
      tokens.set(t, now() + ttl * 1000);
      res.setHeader('x-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return send(200, t);
    }
    if (req.method !== 'GET') return send(405, 'Method Not Allowed');
    if (!tokenOk) return send(401, 'Unauthorized');
    if (path === '/latest/meta-data/iam/security-credentials/' || path === '/latest/meta-data/iam/security-credentials') return send(200, role);
    if (path === `/latest/meta-data/iam/security-credentials/${role}`) {
      const c = current();
      return send(
        200,
        JSON.stringify({
          Code: 'Success',
          LastUpdated: new Date(now()).toISOString(),
          Type: 'AWS-HMAC',
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: new Date(c.expiration).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        }),
      );
    }
    if (path === '/latest/meta-data/instance-id') return send(200, instanceId);
    return send(404, 'Not Found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    roleArn: `arn:aws:iam::${account}:role/${role}`,
    issued,
    requests,
    lookup(accessKeyId) {
      const c = issued.find((x) => x.accessKeyId === accessKeyId);
      if (!c || c.expiration <= now()) return undefined;
      return { secretAccessKey: c.secretAccessKey, arn: c.arn, sessionToken: c.sessionToken };
    },
    rotate() {
      forceRotate = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
