//! Glue for the shape-rearranging ops TRANSPOSE, CONCATENATION, SPLIT, SPLIT_V, PACK, UNPACK and
//! TILE.
//!
//! The kernels in [`crate::kernels::transform`] are generic over the element type, so these ops
//! dispatch on element *size* and serve every whole-byte dtype (f32, f16, int8/uint8/int16, i32,
//! i64, bool, ...). Quantized operands must share scale and zero point with the outputs, as
//! TFLite's int8 kernels require; the exception is a legacy uint8 CONCATENATION, whose inputs
//! TFLite rescales to the output's quantization (so do we). Axes, permutations, split sizes and
//! multiples must be known at prepare time.

use super::quant::{input_params, output_params};
use super::shape::{by_size, check_same_quant, movable_dtype, operand, result};
use super::{activation, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::{activation_range, clamp_activation, Activation, KernelError};
use crate::kernels::quant::elementwise::{concat_rescale, concat_rescale_params, ConcatRescale};
use crate::kernels::transform;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{ActivationFunctionType, BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Transpose, 7, prepare_transpose)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Concatenation, 4, prepare_concat)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note(
            "int8 / int16 inputs must share the output's quantization; uint8 inputs are rescaled",
        );
    r.add(B::Split, 4, prepare_split)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::SplitV, 2, prepare_split_v)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Pack, 4, prepare_pack)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Unpack, 4, prepare_unpack)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Tile, 3, prepare_tile)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
}

/// Checks that input `i` has dtype `d` (all data inputs of these ops share one dtype).
fn expect_same_dtype(ctx: &PrepareCtx<'_>, i: usize, d: DType) -> Result<(), RuntimeError> {
    let got = ctx.input(i)?.dtype;
    if got == d {
        Ok(())
    } else {
        Err(ctx.invalid(format!("input {i} has dtype {got}, expected {d}")))
    }
}

/// Checks every output's dtype and quantization against data input `i`.
fn check_outputs(ctx: &PrepareCtx<'_>, i: usize, d: DType) -> Result<(), RuntimeError> {
    for o in 0..ctx.outputs.len() {
        ctx.expect_output_dtype(o, d)?;
        check_same_quant(ctx, i, o)?;
    }
    Ok(())
}

/// A single value that must be known at prepare time (an axis operand).
fn scalar_int(ctx: &PrepareCtx<'_>, i: usize) -> Result<i64, RuntimeError> {
    let v = ctx.const_ints(i)?;
    match v[..] {
        [x] => Ok(x),
        _ => Err(ctx.invalid(format!("input {i} must hold one value, holds {}", v.len()))),
    }
}

/// Converts an option count to `usize`, treating non-positive values as "not given".
fn option_count(n: i32) -> Option<usize> {
    usize::try_from(n).ok().filter(|&n| n > 0)
}

/// Mutable typed views of all outputs.
fn typed_outputs<'v, T: bytemuck::Pod>(
    outputs: &'v mut [TensorViewMut<'_>],
) -> Result<Vec<&'v mut [T]>, KernelError> {
    outputs.iter_mut().map(|o| o.data::<T>()).collect()
}

// ---------------------------------------------------------------------------------------------
// TRANSPOSE

#[derive(Debug)]
struct TransposeKernel {
    perm: Vec<usize>,
}

impl Kernel for TransposeKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_size!(input.dtype, T => {
            transform::transpose(input.data::<T>()?, input.shape, &self.perm, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_transpose(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let d = movable_dtype(ctx, 0)?;
    check_outputs(ctx, 0, d)?;
    let shape = &ctx.input(0)?.shape;
    let perm = transform::transpose_perm(&ctx.const_ints(1)?, shape.len())
        .map_err(|e| ctx.kernel_err(e))?;
    let out = transform::transpose_output_shape(shape, &perm);
    Ok(Prepared::single(out, TransposeKernel { perm }))
}

// ---------------------------------------------------------------------------------------------
// CONCATENATION

#[derive(Debug)]
struct ConcatKernel {
    axis: usize,
    activation: Activation,
    /// Per input, the rescaling of a uint8 input whose quantization differs from the output's.
    rescale: Vec<Option<ConcatRescale>>,
}

impl Kernel for ConcatKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let views = (0..inputs.len())
            .map(|i| operand(inputs, i))
            .collect::<Result<Vec<_>, _>>()?;
        let first = operand(inputs, 0)?;
        let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape).collect();
        let out = result(outputs, 0)?;
        if self.rescale.iter().any(Option::is_some) {
            // Legacy uint8 with per-input scales: rescale those inputs first.
            let rescaled = views
                .iter()
                .zip(&self.rescale)
                .map(|(v, r)| {
                    let x = v.data::<u8>()?;
                    Ok(match r {
                        Some(p) => {
                            let mut y = vec![0u8; x.len()];
                            concat_rescale(p, x, &mut y);
                            std::borrow::Cow::Owned(y)
                        }
                        None => std::borrow::Cow::Borrowed(x),
                    })
                })
                .collect::<Result<Vec<_>, KernelError>>()?;
            let data: Vec<&[u8]> = rescaled.iter().map(|c| c.as_ref()).collect();
            transform::concatenation(&data, &shapes, self.axis, out.data::<u8>()?);
            return Ok(());
        }
        by_size!(first.dtype, T => {
            let data = views.iter().map(|v| v.data::<T>()).collect::<Result<Vec<_>, _>>()?;
            transform::concatenation(&data, &shapes, self.axis, out.data::<T>()?);
            Ok::<(), KernelError>(())
        })?;
        if self.activation != Activation::None {
            let (lo, hi) = activation_range(self.activation);
            for x in out.data::<f32>()? {
                *x = clamp_activation(*x, lo, hi);
            }
        }
        Ok(())
    }
}

