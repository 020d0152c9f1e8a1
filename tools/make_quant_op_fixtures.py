#!/usr/bin/env python3
"""Single-operator *quantized* reference models with LiteRT goldens (issue #5).

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_quant_op_fixtures.py

Every case is one operator (plus whatever requantizing QUANTIZE ops TF's quantizer inserts) with
deliberately awkward quantization: tiny and huge activation scales, zero points at or near the
int8 extremes, per-channel weights whose scales span 1e-6..1e2, odd shapes. Three builds:

* ``int8``: a ``tf.function`` converted with ``TFLiteConverter.from_concrete_functions``,
  ``optimizations=[DEFAULT]``, a representative dataset drawn uniformly from each input's
  calibration range ``[lo, hi]`` (the range's end points are always included, so scales are
  exactly ``(hi - lo) / 255`` after TF's nudging), ``supported_ops=[TFLITE_BUILTINS_INT8]`` and
  int8 I/O.  ``int8_u8io`` is the same with uint8 I/O (the model then starts and ends with a
  requantizing QUANTIZE uint8 <-> int8), ``int8_fio`` with float I/O (QUANTIZE f32 -> int8 and
  DEQUANTIZE int8 -> f32).
* ``uint8``: a *legacy* uint8 full-integer model, built the TF1 way (``tf.compat.v1`` graph with
  ``fake_quant_with_min_max_args`` on inputs, weights and outputs, ``inference_type=uint8``), so
  the operator itself runs on uint8 tensors with uint8 per-tensor weights.

Integer inputs are random over the *whole* storage range (so out-of-calibration values and the
saturation paths are exercised), with the extremes always present; float inputs (``int8_fio``)
are uniform over the calibration range widened by 25 %. Goldens come from LiteRT's built-in
kernels, one thread, no delegate (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``, the project's bit-exact
oracle; ``xnnpack_agrees`` in the manifest records whether the default resolver with XNNPACK
gives the same bytes).

Written under ``tests/fixtures/quant_ops/``: ``<case>.tflite``, ``<case>.in<k>.npy`` (model input
order), ``<case>.out<k>.npy`` (model output order) and ``manifest.json`` (per case: the ops LiteRT
runs, the operators the case is for, build, note, inputs/outputs with quantization). The script
fails when a case's operator does not appear in the converted model. Deterministic (fixed seeds,
one thread, no timestamps).
"""

from __future__ import annotations

import os

