//! Helpers the quantized op glue shares: reading per-tensor and per-channel quantization from
//! operands with the checks TFLite's prepare functions make, and typed operand access for the
//! integer kernels.
//!
//! Activations of quantized ops use one scale and zero point (per tensor); int16 activations must
//! be symmetric (zero point 0), as in TFLite's 16x8 scheme. Weights may be per channel along the
//! op's channel axis; int8 weights must be symmetric. Biases are int32 (int64 or int32 for 16x8)
//! with zero point 0 and, when their scales are recorded, scale `input_scale · filter_scale`
//! within TFLite's tolerance (`|diff| / output_scale <= 0.02`).

use super::shape::{operand, result};
use super::PrepareCtx;
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::quant::QuantParams;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::{DType, Quantization};
use std::borrow::Cow;

/// The value range of a quantized storage type.
fn range(d: DType) -> Option<(i32, i32)> {
    match d {
        DType::I8 => Some((-128, 127)),
        DType::U8 => Some((0, 255)),
        DType::I16 => Some((-32768, 32767)),
        DType::I32 => Some((i32::MIN, i32::MAX)),
        _ => None,
    }
}

/// The per-tensor scale and zero point of a quantized activation `what` stored as `dtype`.
///
/// Requires exactly one finite positive scale and a zero point inside the type's range (0 for
/// int16).
pub(crate) fn per_tensor(
    ctx: &PrepareCtx<'_>,
    what: &str,
    dtype: DType,
    quant: Option<&Quantization>,
) -> Result<QuantParams, RuntimeError> {
    let q = per_tensor_any_zero_point(ctx, what, dtype, quant)?;
    if dtype == DType::I16 && q.zero_point != 0 {
        return Err(ctx.invalid(format!(
            "{what} is int16 with zero point {}; int16 quantization must be symmetric",
            q.zero_point
        )));
    }
    Ok(q)
}

/// [`per_tensor`] without the int16 symmetry requirement (for the few int16 operands TFLite lets
/// carry a zero point, e.g. a SOFTMAX output).
pub(crate) fn per_tensor_any_zero_point(
    ctx: &PrepareCtx<'_>,
    what: &str,
    dtype: DType,
    quant: Option<&Quantization>,
) -> Result<QuantParams, RuntimeError> {
    let q = quant
        .filter(|q| !q.scale.is_empty())
        .ok_or_else(|| ctx.invalid(format!("{what} ({dtype}) has no quantization parameters")))?;
    if q.scale.len() != 1 {
        return Err(ctx.invalid(format!(
            "{what} must be quantized per tensor, has {} scales",
            q.scale.len()
        )));
    }
    let scale = q.scale[0];
    if !(scale.is_finite() && scale > 0.0) {
        return Err(ctx.invalid(format!("{what} has invalid scale {scale}")));
    }
    let zp = q.zero_point.first().copied().unwrap_or(0);
    let (lo, hi) = range(dtype)
        .ok_or_else(|| ctx.unsupported(format!("{what} has non-quantized dtype {dtype}")))?;
    if zp < i64::from(lo) || zp > i64::from(hi) {
        return Err(ctx.invalid(format!("{what} zero point {zp} does not fit {dtype}")));
    }
    Ok(QuantParams::new(scale, zp as i32))
}

/// [`per_tensor`] of input `i`.
pub(crate) fn input_params(ctx: &PrepareCtx<'_>, i: usize) -> Result<QuantParams, RuntimeError> {
    let t = ctx.input(i)?;
    per_tensor(ctx, &format!("input {i}"), t.dtype, t.quant)
}

/// [`per_tensor`] of output `o` (its declared dtype).
pub(crate) fn output_params(ctx: &PrepareCtx<'_>, o: usize) -> Result<QuantParams, RuntimeError> {
    let t = ctx.output(o)?;
    per_tensor(ctx, &format!("output {o}"), t.dtype, t.quant)
}

/// Quantization of a conv / fully-connected filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FilterQuant {
    /// One scale, or one per output channel.
    pub scales: Vec<f32>,
    /// The (common) zero point.
    pub zero_point: i32,
}

/// Reads the quantization of filter input `i` whose output channels (`channels` of them) lie
/// along `channel_axis`: one scale or one per channel (then `quantized_dimension` must be the
/// channel axis), one common zero point in range, 0 for int8 weights.
pub(crate) fn filter_quant(
    ctx: &PrepareCtx<'_>,
    i: usize,
    channel_axis: usize,
    channels: usize,
) -> Result<FilterQuant, RuntimeError> {
    let t = ctx.input(i)?;
    let q = t
        .quant
        .filter(|q| !q.scale.is_empty())
        .ok_or_else(|| ctx.invalid(format!("weights (input {i}) have no quantization")))?;
    let n = q.scale.len();
    if n != 1 && n != channels {
        return Err(ctx.invalid(format!(
            "weights (input {i}) have {n} scales for {channels} output channels"
        )));
    }
    if n > 1 && usize::try_from(q.quantized_dimension).ok() != Some(channel_axis) {
        return Err(ctx.invalid(format!(
            "weights (input {i}) are quantized along dimension {}, expected {channel_axis}",
            q.quantized_dimension
        )));
    }
    if let Some(s) = q.scale.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
        return Err(ctx.invalid(format!("weights (input {i}) have invalid scale {s}")));
    }
    let zp = q.zero_point.first().copied().unwrap_or(0);
    if q.zero_point.iter().any(|&z| z != zp) {
        return Err(ctx.unsupported(format!(
            "weights (input {i}) with differing per-channel zero points"
        )));
    }
    let (lo, hi) =
        range(t.dtype).ok_or_else(|| ctx.unsupported(format!("weights of dtype {}", t.dtype)))?;
    if zp < i64::from(lo) || zp > i64::from(hi) {
        return Err(ctx.invalid(format!(
            "weights (input {i}) zero point {zp} does not fit {}",
            t.dtype
        )));
    }
    if t.dtype == DType::I8 && zp != 0 {
        return Err(ctx.invalid(format!(
            "int8 weights (input {i}) must be symmetric, zero point is {zp}"
        )));
    }
    Ok(FilterQuant {
        scales: q.scale.clone(),
        zero_point: zp as i32,
    })
}

