// Runs on the parent. The egress allow-list, in the spirit of AWS vsock-proxy's YAML but as JSON:
//   {"allowlist":[{"address":"kms.us-east-1.amazonaws.com","port":443}]}
// Parsing is strict (unknown fields, duplicates, bad ports are errors) so a typo cannot silently
// widen or narrow what the enclave may reach.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { CosignerError } from '../../proto/errors.ts';

/** One allowed destination. `address` is a lower-case DNS name or an IP literal. */
export interface AllowEntry {
  readonly address: string;
  readonly port: number;
}

/** A parsed allow-list. */
export interface AllowList {
  readonly entries: readonly AllowEntry[];
  /** True when host:port is listed (host compared case-insensitively, exactly: no wildcards). */
  allows(host: string, port: number): boolean;
}

const MAX_FILE_BYTES = 64 * 1024;
const MAX_ENTRIES = 256;
const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function invalid(why: string): CosignerError {
  return new CosignerError('ERR_CONFIG_INVALID', `egress allow-list: ${why}`);
}

/** Normalises a destination host (lower case, brackets stripped from IPv6), or null if not a valid host. */
export function normaliseHost(host: string): string | null {
  if (typeof host !== 'string') return null;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (isIP(h) !== 0) return h;
  return DNS_NAME.test(h) ? h : null;
}

/** Builds an AllowList from already parsed JSON; throws ERR_CONFIG_INVALID on anything unexpected. */
export function parseAllowList(doc: unknown): AllowList {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid('top level must be an object');
  for (const k of Object.keys(doc)) if (k !== 'allowlist') throw invalid(`unknown field ${JSON.stringify(k)}`);
  const list = (doc as { allowlist?: unknown }).allowlist;
  if (!Array.isArray(list)) throw invalid('"allowlist" must be an array');
  if (list.length > MAX_ENTRIES) throw invalid(`at most ${MAX_ENTRIES} entries`);
  const entries: AllowEntry[] = [];
  const seen = new Set<string>();
  list.forEach((e: unknown, i: number) => {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw invalid(`entry ${i} must be an object`);
    for (const k of Object.keys(e)) if (k !== 'address' && k !== 'port') throw invalid(`entry ${i}: unknown field ${JSON.stringify(k)}`);
    const { address, port } = e as { address?: unknown; port?: unknown };
    if (typeof address !== 'string') throw invalid(`entry ${i}: "address" must be a string`);
    const host = normaliseHost(address);
    if (host === null) throw invalid(`entry ${i}: "address" is not a host name or IP address`);
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw invalid(`entry ${i}: "port" must be an integer in 1..65535`);
    const key = `${host}|${port}`;
    if (seen.has(key)) throw invalid(`entry ${i}: duplicate ${host}:${port}`);
    seen.add(key);
    entries.push(Object.freeze({ address: host, port }));
  });
  Object.freeze(entries);
  return {
    entries,
    allows(h: string, p: number): boolean {
      const host = normaliseHost(h);
      return host !== null && Number.isInteger(p) && seen.has(`${host}|${p}`);
    },
  };
}

/** Reads and parses the allow-list file at `path` (at most 64 KiB of JSON). */
export function loadAllowList(path: string): AllowList {
  let text: string;
  try {
    if (statSync(path).size > MAX_FILE_BYTES) throw invalid(`file larger than ${MAX_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof CosignerError) throw err;
    throw new CosignerError('ERR_CONFIG_INVALID', `egress allow-list: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalid(`${path} is not valid JSON`);
  }
  return parseAllowList(doc);
}
