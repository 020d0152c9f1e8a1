//! Glue for ONE_HOT, BROADCAST_TO, ZEROS_LIKE, SCATTER_ND, WHERE, ADD_N, SIGN, REDUCE_ANY,
//! REDUCE_ALL and LOCAL_RESPONSE_NORMALIZATION.
//!
//! Shape-deciding operands (ONE_HOT's depth, BROADCAST_TO's and SCATTER_ND's shapes, the reduce
//! axes) must be known at prepare time. WHERE's output length depends on the condition's values,
//! so it is prepared at `invoke` once they are known. Numeric ops run on float32 and int32
//! (SCATTER_ND and ADD_N also int64); ONE_HOT, BROADCAST_TO and ZEROS_LIKE move any whole-byte
//! dtype.

use super::shape::{by_size, check_same_quant, movable_dtype, operand, result};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::{normalize_axis, KernelError};
use crate::kernels::generate as g;
use crate::kernels::reduce::reduced_shape;
use crate::tensor::{cast, TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::OneHot, 1, prepare_one_hot)
        .supports(&[F32, F16Weights]);
    r.add(B::BroadcastTo, 3, prepare_broadcast_to)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::ZerosLike, 1, prepare_zeros_like)
        .supports(&[F32, F16Weights])
        .note("also int32 / int64");
    r.add(B::ScatterNd, 1, prepare_scatter_nd)
        .supports(&[F32, F16Weights])
        .note("also int32 / int64 updates");
    r.add(B::Where, 2, prepare_where)
        .supports(&[F32, F16Weights])
        .note("condition bool, float32, int8/uint8/int32/int64; output length known at invoke");
    r.add(B::AddN, 1, prepare_add_n)
        .supports(&[F32, F16Weights])
        .note("also int32 / int64");
    r.add(B::Sign, 2, prepare_sign)
        .supports(&[F32, F16Weights])
        .note("also int32");
    r.add(B::ReduceAny, 1, prepare_reduce_bool)
        .note("bool operands only");
    r.add(B::ReduceAll, 1, prepare_reduce_bool)
        .note("bool operands only");
    r.add(B::LocalResponseNormalization, 1, prepare_lrn)
        .supports(&[F32, F16Weights]);
}

/// The numeric element types of SIGN, ADD_N and SCATTER_ND.
macro_rules! by_numeric {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            DType::I64 => {
                type $t = i64;
                $body
            }
            d => Err(KernelError::Param(format!("dtype {d} is not supported"))),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// ONE_HOT

#[derive(Debug)]
struct OneHotKernel {
    dims: [usize; 3],
}

impl Kernel for OneHotKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let idx = operand(inputs, 0)?;
        let (on, off) = (operand(inputs, 2)?, operand(inputs, 3)?);
        let out = result(outputs, 0)?;
        by_size!(on.dtype, T => {
            let on = *on.data::<T>()?.first().ok_or_else(|| KernelError::Param("on_value is empty".into()))?;
            let off = *off.data::<T>()?.first().ok_or_else(|| KernelError::Param("off_value is empty".into()))?;
            let o = out.data::<T>()?;
            match idx.dtype {
                DType::I64 => g::one_hot(idx.data::<i64>()?, self.dims, on, off, o),
                _ => g::one_hot(idx.data::<i32>()?, self.dims, on, off, o),
            }
            Ok(())
        })
    }
}

fn prepare_one_hot(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(4, 4, 1)?;
    ctx.expect_input_dtype(0, &[DType::I32, DType::I64])?;
    let d = movable_dtype(ctx, 2)?;
    if ctx.input(3)?.dtype != d {
        return Err(ctx.invalid("on_value and off_value differ in dtype"));
    }
    ctx.expect_output_dtype(0, d)?;
    let depth = *ctx
        .const_ints(1)?
        .first()
        .ok_or_else(|| ctx.invalid("depth is empty"))?;
    let depth = usize::try_from(depth).map_err(|_| ctx.invalid(format!("depth {depth} < 0")))?;
    let shape = &ctx.input(0)?.shape;
    let axis = match &ctx.op.options {
        Some(O::OneHotOptions(o)) => i64::from(o.axis),
        _ => -1,
    };
    let a = if axis == -1 {
        shape.len()
    } else {
        normalize_axis(axis, shape.len() + 1).map_err(|e| ctx.kernel_err(e))?
    };
    let mut out = shape.clone();
    out.insert(a, depth);
    let dims = [
        shape[..a].iter().product(),
        depth,
        shape[a..].iter().product(),
    ];
    Ok(Prepared::single(out, OneHotKernel { dims }))
}

// ---------------------------------------------------------------------------------------------
// BROADCAST_TO / ZEROS_LIKE

