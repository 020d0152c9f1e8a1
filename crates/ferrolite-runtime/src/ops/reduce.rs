//! Glue for axis reductions (MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD) and ARG_MAX /
//! ARG_MIN.
//!
//! The axes come from the second input, which must be known before `invoke` (a constant or a
//! folded value); `keep_dims` comes from `ReducerOptions` (absent options mean `false`). The
//! reductions run on float32, int32 and int64; REDUCE_MAX/REDUCE_MIN also take int8/uint8/int16
//! when input and output share one quantization (the max of raw values is then exact). Quantized
//! MEAN (int8/uint8/int16) follows LiteRT: the specialised height/width kernel for a rank-4
//! int8/uint8 input reduced over axes {1, 2} with `keep_dims`, else the general integer path;
//! quantized SUM follows LiteRT's optimized kernel (float rescaling of the raw sum, no clamp).
//! Quantized REDUCE_PROD is reported as unsupported. ARG_MAX/ARG_MIN take one axis and write
//! int32 or int64 indices: the type comes from `ArgMaxOptions`/`ArgMinOptions.output_type` when
//! that names an integer type, else from the declared output; inputs may be float32, int32, int64,
//! int8, uint8, int16 or bool (raw order is exact for quantized values).

use super::arith::NUMERIC_DTYPES;
use super::quant::{input_params, output_params, params_err, quant_key};
use super::shape::{operand, result};
use super::{Kernel, OperandInfo, OutputDecl, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::element::Numeric;
use crate::kernels::quant::reduce::{self as qreduce, MeanHwParams, MeanParams, SumParams};
use crate::kernels::quant::QuantElem;
use crate::kernels::reduce;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O, TensorType};
use ferrolite_model::DType;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Mean, 3, prepare_reduce)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Sum, 2, prepare_reduce)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::ReduceProd, 2, prepare_reduce)
        .supports(&[F32, F16Weights]);
    r.add(B::ReduceMax, 3, prepare_reduce)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: input and output must share one scale and zero point");
    r.add(B::ReduceMin, 3, prepare_reduce)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: input and output must share one scale and zero point");
    r.add(B::ArgMax, 3, prepare_arg)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::ArgMin, 3, prepare_arg)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
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
        if matches!(op, ReduceOp::Mean | ReduceOp::Sum) {
            return prepare_quantized(ctx, op, keep_dims);
        }
        return Err(ctx.unsupported(
            "quantized REDUCE_PROD (and MAX/MIN with requantization) is not implemented",
        ));
    }
    let dtype = ctx.expect_input_dtype(0, &NUMERIC_DTYPES)?;
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
        let (x, out) = (operand(inputs, 0)?, result(outputs, 0)?);
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

/// Which integer MEAN / SUM kernel runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum QuantReduce {
    /// LiteRT's rank-4 height/width MEAN.
    MeanHw(MeanHwParams),
    /// The general MEAN.
    Mean(MeanParams),
    /// LiteRT's quantized SUM.
    Sum(SumParams),
}

/// Prepares a quantized MEAN or SUM.
fn prepare_quantized(
    ctx: &PrepareCtx<'_>,
    op: ReduceOp,
    keep_dims: bool,
) -> Result<Prepared, RuntimeError> {
    let input = ctx.input(0)?;
    let dtype = input.dtype;
    ctx.expect_output_dtype(0, dtype)?;
    let (qin, qout) = (input_params(ctx, 0)?, output_params(ctx, 0)?);
    let axes = ctx.const_ints(1)?;
    let shape =
        reduce::reduced_shape(&input.shape, &axes, keep_dims).map_err(|e| ctx.kernel_err(e))?;
    let resolved = reduce::resolve_axes(input.shape.len(), &axes).map_err(|e| ctx.kernel_err(e))?;
    let count: usize = resolved.iter().map(|&a| input.shape[a]).product();
    if input.is_empty() {
        return Err(ctx.unsupported("quantized MEAN/SUM of an empty tensor"));
    }
    let mut sorted = resolved.clone();
    sorted.sort_unstable();
    let kernel = if op == ReduceOp::Sum {
        QuantReduce::Sum(qreduce::sum_params(qin, qout, count))
    } else if keep_dims
        && dtype != DType::I16
        && input.shape.len() == 4
        && axes.len() == 2
        && sorted == [1, 2]
    {
        QuantReduce::MeanHw(qreduce::mean_hw_params(qin, qout, count))
    } else {
        QuantReduce::Mean(
            qreduce::mean_params(qin, qout, count, false).map_err(|e| params_err(ctx, e))?,
        )
    };
    Ok(Prepared::single(
        shape,
        QuantReduceKernel {
            kernel,
            axes: resolved,
        },
    ))
}

/// A quantized MEAN / SUM over fixed, resolved axes.
#[derive(Debug)]
struct QuantReduceKernel {
    kernel: QuantReduce,
    axes: Vec<usize>,
}

impl QuantReduceKernel {
    fn eval_typed<T: QuantElem + bytemuck::Pod>(
        &self,
        x: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (xd, o) = (x.data::<T>()?, out.data::<T>()?);
        let kept: usize = (0..x.shape.len())
            .filter(|d| !self.axes.contains(d))
            .map(|d| x.shape[d])
            .product();
        if xd.len() != x.len() || o.len() != kept {
            return Err(KernelError::Shape(format!(
                "reduction of {:?} into {} values",
                x.shape,
                o.len()
            )));
        }
        match &self.kernel {
            QuantReduce::MeanHw(p) => {
                let s = x.shape;
                qreduce::mean_hw(p, xd, [s[0], s[1], s[2], s[3]], o);
            }
            QuantReduce::Mean(p) => qreduce::mean(p, xd, x.shape, &self.axes, o),
            QuantReduce::Sum(p) => qreduce::sum(p, xd, x.shape, &self.axes, o),
        }
        Ok(())
    }
}

impl Kernel for QuantReduceKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (x, out) = (operand(inputs, 0)?, result(outputs, 0)?);
        match x.dtype {
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
        let (x, out) = (operand(inputs, 0)?, result(outputs, 0)?);
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
