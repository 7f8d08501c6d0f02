// Runs on the parent (the `cosigner` CLI). Builds a user's Callback Handler settings from flags or
// prompts: URL, then the handler's public key (pasted or from a file) or certificate (from a file, or
// fetched from the URL after the operator confirmed its fingerprint). The enclave validates all of it
// again; this module only makes sure the operator gave something coherent.
import { readFile } from 'node:fs/promises';
import { CALLBACK_AUTH_MODES, isCallbackAuthMode, type CallbackAuthMode } from '../../proto/callback-auth-modes.ts';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { fetchHandlerCertificate, readCertificatePem, readPublicKeyPem } from './callback-cert.ts';
import { usage, type CliIo } from './io.ts';
import type { Prompter } from './prompt.ts';

/** What the control protocol's `callback` object holds. */
export interface CallbackParams {
  url: string;
  authMode: CallbackAuthMode;
  handlerPublicKeyPem?: string;
  certificatePem?: string;
  rootCaPem?: string;
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    const t = await readFile(path, 'utf8');
    if (t.length > 16 * 1024) throw usage(`${what} file ${path} is larger than 16 KiB`);
    return t;
  } catch (err) {
    if (err instanceof CosignerError) throw err;
    throw usage(`cannot read ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** A handler public key (RS256 / ES256 SPKI), validated by parent/cli/callback-cert.ts. */
function checkPublicKey(pem: string): { pem: string; spkiSha256: string; alg: string } {
  try {
    return readPublicKeyPem(pem);
  } catch (err) {
    throw usage(`the handler public key is not usable: ${toCosignerError(err).message}`);
  }
}

function checkCertificate(pem: string, what: string): string {
  try {
    return readCertificatePem(pem).pem;
  } catch (err) {
    throw usage(`the ${what} is not usable: ${toCosignerError(err).message}`);
  }
}

const normFp = (s: string): string => s.replace(/[:\s]/g, '').toLowerCase();

/**
 * Callback settings from flags (and prompts when `prompter` is given). Returns undefined when no
 * handler is configured. `requireUrl` for callback-update.
 */
export async function callbackFromFlags(
  v: Record<string, string | boolean | undefined>,
  io: CliIo,
  prompter: Prompter | null,
  opts: { requireUrl?: boolean; checkUrl?: (url: string) => Promise<void> } = {},
): Promise<CallbackParams | undefined> {
  let url = v['callback-url'] as string | undefined;
  if (url === undefined && prompter) url = await prompter.ask('Callback Handler URL (empty: no handler)');
  if (!url) {
    if (opts.requireUrl) throw usage('--callback-url is required');
    if (v['handler-public-key'] || v['handler-certificate'] || v['root-ca'] || v['fetch-certificate']) throw usage('handler key/certificate flags need --callback-url');
    return undefined;
  }
  if (!/^https?:\/\/[^\s]{1,2000}$/.test(url)) throw usage('--callback-url must be an http(s) URL');
  // Before any key is read or asked for: a handler the enclave cannot reach is refused with the fix.
  await opts.checkUrl?.(url);
  const named = v['auth-mode'] as string | undefined;
  // The enclave checks the mode again; refusing an unknown one here, before any file is read or a
  // certificate fetched, names the flag instead of failing later with a field path.
  if (named !== undefined && !isCallbackAuthMode(named)) throw usage(`--auth-mode must be one of ${CALLBACK_AUTH_MODES.join(', ')}`);

  let key = v['handler-public-key'] ? checkPublicKey(await readPem(v['handler-public-key'] as string, 'handler public key')).pem : undefined;
  let cert = v['handler-certificate'] ? checkCertificate(await readPem(v['handler-certificate'] as string, 'handler certificate'), 'handler certificate') : undefined;
  const rootCa = v['root-ca'] ? checkCertificate(await readPem(v['root-ca'] as string, 'root CA'), 'root CA certificate') : undefined;

  const fetchAndConfirm = async (): Promise<string> => {
    const f = await fetchHandlerCertificate(url);
    const expected = v['certificate-fingerprint'] as string | undefined;
    if (expected !== undefined) {
      if (normFp(expected) !== normFp(f.sha256Fingerprint)) {
        throw new CosignerError('ERR_CALLBACK_TLS', `the certificate served at ${url} has SHA-256 fingerprint ${f.sha256Fingerprint}, not the expected ${expected}`);
      }
      return f.pem;
    }
    if (!prompter) throw usage('--fetch-certificate needs --certificate-fingerprint SHA256 in non-interactive use (confirm it out of band)');
    io.stderr(`The handler at ${url} presents a certificate with SHA-256 fingerprint\n  ${f.sha256Fingerprint}\n`);
    if (!(await prompter.confirm('Is this the handler\'s certificate (compare with its operator)?'))) throw usage('certificate not confirmed; nothing was changed');
    return f.pem;
  };

  if (v['fetch-certificate']) cert = await fetchAndConfirm();
  if (!key && !cert && !rootCa) {
    if (!prompter) throw usage('--callback-url needs --handler-public-key FILE, --handler-certificate FILE, --root-ca FILE or --fetch-certificate');
    const how = await prompter.ask('Handler authentication: [p]aste public key, certificate [f]ile, fetch certificate from [u]rl', 'p');
    if (how.startsWith('p')) {
      const k = checkPublicKey(await prompter.pem('Handler public key'));
      io.stderr(`${k.alg} key, SPKI SHA-256 ${k.spkiSha256}\n`);
      if (!(await prompter.confirm('Is this the handler\'s key (compare with its operator)?'))) throw usage('key not confirmed; nothing was changed');
      key = k.pem;
    }
    else if (how.startsWith('f')) cert = checkCertificate(await readPem(await prompter.ask('Certificate file'), 'handler certificate'), 'handler certificate');
    else if (how.startsWith('u')) cert = await fetchAndConfirm();
    else throw usage(`unknown choice ${how.slice(0, 10)}`);
  }
  const mode: CallbackAuthMode =
    named ?? (key && cert ? 'public-key+certificate' : key && rootCa ? 'public-key+root-ca' : key ? 'public-key' : cert ? 'certificate' : 'root-ca');
  return {
    url,
    authMode: mode,
    ...(key ? { handlerPublicKeyPem: key } : {}),
    ...(cert ? { certificatePem: cert } : {}),
    ...(rootCa ? { rootCaPem: rootCa } : {}),
  };
}