#[derive(Debug)]
struct BroadcastToKernel;

impl Kernel for BroadcastToKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        let out_shape = out.shape.to_vec();
        by_size!(x.dtype, T => g::broadcast_to(x.data::<T>()?, x.shape, &out_shape, out.data::<T>()?))
    }
}

fn prepare_broadcast_to(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let d = movable_dtype(ctx, 0)?;
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    let shape = ctx
        .const_ints(1)?
        .into_iter()
        .map(|v| usize::try_from(v).map_err(|_| ctx.invalid(format!("negative dimension {v}"))))
        .collect::<Result<Vec<_>, _>>()?;
    crate::kernels::broadcast::BroadcastIndex::new(&shape, [&ctx.input(0)?.shape[..]])
        .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(shape, BroadcastToKernel))
}

#[derive(Debug)]
struct ZerosKernel;

impl Kernel for ZerosKernel {
    fn eval(
        &self,
        _inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        result(outputs, 0)?.bytes.fill(0);
        Ok(())
    }
}

fn prepare_zeros_like(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let d = ctx.expect_input_dtype(0, &[DType::F32, DType::I32, DType::I64])?;
    ctx.expect_output_dtype(0, d)?;
    Ok(Prepared::single(ctx.input(0)?.shape.clone(), ZerosKernel))
}

// ---------------------------------------------------------------------------------------------
// SCATTER_ND

#[derive(Debug)]
struct ScatterKernel {
    depth: usize,
}

impl Kernel for ScatterKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let idx = operand(inputs, 0)?;
        let upd = operand(inputs, 1)?;
        let out = result(outputs, 0)?;
        let indices: Vec<i64> = match idx.dtype {
            DType::I64 => idx.data::<i64>()?.to_vec(),
            _ => idx.data::<i32>()?.iter().map(|&v| i64::from(v)).collect(),
        };
        let shape = out.shape.to_vec();
        by_numeric!(upd.dtype, T => g::scatter_nd(&indices, self.depth, upd.data::<T>()?, &shape, out.data::<T>()?))
    }
}

