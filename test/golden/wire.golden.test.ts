// Golden bytes for formats that outlive a build: an enclave image and the parent daemon, the
// co-signer and the coordinator, are upgraded separately, so an encoding change here breaks a peer
// still running the previous build. These constants were produced once from fixed inputs; a failure
// means the format changed. Do not update them to make the test pass: version the format instead
// (the coordinator's domain string "…/v1", PROTOCOL_VERSION in proto/runtime/schema.ts).
import { describe, expect, it } from 'vitest';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { envelopeSignatureValid, sealEnvelope, signedBytes } from '../../proto/coordinator/envelope.ts';
import { loadSchema } from '../../proto/runtime/schema.ts';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('golden: coordinator envelope signed bytes', () => {
  const input = { dir: 'c2s', conn: 'conn-0001', seq: 42, type: 'pair.request', id: 'req-7', body: '{"hello":"world"}' } as const;
  // domain "nitro-cosigner/coordinator/v1\0" ‖ lp(dir) ‖ lp(conn) ‖ seq u64 BE ‖ lp(type) ‖ lp(id) ‖ lp(body), lp = u32 BE length ‖ UTF-8.
  const SIGNED_HEX =
    '6e6974726f2d636f7369676e65722f636f6f7264696e61746f722f763100' +
    '00000003' + '633273' +
    '00000009' + '636f6e6e2d30303031' +
    '000000000000002a' +
    '0000000c' + '706169722e72657175657374' +
    '00000005' + '7265712d37' +
    '00000011' + '7b2268656c6c6f223a22776f726c64227d';

  it('are exactly the pinned bytes', () => {
    const b = signedBytes(input);
    expect(b.length).toBe(104);
    expect(sha256(b)).toBe('4fd66e3064a478ee8d2a01c6a55b73adc83d135c81bc8e09d23e79e93247f524');
    expect(hex(b)).toBe(SIGNED_HEX);
  });

  it('and the Ed25519 signature over them under a fixed seed is pinned too (Ed25519 is deterministic)', () => {
    const seed = Buffer.alloc(32, 0x07);
    const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
    const SIG = 'e78041f96ab772c64da2b09cd37f46b50e38ef417f85a266327e76b253845c489e835a876ac7bef6f0b6dc34af4a473a56643c50faf47a1f97742b3ceeafa80c';
    expect(sign(null, Buffer.from(SIGNED_HEX, 'hex'), key).toString('hex')).toBe(SIG);
    const env = sealEnvelope(key, input);
    expect(Buffer.from(env.sig, 'base64').toString('hex')).toBe(SIG);
    expect(envelopeSignatureValid(createPublicKey(key), env)).toBe(true);
  });
});

describe('golden: Control protobuf encodings', () => {
  const schema = loadSchema();
  const type = (name: string) => schema.root.lookupType(`cosigner.v1.${name}`);
  const encode = (name: string, obj: Record<string, unknown>): string => hex(type(name).encode(type(name).fromObject(obj)).finish());
  const decode = (name: string, h: string): Record<string, unknown> => type(name).toObject(type(name).decode(Buffer.from(h, 'hex')), { defaults: false }) as Record<string, unknown>;

  const callback = { url: 'https://handler.example/cb', authMode: 'public-key', handlerPublicKeyPem: 'PEM' };
  const addUserRequest = { pairingToken: 'tok.en', callback };
  const ADD_USER_REQUEST = '0a06746f6b2e656e122d0a1a68747470733a2f2f68616e646c65722e6578616d706c652f6362120a7075626c69632d6b65791a0350454d';
  const user = {
    id: 'user-1',
    workspace: 'ws-1',
    status: 'pending',
    handlerUrl: 'https://handler.example/cb',
    authMode: 'public-key',
    keys: [{ keyId: 'key-1', scheme: 'frost-ed25519', threshold: 2, participants: [1, 2, 3], identifier: 2, groupPublicKey: '6b'.repeat(32) }],
    createdAt: '2023-11-14T22:13:20.000Z',
  };
  const ADD_USER_RESPONSE =
    '0abc010a06757365722d31120477732d311a0770656e64696e67221a68747470733a2f2f68616e646c65722e6578616d706c652f63622a0a7075626c69632d6b657932610a056b65792d31120d66726f73742d656432353531391802220301020328023240' +
    '3662'.repeat(32) + // group_public_key: the text "6b6b…", 64 characters
    '3a18323032332d31312d31345432323a31333a32302e3030305a';
  const status = {
    state: 'unsealed',
    attestationMode: 'dev',
    buildId: 'b1',
    cosignerId: 'golden-cosigner',
    users: 1,
    coordinator: 'connected',
    localMode: true,
    openSessions: 2,
    startedAt: '2023-11-14T22:13:20.000Z',
    secretsGeneration: '7',
    notes: ['n1'],
  };
  const STATUS_RESPONSE =
    '0a08756e7365616c656412036465761a026231220f676f6c64656e2d636f7369676e657238014a09636f6e6e6563746564500158026218323032332d31312d31345432323a31333a32302e3030305a6a013772026e31';

  it('AddUserRequest and AddUserResponse encode to, and decode from, the pinned bytes', () => {
    expect(encode('AddUserRequest', addUserRequest)).toBe(ADD_USER_REQUEST);
    expect(decode('AddUserRequest', ADD_USER_REQUEST)).toEqual(addUserRequest);
    expect(encode('AddUserResponse', { user })).toBe(ADD_USER_RESPONSE);
    expect(decode('AddUserResponse', ADD_USER_RESPONSE)).toEqual({ user });
  });

  it('StatusResponse encodes to, and decodes from, the pinned bytes', () => {
    expect(encode('StatusResponse', status)).toBe(STATUS_RESPONSE);
    expect(decode('StatusResponse', STATUS_RESPONSE)).toEqual(status);
  });

  it('the AddUser call as a wire Frame (stream 1, RpcRequest) is pinned', () => {
    const frame = { streamId: 1, request: { method: 'cosigner.v1.Control/AddUser', payload: Buffer.from(ADD_USER_REQUEST, 'hex'), deadlineMs: 30000 } };
    const FRAME = '08011a5a0a1b636f7369676e65722e76312e436f6e74726f6c2f416464557365721237' + ADD_USER_REQUEST + '18b0ea01';
    expect(hex(schema.Frame.encode(schema.Frame.fromObject(frame)).finish())).toBe(FRAME);
  });
});
