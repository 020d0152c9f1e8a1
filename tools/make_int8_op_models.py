#!/usr/bin/env python3
"""Full-integer (int8) single-operator models for per-op ferrolite vs LiteRT timing.

    tools/.venv/bin/python tools/make_int8_op_models.py [--out target/bench-models] [--force]
    tools/.venv/bin/python tools/bench_vs_litert.py --models 'target/bench-models/ops_i8/*.tflite'

Reuses the layer shapes of ``make_bench_models.py``'s ``OPS`` (the MobileNetV2 layers that
dominate its profile) and converts each one-op Keras model with full-integer quantization
(int8 input/output, calibrated on 32 seeded uniform samples in [-1, 1)), writing
``<out>/ops_i8/<name>.tflite``. The ADD of a residual block is added as ``add_24x24x8``. These
files are benchmark-only (git-ignored under target/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import make_bench_models as mbm  # sets the TF environment variables first
import numpy as np

EXTRA = {"add_24x24x8": ((24, 24, 8), "add", {})}


def build(tf, shape, kind, args):
    """The float Keras model of one op (an ADD of two branches for `add`)."""
    if kind != "add":
        return mbm.build_op(tf, shape, kind, args)
    tf.keras.utils.set_random_seed(mbm.SEED)
    inp = tf.keras.Input(shape=shape, batch_size=1)
    a = tf.keras.layers.Conv2D(shape[-1], 1, use_bias=False)(inp)
    return tf.keras.Model(inp, tf.keras.layers.Add()([inp, a]))


def convert(tf, model, shape):
    rng = np.random.default_rng(mbm.SEED)
    calib = rng.uniform(-1.0, 1.0, size=(32, *shape)).astype(np.float32)

    def rep():
        for i in range(calib.shape[0]):
            yield [calib[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=mbm.DEFAULT_OUT, help="output directory")
    ap.add_argument("--force", action="store_true", help="regenerate existing files")
    args = ap.parse_args()
    import tensorflow as tf

    dst = args.out / "ops_i8"
    dst.mkdir(parents=True, exist_ok=True)
    for name, (shape, kind, op_args) in {**mbm.OPS, **EXTRA}.items():
        path = dst / f"{name}.tflite"
        if path.exists() and not args.force:
            continue
        data = convert(tf, build(tf, shape, kind, op_args), shape)
        path.write_bytes(data)
        print(f"wrote {path} ({len(data) / 1e6:.2f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
