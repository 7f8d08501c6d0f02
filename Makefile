# nitro-cosigner — build, test, demo, benchmark. Every target works on a fresh clone (it installs
# from the lockfile first when node_modules/ is missing).
SHELL := /bin/bash
NPX := npx --no-install
export COSIGNER_SHARED ?= $(abspath ../shared)
# node-gyp builds against the installed Node's headers (no download: only the npm registry is reachable).
ifeq ($(npm_config_nodedir),)
  ifneq ($(wildcard /usr/include/node/node_api.h),)
    export npm_config_nodedir := /usr
  endif
endif

.PHONY: install build native bundle dist proto test typecheck unit lint demo bench eif clean

# A fresh clone installs from the lockfile on first use; CI has already run `npm ci`.
node_modules/.package-lock.json: package-lock.json
	bash scripts/install-deps.sh

install: node_modules/.package-lock.json

# The vsock binding (N-API, node-gyp) and the enclave bundles (esbuild). Local mode needs only the
# development bundle; the NSM bundle is what goes into the EIF.
build: native bundle

# Every native binding is a folder with a binding.gyp (vsock in proto/, NSM in enclave/).
native: install
	@for d in $$(find proto enclave -name binding.gyp -not -path '*/node_modules/*' -printf '%h\n' | sort); do \
	  echo "native: $$d"; $(NPX) node-gyp rebuild --loglevel=error --directory=$$d >/dev/null || exit 1; done

bundle: install
	$(NPX) tsx scripts/bundle-enclave.ts

# The release tarball (scripts/dist.ts): dist/nitro-cosigner-<version>.tar.gz and its .sha256. Bundles
# of the CLI, the parent daemon and both enclave builds with their native addons; unpacked next to a
# Node 24 binary it is the whole install (docs/operations.md, "Install").
dist: native
	$(NPX) tsx scripts/dist.ts

# TypeScript types of the wire contract (proto/generated/wire.d.ts); commit the result.
proto: install
	$(NPX) tsx scripts/gen-wire-types.ts

typecheck: install
	$(NPX) tsc -p tsconfig.json

# Import rules between the trust-role folders (.dependency-cruiser.cjs), type-aware ESLint
# (eslint.config.js), files and dependencies nothing uses (knip.jsonc), and the shell scripts.
lint: install
	$(NPX) depcruise --config .dependency-cruiser.cjs enclave parent proto local scripts
	$(NPX) eslint --max-warnings 0 .
	$(NPX) knip --no-progress --include files,dependencies,unlisted,binaries,unresolved
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck scripts/*.sh; else echo "lint: shellcheck not installed, skipped"; fi

unit:
	$(NPX) vitest run

test: build typecheck lint unit

demo: build
	$(NPX) tsx scripts/demo.ts

bench: build
	$(NPX) tsx test/bench/run.ts

# Needs Docker and nitro-cli (a Nitro-enabled EC2 instance): see docs/operations.md, "Building the EIF reproducibly".
# The image is built from the release tree (prebuilt NSM bundle and addons), so this builds it first.
eif: dist
	CONTEXT=dist/nitro-cosigner-$$(node -p 'require("./package.json").version') bash scripts/build-eif.sh

clean:
	rm -rf build dist; find proto enclave -name build -type d -prune -exec rm -rf {} +
