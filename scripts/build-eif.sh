#!/usr/bin/env bash
# Build host (a Nitro-enabled EC2 instance, or any Linux host with Docker/BuildKit and the
# aws-nitro-enclaves-cli package). Builds the enclave image from enclave/Dockerfile with the release
# tree as context (it copies the prebuilt NSM bundle and addons; nothing is compiled in the image) and
# turns it into an EIF:
#
#   build/cosigner.eif         the enclave image file
#   build/measurements.json    what nitro-cli build-enclave printed: {"Measurements": {PCR0, PCR1, PCR2[, PCR8]}}
#   build/cosigner.json        the bundle's sidecar (build id): cosigner-parent reads it beside the EIF
#                              and then requires that build id in the handshake
#
# Run it from an unpacked release (scripts/build-eif.sh there), or from a checkout with `make eif`,
# which runs `make dist` first and passes CONTEXT=dist/nitro-cosigner-<version>.
#
# Environment:
#   CONTEXT             the release tree (default: this script's tree when it is a release)
#   IMAGE               docker image name (default nitro-cosigner-enclave:build)
#   OUT_DIR             output folder (default build)
#   SOURCE_DATE_EPOCH   clamp file timestamps in the image (default 0)
#   SIGNING_CERT, SIGNING_KEY   optional: sign the EIF (adds PCR8 = hash of the certificate)
#   BASE_IMAGES         file pinning the base image by digest (default <CONTEXT>/enclave/base-images.env)
#
# Reproducible builds: see docs/operations.md ("Building the EIF reproducibly").
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-nitro-cosigner-enclave:build}"
OUT_DIR="${OUT_DIR:-build}"
# 0 unless set: the same default from a checkout (make eif) and from an unpacked release (no git),
# so both give the same PCR0 for the same release tree.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}"

CONTEXT="${CONTEXT:-.}"

# The base image pinned by digest (it is part of PCR0): refuse anything but a real sha256 pin.
pin_file="${BASE_IMAGES:-$CONTEXT/enclave/base-images.env}"
NODE_RUNTIME="$(sed -n 's/^NODE_RUNTIME=//p' "$pin_file")"
if [[ ! "$NODE_RUNTIME" =~ @sha256:[0-9a-f]{64}$ ]]; then
  echo "build-eif: base image '$NODE_RUNTIME' in $pin_file is not pinned by digest; see the instructions in that file" >&2
  exit 2
fi

for tool in docker nitro-cli node; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-eif: $tool is not installed; this script needs Docker (BuildKit) and nitro-cli (aws-nitro-enclaves-cli)" >&2
    exit 1
  fi
done

# The image copies these from the context; a checkout without `make dist` has none of them.
for f in build/enclave-nsm.mjs build/enclave-nsm.json build/native/nsm.node build/native/vsock.node enclave/Dockerfile; do
  if [[ ! -f "$CONTEXT/$f" ]]; then
    echo "build-eif: $CONTEXT/$f missing: run from an unpacked release, or use make eif (it builds the release tree first)" >&2
    exit 2
  fi
done

mkdir -p "$OUT_DIR"
echo "build-eif: docker build ($IMAGE, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)" >&2
docker buildx build \
  --file "$CONTEXT/enclave/Dockerfile" \
  --build-arg SOURCE_DATE_EPOCH \
  --build-arg "NODE_RUNTIME=$NODE_RUNTIME" \
  --provenance=false \
  --output "type=docker,name=${IMAGE},rewrite-timestamp=true" \
  "$CONTEXT"

sign_args=()
if [[ -n "${SIGNING_CERT:-}" || -n "${SIGNING_KEY:-}" ]]; then
  if [[ -z "${SIGNING_CERT:-}" || -z "${SIGNING_KEY:-}" ]]; then
    echo "build-eif: set both SIGNING_CERT and SIGNING_KEY to sign the EIF" >&2
    exit 2
  fi
  sign_args=(--signing-certificate "$SIGNING_CERT" --private-key "$SIGNING_KEY")
fi

eif_tmp="$OUT_DIR/cosigner.eif.tmp.$$"
meas_tmp="$OUT_DIR/measurements.json.tmp.$$"
side_tmp="$OUT_DIR/cosigner.json.tmp.$$"
trap 'rm -f "$eif_tmp" "$meas_tmp" "$side_tmp"' EXIT

# The build id the enclave states in the wire handshake: the sidecar the image copied from the context.
cp "$CONTEXT/build/enclave-nsm.json" "$side_tmp"

echo "build-eif: nitro-cli build-enclave" >&2
nitro-cli build-enclave --docker-uri "$IMAGE" --output-file "$eif_tmp" "${sign_args[@]}" >"$meas_tmp"

# Refuse output that is not the documented measurements JSON before replacing anything.
node -e '
  const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).Measurements;
  for (const k of ["PCR0", "PCR1", "PCR2"]) if (!/^[0-9a-f]{96}$/.test(m[k])) throw new Error(k + " missing");
' "$meas_tmp"
mv -f "$eif_tmp" "$OUT_DIR/cosigner.eif"
mv -f "$meas_tmp" "$OUT_DIR/measurements.json"
mv -f "$side_tmp" "$OUT_DIR/cosigner.json"
trap - EXIT

pcr0="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).Measurements.PCR0)' "$OUT_DIR/measurements.json")"
echo "build-eif: $OUT_DIR/cosigner.eif  PCR0 $pcr0"
echo "build-eif: next: admit it in the key policy (cosigner key-policy $OUT_DIR/measurements.json ...) before running it"
