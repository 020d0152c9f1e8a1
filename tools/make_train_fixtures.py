#!/usr/bin/env python3
"""Record tfmot's own results on the digits fixtures, for ferrolite-train's tests.

Regenerate (from the repo root, after tools/make_fixtures.py):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_train_fixtures.py

Writes tests/fixtures/train/tfmot_masks.json (`--masks-only`: just that): tfmot's pruning masks
on fixed weights (element-wise, blocks with AVG / MAX pooling, 2:4 on dense and conv), its
PolynomialDecay values, and the fc1 mask sparsity after each batch of a short `prune_low_magnitude`
fit of the mlp (when masks are recomputed), for crates/ferrolite-train/tests/tfmot_masks.rs.

Writes tests/fixtures/train/tfmot.json. For every fixture model (tf-keras .h5, the
models ferrolite's float32 .tflite fixtures were converted from) it runs, with
tensorflow-model-optimization on tf-keras (Keras 2; tfmot refuses Keras 3):

* magnitude pruning, ConstantSparsity(0.5) and (0.8) with begin_step 0, end_step -1,
  frequency 10, 2 epochs, Adam(1e-3), batch 32 -> test accuracy, per-layer sparsity; on cnn_bn
  also PolynomialDecay(0 -> 0.8, steps 0-100, power 3, frequency 10), 3 epochs (`--poly-only`);
* weight clustering, 16 clusters, LINEAR and KMEANS_PLUS_PLUS init, 1 epoch, Adam(1e-4),
  batch 32 -> test accuracy, unique values per kernel, gzip size of the TF-converted float
  .tflite;
* quantization-aware training, quantize_model, 2 epochs, Adam(1e-4), batch 32, converted to
  int8 with float I/O -> LiteRT test accuracy, next to post-training int8 of the same model.

It also writes tests/fixtures/train/k3_branchy.keras: a small Keras 3 model (conv + BN, ADD,
MUL, CONCATENATION, global pooling, dense) trained on the digits, which tfmot refuses
(recorded under runs."k3_branchy/keras"): the model ferrolite's tests train end to
end; and tests/fixtures/train/k3_acts.keras, a Keras 3 model with TANH, HARD_SWISH and a
LOGISTIC gate (`--k3-only` remakes both).

Every setting is run with SEEDS (tf.keras.utils.set_random_seed) and the mean is recorded
as test_accuracy (the runs individually in test_accuracy_runs): ferrolite shuffles with its
own generator, so the comparison is against tfmot's typical result, not one draw.
TF_DETERMINISTIC_OPS=1, one thread: a re-run reproduces the same numbers.
"""

from __future__ import annotations

import os

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
import gzip  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "tests" / "fixtures"
OUT = FIX / "train"
MODELS = ["cnn_bn", "dwsep_res", "mlp"]
SEEDS = [1, 2, 3]
BATCH = 32


def load_data():
    tr = np.load(FIX / "digits_train.npz")
    te = np.load(FIX / "digits_test.npz")
    return (tr["x"], tr["y"].astype(np.int64)), (te["x"], te["y"].astype(np.int64))


def keras_accuracy(model, x, y) -> float:
    p = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean(np.argmax(p, axis=1) == y))


def litert_accuracy(tflite_bytes: bytes, x, y) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=tflite_bytes, num_threads=1)
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(inp["index"], x.astype(np.float32))
    it.invoke()
    out = it.get_tensor(it.get_output_details()[0]["index"])
    return float(np.mean(np.argmax(out, axis=1) == y))


def kernels(model):
    """(layer name, kernel array) of every conv / dense layer."""
    out = []
    for layer in model.layers:
        for w in layer.weights:
            name = w.name.split("/")[-1].split(":")[0]
            if name in ("kernel", "depthwise_kernel"):
                out.append((layer.name, w.numpy()))
    return out


def fresh(m: str):
    return keras.models.load_model(FIX / m / f"{m}.h5", compile=False)


def compile_fit(model, data, lr, epochs, callbacks=()):
    (x, y), _ = data
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    h = model.fit(
        x, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0, callbacks=list(callbacks)
    )
    return [float(a) for a in h.history["accuracy"]]


