//! Glue for the convolutions CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV (NHWC).
//!
//! Operands follow TFLite: CONV_2D and DEPTHWISE_CONV_2D take `(input, filter, bias?)`, and
//! TRANSPOSE_CONV takes `(output_shape, weights, input, bias?)` with the output shape an int32
//! operand that must be known at prepare time. Filters may be constants or activations. Options come
//! from `Conv2DOptions` / `DepthwiseConv2DOptions` / `TransposeConvOptions`; absent options take the
//! schema defaults (stride 0, which is then rejected, as TFLite's zero-initialised parameters are).
//! Grouped convolution is accepted when the input depth is a multiple of the filter depth. The
//! depthwise multiplier is derived from the shapes (`filter_c / input_c`) as current TFLite does;
//! the redundant `depth_multiplier` option is not trusted (converters have written stale values).
//!
//! Prepare dispatches on the operand types: float32 input and weights run the float kernels here;
//! int8 / uint8 / int16x8 inputs and float inputs with int8 weights (dynamic-range "hybrid"
//! models) go to [`super::conv_quant`]. TRANSPOSE_CONV runs on float32, int8 (per-channel weights)
//! and legacy uint8 (`kernels::quant::transpose_conv`, glue at the end of this file). This module
//! also holds the float-operand helpers the other float op families (`matmul`, `pool`, `resize`)
//! share.
//!
//! A constant float32 CONV_2D filter is packed for the SIMD GEMM at prepare time
//! (`kernels::simd::conv_f32::pack_conv`) and kept by the kernel, which reports it through
//! `Kernel::persistent_bytes`.

use super::quant;
use super::shape::{operand, result};
use super::{activation, conv_quant, padding, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::activation_range;
use crate::kernels::common::KernelError;
use crate::kernels::conv::{self, Conv2DParams, TransposeConvParams};
use crate::kernels::quant::transpose_conv as qtconv;
use crate::kernels::quant::QuantElem;
use crate::kernels::simd::conv_f32::{self, PackedF32};
use crate::kernels::simd::{self, gemm_f32::Epilogue};
use crate::tensor::cast;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;
use std::sync::Mutex;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Conv2d, 8, prepare_conv)
        .supports(&[F32, Int8, UInt8, Int16x8, Hybrid, F16Weights])
        .note("uint8: per-tensor weights only")
        .note("hybrid: float result within 1.4e-7 relative of LiteRT, not bit-identical (float accumulation order); the int8 parts are exact");
    r.add(B::DepthwiseConv2d, 7, prepare_depthwise)
        .supports(&[F32, Int8, UInt8, Int16x8, Hybrid, F16Weights])
        .note("uint8: per-tensor weights only")
        .note("hybrid: per-channel weight scales only")
        .note("hybrid: float result within 1.4e-7 relative of LiteRT, not bit-identical (float accumulation order); the int8 parts are exact");
    r.add(B::TransposeConv, 5, prepare_transpose_conv)
        .supports(&[F32, Int8, UInt8, F16Weights])
        .note("uint8: per-tensor weights only");
}

/// Checks the float32-only contract: every input in `data` is float32, every input in `weights`
/// is float32, and output 0 is declared float32.
///
/// Quantized data inputs and float inputs with integer weights (dynamic-range models) are reported
/// as unsupported with a reason naming the case.
pub(super) fn expect_float(
    ctx: &PrepareCtx<'_>,
    data: &[usize],
    weights: &[usize],
) -> Result<(), RuntimeError> {
    for &i in data {
        match ctx.input(i)?.dtype {
            DType::F32 => {}
            d @ (DType::I8 | DType::U8 | DType::I16) => {
                return Err(ctx.unsupported(format!(
                    "quantized {} ({} input {i}) is not implemented yet; only float32 runs",
                    ctx.op_name(),
                    lower(d)
                )))
            }
            d => {
                return Err(ctx.unsupported(format!(
                    "input {i} has dtype {d}; only float32 is supported"
                )))
            }
        }
    }
    for &i in weights {
        match ctx.input(i)?.dtype {
            DType::F32 => {}
            d @ (DType::I8 | DType::U8 | DType::I4) => {
                return Err(ctx.unsupported(format!(
                    "{} weights with float32 input (dynamic-range) not supported yet",
                    lower(d)
                )))
            }
            DType::F16 => {
                return Err(
                    ctx.unsupported("float16 weights are only supported through a DEQUANTIZE op")
                )
            }
            d => {
                return Err(ctx.unsupported(format!(
                    "weights (input {i}) have dtype {d}; only float32 is supported"
                )))
            }
        }
    }
    ctx.expect_output_dtype(0, DType::F32)
}

/// A dtype's name in lower case (`int8`), as messages spell it.
fn lower(d: DType) -> String {
    d.to_string().to_lowercase()
}

