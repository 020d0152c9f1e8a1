//! Glue for PAD, PADV2 and MIRROR_PAD.
//!
//! The paddings operand (`[rank, 2]`, int32 or int64) must be known at prepare time. PAD fills with
//! zero, or with the output zero point for quantized tensors (as TFLite does); PADV2 reads its
//! one-element constant-value operand at `invoke`. All three dispatch on element size, so every
//! whole-byte dtype works; quantized tensors must keep their scale and zero point.

use super::shape::{by_size, check_same_quant, movable_dtype, operand, result};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::pad::{self, MirrorPadMode, PadPlan};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Pad, 5, prepare_pad)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Padv2, 5, prepare_pad)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::MirrorPad, 3, prepare_mirror_pad)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
}

/// Where the padding value comes from.
#[derive(Debug)]
enum PadValue {
    /// A fixed value, as little-endian bytes of one element.
    Fixed(Vec<u8>),
    /// The single element of this input, read at `invoke`.
    Input(usize),
}

#[derive(Debug)]
struct PadKernel {
    plan: PadPlan,
    value: PadValue,
}

impl Kernel for PadKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_size!(input.dtype, T => {
            let value: T = match &self.value {
                PadValue::Fixed(bytes) => bytemuck::try_pod_read_unaligned(bytes)
                    .map_err(|e| KernelError::Param(format!("pad value: {e:?}")))?,
                PadValue::Input(i) => *operand(inputs, *i)?
                    .data::<T>()?
                    .first()
                    .ok_or_else(|| KernelError::Param("pad value operand is empty".into()))?,
            };
            pad::pad(input.data::<T>()?, input.shape, &self.plan, value, out.data::<T>()?);
            Ok(())
        })
    }
}

/// Reads the paddings operand (input 1) as `[before, after]` pairs.
fn paddings(ctx: &PrepareCtx<'_>) -> Result<Vec<[i64; 2]>, RuntimeError> {
    let rank = ctx.input(0)?.shape.len();
    let shape = &ctx.input(1)?.shape;
    if shape[..] != [rank, 2] {
        return Err(ctx.invalid(format!(
            "paddings have shape {shape:?}, expected [{rank}, 2]"
        )));
    }
    let values = ctx.const_ints(1)?;
    Ok(values.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}

/// The fixed padding value of PAD (or PADV2 without a value operand): zero, or the output zero
/// point of a quantized tensor.
fn default_value(ctx: &PrepareCtx<'_>, dtype: DType, size: usize) -> Result<Vec<u8>, RuntimeError> {
    let zp = ctx
        .output(0)?
        .quant
        .and_then(|q| q.zero_point.first().copied())
        .unwrap_or(0);
    let bad = |_| ctx.invalid(format!("zero point {zp} does not fit {dtype}"));
    Ok(match dtype {
        DType::I8 => i8::try_from(zp).map_err(bad)?.to_le_bytes().to_vec(),
        DType::U8 => u8::try_from(zp).map_err(bad)?.to_le_bytes().to_vec(),
        DType::I16 => i16::try_from(zp).map_err(bad)?.to_le_bytes().to_vec(),
        _ => vec![0; size],
    })
}

fn prepare_pad(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    let v2 = ctx.op.kind.builtin() == B::Padv2;
    ctx.expect_arity(2, if v2 { 3 } else { 2 }, 1)?;
    let d = movable_dtype(ctx, 0)?;
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    let plan =
        pad::resolve_pad(&ctx.input(0)?.shape, &paddings(ctx)?).map_err(|e| ctx.kernel_err(e))?;
    let value = match ctx.optional_input(2) {
        Some(v) => {
            if v.dtype != d {
                return Err(ctx.invalid(format!("constant value has dtype {}, input {d}", v.dtype)));
            }
            if v.len() != 1 {
                return Err(ctx.invalid(format!(
                    "constant value has {} elements, expected 1",
                    v.len()
                )));
            }
            check_same_quant(ctx, 2, 0)?;
            PadValue::Input(2)
        }
        None => PadValue::Fixed(default_value(
            ctx,
            d,
            super::shape::elem_size(d).unwrap_or(0),
        )?),
    };
    Ok(Prepared::single(
        plan.output_shape.clone(),
        PadKernel { plan, value },
    ))
}

#[derive(Debug)]
struct MirrorPadKernel {
    plan: PadPlan,
    mode: MirrorPadMode,
}

impl Kernel for MirrorPadKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_size!(input.dtype, T => {
            let (x, y) = (input.data::<T>()?, out.data::<T>()?);
            pad::mirror_pad(x, input.shape, &self.plan, self.mode, y);
            Ok(())
        })
    }
}

fn prepare_mirror_pad(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let d = movable_dtype(ctx, 0)?;
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    let mode = match &ctx.op.options {
        Some(O::MirrorPadOptions(o)) if o.mode == tflite::MirrorPadMode::Symmetric => {
            MirrorPadMode::Symmetric
        }
        _ => MirrorPadMode::Reflect,
    };
    let plan = pad::resolve_mirror_pad(&ctx.input(0)?.shape, &paddings(ctx)?, mode)
        .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        plan.output_shape.clone(),
        MirrorPadKernel { plan, mode },
    ))
}
