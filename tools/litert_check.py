#!/usr/bin/env python3
"""Bit-exactness check of rewritten .tflite files against originals, using LiteRT.

CI tool: needs only ``ai-edge-litert`` and ``numpy`` (``tools/setup_venv.sh --ci``).

    tools/.venv/bin/python tools/litert_check.py \
        --pairs ORIG.tflite=REWRITTEN.tflite [ORIG2=REW2 ...] \
        --inputs tests/fixtures/inputs_f32.npy

Each model of a pair is loaded with TFLite's built-in kernels only
(BUILTIN_WITHOUT_DEFAULT_DELEGATES, 1 thread), fed the same float inputs
(quantized for int8/uint8/int16 inputs exactly as make_fixtures.py does, via
fixture_io), and every output must be bit-identical (np.array_equal on the
raw output arrays, same dtype and shape). Prints one line per pair with the
max-abs difference and ends with ``N passed, M failed``. Exit status is
non-zero on any mismatch or load/run error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402


def _run(path: str, x: np.ndarray):
    interp = fixture_io.make_interpreter(path, reference=True)
    outs, _fed, mode = fixture_io.run_model(interp, x)
    return outs, mode


def check_pair(orig: str, rew: str, x: np.ndarray) -> tuple[bool, str]:
    """Compare one pair; returns (ok, message)."""
    a, mode_a = _run(orig, x)
    b, mode_b = _run(rew, x)
    if len(a) != len(b):
        return False, f"output count differs: {len(a)} vs {len(b)}"
    worst = 0.0
    problems = []
    for k, (ya, yb) in enumerate(zip(a, b)):
        if ya.dtype != yb.dtype or ya.shape != yb.shape:
            problems.append(f"out{k}: {ya.dtype}{list(ya.shape)} vs {yb.dtype}{list(yb.shape)}")
            continue
        diff = float(np.max(np.abs(ya.astype(np.float64) - yb.astype(np.float64)))) if ya.size else 0.0
        if np.isnan(diff):
            diff = float("inf")
        worst = max(worst, diff)
        # array_equal treats NaN != NaN; a bit-level compare accepts identical NaNs.
        if not (np.array_equal(ya, yb) or ya.tobytes() == yb.tobytes()):
            problems.append(f"out{k} differs")
    modes = mode_a if mode_a == mode_b else f"{mode_a}/{mode_b}"
    msg = f"max_abs_diff={worst:.9g} mode={modes}"
    if problems:
        return False, msg + " " + "; ".join(problems)
    return True, msg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", nargs="+", required=True, metavar="ORIG=REWRITTEN")
    ap.add_argument("--inputs", required=True, help=".npy float32 batch, e.g. tests/fixtures/inputs_f32.npy")
    args = ap.parse_args(argv)

    x = np.load(args.inputs)
    if x.dtype != np.float32:
        x = x.astype(np.float32)

    passed = failed = 0
    for spec in args.pairs:
        if "=" not in spec:
            print(f"FAIL {spec}: expected ORIG=REWRITTEN")
            failed += 1
            continue
        orig, rew = spec.split("=", 1)
        try:
            ok, msg = check_pair(orig, rew, x)
        except Exception as e:  # load or run error counts as a failure
            ok, msg = False, f"error: {type(e).__name__}: {e}"
            traceback.print_exc(file=sys.stderr)
        print(f"{'PASS' if ok else 'FAIL'} {orig} = {rew}: {msg}")
        if ok:
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
