#!/usr/bin/env python3
"""TF's own quantized files for the rest of issue #7 (tests/fixtures/quant/).

Regenerate (from the repo root, after tools/make_fixtures.py):

    tools/.venv/bin/python tools/make_quant_fixtures.py

For each fixture model <m> (cnn_bn, dwsep_res, mlp; loaded from tests/fixtures/<m>/<m>.h5) and
calibrated on tests/fixtures/calibration_x.npy exactly like the int8 fixtures:

- <m>_int16x8.tflite: supported_ops=[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8],
  float I/O (TF 2.21 runs its legacy quantizer for 16x8); <m>_int16x8.out.npy its LiteRT output
  on tests/fixtures/inputs_f32.npy (float32 [16,10], reference kernels), and
  <m>_int16x8.logits.npy the int16 tensor feeding its SOFTMAX (for interpreters without an
  int16 SOFTMAX).
- <m>_int8_uint8_io.tflite: full int8 with inference_input_type = inference_output_type = uint8;
  <m>_int8_uint8_io.in.npy (the uint8 input fed) and .out.npy (uint8 output).
- <m>_int8_float_io.errors.json: for every int8 activation of TF's own int8_float_io file, the
  RMSE and max-abs error of its dequantized values against the float model's tensor of the same
  name, over the 100 calibration samples (LiteRT, preserve_all_tensors) -- what
  `ferrolite quantize --report` computes, done here on TF's file -- plus TF's
  QuantizationDebugger layer statistics for comparison (those are per-layer errors: each
  quantized op is fed the float op's dequantized input, so they do not accumulate).

Two more small models (seeded random weights, no training):

- sin_mid: Conv2D(4, relu) -> tf.sin -> Flatten -> Dense(10, softmax). SIN has no int8 kernel:
  sin_mid_float32.tflite, sin_mid_int8.tflite (supported_ops=[TFLITE_BUILTINS_INT8] -- TF 2.21
  still leaves SIN float, with DEQUANTIZE/QUANTIZE around it), sin_mid_int16x8_fallback.tflite
  (16x8 + TFLITE_BUILTINS), and TF's error for 16x8 without the fallback in manifest.json.
- ops_mix: Conv2D(8, relu) -> [AveragePool, MaxPool] -> Concatenate -> Conv 1x1 -> Subtract ->
  Multiply -> +0.5 -> GlobalAveragePooling -> Dense(10, softmax): ops_mix_float32.tflite,
  ops_mix_int8_float_io.tflite and ops_mix_int16x8.tflite, with LiteRT outputs, to check the
  shared-scale and elementwise rules of both quantizers.

manifest.json lists every file with size, operators (and versions), accuracy on
digits_test.npz where meaningful, and the TF settings used.
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
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "tests" / "fixtures"
OUT = FIX / "quant"
MODELS = ["cnn_bn", "dwsep_res", "mlp"]
SEED = 1234


def op_versions(path: Path) -> list[list]:
    """[name, version] per operator in execution order (from the flatbuffer itself)."""
    from tensorflow.lite.python import schema_py_generated as s

    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(path.read_bytes(), 0))
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in m.subgraphs[0].operators:
        code = m.operatorCodes[op.opcodeIndex]
        out.append([names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?"), int(code.version)])
    return out


def converter(tf, model, mode: str, x_repr: np.ndarray):
    """A TFLiteConverter for `model` in one of the modes used here."""
    conv = tf.lite.TFLiteConverter.from_keras_model(model)

    def rep():
        for i in range(x_repr.shape[0]):
            yield [x_repr[i : i + 1]]

    ops = tf.lite.OpsSet
    if mode == "float32":
        return conv
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    if mode in ("int8_float_io", "int8_uint8_io", "int8"):
        conv.target_spec.supported_ops = [ops.TFLITE_BUILTINS_INT8]
        if mode == "int8_uint8_io":
            conv.inference_input_type = tf.uint8
            conv.inference_output_type = tf.uint8
    elif mode == "int16x8":
        conv.target_spec.supported_ops = [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    elif mode == "int16x8_fallback":
        conv.target_spec.supported_ops = [
            ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            ops.TFLITE_BUILTINS,
        ]
    else:
        raise ValueError(mode)
    return conv


def run_ref(path: Path, x: np.ndarray):
    """LiteRT reference-kernel outputs (raw dtype), the input fed, and the interpreter."""
    interp = fixture_io.make_interpreter(path, reference=True)
    outs, fed, _ = fixture_io.run_model(interp, x)
    return outs[0], fed, interp


def accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    out, _, interp = run_ref(path, x)
    probs = fixture_io.output_as_float(interp.get_output_details()[0], out)
    return float(np.mean(np.argmax(probs, axis=-1) == y))


def write(tf, model, name: str, mode: str, x_repr, x16, data, entry: dict) -> Path:
    """Converts, writes <name>_<mode>.tflite and its outputs, records it in `entry`."""
    path = OUT / f"{name}_{mode}.tflite"
    path.write_bytes(converter(tf, model, mode, x_repr).convert())
    out, fed, interp = run_ref(path, x16)
    np.save(OUT / f"{name}_{mode}.out.npy", out)
    rec = {
        "file": path.name,
        "size": path.stat().st_size,
        "ops": op_versions(path),
        "output": f"{name}_{mode}.out.npy",
        "inputs": [fixture_io.jsonable_detail(d) for d in interp.get_input_details()],
        "outputs": [fixture_io.jsonable_detail(d) for d in interp.get_output_details()],
    }
    if fed.dtype != np.float32:
        np.save(OUT / f"{name}_{mode}.in.npy", fed)
        rec["input"] = f"{name}_{mode}.in.npy"
    if mode.startswith("int16x8"):
        rec["logits"] = save_softmax_input(path, x16, OUT / f"{name}_{mode}.logits.npy")
    if data is not None:
        rec["litert_accuracy"] = accuracy(path, *data)
    entry[mode] = rec
    print(f"{name:10s} {mode:18s} {rec['size']:6d} B  ops={' '.join(o for o, _ in rec['ops'])}"
          + (f"  acc={rec['litert_accuracy']:.4f}" if data is not None else ""), flush=True)
    return path


def save_softmax_input(path: Path, x: np.ndarray, out: Path) -> str:
    """Saves the tensor feeding the model's SOFTMAX (LiteRT reference kernels) to `out`."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        model_path=str(path),
        num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    fixture_io.run_model(it, x)
    op = next(o for o in it._get_ops_details() if o["op_name"] == "SOFTMAX")  # noqa: SLF001
    np.save(out, it.get_tensor(int(op["inputs"][0])))
    return out.name


