#!/usr/bin/env python3
"""Generate ferrolite's reference fixtures with TensorFlow / LiteRT as the oracle.

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_fixtures.py

Writes everything under tests/fixtures/ (see tests/fixtures/README.md):
three small tf-keras models trained on scikit-learn's bundled 8x8 digits
(no downloads), each saved as .h5 and .keras and converted to five .tflite
variants, plus the inputs and LiteRT / Keras outputs our Rust runtime must
reproduce, and manifest.json describing all of it.

Deterministic: fixed seeds, TF_DETERMINISTIC_OPS=1, oneDNN off, one thread,
fixed timestamps inside the .h5/.keras/.npz containers. Re-running with the
pinned environment reproduces the same bytes (the script checks nothing
itself; compare `sha256sum -c` against a previous run if in doubt).
"""

from __future__ import annotations

import os

# Must be set before TensorFlow is imported.
os.environ.update(
    {
        "TF_USE_LEGACY_KERAS": "1",
        "TF_DETERMINISTIC_OPS": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
)

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

SEED = 1234
TEST_SIZE = 0.25
N_FIXED = 16
N_REPR = 100
VARIANTS = ["float32", "dynamic", "int8", "int8_float_io", "float16"]
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FIXED_DATE = "1980-01-01@00:00:00"

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures"


# ---------------------------------------------------------------- determinism

_orig_create_dataset = h5py.Group.create_dataset


def _create_dataset_no_times(self, name, *args, **kwargs):
    """HDF5 stores creation times in object headers; turn that off for reproducible files."""
    kwargs.setdefault("track_times", False)
    return _orig_create_dataset(self, name, *args, **kwargs)


h5py.Group.create_dataset = _create_dataset_no_times


def normalize_zip(path: Path, patch_metadata: bool = False) -> None:
    """Rewrite a zip with fixed timestamps (and a fixed Keras `date_saved`)."""
    with zipfile.ZipFile(path) as zin:
        entries = [(i, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in entries:
            if patch_metadata and info.filename == "metadata.json":
                meta = json.loads(data)
                if "date_saved" in meta:
                    meta["date_saved"] = FIXED_DATE
                data = json.dumps(meta).encode()
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            zi.compress_type = info.compress_type
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Uncompressed .npz (np.load-able) with fixed zip timestamps."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zi = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
            zi.external_attr = 0o644 << 16
            z.writestr(zi, buf.getvalue())


# ---------------------------------------------------------------- data

def load_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_SIZE, random_state=SEED, stratify=y)
    return (
        np.ascontiguousarray(x_tr),
        np.ascontiguousarray(y_tr),
        np.ascontiguousarray(x_te),
        np.ascontiguousarray(y_te),
    )


# ---------------------------------------------------------------- models

def build_cnn_bn(k):
    L = k.layers
    inp = k.Input((8, 8, 1), name="input")
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="conv1")(inp)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(32, 3, padding="same", use_bias=False, name="conv2")(x)
    x = L.BatchNormalization(name="bn2")(x)
    x = L.ReLU(name="relu2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dropout(0.25, seed=SEED, name="dropout")(x)
    out = L.Dense(10, activation="softmax", name="probs")(x)
    return k.Model(inp, out, name="cnn_bn")


def build_dwsep_res(k):
    L = k.layers
    inp = k.Input((8, 8, 1), name="input")
    # Strided stem (8x8 -> 4x4): gives the global pooling enough spatial context.
    x = L.Conv2D(48, 3, strides=2, padding="same", name="stem")(inp)
    x = L.ReLU(6.0, name="stem_relu6")(x)
    # Depthwise-separable block with identity shortcut (48 -> 48 channels, same 4x4).
    # 48 channels keep the pointwise kernel (48*48) above the converter's 1024-element
    # threshold, so the `dynamic` variant really quantizes something.
    y = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    y = L.BatchNormalization(name="dw_bn")(y)
    y = L.ReLU(6.0, name="dw_relu6")(y)
    y = L.Conv2D(48, 1, name="pw")(y)
    x = L.Add(name="residual")([x, y])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(10, activation="softmax", name="probs")(x)
    return k.Model(inp, out, name="dwsep_res")


def build_mlp(k):
    L = k.layers
    inp = k.Input((8, 8, 1), name="input")
    x = L.Flatten(name="flatten")(inp)
    x = L.Dense(64, activation="relu", name="fc1")(x)
    x = L.Dropout(0.2, seed=SEED, name="dropout")(x)
    x = L.Dense(32, activation="relu", name="fc2")(x)
    out = L.Dense(10, activation="softmax", name="probs")(x)
    return k.Model(inp, out, name="mlp")


MODELS = {
    # name: (builder, epochs, learning rate)
    "cnn_bn": (build_cnn_bn, 15, 3e-3),
    "dwsep_res": (build_dwsep_res, 40, 3e-3),
    "mlp": (build_mlp, 30, 3e-3),
}


def train(name, k, x_tr, y_tr):
    builder, epochs, lr = MODELS[name]
    k.backend.clear_session()
    k.utils.set_random_seed(SEED)
    model = builder(k)
    model.compile(
        optimizer=k.optimizers.Adam(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_tr, y_tr, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return model


# ---------------------------------------------------------------- keras files

def save_keras_files(model, name: str, mdir: Path, x16: np.ndarray, ref16: np.ndarray) -> dict:
    """Write <name>.h5 (tf-keras HDF5) and <name>.keras (Keras 3 if it round-trips cleanly)."""
    h5 = mdir / f"{name}.h5"
    model.save(h5, save_format="h5")
    kpath = mdir / f"{name}.keras"
    info = {"h5": {"file": h5.name, "format": f"tf-keras {version_of('tf_keras')} legacy HDF5"}}
    reason = ""
    try:
        import keras as keras3

        if not keras3.__version__.startswith("3."):
            raise RuntimeError(f"keras {keras3.__version__} is not Keras 3")
        m3 = keras3.saving.load_model(h5, compile=False)
        d1 = float(np.max(np.abs(np.asarray(m3([x16], training=False)) - ref16)))
        m3.save(kpath)
        m3b = keras3.saving.load_model(kpath, compile=False)
        d2 = float(np.max(np.abs(np.asarray(m3b([x16], training=False)) - ref16)))
        if max(d1, d2) > 1e-5:
            raise RuntimeError(f"Keras 3 outputs differ from tf-keras by {max(d1, d2):g}")
        fmt = f"Keras 3 ({keras3.__version__}) .keras, loaded from the .h5 and re-saved"
        info["keras"] = {"file": kpath.name, "format": fmt, "max_abs_diff_vs_tf_keras": max(d1, d2)}
    except Exception as e:  # fall back to tf-keras' own .keras writer
        # Keep the gist only (Keras errors embed whole layer configs).
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        reason = f"{type(e).__name__}: {lines[-1] if lines else ''}"
        if kpath.exists():
            kpath.unlink()
        model.save(kpath, save_format="keras")
        fmt = f"tf-keras {version_of('tf_keras')} .keras (Keras 3 could not round-trip: {reason})"
        info["keras"] = {"file": kpath.name, "format": fmt}
    normalize_zip(kpath, patch_metadata=True)
    return info


# ---------------------------------------------------------------- conversion

def convert(tf, model, variant: str, x_repr: np.ndarray) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)

    def rep():
        for i in range(x_repr.shape[0]):
            yield [x_repr[i : i + 1]]

    if variant == "float32":
        pass
    elif variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant in ("int8", "int8_float_io"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if variant == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    elif variant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    else:
        raise ValueError(variant)
    return conv.convert()


def check_input_quantize(path: Path, x16: np.ndarray) -> dict | None:
    """For float-I/O quantized models: compare fixture_io.quantize with the model's own QUANTIZE op."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(path),
        num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    ops = sorted(interp._get_ops_details(), key=lambda d: d["index"])  # noqa: SLF001
    inp = interp.get_input_details()[0]
    qop = next((o for o in ops if o["op_name"] == "QUANTIZE" and inp["index"] in list(o["inputs"])), None)
    if qop is None:
        return None
    tdet = next(t for t in interp.get_tensor_details() if t["index"] == int(qop["outputs"][0]))
    scale, zp = tdet["quantization"]
    sig = list(inp["shape_signature"])
    if sig[0] == -1:
        interp.resize_tensor_input(inp["index"], list(x16.shape))
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], x16)
        interp.invoke()
        kernel_q = np.array(interp.get_tensor(tdet["index"]))
    else:
        interp.allocate_tensors()
        parts = []
        for i in range(x16.shape[0]):
            interp.set_tensor(inp["index"], x16[i : i + 1])
            interp.invoke()
            parts.append(np.array(interp.get_tensor(tdet["index"])))
        kernel_q = np.concatenate(parts)
    ours = fixture_io.quantize(x16, scale, zp, kernel_q.dtype)
    return {
        "quantize_tensor": tdet["name"],
        "scale": float(scale),
        "zero_point": int(zp),
        "fixture_io_matches_kernel": bool(np.array_equal(ours, kernel_q)),
        "mismatches": int(np.sum(ours != kernel_q)),
    }


# ---------------------------------------------------------------- main

def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def all_versions() -> dict:
    pkgs = {}
    for d in importlib.metadata.distributions():
        name = d.metadata["Name"]
        if name:
            pkgs[name] = d.version
    return dict(sorted(pkgs.items(), key=lambda kv: kv[0].lower()))


def to_json(obj, indent: int = 0) -> str:
    """Pretty JSON with lists of scalars kept on one line (readable shapes and op lists)."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{inner}{json.dumps(str(k))}: {to_json(v, indent + 2)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        if all(not isinstance(v, (dict, list)) for v in obj):
            return "[" + ", ".join(json.dumps(v) for v in obj) + "]"
        return "[\n" + ",\n".join(inner + to_json(v, indent + 2) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj)


def accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=-1) == y))


def main() -> int:
    ap = argparse.ArgumentParser(description="Generate tests/fixtures (see module docstring).")
    ap.add_argument("--out", type=Path, default=OUT, help="output dir (default tests/fixtures)")
    args = ap.parse_args()
    out = args.out.resolve()

    def rel(p: Path) -> str:
        return p.relative_to(out).as_posix()

    import tensorflow as tf
    import tf_keras as k

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()

    t0 = time.time()
    x_tr, y_tr, x_te, y_te = load_data()
    x16 = x_te[:N_FIXED].copy()
    x_repr = x_tr[:N_REPR].copy()
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "inputs_f32.npy", x16)
    np.save(out / "calibration_x.npy", x_repr)
    save_npz(out / "digits_test.npz", x=x_te, y=y_te)
    # The training split, for fine-tuning tests (pruning, QAT) in ferrolite-train.
    save_npz(out / "digits_train.npz", x=x_tr, y=y_tr)

    manifest: dict = {
        "generator": "tools/make_fixtures.py",
        "regenerate": "tools/setup_venv.sh && tools/.venv/bin/python tools/make_fixtures.py",
        "seed": SEED,
        "dataset": {
            "source": "sklearn.datasets.load_digits (bundled, no download)",
            "preprocessing": "images / 16 -> float32 in [0,1], NHWC [N,8,8,1]; labels int64",
            "split": f"train_test_split(test_size={TEST_SIZE}, random_state={SEED}, stratify=y)",
            "n_train": int(len(y_tr)),
            "n_test": int(len(y_te)),
            "test_file": "digits_test.npz",
            "train_file": "digits_train.npz",
            "fixed_inputs": {"file": "inputs_f32.npy", "shape": list(x16.shape), "what": f"first {N_FIXED} test samples"},
            "representative_dataset": f"first {N_REPR} training samples, one [1,8,8,1] sample per step",
            "representative_file": {
                "file": "calibration_x.npy",
                "shape": list(x_repr.shape),
                "what": f"the representative dataset itself (first {N_REPR} training samples, float32)",
            },
        },
        "input_quantization_rule": fixture_io.QUANTIZE_RULE,
        "litert": {
            "reference": "ai_edge_litert Interpreter(num_threads=1, experimental_op_resolver_type="
            "BUILTIN_WITHOUT_DEFAULT_DELEGATES) -> <model>_<variant>.out.npy",
            "xnnpack": "ai_edge_litert Interpreter(num_threads=1), default resolver (XNNPACK) "
            "-> <model>_<variant>.xnnpack.out.npy",
        },
        "models": {},
    }

    for name in MODELS:
        t_model = time.time()
        mdir = out / name
        if mdir.exists():
            shutil.rmtree(mdir)
        mdir.mkdir(parents=True)
        model = train(name, k, x_tr, y_tr)
        keras_out = model(x16, training=False).numpy().astype(np.float32)
        np.save(mdir / "keras_out.npy", keras_out)
        keras_acc = accuracy(model.predict(x_te, batch_size=256, verbose=0), y_te)
        files = save_keras_files(model, name, mdir, x16, keras_out)
        mentry: dict = {
            "keras_accuracy": keras_acc,
            "keras_out": "keras_out.npy",
            "params": int(model.count_params()),
            "layers": [f"{layer.name}:{type(layer).__name__}" for layer in model.layers],
            "epochs": MODELS[name][1],
            "files": {kname: {**v, "file": f"{name}/{v['file']}", "size": (mdir / v["file"]).stat().st_size}
                      for kname, v in files.items()},
            "variants": {},
        }
        for variant in VARIANTS:
            tfl = mdir / f"{name}_{variant}.tflite"
            tfl.write_bytes(convert(tf, model, variant, x_repr))

            ref = fixture_io.make_interpreter(tfl, reference=True)
            ref.allocate_tensors()
            ops = fixture_io.op_names(ref)
            in_det = [fixture_io.jsonable_detail(d) for d in ref.get_input_details()]
            out_det = [fixture_io.jsonable_detail(d) for d in ref.get_output_details()]
            outs, fed, mode = fixture_io.run_model(ref, x16)
            ref_out = outs[0]
            np.save(mdir / f"{name}_{variant}.out.npy", ref_out)
            if fed.dtype != np.float32:
                np.save(mdir / f"{name}_{variant}.in.npy", fed)

            xnn = fixture_io.make_interpreter(tfl, reference=False)
            xouts, _, xmode = fixture_io.run_model(xnn, x16)
            np.save(mdir / f"{name}_{variant}.xnnpack.out.npy", xouts[0])
            xnn_ops = fixture_io.op_names(xnn)

            full = fixture_io.make_interpreter(tfl, reference=True)
            fouts, _, _ = fixture_io.run_model(full, x_te)
            odet = full.get_output_details()[0]
            lite_acc = accuracy(fixture_io.output_as_float(odet, fouts[0]), y_te)

            ref_f = fixture_io.output_as_float(ref.get_output_details()[0], ref_out)
            xnn_f = fixture_io.output_as_float(xnn.get_output_details()[0], xouts[0])
            ventry = {
                "file": rel(tfl),
                "size": tfl.stat().st_size,
                "litert_accuracy": lite_acc,
                "keras_accuracy": keras_acc,
                "run_mode": mode,
                "run_mode_note": "resize: dynamic batch, resize_tensor_input to [16,8,8,1] and one invoke; "
                "loop: one invoke per sample",
                "ops": ops,
                "xnnpack_ops": xnn_ops,
                "inputs": in_det,
                "outputs": out_det,
                "reference_out": rel(mdir / f"{name}_{variant}.out.npy"),
                "xnnpack_out": rel(mdir / f"{name}_{variant}.xnnpack.out.npy"),
                "xnnpack_bit_identical_to_reference": bool(np.array_equal(ref_out, xouts[0])),
                "max_abs_diff_reference_vs_keras": float(np.max(np.abs(ref_f - keras_out))),
                "max_abs_diff_xnnpack_vs_reference": float(np.max(np.abs(xnn_f - ref_f))),
            }
            if fed.dtype != np.float32:
                ventry["quantized_input"] = rel(mdir / f"{name}_{variant}.in.npy")
            if variant == "int8_float_io":
                ventry["input_quantize_check"] = check_input_quantize(tfl, x16)
            mentry["variants"][variant] = ventry
            print(
                f"{name:10s} {variant:14s} {tfl.stat().st_size:7d} B  acc={lite_acc:.4f} "
                f"(keras {keras_acc:.4f})  mode={mode}/{xmode}  ops={' '.join(ops)}",
                flush=True,
            )
        manifest["models"][name] = mentry
        print(f"{name}: done in {time.time() - t_model:.1f}s", flush=True)

    manifest["environment"] = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "packages": all_versions(),
        "env": {key: os.environ[key] for key in sorted(os.environ) if key.startswith("TF_")},
    }
    (out / "manifest.json").write_text(to_json(manifest) + "\n")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.2f} MB) in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
