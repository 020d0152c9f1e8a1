#!/usr/bin/env python3
"""Generate the frozen-GraphDef converter fixtures under tests/fixtures/graphdef/.

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_graphdef_fixtures.py

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


MODELS = {"convnet": convnet, "mlp": mlp, "unsupported": unsupported, "misc": misc}


def tf_convert(tf, pb: Path, inputs, outputs, shapes, select: bool):
    conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(pb), inputs, outputs, shapes)
    if select:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    return conv.convert()


def main() -> int:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    OUT.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"generator": "tools/make_graphdef_fixtures.py", "tensorflow": tf.__version__, "models": {}}
    for mi, (name, build) in enumerate(MODELS.items()):
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
