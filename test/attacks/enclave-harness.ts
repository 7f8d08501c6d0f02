// Test harness for the attacks on the sealed state: the real Cosigner with the production backends
// (enclave/services/real-backends.ts, the real vault) over the KMS and IMDS stand-ins, a file blob
// store with backups, and the reference coordinator on loopback. `boot()` plays one enclave process:
// modules are re-imported (vi.resetModules) so everything an enclave keeps in memory — the vault's
// process-wide rollback guard above all — is forgotten, as a restart forgets it.
import net from 'node:net';
import pino from 'pino';
import { vi } from 'vitest';
import { ImdsCredentialSource } from '../../parent/credentials/imds.ts';
import type { AttestationPolicy } from '../../proto/coordinator/attested-link.ts';
import { systemClock } from '../../proto/ports.ts';
import { startStack, type Stack } from '../enclave/vault/stack.ts';

export interface Booted {
  cosigner: import('../../enclave/services/cosigner.ts').Cosigner;
  stop(): Promise<void>;
}

export interface Harness {
  readonly stack: Stack;
  /**
   * The coordinator policy that admits exactly the enclaves `boot()` starts: the stack's development
   * authority as root and the stack's PCR0/1/2, which `stack.attestor()` reports.
   */
  readonly attestation: AttestationPolicy;
  /** One enclave process over the stack's blob store; unseals if secrets exist. */
  boot(o?: { writeAckTimeoutMs?: number }): Promise<Booted>;
  setupInput(coordinator: { cosignerUrl: string; publicKeyPem: string; ownerPublicKeyPem: string }, pairingToken?: string): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const stack = await startStack();
  const booted: Booted[] = [];
  const { PCR0, PCR1, PCR2 } = stack.measurements;
  const h: Harness = {
    stack,
    attestation: { roots: [{ pem: stack.authority.rootPem }], allowedMeasurements: [{ PCR0, PCR1, PCR2 }] },
    async boot(o = {}) {
      vi.resetModules();
      const { Cosigner } = await import('../../enclave/services/cosigner.ts');
      const { createRealBackends } = await import('../../enclave/services/real-backends.ts');
      const ports = {
        dial: async (host: string, port: number) => net.connect({ host, port }),
        blobs: stack.blobs,
        credentials: new ImdsCredentialSource({ endpoint: stack.imds.url }),
        logs: { write: () => undefined },
        clock: systemClock,
      };
      const logger = pino({ level: 'silent' });
      const attestor = stack.attestor();
      const backends = createRealBackends({ ports, attestor, logger, localMode: true, tlsCaPem: stack.ca.certPem, callback: {}, ...o });
      const cosigner = new Cosigner({ backends, attestor, buildId: 'attack-build', localMode: true, logger, clock: systemClock });
      await cosigner.boot();
      const b: Booted = { cosigner, stop: () => cosigner.shutdown() };
      booted.push(b);
      return b;
    },
    setupInput: (c, pairingToken) => ({
      kmsKeyArn: stack.keyArn,
      region: 'us-east-1',
      kmsEndpoint: `https://localhost:${stack.kms.port}`,
      coordinatorUrl: c.cosignerUrl,
      coordinatorPublicKeyPem: c.publicKeyPem,
      ownerPublicKeyPem: c.ownerPublicKeyPem,
      ...(pairingToken ? { pairingToken } : {}),
    }),
    async close() {
      for (const b of booted) await b.stop().catch(() => undefined);
      await stack.close();
    },
  };
  return h;
}

/** Polls `cond` every 20 ms for up to `ms`. */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}