os.environ.update(
    {
        "TF_USE_LEGACY_KERAS": "1",
        "TF_DETERMINISTIC_OPS": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import zlib  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

SEED = 20260505
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "quant_ops"
REP_SAMPLES = 48

tf: Any = None  # imported in main()


@dataclass
class Q:
    """A runtime input: shape and calibration range [lo, hi] (float) or a fixed-value int input."""

    shape: tuple
    lo: float = -1.0
    hi: float = 1.0
    dtype: str = "float32"  # "int32" for index-like inputs (then lo/hi is the integer range)


@dataclass
class Case:
    name: str
    make: Callable  # make(rng, ctx) -> fn(*inputs); ctx.fqw wraps constant weights (uint8 builds)
    inputs: list
    expect: list
    note: str
    builds: tuple = ("int8",)
    out_range: tuple | None = None  # uint8 builds: fake-quant range of the output
    extra: dict = field(default_factory=dict)


CASES: list[Case] = []


def case(name, inputs, expect, note, builds=("int8",), out_range=None):
    def deco(make):
        CASES.append(Case(name, make, inputs, expect if isinstance(expect, list) else [expect], note, builds,
                          out_range))
        return make

    return deco


def simple(name, inputs, expect, note, fn, builds=("int8",), out_range=None):
    CASES.append(Case(name, lambda _r, _c: fn, inputs, expect if isinstance(expect, list) else [expect], note,
                      builds, out_range))


class Ctx:
    """What a case builder may use: `fqw(w)` fake-quantizes a constant in uint8 builds (no-op otherwise)."""

    def __init__(self, legacy: bool):
        self.legacy = legacy

    def fqw(self, w: np.ndarray):
        t = tf.constant(w.astype(np.float32))
        if not self.legacy:
            return t
        lo, hi = float(min(w.min(), 0.0)), float(max(w.max(), 0.0))
        return tf.quantization.fake_quant_with_min_max_args(t, lo, hi)

    def fq(self, t, lo, hi):
        return tf.quantization.fake_quant_with_min_max_args(t, lo, hi) if self.legacy else t


def wide_channels(rng, shape, axis, lo_exp=-6.0, hi_exp=2.0):
    """Weights whose per-channel scale (max|w|/127) runs log-uniformly from 10^lo_exp to 10^hi_exp."""
    n = shape[axis]
    scales = np.logspace(lo_exp, hi_exp, n)
    w = rng.standard_normal(shape)
    w = w / np.max(np.abs(w), axis=tuple(i for i in range(len(shape)) if i != axis), keepdims=True)
    bshape = [1] * len(shape)
    bshape[axis] = n
    return (w * (scales * 127.0).reshape(bshape)).astype(np.float32)


def normal(rng, *shape, s=0.5):
    return (rng.standard_normal(shape) * s).astype(np.float32)


# ================================================================ cases
# NHWC. "builds" lists the variants generated for a case.

# ---- convolutions


@case("conv2d_pc_wide_scales", [Q((1, 7, 5, 3), -1, 1)], "CONV_2D",
      "3x3 stride 2 SAME on 7x5, 8 output channels with weight scales 1e-6..1e2, bias, fused RELU",
      builds=("int8", "int8_u8io"))
def _(r, c):
    w = c.fqw(wide_channels(r, (3, 3, 3, 8), 3))
    b = tf.constant((np.logspace(-6, 2, 8) * r.standard_normal(8)).astype(np.float32))
    return lambda x: tf.nn.relu(tf.nn.conv2d(x, w, 2, "SAME") + b)


@case("conv2d_tiny_input_dil2_relu6", [Q((1, 9, 8, 2), -2e-3, 1e-3)], "CONV_2D",
      "input scale ~1.2e-5, 3x2 kernel, dilation 2, VALID, bias, fused RELU6")
def _(r, c):
    w, b = c.fqw(normal(r, 3, 2, 2, 5, s=30.0)), tf.constant(normal(r, 5, s=0.01))
    return lambda x: tf.nn.relu6(tf.nn.conv2d(x, w, 1, "VALID", dilations=2) + b)


@case("conv2d_huge_zp_min_s12", [Q((2, 5, 7, 3), -0.05, 2000.0)], "CONV_2D",
      "input scale ~7.8, zero point -128, batch 2, strides (1,2), SAME, 2x2 kernel, no bias")
def _(r, c):
    w = c.fqw(normal(r, 2, 2, 3, 4, s=0.02))
    return lambda x: tf.nn.conv2d(x, w, [1, 2], "SAME")


@case("conv2d_legacy", [Q((1, 7, 5, 3), -2.0, 3.0)], "CONV_2D",
      "legacy uint8: 3x3 stride 2 SAME, uint8 per-tensor weights, relu", builds=("uint8",), out_range=(0.0, 6.0))
def _(r, c):
    w = c.fqw(normal(r, 3, 3, 3, 4))
    return lambda x: tf.nn.relu(tf.nn.conv2d(x, w, 2, "SAME"))


@case("depthwise_pc_wide_mult2", [Q((1, 7, 5, 3), -1, 1)], "DEPTHWISE_CONV_2D",
      "3x3 stride 2 SAME, multiplier 2 (6 channels, scales 1e-6..1e2), bias, fused RELU6",
      builds=("int8", "int8_u8io"))
def _(r, c):
    w = wide_channels(r, (3, 3, 3, 2), 3).reshape(3, 3, 3, 2)
    w = (w.reshape(9, 6) / np.max(np.abs(w.reshape(9, 6)), axis=0) * np.logspace(-6, 2, 6) * 127).reshape(3, 3, 3, 2)
    w = c.fqw(w.astype(np.float32))
    b = tf.constant(normal(r, 6, s=0.1))
    return lambda x: tf.nn.relu6(tf.nn.depthwise_conv2d(x, w, [1, 2, 2, 1], "SAME") + b)


@case("depthwise_zp_max_dil2", [Q((1, 8, 9, 4), -60.0, 0.05)], "DEPTHWISE_CONV_2D",
      "input zero point ~127 (range [-60, 0.05]), 3x3 dilation 2 VALID, bias")
def _(r, c):
    w, b = c.fqw(normal(r, 3, 3, 4, 1)), tf.constant(normal(r, 4))
    return lambda x: tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID", dilations=[2, 2]) + b


@case("depthwise_legacy", [Q((1, 6, 5, 3), -1.0, 4.0)], "DEPTHWISE_CONV_2D",
      "legacy uint8: 3x3 SAME stride 1, multiplier 1", builds=("uint8",), out_range=(-8.0, 8.0))
def _(r, c):
    w = c.fqw(normal(r, 3, 3, 3, 1))
    return lambda x: tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME")


@case("transpose_conv_pc_wide_s2_bias", [Q((1, 4, 3, 3), -1, 1)], "TRANSPOSE_CONV",
      "3x3 stride 2 SAME -> 8x6, 5 output channels with scales 1e-6..1e2, bias",
      builds=("int8", "int8_u8io"))
def _(r, c):
    w = c.fqw(wide_channels(r, (3, 3, 5, 3), 2))
    b = tf.constant(normal(r, 5, s=0.3))
    return lambda x: tf.nn.conv2d_transpose(x, w, [1, 8, 6, 5], 2, "SAME") + b


@case("transpose_conv_valid_odd_zp", [Q((1, 3, 4, 2), -0.02, 9.0)], "TRANSPOSE_CONV",
      "2x3 kernel, strides (2,3), VALID -> 7x12 (odd), input zero point -128, no bias")
def _(r, c):
    w = c.fqw(normal(r, 3, 3, 3, 2))
    return lambda x: tf.nn.conv2d_transpose(x, w, [1, 7, 12, 3], [2, 3], "VALID")


@case("transpose_conv_relu_tiny", [Q((1, 3, 3, 2), -1e-3, 1e-3)], "TRANSPOSE_CONV",
      "tiny input scale, 3x3 stride 2 SAME -> 5x6, bias, relu")
def _(r, c):
    w, b = c.fqw(normal(r, 3, 3, 3, 2, s=50.0)), tf.constant(normal(r, 3, s=0.05))
    return lambda x: tf.nn.relu(tf.nn.conv2d_transpose(x, w, [1, 5, 6, 3], 2, "SAME") + b)


@case("transpose_conv_legacy", [Q((1, 3, 4, 2), -1.0, 1.0)], "TRANSPOSE_CONV",
      "legacy uint8: 3x3 stride 2 SAME -> 6x8", builds=("uint8",), out_range=(-6.0, 6.0))
def _(r, c):
    w = c.fqw(normal(r, 3, 3, 3, 2))
    return lambda x: tf.nn.conv2d_transpose(x, w, [1, 6, 8, 3], 2, "SAME")


# ---- matrix products


@case("fc_pc_wide_relu", [Q((3, 7), -4, 4)], "FULLY_CONNECTED",
      "7 -> 6 units, weight scales 1e-6..1e2 per unit, bias, fused RELU", builds=("int8", "int8_u8io"))
def _(r, c):
    w = c.fqw(wide_channels(r, (7, 6), 1))
    b = tf.constant(normal(r, 6))
    return lambda x: tf.nn.relu(tf.matmul(x, w) + b)


@case("fc_tiny_scale_rank3", [Q((2, 3, 5), -1e-4, 3e-4)], "FULLY_CONNECTED",
      "rank-3 input (keep_num_dims), input scale ~1.6e-6, no bias")
def _(r, c):
    w = c.fqw(normal(r, 5, 4, s=100.0))
    return lambda x: tf.matmul(x, w)


@case("fc_legacy", [Q((2, 9), -3.0, 1.0)], "FULLY_CONNECTED", "legacy uint8: 9 -> 5 units, bias",
      builds=("uint8",), out_range=(-10.0, 10.0))
def _(r, c):
    w, b = c.fqw(normal(r, 9, 5)), tf.constant(normal(r, 5))
    return lambda x: tf.matmul(x, w) + b


simple("batch_matmul_bcast", [Q((2, 3, 4), -2, 2), Q((1, 4, 5), -0.01, 0.03)], "BATCH_MATMUL",
       "two runtime operands, batch broadcast, very different ranges", lambda a, b: tf.matmul(a, b))
simple("batch_matmul_adj", [Q((2, 4, 3), -5, 1), Q((2, 5, 4), -1, 1)], "BATCH_MATMUL",
       "adj_x and adj_y", lambda a, b: tf.matmul(a, b, transpose_a=True, transpose_b=True))

# ---- elementwise binary

simple("add_bcast_tiny_huge", [Q((1, 3, 1, 5), -1e-3, 1e-3), Q((2, 1, 4, 5), -100, 50)], "ADD",
       "broadcast both ways, scales 8e-6 vs 0.6", lambda a, b: a + b, builds=("int8", "int8_u8io"))
simple("add_relu_zp", [Q((3, 7), 0, 5), Q((3, 7), -9, 0.02)], "ADD",
       "zero points -128 and ~127, fused RELU", lambda a, b: tf.nn.relu(a + b))
simple("add_legacy", [Q((2, 5), -1, 3), Q((5,), -2, 2)], "ADD", "legacy uint8, broadcast",
       lambda a, b: a + b, builds=("uint8",), out_range=(-3.0, 5.0))
simple("sub_bcast", [Q((4, 5), 0, 200), Q((5,), -0.01, 0.01)], "SUB",
       "x - y, y's scale 20000x smaller", lambda a, b: a - b)
simple("sub_relu6", [Q((2, 3, 4), -3, 8), Q((2, 3, 4), -2, 2)], "SUB", "fused RELU6",
       lambda a, b: tf.nn.relu6(a - b))
simple("mul_bcast_extreme", [Q((2, 3, 4), -1000, 1000), Q((3, 1), -1e-3, 2e-3)], "MUL",
       "scales 7.8 and 1.2e-5, broadcast", lambda a, b: a * b, builds=("int8", "int8_u8io"))
simple("mul_same_shape_zp", [Q((5, 7), -0.1, 6), Q((5, 7), -6, 0.1)], "MUL", "zero points near both ends",
       lambda a, b: a * b)
simple("mul_legacy", [Q((3, 4), -1, 1), Q((3, 4), 0, 2)], "MUL", "legacy uint8",
       lambda a, b: a * b, builds=("uint8",), out_range=(-2.0, 2.0))
simple("maximum_bcast", [Q((2, 3, 4), -5, 5), Q((4,), -0.5, 0.2)], "MAXIMUM",
       "different input ranges (TF requantizes to one scale), broadcast", lambda a, b: tf.maximum(a, b))
simple("minimum_same", [Q((3, 5), -2, 7), Q((3, 5), -2, 7)], "MINIMUM", "equal ranges",
       lambda a, b: tf.minimum(a, b), builds=("int8", "int8_u8io"))

# ---- pooling and reductions

simple("avg_pool_3x3_s2_same", [Q((1, 7, 5, 3), -0.5, 30)], "AVERAGE_POOL_2D",
       "3x3 stride 2 SAME on 7x5 (partial windows)", lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME"),
       builds=("int8", "int8_u8io"))
simple("avg_pool_relu6", [Q((2, 6, 6, 2), -8, 8)], "AVERAGE_POOL_2D", "2x3 stride (2,1) VALID, fused RELU6",
       lambda x: tf.nn.relu6(tf.nn.avg_pool2d(x, [2, 3], [2, 1], "VALID")))
simple("avg_pool_legacy", [Q((1, 5, 5, 2), -1, 1)], "AVERAGE_POOL_2D", "legacy uint8 2x2 stride 2 SAME",
       lambda x: tf.nn.avg_pool2d(x, 2, 2, "SAME"), builds=("uint8",), out_range=(-1.0, 1.0))
simple("max_pool_2x3_s21", [Q((1, 7, 5, 3), -1e-3, 5e-3)], "MAX_POOL_2D",
       "2x3 stride (2,1) SAME, tiny scale", lambda x: tf.nn.max_pool2d(x, [2, 3], [2, 1], "SAME"),
       builds=("int8", "int8_u8io"))
simple("max_pool_legacy", [Q((1, 6, 4, 2), -4, 4)], "MAX_POOL_2D", "legacy uint8 3x3 stride 2 SAME",
       lambda x: tf.nn.max_pool2d(x, 3, 2, "SAME"), builds=("uint8",), out_range=(-4.0, 4.0))
simple("mean_hw_keepdims", [Q((1, 7, 5, 3), -3, 10)], "MEAN", "axes [1,2] keep_dims (the specialised path)",
       lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True), builds=("int8", "int8_u8io"))
simple("mean_last_axis", [Q((2, 3, 7), -100, 1)], "MEAN", "axis -1, keep_dims false",
       lambda x: tf.reduce_mean(x, axis=-1))
simple("mean_axes_0_2", [Q((3, 4, 5), -1e-2, 1e-2)], "MEAN", "axes [0,2], tiny scale",
       lambda x: tf.reduce_mean(x, axis=[0, 2]))
simple("mean_legacy", [Q((1, 4, 3, 2), 0, 8)], "MEAN", "legacy uint8 axes [1,2]",
       lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True), builds=("uint8",), out_range=(0.0, 8.0))
