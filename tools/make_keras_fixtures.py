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
- `<m>.k3.h5`: the Keras 3 model saved in the legacy HDF5 format by Keras 3 itself (some models).
- `<m>.in<i>.npy`: the inputs (an 8x8x1 image input is always `../inputs_f32.npy`).
- `<m>.h5.out<j>.npy`, `<m>.keras.out<j>.npy`: tf-keras / Keras 3 outputs.
- `<m>_float32.tflite` and `<m>_float32.out<j>.npy`: TF's conversion of the tf-keras model and its
  LiteRT (reference kernels) outputs.
Models listed in `KERAS3_ONLY` use Keras 3 features tf-keras lacks (`hard_silu`, Keras 3's
`hard_sigmoid`): they are built with Keras 3 only, and TF converts a frozen concrete function
of the Keras 3 model instead.
`manifest.json` lists inputs, outputs, every file with its goldens, TF's op list (with op versions
and `min_runtime_version`) and the max differences between the three.
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


def build_seq1d(k):
    """1-D sequences: causal / grouped / dilated / strided Conv1D, 1-D pools, global 1-D pools."""
    L = k.layers
    x = k.Input((16, 4), name="seq")
    y = L.Conv1D(8, 3, padding="causal", activation="relu", name="causal")(x)
    y = L.Conv1D(8, 3, padding="same", groups=2, activation="tanh", name="grouped")(y)
    y = L.MaxPooling1D(2, name="mp1")(y)
    y = L.Conv1D(6, 3, padding="same", dilation_rate=2, name="dilated")(y)
    y = L.AveragePooling1D(3, strides=1, padding="same", name="ap1")(y)
    y = L.Conv1D(6, 2, strides=2, activation="elu", name="strided")(y)
    gap = L.GlobalAveragePooling1D(name="gap1")(y)
    gmp = L.Flatten(name="flat")(L.GlobalMaxPooling1D(keepdims=True, name="gmp1")(y))
    y = L.Concatenate(name="cat")([gap, gmp])
    out = L.Dense(3, activation="softsign", name="out")(y)
    return k.Model(x, out, name="seq1d")


def build_decoder(k):
    """Normalization, grouped conv, separable conv, transposed convs, upsampling, crop, resize."""
    L = k.layers
    x = k.Input((8, 8, 1), name="image")
    y = L.Normalization(mean=0.25, variance=0.04, name="norm")(x)
    y = L.Conv2D(8, 3, strides=2, activation="relu", name="enc")(y)
    y = L.Conv2D(8, 3, padding="same", groups=4, name="grouped2d")(y)
    y = L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, activation="relu", name="sep")(y)
    y = L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="relu", name="deconv")(y)
    y = L.Conv2DTranspose(4, 2, padding="valid", use_bias=False, name="deconv_nb")(y)
    y = L.UpSampling2D(2, name="up_nn")(y)
    y = L.Cropping2D(((1, 2), (0, 3)), name="crop")(y)
    y = L.UpSampling2D((2, 1), interpolation="bilinear", name="up_bl")(y)
    y = L.Resizing(6, 8, crop_to_aspect_ratio=True, name="resize_crop")(y)
    y = L.Resizing(5, 5, interpolation="nearest", name="resize_nn")(y)
    out = L.Conv2D(2, 1, name="head")(y)
    return k.Model(x, out, name="decoder")


def build_seqnorm(k):
    """Embedding, LayerNorm (both TF paths), PReLU, RepeatVector, Dot, Softmax(axis=1), Permute, Average."""
    L = k.layers
    tokens = k.Input((6,), dtype="int32", name="tokens")
    feat = k.Input((5,), name="feat")
    e = L.Embedding(20, 8, name="embed")(tokens)
    ln = L.LayerNormalization(epsilon=1e-5, name="ln")(e)
    h = L.Dense(8, name="proj")(feat)
    h = L.LayerNormalization(name="ln_fused")(h)
    p = L.PReLU(name="prelu")(h)
    rep = L.RepeatVector(6, name="repeat")(p)
    scores = L.Dot(axes=2, name="scores")([ln, rep])
    attn = L.Softmax(axis=1, name="softmax_ax1")(scores)
    ctx = L.Dot(axes=(2, 1), name="attend")([attn, ln])
    pooled = L.GlobalAveragePooling1D(name="pool")(L.Permute((2, 1), name="permute")(ctx))
    a = L.Dense(6, activation="selu", name="fc_selu")(feat)
    b = L.Dense(6, activation="softplus", name="fc_softplus")(p)
    avg = L.Average(name="avg")([pooled, a, b])
    cos = L.Dot(axes=1, normalize=True, name="cosine")([p, L.Dense(8, name="proj2")(feat)])
    return k.Model([tokens, feat], [avg, cos], name="seqnorm")


