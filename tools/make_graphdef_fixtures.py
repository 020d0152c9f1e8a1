#!/usr/bin/env python3
"""Generate the frozen-GraphDef converter fixtures under tests/fixtures/graphdef/.

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_graphdef_fixtures.py [NAME ...]

(with names, only those entries are regenerated and the rest of manifest.json is kept; the
names are the MODELS keys plus `saved` and `tensorarray`)

Tiny `tf.function` graphs with seeded random weights, frozen with
`convert_variables_to_constants_v2` (variables become `Const`, reads become `Identity`,
control flow is lowered to v1 ops), written as binary `GraphDef` `.pb` files:

- `convnet`: Conv2D + BiasAdd + FusedBatchNormV3 + Relu, DepthwiseConv2dNative + Relu6, Pad,
  MaxPool, AvgPool, ConcatV2, elementwise Sub/Mul/RealDiv/Maximum/Minimum with constants,
  Sigmoid/Tanh, Transpose, a dynamic-batch flatten (Shape -> StridedSlice -> Pack -> Reshape),
  Mean, ExpandDims/Squeeze, MatMul + BiasAdd + Softmax. Input [None, 8, 8, 3].
- `mlp`: MatMul + BiasAdd + Relu, MatMul(transpose_b) + BiasAdd + Softmax, a float16 constant
  cast to float32, a splat constant (one `float_val` filling the shape), Pack of
  two outputs. Input [None, 16]; fixed to batch 2 by `input_shapes` in TF's conversion.
- `misc`: Conv2D with EXPLICIT padding, DepthwiseConv2dNative with multiplier 2, a
  StridedSlice with ellipsis and new axis, Mean over negative axes, MatMul of two activations
  (transpose_a), RealDiv by a tensor, and Cast of a run-time shape value.
- `unsupported`: a tf.math.cumsum, a TensorArray written in a while loop, plus supported ops,
  so that the converter must list every unsupported op type with counts.
- `extra`: the rest of the inference op list (transposed conv, resizes, splits, slices, gathers,
  tiles, mirror/constant pads, reductions, unary math, ArgMax, BatchMatMulV2, a folded Range).
- `digits_cnn`: the digits CNN of tests/fixtures/cnn_bn/cnn_bn.h5, frozen.
- `detect`: a detection-like graph (conv backbone, box/score heads, NonMaxSuppressionV4/V5).
- `saved/` (`saved`): a TF2 SavedModel with variables and two signatures.
- `tensorarray` : a TF1 control-flow-v1 graph with TensorArrayV3 ops in a while loop.

Per graph `<m>`: `<m>.pb`, `<m>.in0.npy` (fixed input), `<m>.out<j>.npy` (TensorFlow's outputs),
and in `manifest.json`: input/output node names and shapes, the GraphDef's op histogram, and
TF's own conversion of the same `.pb` with the v1 `TFLiteConverter.from_frozen_graph`
(op list, or the error message when TF cannot convert it with builtins only, and the op list
with SELECT_TF_OPS).
"""

from __future__ import annotations

import os

