//! Glue for the matrix products FULLY_CONNECTED and BATCH_MATMUL.
//!
//! FULLY_CONNECTED takes `(input, weights [units, depth], bias?)` with `FullyConnectedOptions`
//! (fused activation, `keep_num_dims`, `asymmetric_quantize_inputs`); only the DEFAULT weights
//! format is supported (the shuffled int8 format is reported as unsupported). Without
//! `keep_num_dims` the input is flattened to `[elements / depth, depth]` and the output is
//! `[elements / depth, units]`, as in TFLite. It runs on float32; int8 (per-tensor or per-channel
//! weights, int32 bias), legacy uint8 and int16x8 (int64 or int32 bias) with multipliers computed
//! at prepare time (int16x8 picks LiteRT's f64-scaled reference kernel or its ruy path by TFLite's
//! rule, see `kernels::quant::fc16x8`); and dynamic-range (float input, int8 weights, float bias),
//! which quantizes each batch row at run time.
//!
//! BATCH_MATMUL takes `(lhs, rhs)` with `BatchMatMulOptions` `adj_x` / `adj_y` and broadcasts the
//! batch dims; it runs on float32 here and, in `bmm_quant`, on int8 (per-tensor operands) and
//! dynamic-range (float lhs, int8 per-tensor rhs, `asymmetric_quantize_inputs`). Absent options
//! mean the schema defaults.
//!
//! Constant FULLY_CONNECTED weights (float32, int8, uint8 and dynamic-range int8) are packed for
//! the SIMD GEMMs at prepare time and reported through `Kernel::persistent_bytes`.

mod bmm_quant;

use super::conv::{bias_len, expect_float, input_f32, optional_f32, output_f32};
use super::quant::{
    bias_i64, check_bias, filter_quant, input_data, input_params, optional_data, output_data,
    output_params, params_err,
};
use super::{activation, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::{activation_range, KernelError};
use crate::kernels::matmul::{self, BatchMatMulParams, FullyConnectedParams};
use crate::kernels::quant::fc16x8;
use crate::kernels::quant::fully_connected::{
    self as qfc, HybridFcParams, HybridFcScratch, QuantFcParams,
};
use crate::kernels::quant::QuantElem;
use crate::kernels::simd::conv_f32::{self, PackedF32};
use crate::kernels::simd::gemm_i8::{self, PackedI8};
use crate::kernels::simd::{self, gemm_f32::Epilogue};
use crate::tensor::cast;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{
    ActivationFunctionType, BuiltinOperator as B, BuiltinOptions as O,
    FullyConnectedOptionsWeightsFormat as WeightsFormat, TensorType,
};
use ferrolite_model::DType;
use std::sync::Mutex;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::FullyConnected, 13, prepare_fully_connected)
        .supports(&[F32, Int8, UInt8, Int16x8, Hybrid, F16Weights])
        .note("uint8: per-tensor weights only")
        .note("hybrid: float result within 1.4e-7 relative of LiteRT, not bit-identical (float accumulation order); the int8 parts are exact");
    r.add(B::BatchMatmul, 4, prepare_batch_matmul)
        .supports(&[F32, Int8, Hybrid, F16Weights])
        .note("hybrid: one (per-tensor) rhs scale only")
        .note("hybrid: float result within 1.4e-7 relative of LiteRT, not bit-identical (float accumulation order); the int8 parts are exact");
}

/// FULLY_CONNECTED bound to its options and shapes.
#[derive(Debug)]
struct FullyConnectedKernel {
    params: FullyConnectedParams,
    input_len: usize,
    weights_shape: [usize; 2],
    output_len: usize,
    /// Constant weights packed for the GEMM at prepare time.
    packed: Option<PackedF32>,
}

