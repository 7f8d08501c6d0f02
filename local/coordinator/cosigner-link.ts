// Reference coordinator (test stand-in, loopback only). The co-signer endpoint: TLS, the
// authenticated handshake (with the sealed-DB generation check) and one PeerConnection per
// co-signer, whose requests pairing.ts answers.
import tls from 'node:tls';
import { CosignerError, toCosignerError } from '../../proto/errors.ts';
import { FramedSocket, PeerConnection } from '../../proto/coordinator/connection.ts';
import { spkiB64 } from '../../proto/coordinator/envelope.ts';
import { serverHandshake } from '../../proto/coordinator/handshake.ts';
import { handleCosigner } from './pairing.ts';
import { markEntry, raiseMark, type CoordinatorState } from './state.ts';

async function acceptCosigner(st: CoordinatorState, socket: tls.TLSSocket): Promise<void> {
  const { cosigners, provisional } = st;
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
    const conn = new PeerConnection({ framed, channel: hs.channel, handler: (type, body) => handleCosigner(st, ctx, type, body) });
    const entry = cosigners.get(hs.cosignerId);
    if (entry) {
      entry.conn?.close('replaced by a newer connection');
      entry.conn = conn;
    } else {
      provisional.set(hs.cosignerId, { key: spkiB64(hs.clientKey), conn });
    }
    conn.onClose(() => {
      const e = cosigners.get(hs.cosignerId);
      if (e?.conn === conn) e.conn = undefined;
      if (provisional.get(hs.cosignerId)?.conn === conn) provisional.delete(hs.cosignerId);
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
