// Runs on the parent (the `cosigner` CLI). Everything the enclave reaches leaves through the parent's
// relay, which forwards only to the egress allow-list (daemon config "allowListPath"). A Callback
// Handler the list does not name would be configured fine and then reject every transaction, so
// `add-user`, `setup` and `callback-update` ask the daemon before proposing and say how to fix it.
import { CosignerError } from '../../proto/errors.ts';
import type { ParsedCommand } from './args.ts';
import { call } from './common.ts';
import { usage } from './io.ts';

/** host and port of an http(s) URL (default ports 443 / 80), host without IPv6 brackets. */
export function urlHostPort(url: string, flag: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw usage(`${flag} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw usage(`${flag} must be an http(s) URL`);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port };
}

/** The allow-list entry to add, as JSON. */
export function allowEntry(host: string, port: number): string {
  return JSON.stringify({ address: host.toLowerCase(), port });
}

/** Throws ERR_EGRESS_DENIED (with the entry to add as its `next:`) unless the daemon's allow-list has host:port. */
export async function checkEgress(p: ParsedCommand, what: string, host: string, port: number): Promise<void> {
  const r = await call(p, 'checkEgress', { host, port });
  if (r.allowed === true) return;
  const file = typeof r.allowListPath === 'string' && r.allowListPath !== '' ? r.allowListPath : '';
  const where = file ? `the egress allow-list ${file} (daemon config "allowListPath")` : 'the egress allow-list (the daemon config has no "allowListPath": nothing may leave)';
  const fix = file
    ? `add ${allowEntry(host, port)} to the "allowlist" array of ${file}, then \`systemctl restart cosigner-parent\` and run this command again`
    : `create an allow-list file with {"allowlist":[${allowEntry(host, port)}]}, set "allowListPath" to it in the daemon config, restart cosigner-parent and run this command again`;
  throw new CosignerError('ERR_EGRESS_DENIED', `${what} ${host}:${port} is not in ${where}: the enclave could not reach it; nothing was changed`, {
    details: { host, port, next: fix },
  });
}

/** The Callback Handler's host:port must be in the egress allow-list (add-user, setup, callback-update). */
export async function checkCallbackEgress(p: ParsedCommand, url: string): Promise<void> {
  const { host, port } = urlHostPort(url, '--callback-url');
  await checkEgress(p, 'the Callback Handler', host, port);
}