def build_acts(k):
    """ReLU max_value / threshold / negative_slope combinations, ELU(alpha), activation strings."""
    L = k.layers
    x = k.Input((8,), name="x")
    h = L.Dense(8, name="fc")(x)
    branches = [
        L.ReLU(max_value=3.0, name="relu_max3")(h),
        L.ReLU(threshold=0.5, name="relu_thr")(h),
        L.ReLU(max_value=6.0, negative_slope=0.1, name="relu6_leaky")(h),
        L.ReLU(max_value=4.0, negative_slope=0.1, threshold=0.5, name="relu_all")(h),
        L.ELU(alpha=0.5, name="elu_half")(h),
    ]
    for act in ["hard_sigmoid", "selu", "softplus", "softsign", "gelu", "exponential", "mish"]:
        branches.append(L.Activation(act, name=f"act_{act}")(h))
    y = L.Concatenate(name="cat")(branches)
    out = L.Dense(4, name="out")(y)
    return k.Model(x, out, name="acts")


def build_k3_acts(k):
    """Keras 3 only: hard_silu / hard_swish, Keras 3's hard_sigmoid, gelu, in Dense activations."""
    L = k.layers
    x = k.Input((6,), name="x")
    ys = [
        L.Dense(4, activation=act, name=f"fc_{act}")(x)
        for act in ["hard_silu", "hard_swish", "hard_sigmoid", "gelu"]
    ]
    return k.Model(x, L.Concatenate(name="cat")(ys), name="k3_acts")


def build_nested(k):
    """A Sequential and a Functional (itself holding a Sequential) inside a Functional model;
    the Functional one is called twice (shared weights)."""
    L = k.layers
    inner_seq = k.Sequential(
        [k.Input((6,)), L.Dense(5, name="d1"), L.ReLU(name="r")], name="inner_seq"
    )
    deep = k.Sequential([k.Input((5,)), L.Dense(5, activation="tanh", name="dd")], name="deep")
    fi = k.Input((5,), name="fi")
    inner_fn = k.Model(fi, L.Dense(4, name="d1")(deep(fi)), name="inner_fn")
    x = k.Input((6,), name="x")
    a = inner_fn(inner_seq(x))
    b = inner_fn(L.Dense(5, name="d_outer")(x))
    return k.Model(x, L.Add(name="add")([a, b]), name="nested")


MODELS = {
    "multi_io": build_multi_io,
    "seq_cnn": build_seq_cnn,
    "res_merge": build_res_merge,
    "seq1d": build_seq1d,
    "decoder": build_decoder,
    "seqnorm": build_seqnorm,
    "acts": build_acts,
    "k3_acts": build_k3_acts,
    "nested": build_nested,
}
# Models built with Keras 3 only (no tf-keras spelling of their layers).
KERAS3_ONLY = {"k3_acts"}
# Models also saved by Keras 3 in the legacy HDF5 format.
KERAS3_H5 = {"multi_io", "nested"}


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
        [brief_detail(d) for d in ins],
        [brief_detail(d) for d in interp.get_output_details()],
        outs,
    )


def brief_detail(d: dict) -> dict:
    """The float model's tensor detail without the (empty) quantization fields."""
    full = fixture_io.jsonable_detail(d)
    return {k: full[k] for k in ("name", "index", "shape", "shape_signature", "dtype")}


