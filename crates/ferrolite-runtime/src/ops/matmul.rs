//! Glue for the matrix products FULLY_CONNECTED and BATCH_MATMUL (float32).
//!
//! FULLY_CONNECTED takes `(input, weights [units, depth], bias?)` with `FullyConnectedOptions`
//! (fused activation, `keep_num_dims`); only the DEFAULT weights format exists for float, so the
//! shuffled int8 format is reported as unsupported. Without `keep_num_dims` the input is flattened
//! to `[elements / depth, depth]` and the output is `[elements / depth, units]`, as in TFLite.
//! BATCH_MATMUL takes `(lhs, rhs)` with `BatchMatMulOptions` `adj_x` / `adj_y` and broadcasts the
//! batch dims. Quantized and dynamic-range (int8 weights, float input) forms are unsupported for
//! now; absent options mean the schema defaults.

use super::conv::{bias_len, expect_float, input_f32, optional_f32, output_f32};
use super::{activation, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::matmul::{self, BatchMatMulParams, FullyConnectedParams};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{
    ActivationFunctionType, BuiltinOperator as B, BuiltinOptions as O,
    FullyConnectedOptionsWeightsFormat as WeightsFormat,
};

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    r.add(B::FullyConnected, 13, prepare_fully_connected);
    r.add(B::BatchMatmul, 4, prepare_batch_matmul);
}

/// FULLY_CONNECTED bound to its options and shapes.
#[derive(Debug)]
struct FullyConnectedKernel {
    params: FullyConnectedParams,
    input_len: usize,
    weights_shape: [usize; 2],
    output_len: usize,
}

fn prepare_fully_connected(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    let (fused, format, keep_num_dims) = match &ctx.op.options {
        Some(O::FullyConnectedOptions(o)) => (
            o.fused_activation_function,
            o.weights_format,
            o.keep_num_dims,
        ),
        _ => (ActivationFunctionType::None, WeightsFormat::Default, false),
    };
    if format != WeightsFormat::Default {
        return Err(ctx.unsupported(format!(
            "weights format {format:?} is not supported (only DEFAULT)"
        )));
    }
    ctx.expect_arity(2, 3, 1)?;
    expect_float(ctx, &[0], &[1])?;
    let params = FullyConnectedParams {
        activation: activation(fused),
        keep_num_dims,
    };
    let input = ctx.input(0)?;
    let weights = ctx.input(1)?;
    let output_shape = matmul::fully_connected_output_shape(
        &params,
        &input.shape,
        &weights.shape,
        bias_len(ctx, 2)?,
    )
    .map_err(|e| ctx.kernel_err(e))?;
    // The shape function accepted the weights, so they are 2-D.
    let weights_shape = [weights.shape[0], weights.shape[1]];
    Ok(Prepared::single(
        output_shape.clone(),
        FullyConnectedKernel {
            params,
            input_len: input.len(),
            weights_shape,
            output_len: output_shape.iter().product(),
        },
    ))
}

impl Kernel for FullyConnectedKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let [units, depth] = self.weights_shape;
        let input = input_f32(inputs, 0, self.input_len)?;
        let weights = input_f32(inputs, 1, units * depth)?;
        let bias = optional_f32(inputs, 2, units)?;
        let out = output_f32(outputs, self.output_len)?;
        matmul::fully_connected(&self.params, input, weights, self.weights_shape, bias, out);
        Ok(())
    }
}

/// BATCH_MATMUL bound to its options and shapes.
#[derive(Debug)]
struct BatchMatMulKernel {
    params: BatchMatMulParams,
    lhs_shape: Vec<usize>,
    rhs_shape: Vec<usize>,
    output_len: usize,
}

fn prepare_batch_matmul(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    expect_float(ctx, &[0], &[1])?;
    let params = match &ctx.op.options {
        Some(O::BatchMatMulOptions(o)) => BatchMatMulParams {
            adj_x: o.adj_x,
            adj_y: o.adj_y,
        },
        _ => BatchMatMulParams::default(),
    };
    let lhs_shape = ctx.input(0)?.shape.clone();
    let rhs_shape = ctx.input(1)?.shape.clone();
    let output_shape = matmul::batch_matmul_output_shape(&params, &lhs_shape, &rhs_shape)
        .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        output_shape.clone(),
        BatchMatMulKernel {
            params,
            lhs_shape,
            rhs_shape,
            output_len: output_shape.iter().product(),
        },
    ))
}

impl Kernel for BatchMatMulKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let lhs = input_f32(inputs, 0, self.lhs_shape.iter().product())?;
        let rhs = input_f32(inputs, 1, self.rhs_shape.iter().product())?;
        let out = output_f32(outputs, self.output_len)?;
        matmul::batch_matmul(
            &self.params,
            lhs,
            &self.lhs_shape,
            rhs,
            &self.rhs_shape,
            out,
        );
        Ok(())
    }
}
