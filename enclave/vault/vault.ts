// Runs in the enclave. The vault: secrets.key (a KMS data key released only to the measured image
// through an attested Recipient) and the secrets DB sealed under it. The parent stores both blobs
// but sees only KMS ciphertext and AES-GCM ciphertext (DESIGN invariant 1).
//
// Rollback: every sealed DB carries an enclave generation that only grows and a high-water mark
// (the highest generation its lineage reached). The vault refuses a DB older than what this enclave
// process has seen (RollbackGuard) or older than `minGeneration` from an external anchor, unless the
// operator names the exact generation with `allowRollbackTo`; writes after a restore continue above
// the high-water mark, so a generation number is never reused.
import { timingSafeEqual } from 'node:crypto';
import { type KMSClient, DecryptCommand, GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import type { Attestor } from '../../proto/attestation/types.ts';
import type { BlobStore } from '../../proto/ports.ts';
import { CosignerError } from '../../proto/errors.ts';
import { kmsError } from '../kms/errors.ts';
import { withRecipient, type RecipientTimings } from './recipient.ts';
import { deriveDbKey, openDb, peekGeneration, sealDb } from './sealed-db.ts';
import type { SecretsState } from './records.ts';

export const SECRETS_KEY_BLOB = 'secrets.key';
export const SECRETS_DB_BLOB = 'secrets.db';
/** KMS CiphertextBlob of a 32-byte data key is ~200 bytes; anything far larger is not ours. */
const MAX_SECRETS_KEY_BLOB = 6 * 1024;
const COSIGNER_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const KEY_ARN_RE = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]{1,64}$/;

/** EncryptionContext entry binding secrets.key to the setup parameters (see setupBinding in real-backends). */
export const SETUP_CONTEXT_KEY = 'nitro-cosigner:setup';

/**
 * The EncryptionContext bound to secrets.key in KMS. `setupBinding` (absent only for a secrets.key
 * created before it existed) ties the key to the coordinator and owner chosen at setup: KMS releases
 * the key only under the same context, so an unfinished setup cannot be finished with other ones.
 */
export function secretsKeyContext(cosignerId: string, setupBinding?: string): Record<string, string> {
  return { purpose: 'nitro-cosigner/secrets.key', cosignerId, ...(setupBinding !== undefined ? { [SETUP_CONTEXT_KEY]: setupBinding } : {}) };
}

/** Highest DB generation this enclave process has read or written, per co-signer id. */
export class RollbackGuard {
  private readonly seen = new Map<string, bigint>();
  get(cosignerId: string): bigint {
    return this.seen.get(cosignerId) ?? 0n;
  }
  raise(cosignerId: string, generation: bigint): void {
    if (generation > this.get(cosignerId)) this.seen.set(cosignerId, generation);
  }
}

/** The process-wide guard used when none is passed. */
export const defaultRollbackGuard = new RollbackGuard();

interface Common {
  readonly kms: KMSClient;
  readonly attestor: Attestor;
  readonly blobs: BlobStore;
  readonly cosignerId: string;
  /** The `nitro-cosigner:setup` EncryptionContext value (absent for a legacy secrets.key). */
  readonly setupBinding?: string | undefined;
  readonly guard?: RollbackGuard;
  /** Filled with stage timings (benchmark). */
  readonly timings?: UnsealTimings;
}

export interface SetupOptions extends Common {
  readonly keyArn: string;
  readonly initialState: SecretsState;
}

export interface UnsealOptions extends Common {
  /** When given, secrets.key must have been made under this key (checked by KMS via KeyId). */
  readonly keyArn?: string;
  /** The operator restored this exact backup generation on purpose: accept it although it is older. */
  readonly allowRollbackTo?: bigint;
  /** A generation known from outside the parent's reach (e.g. the coordinator); older DBs are refused. */
  readonly minGeneration?: bigint;
}

export interface UnsealTimings extends RecipientTimings {
  dbOpenMs: number;
}

