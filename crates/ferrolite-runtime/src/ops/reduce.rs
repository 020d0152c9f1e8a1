//! Glue for axis reductions (MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD) and ARG_MAX /
//! ARG_MIN.
//!
//! The axes come from the second input, which must be known before `invoke` (a constant or a
//! folded value); `keep_dims` comes from `ReducerOptions` (absent options mean `false`). The
//! reductions run on float32, int32 and int64; REDUCE_MAX/REDUCE_MIN also take int8/uint8/int16
//! when input and output share one quantization (the max of raw values is then exact), while
//! other quantized reductions are reported as unsupported. ARG_MAX/ARG_MIN take one axis and write
//! int32 or int64 indices: the type comes from `ArgMaxOptions`/`ArgMinOptions.output_type` when
//! that names an integer type, else from the declared output; inputs may be float32, int32, int64,
//! int8, uint8, int16 or bool (raw order is exact for quantized values).

use super::{Kernel, OperandInfo, OutputDecl, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::element::Numeric;
use crate::kernels::reduce;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O, TensorType};
use ferrolite_model::DType;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    r.add(B::Mean, 3, prepare_reduce);
    r.add(B::Sum, 2, prepare_reduce);
    r.add(B::ReduceProd, 2, prepare_reduce);
    r.add(B::ReduceMax, 3, prepare_reduce);
    r.add(B::ReduceMin, 3, prepare_reduce);
    r.add(B::ArgMax, 3, prepare_arg);
    r.add(B::ArgMin, 3, prepare_arg);
}

/// `(scale, zero_point)` lists of a tensor, empty when it is not quantized.
fn quant_key(q: Option<&ferrolite_model::Quantization>) -> (&[f32], &[i64]) {
    match q {
        Some(q) if !q.scale.is_empty() => (&q.scale, &q.zero_point),
        _ => (&[], &[]),
    }
}

/// True when input and output carry the same quantization (or none).
fn same_quant(input: &OperandInfo<'_>, output: &OutputDecl<'_>) -> bool {
    quant_key(input.quant) == quant_key(output.quant)
}

/// Which reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReduceOp {
    Mean,
    Sum,
    Prod,
    Max,
    Min,
}

fn prepare_reduce(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let op = match ctx.op.kind.builtin() {
        B::Mean => ReduceOp::Mean,
        B::Sum => ReduceOp::Sum,
        B::ReduceProd => ReduceOp::Prod,
        B::ReduceMax => ReduceOp::Max,
        _ => ReduceOp::Min,
    };
    let keep_dims = match &ctx.op.options {
        Some(O::ReducerOptions(o)) => o.keep_dims,
        _ => false,
    };
    let input = ctx.input(0)?;
    let raw_order_ok =
        matches!(op, ReduceOp::Max | ReduceOp::Min) && same_quant(input, ctx.output(0)?);
    if matches!(input.dtype, DType::I8 | DType::U8 | DType::I16) && !raw_order_ok {
        return Err(ctx.unsupported("quantized reductions are not implemented for this operator"));
    }
    let dtype = ctx.expect_input_dtype(
        0,
        &[
            DType::F32,
            DType::I32,
            DType::I64,
            DType::I8,
            DType::U8,
            DType::I16,
        ],
    )?;
    ctx.expect_output_dtype(0, dtype)?;
    let axes = ctx.const_ints(1)?;
    let shape =
        reduce::reduced_shape(&input.shape, &axes, keep_dims).map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(shape, ReduceKernel { op, axes }))
}

/// Runs one reduction over fixed axes.
#[derive(Debug)]
struct ReduceKernel {
    op: ReduceOp,
    axes: Vec<i64>,
}

impl ReduceKernel {
    fn eval_typed<T: Numeric + bytemuck::Pod>(
        &self,
        x: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (xd, o, axes) = (x.data::<T>()?, out.data::<T>()?, &self.axes[..]);
        match self.op {
            ReduceOp::Mean => reduce::mean(xd, x.shape, axes, o),
            ReduceOp::Sum => reduce::sum(xd, x.shape, axes, o),
            ReduceOp::Prod => reduce::reduce_prod(xd, x.shape, axes, o),
            ReduceOp::Max => reduce::reduce_max(xd, x.shape, axes, o),
            ReduceOp::Min => reduce::reduce_min(xd, x.shape, axes, o),
        }
    }
}

