#!/usr/bin/env python3
"""Single-operator int16x8 models with LiteRT goldens (issue #5 / #7).

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_int16_fixtures.py

Every case is a tiny tf-keras model (or ``tf.function``) converted by
``TFLiteConverter`` in int16x8 mode
(``supported_ops=[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]``,
``optimizations=[DEFAULT]``, a representative dataset) with int16 model I/O, so
the file holds just the operator under test; ``quant_dequant`` keeps float I/O
to cover QUANTIZE (float -> int16) and DEQUANTIZE (int16 -> float). The
representative data is scaled by odd factors per input (``Case.ranges``) so the
activation scales are "awkward" (not powers of two, inputs of one op far apart).
A few cases then patch the flatbuffer (``Case.patch``) where the converter
cannot produce what we want to test: power-of-two input scales for LOGISTIC /
TANH (LiteRT's other int16 code path), an input scale that walks every entry of
their sigmoid table (``*_grid``, fixed inputs), a SOFTMAX ``beta`` other than 1,
and a FULLY_CONNECTED without ``quantized_bias_type`` (LiteRT's ruy path). The
FULLY_CONNECTED cases have 12 rows; up to half of them are chosen so that LiteRT's
two int16x8 FC kernels (ruy vs f64-scaled reference) would give different results.

Inputs are random floats quantized with the model's input parameters (TFLite's
QUANTIZE rule, ``fixture_io.quantize``), with the int16 extremes mixed in; the
outputs come from LiteRT's built-in kernels (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``,
one thread) and are the bit-exact target for ferrolite. Written under
``tests/fixtures/int16/``:

* ``<case>.tflite``, ``<case>.in<k>.npy`` (model input order), ``<case>.out<k>.npy``;
* ``manifest.json``: per case the op list LiteRT reports, inputs / outputs with
  their quantization, what the case exercises.

Deterministic: fixed seeds (``default_rng([SEED, crc32(case), k])``), one thread.
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
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

SEED = 20261127
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "int16"
SAMPLES = 48  # representative-dataset samples per case

tf: Any = None  # imported in main()


@dataclass
class Case:
    """One single-op model: builder, input shapes (no batch dim), std-dev of each input's data."""

    name: str
    build: Callable[[Any], Any]  # (weights rng) -> tf-keras model
    shapes: list[tuple]
    ranges: list[float]
    expect: list[str]
    note: str
    float_io: bool = False
    bias_int32: bool = False
    per_tensor_dense: bool = False
    patch: Callable[[Any], str] | None = None  # edits the model object, returns a note
    fixed_input: Callable[[], np.ndarray] | None = None  # replaces the random int16 input


def k():
    return tf.keras


def seq(shape, layer_fn):
    """Sequential model over one input; biases/weights drawn from the case's rng."""

    def build(rng):
        inp = k().Input(shape=shape, batch_size=1)
        layer = layer_fn()
        out = layer(inp)
        model = k().Model(inp, out)
        randomize(model, rng)
        return model

    return build


def two_inputs(shape_a, shape_b, combine):
    def build(rng):
        a = k().Input(shape=shape_a, batch_size=1)
        b = k().Input(shape=shape_b, batch_size=1)
        return k().Model([a, b], combine(a, b))

    return build