fn prepare_scatter_nd(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 3, 1)?;
    ctx.expect_input_dtype(0, &[DType::I32, DType::I64])?;
    let d = ctx.expect_input_dtype(1, &[DType::F32, DType::I32, DType::I64])?;
    ctx.expect_output_dtype(0, d)?;
    let shape = ctx
        .const_ints(2)?
        .into_iter()
        .map(|v| usize::try_from(v).map_err(|_| ctx.invalid(format!("negative dimension {v}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let (idx, upd) = (ctx.input(0)?, ctx.input(1)?);
    let Some((&depth, lead)) = idx.shape.split_last() else {
        return Err(ctx.invalid("indices must have rank >= 1"));
    };
    let want: Vec<usize> = lead
        .iter()
        .chain(shape.get(depth..).unwrap_or(&[]))
        .copied()
        .collect();
    if depth == 0 || depth > shape.len() || upd.shape != want {
        return Err(ctx.invalid(format!(
            "updates {:?} do not fit indices {:?} into {shape:?}",
            upd.shape, idx.shape
        )));
    }
    Ok(Prepared::single(shape, ScatterKernel { depth }))
}

// ---------------------------------------------------------------------------------------------
// WHERE

/// Which elements of a WHERE condition are non-zero.
fn nonzero(dtype: DType, bytes: &[u8]) -> Result<Vec<bool>, KernelError> {
    Ok(match dtype {
        DType::F32 => cast::<f32>(bytes)?.iter().map(|&v| v != 0.0).collect(),
        DType::I32 => cast::<i32>(bytes)?.iter().map(|&v| v != 0).collect(),
        DType::I64 => cast::<i64>(bytes)?.iter().map(|&v| v != 0).collect(),
        DType::Bool | DType::I8 | DType::U8 => bytes.iter().map(|&v| v != 0).collect(),
        d => return Err(KernelError::Param(format!("WHERE on {d}"))),
    })
}

#[derive(Debug)]
struct WhereKernel;

impl Kernel for WhereKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let c = operand(inputs, 0)?;
        let nz = nonzero(c.dtype, c.bytes)?;
        let out = result(outputs, 0)?;
        let want = nz.iter().filter(|&&b| b).count() * c.shape.len();
        let o = out.data::<i64>()?;
        if o.len() != want {
            return Err(KernelError::Shape(format!(
                "WHERE output holds {} values, condition needs {want}",
                o.len()
            )));
        }
        g::where_coords(c.shape, nz.into_iter(), o);
        Ok(())
    }
}

fn prepare_where(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let c = ctx.input(0)?;
    ctx.expect_input_dtype(
        0,
        &[
            DType::Bool,
            DType::F32,
            DType::I32,
            DType::I64,
            DType::I8,
            DType::U8,
        ],
    )?;
    ctx.expect_output_dtype(0, DType::I64)?;
    let bytes = ctx.input_value(0)?;
    let count = nonzero(c.dtype, bytes)
        .map_err(|e| ctx.kernel_err(e))?
        .into_iter()
        .filter(|&b| b)
        .count();
    Ok(Prepared::single(vec![count, c.shape.len()], WhereKernel))
}

// ---------------------------------------------------------------------------------------------
// ADD_N / SIGN

#[derive(Debug)]
struct AddNKernel;

impl Kernel for AddNKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let first = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_numeric!(first.dtype, T => {
            let xs = (0..inputs.len())
                .map(|i| operand(inputs, i)?.data::<T>())
                .collect::<Result<Vec<_>, _>>()?;
            g::add_n(&xs, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_add_n(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    if ctx.inputs.is_empty() {
        return Err(ctx.invalid("needs at least one input"));
    }
    ctx.expect_arity(1, usize::MAX, 1)?;
    let d = ctx.expect_input_dtype(0, &[DType::F32, DType::I32, DType::I64])?;
    let shape = ctx.input(0)?.shape.clone();
    for i in 1..ctx.inputs.len() {
        let x = ctx.input(i)?;
        if x.dtype != d || x.shape != shape {
            return Err(ctx.invalid(format!(
                "input {i} is {}{:?}, input 0 {d}{shape:?}",
                x.dtype, x.shape
            )));
        }
    }
    ctx.expect_output_dtype(0, d)?;
    Ok(Prepared::single(shape, AddNKernel))
}

#[derive(Debug)]
struct SignKernel;

impl Kernel for SignKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        by_numeric!(x.dtype, T => {
            g::sign(x.data::<T>()?, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_sign(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let d = ctx.expect_input_dtype(0, &[DType::F32, DType::I32])?;
    ctx.expect_output_dtype(0, d)?;
    Ok(Prepared::single(ctx.input(0)?.shape.clone(), SignKernel))
}

// ---------------------------------------------------------------------------------------------
// REDUCE_ANY / REDUCE_ALL

#[derive(Debug)]
struct ReduceBoolKernel {
    keep_shape: Vec<usize>,
    any: bool,
}

impl Kernel for ReduceBoolKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        g::reduce_bool(x.bytes, x.shape, &self.keep_shape, self.any, out.bytes)
    }
}

fn prepare_reduce_bool(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    ctx.expect_input_dtype(0, &[DType::Bool])?;
    ctx.expect_output_dtype(0, DType::Bool)?;
    let shape = ctx.input(0)?.shape.clone();
    let axes = ctx.const_ints(1)?;
    let keep_dims = match &ctx.op.options {
        Some(O::ReducerOptions(o)) => o.keep_dims,
        _ => false,
    };
    let err = |e| ctx.kernel_err(e);
    let out = reduced_shape(&shape, &axes, keep_dims).map_err(err)?;
    let keep_shape = reduced_shape(&shape, &axes, true).map_err(err)?;
    let any = ctx.op.kind.builtin() == B::ReduceAny;
    Ok(Prepared::single(out, ReduceBoolKernel { keep_shape, any }))
}

// ---------------------------------------------------------------------------------------------
// LOCAL_RESPONSE_NORMALIZATION

#[derive(Debug)]
struct LrnKernel {
    radius: usize,
    bias: f32,
    alpha: f32,
    beta: f32,
}

impl Kernel for LrnKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = operand(inputs, 0)?;
        let depth = *x.shape.last().unwrap_or(&0);
        let out = result(outputs, 0)?;
        g::local_response_norm(
            x.data::<f32>()?,
            depth,
            self.radius,
            self.bias,
            self.alpha,
            self.beta,
            out.data::<f32>()?,
        );
        Ok(())
    }
}

fn prepare_lrn(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    ctx.expect_input_dtype(0, &[DType::F32])?;
    ctx.expect_output_dtype(0, DType::F32)?;
    let shape = ctx.input(0)?.shape.clone();
    if shape.len() != 4 {
        return Err(ctx.invalid(format!("input must be 4-D, is {shape:?}")));
    }
    let Some(O::LocalResponseNormalizationOptions(o)) = &ctx.op.options else {
        return Err(ctx.invalid("missing LocalResponseNormalizationOptions"));
    };
    let radius = usize::try_from(o.radius)
        .map_err(|_| ctx.invalid(format!("radius {} is negative", o.radius)))?;
    Ok(Prepared::single(
        shape,
        LrnKernel {
            radius,
            bias: o.bias,
            alpha: o.alpha,
            beta: o.beta,
        },
    ))
}
