#!/usr/bin/env python3
"""LiteRT check of Keras conversions made by ferrolite (CI; needs ai-edge-litert + numpy only).

    tools/.venv/bin/python tools/litert_keras_check.py --ferrolite target/release/ferrolite --out DIR

Every Keras fixture (.h5 / .keras) listed in tests/fixtures/manifest.json (digit models) and
tests/fixtures/keras/manifest.json is converted with `ferrolite convert`, loaded in LiteRT
(TFLite's built-in kernels, 1 thread), run through its `serving_default` signature on the
fixture inputs, and compared with Keras' own outputs: max-abs error <= 1e-5 * max(1, |keras|)
(issue #6). Ends with `N passed, M failed`; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")


def cases():
    """(keras file, {input name: array}, [output names] or None, [golden arrays])."""
    x = np.load(os.path.join(FIX, "inputs_f32.npy"))
    main = json.load(open(os.path.join(FIX, "manifest.json")))
    for name, model in main["models"].items():
        golden = np.load(os.path.join(FIX, name, "keras_out.npy"))
        for ext in ("h5", "keras"):
            yield os.path.join(FIX, name, f"{name}.{ext}"), {"input": x}, None, [golden]
    kdir = os.path.join(FIX, "keras")
    km = json.load(open(os.path.join(kdir, "manifest.json")))
    for name, model in km["models"].items():
        inputs = {i["name"]: np.load(os.path.join(kdir, i["file"])) for i in model["inputs"]}
        outs = [o["name"] for o in model["outputs"]]
        for f in model["files"]:
            goldens = [np.load(os.path.join(kdir, g)) for g in f["outputs"]]
            yield os.path.join(kdir, f["file"]), inputs, outs, goldens


def check(ferrolite: str, out_dir: str, path: str, inputs, out_names, goldens) -> tuple[bool, str]:
    target = os.path.join(out_dir, os.path.basename(path) + ".tflite")
    subprocess.run([ferrolite, "convert", path, "-o", target], check=True, capture_output=True)
    interp = fixture_io.make_interpreter(target, reference=True)
    runner = interp.get_signature_runner("serving_default")
    sig_inputs = list(runner.get_input_details().keys())
    if set(sig_inputs) != set(inputs) and len(inputs) == 1 and len(sig_inputs) == 1:
        inputs = {sig_inputs[0]: next(iter(inputs.values()))}
    result = runner(**inputs)
    names = out_names or list(result.keys())
    worst = 0.0
    for name, want in zip(names, goldens):
        got = result[name]
        if got.shape != want.shape:
            return False, f"output {name}: shape {got.shape} vs Keras {want.shape}"
        err = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
        worst = max(worst, float(err.max()))
    return worst <= 1e-5, f"max scaled error {worst:.2e}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ferrolite", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    passed = failed = 0
    for path, inputs, outs, goldens in cases():
        rel = os.path.relpath(path, ROOT)
        try:
            ok, msg = check(args.ferrolite, args.out, path, inputs, outs, goldens)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            ok, msg = False, f"{type(e).__name__}: {e}"
        print(f"{'PASS' if ok else 'FAIL'} {rel}: {msg}")
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