simple("sum_axis1", [Q((2, 5, 3), -1, 1)], "SUM", "axis 1, keep_dims false", lambda x: tf.reduce_sum(x, axis=1))
simple("sum_axes_12_keep", [Q((1, 7, 5, 3), -0.2, 3)], "SUM", "axes [1,2] keep_dims",
       lambda x: tf.reduce_sum(x, axis=[1, 2], keepdims=True))
simple("arg_max_last", [Q((3, 7), -5, 5)], "ARG_MAX", "axis -1, int64 output",
       lambda x: tf.argmax(x, axis=-1), builds=("int8", "int8_u8io"))
simple("arg_max_axis1_i32", [Q((2, 5, 3), -1e-3, 1e-3)], "ARG_MAX", "axis 1, int32 output, ties likely",
       lambda x: tf.argmax(x, axis=1, output_type=tf.int32))

# ---- data movement

simple("concat_diff_scales", [Q((2, 3), -1, 1), Q((2, 4), -100, 20)], "CONCATENATION",
       "inputs with different ranges (TF inserts requantizing QUANTIZE ops), axis -1",
       lambda a, b: tf.concat([a, b], axis=-1), builds=("int8", "int8_u8io"))
simple("concat3_axis1", [Q((1, 2, 5, 3), -2, 2), Q((1, 3, 5, 3), -2, 2), Q((1, 1, 5, 3), -2, 2)],
       "CONCATENATION", "three inputs, axis 1", lambda a, b, d: tf.concat([a, b, d], axis=1))
