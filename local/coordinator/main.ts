// Reference coordinator, standalone (for `make demo` and manual runs; loopback only):
//   node --import tsx local/coordinator/main.ts --dir <state dir> [--port N] [--rest-port N]
//        [--threshold T --participants N] [--workers N] [--attestation policy.json]
// --attestation: a JSON AttestationPolicy { roots: [{ pem }], allowedMeasurements: [{ PCR0, PCR1, PCR2 }] };
// without it every co-signer is refused (fail closed).
// Prints one JSON line: { restUrl, cosignerUrl, publicKeyPem, ownerPublicKeyPem, caCertFile } and runs until SIGINT/SIGTERM.
// TLS: a local CA persisted in <dir>/ca (see local/local-ca.ts); the co-signer trusts ca.pem.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadOrCreateLocalCa } from '../local-ca.ts';
import { startCoordinator } from './server.ts';
import type { AttestationPolicy } from '../../proto/coordinator/attested-link.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    port: { type: 'string', default: '0' },
    'rest-port': { type: 'string', default: '0' },
    threshold: { type: 'string', default: '2' },
    participants: { type: 'string', default: '2' },
    // signing worker threads; default one per core (0 = sign in the main thread)
    workers: { type: 'string', default: String(os.availableParallelism()) },
    attestation: { type: 'string' },
  },
  strict: true,
});
if (!values.dir) {
  process.stderr.write('usage: main.ts --dir <state dir> [--port N] [--rest-port N] [--threshold T --participants N]\n');
  process.exit(2);
}
const dir = path.resolve(values.dir);
const ca = await loadOrCreateLocalCa(path.join(dir, 'ca'));
const coord = await startCoordinator({
  dir,
  tls: await ca.issueServerCert(),
  port: Number(values.port),
  restPort: Number(values['rest-port']),
  threshold: Number(values.threshold),
  participants: Number(values.participants),
  cryptoWorkers: Number(values.workers),
  ...(values.attestation ? { attestation: JSON.parse(readFileSync(values.attestation, 'utf8')) as AttestationPolicy } : {}),
});
process.stdout.write(`${JSON.stringify({ restUrl: coord.restUrl, cosignerUrl: coord.cosignerUrl, publicKeyPem: coord.publicKeyPem, ownerPublicKeyPem: coord.ownerPublicKeyPem, caCertFile: path.join(dir, 'ca', 'ca.pem') })}\n`);
const stop = (): void => {
  void coord.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