fn prepare_fully_connected(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    let (fused, format, keep_num_dims, asymmetric) = match &ctx.op.options {
        Some(O::FullyConnectedOptions(o)) => (
            o.fused_activation_function,
            o.weights_format,
            o.keep_num_dims,
            o.asymmetric_quantize_inputs,
        ),
        _ => (
            ActivationFunctionType::None,
            WeightsFormat::Default,
            false,
            false,
        ),
    };
    if format != WeightsFormat::Default {
        return Err(ctx.unsupported(format!(
            "weights format {format:?} is not supported (only DEFAULT)"
        )));
    }
    ctx.expect_arity(2, 3, 1)?;
    let params = FullyConnectedParams {
        activation: activation(fused),
        keep_num_dims,
    };
    let input = ctx.input(0)?;
    let weights = ctx.input(1)?;
    let shape_of = |bias: Option<usize>| {
        matmul::fully_connected_output_shape(&params, &input.shape, &weights.shape, bias)
            .map_err(|e| ctx.kernel_err(e))
    };
    match (input.dtype, weights.dtype) {
        (DType::I8 | DType::U8 | DType::I16, _) => {
            let output_shape = shape_of(None)?;
            prepare_fc_quantized(ctx, &params, output_shape)
        }
        (DType::F32, DType::I8) => {
            let output_shape = shape_of(bias_len(ctx, 2)?)?;
            prepare_fc_hybrid(ctx, &params, asymmetric, output_shape)
        }
        _ => {
            expect_float(ctx, &[0], &[1])?;
            let output_shape = shape_of(bias_len(ctx, 2)?)?;
            // The shape function accepted the weights, so they are 2-D.
            let weights_shape = [weights.shape[0], weights.shape[1]];
            let batches = input.len() / weights_shape[1];
            let packed = weights
                .value
                .and_then(|bytes| cast::<f32>(bytes).ok())
                .and_then(|w| conv_f32::pack_fc(simd::level(), w, weights_shape, batches));
            Ok(Prepared::single(
                output_shape.clone(),
                FullyConnectedKernel {
                    params,
                    input_len: input.len(),
                    weights_shape,
                    output_len: output_shape.iter().product(),
                    packed,
                },
            ))
        }
    }
}

/// Prepares an integer FULLY_CONNECTED (int8/int8, uint8/uint8 or int16/int8).
fn prepare_fc_quantized(
    ctx: &PrepareCtx<'_>,
    params: &FullyConnectedParams,
    output_shape: Vec<usize>,
) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(0)?.dtype;
    let wtype = ctx.input(1)?.dtype;
    if !matches!(
        (dtype, wtype),
        (DType::I8, DType::I8) | (DType::U8, DType::U8) | (DType::I16, DType::I8)
    ) {
        return Err(ctx.unsupported(format!(
            "{dtype} input with {wtype} weights (supported: INT8/INT8, UINT8/UINT8, INT16/INT8)"
        )));
    }
    ctx.expect_output_dtype(0, dtype)?;
    let weights = ctx.input(1)?;
    let [units, depth] = [weights.shape[0], weights.shape[1]];
    let input = input_params(ctx, 0)?;
    let output = output_params(ctx, 0)?;
    let filter = filter_quant(ctx, 1, 0, units)?;
    if dtype == DType::U8 && filter.scales.len() > 1 {
        return Err(ctx.unsupported("uint8 FULLY_CONNECTED with per-channel weights"));
    }
    let bias_types: &[DType] = if dtype == DType::I16 {
        &[DType::I64, DType::I32]
    } else {
        &[DType::I32]
    };
    let bias_dtype = check_bias(ctx, 2, bias_types, input, &filter, output, units)?;
    let ruy_16x8 = dtype == DType::I16 && fc_16x8_runs_on_ruy(ctx, bias_dtype, filter.zero_point)?;
    let (scales, zp, act) = (&filter.scales[..], filter.zero_point, params.activation);
    let qparams = match dtype {
        DType::I8 => qfc::fully_connected_params::<i8, i8>(input, scales, zp, output, act, units),
        DType::U8 => qfc::fully_connected_params::<u8, u8>(input, scales, zp, output, act, units),
        _ => qfc::fully_connected_params::<i16, i8>(input, scales, zp, output, act, units),
    }
    .map_err(|e| params_err(ctx, e))?;
    Ok(Prepared::single(
        output_shape.clone(),
        QuantFcKernel {
            dtype,
            ruy_16x8,
            params: qparams,
            input_len: ctx.input(0)?.len(),
            weights_shape: [units, depth],
            output_len: output_shape.iter().product(),
            packed: pack_quant_fc(ctx, dtype, [units, depth])?,
        },
    ))
}