def to_tflite(model, rep=None) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if rep is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
    return conv.convert()


def summarize(runs: list[dict], extra: dict) -> dict:
    accs = [r["test_accuracy"] for r in runs]
    out = {
        "test_accuracy": float(np.mean(accs)),
        "test_accuracy_runs": accs,
        "test_accuracy_min": float(np.min(accs)),
        "test_accuracy_max": float(np.max(accs)),
    }
    out.update(extra)
    out["runs"] = runs
    return out


def prune_run(m, data, sparsity, seed):
    keras.utils.set_random_seed(seed)
    sched = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, end_step=-1, frequency=10)
    model = tfmot.sparsity.keras.prune_low_magnitude(fresh(m), pruning_schedule=sched)
    train_acc = compile_fit(
        model, data, 1e-3, 2, [tfmot.sparsity.keras.UpdatePruningStep()]
    )
    stripped = tfmot.sparsity.keras.strip_pruning(model)
    (_, _), (xt, yt) = data
    return {
        "seed": seed,
        "test_accuracy": keras_accuracy(stripped, xt, yt),
        "train_accuracy_per_epoch": train_acc,
        "sparsity": {n: float(np.mean(k == 0)) for n, k in kernels(stripped)},
    }


def poly_run(m, data, seed):
    """PolynomialDecay(0.0, 0.8, begin 0, end 100, power 3, frequency 10), 3 epochs, Adam 1e-3."""
    keras.utils.set_random_seed(seed)
    sched = tfmot.sparsity.keras.PolynomialDecay(
        0.0, 0.8, begin_step=0, end_step=100, power=3, frequency=10
    )
    model = tfmot.sparsity.keras.prune_low_magnitude(fresh(m), pruning_schedule=sched)
    train_acc = compile_fit(model, data, 1e-3, 3, [tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(model)
    (_, _), (xt, yt) = data
    return {
        "seed": seed,
        "test_accuracy": keras_accuracy(stripped, xt, yt),
        "train_accuracy_per_epoch": train_acc,
        "sparsity": {n: float(np.mean(k == 0)) for n, k in kernels(stripped)},
    }


def cluster_run(m, data, init, seed):
    keras.utils.set_random_seed(seed)
    ci = tfmot.clustering.keras.CentroidInitialization
    model = tfmot.clustering.keras.cluster_weights(
        fresh(m), number_of_clusters=16, cluster_centroids_init=getattr(ci, init)
    )
    train_acc = compile_fit(model, data, 1e-4, 1)
    stripped = tfmot.clustering.keras.strip_clustering(model)
    (_, _), (xt, yt) = data
    flat = to_tflite(stripped)
    return {
        "seed": seed,
        "test_accuracy": keras_accuracy(stripped, xt, yt),
        "train_accuracy_per_epoch": train_acc,
        "unique_values": {n: int(np.unique(k).size) for n, k in kernels(stripped)},
        "tflite_bytes": len(flat),
        "tflite_gzip_bytes": len(gzip.compress(flat, compresslevel=6, mtime=0)),
    }


def qat_run(m, data, seed):
    keras.utils.set_random_seed(seed)
    (x, _), (xt, yt) = data
    model = tfmot.quantization.keras.quantize_model(fresh(m))
    train_acc = compile_fit(model, data, 1e-4, 2)

    def rep():
        for i in range(100):
            yield [x[i : i + 1]]

    q = to_tflite(model, rep)
    return {
        "seed": seed,
        "test_accuracy": litert_accuracy(q, xt, yt),
        "train_accuracy_per_epoch": train_acc,
    }


def tflite_layout(keras_kernel: np.ndarray) -> np.ndarray:
    """Keras kernel -> TFLite weights: dense [in, out] -> [out, in]; conv [h, w, in, out] ->
    [out, h, w, in]."""
    if keras_kernel.ndim == 2:
        return keras_kernel.T
    return np.transpose(keras_kernel, (3, 0, 1, 2))


# (name, weights, block, pooling, m_by_n, sparsity) of the single-mask cases.
MASK_CASES = [
    ("dense_elem_s05", "dense", [1, 1], "AVG", None, 0.5),
    ("dense_elem_s08", "dense", [1, 1], "AVG", None, 0.8),
    ("dense_b14avg_s05", "dense", [1, 4], "AVG", None, 0.5),
    ("dense_b14avg_s07", "dense", [1, 4], "AVG", None, 0.7),
    ("dense_b14max_s05", "dense", [1, 4], "MAX", None, 0.5),
    ("dense_b23max_s05", "dense", [2, 3], "MAX", None, 0.5),
    ("dense_b41avg_s06", "dense", [4, 1], "AVG", None, 0.6),
    ("dense_2of4", "dense", [1, 1], "AVG", [2, 4], 0.5),
    ("conv_elem_s08", "conv", [1, 1], "AVG", None, 0.8),
    ("conv_2of4", "conv", [1, 1], "AVG", [2, 4], 0.5),
    ("conv_in1_2of4", "conv_in1", [1, 1], "AVG", [2, 4], 0.5),
]


def make_masks() -> dict:
    """tfmot's masks on fixed weights (tfmot_masks.json), its PolynomialDecay values, and at
    which training batches `prune_low_magnitude` + `UpdatePruningStep` recompute the masks."""
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl

    rng = np.random.default_rng(10)
    weights = {
        "dense": np.round(rng.standard_normal((6, 10)), 3).astype(np.float32),
        "conv": np.round(rng.standard_normal((3, 3, 6, 4)), 3).astype(np.float32),
        "conv_in1": np.round(rng.standard_normal((3, 3, 1, 4)), 3).astype(np.float32),
    }
    out = {
        "weights": {
            k: {"shape": list(tflite_layout(w).shape), "values": tflite_layout(w).ravel().tolist()}
            for k, w in weights.items()
        },
        "cases": [],
    }
    for name, wname, block, pooling, m_by_n, s in MASK_CASES:
        w = tf.Variable(weights[wname])
        sched = tfmot.sparsity.keras.ConstantSparsity(s, begin_step=0, end_step=-1, frequency=1)
        pr = pruning_impl.Pruning(
            lambda: tf.constant(0, tf.int64),
            [(w, tf.Variable(tf.ones_like(w)), tf.Variable(0.0))],
            sched,
            block,
            pooling,
            sparsity_m_by_n=m_by_n,
        )
        thr, mask = pr._maybe_update_block_mask(w)
        out["cases"].append(
            {
                "name": name,
                "weights": wname,
                "block": block,
                "pooling": pooling,
                "m_by_n": m_by_n,
                "sparsity": s,
                "threshold": None if m_by_n else float(thr.numpy()),
                "mask": tflite_layout(mask.numpy()).astype(np.int64).ravel().tolist(),
            }
        )
    poly = tfmot.sparsity.keras.PolynomialDecay(
        0.0, 0.8, begin_step=0, end_step=100, power=3, frequency=10
    )
    out["polynomial"] = {
        "schedule": "PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, power=3, frequency=10)",
        "steps": [
            [s, float(poly(tf.constant(s, tf.int64))[1].numpy())] for s in (0, 10, 33, 50, 90, 100)
        ],
    }
    # When masks change in a real fit: mlp, 320 samples (10 batches of 32, no shuffle),
    # PolynomialDecay(0.1, 0.9, begin 0, end 9, frequency 3); fc1's mask sparsity after each batch.
    (x, y), _ = load_data()
    keras.utils.set_random_seed(1)
    sched = tfmot.sparsity.keras.PolynomialDecay(
        0.1, 0.9, begin_step=0, end_step=9, power=3, frequency=3
    )
    model = tfmot.sparsity.keras.prune_low_magnitude(fresh("mlp"), pruning_schedule=sched)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    fc1 = next(l for l in model.layers if "fc1" in l.name)
    mask_var = next(v for v in fc1.weights if "mask" in v.name)
    trace: list[float] = []
    cb = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: trace.append(float(np.mean(mask_var.numpy() == 0)))
    )
    model.fit(
        x[:320],
        y[:320],
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep(), cb],
    )
    out["fit_trace"] = {
        "model": "mlp",
        "samples": 320,
        "schedule": [0.1, 0.9, 0, 9, 3.0, 3],
        "layer": "fc1",
        "sparsity_after_batch": trace,
    }
    return out