def randomize(model, rng):
    """Replace zero-initialised biases with random ones (the converter drops all-zero biases)."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if w.ndim == 1:
                new.append(rng.normal(0, 0.5, size=w.shape).astype(np.float32))
            else:
                new.append(w)
        layer.set_weights(new)


def set_input_scale(scale: float):
    def patch(m) -> str:
        sg = m.subgraphs[0]
        t = sg.tensors[sg.inputs[0]]
        t.quantization.scale = np.array([scale], dtype=np.float32)
        return f"input scale patched to {scale!r}"

    return patch


def unset_quantized_bias_type(m) -> str:
    from tensorflow.lite.python import schema_py_generated as s

    for op in m.subgraphs[0].operators:
        if isinstance(op.builtinOptions, s.FullyConnectedOptionsT):
            op.builtinOptions.quantizedBiasType = 0  # FLOAT32 = "not set"
    return "FullyConnectedOptions.quantized_bias_type reset to the default (LiteRT then runs ruy)"


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: (m, shift) with real ~ m * 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    q, shift = np.frexp(real)
    m = int(np.floor(q * 2.0**31 + 0.5))
    if m == 2**31:
        m //= 2
        shift += 1
    return (0, 0) if shift < -31 else (m, int(shift))


def fc_paths_disagree(interp, x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` (int16, [rows, depth]) on which LiteRT's two int16x8 FULLY_CONNECTED kernels
    would differ: ruy (int32 accumulator, integer multiplier, x86 rounding) vs the reference kernel
    (``round(acc * f64 scale)``). Planting such rows makes a fixture tell the two apart."""
    td = {d["index"]: d for d in interp.get_tensor_details()}
    op = next(o for o in interp._get_ops_details() if o["op_name"] == "FULLY_CONNECTED")  # noqa: SLF001
    xi, wi = op["inputs"][0], op["inputs"][1]
    bi = op["inputs"][2] if len(op["inputs"]) > 2 else -1
    w = interp.get_tensor(wi).astype(np.int64)
    b = interp.get_tensor(bi).astype(np.int64) if bi >= 0 else np.zeros(w.shape[0], np.int64)
    sx = td[xi]["quantization_parameters"]["scales"][0]
    so = td[op["outputs"][0]]["quantization_parameters"]["scales"][0]
    sw = td[wi]["quantization_parameters"]["scales"]
    acc = x.astype(np.int64) @ w.T + b
    differ = np.zeros(acc.shape[0], dtype=bool)
    for u in range(w.shape[0]):
        s = sw[u] if len(sw) > 1 else sw[0]
        eff = np.float64(sx) * np.float64(s) / np.float64(so)
        v = acc[:, u].astype(np.float64) * eff
        ref = np.sign(v) * np.floor(np.abs(v) + 0.5)
        real = eff if len(sw) > 1 else np.float64(np.float32(sx) * np.float32(s)) / np.float64(so)
        m, shift = quantize_multiplier(float(real))
        a = ((acc[:, u] + 2**31) % 2**32 - 2**31) << max(shift, 0)
        t = (a * m + 2**30) >> 31
        right = max(-shift, 0)
        ruy = (t + (1 << (right - 1))) >> right if right else t
        differ |= np.clip(ruy, -32768, 32767) != np.clip(ref, -32768, 32767)
    return differ


def sigmoid_grid() -> np.ndarray:
    """With input scale 1/6144 both int16 tables are read at every entry: TANH looks up entry k
    at x = 128k, LOGISTIC at x = 256k; the odd offsets exercise the interpolation."""
    base = [128 * k for k in range(256)] + [128 * k + 127 for k in range(256)]
    return np.array([base], dtype=np.int16)


def set_softmax_beta(beta: float):
    def patch(m) -> str:
        from tensorflow.lite.python import schema_py_generated as s

        for op in m.subgraphs[0].operators:
            if isinstance(op.builtinOptions, s.SoftmaxOptionsT):
                op.builtinOptions.beta = beta
        return f"SOFTMAX beta patched to {beta}"

    return patch