simple("concat_legacy", [Q((2, 3), -1, 1), Q((2, 2), -4, 4)], "CONCATENATION",
       "legacy uint8, different input scales rescaled by the kernel", lambda a, b: tf.concat([a, b], axis=1),
       builds=("uint8",), out_range=(-4.0, 4.0))
simple("reshape_3d_2d", [Q((2, 3, 4), -7, 3)], "RESHAPE", "[2,3,4] -> [4,6]", lambda x: tf.reshape(x, [4, 6]),
       builds=("int8", "int8_u8io"))
simple("squeeze_axis1", [Q((3, 1, 5), -1, 1)], ["SQUEEZE|RESHAPE"], "squeeze axis 1",
       lambda x: tf.squeeze(x, axis=1))
simple("transpose_0312", [Q((1, 7, 5, 3), -4, 0.5)], "TRANSPOSE", "perm [0,3,1,2]",
       lambda x: tf.transpose(x, [0, 3, 1, 2]), builds=("int8", "int8_u8io"))
simple("pad_asym", [Q((1, 3, 5, 2), -0.5, 9)], "PAD", "paddings [[0,0],[1,2],[0,3],[0,0]], zero point ~-115",
       lambda x: tf.pad(x, [[0, 0], [1, 2], [0, 3], [0, 0]]), builds=("int8", "int8_u8io"))
simple("padv2_value", [Q((2, 3, 4), -2, 2)], "PADV2", "constant_values 1.5",
       lambda x: tf.pad(x, [[0, 1], [2, 0], [1, 1]], constant_values=1.5))
simple("strided_slice_rev", [Q((1, 7, 5, 3), -1, 1)], "STRIDED_SLICE", "x[:, 1:-1:2, ::-1, :]",
       lambda x: x[:, 1:-1:2, ::-1, :], builds=("int8", "int8_u8io"))
simple("slice_3d", [Q((3, 5, 4), -3, 3)], "SLICE", "tf.slice begin [1,0,2] size [2,-1,2]",
       lambda x: tf.slice(x, [1, 0, 2], [2, -1, 2]))
simple("gather_axis1", [Q((2, 5, 3), -1, 4)], "GATHER", "constant indices [4,0,4,2] along axis 1",
       lambda x: tf.gather(x, [4, 0, 4, 2], axis=1), builds=("int8", "int8_u8io"))
simple("split3_last", [Q((2, 4, 6), -5, 5)], "SPLIT", "three outputs along the last axis",
       lambda x: tf.split(x, 3, axis=-1))
simple("pack_axis1", [Q((3, 4), -1, 1), Q((3, 4), -1, 1)], "PACK", "stack two inputs along axis 1",
       lambda a, b: tf.stack([a, b], axis=1), builds=("int8", "int8_u8io"))
simple("pack_diff_scales", [Q((2, 3), -1, 1), Q((2, 3), -30, 30)], "PACK",
       "stack inputs with different ranges (requantized first)", lambda a, b: tf.stack([a, b], axis=0))


# ---- resizing


def _rs(kind, size, align, half):
    op = tf_raw("ResizeBilinear" if kind == "bilinear" else "ResizeNearestNeighbor")
    return lambda x: op(images=x, size=size, align_corners=align, half_pixel_centers=half)


def tf_raw(name):
    return lambda **kw: getattr(tf.raw_ops, name)(**kw)


