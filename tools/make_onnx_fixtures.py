#!/usr/bin/env python3
"""Generate the ONNX importer fixtures under tests/fixtures/onnx/.

Regenerate (from the repo root):

    tools/setup_venv.sh && tools/.venv/bin/python tools/make_onnx_fixtures.py

Small models built node by node with `onnx.helper` (seeded random weights, checked with
`onnx.checker`), and their outputs computed by onnxruntime (the oracle for the ONNX importer):

- `cnn` (opset 13): Conv(pads 1) + BatchNormalization + Relu, MaxPool 2x2, Conv(auto_pad
  SAME_UPPER) + BatchNormalization + Relu, Flatten, Gemm(transB=1), Softmax. Input [N, 3, 8, 8]
  with a symbolic batch. Initializers in raw_data, except the Gemm bias (typed float_data).
- `dwsep` (opset 13): a depthwise-separable block with a residual Add: Conv 1x1 + Clip(0, 6),
  depthwise Conv (group = channels) + BatchNormalization + Relu, Conv 1x1, Add with the
  block input, LeakyRelu, AveragePool 3x3 (SAME, count_include_pad 0), GlobalAveragePool,
  Flatten, Gemm(alpha, beta, transB=0). Input [1, 8, 6, 6].
- `mlp` (opset 13): MatMul + Add + Relu, Dropout, Identity, Gemm(transB=0, alpha, beta), Sigmoid,
  Reshape/Unsqueeze/Squeeze/Transpose/Concat, Sub/Mul/Div by constants, Clip(-1, 0.5) (→
  MAXIMUM/MINIMUM), Tanh, Softmax. Input [N, 16].
- `misc` (opset 13): ConvTranspose (stride 2, pads 1), Resize to 7x7 nearest (asymmetric, floor)
  and linear (half_pixel), Pad by 1 (reflect, and constant 0.25), Concat over channels, Softmax
  over channels (axis 1), Transpose to NHWC. Input [1, 3, 5, 5].
- `extra` (opset 11): MatMul of two activations, Softmax(axis=1) with the pre-13 flattening
  semantics, Gemm(transA, alpha) and Gemm of two activations (transB, beta, C), Clip with only a
  min, 3-input Max, Neg/Abs/Exp/Add/Sqrt/Log. Input [2, 4, 3].
- `unsupported` (opset 13): Conv + Relu plus Erf x2, Einsum x1 and a custom-domain op, so the
  importer must list every unsupported op type with its count and node names (no goldens).

Per model `<m>`: `<m>.onnx`, `<m>.in0.npy` (fixed input), `<m>.out0.npy` (onnxruntime's output),
and in `manifest.json`: input/output names and shapes, opset and the op histogram.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "onnx"
OPSET = 13
rng = np.random.default_rng(20260601)


def w(name: str, *shape: int, scale: float = 0.5) -> TensorProto:
    """A float32 initializer with raw_data."""
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def typed(name: str, values: np.ndarray) -> TensorProto:
    """A float32 initializer with typed float_data (no raw_data)."""
    v = values.astype(np.float32)
    return helper.make_tensor(name, TensorProto.FLOAT, list(v.shape), v.flatten().tolist(), raw=False)


def ints(name: str, values: list[int]) -> TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def bn(prefix: str, c: int) -> list[TensorProto]:
    return [
        numpy_helper.from_array((1 + 0.2 * rng.standard_normal(c)).astype(np.float32), f"{prefix}_scale"),
        numpy_helper.from_array((0.1 * rng.standard_normal(c)).astype(np.float32), f"{prefix}_bias"),
        numpy_helper.from_array((0.1 * rng.standard_normal(c)).astype(np.float32), f"{prefix}_mean"),
        numpy_helper.from_array((0.5 + rng.random(c)).astype(np.float32), f"{prefix}_var"),
    ]


def bn_node(prefix: str, x: str, y: str) -> onnx.NodeProto:
    return helper.make_node(
        "BatchNormalization",
        [x, f"{prefix}_scale", f"{prefix}_bias", f"{prefix}_mean", f"{prefix}_var"],
        [y],
        name=prefix,
        epsilon=1e-3,
    )


def model(name, nodes, inits, inp, in_shape, out, out_shape, opset=OPSET, check=True):
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(inp, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    m = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.example", 1)],
        producer_name="ferrolite-fixtures",
    )
    m.ir_version = 8
    if check:
        onnx.checker.check_model(m, full_check=True)
    return m


def cnn():
    nodes = [
        helper.make_node("Conv", ["x", "c1_w", "c1_b"], ["c1"], name="conv1", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        bn_node("bn1", "c1", "b1"),
        helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2_w"], ["c2"], name="conv2", auto_pad="SAME_UPPER", kernel_shape=[3, 3]),
        bn_node("bn2", "c2", "b2"),
        helper.make_node("Relu", ["b2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    inits = [w("c1_w", 4, 3, 3, 3), w("c1_b", 4), *bn("bn1", 4), w("c2_w", 8, 4, 3, 3, scale=0.3), *bn("bn2", 8)]
    inits += [w("fc_w", 10, 8 * 4 * 4, scale=0.2), typed("fc_b", 0.1 * rng.standard_normal(10))]
    m = model("cnn", nodes, inits, "x", ["N", 3, 8, 8], "probs", ["N", 10])
    return m, rng.random((2, 3, 8, 8), dtype=np.float32)


def dwsep():
    c = 8
    nodes = [
        helper.make_node("Conv", ["x", "pw1_w", "pw1_b"], ["pw1"], name="expand"),
        helper.make_node("Clip", ["pw1", "zero", "six"], ["a1"], name="relu6"),
        helper.make_node("Conv", ["a1", "dw_w", "dw_b"], ["dw"], name="depthwise", group=c, pads=[1, 1, 1, 1]),
        bn_node("dw_bn", "dw", "dwb"),
        helper.make_node("Relu", ["dwb"], ["a2"], name="relu_dw"),
        helper.make_node("Conv", ["a2", "pw2_w", "pw2_b"], ["pw2"], name="project"),
        helper.make_node("Add", ["pw2", "x"], ["res"], name="residual"),
        helper.make_node("LeakyRelu", ["res"], ["lr"], name="leaky", alpha=0.1),
        helper.make_node("AveragePool", ["lr"], ["ap"], name="avgpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["ap"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", alpha=0.5, beta=2.0),
    ]
    inits = [w("pw1_w", c, c, 1, 1), w("pw1_b", c), numpy_helper.from_array(np.array(0, np.float32), "zero")]
    inits += [numpy_helper.from_array(np.array(6, np.float32), "six"), w("dw_w", c, 1, 3, 3), w("dw_b", c)]
    inits += [*bn("dw_bn", c), w("pw2_w", c, c, 1, 1), w("pw2_b", c), w("fc_w", c, 5), w("fc_b", 1, 5)]
    m = model("dwsep", nodes, inits, "x", [1, c, 6, 6], "y", [1, 5])
    return m, (rng.standard_normal((1, c, 6, 6)) * 2).astype(np.float32)


def mlp():
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="dense1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu"),
        helper.make_node("Dropout", ["r"], ["d"], name="dropout"),
        helper.make_node("Identity", ["d"], ["i"], name="identity"),
        helper.make_node("Gemm", ["i", "w2", "b2"], ["g"], name="dense2", alpha=0.7, beta=0.5),
        helper.make_node("Sigmoid", ["g"], ["s"], name="sigmoid"),
        helper.make_node("Reshape", ["s", "shape"], ["rs"], name="reshape"),
        helper.make_node("Transpose", ["rs"], ["tr"], name="transpose", perm=[0, 2, 1]),
        helper.make_node("Unsqueeze", ["tr", "ax1"], ["u"], name="unsqueeze"),
        helper.make_node("Squeeze", ["u", "ax1"], ["sq"], name="squeeze"),
        helper.make_node("Concat", ["sq", "tr"], ["cat"], name="concat", axis=1),
        helper.make_node("Flatten", ["cat"], ["fl"], name="flatten"),
        helper.make_node("Sub", ["fl", "c_sub"], ["sub"], name="sub"),
        helper.make_node("Mul", ["sub", "c_mul"], ["mul"], name="mul"),
        helper.make_node("Div", ["mul", "c_div"], ["div"], name="div"),
        helper.make_node("Clip", ["div", "lo", "hi"], ["clip"], name="clip"),
        helper.make_node("Tanh", ["clip"], ["t"], name="tanh"),
        helper.make_node("Softmax", ["t"], ["y"], name="softmax"),
    ]
    inits = [w("w1", 16, 32), w("b1", 32), w("w2", 32, 12), w("b2", 12), ints("shape", [0, 3, -1])]
    inits += [ints("ax1", [1]), w("c_sub", 24), w("c_mul", 1, 24, scale=2.0), w("c_div", 1)]
    inits += [numpy_helper.from_array(np.array(-1, np.float32), "lo"), numpy_helper.from_array(np.array(0.5, np.float32), "hi")]
    m = model("mlp", nodes, inits, "x", ["N", 16], "y", ["N", 24])
    return m, rng.standard_normal((3, 16)).astype(np.float32)


def misc():
    nodes = [
        helper.make_node("ConvTranspose", ["x", "ct_w", "ct_b"], ["ct"], name="deconv", strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["up_n"], name="up_nearest", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["up_l"], name="up_linear", mode="linear"),
        helper.make_node("Pad", ["up_n", "pads"], ["pr"], name="pad_reflect", mode="reflect"),
        helper.make_node("Pad", ["up_l", "pads", "pad_v"], ["pc"], name="pad_const"),
        helper.make_node("Concat", ["ct", "pr", "pc"], ["cat"], name="concat", axis=1),
        helper.make_node("Softmax", ["cat"], ["sm"], name="softmax_c", axis=1),
        helper.make_node("Transpose", ["sm"], ["y"], name="to_nhwc", perm=[0, 2, 3, 1]),
    ]
    inits = [w("ct_w", 3, 2, 3, 3), w("ct_b", 2), ints("sizes", [1, 3, 7, 7])]
    inits += [ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]), numpy_helper.from_array(np.array(0.25, np.float32), "pad_v")]
    m = model("misc", nodes, inits, "x", [1, 3, 5, 5], "y", [1, 9, 9, 8])
    return m, rng.standard_normal((1, 3, 5, 5)).astype(np.float32)


def unsupported():
    nodes = [
        helper.make_node("Conv", ["x", "c_w"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Erf", ["r"], ["e1"], name="erf_a"),
        helper.make_node("Erf", ["e1"], ["e2"], name="erf_b"),
        helper.make_node("Einsum", ["e2", "e2"], ["es"], name="einsum", equation="nchw,nchw->nchw"),
        helper.make_node("Fancy", ["es"], ["y"], name="fancy", domain="com.example"),
    ]
    m = model("unsupported", nodes, [w("c_w", 2, 1, 1, 1)], "x", [1, 1, 4, 4], "y", [1, 2, 4, 4], check=False)
    return m, None


def extra():
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="xt", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["x", "xt"], ["a"], name="gram"),
        helper.make_node("Softmax", ["a"], ["s"], name="softmax_v11", axis=1),
        helper.make_node("Reshape", ["s", "shape"], ["f"], name="reshape"),
        helper.make_node("Gemm", ["f", "w"], ["g"], name="gemm_ta", transA=1, alpha=0.3),
        helper.make_node("Gemm", ["g", "g", "c"], ["g2"], name="gemm_act", transB=1, beta=0.5),
        helper.make_node("Clip", ["g2", "lo"], ["cl"], name="clip_min"),
        helper.make_node("Max", ["cl", "g2", "m"], ["mx"], name="max3"),
        helper.make_node("Neg", ["mx"], ["n"], name="neg"),
        helper.make_node("Abs", ["n"], ["ab"], name="abs"),
        helper.make_node("Exp", ["n"], ["e"], name="exp"),
        helper.make_node("Add", ["ab", "e"], ["sum"], name="add"),
        helper.make_node("Sqrt", ["sum"], ["sq"], name="sqrt"),
        helper.make_node("Log", ["sq"], ["y"], name="log"),
    ]
    inits = [ints("shape", [4, 8]), w("w", 4, 5), w("c", 8), numpy_helper.from_array(np.array(-0.5, np.float32), "lo")]
    inits += [w("m", 1, 8)]
    m = model("extra", nodes, inits, "x", [2, 4, 3], "y", [8, 8], opset=11)
    return m, rng.standard_normal((2, 4, 3)).astype(np.float32)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, build in [("cnn", cnn), ("dwsep", dwsep), ("mlp", mlp), ("misc", misc), ("unsupported", unsupported), ("extra", extra)]:
        m, x = build()
        path = OUT / f"{name}.onnx"
        onnx.save_model(m, str(path))
        entry = {
            "opset": next(o.version for o in m.opset_import if o.domain == ""),
            "input": m.graph.input[0].name,
            "output": m.graph.output[0].name,
            "ops": dict(sorted(collections.Counter(n.op_type for n in m.graph.node).items())),
        }
        if x is not None:
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            (y,) = sess.run(None, {entry["input"]: x})
            np.save(OUT / f"{name}.in0.npy", x)
            np.save(OUT / f"{name}.out0.npy", y.astype(np.float32))
            entry["input_shape"] = list(x.shape)
            entry["output_shape"] = list(y.shape)
        manifest[name] = entry
        print(f"{name}: {path.stat().st_size} bytes, ops {entry['ops']}")
    manifest["_generator"] = {"onnx": onnx.__version__, "onnxruntime": ort.__version__}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