function validateId(cosignerId: string): void {
  if (typeof cosignerId !== 'string' || !COSIGNER_ID_RE.test(cosignerId)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'invalid cosigner id');
}

/**
 * The unsealed vault. Obtain one with {@link Vault.setup} (first run) or {@link Vault.unseal} (boot).
 *
 * @example
 * const vault = await Vault.unseal({ kms, attestor, blobs, cosignerId });
 * await vault.update((s) => ({ ...s, users: [...s.users, user] }));
 */
export class Vault {
  private dbKey: Buffer | null;
  private current: SecretsState;
  private generation: bigint;
  private highWater: bigint;
  private storeGeneration: bigint;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly blobs: BlobStore,
    private readonly cosignerId: string,
    private readonly guard: RollbackGuard,
    dbKey: Buffer,
    opened: { state: SecretsState; generation: bigint; highWater: bigint; storeGeneration: bigint },
  ) {
    this.dbKey = dbKey;
    this.current = opened.state;
    this.generation = opened.generation;
    this.highWater = opened.highWater;
    this.storeGeneration = opened.storeGeneration;
    guard.raise(cosignerId, opened.highWater);
  }

  /**
   * First run: obtains secrets.key from KMS (GenerateDataKey with an attested Recipient, so its
   * plaintext exists only here), stores its CiphertextBlob as `secrets.key`, seals `initialState`
   * as generation 1. Before storing or sealing anything under a new key it decrypts the blob once
   * more, as unseal will, and requires the same key (see confirmSecretsKey). If a previous setup
   * stored secrets.key but died before the DB, that key is reused. Refuses (ERR_ALREADY_SET_UP) when
   * a secrets DB exists.
   */
  static async setup(opts: SetupOptions): Promise<Vault> {
    validateId(opts.cosignerId);
    if (!KEY_ARN_RE.test(opts.keyArn)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'invalid KMS key ARN');
    if (opts.initialState?.formatVersion !== 1 || opts.initialState.identity?.cosignerId !== opts.cosignerId) {
      throw new CosignerError('ERR_INVALID_ARGUMENT', 'initial state must be format 1 and name this cosigner id');
    }
    const [existingKey, existingDb] = await Promise.all([opts.blobs.get(SECRETS_KEY_BLOB), opts.blobs.get(SECRETS_DB_BLOB)]);
    if (existingDb) throw new CosignerError('ERR_ALREADY_SET_UP', 'a secrets DB already exists; unseal it instead');
    let secretsKey: Buffer;
    if (existingKey) {
      secretsKey = await decryptSecretsKey(opts, existingKey.data, opts.keyArn);
    } else {
      let blob: Uint8Array | undefined;
      secretsKey = await withRecipient(
        opts.attestor,
        async (Recipient) => {
          try {
            const r = await opts.kms.send(
              new GenerateDataKeyCommand({ KeyId: opts.keyArn, KeySpec: 'AES_256', EncryptionContext: secretsKeyContext(opts.cosignerId, opts.setupBinding), Recipient }),
            );
            if (r.Plaintext && r.Plaintext.length > 0) {
              r.Plaintext.fill(0);
              throw new CosignerError('ERR_KMS', 'KMS returned a plaintext data key despite a Recipient');
            }
            blob = r.CiphertextBlob;
            return r.CiphertextForRecipient;
          } catch (err) {
            throw kmsError(err, 'GenerateDataKey');
          }
        },
        opts.timings,
      );
      if (secretsKey.length !== 32 || !blob || blob.length === 0 || blob.length > MAX_SECRETS_KEY_BLOB) {
        secretsKey.fill(0);
        throw new CosignerError('ERR_KMS', 'KMS returned a malformed data key');
      }
      try {
        await confirmSecretsKey(opts, blob, secretsKey);
        await opts.blobs.put(SECRETS_KEY_BLOB, blob, 0n);
      } catch (err) {
        secretsKey.fill(0);
        throw err;
      }
    }
    const dbKey = deriveDbKey(secretsKey, SECRETS_DB_BLOB);
    secretsKey.fill(0);
    const guard = opts.guard ?? defaultRollbackGuard;
    const generation = guard.get(opts.cosignerId) + 1n;
    try {
      const sealed = sealDb(dbKey, SECRETS_DB_BLOB, generation, generation, opts.initialState);
      const storeGeneration = await opts.blobs.put(SECRETS_DB_BLOB, sealed, 0n);
      return new Vault(opts.blobs, opts.cosignerId, guard, dbKey, { state: opts.initialState, generation, highWater: generation, storeGeneration });
    } catch (err) {
      dbKey.fill(0);
      throw err;
    }
  }

  /**
   * Boot: fresh RSA-2048 key → attestation with its public key → KMS Decrypt of secrets.key with
   * that Recipient → envelope opened → secrets DB opened and checked against rollback.
   * Nothing is written: a failure leaves both blobs exactly as they were.
   */
  static async unseal(opts: UnsealOptions): Promise<Vault> {
    validateId(opts.cosignerId);
    if (opts.keyArn !== undefined && !KEY_ARN_RE.test(opts.keyArn)) throw new CosignerError('ERR_INVALID_ARGUMENT', 'invalid KMS key ARN');
    const keyBlob = await opts.blobs.get(SECRETS_KEY_BLOB);
    if (!keyBlob) throw new CosignerError('ERR_NOT_SET_UP', 'no secrets.key: run setup first');
    const db = await opts.blobs.get(SECRETS_DB_BLOB);
    if (!db) throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'secrets.key exists but secrets.db is missing; restore it from backup');
    // Check the DB header before asking KMS, so a rollback is refused without a KMS round trip.
    const headerGeneration = peekGeneration(db.data);
    const guard = opts.guard ?? defaultRollbackGuard;
    const floor = [guard.get(opts.cosignerId), opts.minGeneration ?? 0n].reduce((a, b) => (a > b ? a : b));
    if (headerGeneration < floor && opts.allowRollbackTo !== headerGeneration) {
      throw new CosignerError('ERR_ROLLBACK', `secrets DB generation ${headerGeneration} is older than ${floor}; restore a backup explicitly to accept it`, {
        details: { found: headerGeneration.toString(), expected: floor.toString() },
      });
    }
    const secretsKey = await decryptSecretsKey(opts, keyBlob.data, opts.keyArn);
    const dbKey = deriveDbKey(secretsKey, SECRETS_DB_BLOB);
    secretsKey.fill(0);
    try {
      const t = performance.now();
      const opened = openDb(dbKey, SECRETS_DB_BLOB, db.data);
      if (opts.timings) opts.timings.dbOpenMs = performance.now() - t;
      if (opened.state.identity.cosignerId !== opts.cosignerId) throw new CosignerError('ERR_SECRETS_DB_CORRUPT', 'secrets DB belongs to another cosigner id');
      const highWater = [opened.highWater, floor].reduce((a, b) => (a > b ? a : b));
      return new Vault(opts.blobs, opts.cosignerId, guard, dbKey, { ...opened, highWater, storeGeneration: db.generation });
    } catch (err) {
      dbKey.fill(0);
      throw err;
    }
  }

  /** The current plaintext state. Never log it. */
  get state(): SecretsState {
    this.assertOpen();
    return this.current;
  }

  /** The enclave generation of the current DB. */
  get dbGeneration(): bigint {
    return this.generation;
  }

  /**
   * Applies `mutate` and seals the result as the next generation. Serialised: concurrent calls run
   * one after another; the store write is compare-and-swap, so a write by anyone else in between
   * fails with ERR_GENERATION_CONFLICT and the in-memory state stays at the last durable one.
   */
  update(mutate: (s: SecretsState) => SecretsState): Promise<void> {
    const run = this.queue.then(async () => {
      this.assertOpen();
      const next = mutate(this.current);
      if (!next || next.formatVersion !== 1 || next.identity?.cosignerId !== this.cosignerId || !Array.isArray(next.users)) {
        throw new CosignerError('ERR_INVALID_ARGUMENT', 'updated state must keep format 1 and the cosigner id');
      }
      const generation = this.highWater + 1n;
      const sealed = sealDb(this.dbKey!, SECRETS_DB_BLOB, generation, generation, next);
      this.storeGeneration = await this.blobs.put(SECRETS_DB_BLOB, sealed, this.storeGeneration);
      this.current = next;
      this.generation = generation;
      this.highWater = generation;
      this.guard.raise(this.cosignerId, generation);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Zeroes the DB key; the vault refuses further use (ERR_SEALED). */
  close(): void {
    this.dbKey?.fill(0);
    this.dbKey = null;
  }

  private assertOpen(): void {
    if (!this.dbKey) throw new CosignerError('ERR_SEALED', 'the vault is closed');
  }
}

/**
 * AES-CBC in the KMS envelope has no integrity: a parent that flips bits of the IV flips the same
 * bits of the first plaintext block, and open-envelope.ts cannot tell (the key is still 32 bytes,
 * the padding still valid). Sealing the first DB under such a key would make the vault unopenable
 * on the next boot, once the parent stops. So setup decrypts the CiphertextBlob it is about to store
 * through KMS, exactly as unseal will, and refuses unless both releases agree.
 *
 * What this does not catch: a parent applying the same change to both responses. The result is
 * then K xor D for a KMS key K the parent never sees, so nothing is disclosed; the DB sealed under
 * it cannot be opened once the parent stops altering responses, which is a denial of service the
 * trust model already concedes to the parent, and the sealed DB's AEAD refuses it at unseal.
 */
async function confirmSecretsKey(opts: SetupOptions, blob: Uint8Array, generated: Buffer): Promise<void> {
  const again = await decryptSecretsKey(opts, blob, opts.keyArn);
  const same = again.length === generated.length && timingSafeEqual(again, generated);
  again.fill(0);
  if (!same) {
    throw new CosignerError('ERR_CMS_MALFORMED', 'the data key KMS generated differs from what Decrypt of its CiphertextBlob released: an envelope was altered in transit; nothing was stored');
  }
}

async function decryptSecretsKey(opts: Common, blob: Uint8Array, keyArn: string | undefined): Promise<Buffer> {
  if (blob.length === 0 || blob.length > MAX_SECRETS_KEY_BLOB) throw new CosignerError('ERR_SECRETS_KEY_CORRUPT', 'secrets.key has an impossible size');
  const key = await withRecipient(
    opts.attestor,
    async (Recipient) => {
      try {
        const r = await opts.kms.send(
          new DecryptCommand({
            CiphertextBlob: blob,
            EncryptionContext: secretsKeyContext(opts.cosignerId, opts.setupBinding),
            Recipient,
            ...(keyArn !== undefined ? { KeyId: keyArn } : {}),
          }),
        );
        if (r.Plaintext && r.Plaintext.length > 0) {
          r.Plaintext.fill(0);
          throw new CosignerError('ERR_KMS', 'KMS returned plaintext despite a Recipient');
        }
        return r.CiphertextForRecipient;
      } catch (err) {
        const e = kmsError(err, 'Decrypt');
        if (e.code === 'ERR_KMS_INVALID_CIPHERTEXT') {
          throw new CosignerError('ERR_SECRETS_KEY_CORRUPT', 'KMS rejected secrets.key as invalid ciphertext (corrupted, or sealed for another cosigner id or key)', {
            details: e.details ? { ...e.details } : {},
          });
        }
        throw e;
      }
    },
    opts.timings,
  );
  if (key.length !== 32) {
    key.fill(0);
    throw new CosignerError('ERR_SECRETS_KEY_CORRUPT', 'secrets.key does not decrypt to a 32-byte key');
  }
  return key;
}