os.environ.update(
    {
        "TF_DETERMINISTIC_OPS": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
)

import collections  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402

SEED = 2024
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "graphdef"


def convnet(tf, rng):
    def w(*shape, scale=0.3):
        return tf.Variable(rng.standard_normal(shape).astype(np.float32) * scale)

    k1, b1 = w(3, 3, 3, 8), w(8)
    gamma = tf.Variable(rng.uniform(0.5, 1.5, 8).astype(np.float32))
    beta, mean = w(8), w(8)
    var = tf.Variable(rng.uniform(0.5, 2.0, 8).astype(np.float32))
    dk, db = w(3, 3, 8, 2), w(16)
    k3 = w(1, 1, 16, 4)
    fc_w, fc_b = w(4 * 4 * 8, 5), w(5)

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32, name="image")])
    def f(x):
        y = tf.nn.conv2d(x, k1, strides=1, padding="SAME")
        y = tf.nn.bias_add(y, b1)
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            y, gamma, beta, mean=mean, variance=var, epsilon=1e-3, is_training=False
        )
        y = tf.nn.relu(y)
        y = tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]])
        y = tf.nn.depthwise_conv2d(y, dk, strides=[1, 2, 2, 1], padding="VALID")
        y = tf.nn.relu6(tf.nn.bias_add(y, db))
        y = tf.nn.conv2d(y, k3, strides=1, padding="VALID")
        a = tf.nn.max_pool2d(y, 2, strides=1, padding="SAME")
        b = tf.nn.avg_pool2d(y, 3, strides=1, padding="SAME")
        b = tf.minimum(tf.maximum((b - 0.25) * 1.5 / 2.0, -1.0), 2.0)
        y = tf.concat([tf.sigmoid(a), tf.tanh(b)], axis=3)
        t = tf.transpose(y, [0, 2, 1, 3])
        flat = tf.reshape(t, tf.stack([tf.shape(t)[0], -1]))
        logits = tf.nn.bias_add(tf.matmul(flat, fc_w), fc_b)
        probs = tf.nn.softmax(logits, name="probs")
        pooled = tf.reduce_mean(y, axis=[1, 2], keepdims=True)
        pooled = tf.squeeze(tf.expand_dims(pooled, 1), axis=[1, 2, 3], name="pooled")
        return tf.identity(probs, name="probs_out"), tf.identity(pooled, name="pooled_out")

    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    return f, x, ["probs_out", "pooled_out"], None


def mlp(tf, rng):
    w1 = tf.Variable(rng.standard_normal((16, 12)).astype(np.float32) * 0.4)
    b1 = tf.Variable(rng.standard_normal(12).astype(np.float32) * 0.1)
    w2 = tf.Variable(rng.standard_normal((4, 12)).astype(np.float32) * 0.4)
    half = rng.standard_normal(4).astype(np.float16)

    @tf.function(input_signature=[tf.TensorSpec([None, 16], tf.float32, name="features")])
    def f(x):
        h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w1), b1))
        b2 = tf.cast(tf.constant(half), tf.float32)
        logits = tf.matmul(h, w2, transpose_b=True) + b2
        logits = logits * tf.fill([4], 0.5)
        probs = tf.nn.softmax(logits)
        both = tf.stack([probs, tf.add(logits, 1.0)], axis=1)
        return tf.identity(both, name="stacked")

    x = rng.standard_normal((2, 16)).astype(np.float32)
    return f, x, ["stacked"], {"features": [2, 16]}


def unsupported(tf, rng):
    k = tf.Variable(rng.standard_normal((4, 4)).astype(np.float32) * 0.5)

    @tf.function(input_signature=[tf.TensorSpec([3, 4], tf.float32, name="seq")])
    def f(x):
        h = tf.nn.relu(tf.matmul(x, k))
        c = tf.math.cumsum(h, axis=1)
        ta = tf.TensorArray(tf.float32, size=3)
        for i in tf.range(3):
            ta = ta.write(i, tf.math.cumsum(c[i]) * 2.0)
        return tf.identity(ta.stack(), name="result")

    x = rng.standard_normal((3, 4)).astype(np.float32)
    return f, x, ["result"], None


def misc(tf, rng):
    k = tf.Variable(rng.standard_normal((3, 2, 2, 4)).astype(np.float32) * 0.4)
    dk = tf.Variable(rng.standard_normal((3, 3, 4, 2)).astype(np.float32) * 0.4)

    @tf.function(input_signature=[tf.TensorSpec([None, 6, 6, 2], tf.float32, name="x")])
    def f(x):
        y = tf.nn.conv2d(x, k, strides=[1, 2, 1, 1], padding=[[0, 0], [1, 2], [0, 1], [0, 0]])
        y = tf.raw_ops.DepthwiseConv2dNative(
            input=y, filter=dk, strides=[1, 1, 1, 1], padding="SAME"
        )
        s = y[:, 1:-1, ..., tf.newaxis]
        m = tf.reduce_mean(s, axis=[-1, 2])
        h = tf.reshape(m, [-1, 16])
        g = tf.matmul(h, h, transpose_a=True)
        d = h / (tf.nn.relu(h) + 1.0)
        c = d * tf.cast(tf.shape(x)[0], tf.float32)
        return tf.identity(g, name="gram"), tf.identity(c, name="scaled")

    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    return f, x, ["gram", "scaled"], None


