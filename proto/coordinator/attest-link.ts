// Both sides of the coordinator link, co-signer half: the `attest` step after welcome. Kept apart
// from attested-link.ts (the coordinator's verifier) so the enclave bundle does not pull in the
// X.509 verifier it never runs: the enclave only produces documents, the coordinator checks them.
import type { PeerConnection } from './connection.ts';

/**
 * Co-signer side: the first request on a fresh link, `attest` with a document over the welcome's
 * serverNonce, proving this is an enclave running an allowed build and holding the key hello was
 * signed with. The coordinator routes nothing to us before it has checked it. On any failure the
 * link is closed and the error rethrown.
 */
export async function attestLink(
  conn: PeerConnection,
  attest: (nonce: Uint8Array) => Promise<Uint8Array>,
  serverNonceHex: string,
  timeoutMs: number,
): Promise<void> {
  try {
    const document = await attest(Buffer.from(serverNonceHex, 'hex'));
    await conn.request('attest', { document: Buffer.from(document).toString('base64') }, { timeoutMs });
  } catch (err) {
    conn.close('attestation refused');
    throw err;
  }
}
