// Both sides. Loads every proto/*.proto at startup by reflection (protobufjs), so a service another
// engineer adds in its own .proto file works with no change here. docs/wire.md says why reflection.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { CosignerError } from '../errors.ts';

/** Protocol version stated in the handshake; bump on any incompatible change to cosigner.proto. */
export const PROTOCOL_VERSION = 1;

/** Conversion options used for every RPC message: 64-bit integers as bigint, bytes as Uint8Array, enums as names. */
export const TO_OBJECT: protobuf.IConversionOptions = { longs: BigInt as unknown as typeof String, enums: String, bytes: Uint8Array as unknown as typeof String, defaults: true, arrays: true, objects: true, oneofs: true };

/** The loaded protobuf schema: the root namespace plus the types the runtime itself uses. */
export interface Schema {
  readonly root: protobuf.Root;
  readonly Frame: protobuf.Type;
  readonly ErrorCode: protobuf.Enum;
  /** Resolves "cosigner.v1.Parent" to the service, or throws ERR_UNKNOWN_METHOD. */
  service(name: string): protobuf.Service;
}

const defaultDir = process.env.COSIGNER_PROTO_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = new Map<string, Schema>();

/**
 * Loads (once per directory) every `*.proto` in `dir` (default: the repository's `proto/`, or
 * `COSIGNER_PROTO_DIR` when set, e.g. inside a bundle). Throws ERR_CONFIG_INVALID on a bad file.
 */
export function loadSchema(dir: string = defaultDir): Schema {
  const hit = cache.get(dir);
  if (hit) return hit;
  let root: protobuf.Root;
  try {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.proto'))
      .sort()
      .map((f) => join(dir, f));
    root = new protobuf.Root();
    root.loadSync(files, { keepCase: false });
    root.resolveAll();
  } catch (err) {
    throw new CosignerError('ERR_CONFIG_INVALID', `cannot load protobuf schema from ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const schema: Schema = {
    root,
    Frame: root.lookupType('cosigner.v1.Frame'),
    ErrorCode: root.lookupEnum('cosigner.v1.ErrorCode'),
    service(name: string): protobuf.Service {
      const found = root.lookup(name);
      if (!(found instanceof protobuf.Service)) throw new CosignerError('ERR_UNKNOWN_METHOD', `unknown service ${name}`);
      return found;
    },
  };
  cache.set(dir, schema);
  return schema;
}