def tflite_versions(path: Path) -> tuple[dict, str | None]:
    """Highest version of each operator and the `min_runtime_version` metadata of a .tflite."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    m = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    versions: dict = {}
    for op in m.subgraphs[0].operators:
        code = m.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        versions[name] = max(versions.get(name, 0), int(code.version))
    runtime = None
    for md in m.metadata or []:
        if md.name in (b"min_runtime_version", "min_runtime_version"):
            runtime = bytes(m.buffers[md.buffer].data).rstrip(b"\0").decode()
    return dict(sorted(versions.items())), runtime


def convert_keras3(m3) -> bytes:
    """TF's conversion of a Keras 3 model: a concrete function with the variables frozen."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec([None, *t.shape[1:]], t.dtype, name=n) for t, n in zip(m3.inputs, INPUT_NAMES)]
    fn = tf.function(lambda *a: m3(list(a) if len(a) > 1 else a[0], training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(*specs))
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()


def io_names(model, key: str) -> list[str]:
    """Layer names of a model's inputs or outputs (tf-keras' `input_names` / `output_names`,
    else the Functional config's `input_layers` / `output_layers`)."""
    names = getattr(model, "input_names" if key == "input_layers" else "output_names", None)
    if names and "tf_keras" in type(model).__module__:
        return list(names)
    v = model.get_config()[key]
    return [v[0]] if isinstance(v[0], str) else [t[0] for t in v]


def make_inputs(name: str, model, rng, x_img) -> tuple[list[np.ndarray], list[str]]:
    """Inputs (16 samples) for each model input, saved next to the fixtures."""
    inputs, files = [], []
    INPUT_NAMES.clear()
    INPUT_NAMES.extend(io_names(model, "input_layers"))
    for i, t in enumerate(model.inputs):
        shape = tuple(t.shape[1:])
        if shape == (8, 8, 1):
            inputs.append(x_img)
            files.append("../inputs_f32.npy")
            continue
        if np.dtype(str(getattr(t.dtype, "name", t.dtype))).kind == "i":
            xi = rng.integers(0, 20, (16, *shape)).astype(np.int32)
        else:
            xi = rng.standard_normal((16, *shape)).astype(np.float32)
        fn = f"{name}.in{i}.npy"
        np.save(OUT / fn, xi)
        inputs.append(xi)
        files.append(fn)
    return inputs, files


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
        k3_only = name in KERAS3_ONLY
        m2 = None if k3_only else builder(k2)
        m3 = builder(k3)
        weights = random_weights(m3 if k3_only else m2, rng)
        if m2 is not None:
            m2.set_weights(weights)
        m3.set_weights(weights)
        inputs, in_files = make_inputs(name, m3 if k3_only else m2, rng, x_img)
        feed = inputs if len(inputs) > 1 else inputs[0]
        output_names = io_names(m3, "output_layers") if k3_only else m2.output_names

        files = []
        y2 = None
        if m2 is not None:
            h5 = OUT / f"{name}.h5"
            m2.save(h5, save_format="h5")
            y2 = as_list(m2(feed, training=False))
            r2 = as_list(k2.models.load_model(h5, compile=False)(feed))
            assert all(np.array_equal(a, b) for a, b in zip(y2, r2)), f"{name}: reloaded .h5 differs"
            for j, a in enumerate(y2):
                np.save(OUT / f"{name}.h5.out{j}.npy", a)
            files.append({"file": h5.name, "keras": "tf_keras", "outputs": [f"{name}.h5.out{j}.npy" for j in range(len(y2))]})
        kp = OUT / f"{name}.keras"
        m3.save(kp)
        normalize_zip(kp)
        y3 = as_list(m3(feed, training=False))
        r3 = as_list(k3.saving.load_model(kp, compile=False)(feed))
        assert all(np.array_equal(a, b) for a, b in zip(y3, r3)), f"{name}: reloaded .keras differs"
        for j, a in enumerate(y3):
            np.save(OUT / f"{name}.keras.out{j}.npy", a)
        k3_outs = [f"{name}.keras.out{j}.npy" for j in range(len(y3))]
        files.append({"file": kp.name, "keras": "keras3", "outputs": k3_outs})
        if name in KERAS3_H5:
            k3h5 = OUT / f"{name}.k3.h5"
            m3.save(k3h5)
            r = as_list(k3.saving.load_model(k3h5, compile=False)(feed))
            assert all(np.array_equal(a, b) for a, b in zip(y3, r)), f"{k3h5.name} differs"
            files.append({"file": k3h5.name, "keras": "keras3", "outputs": k3_outs})

        tfl = OUT / f"{name}_float32.tflite"
        if m2 is not None:
            tfl.write_bytes(tf.lite.TFLiteConverter.from_keras_model(m2).convert())
        else:
            tfl.write_bytes(convert_keras3(m3))
        ops, in_det, out_det, louts = run_litert(tfl, inputs)
        # LiteRT's output order may differ from Keras'; match by signature name.
        sigs = fixture_io.make_interpreter(tfl).get_signature_list()
        sig = sigs.get("serving_default")
        if sig is not None and m2 is not None:
            runner = fixture_io.make_interpreter(tfl).get_signature_runner("serving_default")
            sig_out = runner(**{n: x for n, x in zip(INPUT_NAMES, inputs)})
            lite_by_keras = [np.asarray(sig_out[n]) for n in output_names]
        else:  # TF writes no signature for some Sequential models; one output then
            assert len(louts) == 1
            lite_by_keras = louts
        for j, a in enumerate(lite_by_keras):
            np.save(OUT / f"{name}_float32.out{j}.npy", a)
        op_versions, runtime = tflite_versions(tfl)
        reference = y3 if y2 is None else y2

        entry = {
            "class": type(m3 if k3_only else m2).__name__,
            "layers": [f"{layer.name}:{type(layer).__name__}" for layer in (m3 if k3_only else m2).layers],
            "inputs": [
                {"name": n, "file": f, "shape": list(x.shape), "dtype": x.dtype.name}
                for n, f, x in zip(INPUT_NAMES, in_files, inputs)
            ],
            "outputs": [{"name": n, "shape": list(a.shape)} for n, a in zip(output_names, reference)],
            "files": files,
            "tflite": {
                "file": tfl.name,
                "source": "keras3 concrete function (variables frozen)" if k3_only else "tf_keras from_keras_model",
                "ops": ops,
                "op_versions": op_versions,
                "min_runtime_version": runtime,
                "signature": sig,
                "inputs": in_det,
                "outputs": out_det,
                "outputs_by_keras_order": [f"{name}_float32.out{j}.npy" for j in range(len(reference))],
                "max_abs_diff_litert_vs_keras": max(
                    float(np.max(np.abs(a - b))) for a, b in zip(lite_by_keras, reference)
                ),
            },
        }
        if y2 is not None:
            entry["max_abs_diff_keras3_vs_tf_keras"] = max(float(np.max(np.abs(a - b))) for a, b in zip(y2, y3))
        manifest["models"][name] = entry
        print(name, ops, entry.get("max_abs_diff_keras3_vs_tf_keras"), entry["tflite"]["max_abs_diff_litert_vs_keras"])

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