def cases() -> list[Case]:
    L = k().layers
    c: list[Case] = []
    c.append(Case("fc_bias", seq((12, 40), lambda: L.Dense(30)), [(12, 40)], [1.7], ["FULLY_CONNECTED"],
                  "per-channel int8 weights, int64 bias"))
    c.append(Case("fc_relu_rows", seq((5, 24), lambda: L.Dense(12, activation="relu")), [(5, 24)], [0.37],
                  ["FULLY_CONNECTED"], "3-D input (5 rows), fused RELU"))
    c.append(Case("fc_nobias_wide", seq((64,), lambda: L.Dense(16, use_bias=False)), [(64,)], [263.0],
                  ["FULLY_CONNECTED"], "no bias, large input range"))
    c.append(Case("fc_bias_int32", seq((12, 33), lambda: L.Dense(21)), [(12, 33)], [2.3], ["FULLY_CONNECTED"],
                  "int32 bias (converter _experimental_full_integer_quantization_bias_type)",
                  bias_int32=True))
    c.append(Case("conv_same_relu", seq((9, 9, 3), lambda: L.Conv2D(8, 3, padding="same", activation="relu")),
                  [(9, 9, 3)], [1.3], ["CONV_2D"], "3x3 SAME, fused RELU"))
    c.append(Case("conv_valid_s2", seq((11, 11, 4), lambda: L.Conv2D(6, 3, strides=2)), [(11, 11, 4)], [37.0],
                  ["CONV_2D"], "3x3 VALID stride 2"))
    c.append(Case("conv_dilated", seq((10, 10, 5), lambda: L.Conv2D(7, 2, dilation_rate=2, padding="same")),
                  [(10, 10, 5)], [0.045], ["CONV_2D"], "2x2 dilation 2 SAME, tiny input range"))
    c.append(Case("conv_bias_int32", seq((7, 7, 3), lambda: L.Conv2D(5, 3, padding="same")), [(7, 7, 3)], [3.1],
                  ["CONV_2D"], "int32 bias", bias_int32=True))
    c.append(Case("dw_mult2", seq((8, 8, 3), lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")),
                  [(8, 8, 3)], [2.2], ["DEPTHWISE_CONV_2D"], "3x3 SAME, depth multiplier 2"))
    c.append(Case("dw_s2_relu6", seq((9, 9, 4), lambda: L.DepthwiseConv2D(3, strides=2, activation="relu6")),
                  [(9, 9, 4)], [5.5], ["DEPTHWISE_CONV_2D"], "3x3 VALID stride 2, fused RELU6"))
    c.append(Case("add", two_inputs((6, 6, 4), (6, 6, 4), lambda a, b: L.Add()([a, b])), [(6, 6, 4)] * 2,
                  [1.1, 7.9], ["ADD"], "inputs with different scales"))
    c.append(Case("sub", two_inputs((5, 7), (5, 7), lambda a, b: L.Subtract()([a, b])), [(5, 7)] * 2,
                  [0.21, 3.3], ["SUB"], "inputs with different scales"))
    c.append(Case("mul", two_inputs((4, 9), (4, 9), lambda a, b: L.Multiply()([a, b])), [(4, 9)] * 2,
                  [2.5, 0.6], ["MUL"], "inputs with different scales"))
    c.append(Case("avg_pool", seq((8, 8, 3), lambda: L.AveragePooling2D(2)), [(8, 8, 3)], [3.7],
                  ["AVERAGE_POOL_2D"], "2x2 stride 2"))
    c.append(Case("avg_pool_same", seq((7, 7, 2), lambda: L.AveragePooling2D(3, strides=2, padding="same")),
                  [(7, 7, 2)], [0.8], ["AVERAGE_POOL_2D"], "3x3 stride 2 SAME (partial windows)"))
    c.append(Case("max_pool", seq((9, 9, 3), lambda: L.MaxPooling2D(3, strides=2, padding="same")),
                  [(9, 9, 3)], [2.9], ["MAX_POOL_2D"], "3x3 stride 2 SAME"))
    c.append(Case("concat", two_inputs((4, 4, 3), (4, 4, 5), lambda a, b: L.Concatenate()([a, b])),
                  [(4, 4, 3), (4, 4, 5)], [0.9, 11.0], ["QUANTIZE", "CONCATENATION"],
                  "inputs with different scales: the converter requantizes one (QUANTIZE int16 -> int16)"))
    c.append(Case("reshape", seq((4, 12), lambda: L.Reshape((6, 8))), [(4, 12)], [1.9], ["RESHAPE"],
                  "int16 pass-through"))
    c.append(Case("softmax", seq((3, 10), lambda: L.Softmax()), [(3, 10)], [2.7], ["SOFTMAX"],
                  "3 rows of 10"))
    c.append(Case("softmax_wide", seq((1, 100), lambda: L.Softmax()), [(1, 100)], [9.0], ["SOFTMAX"],
                  "100 classes, wide input range (many exp terms under the LUT's -10 cut-off)"))
    c.append(Case("softmax_narrow", seq((2, 7), lambda: L.Softmax()), [(2, 7)], [0.05], ["SOFTMAX"],
                  "tiny input range (input multiplier < 1)"))
    c.append(Case("softmax_beta", seq((2, 16), lambda: L.Softmax()), [(2, 16)], [1.5], ["SOFTMAX"],
                  "beta 0.37", patch=set_softmax_beta(0.37)))
    c.append(Case("logistic", seq((64,), lambda: L.Activation("sigmoid")), [(64,)], [3.3], ["LOGISTIC"],
                  "non-power-of-two input scale (multiplier path)"))
    c.append(Case("logistic_small", seq((64,), lambda: L.Activation("sigmoid")), [(64,)], [0.11],
                  ["LOGISTIC"], "small input scale (large left shift)"))
    c.append(Case("logistic_pot", seq((64,), lambda: L.Activation("sigmoid")), [(64,)], [4.0], ["LOGISTIC"],
                  "input scale 2^-12 (fixed-point path)", patch=set_input_scale(2.0**-12)))
    c.append(Case("tanh", seq((64,), lambda: L.Activation("tanh")), [(64,)], [2.1], ["TANH"],
                  "non-power-of-two input scale (multiplier path)"))
    c.append(Case("tanh_large", seq((64,), lambda: L.Activation("tanh")), [(64,)], [40.0], ["TANH"],
                  "large input scale (saturating)"))
    c.append(Case("tanh_pot", seq((64,), lambda: L.Activation("tanh")), [(64,)], [4.0], ["TANH"],
                  "input scale 2^-12 (fixed-point path)", patch=set_input_scale(2.0**-12)))
    c.append(Case("tanh_pot_shift1", seq((64,), lambda: L.Activation("tanh")), [(64,)], [8.0], ["TANH"],
                  "input scale 2^-11 (fixed-point path, input left shift 1)", patch=set_input_scale(2.0**-11)))
    c.append(Case("tanh_grid", seq((512,), lambda: L.Activation("tanh")), [(512,)], [1.0], ["TANH"],
                  "every sigmoid-table entry (input scale 1/6144, inputs 128k and 128k + 127)",
                  patch=set_input_scale(1.0 / 6144.0), fixed_input=sigmoid_grid))
    c.append(Case("logistic_grid", seq((512,), lambda: L.Activation("sigmoid")), [(512,)], [1.0],
                  ["LOGISTIC"], "input scale 1/6144, inputs 128k and 128k + 127",
                  patch=set_input_scale(1.0 / 6144.0), fixed_input=sigmoid_grid))
    c.append(Case("fc_per_tensor", seq((12, 28), lambda: L.Dense(11)), [(12, 28)], [3.9], ["FULLY_CONNECTED"],
                  "per-tensor weights (_experimental_disable_per_channel_quantization_for_dense_layers)",
                  per_tensor_dense=True))
    c.append(Case("fc_nobias_ruy", seq((12, 36), lambda: L.Dense(14, use_bias=False)), [(12, 36)], [1.2],
                  ["FULLY_CONNECTED"], "no bias, no quantized_bias_type: LiteRT's ruy path",
                  patch=unset_quantized_bias_type))
    c.append(Case("quant_dequant", seq((20,), lambda: L.Dense(9)), [(20,)], [1.4],
                  ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"], "float I/O: QUANTIZE f32->int16, DEQUANTIZE",
                  float_io=True))
    return c


def representative(case: Case, rng) -> Callable:
    def gen():
        for _ in range(SAMPLES):
            yield [
                (rng.normal(0.0, r, size=(1, *s))).astype(np.float32)
                for s, r in zip(case.shapes, case.ranges)
            ]

    return gen


def convert(case: Case, model, rng) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative(case, rng)
    conv.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    if not case.float_io:
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16
    if case.bias_int32:
        conv._experimental_full_integer_quantization_bias_type = tf.int32  # noqa: SLF001
    if case.per_tensor_dense:
        conv._experimental_disable_per_channel_quantization_for_dense_layers = True  # noqa: SLF001
    return conv.convert()


def apply_patch(case: Case, buf: bytes) -> tuple[bytes, str]:
    if case.patch is None:
        return buf, ""
    from tensorflow.lite.tools import flatbuffer_utils as fb

    m = fb.read_model_from_bytearray(bytearray(buf))
    note = case.patch(m)
    return bytes(fb.convert_object_to_bytearray(m)), note


def make_inputs(case: Case, details: list[dict], rng) -> list[np.ndarray]:
    """Float draws (1.5x the calibration spread, so some saturate) quantized like TFLite's QUANTIZE,
    with the int16 extremes planted at the first positions."""
    out, used = [], set()
    for d in details:
        shape = tuple(int(v) for v in d["shape"])
        # The converter may order the inputs differently from the case: match them by shape
        # (inputs of equal shape take the case's ranges in declaration order).
        idx = next(i for i, s in enumerate(case.shapes) if (1, *s) == shape and i not in used)
        used.add(idx)
        f = rng.normal(0.0, case.ranges[idx] * 1.5, size=shape).astype(np.float32)
        if np.dtype(d["dtype"]) == np.float32:
            out.append(f)
            continue
        if case.fixed_input is not None:
            out.append(case.fixed_input().reshape(shape))
            continue
        scale, zp = d["quantization"]
        q = fixture_io.quantize(f, scale, zp, np.int16)
        flat = q.reshape(-1)
        flat[:4] = [32767, -32768, 0, -1][: min(4, flat.size)]
        out.append(q)
    return out


def tensor_json(d: dict) -> dict:
    j = fixture_io.jsonable_detail(d)
    if j["quantization"]["scale"] == 0.0:
        del j["quantization"], j["quantization_parameters"]
    return j


def build(case: Case, out: Path) -> dict:
    crc = zlib.crc32(case.name.encode())
    rng_w = np.random.default_rng([SEED, crc, 0])
    rng_cal = np.random.default_rng([SEED, crc, 1])
    rng_x = np.random.default_rng([SEED, crc, 2])
    tf.keras.backend.clear_session()  # layer / tensor names do not depend on earlier cases
    tf.keras.utils.set_random_seed(SEED + crc % 1000)
    model = case.build(rng_w)
    buf = convert(case, model, rng_cal)
    buf, patched = apply_patch(case, buf)
    path = out / f"{case.name}.tflite"
    path.write_bytes(buf)

    interp = fixture_io.make_interpreter(path, reference=True)
    interp.allocate_tensors()
    ops = fixture_io.op_names(interp)
    if [op for op in ops if op not in case.expect] or any(e not in ops for e in case.expect):
        raise RuntimeError(f"{case.name}: ops {ops}, expected {case.expect}")
    in_dets = interp.get_input_details()
    xs = make_inputs(case, in_dets, rng_x)
    if case.expect == ["FULLY_CONNECTED"]:
        # Put rows where LiteRT's ruy and reference kernels would disagree first.
        depth = xs[0].shape[-1]
        pool = rng_x.integers(-6000, 6000, size=(20000, depth)).astype(np.int16)
        found = pool[fc_paths_disagree(interp, pool)][: xs[0].size // depth // 2]
        flat = xs[0].reshape(-1, depth)
        flat[: len(found)] = found
        xs[0] = flat.reshape(xs[0].shape)
        planted = len(found)
    else:
        planted = None
    for d, x in zip(in_dets, xs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    out_dets = interp.get_output_details()
    ys = [np.array(interp.get_tensor(d["index"])) for d in out_dets]

    entry_in, entry_out = [], []
    for i, (d, x) in enumerate(zip(in_dets, xs)):
        fname = f"{case.name}.in{i}.npy"
        np.save(out / fname, x)
        entry_in.append({"file": fname, **tensor_json(d)})
    for i, (d, y) in enumerate(zip(out_dets, ys)):
        fname = f"{case.name}.out{i}.npy"
        np.save(out / fname, y)
        entry_out.append({"file": fname, **tensor_json(d)})
    return {
        "file": path.name,
        "ops": ops,
        "note": case.note + (f"; {patched}" if patched else ""),
        "io": "float32" if case.float_io else "int16",
        "bias": "int32" if case.bias_int32 else "int64",
        **({"rows_where_fc_kernels_disagree": planted} if planted is not None else {}),
        "inputs": entry_in,
        "outputs": entry_out,
    }


def main() -> int:
    global tf
    ap = argparse.ArgumentParser(description="Generate tests/fixtures/int16 (see module docstring).")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--only", nargs="*", help="build only these cases (manifest is not written)")
    args = ap.parse_args()
    out = args.out.resolve()

    import tensorflow

    tf = tensorflow
    tf.get_logger().setLevel("ERROR")
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    todo = [c for c in cases() if not args.only or c.name in args.only]
    out.mkdir(parents=True, exist_ok=True)
    if not args.only:
        for p in out.iterdir():
            if p.suffix in (".tflite", ".npy", ".json"):
                p.unlink()
    entries: dict[str, dict] = {}
    failures = []
    for c in todo:
        try:
            entries[c.name] = e = build(c, out)
        except Exception as ex:  # report every failure at the end
            failures.append(f"{c.name}: {type(ex).__name__}: {ex}")
            print("FAIL", failures[-1], flush=True)
            continue
        print(f"{c.name:20s} {' '.join(e['ops'])}", flush=True)
    if failures:
        print("\n".join(["failures:", *failures]))
        return 1
    if args.only:
        return 0
    from make_fixtures import all_versions

    manifest = {
        "generator": "tools/make_int16_fixtures.py",
        "regenerate": "tools/.venv/bin/python tools/make_int16_fixtures.py",
        "seed": SEED,
        "converter": "TFLiteConverter.from_keras_model, optimizations=[DEFAULT], "
        f"representative_dataset ({SAMPLES} samples), "
        "supported_ops=[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8], int16 I/O unless noted",
        "litert": "ai_edge_litert Interpreter(num_threads=1, "
        "experimental_op_resolver_type=BUILTIN_WITHOUT_DEFAULT_DELEGATES)",
        "layout": "<case>.tflite, <case>.in<k>.npy (model input order), <case>.out<k>.npy (model output order)",
        "cases": entries,
        "environment": {
            k: v
            for k, v in all_versions().items()
            if k in ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "numpy")
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
