// Test helper: the real AWS documents from the shared vectors (../shared/vectors beside the clone).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// COSIGNER_SHARED (exported by the Makefile) wins, so a checkout elsewhere (e.g. a worktree) finds them too.
export const vectorsDir = path.resolve(process.env.COSIGNER_SHARED ?? path.resolve(repoRoot, '..', 'shared'), 'vectors', 'attestation');

export interface RealDoc {
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly timestamp: number;
  readonly debug: boolean;
  readonly moduleId?: string;
  /** Other instants at which vectors/README.md says the document is valid. */
  readonly alsoValidAt: readonly number[];
  readonly pcrs: Readonly<Record<number, string>>;
}

const read = (f: string): Uint8Array => new Uint8Array(readFileSync(path.join(vectorsDir, f)));

export const SUI_DEBUG: RealDoc = {
  file: 'att_sui_debug_2024-11-14.cose',
  bytes: read('att_sui_debug_2024-11-14.cose'),
  timestamp: 1731627989450,
  debug: true,
  moduleId: 'i-0f73a4b4cb74cc9f2-enc0192e4188fef781d',
  alsoValidAt: [1731627989450 - 10 * 60_000, 1731627989450 + 10 * 60_000],
  pcrs: { 0: '0'.repeat(96), 1: '0'.repeat(96), 2: '0'.repeat(96), 8: '0'.repeat(96) },
};

export const SEQUENCE_PROD: RealDoc = {
  file: 'att_sequence_prod_rsa_pubkey_2025-04-04.cose',
  bytes: read('att_sequence_prod_rsa_pubkey_2025-04-04.cose'),
  timestamp: 1743791947519,
  debug: false,
  alsoValidAt: [1743786436000],
  pcrs: {
    0: '73934ebd95cac683b96ceb064acda3f0c73f2e11bebc702ed4aa271cd47a08973165df31fc138a204642d554ee2508ec',
    1: 'b7ada9ee8a3fa0a2c74c23ddd04a58f0b095d0465327b2d8461b9b81bcbc7236563ff0326c8614fe9205669636955199',
    2: '1492fb3b975e88948e07e6dcc65f509c9f18610c1cfc3efd3b6119802cfb7ff14d63abaf02ba0cdb3f91d4c78ab2d708',
    8: '0'.repeat(96),
  },
};

export const EVERVAULT_SIGNED: RealDoc = {
  file: 'att_evervault_sancert_prod_signed_2023-01-18.cose',
  bytes: read('att_evervault_sancert_prod_signed_2023-01-18.cose'),
  timestamp: 1674047239280,
  debug: false,
  alsoValidAt: [1674054914000],
  pcrs: {
    0: 'd265a83faa7b4fa0d73b82b6d06253e894445922937d0ee5a74fe4891da9817611a71e71b98e5329232902de3cf419af',
    1: 'bcdf05fefccaa8e55bf2c8d6dee9e79bbff31e34bf28a99aa19e6b29c37ee80b214a414b7607236edf26fcb78654e63f',
    2: 'e4f634d24ad83b7f6e49fe283bafdb220f6252fb4a278a858e19d15b7cd0f263b9168ed0bacefb4444266df9f9a77f24',
    8: '97c5395a83c0d6a04d53ff962663c714c178c24500bf97f78456ed3721d922cf3f940614da4bb90107c439bc4a1443ca',
  },
};

export const REAL_DOCS: readonly RealDoc[] = [SUI_DEBUG, SEQUENCE_PROD, EVERVAULT_SIGNED];

export const AWS_ROOT_PEM_FILE = path.join(vectorsDir, 'aws-nitro-enclaves-root-g1.pem');

export const hex = (b: Uint8Array | null | undefined): string => (b ? Buffer.from(b).toString('hex') : '');
