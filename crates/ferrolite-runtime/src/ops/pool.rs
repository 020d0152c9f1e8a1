//! Glue for the 2-D pooling ops AVERAGE_POOL_2D, MAX_POOL_2D and L2_POOL_2D (float32, NHWC).
//!
//! All three take one 4-D input and `Pool2DOptions` (padding, strides, filter size, fused
//! activation). Absent options mean the schema defaults, whose zero strides and filter sizes are
//! rejected (TFLite's zero-initialised parameters fail the same way). Quantized pooling is reported
//! as unsupported for now.

use super::conv::{expect_float, input_f32, output_f32, positive, shape4};
use super::{activation, padding, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::pool::{self, Pool2DParams};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions as O};

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    r.add(B::AveragePool2d, 3, prepare);
    r.add(B::MaxPool2d, 3, prepare);
    r.add(B::L2Pool2d, 1, prepare);
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
    expect_float(ctx, &[0], &[])?;
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
