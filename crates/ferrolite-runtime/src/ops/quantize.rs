//! Glue for QUANTIZE and DEQUANTIZE.
//!
//! QUANTIZE maps f32 to int8/uint8/int16 with the output's per-tensor (or per-channel)
//! parameters. Between integer types (int8 ↔ uint8 at legacy model boundaries, int8 → int8 with a
//! new scale, int16 ↔ int8, ...) it requantizes per tensor like TFLite's `Requantize`:
//! `clamp(MultiplyByQuantizedMultiplier(q - zp_in, s_in / s_out) + zp_out)`, which is exact for
//! equal scales. DEQUANTIZE maps int8/uint8/int16 (per
//! tensor or per channel) and float16 to f32; with a constant input it is folded at prepare time,
//! which is how float16-weight models run.

use super::shape::{operand, result};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::quant::elementwise::{requantize, requantize_params, RequantizeParams};
use crate::kernels::quant::QuantParams;
use crate::kernels::quantize::{self as q, QuantElem};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{DType, Quantization};
use half::f16;
use half::slice::HalfBitsSliceExt;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Quantize, 4, prepare_quantize)
        .supports(&[Int8, UInt8, Int16x8])
        .note("from float32, or requantizing between int8 / uint8 / int16 (per-tensor)");
    r.add(B::Dequantize, 6, prepare_dequantize)
        .supports(&[Int8, UInt8, Int16x8, F16Weights]);
}

/// Integer storage types of quantized tensors.
const QUANT_DTYPES: [DType; 3] = [DType::I8, DType::U8, DType::I16];

/// Runs `$body` with `$q` bound to the storage type of quantized `$dtype`.
macro_rules! by_quant {
    ($dtype:expr, $q:ident => $body:expr) => {
        match $dtype {
            DType::I8 => {
                type $q = i8;
                $body
            }
            DType::U8 => {
                type $q = u8;
                $body
            }
            DType::I16 => {
                type $q = i16;
                $body
            }
            d => Err(KernelError::Param(format!("{d} is not a quantized type"))),
        }
    };
}

/// Affine parameters of one tensor, validated for its storage type.
#[derive(Debug, Clone)]
enum Params {
    /// One scale and zero point.
    PerTensor { scale: f32, zero_point: i32 },
    /// One scale and zero point per index of `axis`.
    PerChannel {
        axis: usize,
        scales: Vec<f32>,
        zero_points: Vec<i32>,
    },
}

/// Checks per-tensor parameters for storage type `Q`.
fn check_per_tensor<Q: QuantElem>(scale: f32, zero_point: i32) -> Result<(), KernelError> {
    q::check_quant_params::<Q>(scale, zero_point)
}

/// The first zero point outside `Q`'s range, if any.
fn first_outside<Q: QuantElem>(zero_points: &[i32]) -> Option<i32> {
    zero_points
        .iter()
        .copied()
        .find(|z| !(Q::MIN..=Q::MAX).contains(z))
}

