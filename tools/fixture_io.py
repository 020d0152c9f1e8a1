"""Shared LiteRT I/O helpers for the ferrolite reference fixtures.

Used by both ``make_fixtures.py`` (full TensorFlow venv) and
``litert_check.py`` (CI: only ``ai-edge-litert`` + ``numpy``), so that the
way float inputs are quantized and the way a model is run are identical in
both places. Depends on numpy and ai_edge_litert only.

Input quantization mirrors TFLite's own QUANTIZE kernel
(``reference_ops::AffineQuantize``): ``q = round_half_away_from_zero(
float32(x) / float32(scale)) + zero_point``, then clamp to the integer
type's range. (Note: TF tutorials often do ``(x / s + zp).astype(int8)``,
which truncates; we deliberately use the kernel's rounding instead, so a
float-I/O model's internal QUANTIZE and our pre-quantized input agree.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Kept as a module constant so reports/manifests can name the convention.
QUANTIZE_RULE = (
    "q = clip(round_half_away_from_zero(float32(x) / float32(scale)) + zero_point, "
    "dtype.min, dtype.max)  # same as TFLite's QUANTIZE kernel (TfLiteRound = std::round)"
)


def round_half_away_from_zero(v: np.ndarray) -> np.ndarray:
    """std::round semantics. Works in float64, which is exact for float32 inputs."""
    v64 = np.asarray(v, dtype=np.float64)
    return np.sign(v64) * np.floor(np.abs(v64) + 0.5)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: Any) -> np.ndarray:
    """Quantize float values exactly like TFLite's QUANTIZE op (per-tensor)."""
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype)
    q = np.asarray(x, dtype=np.float32) / np.float32(scale)  # float32 division, as the kernel
    r = round_half_away_from_zero(q) + int(zero_point)
    return np.clip(r, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float view of a quantized tensor: (q - zp) * scale, in float32."""
    return (np.asarray(q, dtype=np.int32) - int(zero_point)).astype(np.float32) * np.float32(scale)


def make_interpreter(path: str, reference: bool = True):
    """Load a .tflite with LiteRT.

    ``reference=True``: TFLite's built-in kernels only, no default delegate
    (no XNNPACK), one thread -- the bit-exact oracle. ``reference=False``:
    the default resolver (XNNPACK delegate applied), still one thread.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": 1}
    if reference:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(**kwargs)


def prepare_input(detail: dict, x: np.ndarray) -> np.ndarray:
    """Convert float inputs to what an input tensor expects (quantizing if needed)."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return np.asarray(x, dtype=np.float32)
    if dtype in (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)):
        scale, zp = detail["quantization"]
        if scale == 0.0:
            raise ValueError(f"input {detail['name']!r} is {dtype} but has no quantization scale")
        return quantize(x, scale, zp, dtype)
    raise ValueError(f"unsupported input dtype {dtype} for {detail['name']!r}")


def run_model(interp, x_float: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, str]:
    """Run a single-input model on a float batch ``x_float`` ([B, ...]).

    Returns ``(outputs, fed_input, mode)``: one array per model output with
    the batch stacked along axis 0, the exact input array fed (after any
    quantization), and ``mode``: ``"resize"`` if the model has a dynamic batch
    dimension (``shape_signature[0] == -1``) and was resized to B and run once,
    else ``"loop"`` (run once per sample at the model's fixed batch of 1).
    """
    ins = interp.get_input_details()
    if len(ins) != 1:
        raise ValueError(f"expected 1 input, model has {len(ins)}")
    detail = ins[0]
    fed = prepare_input(detail, x_float)
    batch = fed.shape[0]
    sig = list(detail.get("shape_signature", detail["shape"]))
    if sig and sig[0] == -1:
        interp.resize_tensor_input(detail["index"], [batch, *fed.shape[1:]])
        interp.allocate_tensors()
        interp.set_tensor(detail["index"], fed)
        interp.invoke()
        outs = [np.array(interp.get_tensor(o["index"])) for o in interp.get_output_details()]
        return outs, fed, "resize"
    interp.allocate_tensors()
    if int(detail["shape"][0]) != 1:
        raise ValueError(f"fixed batch {detail['shape'][0]} != 1 not supported")
    per_out: list[list[np.ndarray]] = [[] for _ in interp.get_output_details()]
    for i in range(batch):
        interp.set_tensor(detail["index"], fed[i : i + 1])
        interp.invoke()
        for k, o in enumerate(interp.get_output_details()):
            per_out[k].append(np.array(interp.get_tensor(o["index"])))
    return [np.concatenate(p, axis=0) for p in per_out], fed, "loop"


def output_as_float(detail: dict, y: np.ndarray) -> np.ndarray:
    """Dequantize an integer output (for accuracy); float outputs pass through."""
    if np.dtype(detail["dtype"]) == np.float32:
        return y
    scale, zp = detail["quantization"]
    return dequantize(y, scale, zp)


def op_names(interp) -> list[str]:
    """Operator names in execution (node) order, as LiteRT reports them."""
    ops = sorted(interp._get_ops_details(), key=lambda d: d["index"])  # noqa: SLF001
    return [d["op_name"] for d in ops]


def jsonable_detail(d: dict) -> dict:
    """Tensor detail dict -> JSON-friendly dict (incl. per-channel quantization)."""
    qp = d.get("quantization_parameters", {}) or {}
    return {
        "name": d["name"],
        "index": int(d["index"]),
        "shape": [int(v) for v in d["shape"]],
        "shape_signature": [int(v) for v in d.get("shape_signature", d["shape"])],
        "dtype": np.dtype(d["dtype"]).name,
        "quantization": {"scale": float(d["quantization"][0]), "zero_point": int(d["quantization"][1])},
        "quantization_parameters": {
            "scales": [float(v) for v in np.asarray(qp.get("scales", []))],
            "zero_points": [int(v) for v in np.asarray(qp.get("zero_points", []))],
            "quantized_dimension": int(qp.get("quantized_dimension", 0)),
        },
    }