/// The element count of optional bias input `i` after checking it is float32, or `None` if omitted.
pub(super) fn bias_len(ctx: &PrepareCtx<'_>, i: usize) -> Result<Option<usize>, RuntimeError> {
    match ctx.optional_input(i) {
        None => Ok(None),
        Some(b) if b.dtype == DType::F32 => Ok(Some(b.len())),
        Some(b) => Err(ctx.invalid(format!(
            "bias (input {i}) has dtype {}, expected float32 for a float32 op",
            b.dtype
        ))),
    }
}

/// The shape of input `i`, which must be 4-D (`what` names it in the error).
pub(super) fn shape4(
    ctx: &PrepareCtx<'_>,
    i: usize,
    what: &str,
) -> Result<[usize; 4], RuntimeError> {
    let shape = &ctx.input(i)?.shape;
    shape.as_slice().try_into().map_err(|_| {
        ctx.invalid(format!(
            "{what} (input {i}) must be 4-D, has shape {shape:?}"
        ))
    })
}

/// An option that must be a positive count (stride, dilation, filter size, block size).
pub(super) fn positive(
    ctx: &PrepareCtx<'_>,
    value: i32,
    name: &str,
) -> Result<usize, RuntimeError> {
    usize::try_from(value)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| ctx.invalid(format!("{name} must be >= 1, got {value}")))
}

/// Input `i` as float32 data of exactly `len` elements.
pub(super) fn input_f32<'a>(
    inputs: &[Option<TensorView<'a>>],
    i: usize,
    len: usize,
) -> Result<&'a [f32], KernelError> {
    let data = operand(inputs, i)?.data::<f32>()?;
    if data.len() != len {
        return Err(KernelError::Shape(format!(
            "input {i} holds {} values, expected {len}",
            data.len()
        )));
    }
    Ok(data)
}

/// Optional input `i` as float32 data of exactly `len` elements, `None` when omitted.
pub(super) fn optional_f32<'a>(
    inputs: &[Option<TensorView<'a>>],
    i: usize,
    len: usize,
) -> Result<Option<&'a [f32]>, KernelError> {
    match inputs.get(i) {
        Some(Some(_)) => input_f32(inputs, i, len).map(Some),
        _ => Ok(None),
    }
}

/// Output 0 as float32 data of exactly `len` elements.
pub(super) fn output_f32<'o>(
    outputs: &'o mut [TensorViewMut<'_>],
    len: usize,
) -> Result<&'o mut [f32], KernelError> {
    let data = result(outputs, 0)?.data::<f32>()?;
    if data.len() != len {
        return Err(KernelError::Shape(format!(
            "output holds {} values, expected {len}",
            data.len()
        )));
    }
    Ok(data)
}

/// Which convolution a kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ConvKind {
    /// CONV_2D.
    Regular,
    /// DEPTHWISE_CONV_2D.
    Depthwise,
}

/// CONV_2D / DEPTHWISE_CONV_2D bound to their options and shapes.
#[derive(Debug)]
struct ConvKernel {
    kind: ConvKind,
    params: Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
    /// A constant CONV_2D filter packed for the GEMM at prepare time.
    packed: Option<PackedF32>,
}

/// Builds [`Conv2DParams`] from the raw option fields, rejecting non-positive strides/dilations.
fn conv_params(
    ctx: &PrepareCtx<'_>,
    pad: tflite::Padding,
    stride: (i32, i32),
    dilation: (i32, i32),
    fused: tflite::ActivationFunctionType,
) -> Result<Conv2DParams, RuntimeError> {
    Ok(Conv2DParams {
        padding: padding(pad),
        stride_h: positive(ctx, stride.0, "stride_h")?,
        stride_w: positive(ctx, stride.1, "stride_w")?,
        dilation_h: positive(ctx, dilation.0, "dilation_h_factor")?,
        dilation_w: positive(ctx, dilation.1, "dilation_w_factor")?,
        activation: activation(fused),
    })
}

fn prepare_conv(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 3, 1)?;
    let default = tflite::Conv2DOptions::default();
    let o = match &ctx.op.options {
        Some(O::Conv2DOptions(o)) => o,
        _ => &default,
    };
    let params = conv_params(
        ctx,
        o.padding,
        (o.stride_h, o.stride_w),
        (o.dilation_h_factor, o.dilation_w_factor),
        o.fused_activation_function,
    )?;
    prepare_any(ctx, ConvKind::Regular, params)
}