def extra(tf, rng):
    """The second op set: every remaining op of the inference list except NMS."""
    kt = tf.Variable(rng.standard_normal((3, 3, 5, 3)).astype(np.float32) * 0.3)
    bm = tf.Variable(rng.standard_normal((6, 4)).astype(np.float32) * 0.3)

    @tf.function(input_signature=[tf.TensorSpec([2, 8, 8, 3], tf.float32, name="x")])
    def f(x):
        t = tf.nn.conv2d_transpose(x, kt, output_shape=[2, 16, 16, 5], strides=2, padding="SAME")
        t = tf.nn.leaky_relu(t, alpha=0.1)
        p, q = tf.split(t, [2, 3], axis=3)  # SplitV
        p = tf.nn.elu(p)
        r = tf.compat.v1.image.resize_bilinear(q, [8, 8], half_pixel_centers=True)
        r2 = tf.compat.v1.image.resize_bilinear(p, [6, 6], align_corners=True)
        s = tf.compat.v1.image.resize_nearest_neighbor(r2, [12, 12], half_pixel_centers=True)
        u0, u1 = tf.split(r, 2, axis=1)  # Split: [2, 4, 8, 3] each
        v = tf.pad(u0, [[0, 0], [1, 1], [2, 2], [0, 0]], constant_values=0.5)  # PadV2
        w = tf.pad(u1, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")  # MirrorPad
        w2 = tf.pad(u1, [[0, 0], [2, 1], [0, 2], [0, 0]], mode="SYMMETRIC")
        sl = tf.slice(v, [0, 1, 1, 0], [2, 4, -1, 3])  # Slice
        sm = tf.reduce_sum(sl, axis=[1, 2])  # Sum -> [2, 3]
        mx = tf.reduce_max(w, axis=2, keepdims=True)  # Max -> [2, 6, 1, 3]
        mx2 = tf.reduce_max(w2, axis=[1, 2])  # [2, 3]
        e = tf.sqrt(tf.square(sm * 0.05) + 1.0) + tf.math.rsqrt(tf.exp(mx2) + 0.5) + tf.math.log(mx2 + 3.0)
        sqd = tf.math.squared_difference(e, mx2)
        am = tf.argmax(sqd, axis=1)  # ArgMax, int64
        am32 = tf.argmax(mx2, axis=1, output_type=tf.int32)
        g1 = tf.gather(sqd, [2, 0, 1, 1], axis=1)  # GatherV2, constant indices
        g2 = tf.gather(e, am32)  # GatherV2, run-time indices -> [2, 3]
        tl = tf.tile(g2, [1, 2])  # Tile
        a, b = tf.unstack(tl, axis=0)  # Unpack
        rng_ = tf.cast(tf.range(tf.shape(x)[1] - 2), tf.float32)  # Range folded -> [6]
        m3 = tf.reshape(mx, [2, 3, 6])
        bmm = tf.matmul(m3, tf.reshape(tf.tile(rng_, [8]) * 0.1, [2, 6, 4]))  # rank-3 constant rhs
        bmm2 = tf.matmul(m3, bm)  # BatchMatMulV2 with a rank-2 constant rhs
        head = tf.concat([a + b, tf.cast(am, tf.float32), g1[0]], axis=0)
        return (
            tf.identity(s, name="up"),
            tf.identity(head, name="head"),
            tf.identity(bmm + bmm2, name="bmm"),
        )

    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    return f, x, ["up", "head", "bmm"], None


def digits_cnn(tf, rng):
    """The digits CNN (conv + BatchNorm) from tests/fixtures/cnn_bn, frozen."""
    import tf_keras

    model = tf_keras.models.load_model(REPO / "tests" / "fixtures" / "cnn_bn" / "cnn_bn.h5", compile=False)

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="digits")])
    def f(x):
        return tf.identity(model(x, training=False), name="probs")

    with np.load(REPO / "tests" / "fixtures" / "digits_test.npz") as d:
        x = d["x"][:8].astype(np.float32)
    return f, x, ["probs"], None


