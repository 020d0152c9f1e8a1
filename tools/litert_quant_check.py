#!/usr/bin/env python3
"""LiteRT runs the files `ferrolite quantize` writes and gets ferrolite's numbers.

CI tool (needs only ``ai-edge-litert`` and ``numpy``, from ``tools/setup_venv.sh --ci``):

    tools/.venv/bin/python tools/litert_quant_check.py --ferrolite target/release/ferrolite \
        --out target/litert-quant

For every float32 model fixture in tests/fixtures/manifest.json and every quantization mode
(float16, dynamic, int8 with float / int8 / uint8 I/O, int16x8), ferrolite quantizes the model
(calibrating on tests/fixtures/calibration_x.npy), then the same raw inputs (the first 16 test
digits, quantized for integer inputs exactly as the fixtures were made, via fixture_io) go to
LiteRT's reference kernels (1 thread, no delegates) and to `ferrolite run`. Integer modes must be
bit-identical; float16 and dynamic outputs must agree within a tolerance relative to the output
magnitude (float16: 1e-5, the same float kernels summing in another order; dynamic: 1e-4, the
issue's bound for hybrid kernels, whose on-the-fly input quantization can flip a rounding when
the float row min/max differ in the last bit). Prints one line per file and ``N passed, M
failed``; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

# (label, quantize flags, tolerance relative to max(1, |y|); None = bit-exact)
MODES: list[tuple[str, list[str], float | None]] = [
    ("float16", ["--mode", "float16"], 1e-5),
    ("dynamic", ["--mode", "dynamic"], 1e-4),
    ("int8", ["--mode", "int8"], None),
    ("int8_io_int8", ["--mode", "int8", "--io", "int8"], None),
    ("int8_io_uint8", ["--mode", "int8", "--io", "uint8"], None),
    ("int16x8", ["--mode", "int16x8"], None),
]


def float_models() -> list[tuple[str, Path]]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    out = []
    for name, model in manifest["models"].items():
        v = model.get("variants", {}).get("float32")
        if v:
            out.append((name, FIXTURES / v["file"]))
    return out


def compare(ours: np.ndarray, ref: np.ndarray, tol: float | None) -> tuple[bool, str]:
    if ours.dtype != ref.dtype or ours.shape != ref.shape:
        return False, f"ferrolite {ours.dtype}{list(ours.shape)} vs LiteRT {ref.dtype}{list(ref.shape)}"
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    worst = float(diff.max()) if diff.size else 0.0
    if tol is None:
        return ours.tobytes() == ref.tobytes(), f"max_abs_diff={worst:.3g} (bit-exact required)"
    scale = max(1.0, float(np.abs(ref.astype(np.float64)).max()) if ref.size else 1.0)
    return worst <= tol * scale, f"max_abs_diff={worst:.3g} (tolerance {tol:g} x {scale:.3g})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ferrolite", required=True, help="path to the ferrolite binary")
    ap.add_argument("--out", required=True, help="scratch directory")
    ap.add_argument("--inputs", default=str(FIXTURES / "inputs_f32.npy"))
    ap.add_argument("--calibration", default=str(FIXTURES / "calibration_x.npy"))
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x = np.load(args.inputs).astype(np.float32)
    passed = failed = 0
    for name, src in float_models():
        for label, flags, tol in MODES:
            q = out / f"{name}_{label}.tflite"
            tag = f"{name} {label}"
            cmd = [args.ferrolite, "quantize", str(src), "-o", str(q), *flags,
                   "--calibration-data", args.calibration]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {tag}: ferrolite quantize failed: {r.stderr.strip()}")
                failed += 1
                continue
            try:
                interp = fixture_io.make_interpreter(str(q), reference=True)
                refs, fed, _mode = fixture_io.run_model(interp, x)
            except Exception as e:  # noqa: BLE001 - report any LiteRT load/run failure
                print(f"FAIL {tag}: LiteRT cannot run our file: {e}")
                failed += 1
                continue
            fed_path = out / f"{name}_{label}.in.npy"
            np.save(fed_path, fed)
            res_dir = out / f"{name}_{label}.out"
            r = subprocess.run([args.ferrolite, "run", str(q), "--input", str(fed_path),
                                "--output-dir", str(res_dir), "--threads", "1"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {tag}: ferrolite run failed: {r.stderr.strip()}")
                failed += 1
                continue
            ok_all, msgs = True, []
            for k, ref in enumerate(refs):
                ours = np.load(res_dir / f"{k}.npy")
                ok, msg = compare(ours, ref, tol)
                ok_all &= ok
                msgs.append(f"out{k} {msg}")
            print(f"{'ok  ' if ok_all else 'FAIL'} {tag}: {'; '.join(msgs)}")
            passed += ok_all
            failed += not ok_all
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
