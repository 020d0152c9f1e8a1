//! Quantized BATCH_MATMUL glue: full-integer int8 and dynamic-range (hybrid).
//!
//! int8: both operands int8 with per-tensor scales and zero points (TFLite quantizes a constant
//! rhs per tensor too, with a zero point), int8 output; the multiplier is computed here as for
//! FULLY_CONNECTED but applied with gemmlowp's double rounding, which is what LiteRT's kernel does
//! (measured: ruy's x86 rounding differs on ties). Hybrid: float lhs, int8 rhs with one scale (TFLite's per-channel hybrid form
//! is reported as unsupported; TF's converter emits per-tensor), float output; the rhs's
//! transposed copy and row sums are cached when it is constant.

use super::super::quant::{input_data, input_params, output_data, output_params, params_err};
use super::super::{Kernel, PrepareCtx, Prepared};
use crate::error::RuntimeError;
use crate::kernels::common::{Activation, KernelError};
use crate::kernels::matmul::BatchMatMulParams;
use crate::kernels::quant::batch_matmul::{
    batch_matmul_i8, hybrid_batch_matmul, BatchMatMulLayout, HybridBmmParams, HybridBmmScratch,
    QuantBmmScratch,
};
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::fully_connected::{fully_connected_params, QuantFcParams};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::DType;
use std::sync::Mutex;

/// Output shape and layout of a validated BATCH_MATMUL.
fn layout(
    ctx: &PrepareCtx<'_>,
    params: &BatchMatMulParams,
) -> Result<(Vec<usize>, BatchMatMulLayout), RuntimeError> {
    let (lhs, rhs) = (&ctx.input(0)?.shape, &ctx.input(1)?.shape);
    let shape = crate::kernels::matmul::batch_matmul_output_shape(params, lhs, rhs)
        .map_err(|e| ctx.kernel_err(e))?;
    let layout = BatchMatMulLayout::new(params, lhs, rhs).map_err(|e| ctx.kernel_err(e))?;
    Ok((shape, layout))
}

/// Prepares an int8 BATCH_MATMUL.
pub(super) fn prepare_int8(
    ctx: &PrepareCtx<'_>,
    params: &BatchMatMulParams,
) -> Result<Prepared, RuntimeError> {
    let rhs = ctx.input(1)?;
    if rhs.dtype != DType::I8 {
        return Err(ctx.unsupported(format!(
            "int8 lhs with {} rhs (supported: int8 x int8 -> int8)",
            rhs.dtype
        )));
    }
    let out_dtype = ctx.output(0)?.dtype;
    if out_dtype != DType::I8 {
        return Err(ctx.unsupported(format!(
            "int8 BATCH_MATMUL with {out_dtype} output (supported: int8)"
        )));
    }
    let lhs_q = input_params(ctx, 0)?;
    let rhs_q = input_params(ctx, 1)?;
    let out_q = output_params(ctx, 0)?;
    let (shape, layout) = layout(ctx, params)?;
    let mut qparams = fully_connected_params::<i8, i8>(
        lhs_q,
        &[rhs_q.scale],
        rhs_q.zero_point,
        out_q,
        Activation::None,
        layout.n,
    )
    .map_err(|e| params_err(ctx, e))?;
    // Measured against LiteRT 2.21 (tests/fixtures/hybrid/int8_bmm_*): its int8 BATCH_MATMUL
    // applies the multiplier with gemmlowp's double rounding on every path, not ruy's x86 single
    // rounding as int8 FULLY_CONNECTED does (4 of the 8 fixtures have ties that tell them apart).
    qparams.rounding = Rounding::Double;
    let lens = [ctx.input(0)?.len(), rhs.len(), shape.iter().product()];
    Ok(Prepared::single(
        shape,
        Int8BmmKernel {
            layout,
            params: qparams,
            lens,
            scratch: Mutex::new(QuantBmmScratch::default()),
        },
    ))
}

/// An int8 BATCH_MATMUL with its transpose scratch.
#[derive(Debug)]
struct Int8BmmKernel {
    layout: BatchMatMulLayout,
    params: QuantFcParams,
    /// Element counts of lhs, rhs and output.
    lens: [usize; 3],
    scratch: Mutex<QuantBmmScratch>,
}

impl Kernel for Int8BmmKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let lhs = input_data::<i8>(inputs, 0, self.lens[0])?;
        let rhs = input_data::<i8>(inputs, 1, self.lens[1])?;
        let out = output_data::<i8>(outputs, self.lens[2])?;
        // A poisoned lock only means another invoke panicked mid-way; the buffers are scratch.
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        batch_matmul_i8(&self.layout, &self.params, lhs, rhs, &mut scratch, out);
        Ok(())
    }
}

/// Prepares a dynamic-range BATCH_MATMUL (float lhs, int8 rhs).
pub(super) fn prepare_hybrid(
    ctx: &PrepareCtx<'_>,
    params: &BatchMatMulParams,
    asymmetric: bool,
) -> Result<Prepared, RuntimeError> {
    ctx.expect_output_dtype(0, DType::F32)?;
    let rhs = ctx.input(1)?;
    let q = rhs
        .quant
        .filter(|q| !q.scale.is_empty())
        .ok_or_else(|| ctx.invalid("int8 rhs has no quantization parameters"))?;
    if q.scale.len() != 1 {
        return Err(ctx.unsupported(format!(
            "dynamic-range BATCH_MATMUL with per-channel rhs ({} scales)",
            q.scale.len()
        )));
    }
    let filter_scale = q.scale[0];
    if !(filter_scale.is_finite() && filter_scale > 0.0) {
        return Err(ctx.invalid(format!("rhs has invalid scale {filter_scale}")));
    }
    let (shape, layout) = layout(ctx, params)?;
    let lens = [ctx.input(0)?.len(), rhs.len(), shape.iter().product()];
    let scratch = HybridBmmScratch::new(rhs.value.is_some());
    Ok(Prepared::single(
        shape,
        HybridBmmKernel {
            layout,
            params: HybridBmmParams {
                asymmetric,
                filter_scale,
            },
            lens,
            scratch: Mutex::new(scratch),
        },
    ))
}

/// A dynamic-range BATCH_MATMUL with its scratch (quantized rows, cached weights).
#[derive(Debug)]
struct HybridBmmKernel {
    layout: BatchMatMulLayout,
    params: HybridBmmParams,
    /// Element counts of lhs, rhs and output.
    lens: [usize; 3],
    scratch: Mutex<HybridBmmScratch>,
}

impl Kernel for HybridBmmKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let lhs = input_data::<f32>(inputs, 0, self.lens[0])?;
        let rhs = input_data::<i8>(inputs, 1, self.lens[1])?;
        let out = output_data::<f32>(outputs, self.lens[2])?;
        // A poisoned lock only means another invoke panicked mid-way; the buffers are scratch.
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        hybrid_batch_matmul(&self.layout, &self.params, lhs, rhs, &mut scratch, out);
        Ok(())
    }
}