for _kind, _tfl in (("bilinear", "RESIZE_BILINEAR"), ("nearest", "RESIZE_NEAREST_NEIGHBOR")):
    simple(f"resize_{_kind}_up_half_pixel", [Q((1, 3, 5, 2), -1, 1)], _tfl, "3x5 -> 7x9, half_pixel_centers",
           _rs(_kind, [7, 9], False, True), builds=("int8", "int8_u8io"))
    simple(f"resize_{_kind}_up_align", [Q((1, 3, 4, 3), -0.1, 20)], _tfl, "3x4 -> 5x7, align_corners",
           _rs(_kind, [5, 7], True, False))
    simple(f"resize_{_kind}_up_default", [Q((2, 3, 4, 1), -1e-3, 1e-3)], _tfl, "3x4 -> 8x6, neither flag, batch 2",
           _rs(_kind, [8, 6], False, False))
    simple(f"resize_{_kind}_down_half_pixel", [Q((1, 7, 9, 2), -5, 5)], _tfl, "7x9 -> 3x4, half_pixel_centers",
           _rs(_kind, [3, 4], False, True))
    simple(f"resize_{_kind}_down_align", [Q((1, 7, 9, 3), -5, 5)], _tfl, "7x9 -> 4x5, align_corners",
           _rs(_kind, [4, 5], True, False))
    simple(f"resize_{_kind}_legacy", [Q((1, 3, 5, 2), -1, 1)], _tfl, "legacy uint8, 3x5 -> 6x7, half_pixel_centers",
           _rs(_kind, [6, 7], False, True), builds=("uint8",), out_range=(-1.0, 1.0))

# ---- activations

simple("softmax_wide", [Q((3, 7), -10, 10)], "SOFTMAX", "rank 2, range [-10,10]", lambda x: tf.nn.softmax(x),
       builds=("int8", "int8_u8io"))
simple("softmax_tiny", [Q((2, 3, 5), -0.01, 0.01)], "SOFTMAX", "rank 3, tiny input scale",
       lambda x: tf.nn.softmax(x))
simple("softmax_huge", [Q((2, 9), -500, 300)], "SOFTMAX", "huge input scale", lambda x: tf.nn.softmax(x))
simple("softmax_legacy", [Q((2, 6), -4, 4)], "SOFTMAX", "legacy uint8", lambda x: tf.nn.softmax(x),
       builds=("uint8",), out_range=(0.0, 255.0 / 256.0))
simple("logistic_wide", [Q((3, 8), -12, 12)], "LOGISTIC", "range [-12,12]", lambda x: tf.sigmoid(x),
       builds=("int8", "int8_u8io"))
simple("logistic_zp", [Q((4, 5), -0.01, 1000)], "LOGISTIC", "input zero point -128, scale ~3.9",
       lambda x: tf.sigmoid(x))
simple("logistic_legacy", [Q((3, 5), -6, 6)], "LOGISTIC", "legacy uint8", lambda x: tf.sigmoid(x),
       builds=("uint8",), out_range=(0.0, 255.0 / 256.0))
simple("tanh_wide", [Q((3, 8), -6, 6)], "TANH", "range [-6,6]", lambda x: tf.tanh(x),
       builds=("int8", "int8_u8io"))
simple("tanh_tiny", [Q((2, 7), -1e-3, 3e-3)], "TANH", "tiny scale, zero point off centre", lambda x: tf.tanh(x))
simple("tanh_legacy", [Q((3, 5), -3, 3)], "TANH", "legacy uint8", lambda x: tf.tanh(x),
       builds=("uint8",), out_range=(-1.0, 1.0))
simple("hard_swish_wide", [Q((3, 8), -5, 5)], "HARD_SWISH", "x * relu6(x + 3) / 6, range [-5,5]",
       lambda x: x * tf.nn.relu6(x + 3.0) / 6.0, builds=("int8", "int8_u8io"))
simple("hard_swish_zp", [Q((2, 3, 5), -0.1, 20)], "HARD_SWISH", "range [-0.1,20] (zero point ~-127)",
       lambda x: x * tf.nn.relu6(x + 3.0) / 6.0)
simple("hard_swish_tiny", [Q((4, 6), -2e-3, 1e-3)], "HARD_SWISH", "tiny scale (output ~x/2)",
       lambda x: x * tf.nn.relu6(x + 3.0) / 6.0)
simple("hard_swish_huge", [Q((4, 6), -300, 100)], "HARD_SWISH", "huge scale", lambda x: x * tf.nn.relu6(x + 3.0) / 6.0)
simple("leaky_relu_02", [Q((3, 5), -4, 4)], "LEAKY_RELU", "alpha 0.2", lambda x: tf.nn.leaky_relu(x, alpha=0.2),
       builds=("int8", "int8_u8io"))
simple("leaky_relu_gt1_zp", [Q((2, 3, 4), -50, 0.5)], "LEAKY_RELU", "alpha 1.7, zero point ~127",
       lambda x: tf.nn.leaky_relu(x, alpha=1.7))
simple("leaky_relu_tiny", [Q((4, 5), -1e-3, 2e-3)], "LEAKY_RELU", "alpha 0.01, tiny scale",
       lambda x: tf.nn.leaky_relu(x, alpha=0.01))


@case("prelu_per_channel", [Q((1, 3, 4, 5), -3, 3)], "PRELU",
      "alpha [1,1,5] with mixed signs (Keras PReLU pattern)", builds=("int8", "int8_u8io"))
def _(r, c):
    na = tf.constant(-np.array([0.25, -0.5, 1.5, 0.01, 3.0], np.float32).reshape(1, 1, 5))
    return lambda x: tf.nn.relu(x) + na * tf.nn.relu(-x)


@case("prelu_full_alpha_zp", [Q((2, 3, 4), -20, 0.3)], "PRELU", "alpha [3,4] per element, input zero point ~127")
def _(r, c):
    na = tf.constant(-normal(r, 3, 4))
    return lambda x: tf.nn.relu(x) + na * tf.nn.relu(-x)


simple("relu_asym", [Q((3, 7), -5, 0.2)], "RELU", "standalone, input zero point ~122", lambda x: tf.nn.relu(x),
       builds=("int8", "int8_u8io"))
