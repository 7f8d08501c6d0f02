# nitro-cosigner — build, test, demo, benchmark. Every target works on a fresh clone after `make install`.
SHELL := /bin/bash
NPX := npx --no-install
export COSIGNER_SHARED ?= $(abspath ../shared)

.PHONY: install build native bundle test typecheck unit lint demo bench eif clean

install:
	npm ci --no-audit --no-fund

# The vsock binding (N-API, node-gyp) and the enclave bundles (esbuild). Local mode needs only the
# development bundle; the NSM bundle is what goes into the EIF.
build: native bundle

# Every native binding is a folder with a binding.gyp (vsock in proto/, NSM in enclave/).
native:
	@for d in $$(find proto enclave -name binding.gyp -not -path '*/node_modules/*' -printf '%h\n' | sort); do \
	  echo "native: $$d"; $(NPX) node-gyp rebuild --directory=$$d >/dev/null || exit 1; done

bundle:
	$(NPX) tsx scripts/bundle-enclave.ts

typecheck:
	$(NPX) tsc -p tsconfig.json

lint:
	@if command -v shellcheck >/dev/null 2>&1; then shellcheck scripts/*.sh; else echo "lint: shellcheck not installed, skipped"; fi

unit:
	$(NPX) vitest run

test: build typecheck lint unit

demo: build
	$(NPX) tsx scripts/demo.ts

bench: build
	$(NPX) tsx test/bench/run.ts

# Needs Docker and nitro-cli (a Nitro-enabled EC2 instance): see README.md, "Building the enclave image".
eif:
	bash scripts/build-eif.sh

clean:
	rm -rf build; find proto enclave -name build -type d -prune -exec rm -rf {} +