impl Kernel for ReduceKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (Some(Some(x)), [out]) = (inputs.first(), outputs) else {
            return Err(KernelError::Param(
                "reduction needs an input and one output".into(),
            ));
        };
        match x.dtype {
            DType::F32 => self.eval_typed::<f32>(x, out),
            DType::I32 => self.eval_typed::<i32>(x, out),
            DType::I64 => self.eval_typed::<i64>(x, out),
            DType::I8 => self.eval_typed::<i8>(x, out),
            DType::U8 => self.eval_typed::<u8>(x, out),
            DType::I16 => self.eval_typed::<i16>(x, out),
            d => Err(KernelError::Param(format!("unsupported dtype {d}"))),
        }
    }
}

fn prepare_arg(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let is_max = ctx.op.kind.builtin() == B::ArgMax;
    let option_type = match &ctx.op.options {
        Some(O::ArgMaxOptions(o)) => Some(o.output_type),
        Some(O::ArgMinOptions(o)) => Some(o.output_type),
        _ => None,
    };
    let out_dtype = match option_type {
        Some(TensorType::Int32) => DType::I32,
        Some(TensorType::Int64) => DType::I64,
        _ => ctx.output(0)?.dtype,
    };
    if !matches!(out_dtype, DType::I32 | DType::I64) {
        return Err(ctx.invalid(format!(
            "output type must be int32 or int64, is {out_dtype}"
        )));
    }
    ctx.expect_output_dtype(0, out_dtype)?;
    ctx.expect_input_dtype(
        0,
        &[
            DType::F32,
            DType::I32,
            DType::I64,
            DType::I8,
            DType::U8,
            DType::I16,
            DType::Bool,
        ],
    )?;
    let axes = ctx.const_ints(1)?;
    let &[axis] = &axes[..] else {
        return Err(ctx.invalid(format!(
            "axis must have exactly one element, has {}",
            axes.len()
        )));
    };
    let input = ctx.input(0)?;
    let shape = reduce::arg_output_shape(&input.shape, axis).map_err(|e| ctx.kernel_err(e))?;
    if input.is_empty() && shape.iter().product::<usize>() > 0 {
        return Err(ctx.invalid("cannot take ARG_MAX/ARG_MIN over an empty axis"));
    }
    Ok(Prepared::single(shape, ArgKernel { is_max, axis }))
}

/// Runs ARG_MAX (`is_max`) or ARG_MIN along one axis.
#[derive(Debug)]
struct ArgKernel {
    is_max: bool,
    axis: i64,
}

impl ArgKernel {
    fn eval_index<T: PartialOrd + bytemuck::Pod, I: TryFrom<usize> + bytemuck::Pod>(
        &self,
        x: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (xd, o) = (x.data::<T>()?, out.data::<I>()?);
        if self.is_max {
            reduce::arg_max(xd, x.shape, self.axis, o)
        } else {
            reduce::arg_min(xd, x.shape, self.axis, o)
        }
    }

    fn eval_typed<T: PartialOrd + bytemuck::Pod>(
        &self,
        x: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        match out.dtype {
            DType::I32 => self.eval_index::<T, i32>(x, out),
            DType::I64 => self.eval_index::<T, i64>(x, out),
            d => Err(KernelError::Param(format!("unsupported index dtype {d}"))),
        }
    }
}

impl Kernel for ArgKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (Some(Some(x)), [out]) = (inputs.first(), outputs) else {
            return Err(KernelError::Param(
                "ARG_MAX/ARG_MIN needs an input and one output".into(),
            ));
        };
        match x.dtype {
            DType::F32 => self.eval_typed::<f32>(x, out),
            DType::I32 => self.eval_typed::<i32>(x, out),
            DType::I64 => self.eval_typed::<i64>(x, out),
            DType::I8 => self.eval_typed::<i8>(x, out),
            DType::U8 | DType::Bool => self.eval_typed::<u8>(x, out),
            DType::I16 => self.eval_typed::<i16>(x, out),
            d => Err(KernelError::Param(format!("unsupported dtype {d}"))),
        }
    }
}