simple("relu6_wide", [Q((2, 3, 4), -100, 100)], "RELU6", "standalone, scale 0.78", lambda x: tf.nn.relu6(x))
simple("relu6_tiny", [Q((2, 3, 4), -1e-2, 7)], "RELU6", "standalone", lambda x: tf.nn.relu6(x))
simple("relu_legacy", [Q((3, 4), -2, 2)], "RELU", "legacy uint8", lambda x: tf.nn.relu(x), builds=("uint8",),
       out_range=(0.0, 2.0))

# ---- more legacy uint8 operators (one case each; the output range differs from the input's where
# the op allows it, so the kernel has to rescale)


def _legacy(name, inputs, expect, fn, out_range, note=""):
    simple(f"{name}_legacy", inputs, expect, f"legacy uint8 {note}".strip(), fn, builds=("uint8",),
           out_range=out_range)


@case("prelu_legacy_float_island", [Q((1, 3, 4, 3), -3, 3)], ["DEQUANTIZE", "PRELU", "QUANTIZE"],
      "legacy uint8 graph in which TF1's converter leaves PRELU float: uint8 DEQUANTIZE -> float PRELU -> "
      "QUANTIZE to uint8", builds=("uint8",), out_range=(-3.0, 3.0))
def _(r, c):
    na = c.fqw(-np.array([0.25, 0.5, 1.5], np.float32).reshape(1, 1, 3))
    return lambda x: tf.nn.relu(x) + na * tf.nn.relu(-x)


_legacy("sub", [Q((2, 5), -1, 3), Q((5,), -2, 2)], "SUB", lambda a, b: a - b, (-4.0, 5.0))
_legacy("maximum", [Q((2, 3), -2, 2), Q((2, 3), -2, 2)], "MAXIMUM", lambda a, b: tf.maximum(a, b), (-2.0, 2.0))
_legacy("minimum", [Q((2, 3), -2, 2), Q((3,), -2, 2)], "MINIMUM", lambda a, b: tf.minimum(a, b), (-2.0, 2.0))
_legacy("sum", [Q((2, 4, 3), -1, 1)], "SUM", lambda x: tf.reduce_sum(x, axis=1), (-4.0, 4.0))
_legacy("reshape", [Q((2, 3, 4), -1, 1)], "RESHAPE", lambda x: tf.reshape(x, [6, 4]), (-1.0, 1.0))
_legacy("transpose", [Q((1, 3, 4, 2), -1, 1)], "TRANSPOSE", lambda x: tf.transpose(x, [0, 3, 1, 2]), (-1.0, 1.0))
_legacy("pad", [Q((1, 3, 4, 2), -0.5, 2)], "PAD", lambda x: tf.pad(x, [[0, 0], [1, 0], [2, 1], [0, 0]]),
        (-0.5, 2.0))
_legacy("padv2", [Q((2, 3), -1, 1)], "PADV2", lambda x: tf.pad(x, [[1, 1], [0, 2]], constant_values=0.5),
        (-1.0, 1.0))
_legacy("strided_slice", [Q((1, 5, 4, 2), -1, 1)], "STRIDED_SLICE", lambda x: x[:, 1::2, ::-1, :], (-1.0, 1.0))
_legacy("slice", [Q((3, 5, 4), -1, 1)], "SLICE", lambda x: tf.slice(x, [1, 1, 0], [2, 3, -1]), (-1.0, 1.0))
_legacy("gather", [Q((4, 3), -1, 1)], "GATHER", lambda x: tf.gather(x, [3, 0, 3]), (-1.0, 1.0))
_legacy("split", [Q((2, 6), -1, 1)], "SPLIT", lambda x: tf.split(x, 2, axis=1), (-1.0, 1.0))
_legacy("pack", [Q((2, 3), -1, 1), Q((2, 3), -1, 1)], "PACK", lambda a, b: tf.stack([a, b], axis=0), (-1.0, 1.0))
_legacy("hard_swish", [Q((3, 8), -5, 5)], "HARD_SWISH", lambda x: x * tf.nn.relu6(x + 3.0) / 6.0, (-0.5, 5.0))
_legacy("leaky_relu", [Q((3, 5), -4, 4)], "LEAKY_RELU", lambda x: tf.nn.leaky_relu(x, alpha=0.2), (-1.0, 4.0))
_legacy("relu6", [Q((3, 5), -8, 8)], "RELU6", lambda x: tf.nn.relu6(x), (0.0, 6.0))
_legacy("arg_max", [Q((3, 7), -5, 5)], "ARG_MAX", lambda x: tf.argmax(x, axis=-1, output_type=tf.int32), None)
_legacy("mean_last", [Q((2, 3, 7), -3, 1)], "MEAN", lambda x: tf.reduce_mean(x, axis=-1), (-3.0, 1.0),
        "general path (axis -1)")

# ---- (de)quantization

simple("quantize_dequantize_fio", [Q((2, 3, 5), -3, 7)], ["QUANTIZE", "DEQUANTIZE"],
       "float I/O around an int8 ADD-free op: QUANTIZE f32->int8, RELU, DEQUANTIZE int8->f32",
       lambda x: tf.nn.relu(x), builds=("int8_fio",))
simple("quantize_requant_u8io", [Q((3, 5), -1e-3, 4e-3)], ["QUANTIZE"],
       "uint8 I/O: QUANTIZE uint8->int8 and int8->uint8 around MAX_POOL-free RESHAPE", lambda x: tf.reshape(x, [5, 3]),
       builds=("int8_u8io",))

