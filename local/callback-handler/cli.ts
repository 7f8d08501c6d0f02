// Sample Callback Handler, standalone (for `make demo`):
//   node --import tsx local/callback-handler/cli.ts --cosigner-key cosigner.pub \
//        [--mode public-key|certificate] [--port 0] [--tls-dir DIR] [--max ETH=1.5] [--allow 0xabc…] [--retry-first 2]
// Prints one JSON line {url, publicKeyPem, certificatePem?, caPem?} and serves until SIGINT/SIGTERM.
// With --tls-dir it serves HTTPS with a certificate from the local CA kept in DIR.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadOrCreateLocalCa } from '../local-ca.ts';
import { startSampleHandler } from './handler.ts';
import type { HandlerRules } from './rules.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'public-key' },
    port: { type: 'string', default: '0' },
    'cosigner-key': { type: 'string' },
    'tls-dir': { type: 'string' },
    max: { type: 'string', multiple: true },
    allow: { type: 'string', multiple: true },
    'retry-first': { type: 'string' },
  },
});

const mode = values.mode === 'certificate' ? 'certificate' : 'public-key';
// A standalone handler refuses rawTx entries it cannot recompute (no `format`).
const rules: HandlerRules = { requireRawTxFormat: true };
for (const m of values.max ?? []) {
  const [asset, amount] = m.split('=');
  if (asset && amount) (rules.maxAmountPerAsset ??= {})[asset] = amount;
}
if (values.allow?.length) rules.allowedDestinations = values.allow;
if (values['retry-first']) rules.retryFirstN = Number(values['retry-first']);

let tls: { certPem: string; keyPem: string } | undefined;
let caPem: string | undefined;
if (values['tls-dir']) {
  const ca = await loadOrCreateLocalCa(values['tls-dir']);
  tls = await ca.issueServerCert();
  caPem = ca.certPem;
}
const handler = await startSampleHandler({
  mode,
  ...(tls ? { tls } : {}),
  ...(values['cosigner-key'] ? { cosignerPublicKeyPem: readFileSync(values['cosigner-key'], 'utf8') } : {}),
  rules,
  port: Number(values.port),
});
process.stdout.write(`${JSON.stringify({ url: handler.url, publicKeyPem: handler.publicKeyPem, ...(tls ? { certificatePem: tls.certPem, caPem } : {}) })}\n`);
const stop = (): void => void handler.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