def make_k3_model(data) -> dict:
    """A Keras 3 functional model with branches, trained a few epochs; tfmot's verdict on it."""
    import keras as k3  # Keras 3 (the legacy tf.keras is tf_keras)

    (x, y), (xt, yt) = data
    k3.utils.set_random_seed(7)
    inp = k3.Input((8, 8, 1), name="image")
    h = k3.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inp)
    h = k3.layers.BatchNormalization(name="bn1")(h)
    h = k3.layers.ReLU(name="relu1")(h)
    a = k3.layers.Conv2D(8, 1, activation="relu", name="branch_a")(h)
    b = k3.layers.Conv2D(8, 3, padding="same", name="branch_b")(h)
    s = k3.layers.Add(name="add")([h, a])
    g = k3.layers.Multiply(name="gate")([s, b])
    c = k3.layers.Concatenate(name="concat")([s, g])
    h = k3.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2")(c)
    h = k3.layers.GlobalAveragePooling2D(name="gap")(h)
    out = k3.layers.Dense(10, activation="softmax", name="probs")(h)
    model = k3.Model(inp, out, name="k3_branchy")
    model.compile(optimizer=k3.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=15, shuffle=True, verbose=0)
    path = OUT / "k3_branchy.keras"
    OUT.mkdir(parents=True, exist_ok=True)
    model.save(path)
    acc = float(np.mean(np.argmax(model.predict(xt, verbose=0), axis=1) == yt))
    verdict = {}
    for what, fn in [
        ("prune_low_magnitude", lambda: tfmot.sparsity.keras.prune_low_magnitude(model)),
        ("quantize_model", lambda: tfmot.quantization.keras.quantize_model(model)),
        ("cluster_weights", lambda: tfmot.clustering.keras.cluster_weights(model, 16)),
    ]:
        try:
            fn()
            verdict[what] = "accepted"
        except Exception as e:  # noqa: BLE001 - the refusal is the point
            verdict[what] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    print("k3_branchy", acc, verdict, flush=True)
    return {"keras_version": k3.__version__, "test_accuracy": acc, "tfmot": verdict}