/// Which of LiteRT's two int16x8 FULLY_CONNECTED kernels runs (TFLite's `EvalQuantized` rule):
/// the ruy GEMM unless the bias is int64 or the options declare `quantized_bias_type` INT64 (or a
/// zero point is non-zero, which int16x8 does not allow anyway); otherwise the f64-scaled
/// reference kernel. Also TFLite's prepare check that a declared `quantized_bias_type` is INT32 or
/// INT64 and matches the bias tensor.
fn fc_16x8_runs_on_ruy(
    ctx: &PrepareCtx<'_>,
    bias: Option<DType>,
    filter_zero_point: i32,
) -> Result<bool, RuntimeError> {
    let declared = match &ctx.op.options {
        Some(O::FullyConnectedOptions(o)) => o.quantized_bias_type,
        _ => TensorType::Float32,
    };
    let declared = match declared {
        TensorType::Float32 => None,
        TensorType::Int32 => Some(DType::I32),
        TensorType::Int64 => Some(DType::I64),
        other => {
            return Err(ctx.invalid(format!(
                "quantized_bias_type {other:?} (expected INT32 or INT64)"
            )))
        }
    };
    if let (Some(d), Some(b)) = (declared, bias) {
        if d != b {
            return Err(ctx.invalid(format!("bias is {b} but quantized_bias_type declares {d}")));
        }
    }
    let zero_points = input_params(ctx, 0)?.zero_point != 0
        || output_params(ctx, 0)?.zero_point != 0
        || filter_zero_point != 0;
    Ok(!zero_points && bias != Some(DType::I64) && declared != Some(DType::I64))
}

/// An integer FULLY_CONNECTED bound to its parameters and shapes.
#[derive(Debug)]
struct QuantFcKernel {
    dtype: DType,
    /// int16x8 only: run LiteRT's ruy path (int32 accumulation) instead of the reference kernel.
    ruy_16x8: bool,
    params: QuantFcParams,
    input_len: usize,
    weights_shape: [usize; 2],
    output_len: usize,
    /// Constant 8-bit weights packed for the integer GEMM at prepare time.
    packed: Option<PackedI8>,
}

/// Packs constant int8 / uint8 FULLY_CONNECTED weights for the integer GEMM, if it has a path.
fn pack_quant_fc(
    ctx: &PrepareCtx<'_>,
    dtype: DType,
    dims: [usize; 2],
) -> Result<Option<PackedI8>, RuntimeError> {
    let Some(bytes) = ctx.input(1)?.value else {
        return Ok(None);
    };
    let batches = ctx.input(0)?.len() / dims[1].max(1);
    let level = simd::level();
    Ok(match dtype {
        DType::I8 => cast::<i8>(bytes)
            .ok()
            .and_then(|w| gemm_i8::pack_fc::<i8, i8>(level, w, dims, batches)),
        DType::U8 => cast::<u8>(bytes)
            .ok()
            .and_then(|w| gemm_i8::pack_fc::<u8, u8>(level, w, dims, batches)),
        _ => None,
    })
}

impl QuantFcKernel {
    /// int8 / uint8 path (`T` activations and weights, int32 bias).
    fn eval_8bit<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let [units, depth] = self.weights_shape;
        let input = input_data::<T>(inputs, 0, self.input_len)?;
        let weights = input_data::<T>(inputs, 1, units * depth)?;
        let bias = optional_data::<i32>(inputs, 2, units)?;
        let out = output_data::<T>(outputs, self.output_len)?;
        if let Some(packed) = &self.packed {
            let p = &self.params;
            let level = simd::level();
            let packed = Some(packed);
            if gemm_i8::fully_connected_prepacked(
                level, p, input, weights, packed, bias, depth, out,
            ) {
                return Ok(());
            }
        }
        qfc::fully_connected(&self.params, input, weights, bias, depth, out);
        Ok(())
    }
}

impl Kernel for QuantFcKernel {
    fn persistent_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedI8::bytes)
    }

    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::I8 => self.eval_8bit::<i8>(inputs, outputs),
            DType::U8 => self.eval_8bit::<u8>(inputs, outputs),
            _ => {
                let [units, depth] = self.weights_shape;
                let input = input_data::<i16>(inputs, 0, self.input_len)?;
                let weights = input_data::<i8>(inputs, 1, units * depth)?;
                let out = output_data::<i16>(outputs, self.output_len)?;
                if self.ruy_16x8 {
                    let bias = optional_data::<i32>(inputs, 2, units)?;
                    fc16x8::fully_connected_16x8_ruy(
                        &self.params,
                        input,
                        weights,
                        bias,
                        depth,
                        out,
                    );
                } else {
                    let bias = bias_i64(inputs, 2, units)?;
                    fc16x8::fully_connected_16x8(
                        &self.params,
                        input,
                        weights,
                        bias.as_deref(),
                        depth,
                        out,
                    );
                }
                Ok(())
            }
        }
    }
}