fn prepare_concat(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, usize::MAX, 1)?;
    let (axis, fused) = match &ctx.op.options {
        Some(O::ConcatenationOptions(o)) => (o.axis, o.fused_activation_function),
        _ => (0, ActivationFunctionType::None),
    };
    let d = movable_dtype(ctx, 0)?;
    let mut rescale = Vec::with_capacity(ctx.inputs.len());
    for i in 0..ctx.inputs.len() {
        expect_same_dtype(ctx, i, d)?;
        if d == DType::U8 && check_same_quant(ctx, i, 0).is_err() {
            // TFLite rescales legacy uint8 inputs; int8 / int16 must share the output's.
            let (qi, qo) = (input_params(ctx, i)?, output_params(ctx, 0)?);
            rescale.push(Some(concat_rescale_params(qi, qo)));
        } else {
            check_same_quant(ctx, i, 0)?;
            rescale.push(None);
        }
    }
    ctx.expect_output_dtype(0, d)?;
    let act = activation(fused);
    match act {
        Activation::None => {}
        Activation::Relu | Activation::Relu6 | Activation::ReluN1To1 if d == DType::F32 => {}
        _ => {
            return Err(
                ctx.unsupported(format!("fused activation {fused:?} on a {d} concatenation"))
            )
        }
    }
    let shapes: Vec<&[usize]> = ctx
        .inputs
        .iter()
        .flatten()
        .map(|i| i.shape.as_slice())
        .collect();
    let (axis, out) =
        transform::concat_output_shape(&shapes, i64::from(axis)).map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        out,
        ConcatKernel {
            axis,
            activation: act,
            rescale,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// SPLIT, SPLIT_V, UNPACK

/// Cuts data input `input` along `axis` into pieces of `sizes` (the output shapes carry the
/// axis or, for UNPACK, drop it; the flat layout is the same).
#[derive(Debug)]
struct SplitKernel {
    input: usize,
    axis: usize,
    sizes: Vec<usize>,
}

impl Kernel for SplitKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, self.input)?;
        if outputs.len() != self.sizes.len() {
            return Err(KernelError::Param(format!(
                "{} outputs for {} pieces",
                outputs.len(),
                self.sizes.len()
            )));
        }
        by_size!(input.dtype, T => {
            let mut outs = typed_outputs::<T>(outputs)?;
            transform::split(input.data::<T>()?, input.shape, self.axis, &self.sizes, &mut outs);
            Ok(())
        })
    }
}

/// Builds the SPLIT/SPLIT_V result once axis and sizes are resolved.
fn split_prepared(
    ctx: &PrepareCtx<'_>,
    input: usize,
    axis: usize,
    sizes: Vec<usize>,
) -> Result<Prepared, RuntimeError> {
    if sizes.len() != ctx.outputs.len() {
        return Err(ctx.invalid(format!(
            "splits into {} pieces but has {} outputs",
            sizes.len(),
            ctx.outputs.len()
        )));
    }
    let shapes = transform::split_output_shapes(&ctx.input(input)?.shape, axis, &sizes);
    Ok(Prepared {
        output_shapes: shapes,
        kernel: Box::new(SplitKernel { input, axis, sizes }),
    })
}

