#!/bin/sh
# Compiles the default policies in rego/ into an OPA bundle with a
# WebAssembly module: build/bundle.tar.gz. Needs the `opa` binary
# (https://www.openpolicyagent.org/docs/#running-opa); set OPA_BIN to use one
# that is not on PATH. Runs the Rego unit tests first.
#
# Extra entrypoints: ENTRYPOINTS="authz/allow my/rule" scripts/build-rego.sh
set -eu

cd "$(dirname "$0")/.."
OPA="${OPA_BIN:-opa}"
if ! command -v "$OPA" >/dev/null 2>&1; then
  echo "build:rego needs the opa binary (OPA 1.x) on PATH or in OPA_BIN; it was not found." >&2
  echo "Install it from https://www.openpolicyagent.org/docs/#running-opa, then run: npm run build:rego" >&2
  exit 1
fi

ENTRYPOINTS="${ENTRYPOINTS:-authz/allow authz/decision residency/decision residency/allow governance/promotion/decision governance/promotion/allow}"
OUT="${OUT:-build/bundle.tar.gz}"
REVISION="${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)}"

"$OPA" test rego/

set --
for ep in $ENTRYPOINTS; do set -- "$@" -e "$ep"; done
mkdir -p "$(dirname "$OUT")"
"$OPA" build -t wasm -b "$@" --ignore '*_test.rego' --revision "$REVISION" -o "$OUT" rego/
echo "wrote $OUT (revision $REVISION; entrypoints: $ENTRYPOINTS)"
