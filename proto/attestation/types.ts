// Runs in the enclave (Attestor) and anywhere a document is checked (verifier types): the CLI, the
// KMS stand-in and the tests share one verifier, proto/attestation/verify.ts.

/** What the enclave asks the NSM (or the development authority) to put in a document. */
export interface AttestRequest {
  readonly userData?: Uint8Array;
  readonly nonce?: Uint8Array;
  /** DER SubjectPublicKeyInfo; for a KMS Recipient an RSA-2048 key. */
  readonly publicKey?: Uint8Array;
}

export interface PcrDescription {
  readonly index: number;
  readonly locked: boolean;
  readonly value: Uint8Array;
}

/** Produces attestation documents. Two implementations: the NSM and the development authority. */
export interface Attestor {
  readonly mode: 'nsm' | 'dev';
  /** Raw COSE_Sign1 bytes, exactly as the NSM returns them (untagged). */
  attest(req: AttestRequest): Promise<Uint8Array>;
  getRandom(length: number): Promise<Uint8Array>;
  describePcr(index: number): Promise<PcrDescription>;
}

/** The fields of a document that passed every check. */
export interface VerifiedAttestation {
  readonly moduleId: string;
  readonly timestamp: number;
  readonly digest: 'SHA384';
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly certificate: Uint8Array;
  readonly cabundle: readonly Uint8Array[];
  readonly publicKey: Uint8Array | null;
  readonly userData: Uint8Array | null;
  readonly nonce: Uint8Array | null;
  readonly debug: boolean;
}
