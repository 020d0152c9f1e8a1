//! Glue for SLICE, STRIDED_SLICE, GATHER and GATHER_ND.
//!
//! SLICE and STRIDED_SLICE resolve their begin/size/end/strides operands (which must be known at
//! prepare time) into a [`SlicePlan`] once; GATHER and GATHER_ND read their indices at `invoke`
//! (the kernels reject out-of-range indices with an error). All four dispatch on element size, so
//! every whole-byte dtype works; quantized data must keep its scale and zero point.

use super::shape::{by_size, check_same_quant, movable_dtype, operand, result};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::gather::{self, GatherPlan};
use crate::kernels::slice::{self, SlicePlan, StridedSliceParams};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Slice, 6, prepare_slice)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::StridedSlice, 8, prepare_strided_slice)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Gather, 7, prepare_gather)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::GatherNd, 5, prepare_gather_nd)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
}

/// Index dtypes GATHER and GATHER_ND accept.
const INDEX_DTYPES: [DType; 3] = [DType::I16, DType::I32, DType::I64];

/// Checks data input 0 against output 0 (dtype and quantization) and returns its dtype.
fn data_operand(ctx: &PrepareCtx<'_>) -> Result<DType, RuntimeError> {
    let d = movable_dtype(ctx, 0)?;
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    Ok(d)
}

// ---------------------------------------------------------------------------------------------
// SLICE, STRIDED_SLICE

/// Copies the strided view described by a resolved plan.
#[derive(Debug)]
struct SliceKernel {
    plan: SlicePlan,
}

impl Kernel for SliceKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_size!(input.dtype, T => {
            slice::slice(input.data::<T>()?, input.shape, &self.plan, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_slice(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 3, 1)?;
    data_operand(ctx)?;
    let begin = ctx.const_ints(1)?;
    let size = ctx.const_ints(2)?;
    let plan =
        slice::resolve_slice(&ctx.input(0)?.shape, &begin, &size).map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        plan.output_shape.clone(),
        SliceKernel { plan },
    ))
}

fn prepare_strided_slice(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 4, 1)?;
    data_operand(ctx)?;
    let begin = ctx.const_ints(1)?;
    let end = ctx.const_ints(2)?;
    // TFLite requires the strides operand; an omitted one means all ones.
    let strides = match ctx.optional_input(3) {
        Some(_) => ctx.const_ints(3)?,
        None => vec![1; begin.len()],
    };
    let mut params = StridedSliceParams {
        begin: &begin,
        end: &end,
        strides: &strides,
        ..Default::default()
    };
    if let Some(O::StridedSliceOptions(o)) = &ctx.op.options {
        // Masks are bit sets; reinterpret the i32 bits.
        params.begin_mask = o.begin_mask as u32;
        params.end_mask = o.end_mask as u32;
        params.ellipsis_mask = o.ellipsis_mask as u32;
        params.new_axis_mask = o.new_axis_mask as u32;
        params.shrink_axis_mask = o.shrink_axis_mask as u32;
        params.offset = o.offset;
    }
    let plan = slice::resolve_strided_slice(&ctx.input(0)?.shape, &params)
        .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        plan.output_shape.clone(),
        SliceKernel { plan },
    ))
}

// ---------------------------------------------------------------------------------------------
// GATHER, GATHER_ND

/// Runs `$body` with `$i` bound to the index element type of `$dtype`.
macro_rules! by_index {
    ($dtype:expr, $i:ident => $body:expr) => {
        match $dtype {
            DType::I16 => {
                type $i = i16;
                $body
            }
            DType::I32 => {
                type $i = i32;
                $body
            }
            DType::I64 => {
                type $i = i64;
                $body
            }
            d => Err(KernelError::Param(format!(
                "index dtype {d} is not supported"
            ))),
        }
    };
}

#[derive(Debug)]
struct GatherKernel {
    plan: GatherPlan,
}

impl Kernel for GatherKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let params = operand(inputs, 0)?;
        let indices = operand(inputs, 1)?;
        let out = result(outputs, 0)?;
        by_size!(params.dtype, T => by_index!(indices.dtype, I => gather::gather(
            params.data::<T>()?,
            params.shape,
            indices.data::<I>()?,
            indices.shape,
            &self.plan,
            out.data::<T>()?,
        )))
    }
}

fn prepare_gather(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    data_operand(ctx)?;
    ctx.expect_input_dtype(1, &INDEX_DTYPES)?;
    let (axis, batch_dims) = match &ctx.op.options {
        Some(O::GatherOptions(o)) => (o.axis, o.batch_dims),
        _ => (0, 0),
    };
    let plan = gather::resolve_gather(
        &ctx.input(0)?.shape,
        &ctx.input(1)?.shape,
        i64::from(axis),
        i64::from(batch_dims),
    )
    .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        plan.output_shape.clone(),
        GatherKernel { plan },
    ))
}

#[derive(Debug)]
struct GatherNdKernel;

impl Kernel for GatherNdKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let params = operand(inputs, 0)?;
        let indices = operand(inputs, 1)?;
        let out = result(outputs, 0)?;
        by_size!(params.dtype, T => by_index!(indices.dtype, I => gather::gather_nd(
            params.data::<T>()?,
            params.shape,
            indices.data::<I>()?,
            indices.shape,
            out.data::<T>()?,
        )))
    }
}

fn prepare_gather_nd(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    data_operand(ctx)?;
    ctx.expect_input_dtype(1, &INDEX_DTYPES)?;
    let shape = gather::gather_nd_output_shape(&ctx.input(0)?.shape, &ctx.input(1)?.shape)
        .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(shape, GatherNdKernel))
}
