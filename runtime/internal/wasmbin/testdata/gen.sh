#!/bin/sh
# Rebuilds the .wasm fixtures with wabt's wat2wasm (1.0.32 when they were
# committed): go generate ./runtime/internal/wasmbin
#
# A .wat file is compiled as the repository's "make generate" compiles every
# testdata/*.wat, with wat2wasm's default features, and must stay that way.
# A .wast file holds one module that needs features beyond those defaults; it
# is compiled with FEATURES (also the flags the tests pass to wasm-validate,
# see validateFeatures in fixtures_test.go).
set -eu
FEATURES="--enable-exceptions --enable-threads --enable-tail-call --enable-memory64 --enable-multi-memory --enable-extended-const --enable-relaxed-simd"
cd "$(dirname "$0")"
for wat in *.wat; do
	wat2wasm "$wat" -o "${wat%.wat}.wasm"
done
for wast in *.wast; do
	wat2wasm $FEATURES "$wast" -o "${wast%.wast}.wasm"
done