simple("quantize_requant_tanh_concat", [Q((2, 3), -3, 3), Q((2, 4), -60, 20)], ["QUANTIZE", "CONCATENATION"],
       "TANH's fixed output scale 1/128 feeds a CONCATENATION with a wide range: TF inserts an int8 -> int8 "
       "QUANTIZE with a new scale", lambda a, b: tf.concat([tf.tanh(a), b], axis=-1))

# ================================================================ driver


def case_rngs(name: str):
    crc = zlib.crc32(name.encode())
    return [np.random.default_rng([SEED, crc, k]) for k in range(3)]


def rep_samples(rng, inputs: list[Q]) -> list[list[np.ndarray]]:
    out = []
    for k in range(REP_SAMPLES):
        sample = []
        for q in inputs:
            v = rng.uniform(q.lo, q.hi, q.shape).astype(np.float32)
            flat = v.reshape(-1)
            if k == 0 and flat.size >= 2:  # the range's end points are always seen
                flat[0], flat[1] = q.lo, q.hi
            sample.append(v)
        out.append(sample)
    return out


def convert_int8(c: Case, fn, build: str, rng_rep) -> bytes:
    specs = [tf.TensorSpec(list(q.shape), tf.float32, name=f"x{k}") for k, q in enumerate(c.inputs)]
    module = tf.Module()
    module.f = tf.function(fn, input_signature=specs, autograph=False)
    cf = module.f.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], module)
    rep = rep_samples(rng_rep, c.inputs)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    # Keyed by signature name: a plain list would be matched to the model's input order, which
    # often differs from the function's argument order.
    conv.representative_dataset = lambda: iter([{f"x{k}": v for k, v in enumerate(s)} for s in rep])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if build in ("int8", "int8_u8io"):
        io = tf.int8 if build == "int8" else tf.uint8
        conv.inference_input_type = io
        conv.inference_output_type = io
    return conv.convert()


def convert_legacy(c: Case, fn_make) -> bytes:
    tf1 = tf.compat.v1
    g = tf1.Graph()
    with g.as_default():
        ctx = Ctx(legacy=True)
        rng_w = case_rngs(c.name)[0]
        fn = fn_make(rng_w, ctx)
        xs = [tf1.placeholder(tf.float32, list(q.shape), name=f"x{k}") for k, q in enumerate(c.inputs)]
        xq = [ctx.fq(x, q.lo, q.hi) for x, q in zip(xs, c.inputs)]
        y = fn(*xq)
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        yq = ys if c.out_range is None else [ctx.fq(t, *c.out_range) for t in ys]
        with tf1.Session(graph=g) as s:
            conv = tf1.lite.TFLiteConverter.from_session(s, xs, yq)
            conv.inference_type = tf.uint8
            stats = {}
            for k, q in enumerate(c.inputs):
                # fake_quant's nudged uint8 grid for [lo, hi]: scale (hi-lo)/255, zero point round(-lo/scale).
                scale = (q.hi - q.lo) / 255.0
                zp = float(np.clip(np.round(-q.lo / scale), 0, 255))
                stats[f"x{k}"] = (zp, 1.0 / scale)
            conv.quantized_input_stats = stats
            return conv.convert()


def int_inputs(rng, details) -> list[np.ndarray]:
    xs = []
    for d in details:
        dt = np.dtype(d["dtype"])
        shape = tuple(int(v) for v in d["shape"])
        if dt == np.float32:
            raise AssertionError("float input in an integer build")
        info = np.iinfo(dt)
        v = rng.integers(info.min, int(info.max) + 1, shape)
        flat = v.reshape(-1)
        if flat.size >= 3:
            flat[0], flat[1] = info.min, info.max
            flat[2] = d["quantization"][1]  # the zero point (real 0)
        xs.append(v.astype(dt))
    return xs


def float_inputs(rng, details, c: Case, model_order: list[int]) -> list[np.ndarray]:
    xs = []
    for d, k in zip(details, model_order):
        q = c.inputs[k]
        pad = 0.25 * (q.hi - q.lo)
        xs.append(rng.uniform(q.lo - pad, q.hi + pad, tuple(int(v) for v in d["shape"])).astype(np.float32))
    return xs


def run(path: Path, xs, reference=True):
    interp = fixture_io.make_interpreter(path, reference=reference)
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), xs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return interp, [np.array(interp.get_tensor(o["index"])) for o in interp.get_output_details()]


def save_intermediates(path: Path, xs, interp, name: str, out: Path) -> list[dict]:
    """Outputs of every operator that are not model outputs (multi-op cases), from a
    preserve-all-tensors run: ``<case>.t<tensor index>.npy``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    final = {o["index"] for o in interp.get_output_details()}
    inner = [int(t) for op in interp._get_ops_details() for t in op["outputs"] if int(t) not in final]  # noqa: SLF001
    if not inner:
        return []
    full = Interpreter(model_path=str(path), num_threads=1, experimental_preserve_all_tensors=True,
                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    full.allocate_tensors()
    for d, x in zip(full.get_input_details(), xs):
        full.set_tensor(d["index"], x)
    full.invoke()
    res = []
    for t in sorted(inner):
        f = f"{name}.t{t}.npy"
        np.save(out / f, np.array(full.get_tensor(t)))
        res.append({"index": t, "file": f})
    return res


def tensor_json(d: dict) -> dict:
    j = fixture_io.jsonable_detail(d)
    if j["quantization"]["scale"] == 0.0:
        del j["quantization"], j["quantization_parameters"]
    return j


def op_details(interp) -> list[dict]:
    """Per operator: name, and each input's dtype + quantization scales count (per-channel or not)."""
    td = {d["index"]: d for d in interp.get_tensor_details()}
    out = []
    for op in sorted(interp._get_ops_details(), key=lambda d: d["index"]):  # noqa: SLF001
        ins = []
        for t in op["inputs"]:
            if t < 0:
                ins.append(None)
                continue
            d = td[int(t)]
            qp = d.get("quantization_parameters", {})
            scales = np.asarray(qp.get("scales", []))
            ins.append({"dtype": np.dtype(d["dtype"]).name, "shape": [int(v) for v in d["shape"]],
                        "scales": len(scales),
                        "scale_range": [float(scales.min()), float(scales.max())] if scales.size else None})
        out.append({"op": op["op_name"], "inputs": ins})
    return out