def detect(tf, rng):
    """A detection-like graph: conv backbone, box and score heads over 4x4x2 anchors, box
    decoding, and NMS (V4 padded and V5 with scores) on the first image."""

    def w(*shape, scale=0.3):
        return tf.Variable(rng.standard_normal(shape).astype(np.float32) * scale)

    k1, b1, k2, b2 = w(3, 3, 3, 8), w(8), w(3, 3, 8, 16), w(16)
    kb, kc = w(1, 1, 16, 2 * 4), w(1, 1, 16, 2 * 3)
    cy, cx = np.meshgrid((np.arange(4) + 0.5) / 4, (np.arange(4) + 0.5) / 4, indexing="ij")
    anchors = np.stack([cy, cx], -1).reshape(16, 1, 2).repeat(2, 1).reshape(32, 2).astype(np.float32)
    sizes = np.tile(np.array([[0.2, 0.2], [0.35, 0.15]], np.float32), (16, 1))

    @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32, name="image")])
    def f(x):
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, k1, 2, "SAME"), b1))
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(y, k2, 2, "SAME"), b2))  # [1, 4, 4, 16]
        enc = tf.reshape(tf.nn.conv2d(y, kb, 1, "VALID"), [1, 32, 4])
        logits = tf.reshape(tf.nn.conv2d(y, kc, 1, "VALID"), [1, 32, 3])
        scores = tf.sigmoid(logits)
        center = anchors + enc[..., :2] * 0.1 * sizes
        half = sizes * tf.exp(enc[..., 2:] * 0.2) * 0.5
        boxes = tf.concat([center - half, center + half], axis=-1)  # [1, 32, 4]
        best = tf.reduce_max(scores[0], axis=1)
        sel4, n4 = tf.raw_ops.NonMaxSuppressionV4(
            boxes=boxes[0], scores=best, max_output_size=6, iou_threshold=0.5,
            score_threshold=0.75, pad_to_max_output_size=True,
        )
        sel5, sc5, n5 = tf.raw_ops.NonMaxSuppressionV5(
            boxes=boxes[0], scores=best, max_output_size=6, iou_threshold=0.1,
            score_threshold=0.6, soft_nms_sigma=0.0, pad_to_max_output_size=True,
        )
        return (
            tf.identity(boxes, name="boxes"),
            tf.identity(scores, name="scores"),
            tf.identity(sel4, name="selected"),
            tf.identity(n4, name="num_selected"),
            tf.identity(sel5, name="selected5"),
            tf.identity(sc5, name="selected_scores5"),
            tf.identity(n5, name="num_selected5"),
        )

    x = rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    return f, x, ["boxes", "scores", "selected", "num_selected", "selected5", "selected_scores5",
                  "num_selected5"], None


MODELS = {
    "convnet": convnet,
    "mlp": mlp,
    "unsupported": unsupported,
    "misc": misc,
    "extra": extra,
    "digits_cnn": digits_cnn,
    "detect": detect,
}


