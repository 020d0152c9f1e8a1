//! Glue for CUMSUM, TOPK_V2, REVERSE_V2, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND.
//!
//! Axes, `k`, block sizes, pads and crops must be known at prepare time (constants in converted
//! models). CUMSUM runs on float32, int32 and int64; TOPK_V2 on float32, int32, int64, int8 and
//! uint8 (raw order, quantization passed through); the data-movement ops move any whole-byte
//! dtype, quantized ones sharing input and output parameters (SPACE_TO_BATCH pads with the zero
//! point, as TFLite).

use super::shape::{by_size, check_same_quant, movable_dtype, operand, result};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::{normalize_axis, KernelError};
use crate::kernels::scan::{self, BlockGeometry};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Cumsum, 1, prepare_cumsum)
        .supports(&[F32, F16Weights])
        .note("also int32 / int64");
    r.add(B::TopkV2, 3, prepare_topk)
        .supports(&[F32, Int8, UInt8, F16Weights])
        .note("also int32 / int64");
    r.add(B::ReverseV2, 3, prepare_reverse)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("reversed axes must be contiguous (as LiteRT)");
    r.add(B::SpaceToBatchNd, 4, prepare_space_to_batch)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::BatchToSpaceNd, 4, prepare_batch_to_space)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
}

/// `shape` split around the axes `lo..=hi` as `[outer, len, inner]`.
fn split3(shape: &[usize], lo: usize, hi: usize) -> [usize; 3] {
    [
        shape[..lo].iter().product(),
        shape[lo..=hi].iter().product(),
        shape[hi + 1..].iter().product(),
    ]
}

// ---------------------------------------------------------------------------------------------
// CUMSUM

#[derive(Debug)]
struct CumsumKernel {
    dims: [usize; 3],
    exclusive: bool,
    reverse: bool,
}

impl Kernel for CumsumKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        let (d, e, r) = (self.dims, self.exclusive, self.reverse);
        match x.dtype {
            DType::F32 => scan::cumsum(x.data::<f32>()?, d, e, r, out.data::<f32>()?),
            DType::I32 => scan::cumsum(x.data::<i32>()?, d, e, r, out.data::<i32>()?),
            DType::I64 => scan::cumsum(x.data::<i64>()?, d, e, r, out.data::<i64>()?),
            t => return Err(KernelError::Param(format!("CUMSUM of {t}"))),
        }
        Ok(())
    }
}

