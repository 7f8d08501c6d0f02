// Test-only worker entry: an ECDSA worker thread (enclave/mpc/ecdsa/host/worker.ts) serving the
// fake protocols of fake-ecdsa.ts, so the worker pool can be tested before and apart from DKLs23.
import { parentPort } from 'node:worker_threads';
import { serveEcdsaWorker } from '../../enclave/mpc/ecdsa/host/worker.ts';
import { fakeEcdsaProtocols } from './fake-ecdsa.ts';

if (!parentPort) throw new Error('fake-ecdsa-worker must run in a worker thread');
serveEcdsaWorker(parentPort, fakeEcdsaProtocols());
