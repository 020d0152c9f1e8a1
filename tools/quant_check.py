#!/usr/bin/env python3
"""Run quantized .tflite files in LiteRT on the digits test set and print their accuracy.

Usage (from the repo root):

    tools/.venv/bin/python tools/quant_check.py OURS.tflite [MORE.tflite ...]
        [--data tests/fixtures/digits_test.npz] [--xnnpack] [--against TF.tflite]

For each file: size, operator list, accuracy on the `x`/`y` arrays of the .npz, and (with
`--against`, paired with the files in order) the accuracy of the reference file plus the largest
difference between the two models' float outputs. Integer inputs are quantized and integer
outputs dequantized exactly as tests/fixtures were made (tools/fixture_io.py), and the default
interpreter is TFLite's own kernels without delegates (the bit-exact oracle); `--xnnpack` uses
LiteRT's default resolver instead. Needs only numpy and ai-edge-litert. Exits non-zero when a
file fails to load or run in LiteRT.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def evaluate(path: Path, x: np.ndarray, y: np.ndarray, reference: bool) -> tuple[float, np.ndarray, list[str]]:
    """Accuracy, float outputs and operator names of one model on (x, y)."""
    interp = fixture_io.make_interpreter(path, reference=reference)
    outs, _, _ = fixture_io.run_model(interp, x)
    probs = fixture_io.output_as_float(interp.get_output_details()[0], outs[0])
    acc = float(np.mean(np.argmax(probs, axis=-1) == y))
    return acc, probs, fixture_io.op_names(interp)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help=".tflite files to evaluate")
    ap.add_argument("--data", type=Path, default=REPO / "tests" / "fixtures" / "digits_test.npz")
    ap.add_argument("--xnnpack", action="store_true", help="use LiteRT's default resolver (XNNPACK)")
    ap.add_argument("--against", nargs="*", type=Path, default=[], help="reference files, one per file")
    args = ap.parse_args()
    if args.against and len(args.against) != len(args.files):
        ap.error("--against needs exactly one reference file per file")

    with np.load(args.data) as d:
        x, y = d["x"].astype(np.float32), d["y"]
    status = 0
    for k, path in enumerate(args.files):
        try:
            acc, probs, ops = evaluate(path, x, y, reference=not args.xnnpack)
        except Exception as e:  # report and keep going
            print(f"{path}: FAILED in LiteRT: {type(e).__name__}: {e}")
            status = 1
            continue
        line = f"{path}  {path.stat().st_size:7d} B  accuracy {acc:.4f}"
        if args.against:
            ref = args.against[k]
            ref_acc, ref_probs, ref_ops = evaluate(ref, x, y, reference=not args.xnnpack)
            diff = float(np.max(np.abs(probs - ref_probs)))
            agree = float(np.mean(np.argmax(probs, axis=-1) == np.argmax(ref_probs, axis=-1)))
            line += (
                f"  | {ref.name} {ref.stat().st_size:7d} B  accuracy {ref_acc:.4f}"
                f"  | max |out diff| {diff:.3g}, top-1 agreement {agree:.4f}"
            )
            if ops != ref_ops:
                line += f"\n    operators differ: {' '.join(ops)}  vs  {' '.join(ref_ops)}"
        print(line)
        print(f"    ops: {' '.join(ops)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