def saved_model(tf) -> dict:
    """A small TF2 SavedModel (`saved/`): a tf.Module with variables and two signatures,
    `serving_default` (dense + relu + softmax) and `scaled` (a different output), plus
    TF's outputs for each and TF's own `from_saved_model` conversion op list."""
    import shutil

    rng = np.random.default_rng(SEED + 100)

    class Small(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((6, 4)).astype(np.float32) * 0.5, name="w")
            self.b = tf.Variable(rng.standard_normal(4).astype(np.float32) * 0.1, name="b")
            self.scale = tf.Variable(np.float32(1.5), name="scale")

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="features")])
        def serve(self, features):
            h = tf.nn.relu(tf.matmul(features, self.w) + self.b)
            return {"probs": tf.nn.softmax(h), "hidden": h}

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="features")])
        def scaled(self, features):
            return {"y": tf.tanh(tf.matmul(features, self.w)) * self.scale}

    m = Small()
    path = OUT / "saved"
    shutil.rmtree(path, ignore_errors=True)
    tf.saved_model.save(m, str(path), signatures={"serving_default": m.serve, "scaled": m.scaled})
    x = rng.standard_normal((3, 6)).astype(np.float32)
    np.save(OUT / "saved.in0.npy", x)
    loaded = tf.saved_model.load(str(path))
    info: dict = {"dir": "saved", "input": "saved.in0.npy", "signatures": {}}
    for key in ["serving_default", "scaled"]:
        fn = loaded.signatures[key]
        outs = fn(features=tf.constant(x))
        files = {}
        for oname, v in sorted(outs.items()):
            fname = f"saved.{key}.{oname}.npy"
            np.save(OUT / fname, np.asarray(v, np.float32))
            files[oname] = fname
        conv = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=[key])
        blob = conv.convert()
        tmp = OUT / "saved_tmp.tflite"
        tmp.write_bytes(blob)
        interp = fixture_io.make_interpreter(tmp)
        ops = fixture_io.op_names(interp)
        tmp.unlink()
        info["signatures"][key] = {"outputs": files, "tf_ops": ops}
    print("saved_model", json.dumps(info)[:400])
    return info


def tensorarray_v1(tf) -> dict:
    """`tensorarray.pb`: a TF1-style graph (control flow v1, TensorArrayV3 ops) that scatters
    the rows of the input into a TensorArray, transforms each in a while loop and gathers them,
    the pattern of TF1 object-detection post-processing. TF converts it only with
    SELECT_TF_OPS; ferrolite must report every unsupported op type, not crash."""
    g = tf.Graph()
    x = np.random.default_rng(SEED + 200).standard_normal((4, 3)).astype(np.float32)
    with g.as_default():
        tf.compat.v1.disable_control_flow_v2()
        try:
            inp = tf.compat.v1.placeholder(tf.float32, [4, 3], name="rows")
            h = tf.nn.relu(inp) * 2.0
            ta = tf.TensorArray(tf.float32, size=4, element_shape=[3]).unstack(h)
            out = tf.TensorArray(tf.float32, size=4, element_shape=[3])

            def body(i, acc):
                return i + 1, acc.write(i, tf.tanh(ta.read(i)) + 1.0)

            _, out = tf.while_loop(lambda i, _: i < 4, body, [tf.constant(0), out])
            y = tf.identity(out.stack(), name="result")
        finally:
            tf.compat.v1.enable_control_flow_v2()
        with tf.compat.v1.Session(graph=g) as sess:
            res = sess.run(y, {inp: x})
    gd = g.as_graph_def()
    pb = OUT / "tensorarray.pb"
    pb.write_bytes(gd.SerializeToString(deterministic=True))
    np.save(OUT / "tensorarray.in0.npy", x)
    np.save(OUT / "tensorarray.out0.npy", res)
    hist = collections.Counter(n.op for n in gd.node)
    info: dict = {"input": "rows", "output": "result", "graph_ops": dict(sorted(hist.items()))}
    try:
        tf_convert(tf, pb, ["rows"], ["result"], None, select=False)
        info["tf_builtins"] = "converted"
    except Exception as e:  # noqa: BLE001 - recorded in the manifest
        info["tf_builtins_error"] = str(e).strip().splitlines()[-1][:600]
    print("tensorarray", json.dumps(info)[:600])
    return info


def tf_convert(tf, pb: Path, inputs, outputs, shapes, select: bool):
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(pb), inputs, outputs, shapes)
    if select:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return conv.convert()


