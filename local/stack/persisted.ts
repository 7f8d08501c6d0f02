// Local development host only. What the local stack keeps in its dir so that it can be stopped and
// started again without `--fresh`: the loopback ports it chose (the enclave sealed the KMS endpoint,
// the coordinator address and each user's Callback Handler URL at setup, so the stand-ins must come
// back on the same ports), and the sample handler's configuration with its response-signing key
// (the co-signer sealed that key's public half at add-user).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';
import { freePort } from './types.ts';

/** The ports the stack listens on, by role. */
export interface StackPorts {
  kms?: number;
  coordinator?: number;
  coordinatorRest?: number;
  coordinatorLink?: number;
  handler?: number;
  metrics?: number;
  /** The S3 stand-in (the daemon's sealed blobs and the lease object). */
  s3?: number;
}

const PORT_NAMES: readonly (keyof StackPorts)[] = ['kms', 'coordinator', 'coordinatorRest', 'coordinatorLink', 'handler', 'metrics', 's3'];

export const portsFile = (dir: string): string => join(dir, 'ports.json');

/** The ports an earlier run chose (none on a new dir). A damaged file is an error, not a fresh start. */
export async function loadPorts(dir: string): Promise<StackPorts> {
  const file = portsFile(dir);
  if (!existsSync(file)) return {};
  const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const out: StackPorts = {};
  for (const name of PORT_NAMES) {
    const p = raw[name];
    if (p === undefined) continue;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`${file}: bad port for ${name}`);
    out[name] = p;
  }
  return out;
}

export async function savePorts(dir: string, ports: StackPorts): Promise<void> {
  await writeFileAtomic(portsFile(dir), `${JSON.stringify(ports, null, 2)}\n`);
}

/** Resolves when 127.0.0.1:port can be bound now; rejects naming the role and the port otherwise. */
export function assertPortFree(port: number, role: string, dir: string): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      rej(
        new Error(
          `port ${port} (${role}), saved in ${portsFile(dir)} by an earlier run, is taken (${err.code ?? err.message}): ` +
            'the co-signer sealed this address at setup, so the stack must listen there again. Stop whatever holds the port, or start with --fresh (wipes the set-up co-signer)',
        ),
      ),
    );
    s.listen(port, '127.0.0.1', () => s.close(() => res(port)));
  });
}

/** The saved port for `role` (checked free), or 0 (the kernel picks) when there is none. */
export async function savedPortOr0(saved: StackPorts, role: keyof StackPorts, dir: string): Promise<number> {
  const p = saved[role];
  return p === undefined ? 0 : assertPortFree(p, role, dir);
}

/** The saved port for `role` (checked free), or a free one now. */
export async function savedPortOrFree(saved: StackPorts, role: keyof StackPorts, dir: string): Promise<number> {
  const p = saved[role];
  return p === undefined ? freePort() : assertPortFree(p, role, dir);
}

/**
 * Whether the co-signer was set up on this dir: COSIGNER_HOME holds a sealed DB (file storage), or
 * the S3 stand-in's bucket holds sealed blobs (S3 storage, `s3Objects`: the stand-in's object folder).
 */
export function isSetUp(home: string, s3Objects?: string): boolean {
  const db = join(home, 'db');
  if (existsSync(db) && readdirSync(db).length > 0) return true;
  return s3Objects !== undefined && existsSync(s3Objects) && readdirSync(s3Objects).length > 0;
}

/** The sample handler as started last time (`<dir>/handler.json`, 0600: it holds the signing key). */
export interface HandlerConfig {
  readonly mode: 'public-key' | 'certificate';
  readonly cosignerPublicKeyPem: string;
  readonly rules?: unknown;
  /** RS256 response-signing key, PKCS#8 PEM. */
  readonly privateKeyPem: string;
}

const handlerFile = (dir: string): string => join(dir, 'handler.json');

export async function loadHandlerConfig(dir: string): Promise<HandlerConfig | undefined> {
  const file = handlerFile(dir);
  if (!existsSync(file)) return undefined;
  const c = JSON.parse(await readFile(file, 'utf8')) as Partial<HandlerConfig>;
  if ((c.mode !== 'public-key' && c.mode !== 'certificate') || typeof c.cosignerPublicKeyPem !== 'string' || typeof c.privateKeyPem !== 'string') {
    throw new Error(`${file}: damaged (remove it, or start with --fresh)`);
  }
  return c as HandlerConfig;
}

export async function saveHandlerConfig(dir: string, c: HandlerConfig): Promise<void> {
  await writeFileAtomic(handlerFile(dir), `${JSON.stringify(c, null, 2)}\n`, 0o600);
}

/** A new RS256 response-signing key for the sample handler (PKCS#8 PEM). */
export function newHandlerKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}
