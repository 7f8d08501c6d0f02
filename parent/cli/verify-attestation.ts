// Runs on the parent or any operator machine (the `cosigner verify-attestation` command): checks an
// attestation document with the same verifier the enclave side uses (proto/attestation/verify.ts).
// Exit codes: 0 valid, 1 invalid (including an identity that differs from --identity's), 2
// unreadable input or bad usage. `--json` prints the standard envelope (parent/cli/io.ts).
import { readFile, stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CosignerError, toCosignerError, type ErrorCode } from '../../proto/errors.ts';
import { decodeCoseSign1, decodePayload } from '../../proto/attestation/document.ts';
import { pcrsFromMeasurements } from '../../proto/attestation/measure.ts';
import { checkAttestation, sha256Hex, type CheckResult, type VerifyOptions } from '../../proto/attestation/verify.ts';
import { parseIdentityUserData, type ParsedIdentity } from '../../proto/attestation/identity.ts';
import { fail, ok } from './io.ts';
import { compareIdentity, parsePublishedIdentity } from './identity-check.ts';

/** Streams and printers the command uses; tests pass their own. */
export interface VerifyAttestationIo {
  stdin: NodeJS.ReadableStream;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Largest input read (a document is ≤ 12 KiB; base64 or hex text of it fits too). */
export const MAX_INPUT_BYTES = 64 * 1024;
const MAX_SMALL_FILE_BYTES = 64 * 1024;

export const VERIFY_ATTESTATION_USAGE = `usage: cosigner verify-attestation FILE|- [options]

Verifies an AWS Nitro Enclaves attestation document (raw COSE_Sign1 bytes, or the same as hex or
base64 text) against the pinned AWS Nitro root G1, or against --root.

  --root FILE.pem        trust this root instead of the AWS root (repeatable; e.g. the dev CA root)
  --at ISO|EPOCH_MS|doc  check certificate validity at this instant (default: now; "doc" = the
                         document's own timestamp, for stored documents)
  --pcr N=HEX            expect PCR N to be HEX (repeatable)
  --measurements FILE    expect the PCRs of a nitro-cli build-enclave measurements JSON
  --nonce HEX            expect this nonce
  --user-data HEX        expect this user_data
  --identity FILE        expect user_data to be this co-signer identity: FILE is the output of
                         \`cosigner print-public-key --json\` (every field compared; a difference
                         is ERR_ATTESTATION_USER_DATA, exit 1)
  --max-age SECONDS      refuse a document older than this (relative to --at)
  --allow-debug          accept a debug-mode document (PCR0 all zeros); never in production
  --json                 print the report in the standard JSON envelope
                         ({"ok","command","result"}; on failure also "exitCode" and "error")
  -h, --help             this text

exit status: 0 valid, 1 invalid, 2 unreadable input or bad usage
`;

const EXIT_VALID = 0;
const EXIT_INVALID = 1;
const EXIT_USAGE = 2;

const usage = (m: string): CosignerError => new CosignerError('ERR_USAGE', m);

function parseHex(name: string, v: string, maxBytes: number): Uint8Array {
  const s = v.trim().replace(/^0x/i, '');
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s) || s.length / 2 > maxBytes) throw usage(`${name} must be an even number of hex digits (at most ${maxBytes} bytes)`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

function parseAt(v: string): number {
  if (/^[0-9]{1,16}$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t)) throw usage('--at must be an ISO 8601 time, epoch milliseconds, or "doc"');
  return t;
}

async function readBounded(stream: NodeJS.ReadableStream, max: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += b.length;
    if (total > max) throw new CosignerError('ERR_LIMIT_EXCEEDED', `input larger than ${max} bytes`);
    chunks.push(b);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

async function readSmallFile(path: string, max: number): Promise<Buffer> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new CosignerError('ERR_NOT_FOUND', `cannot read ${path}`, { cause: err });
  }
  if (size > max) throw new CosignerError('ERR_LIMIT_EXCEEDED', `${path} is larger than ${max} bytes`);
  try {
    return await readFile(path);
  } catch (err) {
    throw new CosignerError('ERR_NOT_FOUND', `cannot read ${path}`, { cause: err });
  }
}

/** Raw COSE bytes start with 0x84 (or 0xd2 for tag 18); otherwise the input may be hex or base64 text. */
export function documentBytesFromInput(input: Uint8Array): Uint8Array {
  if (input[0] === 0x84 || input[0] === 0xd2) return input;
  const text = Buffer.from(input).toString('latin1').trim();
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) return new Uint8Array(Buffer.from(text, 'hex'));
  const compact = text.replace(/\s+/g, '');
  if (compact.length > 0 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) return new Uint8Array(Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64'));
  return input;
}

const hex = (b: Uint8Array | null | undefined): string | null => (b ? Buffer.from(b).toString('hex') : null);

