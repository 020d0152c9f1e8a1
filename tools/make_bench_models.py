#!/usr/bin/env python3
"""Generate the benchmark-only models used by tools/bench_vs_litert.py.

    tools/.venv/bin/python tools/make_bench_models.py [--out target/bench-models] [--force] [--ops]

Builds a MobileNetV2-like network (tf-keras ``MobileNetV2``: alpha 0.35, 96x96x3
input, 1000 classes, random initial weights -- nothing is downloaded) and
converts it with TFLiteConverter to four variants:

* ``mobilenetv2_035_96_float32.tflite``  plain float32
* ``mobilenetv2_035_96_dynamic.tflite``  dynamic-range (int8 weights, float activations)
* ``mobilenetv2_035_96_int8.tflite``     full integer, int8 input/output, calibrated on
  100 seeded uniform-[0, 1) samples
* ``mobilenetv2_035_96_float16.tflite``  float16 weights

With ``--ops`` it instead writes single-operator float32 models with the shapes of the
MobileNetV2 layers that dominate its profile (``OPS`` below) into ``<out>/ops/``, so that
``bench_vs_litert.py --models 'target/bench-models/ops/*.tflite'`` times each op kind against
LiteRT on its own.

The four files total about 13 MB (the float32 one alone is ~6.6 MB), too big for
tests/fixtures/, so they are generated on demand into ``target/bench-models/``
(git-ignored); bench_vs_litert.py calls this script when they are missing.
BatchNorm statistics are randomised (seeded) so that folding and quantization
see realistic, non-identity scales. Deterministic for a fixed TF version.
"""

from __future__ import annotations

import os

os.environ.update(
    {
        "TF_USE_LEGACY_KERAS": "1",
        "TF_DETERMINISTIC_OPS": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
    }
)

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "target" / "bench-models"
NAME = "mobilenetv2_035_96"
VARIANTS = ["float32", "dynamic", "int8", "float16"]
SEED = 2024
N_CALIB = 100


def model_paths(out: Path) -> dict[str, Path]:
    """Variant name -> .tflite path inside `out`."""
    return {v: out / f"{NAME}_{v}.tflite" for v in VARIANTS}


def build_model(tf):
    tf.keras.utils.set_random_seed(SEED)
    model = tf.keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=1000
    )
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            n = gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, n).astype(np.float32),
                    rng.normal(0.0, 0.1, n).astype(np.float32),
                    rng.normal(0.0, 0.1, n).astype(np.float32),
                    rng.uniform(0.5, 2.0, n).astype(np.float32),
                ]
            )
    return model


def convert(tf, model, variant: str, calib: np.ndarray) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)

    def rep():
        for i in range(calib.shape[0]):
            yield [calib[i : i + 1]]

    if variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif variant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant != "float32":
        raise ValueError(variant)
    return conv.convert()


def generate(out: Path, force: bool = False) -> dict[str, Path]:
    """Writes the missing variants (all of them with `force`) and returns their paths."""
    paths = model_paths(out)
    todo = [v for v, p in paths.items() if force or not p.exists()]
    if not todo:
        return paths
    import tensorflow as tf

    out.mkdir(parents=True, exist_ok=True)
    model = build_model(tf)
    calib = np.random.default_rng(SEED + 1).uniform(0, 1, (N_CALIB, 96, 96, 3)).astype(np.float32)
    for v in todo:
        data = convert(tf, model, v, calib)
        tmp = paths[v].with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(paths[v])
        print(f"wrote {paths[v]} ({len(data) / 1e6:.2f} MB)", file=sys.stderr)
    return paths


# name -> (input shape without batch, layer kind, arguments). Shapes follow MobileNetV2-0.35 at
# 96x96: the stem conv, the depthwise layers (stride 1 and 2, from 48x48 down to the 3x3 maps of
# the last blocks), small 1x1 convs, the last 1x1 conv and the classifier.
OPS = {
    "conv3x3s2_96x96x3_16": ((96, 96, 3), "conv", dict(filters=16, kernel=3, stride=2)),
    "dw3x3s1_48x48x16": ((48, 48, 16), "dw", dict(kernel=3, stride=1)),
    "dw3x3s2_48x48x48": ((48, 48, 48), "dw", dict(kernel=3, stride=2)),
    "dw3x3s1_24x24x48": ((24, 24, 48), "dw", dict(kernel=3, stride=1)),
    "dw3x3s1_6x6x192": ((6, 6, 192), "dw", dict(kernel=3, stride=1)),
    "dw3x3s1_12x12x96": ((12, 12, 96), "dw", dict(kernel=3, stride=1)),
    "dw3x3s1_6x6x144": ((6, 6, 144), "dw", dict(kernel=3, stride=1)),
    "dw3x3s1_3x3x336": ((3, 3, 336), "dw", dict(kernel=3, stride=1)),
    "dw3x3s2_24x24x48": ((24, 24, 48), "dw", dict(kernel=3, stride=2)),
    "dw3x3s2_12x12x96": ((12, 12, 96), "dw", dict(kernel=3, stride=2)),
    "dw3x3s2_6x6x192": ((6, 6, 192), "dw", dict(kernel=3, stride=2)),
    "dw5x5s1_24x24x48": ((24, 24, 48), "dw", dict(kernel=5, stride=1)),
    "pw_48x48x16_8": ((48, 48, 16), "conv", dict(filters=8, kernel=1, stride=1, act=False)),
    "pw_48x48x8_48": ((48, 48, 8), "conv", dict(filters=48, kernel=1, stride=1)),
    "pw_24x24x48_8": ((24, 24, 48), "conv", dict(filters=8, kernel=1, stride=1, act=False)),
    "pw_12x12x96_16": ((12, 12, 96), "conv", dict(filters=16, kernel=1, stride=1, act=False)),
    "pw_3x3x112_1280": ((3, 3, 112), "conv", dict(filters=1280, kernel=1, stride=1)),
    "fc_1280_1000": ((1280,), "fc", dict(units=1000)),
}


def build_op(tf, shape, kind, args):
    """A one-operator Keras model (bias and ReLU6 fuse into the op on conversion)."""
    tf.keras.utils.set_random_seed(SEED)
    layers = tf.keras.layers
    x = inp = tf.keras.Input(shape=shape, batch_size=1)
    if kind == "conv":
        x = layers.Conv2D(args["filters"], args["kernel"], args["stride"], padding="same")(x)
    elif kind == "dw":
        x = layers.DepthwiseConv2D(args["kernel"], args["stride"], padding="same")(x)
    else:
        x = layers.Dense(args["units"], use_bias=False)(x)
    if kind != "fc" and args.get("act", True):
        x = layers.ReLU(6.0)(x)
    return tf.keras.Model(inp, x)


def generate_ops(out: Path, force: bool = False) -> list[Path]:
    """Writes the single-operator models of `OPS` into `out/ops/`; returns their paths."""
    dst = out / "ops"
    paths = {name: dst / f"{name}.tflite" for name in OPS}
    todo = [n for n, p in paths.items() if force or not p.exists()]
    if todo:
        import tensorflow as tf

        dst.mkdir(parents=True, exist_ok=True)
        for name in todo:
            model = build_op(tf, *OPS[name])
            data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
            paths[name].write_bytes(data)
            print(f"wrote {paths[name]} ({len(data) / 1e6:.2f} MB)", file=sys.stderr)
    return list(paths.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument("--force", action="store_true", help="regenerate existing files")
    ap.add_argument("--ops", action="store_true", help="write the single-op models instead")
    args = ap.parse_args()
    if args.ops:
        generate_ops(args.out, args.force)
    else:
        generate(args.out, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