fn prepare_depthwise(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 3, 1)?;
    let default = tflite::DepthwiseConv2DOptions::default();
    let o = match &ctx.op.options {
        Some(O::DepthwiseConv2DOptions(o)) => o,
        _ => &default,
    };
    // The multiplier itself comes from the shapes (checked by the kernel's shape function); the
    // option is redundant and TFLite stopped enforcing it, so a stale value is tolerated.
    let params = conv_params(
        ctx,
        o.padding,
        (o.stride_h, o.stride_w),
        (o.dilation_h_factor, o.dilation_w_factor),
        o.fused_activation_function,
    )?;
    prepare_any(ctx, ConvKind::Depthwise, params)
}

/// Dispatches a CONV_2D / DEPTHWISE_CONV_2D on its operand types.
fn prepare_any(
    ctx: &PrepareCtx<'_>,
    kind: ConvKind,
    params: Conv2DParams,
) -> Result<Prepared, RuntimeError> {
    let input_shape = shape4(ctx, 0, "input")?;
    let filter_shape = shape4(ctx, 1, "filter")?;
    match (ctx.input(0)?.dtype, ctx.input(1)?.dtype) {
        (DType::I8 | DType::U8 | DType::I16, _) => {
            conv_quant::prepare_quantized(ctx, kind, &params, input_shape, filter_shape)
        }
        (DType::F32, DType::I8) => {
            conv_quant::prepare_hybrid(ctx, kind, &params, input_shape, filter_shape)
        }
        _ => {
            expect_float(ctx, &[0], &[1])?;
            let bias = bias_len(ctx, 2)?;
            let output_shape = match kind {
                ConvKind::Regular => {
                    conv::conv2d_output_shape(&params, input_shape, filter_shape, bias)
                }
                ConvKind::Depthwise => {
                    conv::depthwise_conv2d_output_shape(&params, input_shape, filter_shape, bias)
                }
            }
            .map_err(|e| ctx.kernel_err(e))?;
            let packed = match (kind, ctx.input(1)?.value) {
                (ConvKind::Regular, Some(bytes)) => cast::<f32>(bytes).ok().and_then(|filter| {
                    conv_f32::pack_conv(
                        simd::level(),
                        &params,
                        input_shape,
                        filter,
                        filter_shape,
                        output_shape,
                    )
                }),
                _ => None,
            };
            Ok(Prepared::single(
                output_shape.to_vec(),
                ConvKernel {
                    kind,
                    params,
                    input_shape,
                    filter_shape,
                    output_shape,
                    packed,
                },
            ))
        }
    }
}

impl Kernel for ConvKernel {
    fn persistent_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedF32::bytes)
    }

    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_f32(inputs, 0, self.input_shape.iter().product())?;
        let filter = input_f32(inputs, 1, self.filter_shape.iter().product())?;
        let bias = optional_f32(inputs, 2, self.output_shape[3])?;
        let out = output_f32(outputs, self.output_shape.iter().product())?;
        if let Some(packed) = &self.packed {
            let (min, max) = activation_range(self.params.activation);
            let epi = Epilogue { bias, min, max };
            if conv_f32::conv2d_prepacked(
                packed.level(),
                &self.params,
                input,
                self.input_shape,
                filter,
                self.filter_shape,
                Some(packed),
                epi,
                out,
                self.output_shape,
            ) {
                return Ok(());
            }
        }
        let run = match self.kind {
            ConvKind::Regular => conv::conv2d,
            ConvKind::Depthwise => conv::depthwise_conv2d,
        };
        run(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias,
            out,
            self.output_shape,
        );
        Ok(())
    }
}

/// Operand positions of TRANSPOSE_CONV.
const TC_OUTPUT_SHAPE: usize = 0;
const TC_WEIGHTS: usize = 1;
const TC_INPUT: usize = 2;
const TC_BIAS: usize = 3;

/// TRANSPOSE_CONV bound to its options and shapes.
#[derive(Debug)]
struct TransposeConvKernel {
    params: TransposeConvParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
}

fn prepare_transpose_conv(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 4, 1)?;
    let quantized = matches!(ctx.input(TC_INPUT)?.dtype, DType::I8 | DType::U8);
    if !quantized {
        expect_float(ctx, &[TC_INPUT], &[TC_WEIGHTS])?;
    }
    let default = tflite::TransposeConvOptions::default();
    let o = match &ctx.op.options {
        Some(O::TransposeConvOptions(o)) => o,
        _ => &default,
    };
    let params = TransposeConvParams {
        padding: padding(o.padding),
        stride_h: positive(ctx, o.stride_h, "stride_h")?,
        stride_w: positive(ctx, o.stride_w, "stride_w")?,
        activation: activation(o.fused_activation_function),
    };
    if quantized {
        return prepare_quantized_transpose_conv(ctx, &params);
    }
    let requested = ctx
        .const_ints(TC_OUTPUT_SHAPE)?
        .into_iter()
        .map(|d| i32::try_from(d).map_err(|_| ctx.invalid(format!("output_shape value {d}"))))
        .collect::<Result<Vec<i32>, _>>()?;
    let input_shape = shape4(ctx, TC_INPUT, "input")?;
    let filter_shape = shape4(ctx, TC_WEIGHTS, "weights")?;
    let output_shape = conv::transpose_conv_output_shape(
        &params,
        &requested,
        input_shape,
        filter_shape,
        bias_len(ctx, TC_BIAS)?,
    )
    .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        output_shape.to_vec(),
        TransposeConvKernel {
            params,
            input_shape,
            filter_shape,
            output_shape,
        },
    ))
}