def build_case(c: Case, build: str, out: Path) -> tuple[str, dict]:
    name = c.name if build in ("int8", "uint8") or len(c.builds) == 1 else f"{c.name}_{build}"
    rng_w, rng_x, rng_rep = case_rngs(name)
    if build == "uint8":
        buf = convert_legacy(c, c.make)
    else:
        buf = convert_int8(c, c.make(case_rngs(c.name)[0], Ctx(legacy=False)), build, rng_rep)
    path = out / f"{name}.tflite"
    path.write_bytes(buf)
    probe = fixture_io.make_interpreter(path)
    dets = probe.get_input_details()
    if build == "int8_fio":
        sig = probe._get_full_signature_list()["serving_default"]["inputs"]  # noqa: SLF001
        pos = {v: int(k.removeprefix("x")) for k, v in sig.items()}
        xs = float_inputs(rng_x, dets, c, [pos[d["index"]] for d in dets])
    else:
        xs = int_inputs(rng_x, dets)
    interp, outs = run(path, xs)
    ops = fixture_io.op_names(interp)
    for e in c.expect:
        if not any(alt in ops for alt in e.split("|")):
            raise RuntimeError(f"{name}: expected {e} in {ops}")
    qops = [o for o in ops if o not in ("QUANTIZE", "DEQUANTIZE")]
    intermediates = save_intermediates(path, xs, interp, name, out)
    _, xnn = run(path, xs, reference=False)
    entry_in, entry_out = [], []
    for k, (d, x) in enumerate(zip(interp.get_input_details(), xs)):
        f = f"{name}.in{k}.npy"
        np.save(out / f, x)
        entry_in.append({"file": f, **tensor_json(d)})
    for k, (d, y) in enumerate(zip(interp.get_output_details(), outs)):
        f = f"{name}.out{k}.npy"
        np.save(out / f, y)
        entry_out.append({"file": f, **tensor_json(d)})
    return name, {
        "file": path.name,
        "size": len(buf),
        "build": build,
        "for_ops": c.expect,
        "note": c.note,
        "calibration_ranges": [[q.lo, q.hi] for q in c.inputs],
        "ops": ops,
        "quantized_ops": qops,
        "operators": op_details(interp),
        "inputs": entry_in,
        "outputs": entry_out,
        "intermediates": intermediates,
        "xnnpack_agrees": all(np.array_equal(a, b) for a, b in zip(outs, xnn)),
    }


BUILD_DOC = {
    "int8": "from_concrete_functions, optimizations=[DEFAULT], representative_dataset "
    f"({REP_SAMPLES} uniform samples over each input's calibration range, end points included), "
    "supported_ops=[TFLITE_BUILTINS_INT8], int8 I/O",
    "int8_u8io": "as int8 but inference_input_type = inference_output_type = uint8",
    "int8_fio": "as int8 but float I/O",
    "uint8": "legacy uint8: tf.compat.v1 graph with fake_quant_with_min_max_args on inputs, weights and "
    "outputs, TFLiteConverter.from_session, inference_type=uint8",
}


def main() -> int:
    global tf
    ap = argparse.ArgumentParser(description="Generate tests/fixtures/quant_ops (see module docstring).")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--only", nargs="*", help="build only cases whose name starts with one of these (no manifest)")
    args = ap.parse_args()
    out = args.out.resolve()
    import tensorflow

    tf = tensorflow
    tf.get_logger().setLevel("ERROR")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    todo = [c for c in CASES if not args.only or any(c.name.startswith(p) for p in args.only)]
    if not args.only:
        for p in out.iterdir():
            if p.suffix in (".tflite", ".npy", ".json"):
                p.unlink()
    cases, failures = {}, []
    for c in todo:
        for b in c.builds:
            try:
                name, entry = build_case(c, b, out)
            except Exception as e:  # noqa: BLE001 -- report every failure at the end
                msg = str(e).strip().splitlines()
                failures.append(f"{c.name}/{b}: {type(e).__name__}: {msg[-1] if msg else ''}")
                print("FAIL", failures[-1], flush=True)
                continue
            cases[name] = entry
            print(f"{name:45s} {entry['size']:6d} B  {' '.join(entry['ops'])}"
                  f"{'' if entry['xnnpack_agrees'] else '  (xnnpack differs)'}", flush=True)
    if failures:
        print("\n".join(["failures:", *failures]))
        return 1
    if args.only:
        return 0
    covered = sorted({op.split("|")[0] for e in cases.values() for op in e["for_ops"]})
    manifest = {
        "generator": "tools/make_quant_op_fixtures.py",
        "regenerate": "tools/.venv/bin/python tools/make_quant_op_fixtures.py",
        "seed": SEED,
        "builds": BUILD_DOC,
        "litert": "ai_edge_litert Interpreter(num_threads=1, experimental_op_resolver_type="
        "BUILTIN_WITHOUT_DEFAULT_DELEGATES): TFLite's built-in kernels, the bit-exact target",
        "inputs": "integer inputs uniform over the whole storage range with min, max and the zero point "
        "always present; float inputs (int8_fio) uniform over the calibration range widened by 25%",
        "layout": "<case>.tflite, <case>.in<k>.npy (model input order), <case>.out<k>.npy (model output order)",
        "ops_covered": covered,
        "cases": cases,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{len(cases)} cases, {len(covered)} ops, {total / 1e6:.3f} MB in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