/** The JSON report (`--json`). */
export interface VerifyReport {
  verdict: 'valid' | 'invalid';
  checkedAt: string;
  moduleId: string | null;
  timestamp: number | null;
  time: string | null;
  digest: string | null;
  debug: boolean | null;
  pcrs: Record<string, string>;
  publicKeySha256: string | null;
  publicKeyBytes: number | null;
  userData: string | null;
  /** user_data read as a co-signer identity (proto/attestation/identity.ts); null if it is not one. */
  identity: ParsedIdentity | null;
  /** With --identity: whether user_data is exactly the published identity; null without it. */
  identityMatches: boolean | null;
  nonce: string | null;
  failures: { code: string; message: string }[];
}

function identityOf(userData: Uint8Array | null | undefined): ParsedIdentity | null {
  if (!userData) return null;
  try {
    return parseIdentityUserData(userData);
  } catch {
    return null;
  }
}

function identityLines(id: ParsedIdentity): string[] {
  return [
    `  identity     v${id.version}, protocol ${id.protocolVersion}, build ${id.buildId}`,
    `    cosigner id              ${id.cosignerId}`,
    `    coordinator auth key     sha256 ${id.coordinatorAuthKeySha256}`,
    `    callback signing key     sha256 ${id.callbackSigningKeySha256}`,
    `    coordinator key (setup)  sha256 ${id.coordinatorKeySha256}`,
    `    owner key fingerprint    ${id.ownerKeyFingerprint ?? 'none (set up before owner keys)'}`,
    `    KMS key policy           ${id.kmsPolicyChangeable === null ? 'not checked' : id.kmsPolicyChangeable ? 'changeable' : 'immutable'}`,
  ];
}

function report(r: CheckResult, at: number, identityMatches: boolean | null): VerifyReport {
  const f = r.fields;
  return {
    verdict: r.ok ? 'valid' : 'invalid',
    checkedAt: new Date(at).toISOString(),
    moduleId: f?.moduleId ?? null,
    timestamp: f?.timestamp ?? null,
    time: f ? new Date(f.timestamp).toISOString() : null,
    digest: f?.digest ?? null,
    debug: f ? (f.pcrs.get(0)?.every((b) => b === 0) ?? false) : null,
    pcrs: f ? Object.fromEntries([...f.pcrs].sort((a, b) => a[0] - b[0]).map(([i, v]) => [String(i), Buffer.from(v).toString('hex')])) : {},
    publicKeySha256: f?.publicKey ? sha256Hex(f.publicKey) : null,
    publicKeyBytes: f?.publicKey ? f.publicKey.length : null,
    userData: hex(f?.userData),
    identity: identityOf(f?.userData),
    identityMatches,
    nonce: hex(f?.nonce),
    failures: r.failures.map((x) => ({ code: x.code, message: x.message })),
  };
}