impl Kernel for TransposeConvKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_f32(inputs, TC_INPUT, self.input_shape.iter().product())?;
        let filter = input_f32(inputs, TC_WEIGHTS, self.filter_shape.iter().product())?;
        let bias = optional_f32(inputs, TC_BIAS, self.output_shape[3])?;
        let out = output_f32(outputs, self.output_shape.iter().product())?;
        conv::transpose_conv(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias,
            out,
            self.output_shape,
        );
        Ok(())
    }
}

/// Prepares an int8 TRANSPOSE_CONV (per-channel int8 weights along dimension 0) or a legacy uint8
/// one (per-tensor uint8 weights), both with optional int32 bias.
fn prepare_quantized_transpose_conv(
    ctx: &PrepareCtx<'_>,
    params: &TransposeConvParams,
) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(TC_INPUT)?.dtype;
    ctx.expect_input_dtype(TC_WEIGHTS, &[dtype])?;
    ctx.expect_output_dtype(0, dtype)?;
    let requested = ctx
        .const_ints(TC_OUTPUT_SHAPE)?
        .into_iter()
        .map(|d| i32::try_from(d).map_err(|_| ctx.invalid(format!("output_shape value {d}"))))
        .collect::<Result<Vec<i32>, _>>()?;
    let input_shape = shape4(ctx, TC_INPUT, "input")?;
    let filter_shape = shape4(ctx, TC_WEIGHTS, "weights")?;
    let bias_len = ctx.optional_input(TC_BIAS).map(|b| b.len());
    let output_shape =
        conv::transpose_conv_output_shape(params, &requested, input_shape, filter_shape, bias_len)
            .map_err(|e| ctx.kernel_err(e))?;
    let channels = output_shape[3];
    let input = quant::per_tensor(ctx, "input 2", dtype, ctx.input(TC_INPUT)?.quant)?;
    let output = quant::output_params(ctx, 0)?;
    let filter = quant::filter_quant(ctx, TC_WEIGHTS, 0, channels)?;
    if dtype == DType::U8 && filter.scales.len() > 1 {
        return Err(ctx.unsupported("uint8 TRANSPOSE_CONV with per-channel weights"));
    }
    quant::check_bias(
        ctx,
        TC_BIAS,
        &[DType::I32],
        input,
        &filter,
        output,
        channels,
    )?;
    let (scales, zp) = (&filter.scales[..], filter.zero_point);
    let qparams = match dtype {
        DType::I8 => {
            qtconv::transpose_conv_params::<i8>(params, input, scales, zp, output, channels)
        }
        _ => qtconv::transpose_conv_params::<u8>(params, input, scales, zp, output, channels),
    }
    .map_err(|e| quant::params_err(ctx, e))?;
    Ok(Prepared::single(
        output_shape.to_vec(),
        QuantTransposeConvKernel {
            params: qparams,
            dtype,
            input_shape,
            filter_shape,
            output_shape,
            scratch: Mutex::new(Vec::new()),
        },
    ))
}

/// An int8 / uint8 TRANSPOSE_CONV with its int32 accumulator scratch.
#[derive(Debug)]
struct QuantTransposeConvKernel {
    params: qtconv::QuantTransposeConvParams,
    dtype: DType,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
    scratch: Mutex<Vec<i32>>,
}

impl QuantTransposeConvKernel {
    fn eval_typed<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = quant::input_data::<T>(inputs, TC_INPUT, self.input_shape.iter().product())?;
        let filter =
            quant::input_data::<T>(inputs, TC_WEIGHTS, self.filter_shape.iter().product())?;
        let bias = quant::optional_data::<i32>(inputs, TC_BIAS, self.output_shape[3])?;
        let out = quant::output_data::<T>(outputs, self.output_shape.iter().product())?;
        // A poisoned lock only means another invoke panicked mid-way; the buffer is scratch.
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        qtconv::transpose_conv(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias,
            &mut scratch,
            out,
            self.output_shape,
        );
        Ok(())
    }
}

impl Kernel for QuantTransposeConvKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::U8 => self.eval_typed::<u8>(inputs, outputs),
            _ => self.eval_typed::<i8>(inputs, outputs),
        }
    }
}
