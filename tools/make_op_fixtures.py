#!/usr/bin/env python3
"""Single-operator reference models with LiteRT goldens (TensorFlow is the oracle).

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_op_fixtures.py

For every case below this builds one tiny float32 ``.tflite`` from a
``tf.function`` with ``TFLiteConverter.from_concrete_functions`` (no
optimizations unless the case is about (de)quantization), feeds it random
inputs from ``np.random.default_rng([SEED, crc32(case)])`` and records what
LiteRT's built-in reference kernels produce (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``,
one thread). Written under ``tests/fixtures/ops/``:

* ``<case>.tflite``, ``<case>.in<k>.npy`` (k = position in the model's input
  list, exact dtypes and run shapes), ``<case>.out<k>.npy`` (model output order);
* ``manifest.json``: per case the op list LiteRT reports, each operator's
  builtin options and which of its inputs are constants (read back from the
  flatbuffer), inputs/outputs, a note on the options exercised and the
  difference between TensorFlow's own result and LiteRT's.

Each case names the operator(s) it is for; the script fails if the converted
model does not contain them, so converter rewrites cannot go unnoticed.
Deterministic: fixed seeds, one thread, and nothing time-dependent is written
(the converter embeds no timestamps; ``.npy`` has none).
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
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

SEED = 20240611
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "ops"

tf: Any = None  # tensorflow, imported in main() (slow import, noisy logs)


# ---------------------------------------------------------------- case model


@dataclass
class In:
    """One runtime input: run shape, dtype, value generator, optional signature shape (None = dynamic dim)."""

    shape: tuple
    dtype: str = "float32"
    gen: Any = "normal"
    sig: tuple | None = None


@dataclass
class Case:
    """One fixture: `make(rng)` returns the traced function (rng draws any constant weights)."""

    name: str
    make: Callable
    inputs: list
    expect: list
    note: str
    quant: str | None = None  # None | "float16" | "int8_float_io"


CASES: list[Case] = []


def case(name, inputs, expect, note, quant=None):
    """Register a case whose builder takes an rng (for constant weights)."""

    def deco(make):
        CASES.append(Case(name, make, inputs, expect if isinstance(expect, list) else [expect], note, quant))
        return make

    return deco


def simple(name, inputs, expect, note, fn, quant=None):
    """Register a case without constant weights."""
    CASES.append(Case(name, lambda _rng: fn, inputs, expect if isinstance(expect, list) else [expect], note, quant))


def F(*shape, gen="normal", sig=None):
    return In(tuple(shape), "float32", gen, sig)


def I32(*shape, gen=("int", -5, 6), sig=None):
    return In(tuple(shape), "int32", gen, sig)


def I64(*shape, gen=("int", -5, 6), sig=None):
    return In(tuple(shape), "int64", gen, sig)


def B(*shape, sig=None):
    return In(tuple(shape), "bool", "bool", sig)


def gen_values(rng: np.random.Generator, spec: In) -> np.ndarray:
    g, shape, dt = spec.gen, spec.shape, np.dtype(spec.dtype)
    kind = g[0] if isinstance(g, tuple) else g
    if kind == "normal":
        v = rng.standard_normal(shape)
    elif kind == "uniform":
        v = rng.uniform(g[1], g[2], shape)
    elif kind == "int":
        v = rng.integers(g[1], g[2], shape)
    elif kind == "bool":
        v = rng.random(shape) < 0.5
    elif kind == "halves":  # multiples of 0.5 in [-4, 4] (exact ties) mixed with random values
        v = np.where(rng.random(shape) < 0.5, rng.integers(-8, 9, shape) * 0.5, rng.uniform(-4, 4, shape))
    elif kind == "nonzero":  # |v| in [0.5, 2], random sign
        v = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif kind == "value":
        v = np.asarray(g[1]).reshape(shape)
    else:
        raise ValueError(f"unknown generator {g!r}")
    return np.array(np.asarray(v).astype(dt), order="C")  # (np.ascontiguousarray would turn 0-d into 1-d)


def W(rng: np.random.Generator, *shape, scale=0.5) -> Any:
    """A float32 constant weight tensor."""
    return tf.constant((rng.standard_normal(shape) * scale).astype(np.float32))


# ================================================================ cases
# Shapes are NHWC. Odd spatial sizes are deliberate (SAME padding becomes asymmetric).

# ---- convolutions


@case("conv2d_same_s2_bias_relu", [F(1, 7, 9, 3)], "CONV_2D",
      "3x3 kernel, stride 2, SAME on odd H/W (asymmetric pad), bias, fused RELU")
def _(r):
    w, b = W(r, 3, 3, 3, 4), W(r, 4)
    return lambda x: tf.nn.relu(tf.nn.conv2d(x, w, 2, "SAME") + b)


@case("conv2d_valid_dil2_bias_relu6", [F(1, 9, 8, 2)], "CONV_2D",
      "3x2 kernel, dilation (2,3), stride 1, VALID, bias, fused RELU6")
def _(r):
    w, b = W(r, 3, 2, 2, 5), W(r, 5)
    return lambda x: tf.nn.relu6(tf.nn.conv2d(x, w, 1, "VALID", dilations=[2, 3]) + b)


@case(
    "conv2d_same_dil2_nobias", [F(1, 6, 7, 3)], "CONV_2D", "3x3 kernel, dilation 2, SAME, no bias in TF, no activation"
)
def _(r):
    w = W(r, 3, 3, 3, 2)
    return lambda x: tf.nn.conv2d(x, w, 1, "SAME", dilations=2)


@case("conv2d_valid_s1x2_batch2_tanh", [F(2, 6, 9, 2)], "CONV_2D",
      "2x4 kernel, strides (1,2), VALID, batch 2, bias, tanh after conv")
def _(r):
    w, b = W(r, 2, 4, 2, 3), W(r, 3)
    return lambda x: tf.tanh(tf.nn.conv2d(x, w, [1, 2], "VALID") + b)


@case("conv2d_same_s3_even_kernel_relu_n1", [F(1, 8, 10, 1)], "CONV_2D",
      "4x4 kernel, stride 3, SAME (even kernel), bias, clip to [-1,1]")
def _(r):
    w, b = W(r, 4, 4, 1, 3), W(r, 3)
    return lambda x: tf.clip_by_value(tf.nn.conv2d(x, w, 3, "SAME") + b, -1.0, 1.0)


@case("conv2d_dynamic_batch", [F(3, 5, 5, 2, sig=(None, 5, 5, 2))], "CONV_2D",
      "dynamic batch (shape_signature -1), 1x1 kernel, bias; run at batch 3")
def _(r):
    w, b = W(r, 1, 1, 2, 4), W(r, 4)
    return lambda x: tf.nn.conv2d(x, w, 1, "VALID") + b


@case("depthwise_dm2_same_s2_bias_relu6", [F(1, 7, 7, 3)], "DEPTHWISE_CONV_2D",
      "3x3, depth multiplier 2, stride 2, SAME, bias, fused RELU6")
def _(r):
    w, b = W(r, 3, 3, 3, 2), W(r, 6)
    return lambda x: tf.nn.relu6(tf.nn.depthwise_conv2d(x, w, [1, 2, 2, 1], "SAME") + b)


@case("depthwise_dm2_valid_dil2_relu", [F(1, 8, 9, 2)], "DEPTHWISE_CONV_2D",
      "2x3 kernel, depth multiplier 2, dilation 2, VALID, bias, fused RELU")
def _(r):
    w, b = W(r, 2, 3, 2, 2), W(r, 4)
    return lambda x: tf.nn.relu(tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "VALID", dilations=[2, 2]) + b)


@case("depthwise_dm1_same_s2_nobias", [F(2, 5, 6, 4)], "DEPTHWISE_CONV_2D",
      "3x3, depth multiplier 1, stride 2 (TF needs equal strides), SAME, batch 2, no bias")
def _(r):
    w = W(r, 3, 3, 4, 1)
    return lambda x: tf.nn.depthwise_conv2d(x, w, [1, 2, 2, 1], "SAME")


@case("depthwise_dm2_same_s1x2_relu", [F(1, 5, 7, 2)], "DEPTHWISE_CONV_2D",
      "3x3, depth multiplier 2, strides (1,2), SAME, bias, fused RELU (TF's CPU kernel cannot run it: no TF check)")
def _(r):
    w, b = W(r, 3, 3, 2, 2), W(r, 4)
    return lambda x: tf.nn.relu(tf.nn.depthwise_conv2d(x, w, [1, 1, 2, 1], "SAME") + b)


@case("transpose_conv_same_s2_bias", [F(1, 4, 5, 3)], "TRANSPOSE_CONV", "3x3, stride 2, SAME, output 8x10, bias")
def _(r):
    w, b = W(r, 3, 3, 2, 3), W(r, 2)
    return lambda x: tf.nn.conv2d_transpose(x, w, [1, 8, 10, 2], 2, "SAME") + b


@case("transpose_conv_valid_s2_odd", [F(1, 3, 4, 2)], "TRANSPOSE_CONV",
      "3x2 kernel, strides (2,3), VALID, output 7x11, no bias")
def _(r):
    w = W(r, 3, 2, 3, 2)
    return lambda x: tf.nn.conv2d_transpose(x, w, [1, 7, 11, 3], [2, 3], "VALID")


@case("transpose_conv_same_s2_relu", [F(1, 3, 3, 2)], "TRANSPOSE_CONV",
      "4x4 kernel, stride 2, SAME, output 5x6 (not exactly 2x), bias, relu")
def _(r):
    w, b = W(r, 4, 4, 3, 2), W(r, 3)
    return lambda x: tf.nn.relu(tf.nn.conv2d_transpose(x, w, [1, 5, 6, 3], 2, "SAME") + b)


@case("fc_bias_relu", [F(1, 8)], "FULLY_CONNECTED", "x[1,8] @ W[8,5] + b, fused RELU")
def _(r):
    w, b = W(r, 8, 5), W(r, 5)
    return lambda x: tf.nn.relu(tf.matmul(x, w) + b)


@case("fc_batched_relu6", [F(4, 6)], "FULLY_CONNECTED", "batch 4, x[4,6] @ W[6,3] + b, fused RELU6")
def _(r):
    w, b = W(r, 6, 3), W(r, 3)
    return lambda x: tf.nn.relu6(tf.matmul(x, w) + b)


@case("fc_nobias_tanh", [F(3, 7)], "FULLY_CONNECTED", "no bias, tanh after")
def _(r):
    w = W(r, 7, 4)
    return lambda x: tf.tanh(tf.matmul(x, w))


@case("fc_keep_num_dims_rank3", [F(2, 3, 5)], "FULLY_CONNECTED",
      "rank-3 input @ constant W[5,4] (BatchMatMul with constant rhs -> FC), bias")
def _(r):
    w, b = W(r, 5, 4), W(r, 4)
    return lambda x: tf.matmul(x, w) + b


@case("fc_rank3_no_keep_num_dims", [F(2, 3, 5)], "FULLY_CONNECTED",
      "reshape(x, [-1,5]) @ W: reshape folded into FC with rank-3 input, keep_num_dims=false -> [6,4]")
def _(r):
    w, b = W(r, 5, 4), W(r, 4)
    return lambda x: tf.matmul(tf.reshape(x, [-1, 5]), w) + b


@case("fc_flatten_4d_dynamic", [F(2, 2, 3, 4, sig=(None, 2, 3, 4))], ["RESHAPE", "FULLY_CONNECTED"],
      "flatten [-1,2,3,4] -> [-1,24] then FC (RESHAPE stays), dynamic batch, fused RELU")
def _(r):
    w, b = W(r, 24, 3), W(r, 3)
    return lambda x: tf.nn.relu(tf.matmul(tf.reshape(x, [-1, 24]), w) + b)


@case("fc_flatten_rank3", [F(2, 3, 5)], "FULLY_CONNECTED", "tensordot over last axis (Keras Dense on rank 3), bias")
def _(r):
    w, b = W(r, 5, 4), W(r, 4)
    return lambda x: tf.tensordot(x, w, axes=[[2], [0]]) + b


@case("fc_dynamic_batch", [F(3, 6, sig=(None, 6))], "FULLY_CONNECTED", "dynamic batch, bias; run at batch 3")
def _(r):
    w, b = W(r, 6, 2), W(r, 2)
    return lambda x: tf.matmul(x, w) + b


simple("batch_matmul_plain", [F(2, 3, 4), F(2, 4, 5)], "BATCH_MATMUL", "[2,3,4] @ [2,4,5], both runtime",
       lambda a, b: tf.matmul(a, b))
simple("batch_matmul_adj_x", [F(2, 4, 3), F(2, 4, 5)], "BATCH_MATMUL", "adj_x",
       lambda a, b: tf.matmul(a, b, adjoint_a=True))
simple("batch_matmul_adj_y", [F(2, 3, 4), F(2, 5, 4)], "BATCH_MATMUL", "adj_y",
       lambda a, b: tf.matmul(a, b, adjoint_b=True))
simple("batch_matmul_adj_xy_bcast", [F(2, 1, 4, 3), F(3, 5, 4)], "BATCH_MATMUL",
       "adj_x and adj_y, broadcast batch [2,1] x [3] with rank mismatch",
       lambda a, b: tf.matmul(a, b, adjoint_a=True, adjoint_b=True))
simple("batch_matmul_rank2", [F(3, 4), F(4, 2)], "BATCH_MATMUL", "rank-2 runtime x runtime matmul",
       lambda a, b: tf.matmul(a, b))

# ---- binary elementwise

simple("add_bcast_rank_mismatch", [F(2, 3, 4), F(4)], "ADD", "[2,3,4] + [4]", lambda a, b: a + b)
simple("add_bcast_both_relu", [F(2, 1, 4), F(3, 1)], "ADD", "[2,1,4] + [3,1] (both sides broadcast), fused RELU",
       lambda a, b: tf.nn.relu(a + b))
simple("add_relu6", [F(1, 5, 5, 2), F(1, 5, 5, 2)], "ADD", "same shapes, fused RELU6", lambda a, b: tf.nn.relu6(a + b))
simple("add_relu_n1_to_1", [F(3, 4), F(1, 4)], "ADD", "fused RELU_N1_TO_1 via clip(-1,1)",
       lambda a, b: tf.clip_by_value(a + b, -1.0, 1.0))
simple("add_tanh", [F(3, 4), F(3, 4)], "ADD", "tanh after add", lambda a, b: tf.tanh(a + b))
simple("add_int32", [I32(2, 3), I32(3)], "ADD", "int32, broadcast", lambda a, b: a + b)
simple("add_5d_bcast", [F(2, 1, 3, 1, 2), F(1, 2, 1, 4, 1)], "ADD", "rank-5 broadcast", lambda a, b: a + b)


@case("add_const_operand", [F(2, 3)], "ADD", "runtime + constant [3]")
def _(r):
    c = W(r, 3)
    return lambda x: x + c


simple("sub_bcast_relu", [F(4, 1), F(2, 1, 3)], "SUB", "[4,1] - [2,1,3], fused RELU", lambda a, b: tf.nn.relu(a - b))
simple("sub_scalar_bcast", [F(2, 3), F()], "SUB", "rank-0 rhs", lambda a, b: a - b)
simple("sub_int32", [I32(3, 4), I32(4)], "SUB", "int32 broadcast", lambda a, b: a - b)
simple("mul_bcast_relu6", [F(2, 3, 1), F(3, 4)], "MUL", "[2,3,1] * [3,4], fused RELU6", lambda a, b: tf.nn.relu6(a * b))
simple(
    "mul_relu_n1_to_1", [F(4, 3), F(4, 3)], "MUL", "fused RELU_N1_TO_1", lambda a, b: tf.clip_by_value(a * b, -1.0, 1.0)
)
simple("mul_int32", [I32(2, 3), I32(2, 1)], "MUL", "int32 broadcast", lambda a, b: a * b)
simple(
    "div_bcast", [F(2, 3, 4), F(3, 1, gen="nonzero")], "DIV", "[2,3,4] / [3,1], divisor |v| >= 0.5", lambda a, b: a / b
)
simple("div_relu", [F(3, 4), F(3, 4, gen="nonzero")], "DIV", "fused RELU", lambda a, b: tf.nn.relu(a / b))
simple("squared_difference_bcast", [F(2, 3, 4), F(4)], "SQUARED_DIFFERENCE", "broadcast rank mismatch",
       lambda a, b: tf.math.squared_difference(a, b))
simple("pow_float", [F(2, 5, gen=("uniform", 0.1, 3.0)), F(5, gen=("uniform", -2.0, 2.0))], "POW",
       "positive base in [0.1,3], exponent in [-2,2], broadcast", lambda a, b: tf.pow(a, b))
simple("pow_int32", [I32(2, 4, gen=("int", -3, 4)), I32(4, gen=("int", 0, 4))], "POW",
       "int32 base in [-3,3], exponent in [0,3]", lambda a, b: tf.pow(a, b))
simple("maximum_bcast", [F(2, 3, 4), F(3, 1)], "MAXIMUM", "broadcast rank mismatch", lambda a, b: tf.maximum(a, b))
simple("minimum_bcast", [F(1, 4), F(3, 1)], "MINIMUM", "both broadcast", lambda a, b: tf.minimum(a, b))
simple("maximum_int32", [I32(3, 4), I32(4)], "MAXIMUM", "int32", lambda a, b: tf.maximum(a, b))
simple("floor_div_float", [F(3, 4, gen=("uniform", -6, 6)), F(4, gen="nonzero")], "FLOOR_DIV",
       "float, mixed signs (rounds toward -inf)", lambda a, b: tf.math.floordiv(a, b))
simple("floor_div_int32", [I32(3, 5, gen=("int", -9, 10)), I32(5, gen=("value", [3, -2, 4, -5, 7]))], "FLOOR_DIV",
       "int32, mixed signs (rounds toward -inf)", lambda a, b: tf.math.floordiv(a, b))
simple("floor_mod_float", [F(3, 4, gen=("uniform", -6, 6)), F(4, gen="nonzero")], "FLOOR_MOD",
       "float, mixed signs (result has divisor's sign)", lambda a, b: tf.math.floormod(a, b))
simple("floor_mod_float_exact", [F(3, 4, gen="halves"), F(4, gen=("value", [0.5, -1.0, 2.0, -1.5]))], "FLOOR_MOD",
       "halves / integers mod +-0.5, +-1, 2, 1.5: exact-zero remainders and sign flips",
       lambda a, b: tf.math.floormod(a, b))
simple("floor_mod_int32", [I32(3, 5, gen=("int", -9, 10)), I32(5, gen=("value", [3, -2, 4, -5, 7]))], "FLOOR_MOD",
       "int32, mixed signs", lambda a, b: tf.math.floormod(a, b))

# ---- pooling

simple("avg_pool_same_s2_k3", [F(1, 7, 8, 2)], "AVERAGE_POOL_2D",
       "3x3, stride 2, SAME on odd/even (edge windows average fewer cells)",
       lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME"))
simple("avg_pool_valid_k2x3_s1x2_relu", [F(2, 5, 7, 3)], "AVERAGE_POOL_2D",
       "2x3 window, strides (1,2), VALID, batch 2, relu after",
       lambda x: tf.nn.relu(tf.nn.avg_pool2d(x, [2, 3], [1, 2], "VALID")))
simple("max_pool_same_s2_k3", [F(1, 7, 7, 3)], "MAX_POOL_2D", "3x3, stride 2, SAME",
       lambda x: tf.nn.max_pool2d(x, 3, 2, "SAME"))
simple("max_pool_valid_k3x2_s2x1_relu6", [F(1, 8, 6, 2)], "MAX_POOL_2D",
       "3x2 window, strides (2,1), VALID, relu6 after",
       lambda x: tf.nn.relu6(tf.nn.max_pool2d(x, [3, 2], [2, 1], "VALID")))
simple("max_pool_same_k2_s3", [F(1, 8, 8, 1)], "MAX_POOL_2D", "2x2 window, stride 3 (> window), SAME",
       lambda x: tf.nn.max_pool2d(x, 2, 3, "SAME"))

# ---- reductions

simple("mean_hw_keepdims", [F(2, 5, 6, 3)], "MEAN", "axes [1,2], keep_dims=true",
       lambda x: tf.reduce_mean(x, [1, 2], keepdims=True))
simple("mean_neg_axis", [F(2, 3, 4)], "MEAN", "axis -1, keep_dims=false", lambda x: tf.reduce_mean(x, -1))
simple("mean_all", [F(3, 4)], "MEAN", "all axes [0,1], keep_dims=false -> scalar", lambda x: tf.reduce_mean(x, [0, 1]))
simple("sum_neg_axes_keepdims", [F(2, 3, 4, 5)], "SUM", "axes [-1,1], keep_dims=true",
       lambda x: tf.reduce_sum(x, [-1, 1], keepdims=True))
simple("sum_axis0", [F(3, 4)], "SUM", "axis 0, keep_dims=false", lambda x: tf.reduce_sum(x, 0))
simple("sum_int32", [I32(3, 4)], "SUM", "int32, axis 1", lambda x: tf.reduce_sum(x, 1))
simple("reduce_max_keepdims", [F(2, 3, 4)], "REDUCE_MAX", "axis -2, keep_dims=true",
       lambda x: tf.reduce_max(x, -2, keepdims=True))
simple(
    "reduce_max_two_axes", [F(2, 3, 4)], "REDUCE_MAX", "axes [0,2], keep_dims=false", lambda x: tf.reduce_max(x, [0, 2])
)
simple("reduce_min_keepdims", [F(3, 5)], "REDUCE_MIN", "axis 1, keep_dims=true",
       lambda x: tf.reduce_min(x, 1, keepdims=True))
simple("reduce_min_neg_axis", [F(2, 3, 4)], "REDUCE_MIN", "axis -3, keep_dims=false", lambda x: tf.reduce_min(x, -3))
simple("reduce_prod_keepdims", [F(2, 3, 4, gen=("uniform", 0.5, 1.5))], "REDUCE_PROD", "axis -1, keep_dims=true",
       lambda x: tf.reduce_prod(x, -1, keepdims=True))
simple("reduce_prod_no_keepdims", [F(3, 4, 2, gen=("uniform", -1.5, 1.5))], "REDUCE_PROD",
       "axes [0,2], keep_dims=false", lambda x: tf.reduce_prod(x, [0, 2]))
simple("arg_max_last_i64", [F(3, 7)], "ARG_MAX", "axis -1, output int64", lambda x: tf.argmax(x, -1))
simple("arg_max_axis1_i32_ties", [I32(2, 5, 3, gen=("int", 0, 3))], "ARG_MAX",
       "int32 input with ties, axis 1, output int32", lambda x: tf.argmax(x, 1, output_type=tf.int32))
simple(
    "arg_min_axis0_i32", [F(4, 3)], "ARG_MIN", "axis 0, output int32", lambda x: tf.argmin(x, 0, output_type=tf.int32)
)
simple("arg_min_ties_i64", [F(3, 6, gen=("int", 0, 3))], "ARG_MIN",
       "float input with ties (integer values), axis -1, int64", lambda x: tf.argmin(x, -1))

# ---- shape manipulation

simple(
    "reshape_static", [F(2, 3, 4)], "RESHAPE", "[2,3,4] -> [4,-1] (constant shape)", lambda x: tf.reshape(x, [4, -1])
)
simple("reshape_dynamic", [F(3, 4, sig=(None, 4))], "RESHAPE", "dynamic batch [-1,4] -> [-1,2,2]",
       lambda x: tf.reshape(x, [-1, 2, 2]))
# Static-shape SQUEEZE / EXPAND_DIMS (and SQUEEZE with only one unknown dim) are rewritten to RESHAPE by the
# converter, so these cases use dynamic dims.
simple("squeeze_axes", [F(1, 3, 1, 4, 1, sig=(1, None, 1, None, 1))], "SQUEEZE",
       "squeeze_dims [0,-1], two dynamic dims (keeps SQUEEZE)", lambda x: tf.squeeze(x, [0, -1]))
simple("squeeze_middle", [F(2, 3, 1, 4, sig=(None, 3, 1, None))], "SQUEEZE", "squeeze_dims [-2], two dynamic dims",
       lambda x: tf.squeeze(x, [-2]))
simple("expand_dims_neg", [F(2, 3, sig=(None, 3))], "EXPAND_DIMS", "axis -1 on dynamic batch",
       lambda x: tf.expand_dims(x, -1))
simple("expand_dims_axis0", [F(2, 3, sig=(None, 3))], "EXPAND_DIMS", "axis 0 on dynamic batch",
       lambda x: tf.expand_dims(x, 0))
simple("reshape_from_expand_dims", [F(2, 3)], "RESHAPE",
       "static tf.expand_dims(x, 1): converter emits RESHAPE, not EXPAND_DIMS", lambda x: tf.expand_dims(x, 1))
simple("transpose_nchw", [F(1, 3, 4, 2)], "TRANSPOSE", "perm [0,3,1,2]", lambda x: tf.transpose(x, [0, 3, 1, 2]))
simple("transpose_5d", [F(2, 1, 3, 2, 2)], "TRANSPOSE", "rank 5, perm [4,2,0,3,1]",
       lambda x: tf.transpose(x, [4, 2, 0, 3, 1]))
simple("transpose_2d", [F(3, 5)], "TRANSPOSE", "rank 2, perm [1,0]", lambda x: tf.transpose(x))
simple("concat_neg_axis", [F(2, 3, 1), F(2, 3, 4), F(2, 3, 2)], "CONCATENATION", "3 inputs, axis -1",
       lambda a, b, c: tf.concat([a, b, c], -1))
simple(
    "concat_axis0_int32", [I32(1, 3), I32(2, 3)], "CONCATENATION", "int32, axis 0", lambda a, b: tf.concat([a, b], 0)
)
simple("concat_relu", [F(1, 2, 3), F(1, 4, 3)], "CONCATENATION", "axis 1, relu after",
       lambda a, b: tf.nn.relu(tf.concat([a, b], 1)))
simple("split_axis1", [F(2, 6, 3)], "SPLIT", "3 equal parts along axis 1", lambda x: tf.split(x, 3, axis=1))
simple("split_neg_axis", [F(2, 3, 4)], "SPLIT", "2 parts along axis -1", lambda x: tf.split(x, 2, axis=-1))
simple("split_v_neg_axis", [F(2, 3, 7)], "SPLIT_V", "sizes [1,-1,2] along axis -1 (inferred middle)",
       lambda x: tf.split(x, [1, -1, 2], axis=-1))
simple("split_v_axis0", [F(6, 2)], "SPLIT_V", "sizes [4,2] along axis 0", lambda x: tf.split(x, [4, 2], axis=0))
simple(
    "pack_axis1", [F(2, 3), F(2, 3), F(2, 3)], "PACK", "3 inputs, axis 1", lambda a, b, c: tf.stack([a, b, c], axis=1)
)
simple("pack_neg_axis_int32", [I32(4), I32(4)], "PACK", "int32, axis -1", lambda a, b: tf.stack([a, b], axis=-1))
simple("unpack_axis0", [F(3, 2, 4)], "UNPACK", "num 3, axis 0", lambda x: tf.unstack(x, axis=0))
simple("unpack_neg_axis", [F(2, 3, 2)], "UNPACK", "num 2, axis -1", lambda x: tf.unstack(x, axis=-1))
simple(
    "slice_basic", [F(3, 5, 4)], "SLICE", "begin [1,0,2], size [2,-1,2]", lambda x: tf.slice(x, [1, 0, 2], [2, -1, 2])
)
simple("slice_int32_2d", [I32(4, 6)], "SLICE", "int32, begin [1,2], size [3,3]", lambda x: tf.slice(x, [1, 2], [3, 3]))
simple("strided_slice_neg_stride", [F(5, 6)], "STRIDED_SLICE", "x[::-2, 4:0:-3] (negative strides, end_mask on axis 0)",
       lambda x: x[::-2, 4:0:-3])
simple("strided_slice_begin_end_mask", [F(4, 5, 6)], "STRIDED_SLICE", "x[:3, 1:, ::2] (begin_mask/end_mask)",
       lambda x: x[:3, 1:, ::2])
simple("strided_slice_shrink", [F(4, 5, 6)], "STRIDED_SLICE", "x[1, :, -2] (shrink_axis_mask, negative index)",
       lambda x: x[1, :, -2])
simple(
    "strided_slice_ellipsis", [F(2, 3, 4, 5)], "STRIDED_SLICE", "x[..., 1:4:2] (ellipsis_mask)", lambda x: x[..., 1:4:2]
)
simple("strided_slice_new_axis", [F(3, 4)], "STRIDED_SLICE", "x[tf.newaxis, 1:, tf.newaxis, ::-1] (new_axis_mask)",
       lambda x: x[tf.newaxis, 1:, tf.newaxis, ::-1])
simple("strided_slice_ellipsis_shrink_new", [F(2, 3, 4, 5)], "STRIDED_SLICE",
       "x[0, ..., tf.newaxis, -1] (ellipsis+shrink+new_axis)", lambda x: x[0, ..., tf.newaxis, -1])
simple("strided_slice_out_of_range", [F(4, 6)], "STRIDED_SLICE", "x[-10:10, 5:-10:-2] (clamped begin/end)",
       lambda x: x[-10:10, 5:-10:-2])
simple("gather_axis0_i32", [F(5, 3), I32(4, gen=("int", 0, 5))], "GATHER", "axis 0, int32 indices",
       lambda p, i: tf.gather(p, i))
simple("gather_neg_axis_i64", [F(2, 3, 5), I64(2, 2, gen=("int", 0, 5))], "GATHER", "axis -1, int64 indices of rank 2",
       lambda p, i: tf.gather(p, i, axis=-1))
simple("gather_batch_dims1", [F(2, 4, 3), I32(2, 5, gen=("int", 0, 4))], "GATHER", "axis 1, batch_dims 1",
       lambda p, i: tf.gather(p, i, axis=1, batch_dims=1))
simple("gather_nd_full", [F(3, 4), I32(5, 2, gen=("int", 0, 3))], "GATHER_ND", "indices [5,2] address single elements",
       lambda p, i: tf.gather_nd(p, i))
simple("gather_nd_slices", [F(3, 4, 2), I32(2, 1, gen=("int", 0, 3))], "GATHER_ND", "indices [2,1] address slices",
       lambda p, i: tf.gather_nd(p, i))
simple("pad_const", [F(1, 3, 4, 2)], "PAD", "paddings [[0,0],[1,2],[0,3],[1,0]], zeros",
       lambda x: tf.pad(x, [[0, 0], [1, 2], [0, 3], [1, 0]]))
simple("pad_int32", [I32(2, 3)], "PAD", "int32, paddings [[2,0],[1,1]]", lambda x: tf.pad(x, [[2, 0], [1, 1]]))
simple(
    "padv2_value", [F(2, 3)], "PADV2", "constant_values 1.5", lambda x: tf.pad(x, [[1, 1], [2, 0]], constant_values=1.5)
)
simple("mirror_pad_reflect", [F(1, 4, 5, 2)], "MIRROR_PAD", "REFLECT, paddings [[0,0],[2,1],[3,0],[0,0]]",
       lambda x: tf.pad(x, [[0, 0], [2, 1], [3, 0], [0, 0]], mode="REFLECT"))
simple("mirror_pad_symmetric", [F(3, 4)], "MIRROR_PAD", "SYMMETRIC, paddings [[3,2],[1,4]]",
       lambda x: tf.pad(x, [[3, 2], [1, 4]], mode="SYMMETRIC"))
simple("tile_3d", [F(2, 1, 3)], "TILE", "multiples [2,3,1]", lambda x: tf.tile(x, [2, 3, 1]))
simple("tile_int32", [I32(2, 2)], "TILE", "int32, multiples [1,3]", lambda x: tf.tile(x, [1, 3]))
simple("shape_dynamic_i32", [F(3, 4, 2, sig=(None, 4, None))], "SHAPE", "dynamic dims 0 and 2, out_type int32",
       lambda x: tf.shape(x))
simple("shape_dynamic_i64", [F(5, 2, sig=(None, 2))], "SHAPE", "dynamic dim 0, out_type int64",
       lambda x: tf.shape(x, out_type=tf.int64))
simple("cast_f32_i32", [F(3, 4, gen="halves")], "CAST", "float32 -> int32 (truncation toward zero, negative values)",
       lambda x: tf.cast(x, tf.int32))
simple("cast_i32_f32", [I32(3, 4, gen=("int", -100000, 100000))], "CAST", "int32 -> float32",
       lambda x: tf.cast(x, tf.float32))
simple("cast_bool_f32", [B(2, 5)], "CAST", "bool -> float32", lambda x: tf.cast(x, tf.float32))
simple("cast_f32_bool", [F(2, 5, gen=("int", -1, 2))], "CAST", "float32 -> bool (nonzero -> true)",
       lambda x: tf.cast(x, tf.bool))
simple("cast_i64_i32", [I64(6, gen=("int", -1000, 1000))], "CAST", "int64 -> int32", lambda x: tf.cast(x, tf.int32))
simple("fill_runtime_dims", [I32(2, gen=("value", [2, 3])), F()], "FILL",
       "dims and value both runtime (dynamic output shape)", lambda d, v: tf.fill(d, v))
simple("fill_int32_value", [I32(3, gen=("value", [2, 1, 3])), I32()], "FILL", "int32 value, runtime dims",
       lambda d, v: tf.fill(d, v))
simple("range_int32", [I32(gen=("value", 3)), I32(gen=("value", 20)), I32(gen=("value", 4))], "RANGE",
       "int32 start 3, limit 20, delta 4", lambda s, l, d: tf.range(s, l, d))
simple("range_float_neg_delta", [F(gen=("value", 2.5)), F(gen=("value", -1.0)), F(gen=("value", -0.75))], "RANGE",
       "float32 start 2.5, limit -1, delta -0.75", lambda s, l, d: tf.range(s, l, d))


def _resize(op, size, align, half):
    return lambda x: op(images=x, size=size, align_corners=align, half_pixel_centers=half)


for _kind, _tfl in (("bilinear", "RESIZE_BILINEAR"), ("nearest", "RESIZE_NEAREST_NEIGHBOR")):
    _op = (
        lambda k: (
            lambda **kw: (tf.raw_ops.ResizeBilinear if k == "bilinear" else tf.raw_ops.ResizeNearestNeighbor)(**kw)
        )
    )(_kind)
    simple(f"resize_{_kind}_up_default", [F(1, 3, 4, 2)], _tfl,
           "3x4 -> 7x9, align_corners=false, half_pixel_centers=false", _resize(_op, [7, 9], False, False))
    simple(f"resize_{_kind}_up_align", [F(1, 3, 4, 2)], _tfl, "3x4 -> 5x7, align_corners=true",
           _resize(_op, [5, 7], True, False))
    simple(f"resize_{_kind}_up_half_pixel", [F(1, 3, 4, 2)], _tfl, "3x4 -> 8x6, half_pixel_centers=true",
           _resize(_op, [8, 6], False, True))
    simple(f"resize_{_kind}_down_half_pixel", [F(2, 7, 9, 1)], _tfl, "7x9 -> 3x4, half_pixel_centers=true, batch 2",
           _resize(_op, [3, 4], False, True))
    simple(f"resize_{_kind}_down_align", [F(1, 7, 9, 3)], _tfl, "7x9 -> 4x5, align_corners=true",
           _resize(_op, [4, 5], True, False))

simple("space_to_depth_b2", [F(1, 4, 6, 3)], "SPACE_TO_DEPTH", "block 2", lambda x: tf.nn.space_to_depth(x, 2))
simple("space_to_depth_b3", [F(2, 3, 6, 1)], "SPACE_TO_DEPTH", "block 3, batch 2", lambda x: tf.nn.space_to_depth(x, 3))
simple("depth_to_space_b2", [F(1, 2, 3, 8)], "DEPTH_TO_SPACE", "block 2, 8 -> 2 channels",
       lambda x: tf.nn.depth_to_space(x, 2))
simple("depth_to_space_b3", [F(1, 2, 2, 9)], "DEPTH_TO_SPACE", "block 3", lambda x: tf.nn.depth_to_space(x, 3))

# ---- activations

simple(
    "softmax_2d", [F(3, 7, gen=("uniform", -8, 8))], "SOFTMAX", "rank 2, last axis, beta 1", lambda x: tf.nn.softmax(x)
)
simple("softmax_4d", [F(1, 2, 3, 5)], "SOFTMAX", "rank 4, last axis", lambda x: tf.nn.softmax(x))
simple("softmax_scaled_input", [F(2, 6)], "SOFTMAX",
       "softmax(0.3 * x): the converter keeps MUL + SOFTMAX(beta=1), no beta != 1", lambda x: tf.nn.softmax(x * 0.3))
simple("softmax_axis1", [F(2, 4, 3)], "SOFTMAX", "axis 1 (not last)", lambda x: tf.nn.softmax(x, axis=1))
simple("log_softmax_2d", [F(3, 6, gen=("uniform", -8, 8))], "LOG_SOFTMAX", "rank 2, last axis",
       lambda x: tf.nn.log_softmax(x))
simple("log_softmax_3d", [F(2, 2, 5)], "LOG_SOFTMAX", "rank 3, last axis", lambda x: tf.nn.log_softmax(x))
simple("logistic", [F(3, 8, gen=("uniform", -12, 12))], "LOGISTIC", "wide range [-12,12]", lambda x: tf.sigmoid(x))
simple("tanh", [F(3, 8, gen=("uniform", -6, 6))], "TANH", "range [-6,6]", lambda x: tf.tanh(x))
simple("relu", [F(2, 3, 4)], "RELU", "standalone", lambda x: tf.nn.relu(x))
simple("relu6", [F(2, 3, 4, gen=("uniform", -8, 8))], "RELU6", "standalone, range [-8,8]", lambda x: tf.nn.relu6(x))
simple("relu_n1_to_1", [F(4, 5, gen=("uniform", -3, 3))], "RELU_N1_TO_1", "clip_by_value(x, -1, 1)",
       lambda x: tf.clip_by_value(x, -1.0, 1.0))
simple("leaky_relu", [F(3, 5)], "LEAKY_RELU", "alpha 0.3", lambda x: tf.nn.leaky_relu(x, alpha=0.3))
simple("leaky_relu_alpha_gt1", [F(3, 5)], "LEAKY_RELU", "alpha 1.7", lambda x: tf.nn.leaky_relu(x, alpha=1.7))


# The converter fuses Keras' PReLU pattern relu(x) + (-alpha) * relu(-x) only when alpha has rank(x) - 1.
@case("prelu_per_channel", [F(1, 3, 4, 5)], "PRELU",
      "relu(x) + (-alpha) * relu(-x), alpha [1,1,5] (per channel, shared H/W)")
def _(r):
    na = -W(r, 1, 1, 5)
    return lambda x: tf.nn.relu(x) + na * tf.nn.relu(-x)


@case("prelu_full_alpha", [F(2, 3, 4)], "PRELU", "alpha [3,4] (per element, shared over batch)")
def _(r):
    na = -W(r, 3, 4)
    return lambda x: tf.nn.relu(x) + na * tf.nn.relu(-x)


simple("elu", [F(3, 6, gen=("uniform", -4, 4))], "ELU", "range [-4,4]", lambda x: tf.nn.elu(x))
simple("hard_swish", [F(3, 8, gen=("uniform", -5, 5))], "HARD_SWISH", "x * relu6(x + 3) / 6",
       lambda x: x * tf.nn.relu6(x + 3.0) / 6.0)
simple("hard_swish_mul", [F(3, 8, gen=("uniform", -5, 5))], "HARD_SWISH", "x * relu6(x + 3) * (1/6)",
       lambda x: x * tf.nn.relu6(x + 3.0) * 0.16666667)
simple("gelu_exact", [F(3, 8, gen=("uniform", -4, 4))], "GELU", "approximate=false (erf)",
       lambda x: tf.nn.gelu(x, approximate=False))
simple("gelu_tanh", [F(3, 8, gen=("uniform", -4, 4))], "GELU", "approximate=true (tanh)",
       lambda x: tf.nn.gelu(x, approximate=True))

# ---- unary math

simple("exp", [F(3, 5, gen=("uniform", -5, 5))], "EXP", "range [-5,5]", lambda x: tf.exp(x))
simple("log", [F(3, 5, gen=("uniform", 0.01, 10))], "LOG", "domain (0.01,10)", lambda x: tf.math.log(x))
simple("sqrt", [F(3, 5, gen=("uniform", 0.0, 10))], "SQRT", "domain [0,10)", lambda x: tf.sqrt(x))
simple("rsqrt", [F(3, 5, gen=("uniform", 0.05, 10))], "RSQRT", "domain [0.05,10)", lambda x: tf.math.rsqrt(x))
simple("square", [F(3, 5)], "SQUARE", "", lambda x: tf.square(x))
simple("abs", [F(3, 5)], "ABS", "float", lambda x: tf.abs(x))
simple("abs_int32", [I32(7)], "ABS", "int32", lambda x: tf.abs(x))
simple("neg", [F(3, 5)], "NEG", "float", lambda x: -x)
simple("neg_int32", [I32(6)], "NEG", "int32", lambda x: -x)
simple("floor", [F(4, 5, gen="halves")], "FLOOR", "exact halves and integers included", lambda x: tf.floor(x))
simple("ceil", [F(4, 5, gen="halves")], "CEIL", "exact halves and integers included", lambda x: tf.math.ceil(x))
simple("round", [F(4, 5, gen="halves")], "ROUND", "half to even on exact .5 ties", lambda x: tf.round(x))
simple("sin", [F(3, 6, gen=("uniform", -10, 10))], "SIN", "range [-10,10]", lambda x: tf.sin(x))
simple("cos", [F(3, 6, gen=("uniform", -10, 10))], "COS", "range [-10,10]", lambda x: tf.cos(x))
simple("l2_normalize_last", [F(3, 6)], "L2_NORMALIZATION", "axis -1", lambda x: tf.math.l2_normalize(x, axis=-1))
simple("l2_normalize_tiny_rows", [F(3, 4, gen=("value", [0, 0, 0, 0, 1e-4, -2e-4, 0, 1e-4, 3, -4, 0, 0]))],
       "L2_NORMALIZATION", "all-zero row, tiny-norm row (epsilon handling), 3-4-5 row",
       lambda x: tf.math.l2_normalize(x, axis=-1))
simple(
    "l2_normalize_4d", [F(1, 2, 3, 4)], "L2_NORMALIZATION", "rank 4, axis 3", lambda x: tf.math.l2_normalize(x, axis=3)
)

# ---- selection, comparison, logic

simple("select_v2_bcast", [B(2, 1, 4), F(3, 1), F(2, 3, 4)], "SELECT_V2", "tf.where with 3-way broadcast",
       lambda c, a, b: tf.where(c, a, b))
simple("select_same_shape", [B(3, 4), F(3, 4), F(3, 4)], "SELECT", "raw Select, equal shapes",
       lambda c, a, b: tf.raw_ops.Select(condition=c, x=a, y=b))
simple("select_rank1_cond", [B(3), F(3, 4), F(3, 4)], "SELECT", "raw Select, rank-1 condition picks rows",
       lambda c, a, b: tf.raw_ops.Select(condition=c, x=a, y=b))
simple("select_v2_int32", [B(4), I32(3, 4), I32(1)], "SELECT_V2", "int32 values, broadcast",
       lambda c, a, b: tf.where(c, a, b))

_INTF = ("int", -2, 3)  # small integer-valued floats so equality actually happens
for _name, _tfl, _fn in (
    ("less", "LESS", lambda a, b: a < b),
    ("less_equal", "LESS_EQUAL", lambda a, b: a <= b),
    ("greater", "GREATER", lambda a, b: a > b),
    ("greater_equal", "GREATER_EQUAL", lambda a, b: a >= b),
    ("equal", "EQUAL", lambda a, b: tf.equal(a, b)),
    ("not_equal", "NOT_EQUAL", lambda a, b: tf.not_equal(a, b)),
):
    simple(
        f"{_name}_bcast", [F(2, 3, 4, gen=_INTF), F(4, gen=_INTF)], _tfl, "float, broadcast rank mismatch, ties", _fn
    )
    simple(f"{_name}_int32", [I32(3, 1, gen=("int", -2, 3)), I32(1, 4, gen=("int", -2, 3))], _tfl,
           "int32, both broadcast", _fn)

simple("logical_and_bcast", [B(2, 3), B(3)], "LOGICAL_AND", "broadcast", lambda a, b: tf.logical_and(a, b))
simple("logical_or_bcast", [B(2, 1), B(1, 4)], "LOGICAL_OR", "both broadcast", lambda a, b: tf.logical_or(a, b))
simple("logical_not", [B(3, 4)], "LOGICAL_NOT", "", lambda a: tf.logical_not(a))

# ---- (de)quantization


@case("dequantize_f16_add", [F(2, 5)], ["DEQUANTIZE", "ADD"],
      "float16 weights: x + const, const stored as f16 -> DEQUANTIZE", quant="float16")
def _(r):
    c = W(r, 5)
    return lambda x: x + c


@case("dequantize_f16_conv", [F(1, 5, 5, 2)], ["DEQUANTIZE", "CONV_2D"], "float16 conv weights and bias -> DEQUANTIZE",
      quant="float16")
def _(r):
    w, b = W(r, 3, 3, 2, 3), W(r, 3)
    return lambda x: tf.nn.conv2d(x, w, 1, "SAME") + b


simple("quant_int8_maxpool", [F(1, 4, 6, 2, gen=("uniform", -2, 2))], ["QUANTIZE", "MAX_POOL_2D", "DEQUANTIZE"],
       "full-integer int8 with float I/O: QUANTIZE f32->int8, int8 MAX_POOL, DEQUANTIZE int8->f32",
       lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), quant="int8_float_io")


@case("quant_int8_fc", [F(2, 6, gen=("uniform", -2, 2))], ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"],
      "full-integer int8 FC (per-channel int8 weights, int32 bias) with float I/O", quant="int8_float_io")
def _(r):
    w, b = W(r, 6, 3), W(r, 3)
    return lambda x: tf.matmul(x, w) + b


# ================================================================ driver


def case_rngs(name: str) -> tuple[np.random.Generator, np.random.Generator]:
    """(weights rng, inputs rng) for a case: fixed seed + crc32 of the name (stable under reordering)."""
    crc = zlib.crc32(name.encode())
    return np.random.default_rng([SEED, crc, 0]), np.random.default_rng([SEED, crc, 1])


def convert(c: Case, fn) -> tuple[bytes, Any]:
    specs = [
        tf.TensorSpec(list(s.sig if s.sig is not None else s.shape), tf.as_dtype(s.dtype), name=f"x{k}")
        for k, s in enumerate(c.inputs)
    ]
    # Passing the owning module gives the model a `serving_default` signature, like converted SavedModels.
    module = tf.Module()
    module.f = tf.function(fn, input_signature=specs, autograph=False)
    cf = module.f.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], module)
    if c.quant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif c.quant == "int8_float_io":
        rep_rng = np.random.default_rng([SEED, zlib.crc32(c.name.encode()), 2])
        rep = [[gen_values(rep_rng, s) for s in c.inputs] for _ in range(32)]
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: iter(rep)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif c.quant is not None:
        raise ValueError(c.quant)
    return conv.convert(), cf


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def flatbuffer_ops(buf: bytes) -> list[dict]:
    """Operators of subgraph 0 read back from the flatbuffer: name, builtin options, const-ness of inputs."""
    from tensorflow.lite.python import schema_py_generated as s

    ops_names = _enum_names(s.BuiltinOperator)
    tt_names = _enum_names(s.TensorType)
    enum_fields = {
        "fusedActivationFunction": _enum_names(s.ActivationFunctionType),
        "padding": _enum_names(s.Padding),
        "mode": _enum_names(s.MirrorPadMode),
        "inDataType": tt_names,
        "outDataType": tt_names,
        "outputType": tt_names,
        "outType": tt_names,
        "weightsFormat": _enum_names(s.FullyConnectedOptionsWeightsFormat),
        "quantizedBiasType": tt_names,
    }
    m = s.ModelT.InitFromPackedBuf(buf, 0)
    sg = m.subgraphs[0]
    out = []
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        bcode = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        opts: dict[str, Any] = {}
        for src in (op.builtinOptions, op.builtinOptions2):
            if src is None:
                continue
            for key, val in sorted(vars(src).items()):
                if key in enum_fields and isinstance(val, int):
                    val = enum_fields[key].get(val, val)
                elif isinstance(val, np.ndarray):
                    val = val.tolist()
                elif isinstance(val, (np.integer, np.floating, np.bool_)):
                    val = val.item()
                opts[key] = val
        ins = []
        for t in op.inputs:
            if t < 0:
                ins.append({"tensor": -1, "optional_absent": True})
                continue
            ten = sg.tensors[t]
            data = m.buffers[ten.buffer].data if ten.buffer < len(m.buffers) else None
            ins.append(
                {
                    "tensor": int(t),
                    "shape": [int(v) for v in (ten.shape if ten.shape is not None else [])],
                    "dtype": tt_names.get(ten.type, ten.type),
                    "const": data is not None and len(data) > 0,
                }
            )
        out.append(
            {"op": ops_names.get(bcode, str(bcode)), "version": int(code.version), "options": opts, "inputs": ins}
        )
    return out


def run_litert(path: Path, xs: list[np.ndarray]) -> tuple[Any, list[np.ndarray]]:
    """Reference-kernel LiteRT run; resizes inputs whose signature has dynamic dims."""
    interp = fixture_io.make_interpreter(path, reference=True)
    dets = interp.get_input_details()
    for d, x in zip(dets, xs):
        if list(d["shape_signature"]) != list(x.shape):
            interp.resize_tensor_input(d["index"], list(x.shape), strict=False)
    interp.allocate_tensors()
    for d, x in zip(dets, xs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return interp, [np.array(interp.get_tensor(o["index"])) for o in interp.get_output_details()]


def tensor_json(d: dict, run_shape: tuple) -> dict:
    j = fixture_io.jsonable_detail(d)
    j["shape"] = [int(v) for v in run_shape]
    if j["quantization"]["scale"] == 0.0:
        del j["quantization"], j["quantization_parameters"]
    return j


def compare(tf_out: np.ndarray, lite_out: np.ndarray) -> dict:
    if tf_out.shape != lite_out.shape or tf_out.dtype != lite_out.dtype:
        return {
            "match": False,
            "why": f"tf {tf_out.dtype}{list(tf_out.shape)} vs litert {lite_out.dtype}{list(lite_out.shape)}",
        }
    if np.issubdtype(lite_out.dtype, np.floating):
        diff = np.abs(tf_out.astype(np.float64) - lite_out.astype(np.float64))
        return {
            "max_abs_diff": float(np.max(diff)) if diff.size else 0.0,
            "bit_identical": bool(np.array_equal(tf_out, lite_out)),
        }
    return {"bit_identical": bool(np.array_equal(tf_out, lite_out)), "mismatches": int(np.sum(tf_out != lite_out))}


def build_case(c: Case, out: Path) -> dict:
    rng_w, rng_x = case_rngs(c.name)
    fn = c.make(rng_w)
    xs = [gen_values(rng_x, s) for s in c.inputs]
    buf, cf = convert(c, fn)
    path = out / f"{c.name}.tflite"
    path.write_bytes(buf)

    # Map our positional inputs (signature names x<k>) to the model's input order (often not the same).
    probe = fixture_io.make_interpreter(path, reference=True)
    sig = probe._get_full_signature_list()["serving_default"]  # noqa: SLF001
    in_name = {v: k for k, v in sig["inputs"].items()}
    out_name = {v: k for k, v in sig["outputs"].items()}
    model_in = [in_name[d["index"]] for d in probe.get_input_details()]
    if sorted(model_in) != sorted(f"x{k}" for k in range(len(xs))):
        raise RuntimeError(f"{c.name}: unexpected input names {model_in}")
    xs_model = [xs[int(n[1:])] for n in model_in]

    interp, outs = run_litert(path, xs_model)
    ops = fixture_io.op_names(interp)
    missing = [e for e in c.expect if e not in ops]
    if missing:
        raise RuntimeError(f"{c.name}: expected {missing} in {ops}")
    in_dets = interp.get_input_details()
    out_dets = interp.get_output_details()

    # TensorFlow's own result for the same inputs, matched to model outputs by signature name.
    # Some TF CPU kernels reject options TFLite supports (e.g. unequal depthwise strides): record that instead.
    checks: list[dict] = []
    try:
        tf_res = cf(*[tf.constant(x) for x in xs])
    except tf.errors.InvalidArgumentError as e:
        # Drop the "{{function_node __inference_<lambda>_NNN}}" prefix (a per-process counter).
        checks.append({"tf_error": re.sub(r"\{\{[^}]*\}\}\s*", "", e.message).strip().splitlines()[0]})
    else:
        tf_list = [tf_res] if not isinstance(tf_res, (list, tuple)) else list(tf_res)
        for d, y in zip(out_dets, outs):
            # Signature output "output_k" is the k-th (flattened) result of the function.
            k = int(out_name[d["index"]].removeprefix("output_"))
            checks.append({"tf_output": k, **compare(tf_list[k].numpy(), y)})

    entry_in = []
    for k, (d, x) in enumerate(zip(in_dets, xs_model)):
        fname = f"{c.name}.in{k}.npy"
        np.save(out / fname, x)
        entry_in.append({"file": fname, "signature_name": in_name[d["index"]], **tensor_json(d, x.shape)})
    entry_out = []
    for k, (d, y) in enumerate(zip(out_dets, outs)):
        fname = f"{c.name}.out{k}.npy"
        np.save(out / fname, y)
        entry_out.append({"file": fname, "signature_name": out_name[d["index"]], **tensor_json(d, y.shape)})
    return {
        "file": path.name,
        "size": len(buf),
        "for_ops": c.expect,
        "note": c.note,
        "converter": {
            None: "float32, no optimizations",
            "float16": "optimizations=[DEFAULT], supported_types=[float16]",
            "int8_float_io": "optimizations=[DEFAULT], representative_dataset (32 samples), "
            "supported_ops=[TFLITE_BUILTINS_INT8], float I/O",
        }[c.quant],
        "ops": ops,
        "operators": flatbuffer_ops(buf),
        "inputs": entry_in,
        "outputs": entry_out,
        "tf_vs_litert": checks,
    }


def main() -> int:
    global tf
    ap = argparse.ArgumentParser(description="Generate tests/fixtures/ops (see module docstring).")
    ap.add_argument("--out", type=Path, default=OUT, help="output dir (default tests/fixtures/ops)")
    ap.add_argument("--only", nargs="*", help="build only these cases (manifest is not written)")
    args = ap.parse_args()
    out = args.out.resolve()

    import tensorflow

    tf = tensorflow
    tf.get_logger().setLevel("ERROR")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()

    names = [c.name for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise RuntimeError(f"duplicate case names {sorted(dup)}")
    todo = [c for c in CASES if not args.only or c.name in args.only]
    out.mkdir(parents=True, exist_ok=True)
    if not args.only:
        for p in out.iterdir():  # start clean so removed cases do not linger
            if p.suffix in (".tflite", ".npy", ".json"):
                p.unlink()

    t0 = time.time()
    cases: dict[str, dict] = {}
    failures = []
    for c in todo:
        try:
            cases[c.name] = entry = build_case(c, out)
        except Exception as e:  # report all failures at the end
            failures.append(
                f"{c.name}: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
            )
            print(f"FAIL {failures[-1]}", flush=True)
            continue
        print(f"{c.name:40s} {entry['size']:6d} B  {' '.join(entry['ops'])}", flush=True)
    if failures:
        print("\n".join(["failures:", *failures]))
        return 1
    if args.only:
        return 0

    from make_fixtures import all_versions, to_json  # shared pretty-printer / environment listing

    covered = sorted({op for e in cases.values() for op in e["for_ops"]})
    manifest = {
        "generator": "tools/make_op_fixtures.py",
        "regenerate": "tools/.venv/bin/python tools/make_op_fixtures.py",
        "seed": SEED,
        "seeding": "weights: default_rng([seed, crc32(case), 0]); inputs: default_rng([seed, crc32(case), 1]); "
        "int8 representative data: default_rng([seed, crc32(case), 2])",
        "litert": "ai_edge_litert Interpreter(num_threads=1, experimental_op_resolver_type="
        "BUILTIN_WITHOUT_DEFAULT_DELEGATES); inputs with dynamic dims resized to the stored input shape",
        "layout": "<case>.tflite, <case>.in<k>.npy (k = model input order), <case>.out<k>.npy (model output order)",
        "ops_covered": covered,
        "cases": cases,
        "environment": {
            "packages": {
                k: v
                for k, v in all_versions().items()
                if k in ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "numpy")
            }
        },
    }
    (out / "manifest.json").write_text(to_json(manifest) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{len(cases)} cases, {len(covered)} ops, wrote {out} ({total / 1e6:.3f} MB) in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