fn prepare_cumsum(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let d = ctx.expect_input_dtype(0, &[DType::F32, DType::I32, DType::I64])?;
    ctx.expect_output_dtype(0, d)?;
    let shape = ctx.input(0)?.shape.clone();
    let axis = *ctx
        .const_ints(1)?
        .first()
        .ok_or_else(|| ctx.invalid("axis is empty"))?;
    let a = normalize_axis(axis, shape.len()).map_err(|e| ctx.kernel_err(e))?;
    let (exclusive, reverse) = match &ctx.op.options {
        Some(O::CumsumOptions(o)) => (o.exclusive, o.reverse),
        _ => (false, false),
    };
    let dims = split3(&shape, a, a);
    Ok(Prepared::single(
        shape,
        CumsumKernel {
            dims,
            exclusive,
            reverse,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// TOPK_V2

#[derive(Debug)]
struct TopKKernel {
    n: usize,
    k: usize,
}

impl Kernel for TopKKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let [v, i] = outputs else {
            return Err(KernelError::Param("TOPK_V2 needs 2 outputs".into()));
        };
        let idx = i.data::<i32>()?;
        let (n, k) = (self.n, self.k);
        match x.dtype {
            DType::F32 => scan::top_k(x.data::<f32>()?, n, k, v.data::<f32>()?, idx),
            DType::I32 => scan::top_k(x.data::<i32>()?, n, k, v.data::<i32>()?, idx),
            DType::I64 => scan::top_k(x.data::<i64>()?, n, k, v.data::<i64>()?, idx),
            DType::I8 => scan::top_k(x.data::<i8>()?, n, k, v.data::<i8>()?, idx),
            DType::U8 => scan::top_k(x.data::<u8>()?, n, k, v.data::<u8>()?, idx),
            t => return Err(KernelError::Param(format!("TOPK_V2 of {t}"))),
        }
        Ok(())
    }
}

fn prepare_topk(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 2)?;
    let d = ctx.expect_input_dtype(
        0,
        &[DType::F32, DType::I32, DType::I64, DType::I8, DType::U8],
    )?;
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    ctx.expect_output_dtype(1, DType::I32)?;
    let shape = ctx.input(0)?.shape.clone();
    let Some(&n) = shape.last() else {
        return Err(ctx.invalid("input must have rank >= 1"));
    };
    let k = *ctx
        .const_ints(1)?
        .first()
        .ok_or_else(|| ctx.invalid("k is empty"))?;
    let k = usize::try_from(k)
        .ok()
        .filter(|&k| k <= n)
        .ok_or_else(|| ctx.invalid(format!("k = {k} must be in 0..={n}")))?;
    let mut out = shape.clone();
    *out.last_mut().unwrap_or(&mut 0) = k;
    Ok(Prepared {
        output_shapes: vec![out.clone(), out],
        kernel: Box::new(TopKKernel { n, k }),
    })
}

// ---------------------------------------------------------------------------------------------
// REVERSE_V2

#[derive(Debug)]
struct ReverseKernel {
    dims: [usize; 3],
}

impl Kernel for ReverseKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_size!(x.dtype, T => {
            scan::reverse(x.data::<T>()?, self.dims, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_reverse(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let d = movable_dtype(ctx, 0)?;
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    let shape = ctx.input(0)?.shape.clone();
    let mut axes = ctx
        .const_ints(1)?
        .into_iter()
        .map(|a| normalize_axis(a, shape.len()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ctx.kernel_err(e))?;
    axes.sort_unstable();
    axes.dedup();
    let dims = match (axes.first(), axes.last()) {
        (None, _) | (_, None) => [shape.iter().product(), 1, 1],
        (Some(&lo), Some(&hi)) if hi - lo + 1 == axes.len() => split3(&shape, lo, hi),
        _ => return Err(ctx.unsupported("reversed axes must be contiguous")),
    };
    Ok(Prepared::single(shape, ReverseKernel { dims }))
}

// ---------------------------------------------------------------------------------------------
// SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND

#[derive(Debug)]
struct BlockKernel {
    geometry: BlockGeometry,
    to_batch: bool,
    /// SPACE_TO_BATCH's padding value (the zero point for quantized tensors), as raw bytes.
    pad: i64,
}

impl Kernel for BlockKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        let g = &self.geometry;
        if !self.to_batch {
            return by_size!(x.dtype, T => {
                scan::batch_to_space(x.data::<T>()?, g, out.data::<T>()?);
                Ok(())
            });
        }
        match x.dtype {
            DType::I8 => scan::space_to_batch(x.data::<i8>()?, g, self.pad as i8, out.data()?),
            DType::U8 => scan::space_to_batch(x.data::<u8>()?, g, self.pad as u8, out.data()?),
            DType::I16 => scan::space_to_batch(x.data::<i16>()?, g, self.pad as i16, out.data()?),
            _ => {
                return by_size!(x.dtype, T => {
                    scan::space_to_batch(x.data::<T>()?, g, T::default(), out.data::<T>()?);
                    Ok(())
                })
            }
        }
        Ok(())
    }
}

fn prepare_block(ctx: &PrepareCtx<'_>, to_batch: bool) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 3, 1)?;
    let d = movable_dtype(ctx, 0)?;
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    let input = ctx.input(0)?;
    if !(3..=4).contains(&input.shape.len()) {
        return Err(ctx.unsupported(format!(
            "input rank {} (LiteRT supports 3-D and 4-D)",
            input.shape.len()
        )));
    }
    let block = ctx.const_ints(1)?;
    let pads = ctx.const_ints(2)?;
    let geometry = if to_batch {
        scan::space_to_batch_geometry(&input.shape, &block, &pads)
    } else {
        scan::batch_to_space_geometry(&input.shape, &block, &pads)
    }
    .map_err(|e| ctx.kernel_err(e))?;
    let pad = input
        .quant
        .and_then(|q| q.zero_point.first().copied())
        .unwrap_or(0);
    let shape = if to_batch {
        geometry.batch_shape.clone()
    } else {
        geometry.space_shape.clone()
    };
    Ok(Prepared::single(
        shape,
        BlockKernel {
            geometry,
            to_batch,
            pad,
        },
    ))
}

fn prepare_space_to_batch(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    prepare_block(ctx, true)
}

fn prepare_batch_to_space(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    prepare_block(ctx, false)
}