/// Checks optional integer bias input `i`: dtype in `dtypes`, `channels` elements, zero point 0
/// and, when it records scales, `input_scale · filter_scale[c]` within TFLite's tolerance relative
/// to the output scale. Returns the bias dtype (`None` when omitted).
pub(crate) fn check_bias(
    ctx: &PrepareCtx<'_>,
    i: usize,
    dtypes: &[DType],
    input: QuantParams,
    filter: &FilterQuant,
    output: QuantParams,
    channels: usize,
) -> Result<Option<DType>, RuntimeError> {
    let Some(b) = ctx.optional_input(i) else {
        return Ok(None);
    };
    if !dtypes.contains(&b.dtype) {
        return Err(ctx.invalid(format!(
            "bias (input {i}) has dtype {}, expected one of {dtypes:?}",
            b.dtype
        )));
    }
    if b.len() != channels {
        return Err(ctx.invalid(format!(
            "bias has {} elements, expected {channels}",
            b.len()
        )));
    }
    if let Some(q) = b.quant.filter(|q| !q.scale.is_empty()) {
        if q.zero_point.iter().any(|&z| z != 0) {
            return Err(ctx.invalid("bias zero point must be 0"));
        }
        if q.scale.len() != 1 && q.scale.len() != channels {
            return Err(ctx.invalid(format!(
                "bias has {} scales for {channels} channels",
                q.scale.len()
            )));
        }
        for (c, &bias_scale) in q.scale.iter().enumerate() {
            let fs = match filter.scales[..] {
                [s] => s,
                _ => filter.scales.get(c).copied().unwrap_or(filter.scales[0]),
            };
            let product = f64::from(input.scale * fs);
            let diff = (product - f64::from(bias_scale)).abs();
            if diff / f64::from(output.scale) > 0.02 {
                return Err(ctx.invalid(format!(
                    "bias scale {bias_scale} of channel {c} is not input scale × weight scale \
                     ({product})"
                )));
            }
        }
    }
    Ok(Some(b.dtype))
}

/// Input `i` as `T` data of exactly `len` elements.
pub(crate) fn input_data<'a, T: bytemuck::Pod>(
    inputs: &[Option<TensorView<'a>>],
    i: usize,
    len: usize,
) -> Result<&'a [T], KernelError> {
    let data = operand(inputs, i)?.data::<T>()?;
    if data.len() != len {
        return Err(KernelError::Shape(format!(
            "input {i} holds {} values, expected {len}",
            data.len()
        )));
    }
    Ok(data)
}

/// Optional input `i` as `T` data of exactly `len` elements, `None` when omitted.
pub(crate) fn optional_data<'a, T: bytemuck::Pod>(
    inputs: &[Option<TensorView<'a>>],
    i: usize,
    len: usize,
) -> Result<Option<&'a [T]>, KernelError> {
    match inputs.get(i) {
        Some(Some(_)) => input_data(inputs, i, len).map(Some),
        _ => Ok(None),
    }
}

/// Optional 16x8 bias input `i` (int64, or int32 widened) of `len` elements.
pub(crate) fn bias_i64<'a>(
    inputs: &[Option<TensorView<'a>>],
    i: usize,
    len: usize,
) -> Result<Option<Cow<'a, [i64]>>, KernelError> {
    match inputs.get(i) {
        Some(Some(b)) if b.dtype == DType::I32 => {
            let v = input_data::<i32>(inputs, i, len)?;
            Ok(Some(Cow::Owned(v.iter().map(|&x| i64::from(x)).collect())))
        }
        Some(Some(_)) => Ok(Some(Cow::Borrowed(input_data::<i64>(inputs, i, len)?))),
        _ => Ok(None),
    }
}

/// Output 0 as `T` data of exactly `len` elements.
pub(crate) fn output_data<'o, T: bytemuck::Pod>(
    outputs: &'o mut [TensorViewMut<'_>],
    len: usize,
) -> Result<&'o mut [T], KernelError> {
    let data = result(outputs, 0)?.data::<T>()?;
    if data.len() != len {
        return Err(KernelError::Shape(format!(
            "output holds {} values, expected {len}",
            data.len()
        )));
    }
    Ok(data)
}

/// A kernel-parameter error from a `*_params` function, as an `InvalidOp`.
pub(crate) fn params_err(ctx: &PrepareCtx<'_>, e: KernelError) -> RuntimeError {
    ctx.invalid(e.to_string())
}

/// True when two scales are equal up to float noise (TFLite compares the stored floats; models
/// written by other tools may round differently in the last bit).
pub(crate) fn same_scale(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

/// The `(scale, zero_point)` lists of a tensor's quantization, empty when it is not quantized:
/// two tensors whose keys are equal store values on the same affine grid.
pub(crate) fn quant_key(q: Option<&Quantization>) -> (&[f32], &[i64]) {
    match q {
        Some(q) if !q.scale.is_empty() => (&q.scale, &q.zero_point),
        _ => (&[], &[]),
    }
}