/// Reads and validates the affine parameters of a `dtype` tensor of `shape`.
fn params(
    ctx: &PrepareCtx<'_>,
    what: &str,
    quant: Option<&Quantization>,
    dtype: DType,
    shape: &[usize],
) -> Result<Params, RuntimeError> {
    let quant = quant
        .filter(|q| !q.scale.is_empty())
        .ok_or_else(|| ctx.invalid(format!("{what} has no quantization parameters")))?;
    let zero_points = if quant.zero_point.is_empty() {
        vec![0; quant.scale.len()]
    } else {
        quant
            .zero_point
            .iter()
            .map(|&z| {
                i32::try_from(z)
                    .map_err(|_| ctx.invalid(format!("{what} zero point {z} is out of range")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if quant.scale.len() == 1 {
        let (scale, zero_point) = (quant.scale[0], zero_points.first().copied().unwrap_or(0));
        let check: Result<(), KernelError> =
            by_quant!(dtype, Q => check_per_tensor::<Q>(scale, zero_point));
        check.map_err(|e| ctx.invalid(format!("{what}: {e}")))?;
        return Ok(Params::PerTensor { scale, zero_point });
    }
    let axis = q::check_per_channel(
        shape,
        i64::from(quant.quantized_dimension),
        &quant.scale,
        &zero_points,
    )
    .map_err(|e| ctx.invalid(format!("{what}: {e}")))?;
    let outside: Result<Option<i32>, KernelError> =
        by_quant!(dtype, Q => Ok(first_outside::<Q>(&zero_points)));
    if let Some(z) = outside.map_err(|e| ctx.invalid(format!("{what}: {e}")))? {
        return Err(ctx.invalid(format!("{what}: zero point {z} does not fit {dtype}")));
    }
    Ok(Params::PerChannel {
        axis,
        scales: quant.scale.clone(),
        zero_points,
    })
}

// ---------------------------------------------------------------------------------------------
// QUANTIZE

#[derive(Debug)]
enum QuantizeKernel {
    /// f32 → integer with the output's parameters.
    FromFloat(Params),
    /// Integer → integer.
    Requantize(RequantizeParams),
}

/// Quantizes f32 `input` into `out` (storage type `Q`).
fn quantize_into<Q: QuantElem + bytemuck::Pod>(
    params: &Params,
    input: &TensorView<'_>,
    out: &mut TensorViewMut<'_>,
) -> Result<(), KernelError> {
    let x = input.data::<f32>()?;
    let o = out.data::<Q>()?;
    match params {
        Params::PerTensor { scale, zero_point } => q::quantize(x, *scale, *zero_point, o),
        Params::PerChannel {
            axis,
            scales,
            zero_points,
        } => q::quantize_per_channel(x, input.shape, *axis, scales, zero_points, o),
    }
    Ok(())
}

impl Kernel for QuantizeKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        match self {
            QuantizeKernel::FromFloat(p) => {
                by_quant!(out.dtype, Q => quantize_into::<Q>(p, input, out))
            }
            QuantizeKernel::Requantize(p) => by_quant!(input.dtype, A => {
                let x = input.data::<A>()?;
                by_quant!(out.dtype, Q => {
                    let o = out.data::<Q>()?;
                    if o.len() != x.len() {
                        return Err(KernelError::Shape(format!(
                            "requantize {} values into {}",
                            x.len(),
                            o.len()
                        )));
                    }
                    requantize(p, x, o);
                    Ok(())
                })
            }),
        }
    }
}

fn prepare_quantize(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    let d_in = ctx.expect_input_dtype(0, &[DType::F32, DType::I8, DType::U8, DType::I16])?;
    let out = ctx.output(0)?;
    if !QUANT_DTYPES.contains(&out.dtype) {
        return Err(ctx.unsupported(format!("quantizing to {} is not supported", out.dtype)));
    }
    let p_out = params(ctx, "output", out.quant, out.dtype, &input.shape)?;
    let kernel = if d_in == DType::F32 {
        QuantizeKernel::FromFloat(p_out)
    } else {
        let p_in = params(ctx, "input", input.quant, d_in, &input.shape)?;
        match (p_in, p_out) {
            (
                Params::PerTensor {
                    scale: s_in,
                    zero_point: zp_in,
                },
                Params::PerTensor {
                    scale: s_out,
                    zero_point: zp_out,
                },
            ) => {
                let (a, b) = (
                    QuantParams::new(s_in, zp_in),
                    QuantParams::new(s_out, zp_out),
                );
                let p: Result<RequantizeParams, KernelError> = by_quant!(d_in, A => {
                    by_quant!(out.dtype, Q => requantize_params::<A, Q>(a, b))
                });
                QuantizeKernel::Requantize(p.map_err(|e| ctx.invalid(e.to_string()))?)
            }
            _ => return Err(ctx.unsupported("requantizing per-channel tensors is not implemented")),
        }
    };
    Ok(Prepared::single(input.shape.clone(), kernel))
}

// ---------------------------------------------------------------------------------------------
// DEQUANTIZE

#[derive(Debug)]
enum DequantizeKernel {
    /// Integer → f32.
    Affine(Params),
    /// float16 → f32.
    Half,
}

/// Dequantizes `input` (storage type `Q`) into f32 `out`.
fn dequantize_from<Q: QuantElem + bytemuck::Pod>(
    params: &Params,
    input: &TensorView<'_>,
    out: &mut TensorViewMut<'_>,
) -> Result<(), KernelError> {
    let x = input.data::<Q>()?;
    let o = out.data::<f32>()?;
    match params {
        Params::PerTensor { scale, zero_point } if Q::MAX <= 255 => {
            crate::kernels::quant::dequantize::dequantize_8bit(x, *scale, *zero_point, o)
        }
        Params::PerTensor { scale, zero_point } => q::dequantize(x, *scale, *zero_point, o),
        Params::PerChannel {
            axis,
            scales,
            zero_points,
        } => q::dequantize_per_channel(x, input.shape, *axis, scales, zero_points, o),
    }
    Ok(())
}

impl Kernel for DequantizeKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        match self {
            DequantizeKernel::Affine(p) => {
                by_quant!(input.dtype, Q => dequantize_from::<Q>(p, input, out))
            }
            DequantizeKernel::Half => {
                let h: &[f16] = input.data::<u16>()?.reinterpret_cast();
                q::dequantize_f16(h, out.data::<f32>()?);
                Ok(())
            }
        }
    }
}

fn prepare_dequantize(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    let d = ctx.expect_input_dtype(0, &[DType::I8, DType::U8, DType::I16, DType::F16])?;
    ctx.expect_output_dtype(0, DType::F32)?;
    let kernel = if d == DType::F16 {
        DequantizeKernel::Half
    } else {
        DequantizeKernel::Affine(params(ctx, "input", input.quant, d, &input.shape)?)
    };
    Ok(Prepared::single(input.shape.clone(), kernel))
}
