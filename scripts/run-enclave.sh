#!/usr/bin/env bash
# Parent instance. Starts the enclave by hand with nitro-cli, for debugging an image outside the
# daemon (cosigner-parent normally does this itself, and restarts it). Prints nitro-cli's JSON.
#
#   scripts/run-enclave.sh [EIF]          (default build/cosigner.eif)
#
# Environment: CPU_COUNT (2), MEMORY_MIB (1024; plan ~4x the EIF size), CID (16), DEBUG (0|1).
# DEBUG=1 starts a debug-mode enclave and attaches its console: its PCRs read as zeros, so KMS will
# never release secrets.key to it. Never use it with production keys.
set -euo pipefail

EIF="${1:-build/cosigner.eif}"
CPU_COUNT="${CPU_COUNT:-2}"
MEMORY_MIB="${MEMORY_MIB:-1024}"
CID="${CID:-16}"
DEBUG="${DEBUG:-0}"

if ! command -v nitro-cli >/dev/null 2>&1; then
  echo "run-enclave: nitro-cli is not installed (aws-nitro-enclaves-cli)" >&2
  exit 1
fi
if [[ ! -f "$EIF" ]]; then
  echo "run-enclave: $EIF not found; build it with scripts/build-eif.sh" >&2
  exit 1
fi
for v in CPU_COUNT MEMORY_MIB CID; do
  if [[ ! "${!v}" =~ ^[0-9]+$ ]]; then
    echo "run-enclave: $v must be a number" >&2
    exit 2
  fi
done

args=(run-enclave --eif-path "$EIF" --cpu-count "$CPU_COUNT" --memory "$MEMORY_MIB" --enclave-cid "$CID")
if [[ "$DEBUG" == "1" ]]; then
  args+=(--debug-mode)
  echo "run-enclave: WARNING: debug mode; PCRs are zero and KMS will not release secrets to this enclave" >&2
fi

out="$(nitro-cli "${args[@]}")"
printf '%s\n' "$out"

if [[ "$DEBUG" == "1" ]]; then
  id="$(printf '%s' "$out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).EnclaveID))')"
  exec nitro-cli console --enclave-id "$id"
fi
