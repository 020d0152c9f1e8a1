//! Glue for the 2-D pooling ops AVERAGE_POOL_2D, MAX_POOL_2D and L2_POOL_2D (NHWC).
//!
//! All three take one 4-D input and `Pool2DOptions` (padding, strides, filter size, fused
//! activation). Absent options mean the schema defaults, whose zero strides and filter sizes are
//! rejected (TFLite's zero-initialised parameters fail the same way). All run on float32;
//! AVERAGE_POOL_2D and MAX_POOL_2D also on int8, uint8 and int16, where TFLite requires the input
//! and output to share scale and zero point (pooling then works on the raw integers and the fused
//! activation becomes a clamp in the quantized domain).

use super::conv::{expect_float, input_f32, output_f32, positive, shape4};
use super::quant::{input_data, input_params, output_data, output_params, same_scale};
use super::{activation, padding, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::pool::{self, Pool2DParams};
use crate::kernels::quant::pool::{self as qpool, QuantPoolParams};
use crate::kernels::quant::QuantElem;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::AveragePool2d, 3, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::MaxPool2d, 3, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::L2Pool2d, 1, prepare).supports(&[F32, F16Weights]);
}

/// Which pooling reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoolOp {
    Average,
    Max,
    L2,
}

/// A pooling op bound to its options and shapes.
#[derive(Debug)]
struct PoolKernel {
    op: PoolOp,
    params: Pool2DParams,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
}

fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let op = match ctx.op.kind.builtin() {
        B::AveragePool2d => PoolOp::Average,
        B::MaxPool2d => PoolOp::Max,
        _ => PoolOp::L2,
    };
    let default = tflite::Pool2DOptions::default();
    let o = match &ctx.op.options {
        Some(O::Pool2DOptions(o)) => o,
        _ => &default,
    };
    let params = Pool2DParams {
        padding: padding(o.padding),
        stride_h: positive(ctx, o.stride_h, "stride_h")?,
        stride_w: positive(ctx, o.stride_w, "stride_w")?,
        filter_h: positive(ctx, o.filter_height, "filter_height")?,
        filter_w: positive(ctx, o.filter_width, "filter_width")?,
        activation: activation(o.fused_activation_function),
    };
    let input_shape = shape4(ctx, 0, "input")?;
    let output_shape =
        pool::pool2d_output_shape(&params, input_shape).map_err(|e| ctx.kernel_err(e))?;
    let dtype = ctx.input(0)?.dtype;
    if matches!(dtype, DType::I8 | DType::U8 | DType::I16) {
        return prepare_quantized(ctx, op, &params, input_shape, output_shape);
    }
    expect_float(ctx, &[0], &[])?;
    Ok(Prepared::single(
        output_shape.to_vec(),
        PoolKernel {
            op,
            params,
            input_shape,
            output_shape,
        },
    ))
}

impl Kernel for PoolKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_f32(inputs, 0, self.input_shape.iter().product())?;
        let out = output_f32(outputs, self.output_shape.iter().product())?;
        let run = match self.op {
            PoolOp::Average => pool::average_pool2d,
            PoolOp::Max => pool::max_pool2d,
            PoolOp::L2 => pool::l2_pool2d,
        };
        run(
            &self.params,
            input,
            self.input_shape,
            out,
            self.output_shape,
        );
        Ok(())
    }
}

/// Prepares an integer AVERAGE_POOL_2D / MAX_POOL_2D.
fn prepare_quantized(
    ctx: &PrepareCtx<'_>,
    op: PoolOp,
    geometry: &Pool2DParams,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(0)?.dtype;
    if op == PoolOp::L2 {
        return Err(ctx.unsupported(format!("quantized ({dtype}) L2_POOL_2D has no kernel")));
    }
    ctx.expect_output_dtype(0, dtype)?;
    let input = input_params(ctx, 0)?;
    let output = output_params(ctx, 0)?;
    if !same_scale(input.scale, output.scale) || input.zero_point != output.zero_point {
        return Err(ctx.invalid(format!(
            "input and output must share scale and zero point, have ({}, {}) and ({}, {})",
            input.scale, input.zero_point, output.scale, output.zero_point
        )));
    }
    let params = match dtype {
        DType::I8 => qpool::pool_params::<i8>(geometry, output),
        DType::U8 => qpool::pool_params::<u8>(geometry, output),
        _ => qpool::pool_params::<i16>(geometry, output),
    };
    Ok(Prepared::single(
        output_shape.to_vec(),
        QuantPoolKernel {
            max: op == PoolOp::Max,
            dtype,
            params,
            input_shape,
            output_shape,
        },
    ))
}

/// An integer pooling op bound to its parameters and shapes.
#[derive(Debug)]
struct QuantPoolKernel {
    max: bool,
    dtype: DType,
    params: QuantPoolParams,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
}

impl QuantPoolKernel {
    fn eval_typed<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_data::<T>(inputs, 0, self.input_shape.iter().product())?;
        let out = output_data::<T>(outputs, self.output_shape.iter().product())?;
        let run = if self.max {
            qpool::max_pool2d::<T>
        } else {
            qpool::average_pool2d::<T>
        };
        run(
            &self.params,
            input,
            self.input_shape,
            out,
            self.output_shape,
        );
        Ok(())
    }
}

impl Kernel for QuantPoolKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::I8 => self.eval_typed::<i8>(inputs, outputs),
            DType::U8 => self.eval_typed::<u8>(inputs, outputs),
            _ => self.eval_typed::<i16>(inputs, outputs),
        }
    }
}
