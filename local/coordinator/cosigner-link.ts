// Reference coordinator (test stand-in, loopback only). The co-signer endpoint: TLS, the
// authenticated handshake (with the sealed-DB generation check) and one PeerConnection per
// co-signer, whose requests pairing.ts answers.
import type { KeyObject } from 'node:crypto';
import tls from 'node:tls';
import { parseAttestBody, verifyCosignerAttestation } from '../../proto/coordinator/attested-link.ts';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { FramedSocket, PeerConnection } from '../../proto/coordinator/connection.ts';
import { spkiB64 } from '../../proto/coordinator/envelope.ts';
import { serverHandshake } from '../../proto/coordinator/handshake.ts';
import { handleCosigner } from './pairing.ts';
import { markEntry, raiseMark, type CoordinatorState } from './state.ts';

function register(st: CoordinatorState, cosignerId: string, clientKey: KeyObject, conn: PeerConnection): void {
  const { cosigners, provisional } = st;
  const entry = cosigners.get(cosignerId);
  if (entry) {
    entry.conn?.close('replaced by a newer connection');
    entry.conn = conn;
  } else {
    provisional.set(cosignerId, { key: spkiB64(clientKey), conn });
  }
  conn.onClose(() => {
    const e = cosigners.get(cosignerId);
    if (e?.conn === conn) e.conn = undefined;
    if (provisional.get(cosignerId)?.conn === conn) provisional.delete(cosignerId);
  });
}

async function acceptCosigner(st: CoordinatorState, socket: tls.TLSSocket): Promise<void> {
  const { cosigners } = st;
  const framed = new FramedSocket(socket);
  try {
    const hs = await serverHandshake(framed, {
      key: st.key.privateKey,
      timeoutMs: 10_000,
      authorize: (cosignerId, clientKey) => {
        const known = cosigners.get(cosignerId);
        if (known && known.key !== spkiB64(clientKey)) throw new CosignerError('ERR_COORDINATOR_AUTH', 'co-signer key does not match the paired one');
      },
      generationMark: (cosignerId, clientKey, generation) => raiseMark(st, cosignerId, clientKey, generation),
    });
    const ctx = { cosignerId: hs.cosignerId, clientKey: hs.clientKey };
    const mark = markEntry(st, hs.cosignerId, hs.clientKey, false)?.generation ?? 0;
    if (hs.generation !== undefined && hs.generation < mark) {
      // The co-signer runs on an older sealed DB than it already used: it refuses to work on
      // reading the welcome; never route requests to it, and drop the socket if it lingers.
      setTimeout(() => framed.fail(new CosignerError('ERR_ROLLBACK', 'co-signer runs on an older secrets DB')), 5_000).unref();
      return;
    }
    // Nothing is routed to or accepted from this connection until it proves, with a fresh
    // document carrying the welcome's nonce, that an allowed enclave build holds hello's auth key.
    let attested = false;
    const conn: PeerConnection = new PeerConnection({
      framed,
      channel: hs.channel,
      handler: async (type, body) => {
        if (attested) return handleCosigner(st, ctx, type, body);
        try {
          if (type !== 'attest') throw new CosignerError('ERR_ATTESTATION_REFUSED', 'the first request must be attest');
          if (!st.attestation) throw new CosignerError('ERR_ATTESTATION_REFUSED', 'this coordinator has no attestation policy configured');
          verifyCosignerAttestation(
            parseAttestBody(body),
            { nonce: Buffer.from(hs.serverNonce, 'hex'), authKey: hs.clientKey, cosignerId: hs.cosignerId, coordinatorKey: st.key.publicKey, ownerKey: st.ownerKey.publicKey },
            st.attestation,
          );
        } catch (err) {
          // Answer (typed), then drop the link: one refusal per connection.
          setTimeout(() => conn.close('attestation refused'), 50).unref();
          throw err;
        }
        attested = true;
        register(st, hs.cosignerId, hs.clientKey, conn);
        return {};
      },
    });
  } catch (err) {
    framed.fail(toCosignerError(err, 'ERR_COORDINATOR_AUTH'));
  }
}

/** The co-signer endpoint's TLS server (not yet listening). */
export function createCosignerServer(st: CoordinatorState, cert: { readonly certPem: string; readonly keyPem: string }): tls.Server {
  return tls.createServer({ cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.2' }, (socket) => {
    st.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => st.sockets.delete(socket));
    socket.on('error', () => undefined);
    void acceptCosigner(st, socket);
  });
}