function human(rep: VerifyReport): string {
  const lines = [`attestation document: ${rep.verdict.toUpperCase()}`];
  if (rep.moduleId !== null) {
    lines.push(`  module_id    ${rep.moduleId}`, `  time         ${rep.time} (${rep.timestamp} ms)`, `  digest       ${rep.digest}`, `  debug mode   ${rep.debug ? 'YES (PCR0 is zero)' : 'no'}`);
    const zero = '0'.repeat(96);
    for (const [i, v] of Object.entries(rep.pcrs)) if (['0', '1', '2', '3', '4', '8'].includes(i) || v !== zero) lines.push(`  ${`PCR${i}`.padEnd(13)}${v}`);
    lines.push(`  public_key   ${rep.publicKeySha256 ? `sha256 ${rep.publicKeySha256} (${rep.publicKeyBytes} bytes)` : 'none'}`);
    lines.push(`  user_data    ${rep.userData ?? 'none'}`);
    if (rep.identity) lines.push(...identityLines(rep.identity));
    if (rep.identityMatches !== null) lines.push(`  published    identity ${rep.identityMatches ? 'matches' : 'DIFFERS (see failed checks)'}`);
    lines.push(`  nonce        ${rep.nonce ?? 'none'}`);
  }
  lines.push(`  checked at   ${rep.checkedAt}`);
  if (rep.failures.length) {
    lines.push('failed checks:');
    for (const f of rep.failures) lines.push(`  ${f.code}: ${f.message}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * `cosigner verify-attestation FILE|- [--root FILE.pem]… [--at ISO|epoch-ms|doc] [--pcr N=HEX]…
 * [--measurements FILE] [--nonce HEX] [--user-data HEX] [--max-age SECONDS] [--allow-debug] [--json]`.
 * Returns the exit code: 0 valid, 1 invalid, 2 unreadable input or bad usage.
 */
export async function verifyAttestationCommand(argv: string[], io: VerifyAttestationIo): Promise<number> {
  const json = argv.includes('--json');
  // Unreadable input and bad usage are exit 2 here whatever the code (documented for this command).
  const problem = (err: unknown): number => {
    const code = fail(io, json, COMMAND, err, undefined, EXIT_USAGE);
    if (!json && toCosignerError(err).code === 'ERR_USAGE') io.stderr(`\n${VERIFY_ATTESTATION_USAGE}`);
    return code;
  };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    return problem(err instanceof CosignerError ? err : usage(err instanceof Error ? err.message : String(err)));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(VERIFY_ATTESTATION_USAGE);
    return EXIT_VALID;
  }
  let opts: VerifyOptions;
  let doc: Uint8Array;
  let atDoc = false;
  let published: ParsedIdentity | undefined;
  try {
    if (positionals.length !== 1) throw usage('give exactly one FILE (or - for stdin)');
    const file = positionals[0] as string;
    opts = {};
    if (values.root?.length) opts.roots = await Promise.all(values.root.map(async (p) => ({ pem: (await readSmallFile(p, MAX_SMALL_FILE_BYTES)).toString('utf8') })));
    if (values.at !== undefined) {
      if (values.at === 'doc') atDoc = true;
      else opts.at = parseAt(values.at);
    }
    const pcrs: Record<number, string> = {};
    if (values.measurements !== undefined) {
      let j: unknown;
      try {
        j = JSON.parse((await readSmallFile(values.measurements, MAX_SMALL_FILE_BYTES)).toString('utf8'));
      } catch (err) {
        throw err instanceof CosignerError ? err : usage(`--measurements ${values.measurements} is not JSON`);
      }
      Object.assign(pcrs, pcrsFromMeasurements(j));
    }
    for (const spec of values.pcr ?? []) {
      const m = /^([0-9]{1,2})=(?:0x)?([0-9a-fA-F]{96})$/.exec(spec);
      if (!m || Number(m[1]) > 31) throw usage(`--pcr ${spec}: expected N=HEX with N in 0..31 and 96 hex digits`);
      pcrs[Number(m[1])] = (m[2] as string).toLowerCase();
    }
    if (Object.keys(pcrs).length) opts.expectPcrs = pcrs;
    if (values.nonce !== undefined) opts.nonce = parseHex('--nonce', values.nonce, 1024);
    if (values['user-data'] !== undefined) opts.userData = parseHex('--user-data', values['user-data'], 1024);
    if (values['max-age'] !== undefined) {
      if (!/^[0-9]{1,9}$/.test(values['max-age'])) throw usage('--max-age must be whole seconds');
      opts.maxAgeMs = Number(values['max-age']) * 1000;
    }
    if (values['allow-debug']) opts.allowDebug = true;
    if (values.identity !== undefined) published = parsePublishedIdentity((await readSmallFile(values.identity, MAX_SMALL_FILE_BYTES)).toString('utf8')).identity;
    const input = file === '-' ? await readBounded(io.stdin, MAX_INPUT_BYTES) : await readSmallFile(file, MAX_INPUT_BYTES);
    if (input.length === 0) throw new CosignerError('ERR_INVALID_ARGUMENT', 'empty input');
    doc = documentBytesFromInput(new Uint8Array(input));
  } catch (err) {
    return problem(err);
  }

  let result: CheckResult;
  try {
    if (atDoc) {
      // The document's own timestamp, read from the (still unverified) payload; a document that
      // does not parse is then reported as malformed by the full check below.
      try {
        opts.at = decodePayload(decodeCoseSign1(doc).payload).timestamp;
      } catch {
        opts.at = Date.now();
      }
    }
    opts.at ??= Date.now();
    result = checkAttestation(doc, opts);
  } catch (err) {
    return problem(err);
  }
  const mismatch = published ? compareIdentity(result.fields?.userData, published) : null;
  // A document whose identity differs is invalid as a whole (no verified `doc` is kept).
  if (mismatch) result = { ok: false, ...(result.fields ? { fields: result.fields } : {}), failures: [...result.failures, mismatch] };
  const rep = report(result, opts.at, published ? mismatch === null : null);
  if (result.ok) return ok(io, json, COMMAND, rep, () => human(rep));
  if (!json) {
    io.stdout(human(rep));
    return EXIT_INVALID;
  }
  // The envelope's error is the first failed check (its own next: step); the rest are in result.failures.
  const first = rep.failures[0] ?? { code: 'ERR_ATTESTATION_MALFORMED', message: 'invalid' };
  const message = `attestation document invalid: ${rep.failures.map((x) => x.code).join(', ')}: ${first.message}`;
  return fail(io, json, COMMAND, new CosignerError(first.code as ErrorCode, message), rep, EXIT_INVALID);
}

const COMMAND = 'verify-attestation';

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      root: { type: 'string', multiple: true },
      at: { type: 'string' },
      pcr: { type: 'string', multiple: true },
      measurements: { type: 'string' },
      nonce: { type: 'string' },
      'user-data': { type: 'string' },
      identity: { type: 'string' },
      'max-age': { type: 'string' },
      'allow-debug': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