def main() -> int:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    OUT.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])  # regenerate only these models (default: all)
    manifest: dict = {"generator": "tools/make_graphdef_fixtures.py", "tensorflow": tf.__version__, "models": {}}
    old = OUT / "manifest.json"
    if only and old.exists():
        manifest["models"] = json.loads(old.read_text())["models"]
    if not only or "saved" in only:
        manifest["saved_model"] = saved_model(tf)
    elif old.exists():
        manifest["saved_model"] = json.loads(old.read_text()).get("saved_model")
    if not only or "tensorarray" in only:
        manifest["tensorarray"] = tensorarray_v1(tf)
    elif old.exists():
        manifest["tensorarray"] = json.loads(old.read_text()).get("tensorarray")
    for mi, (name, build) in enumerate(MODELS.items()):
        if only and name not in only:
            continue
        rng = np.random.default_rng(SEED + mi)
        f, x, out_names, shapes = build(tf, rng)
        cf = f.get_concrete_function()
        frozen = convert_variables_to_constants_v2(cf)
        gd = frozen.graph.as_graph_def()
        pb = OUT / f"{name}.pb"
        pb.write_bytes(gd.SerializeToString(deterministic=True))
        in_name = frozen.inputs[0].op.name
        outs = [np.asarray(o, dtype=np.float32) for o in tf.nest.flatten(frozen(tf.constant(x)))]
        np.save(OUT / f"{name}.in0.npy", x)
        for j, o in enumerate(outs):
            np.save(OUT / f"{name}.out{j}.npy", o)
        # The frozen function's output nodes are Identity nodes named after the function's outputs.
        node_outs = [t.op.name for t in frozen.outputs]
        hist = collections.Counter(n.op for n in gd.node)
        entry = {
            "inputs": [{"name": in_name, "shape": list(x.shape), "file": f"{name}.in0.npy"}],
            "outputs": [
                {"name": n, "shape": list(o.shape), "file": f"{name}.out{j}.npy"}
                for j, (n, o) in enumerate(zip(node_outs, outs))
            ],
            "requested_output_names": out_names,
            "graph_ops": dict(sorted(hist.items())),
            "input_shapes": shapes,
        }
        tfl_info: dict = {}
        try:
            blob = tf_convert(tf, pb, [in_name], node_outs, shapes, select=False)
            path = OUT / f"{name}_tf.tflite"
            path.write_bytes(blob)
            interp = fixture_io.make_interpreter(path)
            tfl_info["ops"] = fixture_io.op_names(interp)
            tfl_info["inputs"] = [fixture_io.jsonable_detail(d) for d in interp.get_input_details()]
            d = interp.get_input_details()[0]
            interp.resize_tensor_input(d["index"], list(x.shape))
            interp.allocate_tensors()
            interp.set_tensor(d["index"], x)
            interp.invoke()
            louts = [np.array(interp.get_tensor(o["index"])) for o in interp.get_output_details()]
            tfl_info["max_abs_diff_litert_vs_tf"] = max(
                float(np.max(np.abs(a - b))) for a, b in zip(sorted(louts, key=np.size), sorted(outs, key=np.size))
            )
            path.unlink()  # keep the fixtures small: the op list is what the tests need
        except Exception as e:  # noqa: BLE001 - recorded in the manifest
            tfl_info["error"] = str(e).strip().splitlines()[-1][:600]
            try:
                blob = tf_convert(tf, pb, [in_name], node_outs, shapes, select=True)
                path = OUT / f"{name}_tf_select.tflite"
                path.write_bytes(blob)
                from ai_edge_litert.interpreter import Interpreter

                tfl_info["select_tf_ops"] = [
                    d["op_name"] for d in sorted(Interpreter(model_path=str(path))._get_ops_details(), key=lambda d: d["index"])  # noqa: SLF001
                ]
                path.unlink()
            except Exception as e2:  # noqa: BLE001
                tfl_info["select_error"] = str(e2).strip().splitlines()[-1][:600]
        entry["tf_from_frozen_graph"] = tfl_info
        manifest["models"][name] = entry
        print(name, json.dumps(tfl_info)[:400])
        print("  graph ops:", dict(hist))

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