def tensor_errors(float_path: Path, quant_path: Path, x: np.ndarray) -> list[dict]:
    """Per int8 activation of `quant_path`: error of its dequantized values vs the float model."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def run(path):
        it = Interpreter(
            model_path=str(path),
            num_threads=1,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=True,
        )
        d = it.get_input_details()[0]
        it.resize_tensor_input(d["index"], list(x.shape))
        it.allocate_tensors()
        it.set_tensor(d["index"], fixture_io.prepare_input(d, x))
        it.invoke()
        return it

    f, q = run(float_path), run(quant_path)
    fmap = {d["name"]: d for d in f.get_tensor_details()}
    fin, fout = f.get_input_details()[0]["name"], f.get_output_details()[0]["name"]
    qout = q.get_output_details()[0]["index"]
    rows = []
    for d in q.get_tensor_details():
        if np.dtype(d["dtype"]) != np.int8 or not d["name"]:
            continue
        try:
            qv = q.get_tensor(d["index"])
        except ValueError:
            continue
        if qv.ndim == 0 or qv.shape[0] != x.shape[0]:
            continue  # a constant
        name = d["name"]
        ref = name if name in fmap else (fin if name == "tfl.quantize" else None)
        if ref is None and q.get_output_details()[0]["name"] != name:
            # The int8 tensor feeding the final DEQUANTIZE: the float model's output.
            ref = fout if name.startswith(fout) else None
        if ref is None:
            continue
        scale, zp = d["quantization"]
        deq = (qv.astype(np.float64) - zp) * scale
        fv = f.get_tensor(fmap[ref]["index"]).astype(np.float64)
        if fv.shape != deq.shape:
            continue
        err = deq - fv
        rows.append({
            "name": name,
            "float_name": ref,
            "scale": float(scale),
            "zero_point": int(zp),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "max_abs": float(np.max(np.abs(err))),
        })
    del qout
    rows.sort(key=lambda r: -r["rmse"])
    return rows


def debugger_stats(tf, model, x_repr) -> dict:
    """TF's QuantizationDebugger layer statistics for the int8 (float I/O) conversion."""
    conv = converter(tf, model, "int8_float_io", x_repr)

    def rep():
        for i in range(x_repr.shape[0]):
            yield [x_repr[i : i + 1]]

    dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=rep)
    dbg.run()
    out = {}
    for name, stats in dbg.layer_statistics.items():
        out[name] = {k: float(v) for k, v in stats.items()}
    return out


