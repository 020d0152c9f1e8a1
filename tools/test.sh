#!/usr/bin/env bash
# All of ferrolite's tests: the Rust suites, then LiteRT checks of files ferrolite writes.
#
#   bash tools/test.sh            # everything (installs ai-edge-litert + numpy into tools/.venv)
#   FERROLITE_SKIP_LITERT=1 bash tools/test.sh   # Rust tests only (no Python needed)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# One build for everything: the CLI with its training commands (burn is compiled once, with the
# features the train crate's tests unify to), so the CLI's prune/qat/cluster tests run too.
cargo test --workspace --locked --features ferrolite/train

# aarch64 NEON kernels (issue #9): the runtime's unit tests plus the dispatch-level property test
# and the LiteRT int8 fixtures, cross-compiled and run under qemu-user (tools/setup_aarch64.sh
# installs qemu and the cross linker). Release mode: unoptimized kernels are far too slow under
# emulation. `FERROLITE_SKIP_AARCH64=1` skips this step.
if [[ "${FERROLITE_SKIP_AARCH64:-0}" != "1" ]]; then
    bash tools/setup_aarch64.sh
    cargo test --release --locked -p ferrolite-runtime --target aarch64-unknown-linux-gnu \
        --lib --test property_kernels --test quant_ops
fi

if [[ "${FERROLITE_SKIP_LITERT:-0}" == "1" ]]; then
    echo "skipping LiteRT checks (FERROLITE_SKIP_LITERT=1)"
    exit 0
fi

# Round-trip every model fixture (tests/fixtures/manifest.json) through ferrolite's IR and check LiteRT gives identical outputs.
bash tools/setup_venv.sh --ci
cargo build --release --locked -p ferrolite
out="target/litert-roundtrip"
rm -rf "$out" && mkdir -p "$out"
pairs=()
while IFS= read -r f; do
    name="$(basename "$f")"
    ./target/release/ferrolite convert "$f" -o "$out/$name" 2>/dev/null
    pairs+=("$f=$out/$name")
done < <(tools/.venv/bin/python -c '
import json
m = json.load(open("tests/fixtures/manifest.json"))
for model in m["models"].values():
    for v in model["variants"].values():
        print("tests/fixtures/" + v["file"])')
tools/.venv/bin/python tools/litert_check.py --inputs tests/fixtures/inputs_f32.npy --pairs "${pairs[@]}"

# Keras fixtures converted by ferrolite run in LiteRT and match Keras' own outputs (issue #6).
tools/.venv/bin/python tools/litert_keras_check.py --ferrolite target/release/ferrolite --out target/litert-keras

# Every file `ferrolite quantize` writes (6 modes x 3 fixtures) runs in LiteRT with our numbers (issue #7).
tools/.venv/bin/python tools/litert_quant_check.py --ferrolite target/release/ferrolite --out target/litert-quant

# Files written by prune / qat / cluster (issue #10) run in LiteRT with ferrolite's numbers; the
# debug CLI built above has the training commands (dependencies are built optimized).
tools/.venv/bin/python tools/litert_train_check.py --ferrolite target/debug/ferrolite --out target/litert-train