def make_k3_acts_model(data) -> float:
    """k3_acts.keras: a Keras 3 model with TANH, HARD_SWISH and LOGISTIC activations (a
    sigmoid-gated squeeze-excite style product), trained a few epochs; returns its accuracy."""
    import keras as k3

    (x, y), (xt, yt) = data
    k3.utils.set_random_seed(11)
    inp = k3.Input((8, 8, 1), name="image")
    h = k3.layers.Conv2D(8, 3, padding="same", activation="tanh", name="conv1")(inp)
    h = k3.layers.Conv2D(16, 3, strides=2, padding="same", name="conv2")(h)
    h = k3.layers.Activation("hard_swish", name="hswish")(h)
    d = k3.layers.DepthwiseConv2D(3, padding="same", name="dw")(h)
    g = k3.layers.Conv2D(16, 1, name="gate_fc")(d)
    g = k3.layers.Activation("sigmoid", name="sigmoid")(g)
    h = k3.layers.Multiply(name="gate")([d, g])
    h = k3.layers.GlobalAveragePooling2D(name="gap")(h)
    out = k3.layers.Dense(10, activation="softmax", name="probs")(h)
    model = k3.Model(inp, out, name="k3_acts")
    model.compile(optimizer=k3.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=10, shuffle=True, verbose=0)
    model.save(OUT / "k3_acts.keras")
    acc = float(np.mean(np.argmax(model.predict(xt, verbose=0), axis=1) == yt))
    print("k3_acts", acc, flush=True)
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--skip-qat", action="store_true")
    ap.add_argument(
        "--k3-only", action="store_true", help="only (re)make k3_branchy.keras; merge into the JSON"
    )
    ap.add_argument("--masks-only", action="store_true", help="only (re)write tfmot_masks.json")
    ap.add_argument(
        "--poly-only", action="store_true", help="only (re)run cnn_bn/poly80; merge into the JSON"
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    masks = OUT / "tfmot_masks.json"
    masks.write_text(json.dumps(make_masks(), indent=1, sort_keys=True) + "\n")
    print("wrote", masks.relative_to(REPO))
    if args.masks_only:
        return
    data = load_data()
    (_, _), (xt, yt) = data
    result = {
        "generator": "tools/make_train_fixtures.py",
        "versions": {
            p: importlib.metadata.version(p)
            for p in ["tensorflow-cpu", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert"]
        },
        "seeds": SEEDS,
        "settings": {
            "prune": "ConstantSparsity(s, begin_step=0, end_step=-1, frequency=10), 2 epochs, "
            "Adam(1e-3), batch 32, strip_pruning",
            "poly80": "PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, power=3, "
            "frequency=10), 3 epochs, Adam(1e-3), batch 32, strip_pruning (cnn_bn)",
            "cluster": "cluster_weights(16, init), 1 epoch, Adam(1e-4), batch 32, strip_clustering",
            "qat": "quantize_model, 2 epochs, Adam(1e-4), batch 32, TFLiteConverter DEFAULT + "
            "100 representative samples (float I/O), LiteRT accuracy",
        },
        "runs": {},
    }
    runs = result["runs"]
    path = OUT / "tfmot.json"
    if args.poly_only:
        result = json.loads(path.read_text())
        r = [poly_run("cnn_bn", data, seed) for seed in SEEDS]
        result["runs"]["cnn_bn/poly80"] = summarize(r, {"sparsity": r[0]["sparsity"]})
        result["settings"]["poly80"] = (
            "PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, power=3, "
            "frequency=10), 3 epochs, Adam(1e-3), batch 32, strip_pruning (cnn_bn)"
        )
        print("cnn_bn/poly80", result["runs"]["cnn_bn/poly80"]["test_accuracy_runs"], flush=True)
        path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        return
    if args.k3_only:
        result = json.loads(path.read_text()) if path.exists() else result
        result["runs"]["k3_branchy/keras"] = make_k3_model(data)
        result["runs"]["k3_acts/keras"] = {"test_accuracy": make_k3_acts_model(data)}
        path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        return
    runs["k3_branchy/keras"] = make_k3_model(data)
    runs["k3_acts/keras"] = {"test_accuracy": make_k3_acts_model(data)}
    for m in args.models:
        base = fresh(m)
        float_acc = keras_accuracy(base, xt, yt)
        ptq = (FIX / m / f"{m}_int8_float_io.tflite").read_bytes()
        runs[f"{m}/float"] = {"test_accuracy": float_acc}
        runs[f"{m}/ptq_int8"] = {"test_accuracy": litert_accuracy(ptq, xt, yt)}
        for s in (0.5, 0.8):
            key = f"{m}/constant{int(s * 100)}"
            r = [prune_run(m, data, s, seed) for seed in SEEDS]
            runs[key] = summarize(r, {"sparsity": r[0]["sparsity"]})
            print(key, runs[key]["test_accuracy_runs"], flush=True)
        if m == "cnn_bn":
            r = [poly_run(m, data, seed) for seed in SEEDS]
            runs[f"{m}/poly80"] = summarize(r, {"sparsity": r[0]["sparsity"]})
        for init in ("LINEAR", "KMEANS_PLUS_PLUS"):
            key = f"{m}/cluster16_{'linear' if init == 'LINEAR' else 'kmeans++'}"
            r = [cluster_run(m, data, init, seed) for seed in SEEDS]
            runs[key] = summarize(
                r,
                {
                    "unique_values": r[0]["unique_values"],
                    "tflite_gzip_bytes": r[0]["tflite_gzip_bytes"],
                },
            )
            print(key, runs[key]["test_accuracy_runs"], flush=True)
        if not args.skip_qat:
            key = f"{m}/qat_int8"
            try:
                r = [qat_run(m, data, seed) for seed in SEEDS]
                runs[key] = summarize(r, {})
            except Exception as e:  # noqa: BLE001 - recorded, not fatal
                runs[key] = {"error": f"{type(e).__name__}: {e}"}
            print(key, runs[key].get("test_accuracy_runs", runs[key].get("error")), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print("wrote", path.relative_to(REPO))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
