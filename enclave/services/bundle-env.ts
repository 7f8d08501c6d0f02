// Runs in the enclave, first of all modules (enclave/main.ts imports it before anything else). In a
// bundle (build/enclave-<mode>.mjs) the source tree is gone: point the wire runtime at the schema
// and the native addons that scripts/bundle-enclave.ts copies beside the bundle. Explicit
// environment settings (the image's) win. Unbundled runs (tsx, tests) use the source tree.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __COSIGNER_BUNDLED__: boolean | undefined;

/** True inside build/enclave-<mode>.mjs. */
export const BUNDLED: boolean = typeof __COSIGNER_BUNDLED__ !== 'undefined' && __COSIGNER_BUNDLED__ === true;

if (BUNDLED) {
  const here = dirname(fileURLToPath(import.meta.url));
  process.env.COSIGNER_PROTO_DIR ??= join(here, 'proto');
  process.env.COSIGNER_VSOCK_ADDON ??= join(here, 'native', 'vsock.node');
  process.env.COSIGNER_NSM_ADDON ??= join(here, 'native', 'nsm.node');
  // The image pins its SDK version; the SDK's future-Node-support notice would only clutter the
  // enclave console (the Node version is the image builder's decision, see enclave/Dockerfile).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
