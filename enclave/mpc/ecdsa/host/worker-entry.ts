// Runs in the enclave's development runs and tests only (unbundled, through tsx): the entry of an
// ECDSA worker thread. The bundle does not use this file (enclave/main.ts serves the worker role).
import { parentPort } from 'node:worker_threads';
import { serveEcdsaWorker } from './worker.ts';

if (!parentPort) throw new Error('worker-entry must run in a worker thread');
serveEcdsaWorker(parentPort);
