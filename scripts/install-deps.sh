#!/usr/bin/env bash
# Installs the dependencies exactly as package-lock.json pins them.
#
# `npm ci` is the tool for this, but it insists that every optional, platform-specific package named
# by a dependency (rollup's and cbor-extract's prebuilt binaries for other systems) is in the lock
# file. Where the registry in use does not serve some of those versions, npm cannot record them and
# `npm ci` refuses a lock file that is otherwise complete. Only in that case do we fall back to
# `npm install`, which installs the same locked versions and skips the unavailable optional ones.
set -euo pipefail
cd "$(dirname "$0")/.."

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if npm ci --no-audit --no-fund "$@" >"$log" 2>&1; then
  tail -n 3 "$log"
  exit 0
fi
if grep -q 'can only install packages when your package.json and package-lock.json' "$log" \
  && ! grep -q 'Invalid: lock file' "$log"; then
  missing="$(grep -c 'Missing: .* from lock file' "$log" || true)"
  echo "install-deps: npm ci refused the lock file for ${missing} optional packages this registry does not serve; installing the locked versions with npm install" >&2
  npm install --no-audit --no-fund --no-save "$@"
  exit 0
fi
cat "$log" >&2
exit 1
