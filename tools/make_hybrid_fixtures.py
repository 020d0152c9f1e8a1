#!/usr/bin/env python3
"""Single-operator dynamic-range (hybrid), int8 BATCH_MATMUL and float16 fixtures (issue #5).

Regenerate (from the repo root):

    tools/.venv/bin/python tools/make_hybrid_fixtures.py

Every case is a ``tf.function`` with constant weights, converted by ``TFLiteConverter``:

* ``hybrid_*``: ``optimizations=[DEFAULT]`` and no representative dataset, i.e. dynamic-range
  quantization. TF keeps weights with fewer than 1024 elements float, so every weight here has
  at least 1024 elements. TF 2.21 does emit hybrid DEPTHWISE_CONV_2D (float input, int8 filter
  with one scale per output channel) and hybrid BATCH_MATMUL (float lhs, int8 rhs with one
  scale) -- the script fails if a converted file does not contain the expected operator with an
  int8 weight and float activations.
* ``int8_bmm_*``: full-integer BATCH_MATMUL (representative dataset, TFLITE_BUILTINS_INT8, float
  I/O, so the graph is QUANTIZE -> BATCH_MATMUL -> DEQUANTIZE); for the bit-exact check the
  int8 output of BATCH_MATMUL itself is recorded too (``.q.npy``, via
  ``experimental_preserve_all_tensors``).
* ``f16_*``: ``supported_types=[tf.float16]`` (fp16 weights + DEQUANTIZE), with weights above
  the runtime's 65,536-element folding cap so the fold of DEQUANTIZE at allocate time is
  exercised.

For each case ``<case>.tflite``, ``<case>.in<k>.npy`` and ``<case>.out0.npy`` (LiteRT built-in
kernels, ``BUILTIN_WITHOUT_DEFAULT_DELEGATES``, one thread) go to ``tests/fixtures/hybrid/``, and
``manifest.json`` lists the operators, the options that matter (``asymmetric_quantize_inputs``,
``adj_x`` / ``adj_y``, depth multiplier, strides, dilation), the weight quantization and the
largest difference between LiteRT and TensorFlow's float result. Deterministic: fixed seeds,
one thread.
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

import json  # noqa: E402
import sys  # noqa: E402
import zlib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "hybrid"
SEED = 20261127


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def read_model(data: bytes):
    from tensorflow.lite.python import schema_py_generated as s

    return s, s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))


def describe(data: bytes) -> list[dict]:
    """Per operator: name, version, options of interest, input dtypes and weight quantization."""
    s, m = read_model(data)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}
    sg = m.subgraphs[0]
    ops = []
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        rec = {
            "op": names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?"),
            "version": int(code.version),
            "inputs": [],
            "options": {},
        }
        opts = op.builtinOptions
        for key in (
            "asymmetricQuantizeInputs",
            "adjX",
            "adjY",
            "depthMultiplier",
            "strideH",
            "strideW",
            "dilationHFactor",
            "dilationWFactor",
            "padding",
            "fusedActivationFunction",
        ):
            if opts is not None and hasattr(opts, key):
                v = getattr(opts, key)
                rec["options"][key] = bool(v) if isinstance(v, bool) else int(v)
        for i in op.inputs:
            if i < 0:
                rec["inputs"].append(None)
                continue
            t = sg.tensors[i]
            q = t.quantization
            rec["inputs"].append(
                {
                    "dtype": types[t.type],
                    "shape": [int(d) for d in t.shape],
                    "constant": bool(m.buffers[t.buffer].data is not None and len(m.buffers[t.buffer].data) > 0),
                    "scales": len(q.scale) if q is not None and q.scale is not None else 0,
                    "zero_points_nonzero": bool(
                        q is not None and q.zeroPoint is not None and np.any(np.asarray(q.zeroPoint) != 0)
                    ),
                    "quantized_dimension": int(q.quantizedDimension) if q is not None else 0,
                }
            )
        ops.append(rec)
    return ops


def run_litert(data: bytes, inputs: list[np.ndarray], preserve: bool = False):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=data,
        num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=preserve,
    )
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return interp


CASES: list[dict] = []


def case(name, expect, shapes, kind, note):
    def deco(build):
        CASES.append(
            {"name": name, "expect": expect, "shapes": shapes, "kind": kind, "note": note, "build": build}
        )
        return build

    return deco


def normal(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# hybrid DEPTHWISE_CONV_2D


@case("hybrid_dw_3x3_same_relu6", "DEPTHWISE_CONV_2D", [[2, 9, 9, 128]], "dynamic",
      "3x3 SAME stride 1, multiplier 1, bias, ReLU6; 1152 weights; per-image asymmetric input")
def _(tf, r):
    w = tf.constant(normal(r, 3, 3, 128, 1, scale=0.4))
    b = tf.constant(normal(r, 128, scale=0.3))
    return lambda x: tf.nn.relu6(tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME") + b)


@case("hybrid_dw_mult2_stride2_valid", "DEPTHWISE_CONV_2D", [[3, 11, 10, 64]], "dynamic",
      "3x3 VALID stride 2, depth multiplier 2 (128 outputs), bias, no activation")
def _(tf, r):
    w = tf.constant(normal(r, 3, 3, 64, 2, scale=0.4))
    b = tf.constant(normal(r, 128, scale=0.3))
    return lambda x: tf.nn.depthwise_conv2d(x, w, [1, 2, 2, 1], "VALID") + b


@case("hybrid_dw_5x5_dilated", "DEPTHWISE_CONV_2D", [[1, 12, 12, 48]], "dynamic",
      "5x5 SAME dilation 2, multiplier 1, bias, ReLU; input shifted positive (zero point far from 0)")
def _(tf, r):
    w = tf.constant(normal(r, 5, 5, 48, 1, scale=0.3))
    b = tf.constant(normal(r, 48, scale=0.3))
    return lambda x: tf.nn.relu(
        tf.nn.depthwise_conv2d(x + 1.5, w, [1, 1, 1, 1], "SAME", dilations=[2, 2]) + b
    )


# ---------------------------------------------------------------------------------------------
# hybrid BATCH_MATMUL


@case("hybrid_bmm_3d", "BATCH_MATMUL", [[2, 5, 64]], "dynamic",
      "[2,5,64] x const [2,64,48]: one weight matrix per batch")
def _(tf, r):
    w = tf.constant(normal(r, 2, 64, 48, scale=0.3))
    return lambda x: tf.matmul(x, w)


@case("hybrid_bmm_adj_y", "BATCH_MATMUL", [[2, 7, 40]], "dynamic",
      "[2,7,40] x const [2,32,40] with transpose_b (adj_y); input shifted positive")
def _(tf, r):
    w = tf.constant(normal(r, 2, 32, 40, scale=0.3))
    return lambda x: tf.matmul(x + 0.75, w, transpose_b=True)


@case("hybrid_bmm_adj_x", "BATCH_MATMUL", [[3, 48, 6]], "dynamic",
      "[3,48,6] with transpose_a (adj_x) x const [3,48,24]")
def _(tf, r):
    w = tf.constant(normal(r, 3, 48, 24, scale=0.3))
    return lambda x: tf.matmul(x, w, transpose_a=True)


@case("hybrid_bmm_bcast", "BATCH_MATMUL", [[2, 3, 4, 32]], "dynamic",
      "[2,3,4,32] x const [3,32,16]: weights broadcast over the leading batch dim")
def _(tf, r):
    w = tf.constant(normal(r, 3, 32, 16, scale=0.3))
    return lambda x: tf.matmul(x, w)


# ---------------------------------------------------------------------------------------------
# int8 BATCH_MATMUL


@case("int8_bmm_two_inputs", "BATCH_MATMUL", [[2, 5, 64], [2, 64, 7]], "int8",
      "both operands are activations (asymmetric per-tensor int8)")
def _(tf, r):
    return lambda x, y: tf.matmul(x, y)


@case("int8_bmm_const_rhs", "BATCH_MATMUL", [[2, 5, 64]], "int8",
      "constant rhs [2,64,48] (TF quantizes it per tensor with a zero point)")
def _(tf, r):
    w = tf.constant(normal(r, 2, 64, 48, scale=0.3))
    return lambda x: tf.matmul(x, w)


@case("int8_bmm_adj_y_bcast", "BATCH_MATMUL", [[3, 6, 16], [1, 10, 16]], "int8",
      "adj_y, rhs batch broadcast: [3,6,16] x [1,10,16]^T")
def _(tf, r):
    return lambda x, y: tf.matmul(x, y, transpose_b=True)


@case("int8_bmm_adj_y", "BATCH_MATMUL", [[2, 6, 16], [2, 10, 16]], "int8",
      "adj_y without broadcast: [2,6,16] x [2,10,16]^T")
def _(tf, r):
    return lambda x, y: tf.matmul(x, y, transpose_b=True)


@case("int8_bmm_bcast", "BATCH_MATMUL", [[3, 6, 16], [1, 16, 10]], "int8",
      "rhs batch broadcast without adj_y: [3,6,16] x [1,16,10]")
def _(tf, r):
    return lambda x, y: tf.matmul(x, y)


@case("int8_bmm_adj_x", "BATCH_MATMUL", [[2, 16, 6], [2, 16, 10]], "int8",
      "adj_x: [2,16,6]^T x [2,16,10]")
def _(tf, r):
    return lambda x, y: tf.matmul(x, y, transpose_a=True)


@case("int8_bmm_4d", "BATCH_MATMUL", [[2, 3, 4, 24], [2, 3, 24, 9]], "int8",
      "rank 4, two batch dims")
def _(tf, r):
    return lambda x, y: tf.matmul(x, y)


# ---------------------------------------------------------------------------------------------
# float16


@case("f16_fc_large", "FULLY_CONNECTED", [[4, 512]], "float16",
      "FC 512 -> 256 (131,072 fp16 weights, above the 65,536-element fold cap) + ReLU")
def _(tf, r):
    w = tf.constant(normal(r, 512, 256, scale=0.05))
    b = tf.constant(normal(r, 256, scale=0.1))
    return lambda x: tf.nn.relu(tf.matmul(x, w) + b)


@case("f16_conv_large", "CONV_2D", [[1, 10, 10, 96]], "float16",
      "3x3 conv 96 -> 96 (82,944 fp16 weights) + bias")
def _(tf, r):
    w = tf.constant(normal(r, 3, 3, 96, 96, scale=0.05))
    b = tf.constant(normal(r, 96, scale=0.1))
    return lambda x: tf.nn.conv2d(x, w, 1, "SAME") + b


def convert(tf, c: dict, fn, inputs: list[np.ndarray]) -> bytes:
    specs = [tf.TensorSpec(s, tf.float32) for s in c["shapes"]]
    tfn = tf.function(fn, input_signature=specs)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([tfn.get_concrete_function()], tfn)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if c["kind"] == "int8":
        rep_rng = rng_for(c["name"] + "/rep")

        def rep():
            for _ in range(20):
                yield [normal(rep_rng, *s) for s in c["shapes"]]

        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif c["kind"] == "float16":
        conv.target_spec.supported_types = [tf.float16]
    return conv.convert()


def check_kind(c: dict, ops: list[dict]) -> None:
    target = [o for o in ops if o["op"] == c["expect"]]
    if not target:
        raise SystemExit(f"{c['name']}: no {c['expect']} in {[o['op'] for o in ops]}")
    op = target[0]
    if c["kind"] == "dynamic":
        dtypes = [i["dtype"] if i else None for i in op["inputs"]]
        if dtypes[0] != "FLOAT32" or dtypes[1] != "INT8":
            raise SystemExit(f"{c['name']}: {c['expect']} is not hybrid: {dtypes}")
    elif c["kind"] == "int8":
        if op["inputs"][0]["dtype"] != "INT8":
            raise SystemExit(f"{c['name']}: {c['expect']} is not int8")
    elif c["kind"] == "float16":
        if "DEQUANTIZE" not in [o["op"] for o in ops]:
            raise SystemExit(f"{c['name']}: no DEQUANTIZE in float16 model")


def main() -> None:
    import tensorflow as tf

    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {
        "generator": "tools/make_hybrid_fixtures.py",
        "tensorflow": tf.__version__,
        "oracle": "ai_edge_litert Interpreter, BUILTIN_WITHOUT_DEFAULT_DELEGATES, 1 thread",
        "cases": {},
    }
    for c in CASES:
        r = rng_for(c["name"])
        fn = c["build"](tf, r)
        inputs = [normal(r, *s) for s in c["shapes"]]
        data = convert(tf, c, fn, inputs)
        ops = describe(data)
        check_kind(c, ops)
        name = c["name"]
        (OUT / f"{name}.tflite").write_bytes(data)
        for k, x in enumerate(inputs):
            np.save(OUT / f"{name}.in{k}.npy", x)
        interp = run_litert(data, inputs, preserve=c["kind"] == "int8")
        out = np.array(interp.get_tensor(interp.get_output_details()[0]["index"]))
        np.save(OUT / f"{name}.out0.npy", out)
        rec = {
            "note": c["note"],
            "kind": c["kind"],
            "ops": ops,
            "inputs": [list(x.shape) for x in inputs],
            "output": list(out.shape),
        }
        if c["kind"] == "int8":
            # The int8 result of the BATCH_MATMUL itself (bit-exact target).
            opd = [d for d in interp._get_ops_details() if d["op_name"] == "BATCH_MATMUL"][0]  # noqa: SLF001
            q = np.array(interp.get_tensor(int(opd["outputs"][0])))
            qin = [np.array(interp.get_tensor(int(i))) for i in opd["inputs"]]
            np.save(OUT / f"{name}.q.npy", q)
            for k, v in enumerate(qin):
                np.save(OUT / f"{name}.qin{k}.npy", v)
            rec["int8_output"] = f"{name}.q.npy"
        want = np.asarray(fn(*[tf.constant(x) for x in inputs]))
        rec["max_abs_litert_vs_tf"] = float(np.max(np.abs(want - out.astype(np.float32))))
        rec["max_abs_tf"] = float(np.max(np.abs(want)))
        manifest["cases"][name] = rec
        print(f"{name}: {[o['op'] for o in ops]} max|litert-tf|={rec['max_abs_litert_vs_tf']:.3g}")
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
