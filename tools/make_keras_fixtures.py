#!/usr/bin/env python3
"""Generate the Keras converter fixtures under tests/fixtures/keras/.

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_keras_fixtures.py

Tiny untrained models with seeded random weights that exercise the layers and graph shapes the
`ferrolite-convert` Keras reader handles (Sequential and Functional, two inputs and two outputs, a
shared layer, skip connections, BatchNormalization folded and standalone, every supported
activation spelling). Each model is built twice from the same builder: once with tf-keras 2
(saved as legacy `.h5` and converted with TF's TFLiteConverter as the oracle) and once with
Keras 3 (saved as a native `.keras`), with identical weights. Keras 3 and tf-keras differ in a few
defaults (for example `gelu` is approximate in Keras 3), so each file has its own golden output.

Per model `<m>`:
- `<m>.h5`, `<m>.keras`: the tf-keras and Keras 3 files (`.keras` members deflated).
- `multi_io.k3.h5`: the Keras 3 model saved in the legacy HDF5 format by Keras 3 itself.
- `<m>.in<i>.npy`: the inputs (input 0 is always `../inputs_f32.npy` when it is an 8x8x1 image).
- `<m>.h5.out<j>.npy`, `<m>.keras.out<j>.npy`: tf-keras / Keras 3 outputs.
- `<m>_float32.tflite` and `<m>_float32.out<j>.npy`: TF's conversion of the tf-keras model and its
  LiteRT (reference kernels) outputs.
`manifest.json` lists inputs, outputs, TF's op list and the max differences between the three.
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
        "PYTHONHASHSEED": "0",
    }
)

import json  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

SEED = 4321
REPO = Path(__file__).resolve().parent.parent
FIX = REPO / "tests" / "fixtures"
OUT = FIX / "keras"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------- models
# Each builder takes the Keras module (tf_keras or keras 3) and returns an unbuilt-weights model.


def build_multi_io(k):
    """Two inputs, two outputs, a shared Dense, standalone BN, swish/gelu/tanh/sigmoid."""
    L = k.layers
    img = k.Input((8, 8, 1), name="image")
    aux = k.Input((5,), name="aux")
    x = L.Rescaling(0.5, offset=-0.25, name="rescale")(img)
    x = L.Conv2D(6, 3, strides=2, padding="valid", activation="swish", name="conv_swish")(x)
    x = L.ZeroPadding2D(((1, 0), (0, 1)), name="zpad")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu", name="dw_m2")(x)
    x = L.BatchNormalization(name="bn_standalone")(x)
    x = L.GlobalMaxPooling2D(name="gmp")(x)
    shared = L.Dense(8, activation="tanh", name="shared_fc")
    a = shared(L.Dense(12, name="aux_proj")(aux))
    b = shared(x)
    y = L.Concatenate(name="concat")([a, b])
    y = L.Dense(16, activation="gelu", name="fc_gelu")(y)
    g = L.Dense(16, activation="sigmoid", name="gate_fc")(y)
    y = L.Multiply(name="gate")([y, g])
    cls = L.Dense(10, activation="softmax", name="cls")(y)
    d = L.Subtract(name="diff")([y, L.Dense(16, name="skip")(aux)])
    reg = L.Dense(1, name="reg")(d)
    return k.Model([img, aux], [cls, reg], name="multi_io")


def build_seq_cnn(k):
    """Sequential: dilation, relu6, pooling, BN folded into conv and dense, noise/dropout layers."""
    L = k.layers
    return k.Sequential(
        [
            k.Input((8, 8, 1), name="pixels"),
            L.Conv2D(8, 3, padding="same", dilation_rate=2, activation="relu6", name="dil_conv"),
            L.AveragePooling2D(2, name="avg"),
            L.Conv2D(8, (2, 3), strides=(1, 2), padding="same", use_bias=False, name="conv_nb"),
            L.BatchNormalization(name="bn_fold"),
            L.LeakyReLU(0.1, name="leaky"),
            L.MaxPooling2D(pool_size=2, strides=1, padding="same", name="mp_same"),
            L.SpatialDropout2D(0.3, name="sdrop"),
            L.GaussianNoise(0.1, name="noise"),
            L.Activation("elu", name="elu"),
            L.Reshape((8, 8), name="reshape"),
            L.Flatten(name="flat"),
            L.Dense(12, use_bias=False, name="fc_nb"),
            L.BatchNormalization(name="bn_dense"),
            L.Activation("relu", name="act_relu"),
            L.Dropout(0.5, name="drop"),
            L.Dense(10, name="logits"),
            L.Softmax(name="softmax"),
        ],
        name="seq_cnn",
    )


def build_res_merge(k):
    """ReLU variants, 3-way Add, Subtract, Multiply, residual Add + ReLU, GAP keepdims."""
    L = k.layers
    inp = k.Input((8, 8, 1), name="input")
    x = L.Conv2D(4, 3, padding="same", name="c1")(inp)
    x1 = L.ReLU(max_value=6.0, name="r6")(x)
    x2 = L.ReLU(negative_slope=0.1, name="rleaky")(x)
    x3 = L.Activation("sigmoid", name="sig")(x)
    s = L.Add(name="add3")([x1, x2, x3])
    d = L.Subtract(name="sub")([s, x])
    m = L.Multiply(name="mul")([d, x3])
    t = L.Activation("tanh", name="tanh")(m)
    u = L.Conv2D(4, 1, activation="relu", name="c2")(t)
    v = L.Add(name="res")([u, t])
    v = L.ReLU(name="post_relu")(v)
    g = L.GlobalAveragePooling2D(keepdims=True, name="gap_keep")(v)
    f = L.Reshape((4,), name="squeeze")(g)
    out = L.Dense(10, activation="softmax", name="probs")(f)
    return k.Model(inp, out, name="res_merge")


MODELS = {"multi_io": build_multi_io, "seq_cnn": build_seq_cnn, "res_merge": build_res_merge}


def random_weights(model, rng) -> list[np.ndarray]:
    """Seeded weights; BatchNorm statistics kept in a sensible range (variance > 0)."""
    out = []
    for w in model.weights:
        name = w.name.split("/")[-1].split(":")[0]
        shape = tuple(w.shape)
        if name == "moving_variance":
            v = rng.uniform(0.5, 1.5, shape)
        elif name == "gamma":
            v = 1.0 + 0.2 * rng.standard_normal(shape)
        elif name in ("beta", "moving_mean", "bias"):
            v = 0.2 * rng.standard_normal(shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            v = rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))
        out.append(v.astype(np.float32))
    return out


def strip_key(v, key: str):
    """`v` without any `key` entries in nested dicts."""
    if isinstance(v, dict):
        return {k: strip_key(x, key) for k, x in v.items() if k != key}
    if isinstance(v, list):
        return [strip_key(x, key) for x in v]
    return v


def normalize_zip(path: Path) -> None:
    """Rewrite a zip deflated, with fixed timestamps and a fixed Keras `date_saved`.

    (Keras stores members uncompressed; deflating shrinks the fixtures and exercises the
    converter's deflate path, while the digit models' `.keras` files keep the stored form.)
    """
    with zipfile.ZipFile(path) as zin:
        entries = [(i, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in entries:
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta["date_saved"] = "1980-01-01@00:00:00"
                data = json.dumps(meta).encode()
            elif info.filename == "config.json":
                # Keras writes Python object ids (`shared_object_id`); dropping them only
                # un-shares identical dtype policies and makes the file reproducible.
                data = json.dumps(strip_key(json.loads(data), "shared_object_id")).encode()
            zi = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)


def as_list(y) -> list[np.ndarray]:
    if isinstance(y, (list, tuple)):
        return [np.asarray(v, dtype=np.float32) for v in y]
    return [np.asarray(y, dtype=np.float32)]


def run_litert(path: Path, inputs: list[np.ndarray]) -> tuple[list[str], list[dict], list[dict], list[np.ndarray]]:
    """Op names, input/output details and outputs (LiteRT order) of a converted model."""
    interp = fixture_io.make_interpreter(path, reference=True)
    ins = interp.get_input_details()

    def which(d: dict) -> int:
        """Keras input position of a LiteRT input (TF names them `serving_default_<name>:0`)."""
        if len(ins) == 1:
            return 0
        return next(i for i, n in enumerate(INPUT_NAMES) if d["name"] == f"serving_default_{n}:0")

    for d in ins:
        interp.resize_tensor_input(d["index"], list(inputs[which(d)].shape))
    interp.allocate_tensors()
    for d in ins:
        interp.set_tensor(d["index"], inputs[which(d)])
    interp.invoke()
    outs = [np.array(interp.get_tensor(o["index"])) for o in interp.get_output_details()]
    return (
        fixture_io.op_names(interp),
        [fixture_io.jsonable_detail(d) for d in ins],
        [fixture_io.jsonable_detail(d) for d in interp.get_output_details()],
        outs,
    )


INPUT_NAMES: list[str] = []


def main() -> int:
    import keras as k3
    import tensorflow as tf
    import tf_keras as k2

    OUT.mkdir(parents=True, exist_ok=True)
    x_img = np.load(FIX / "inputs_f32.npy")
    manifest: dict = {
        "generator": "tools/make_keras_fixtures.py",
        "versions": {"tensorflow": tf.__version__, "tf_keras": k2.__version__, "keras": k3.__version__},
        "models": {},
    }
    for mi, (name, builder) in enumerate(MODELS.items()):
        rng = np.random.default_rng(SEED + mi)
        k2.backend.clear_session()
        m2 = builder(k2)
        weights = random_weights(m2, rng)
        m2.set_weights(weights)
        m3 = builder(k3)
        m3.set_weights(weights)

        inputs = []
        INPUT_NAMES.clear()
        in_files = []
        for i, t in enumerate(m2.inputs):
            shape = tuple(t.shape[1:])
            INPUT_NAMES.append(m2.input_names[i])
            if shape == (8, 8, 1):
                inputs.append(x_img)
                in_files.append("../inputs_f32.npy")
            else:
                xi = rng.standard_normal((16, *shape)).astype(np.float32)
                fn = f"{name}.in{i}.npy"
                np.save(OUT / fn, xi)
                inputs.append(xi)
                in_files.append(fn)

        h5 = OUT / f"{name}.h5"
        m2.save(h5, save_format="h5")
        kp = OUT / f"{name}.keras"
        m3.save(kp)
        normalize_zip(kp)
        extra = []
        if name == "multi_io":
            k3h5 = OUT / f"{name}.k3.h5"
            m3.save(k3h5)
            extra.append({"file": k3h5.name, "outputs": "keras_outputs"})

        feed = inputs if len(inputs) > 1 else inputs[0]
        y2 = as_list(m2(feed, training=False))
        y3 = as_list(m3(feed, training=False))
        # Reload the files to be sure the goldens are what the files hold.
        r2 = as_list(k2.models.load_model(h5, compile=False)(feed))
        r3 = as_list(k3.saving.load_model(kp, compile=False)(feed))
        for a, b in zip(y2 + y3, r2 + r3):
            assert np.array_equal(a, b), f"{name}: reloaded model differs"
        for e in extra:
            r = as_list(k3.saving.load_model(OUT / e["file"], compile=False)(feed))
            assert all(np.array_equal(a, b) for a, b in zip(y3, r)), f"{e['file']} differs"
        for j, (a, b) in enumerate(zip(y2, y3)):
            np.save(OUT / f"{name}.h5.out{j}.npy", a)
            np.save(OUT / f"{name}.keras.out{j}.npy", b)

        conv = tf.lite.TFLiteConverter.from_keras_model(m2)
        tfl = OUT / f"{name}_float32.tflite"
        tfl.write_bytes(conv.convert())
        ops, in_det, out_det, louts = run_litert(tfl, inputs)
        # LiteRT's output order may differ from Keras'; match by signature name.
        sigs = fixture_io.make_interpreter(tfl).get_signature_list()
        sig = sigs.get("serving_default")
        if sig is not None:
            runner = fixture_io.make_interpreter(tfl).get_signature_runner("serving_default")
            sig_out = runner(**{n: x for n, x in zip(INPUT_NAMES, inputs)})
            lite_by_keras = [np.asarray(sig_out[n]) for n in m2.output_names]
        else:  # TF writes no signature for some Sequential models; one output then
            assert len(louts) == 1
            lite_by_keras = louts
        for j, a in enumerate(lite_by_keras):
            np.save(OUT / f"{name}_float32.out{j}.npy", a)

        manifest["models"][name] = {
            "class": type(m2).__name__,
            "layers": [f"{layer.name}:{type(layer).__name__}" for layer in m2.layers],
            "inputs": [
                {"name": n, "file": f, "shape": list(x.shape)} for n, f, x in zip(INPUT_NAMES, in_files, inputs)
            ],
            "outputs": [{"name": n, "shape": list(a.shape)} for n, a in zip(m2.output_names, y2)],
            "h5_outputs": [f"{name}.h5.out{j}.npy" for j in range(len(y2))],
            "keras_outputs": [f"{name}.keras.out{j}.npy" for j in range(len(y3))],
            "extra_files": extra,
            "max_abs_diff_keras3_vs_tf_keras": max(float(np.max(np.abs(a - b))) for a, b in zip(y2, y3)),
            "tflite": {
                "file": tfl.name,
                "ops": ops,
                "signature": sig,
                "inputs": in_det,
                "outputs": out_det,
                "outputs_by_keras_order": [f"{name}_float32.out{j}.npy" for j in range(len(y2))],
                "max_abs_diff_litert_vs_tf_keras": max(
                    float(np.max(np.abs(a - b))) for a, b in zip(lite_by_keras, y2)
                ),
            },
        }
        print(name, ops, manifest["models"][name]["max_abs_diff_keras3_vs_tf_keras"])

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