/// Prepares a dynamic-range FULLY_CONNECTED (float input, int8 weights, float bias).
fn prepare_fc_hybrid(
    ctx: &PrepareCtx<'_>,
    params: &FullyConnectedParams,
    asymmetric: bool,
    output_shape: Vec<usize>,
) -> Result<Prepared, RuntimeError> {
    ctx.expect_output_dtype(0, DType::F32)?;
    let weights = ctx.input(1)?;
    let [units, depth] = [weights.shape[0], weights.shape[1]];
    let filter = filter_quant(ctx, 1, 0, units)?;
    Ok(Prepared::single(
        output_shape.clone(),
        HybridFcKernel {
            params: HybridFcParams {
                asymmetric,
                activation: params.activation,
            },
            filter_scales: filter.scales,
            constant_weights: weights.value.is_some(),
            input_len: ctx.input(0)?.len(),
            weights_shape: [units, depth],
            output_len: output_shape.iter().product(),
            scratch: Mutex::new(HybridFcScratch::default()),
            // Rows are quantized and multiplied one at a time: packed for one batch row.
            packed: weights
                .value
                .and_then(|bytes| cast::<i8>(bytes).ok())
                .and_then(|w| gemm_i8::pack_fc::<i8, i8>(simd::level(), w, [units, depth], 1)),
        },
    ))
}

/// A dynamic-range FULLY_CONNECTED with its per-row scratch (quantized rows, scales, offsets and
/// the cached weight row sums).
#[derive(Debug)]
struct HybridFcKernel {
    params: HybridFcParams,
    filter_scales: Vec<f32>,
    /// The cached row sums are only valid for constant weights.
    constant_weights: bool,
    input_len: usize,
    weights_shape: [usize; 2],
    output_len: usize,
    scratch: Mutex<HybridFcScratch>,
    /// Constant weights packed for the integer GEMM at prepare time.
    packed: Option<PackedI8>,
}

impl Kernel for HybridFcKernel {
    fn persistent_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedI8::bytes)
    }

    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let [units, depth] = self.weights_shape;
        let input = input_data::<f32>(inputs, 0, self.input_len)?;
        let weights = input_data::<i8>(inputs, 1, units * depth)?;
        let bias = optional_data::<f32>(inputs, 2, units)?;
        let out = output_data::<f32>(outputs, self.output_len)?;
        // A poisoned lock only means another invoke panicked mid-way; the buffers are scratch.
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        if !self.constant_weights {
            scratch.row_sums = None;
        }
        if gemm_i8::hybrid_fully_connected(
            simd::level(),
            &self.params,
            input,
            weights,
            &self.filter_scales,
            self.packed.as_ref(),
            bias,
            depth,
            &mut scratch.quantized,
            out,
        ) {
            return Ok(());
        }
        qfc::hybrid_fully_connected(
            &self.params,
            input,
            weights,
            &self.filter_scales,
            bias,
            depth,
            &mut scratch,
            out,
        );
        Ok(())
    }
}

impl Kernel for FullyConnectedKernel {
    fn persistent_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedF32::bytes)
    }

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
        if let Some(packed) = &self.packed {
            let (min, max) = activation_range(self.params.activation);
            let epi = Epilogue { bias, min, max };
            let (w, shape) = (weights, self.weights_shape);
            if conv_f32::fully_connected_prepacked(
                packed.level(),
                input,
                w,
                shape,
                Some(packed),
                epi,
                out,
            ) {
                return Ok(());
            }
        }
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
    let (params, asymmetric) = match &ctx.op.options {
        Some(O::BatchMatMulOptions(o)) => (
            BatchMatMulParams {
                adj_x: o.adj_x,
                adj_y: o.adj_y,
            },
            o.asymmetric_quantize_inputs,
        ),
        _ => (BatchMatMulParams::default(), false),
    };
    match (ctx.input(0)?.dtype, ctx.input(1)?.dtype) {
        (DType::I8, _) => return bmm_quant::prepare_int8(ctx, &params),
        (DType::F32, DType::I8) => return bmm_quant::prepare_hybrid(ctx, &params, asymmetric),
        _ => {}
    }
    expect_float(ctx, &[0], &[1])?;
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
