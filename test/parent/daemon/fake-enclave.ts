// Test helper (stands in for the enclave bundle in local mode): listens on the wire URL given with
// --listen and serves a small cosigner.v1.Control whose state is kept in the parent's blob store, so
// a restart "unseals" again. FAKE_ENCLAVE_LOCKED=1 (or a file name containing "locked") reports
// access-denied, as an image the key policy does not admit would.
import { Peer } from '../../../proto/runtime/peer.ts';
import { CosignerError } from '../../../proto/errors.ts';

const i = process.argv.indexOf('--listen');
const url = process.argv[i + 1];
if (i < 0 || !url) {
  process.stderr.write('fake enclave: --listen URL required\n');
  process.exit(2);
}
const locked = process.env.FAKE_ENCLAVE_LOCKED === '1' || (process.argv[1] ?? '').includes('locked');
const slow = Number(process.env.FAKE_ENCLAVE_SLOW_MS ?? '0');

type Api = Record<string, (req: Record<string, unknown>) => Promise<Record<string, unknown>>>;
const users: Array<Record<string, unknown>> = [];

let goodbye: (() => Promise<unknown>) | undefined;
// Like enclave/main.ts: on SIGTERM, a last log record over the wire (bounded), then exit 0. The
// record reaches the daemon only if the wire is still open when the signal comes.
process.once('SIGTERM', () => {
  const bye = goodbye?.() ?? Promise.resolve();
  void Promise.race([bye, new Promise((r) => setTimeout(r, 1000))]).finally(() => process.exit(0));
});

const listening = await Peer.listen(url, { role: 'enclave', buildId: 'fake-enclave-build', keepaliveMs: 0 }, (peer) => {
  const parent = peer.client<Api>('cosigner.v1.Parent');
  goodbye = () => parent.Log!({ lines: [JSON.stringify({ level: 30, time: Date.now(), msg: 'fake enclave stopping on SIGTERM' })], dropped: 0 });
  let state = 'starting';
  const init = async (): Promise<void> => {
    const b = await parent.BlobGet!({ name: 'secrets.key' });
    state = b.found ? (locked ? 'access-denied' : 'unsealed') : 'not-set-up';
    await parent.Log!({ lines: [JSON.stringify({ level: 30, time: Date.now(), msg: 'fake enclave ready', state }), JSON.stringify({ level: 30, time: Date.now(), msg: 'approval decision', event: 'callback.decision', action: 'APPROVE' })], dropped: 0 });
  };
  const ready = init();
  const status = (): Record<string, unknown> => ({
    state,
    attestationMode: 'dev',
    buildId: 'fake-enclave-build',
    cosignerId: 'cs-fake',
    errorCode: state === 'access-denied' ? 'ERR_KMS_ACCESS_DENIED' : '',
    errorMessage: '',
    users: users.length,
    coordinator: 'not-started',
    localMode: true,
  });
  peer.register('cosigner.v1.Control', {
    async Status() {
      await ready;
      return status();
    },
    async Setup(req: { kmsKeyArn: string }) {
      await ready;
      if (slow) await new Promise((r) => setTimeout(r, slow));
      if (state !== 'not-set-up') throw new CosignerError('ERR_ALREADY_SET_UP', 'already set up');
      await parent.BlobPut!({ name: 'secrets.key', data: Buffer.from(`kms-ciphertext-for ${req.kmsKeyArn}`), expectedGeneration: 0n });
      state = 'unsealed';
      return { cosignerId: 'cs-fake', callbackPublicKeyPem: '-----BEGIN PUBLIC KEY-----\nfake\n-----END PUBLIC KEY-----\n', status: status() };
    },
    async AddUser(req: { pairingToken: string }) {
      if (state !== 'unsealed') throw new CosignerError('ERR_SEALED', 'sealed');
      const u = { id: `user-${users.length + 1}`, workspace: 'ws-1', status: 'pending', handlerUrl: '', authMode: '', keys: [], createdAt: new Date(0).toISOString() };
      if (req.pairingToken === 'expired') throw new CosignerError('ERR_PAIRING_TOKEN_EXPIRED', 'pairing token expired');
      users.push(u);
      return { user: u };
    },
    async ListUsers() {
      return { users };
    },
    async RemoveUser(req: { userId: string }) {
      const k = users.findIndex((u) => u.id === req.userId);
      if (k < 0) throw new CosignerError('ERR_NOT_FOUND', `no user ${req.userId}`);
      users.splice(k, 1);
      return { userId: req.userId };
    },
    async PrintPublicKey() {
      return { publicKeyPem: '-----BEGIN PUBLIC KEY-----\nfake\n-----END PUBLIC KEY-----\n', spkiSha256: 'ab'.repeat(32) };
    },
    async GetAttestation(req: { nonce: Uint8Array }) {
      return { document: Buffer.concat([Buffer.from([0x84]), Buffer.from(req.nonce)]), userData: new Uint8Array(0), attestationMode: 'dev' };
    },
  });
});
process.stdout.write(`fake enclave listening on ${listening.address}\n`);
