// Local development host only. The local stack's start-up steps for the stand-ins the enclave
// talks to: IMDSv2, KMS (with a key policy from the bundle's measurements), the reference
// coordinator (optionally behind a cuttable link) and the relay allow-list that admits exactly them.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { measureBundle } from '../../proto/attestation/measure.ts';
import { buildKeyPolicy, parseMeasurements } from '../../proto/kms/key-policy.ts';
import { writeFileAtomic } from '../../parent/storage/write-file-atomic.ts';
import { startCoordinator } from '../coordinator/server.ts';
import { startImdsStandin, type ImdsStandin } from '../imds/server.ts';
import { startKmsStandin } from '../kms/server.ts';
import type { IssuedCert } from '../local-ca.ts';
import { startTcpLink, type TcpLink } from '../tcp-link.ts';
import { loadOrCreateKmsAdmin } from './kms-admin.ts';
import { LOCAL_ACCOUNT, LOCAL_ADMIN_ARN, LOCAL_INSTANCE_ROLE, LOCAL_REGION, hostPortOf, type CoordinatorHandle, type LocalStack, type StackPaths } from './types.ts';

/** What every step needs: where to put state, how to report, and where to register its shutdown. */
export interface StepContext {
  readonly dir: string;
  readonly paths: StackPaths;
  readonly log: (line: string) => void;
  readonly closers: Array<() => Promise<void>>;
  /** A fresh loopback server certificate from the local CA. */
  serverCert(): Promise<IssuedCert>;
}

/** IMDSv2 stand-in: the instance role's rotating credentials. */
export async function startImdsStep(ctx: StepContext): Promise<ImdsStandin> {
  const imds = await startImdsStandin({ roleName: LOCAL_INSTANCE_ROLE, account: LOCAL_ACCOUNT });
  ctx.closers.push(() => imds.close());
  ctx.log(`local-stack: IMDSv2 stand-in     ${imds.url}  (role ${imds.roleArn})`);
  return imds;
}

/** KMS stand-in trusting the dev root; the key's policy comes from the bundle's measurements. */
export async function startKmsStep(
  ctx: StepContext,
  o: {
    readonly devRootPem: string;
    readonly imds: ImdsStandin;
    readonly bundlePath: string;
    readonly measurementsPath: string;
    /** Listen here (a restart: the enclave sealed the endpoint at setup); 0 or absent = any. */
    readonly port?: number;
    /**
     * Keep the dir's key even when it was made for other measurements: the co-signer sealed its
     * secrets under it, and only the key administrator's policy decides whether this bundle may
     * unseal (an unadmitted bundle is access-denied, as on AWS).
     */
    readonly keepKey?: boolean;
  },
): Promise<NonNullable<LocalStack['kms']>> {
  const { dir, paths } = ctx;
  if (!existsSync(o.measurementsPath)) throw new Error(`${o.measurementsPath} is missing: run make bundle`);
  const measurements = parseMeasurements(JSON.parse(await readFile(o.measurementsPath, 'utf8')));
  // The policy must admit the bundle the daemon will run: refuse stale measurements plainly.
  if (existsSync(o.bundlePath) && measureBundle(new Uint8Array(await readFile(o.bundlePath))).Measurements.PCR0 !== measurements.PCR0) {
    throw new Error(`${o.measurementsPath} does not match ${o.bundlePath} (rebuilt since?): run make bundle`);
  }
  const policy = buildKeyPolicy({ measurements, instanceRoleArn: o.imds.roleArn, adminArn: LOCAL_ADMIN_ARN });
  const imds = o.imds;
  // The key administrator (may PutKeyPolicy) besides the instance role (may not): upgrades can be rehearsed.
  const admin = await loadOrCreateKmsAdmin(dir);
  const server = await startKmsStandin({
    dir: join(dir, 'kms'),
    trustRootsPem: [o.devRootPem],
    tls: await ctx.serverCert(),
    principals: (id: string) => (id === admin.accessKeyId ? { secretAccessKey: admin.secretAccessKey, arn: admin.arn } : imds.lookup(id)),
    region: LOCAL_REGION,
    account: LOCAL_ACCOUNT,
    port: o.port ?? 0,
  });
  ctx.closers.push(() => server.close());
  // One key per state directory, kept across runs with the directory.
  const keyFile = join(dir, 'kms-key.json');
  let keyArn: string;
  const known = existsSync(keyFile) ? (JSON.parse(await readFile(keyFile, 'utf8')) as { arn?: string; pcr0?: string }) : {};
  if (known.arn && (known.pcr0 === measurements.PCR0 || o.keepKey === true)) {
    keyArn = known.arn;
    if (known.pcr0 !== measurements.PCR0) ctx.log(`local-stack:   key kept          made for PCR0 ${String(known.pcr0).slice(0, 16)}…; its policy (the admin's) decides whether this bundle unseals`);
  } else {
    // The policy file is the one the key was created with; the admin may replace the key's policy since.
    await writeFileAtomic(paths.policy, `${JSON.stringify(policy, null, 2)}\n`);
    keyArn = (await server.createKey(policy, 'nitro-cosigner local secrets.key')).arn;
    await writeFileAtomic(keyFile, `${JSON.stringify({ arn: keyArn, pcr0: measurements.PCR0 }, null, 2)}\n`);
  }
  ctx.log(`local-stack: KMS stand-in        ${server.url}  key ${keyArn}`);
  ctx.log(`local-stack:   key policy        ${relative(process.cwd(), paths.policy)}  (PCR0 ${measurements.PCR0.slice(0, 16)}…)`);
  ctx.log(`local-stack:   key admin         ${admin.arn}  (credentials in ${relative(process.cwd(), join(dir, 'kms-admin.json'))})`);
  return { url: server.url, keyArn, region: LOCAL_REGION, admin };
}

