#!/usr/bin/env python3
"""More single-operator reference models with LiteRT goldens (second batch).

Regenerate (from the repo root):

    tools/.venv/bin/python tools/make_op_fixtures2.py

Same conventions as ``tools/make_op_fixtures.py`` (whose case model, converter
settings, seeding and manifest format this script reuses by importing it):
converter cases are tiny ``tf.function`` models converted with
``TFLiteConverter.from_concrete_functions``; goldens come from LiteRT's
built-in reference kernels (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``, one
thread). Written under ``tests/fixtures/ops2/`` with a ``manifest.json`` of the
same shape as ``tests/fixtures/ops/manifest.json``.

Two kinds of model the converter cannot produce are written by hand with the
flatbuffer object API of TensorFlow's ``schema_py_generated`` (one operator,
graph inputs and outputs as given, ``version 3`` schema, ``TFL3`` identifier):

* ``TFLite_Detection_PostProcess`` (the SSD custom op) with flexbuffer custom
  options (``flatbuffers.flexbuffers.Dumps``), fast and regular NMS, with and
  without a background class;
* ``DEQUANTIZE`` of int8 / uint8 / int16 activations whose scale and zero point
  make ``f32(q - zp) * s`` and ``f32(q) * s - f32(zp * s)`` differ, over
  lengths that are not multiples of 8 (so a vectorised body and a scalar tail
  would both show).

Hand-built cases record no TensorFlow comparison (``tf_vs_litert`` is empty)
and, for the custom op, which output rows are defined: LiteRT's fast NMS path
leaves rows past ``num_detections`` unwritten (``valid_rows`` in the manifest).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_io  # noqa: E402
import make_op_fixtures as base  # noqa: E402  (sets the TF environment variables on import)

OUT = base.REPO / "tests" / "fixtures" / "ops2"

# The base module's registry is reused for our own cases.
base.CASES.clear()
case, simple, F, I32, I64, B, In = base.case, base.simple, base.F, base.I32, base.I64, base.B, base.In


def tf():
    return base.tf


# ================================================================ box helpers


def boxes(seed: int, n: int, flip: float = 0.0, degenerate: int = 0) -> np.ndarray:
    """n boxes [y1, x1, y2, x2] clustered so that many overlap; `flip` = share with swapped corners."""
    r = np.random.default_rng(seed)
    centers = r.uniform(0.2, 0.8, (4, 2))[r.integers(0, 4, n)] + r.normal(0, 0.06, (n, 2))
    sizes = r.uniform(0.1, 0.35, (n, 2))
    b = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    swap = r.random(n) < flip
    b[swap] = b[swap][:, [2, 3, 0, 1]]
    if degenerate:
        b[:degenerate, 2] = b[:degenerate, 0]  # zero height
    return b.astype(np.float32)


def scores(seed: int, n: int, ties: bool = False) -> np.ndarray:
    r = np.random.default_rng(seed)
    s = r.uniform(0.0, 1.0, n)
    if ties:
        s = np.round(s * 4) / 4  # five distinct values
    return s.astype(np.float32)


def nms_v4(mx, iou, thr, pad=True):
    def f(b, s):
        sel, n = tf().raw_ops.NonMaxSuppressionV4(
            boxes=b, scores=s, max_output_size=mx, iou_threshold=iou, score_threshold=thr,
            pad_to_max_output_size=pad)
        return sel, n
    return f


def nms_v5(mx, iou, thr, sigma, pad=True):
    def f(b, s):
        sel, sc, n = tf().raw_ops.NonMaxSuppressionV5(
            boxes=b, scores=s, max_output_size=mx, iou_threshold=iou, score_threshold=thr,
            soft_nms_sigma=sigma, pad_to_max_output_size=pad)
        return sel, sc, n
    return f


def BX(seed, n, **kw):
    return In((n, 4), "float32", ("value", boxes(seed, n, **kw)))


def SC(seed, n, **kw):
    return In((n,), "float32", ("value", scores(seed, n, **kw)))


# ================================================================ cases: detection

simple("nms_v4_basic", [BX(1, 24), SC(2, 24)], "NON_MAX_SUPPRESSION_V4",
       "24 overlapping boxes, max 10, IoU 0.5, score threshold 0.2, padded",
       nms_v4(10, 0.5, 0.2))
simple("nms_v4_flipped_corners", [BX(3, 20, flip=0.5), SC(4, 20)], "NON_MAX_SUPPRESSION_V4",
       "half the boxes with swapped corners (y2<y1), max 20 (more than survive), IoU 0.3, threshold -inf",
       nms_v4(20, 0.3, float("-inf")))
simple("nms_v4_ties", [BX(5, 30), SC(6, 30, ties=True)], "NON_MAX_SUPPRESSION_V4",
       "scores with many exact ties (priority-queue order decides), max 12, IoU 0.4, threshold 0.1",
       nms_v4(12, 0.4, 0.1))
simple("nms_v4_degenerate", [BX(7, 12, degenerate=3), SC(8, 12)], "NON_MAX_SUPPRESSION_V4",
       "three zero-area boxes (IoU 0 with everything, even themselves), max 12, IoU 0.5, threshold 0",
       nms_v4(12, 0.5, 0.0))
simple("nms_v4_unpadded", [BX(9, 16), SC(10, 16)], "NON_MAX_SUPPRESSION_V4",
       "pad_to_max_output_size=False: the converter slices the padded result to num_valid",
       nms_v4(8, 0.5, 0.3, pad=False))
simple("nms_v5_hard", [BX(11, 24), SC(12, 24)], "NON_MAX_SUPPRESSION_V5",
       "sigma 0 (hard NMS) with scores output, max 9, IoU 0.45, threshold 0.1",
       nms_v5(9, 0.45, 0.1, 0.0))
simple("nms_v5_soft", [BX(13, 24), SC(14, 24)], "NON_MAX_SUPPRESSION_V5",
       "soft-NMS sigma 0.5, IoU 1.0 (no hard suppression), max 16, threshold 0.05: decayed scores, re-queued",
       nms_v5(16, 1.0, 0.05, 0.5))
simple("nms_v5_soft_hard_mix", [BX(15, 32, flip=0.2), SC(16, 32, ties=True)], "NON_MAX_SUPPRESSION_V5",
       "soft-NMS sigma 0.3 plus hard IoU 0.6, ties, max 14, threshold 0.15",
       nms_v5(14, 0.6, 0.15, 0.3))

# ================================================================ cases: scans, sorting, layout

for ex in (False, True):
    for rev in (False, True):
        simple(f"cumsum_axis1{'_exclusive' if ex else ''}{'_reverse' if rev else ''}", [F(3, 5, 2)], "CUMSUM",
               f"axis 1, exclusive={ex}, reverse={rev}",
               lambda x, ex=ex, rev=rev: tf().math.cumsum(x, axis=1, exclusive=ex, reverse=rev))
simple("cumsum_neg_axis_int32", [I32(2, 3, 4, gen=("int", -50, 50))], "CUMSUM", "int32, axis -1",
       lambda x: tf().math.cumsum(x, axis=-1))
simple("cumsum_axis0_int64_rev", [I64(4, 3, gen=("int", -50, 50))], "CUMSUM", "int64, axis 0, reverse",
       lambda x: tf().math.cumsum(x, axis=0, reverse=True))
simple("topk_k3", [F(4, 9)], "TOPK_V2", "k=3 over the last axis of [4,9]: values and int32 indices",
       lambda x: tuple(tf().math.top_k(x, k=3)))
simple("topk_int32_ties", [I32(2, 3, 8, gen=("int", 0, 4))], "TOPK_V2", "int32 with many ties, k=5",
       lambda x: tuple(tf().math.top_k(x, k=5)))
simple("reverse_axis1", [F(2, 3, 4)], "REVERSE_V2", "reverse axis 1", lambda x: tf().reverse(x, axis=[1]))
simple("reverse_axes12", [F(2, 3, 4, 2)], "REVERSE_V2",
       "reverse axes 1 and 2 (LiteRT only supports contiguous axes)",
       lambda x: tf().reverse(x, axis=[1, 2]))
simple("reverse_int32_last", [I32(3, 5)], "REVERSE_V2", "int32, axis -1", lambda x: tf().reverse(x, axis=[-1]))
simple("space_to_batch_pad", [F(1, 5, 4, 3)], "SPACE_TO_BATCH_ND", "block [2,2], paddings [[1,0],[0,2]]",
       lambda x: tf().space_to_batch_nd(x, [2, 2], [[1, 0], [0, 2]]))
simple("space_to_batch_batch2_3d", [F(2, 6, 3)], "SPACE_TO_BATCH_ND", "3-D input, block [3], paddings [[0,0]], batch 2",
       lambda x: tf().space_to_batch_nd(x, [3], [[0, 0]]))
simple("batch_to_space_crop", [F(8, 3, 3, 2)], "BATCH_TO_SPACE_ND", "block [2,2], crops [[1,0],[0,2]]",
       lambda x: tf().batch_to_space(x, [2, 2], [[1, 0], [0, 2]]))
simple("batch_to_space_3d", [F(6, 2, 3)], "BATCH_TO_SPACE_ND", "3-D input, block [3], crops [[1,1]]",
       lambda x: tf().batch_to_space(x, [3], [[1, 1]]))

# int8 (full-integer, float I/O): the data-movement ops run on raw int8 between QUANTIZE and DEQUANTIZE.
simple("space_to_batch_int8", [F(1, 5, 4, 3, gen=("uniform", -1, 3))], ["QUANTIZE", "SPACE_TO_BATCH_ND"],
       "int8, block [2,2], paddings [[1,0],[0,2]] (pads with the zero point)",
       lambda x: tf().space_to_batch_nd(x, [2, 2], [[1, 0], [0, 2]]), quant="int8_float_io")
simple("batch_to_space_int8", [F(8, 3, 3, 2, gen=("uniform", -2, 2))], ["QUANTIZE", "BATCH_TO_SPACE_ND"],
       "int8, block [2,2], crops [[1,0],[0,2]]",
       lambda x: tf().batch_to_space(x, [2, 2], [[1, 0], [0, 2]]), quant="int8_float_io")
simple("reverse_int8", [F(2, 3, 4, gen=("uniform", -2, 2))], ["QUANTIZE", "REVERSE_V2"], "int8, axis 1",
       lambda x: tf().reverse(x, axis=[1]), quant="int8_float_io")
simple("topk_int8", [F(3, 7, gen=("uniform", -2, 2))], ["QUANTIZE", "TOPK_V2"], "int8 values, k=2",
       lambda x: tuple(tf().math.top_k(x, k=2)), quant="int8_float_io")

# ================================================================ cases: generators

simple("one_hot_last", [I32(2, 3, gen=("int", -1, 6))], "ONE_HOT",
       "depth 5, on 2.5, off -1, axis -1; indices include -1 and 5 (out of range -> all off)",
       lambda i: tf().one_hot(i, 5, on_value=2.5, off_value=-1.0, axis=-1))
simple("one_hot_axis0_int32", [I32(4, gen=("int", 0, 4))], "ONE_HOT", "int32 output, depth 4, axis 0",
       lambda i: tf().one_hot(i, 4, on_value=7, off_value=0, axis=0, dtype=tf().int32))
simple("broadcast_to", [F(3, 1)], "BROADCAST_TO", "[3,1] -> [2,3,4]",
       lambda x: tf().broadcast_to(x, [2, 3, 4]))
simple("broadcast_to_int32", [I32(1, 4)], "BROADCAST_TO", "int32 [1,4] -> [3,4]",
       lambda x: tf().broadcast_to(x, [3, 4]))
simple("zeros_like", [F(2, 3)], "ZEROS_LIKE", "", lambda x: tf().raw_ops.ZerosLike(x=x))
simple("add_n_3", [F(2, 4), F(2, 4), F(2, 4)], "ADD_N", "three inputs", lambda a, b, c: tf().add_n([a, b, c]))
simple("add_n_int32", [I32(5), I32(5)], "ADD_N", "int32, two inputs", lambda a, b: tf().add_n([a, b]))
simple("reduce_any_axis1", [B(3, 4, 2)], "REDUCE_ANY", "axis 1, keepdims False",
       lambda x: tf().reduce_any(x, axis=1))
simple("reduce_all_keep", [B(3, 4, 2)], "REDUCE_ALL", "axes [0,2], keepdims True",
       lambda x: tf().reduce_all(x, axis=[0, 2], keepdims=True))
simple("sign", [F(3, 4, gen="halves")], "SIGN", "with exact zeros", lambda x: tf().sign(x))
simple("sign_int32", [I32(7)], "SIGN", "int32", lambda x: tf().sign(x))
simple("where_2d", [B(3, 4)], "WHERE", "coordinates of true elements: int64 [n, 2], n value-dependent",
       lambda c: tf().where(c))
simple("where_float", [F(2, 2, 3, gen=("int", -1, 2))], "WHERE", "float condition (nonzero), rank 3",
       lambda c: tf().where(c))
simple("scatter_nd", [I32(4, 1, gen=("value", [[4], [3], [1], [7]])), F(4)], "SCATTER_ND",
       "indices [4,1] into shape [8] (vector updates)",
       lambda i, u: tf().scatter_nd(i, u, [8]))
simple("scatter_nd_dup_slices", [I32(3, 2, gen=("value", [[0, 1], [2, 0], [0, 1]])), F(3, 4)], "SCATTER_ND",
       "indices [3,2] into [3,2,4] with a duplicate index (summed)",
       lambda i, u: tf().scatter_nd(i, u, [3, 2, 4]))
simple("lrn", [F(1, 3, 3, 8)], "LOCAL_RESPONSE_NORMALIZATION", "radius 2, bias 1, alpha 0.5, beta 0.75",
       lambda x: tf().nn.local_response_normalization(x, 2, 1.0, 0.5, 0.75))
simple("lrn_r1", [F(2, 2, 2, 5)], "LOCAL_RESPONSE_NORMALIZATION", "radius 1, bias 2, alpha 1, beta 0.5",
       lambda x: tf().nn.local_response_normalization(x, 1, 2.0, 1.0, 0.5))


# ================================================================ hand-built models


def schema():
    from tensorflow.lite.python import schema_py_generated as s

    return s


def quant_params(scale, zp):
    s = schema()
    q = s.QuantizationParametersT()
    q.scale = [float(scale)]
    q.zeroPoint = [int(zp)]
    return q


def hand_model(tensors: list[dict], code: dict, op_inputs, op_outputs, inputs, outputs, custom_options=None) -> bytes:
    """One-operator model. tensors: {name, shape, type, data (np array or None), quant (scale, zp) or None}."""
    import flatbuffers

    s = schema()
    m = s.ModelT()
    m.version = 3
    m.description = "ferrolite tools/make_op_fixtures2.py (hand-built)"
    oc = s.OperatorCodeT()
    oc.builtinCode = code["builtin"]
    oc.deprecatedBuiltinCode = min(code["builtin"], 127)
    oc.version = code.get("version", 1)
    if "custom" in code:
        oc.customCode = code["custom"]
    m.operatorCodes = [oc]
    m.buffers = [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors = []
    for t in tensors:
        tt = s.TensorT()
        tt.name = t["name"]
        tt.shape = np.array(t["shape"], dtype=np.int32)
        tt.type = t["type"]
        buf = s.BufferT()
        if t.get("data") is not None:
            buf.data = np.frombuffer(np.ascontiguousarray(t["data"]).tobytes(), dtype=np.uint8)
        m.buffers.append(buf)
        tt.buffer = len(m.buffers) - 1
        if t.get("quant") is not None:
            tt.quantization = quant_params(*t["quant"])
        sg.tensors.append(tt)
    op = s.OperatorT()
    op.opcodeIndex = 0
    op.inputs = list(op_inputs)
    op.outputs = list(op_outputs)
    if custom_options is not None:
        op.customOptions = list(custom_options)
        op.customOptionsFormat = s.CustomOptionsFormat.FLEXBUFFERS
    sg.operators = [op]
    sg.inputs = list(inputs)
    sg.outputs = list(outputs)
    sg.name = "main"
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def ssd_inputs(seed: int, n: int, classes_with_bg: int):
    r = np.random.default_rng(seed)
    # Anchors: a grid of centre-size boxes [y, x, h, w], a few sizes per location.
    side = int(np.ceil(np.sqrt(n)))
    ys, xs = np.meshgrid((np.arange(side) + 0.5) / side, (np.arange(side) + 0.5) / side, indexing="ij")
    centres = np.stack([ys.ravel(), xs.ravel()], 1)[:n]
    hw = r.uniform(0.15, 0.45, (n, 2))
    anchors = np.concatenate([centres, hw], 1).astype(np.float32)
    enc = (r.normal(0, 1.0, (1, n, 4)) * np.array([1.0, 1.0, 0.6, 0.6])).astype(np.float32)
    logits = r.normal(0, 2.0, (1, n, classes_with_bg))
    sc = (1 / (1 + np.exp(-logits))).astype(np.float32)
    return enc, sc, anchors


def detection_case(name, n, classes, with_bg, opts, note):
    from flatbuffers import flexbuffers

    s = schema()
    cwb = classes + (1 if with_bg else 0)
    enc, sc, anchors = ssd_inputs(abs(hash_name(name)), n, cwb)
    full = dict(num_classes=classes, y_scale=10.0, x_scale=10.0, h_scale=5.0, w_scale=5.0, **opts)
    det = full["max_detections"] * full["max_classes_per_detection"]
    F32 = s.TensorType.FLOAT32
    tensors = [
        {"name": "box_encodings", "shape": [1, n, 4], "type": F32},
        {"name": "class_predictions", "shape": [1, n, cwb], "type": F32},
        {"name": "anchors", "shape": [n, 4], "type": F32, "data": anchors},
        {"name": "detection_boxes", "shape": [1, det, 4], "type": F32},
        {"name": "detection_classes", "shape": [1, det], "type": F32},
        {"name": "detection_scores", "shape": [1, det], "type": F32},
        {"name": "num_detections", "shape": [1], "type": F32},
    ]
    buf = hand_model(tensors, {"builtin": s.BuiltinOperator.CUSTOM, "custom": "TFLite_Detection_PostProcess"},
                     [0, 1, 2], [3, 4, 5, 6], [0, 1], [3, 4, 5, 6], flexbuffers.Dumps(full))
    return {"name": name, "buf": buf, "xs": [enc, sc], "note": note, "options": full,
            "ops": ["TFLite_Detection_PostProcess"]}


def hash_name(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode())


def dequant_case(name, dtype, scale, zp, n, note):
    s = schema()
    tt = {"int8": s.TensorType.INT8, "uint8": s.TensorType.UINT8, "int16": s.TensorType.INT16}[dtype]
    info = np.iinfo(dtype)
    r = np.random.default_rng(hash_name(name))
    lo, hi = (info.min, info.max) if dtype != "int16" else (-32768, 32767)
    q = r.integers(lo, hi + 1, n).astype(dtype)
    q[:4] = [lo, hi, zp, zp + 1][:4]
    tensors = [
        {"name": "q", "shape": [n], "type": tt, "quant": (scale, zp)},
        {"name": "x", "shape": [n], "type": s.TensorType.FLOAT32},
    ]
    buf = hand_model(tensors, {"builtin": s.BuiltinOperator.DEQUANTIZE, "version": 2 if dtype == "int8" else 1},
                     [0], [1], [0], [1])
    # How many elements each candidate formula reproduces (float32 throughout vs. one rounding).
    return {"name": name, "buf": buf, "xs": [q], "note": note, "ops": ["DEQUANTIZE"], "scale": scale, "zp": zp}


def hand_cases() -> list[dict]:
    out = []
    out.append(detection_case(
        "detpp_fast_bg", 36, 4, True,
        dict(max_detections=6, max_classes_per_detection=1, nms_score_threshold=0.3, nms_iou_threshold=0.5),
        "fast NMS (max 1 class per detection), background class, 36 anchors, 4 classes"))
    out.append(detection_case(
        "detpp_fast_multiclass", 30, 5, True,
        dict(max_detections=4, max_classes_per_detection=2, nms_score_threshold=0.4, nms_iou_threshold=0.4),
        "fast NMS with 2 classes per detection (boxes replicated), background class"))
    out.append(detection_case(
        "detpp_regular_bg", 36, 3, True,
        dict(max_detections=8, max_classes_per_detection=1, detections_per_class=3, use_regular_nms=True,
             nms_score_threshold=0.35, nms_iou_threshold=0.5),
        "regular (per-class) NMS, 3 detections per class, background class; unused rows zeroed"))
    out.append(detection_case(
        "detpp_regular_nobg", 25, 4, False,
        dict(max_detections=20, max_classes_per_detection=1, detections_per_class=10, use_regular_nms=True,
             nms_score_threshold=0.6, nms_iou_threshold=0.3),
        "regular NMS without background class, more slots than detections"))
    out.append(dequant_case("dequant_int8_formula", "int8", 0.0123456789, -17, 37,
                            "int8, scale with a full mantissa, zp -17, 37 elements (4 x 8 + 5)"))
    out.append(dequant_case("dequant_uint8_formula", "uint8", 0.3141592653, 131, 29,
                            "uint8, zp 131, 29 elements"))
    out.append(dequant_case("dequant_int16_formula", "int16", 1.0 / 3.0e3, 0, 21,
                            "int16 symmetric, 21 elements"))
    out.append(dequant_case("dequant_int8_short", "int8", 0.0987654321, 23, 7,
                            "int8, 7 elements (shorter than one 8-wide block), zp 23"))
    out.append(dequant_case("dequant_uint8_long", "uint8", 0.0471239, 77, 203,
                            "uint8, 203 elements, zp 77"))
    return out


def candidate_formulas(q: np.ndarray, scale: float, zp: int) -> dict:
    d = q.astype(np.int64) - zp
    one_rounding = (np.float64(np.float32(scale)) * d).astype(np.float32)
    s = np.float32(scale)
    two_roundings = q.astype(np.float32) * s + np.float32(-zp * np.float64(np.float32(scale)))
    return {"one_rounding": one_rounding, "mul_then_add_zp_times_scale": two_roundings.astype(np.float32)}


def build_hand(h: dict, out: Path) -> dict:
    path = out / f"{h['name']}.tflite"
    path.write_bytes(h["buf"])
    interp = fixture_io.make_interpreter(path, reference=True)
    interp.allocate_tensors()
    dets = interp.get_input_details()
    for d, x in zip(dets, h["xs"]):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    outs = [np.array(interp.get_tensor(o["index"])) for o in interp.get_output_details()]
    ops = fixture_io.op_names(interp)
    entry_in, entry_out = [], []
    for k, (d, x) in enumerate(zip(dets, h["xs"])):
        fname = f"{h['name']}.in{k}.npy"
        np.save(out / fname, x)
        entry_in.append({"file": fname, **base.tensor_json(d, x.shape)})
    for k, (d, y) in enumerate(zip(interp.get_output_details(), outs)):
        fname = f"{h['name']}.out{k}.npy"
        np.save(out / fname, y)
        entry_out.append({"file": fname, **base.tensor_json(d, y.shape)})
    entry: dict[str, Any] = {
        "file": path.name,
        "size": len(h["buf"]),
        "for_ops": h["ops"],
        "note": h["note"],
        "converter": "hand-built (schema_py_generated object API)",
        "ops": ops,
        "inputs": entry_in,
        "outputs": entry_out,
        "tf_vs_litert": [],
    }
    if "options" in h:
        entry["custom_options"] = h["options"]
        n = int(outs[3].reshape(-1)[0])
        # Fast NMS writes only the first num_detections rows; regular NMS zero-fills the rest.
        entry["valid_rows"] = n if not h["options"].get("use_regular_nms") else int(outs[1].shape[1])
    if "scale" in h:
        cands = candidate_formulas(h["xs"][0], h["scale"], h["zp"])
        entry["formulas_matching_litert"] = {
            k: int(np.sum(v.view(np.uint32) == outs[0].view(np.uint32))) for k, v in cands.items()
        }
        entry["elements"] = int(outs[0].size)
    return entry


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Generate tests/fixtures/ops2 (see module docstring).")
    ap.add_argument("--only", nargs="*", help="build only these cases (manifest is not written)")
    args = ap.parse_args()
    import tensorflow

    base.tf = tensorflow
    tensorflow.get_logger().setLevel("ERROR")
    tensorflow.config.threading.set_intra_op_parallelism_threads(1)
    tensorflow.config.threading.set_inter_op_parallelism_threads(1)
    tensorflow.config.experimental.enable_op_determinism()

    out = OUT
    out.mkdir(parents=True, exist_ok=True)
    if not args.only:
        for p in out.iterdir():
            if p.suffix in (".tflite", ".npy", ".json"):
                p.unlink()
    t0 = time.time()
    cases: dict[str, dict] = {}
    failures = []
    for c in base.CASES:
        if args.only and c.name not in args.only:
            continue
        try:
            cases[c.name] = e = base.build_case(c, out)
        except Exception as ex:  # report all failures at the end
            failures.append(f"{c.name}: {type(ex).__name__}: {str(ex).strip().splitlines()[-1] if str(ex).strip() else ''}")
            print(f"FAIL {failures[-1]}", flush=True)
            continue
        print(f"{c.name:40s} {e['size']:6d} B  {' '.join(e['ops'])}", flush=True)
    for h in hand_cases():
        if args.only and h["name"] not in args.only:
            continue
        try:
            cases[h["name"]] = e = build_hand(h, out)
        except Exception as ex:
            failures.append(f"{h['name']}: {type(ex).__name__}: {ex}")
            print(f"FAIL {failures[-1]}", flush=True)
            continue
        extra = e.get("formulas_matching_litert", e.get("valid_rows", ""))
        print(f"{h['name']:40s} {e['size']:6d} B  {' '.join(e['ops'])}  {extra}", flush=True)
    if failures:
        print("\n".join(["failures:", *failures]))
        return 1
    if args.only:
        return 0
    from make_fixtures import all_versions, to_json

    covered = sorted({op for e in cases.values() for op in e["for_ops"]})
    manifest = {
        "generator": "tools/make_op_fixtures2.py",
        "regenerate": "tools/.venv/bin/python tools/make_op_fixtures2.py",
        "seed": base.SEED,
        "seeding": "as tools/make_op_fixtures.py; boxes/scores and hand-built inputs from fixed per-case seeds",
        "litert": "ai_edge_litert Interpreter(num_threads=1, experimental_op_resolver_type="
        "BUILTIN_WITHOUT_DEFAULT_DELEGATES)",
        "layout": "<case>.tflite, <case>.in<k>.npy (k = model input order), <case>.out<k>.npy (model output order)",
        "ops_covered": covered,
        "cases": cases,
        "environment": {
            "packages": {
                k: v
                for k, v in all_versions().items()
                if k in ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "numpy")
            }
        },
    }
    (out / "manifest.json").write_text(to_json(manifest) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{len(cases)} cases, {len(covered)} ops, wrote {out} ({total / 1e6:.3f} MB) in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