fn prepare_split(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, ctx.outputs.len().max(1))?;
    // Operand order is (axis, input).
    let d = movable_dtype(ctx, 1)?;
    check_outputs(ctx, 1, d)?;
    let num = match &ctx.op.options {
        Some(O::SplitOptions(o)) => option_count(o.num_splits),
        _ => None,
    };
    let num = num.unwrap_or(ctx.outputs.len());
    let axis = scalar_int(ctx, 0)?;
    let (axis, sizes) =
        transform::split_sizes(&ctx.input(1)?.shape, axis, num).map_err(|e| ctx.kernel_err(e))?;
    split_prepared(ctx, 1, axis, sizes)
}

fn prepare_split_v(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 3, ctx.outputs.len().max(1))?;
    let d = movable_dtype(ctx, 0)?;
    check_outputs(ctx, 0, d)?;
    let sizes = ctx.const_ints(1)?;
    if let Some(O::SplitVOptions(o)) = &ctx.op.options {
        if option_count(o.num_splits).is_some_and(|n| n != sizes.len()) {
            return Err(ctx.invalid(format!(
                "num_splits {} does not match {} size_splits",
                o.num_splits,
                sizes.len()
            )));
        }
    }
    let axis = scalar_int(ctx, 2)?;
    let (axis, sizes) = transform::split_v_sizes(&ctx.input(0)?.shape, axis, &sizes)
        .map_err(|e| ctx.kernel_err(e))?;
    split_prepared(ctx, 0, axis, sizes)
}

fn prepare_unpack(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, ctx.outputs.len().max(1))?;
    let d = movable_dtype(ctx, 0)?;
    check_outputs(ctx, 0, d)?;
    let (num, axis) = match &ctx.op.options {
        Some(O::UnpackOptions(o)) => (option_count(o.num), o.axis),
        _ => (None, 0),
    };
    let (axis, count, shape) =
        transform::unpack_output_shape(&ctx.input(0)?.shape, i64::from(axis), num)
            .map_err(|e| ctx.kernel_err(e))?;
    if count != ctx.outputs.len() {
        return Err(ctx.invalid(format!(
            "unpacks {count} pieces but has {} outputs",
            ctx.outputs.len()
        )));
    }
    Ok(Prepared {
        output_shapes: vec![shape; count],
        kernel: Box::new(SplitKernel {
            input: 0,
            axis,
            sizes: vec![1; count],
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// PACK

#[derive(Debug)]
struct PackKernel {
    axis: usize,
}

impl Kernel for PackKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let views = (0..inputs.len())
            .map(|i| operand(inputs, i))
            .collect::<Result<Vec<_>, _>>()?;
        let first = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_size!(first.dtype, T => {
            let data = views.iter().map(|v| v.data::<T>()).collect::<Result<Vec<_>, _>>()?;
            transform::pack(&data, first.shape, self.axis, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_pack(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, usize::MAX, 1)?;
    let (count, axis) = match &ctx.op.options {
        Some(O::PackOptions(o)) => (option_count(o.values_count), o.axis),
        _ => (None, 0),
    };
    let n = ctx.inputs.len();
    if count.is_some_and(|c| c != n) {
        return Err(ctx.invalid(format!("values_count {count:?} but {n} inputs")));
    }
    let d = movable_dtype(ctx, 0)?;
    let shape = ctx.input(0)?.shape.clone();
    for i in 0..n {
        expect_same_dtype(ctx, i, d)?;
        check_same_quant(ctx, i, 0)?;
        if ctx.input(i)?.shape != shape {
            return Err(ctx.invalid(format!(
                "input {i} has shape {:?}, input 0 has {shape:?}",
                ctx.input(i)?.shape
            )));
        }
    }
    ctx.expect_output_dtype(0, d)?;
    let (axis, out) =
        transform::pack_output_shape(&shape, n, i64::from(axis)).map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(out, PackKernel { axis }))
}

// ---------------------------------------------------------------------------------------------
// TILE

#[derive(Debug)]
struct TileKernel {
    multiples: Vec<usize>,
}

impl Kernel for TileKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_size!(input.dtype, T => {
            transform::tile(input.data::<T>()?, input.shape, &self.multiples, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_tile(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let d = movable_dtype(ctx, 0)?;
    check_outputs(ctx, 0, d)?;
    let multiples = ctx.const_ints(1)?;
    let shape = &ctx.input(0)?.shape;
    let out = transform::tile_output_shape(shape, &multiples).map_err(|e| ctx.kernel_err(e))?;
    // Validated non-negative by `tile_output_shape`.
    let multiples = multiples
        .iter()
        .map(|&m| usize::try_from(m).unwrap_or(0))
        .collect();
    Ok(Prepared::single(out, TileKernel { multiples }))
}