def build_sin_mid(k, tf):
    L = k.layers
    inp = k.Input((8, 8, 1), name="input")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    x = L.Lambda(lambda t: tf.math.sin(t), name="sin")(x)
    x = L.Flatten(name="flatten")(x)
    out = L.Dense(10, activation="softmax", name="probs")(x)
    return k.Model(inp, out, name="sin_mid")


def build_ops_mix(k, tf):
    L = k.layers
    inp = k.Input((8, 8, 1), name="input")
    c = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    a = L.AveragePooling2D(2, name="avg")(c)
    b = L.MaxPooling2D(2, name="max")(c)
    cat = L.Concatenate(name="cat")([a, b])
    d = L.Conv2D(16, 1, name="pw")(cat)
    e = L.Subtract(name="sub")([d, cat])
    f = L.Multiply(name="mul")([e, cat])
    g = L.Lambda(lambda t: t + 0.5, name="shift")(f)
    h = L.GlobalAveragePooling2D(name="gap")(g)
    out = L.Dense(10, activation="softmax", name="probs")(h)
    return k.Model(inp, out, name="ops_mix")


def main() -> int:
    import tensorflow as tf
    import tf_keras as k

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    x_repr = np.load(FIX / "calibration_x.npy")
    x16 = np.load(FIX / "inputs_f32.npy")
    with np.load(FIX / "digits_test.npz") as d:
        data = (d["x"].astype(np.float32), d["y"])
    manifest: dict = {
        "generator": "tools/make_quant_fixtures.py",
        "tensorflow": tf.__version__,
        "calibration": "tests/fixtures/calibration_x.npy, one [1,8,8,1] sample per step",
        "outputs_on": "tests/fixtures/inputs_f32.npy, LiteRT reference kernels, 1 thread",
        "models": {},
    }
    for name in MODELS:
        model = k.models.load_model(FIX / name / f"{name}.h5")
        entry: dict = {}
        for mode in ("int16x8", "int8_uint8_io"):
            write(tf, model, name, mode, x_repr, x16, data, entry)
        errors = tensor_errors(
            FIX / name / f"{name}_float32.tflite", FIX / name / f"{name}_int8_float_io.tflite", x_repr
        )
        (OUT / f"{name}_int8_float_io.errors.json").write_text(
            json.dumps({"tensor_errors": errors, "tf_quantization_debugger": debugger_stats(tf, model, x_repr)},
                       indent=1) + "\n"
        )
        entry["int8_float_io_errors"] = f"{name}_int8_float_io.errors.json"
        manifest["models"][name] = entry

    for name, build, modes in (
        ("sin_mid", build_sin_mid, ("float32", "int8", "int16x8_fallback")),
        ("ops_mix", build_ops_mix, ("float32", "int8_float_io", "int16x8")),
    ):
        k.backend.clear_session()
        k.utils.set_random_seed(SEED)
        model = build(k, tf)
        entry = {}
        for mode in modes:
            write(tf, model, name, mode, x_repr, x16, None, entry)
        if name == "sin_mid":
            try:
                converter(tf, model, "int16x8", x_repr).convert()
                entry["int16x8_error"] = None
            except Exception as e:  # TF refuses SIN in 16x8 without the fallback
                entry["int16x8_error"] = str(e).strip().splitlines()[0]
        manifest["models"][name] = entry

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir() if p.is_file())
    print(f"wrote {OUT} ({total / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