/** Reference coordinator (REST + TLS co-signer endpoint), optionally behind a cuttable link. */
export async function startCoordinatorStep(
  ctx: StepContext,
  withLink: boolean,
  trust: { readonly devRootPem: string; readonly measurementsPath: string },
  ports: { readonly cosigner: number; readonly rest: number; readonly link: number } = { cosigner: 0, rest: 0, link: 0 },
): Promise<{ coordinator: CoordinatorHandle; link: TcpLink | undefined; endpoint: string }> {
  // The coordinator admits the dev bundle's build, attested by the development authority (and the
  // builds its operator admitted since: an upgrade rehearsal, kept in its state dir).
  const m = parseMeasurements(JSON.parse(await readFile(trust.measurementsPath, 'utf8')));
  const coordinator = await startCoordinator({
    dir: join(ctx.dir, 'coordinator'),
    tls: await ctx.serverCert(),
    port: ports.cosigner,
    restPort: ports.rest,
    attestation: { roots: [{ pem: trust.devRootPem }], allowedMeasurements: [{ PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2 }] },
  });
  ctx.closers.push(() => coordinator.close());
  ctx.log(`local-stack: coordinator         REST ${coordinator.restUrl}  co-signer endpoint ${coordinator.cosignerUrl}`);
  let link: TcpLink | undefined;
  if (withLink) {
    const l = await startTcpLink(hostPortOf(coordinator.cosignerUrl), { port: ports.link });
    link = l;
    ctx.closers.push(() => l.close());
    ctx.log(`local-stack: coordinator link    ${l.address} -> ${coordinator.cosignerUrl} (can be cut)`);
  }
  return { coordinator, link, endpoint: link ? link.address : coordinator.cosignerUrl };
}

/** Relay allow-list: exactly the stand-ins the enclave may reach. */
export async function writeAllowList(path: string, o: { kmsUrl?: string; coordinatorEndpoint?: string; handlerPort: number }): Promise<void> {
  const allow: { address: string; port: number }[] = [];
  if (o.kmsUrl) allow.push({ address: '127.0.0.1', port: hostPortOf(o.kmsUrl).port });
  if (o.coordinatorEndpoint) {
    const c = hostPortOf(o.coordinatorEndpoint);
    allow.push({ address: c.host === 'localhost' ? '127.0.0.1' : c.host, port: c.port });
  }
  allow.push({ address: '127.0.0.1', port: o.handlerPort });
  await writeFileAtomic(path, `${JSON.stringify({ allowlist: allow }, null, 2)}\n`);
}
