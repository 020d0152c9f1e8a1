//! Quantized and dynamic-range glue for CONV_2D and DEPTHWISE_CONV_2D (called from `conv`).
//!
//! Full-integer forms: int8 activations with int8 weights (per-channel along the output channels:
//! dimension 0 of a conv filter, 3 of a depthwise filter) and int32 bias; legacy uint8 with uint8
//! per-tensor weights and int32 bias; int16x8 (int16 activations, int8 weights, int64 or int32
//! bias). All multipliers, offsets and clamps are computed here at prepare time by the
//! `kernels::quant::conv` parameter functions.
//!
//! Dynamic-range CONV_2D and DEPTHWISE_CONV_2D (float activations, int8 constant weights, float
//! bias) run the hybrid kernels, which quantize each image at run time as TFLite does; hybrid
//! depthwise requires one filter scale per output channel (TFLite's `EvalHybridPerChannel`
//! check).
//!
//! Constant 8-bit CONV_2D filters (also those of hybrid CONV_2D) are packed for the integer SIMD
//! GEMM at prepare time (`kernels::simd::gemm_i8::PackedI8`); hybrid CONV_2D runs on that GEMM
//! (`gemm_i8::hybrid_conv2d`, bit-exact with the scalar kernel) when the CPU has a SIMD path.

use super::conv::ConvKind;
use super::quant::{
    bias_i64, check_bias, filter_quant, input_data, input_params, optional_data, output_data,
    output_params, params_err,
};
use super::{Kernel, PrepareCtx, Prepared};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::conv::{conv2d_output_shape, depthwise_conv2d_output_shape, Conv2DParams};
use crate::kernels::quant::conv::{self as qconv, QuantConvParams, QuantConvProblem};
use crate::kernels::quant::conv16x8;
use crate::kernels::quant::hybrid_conv::{hybrid_conv2d, hybrid_conv_params, HybridConvParams};
use crate::kernels::quant::hybrid_depthwise::hybrid_depthwise_conv2d;
use crate::kernels::quant::QuantElem;
use crate::kernels::simd::dwconv_vnni::{self, PackedDw};
use crate::kernels::simd::{self, gemm_i8, gemm_i8::PackedI8};
use crate::tensor::{cast, TensorView, TensorViewMut};
use ferrolite_model::DType;
use std::sync::Mutex;

/// Output shape of a conv of `kind` (bias checked separately).
fn output_shape(
    ctx: &PrepareCtx<'_>,
    kind: ConvKind,
    geometry: &Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
) -> Result<[usize; 4], RuntimeError> {
    let shape = match kind {
        ConvKind::Regular => conv2d_output_shape(geometry, input_shape, filter_shape, None),
        ConvKind::Depthwise => {
            depthwise_conv2d_output_shape(geometry, input_shape, filter_shape, None)
        }
    };
    shape.map_err(|e| ctx.kernel_err(e))
}

/// Prepares an integer CONV_2D / DEPTHWISE_CONV_2D (input 0 is int8, uint8 or int16).
pub(super) fn prepare_quantized(
    ctx: &PrepareCtx<'_>,
    kind: ConvKind,
    geometry: &Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(0)?.dtype;
    let wtype = ctx.input(1)?.dtype;
    if !matches!(
        (dtype, wtype),
        (DType::I8, DType::I8) | (DType::U8, DType::U8) | (DType::I16, DType::I8)
    ) {
        return Err(ctx.unsupported(format!(
            "{} input with {} weights (supported: int8/int8, uint8/uint8, int16/int8)",
            lower(dtype),
            lower(wtype)
        )));
    }
    ctx.expect_output_dtype(0, dtype)?;
    let input = input_params(ctx, 0)?;
    let output = output_params(ctx, 0)?;
    let out_shape = output_shape(ctx, kind, geometry, input_shape, filter_shape)?;
    let channels = out_shape[3];
    let channel_axis = match kind {
        ConvKind::Regular => 0,
        ConvKind::Depthwise => 3,
    };
    let filter = filter_quant(ctx, 1, channel_axis, channels)?;
    if dtype == DType::U8 && filter.scales.len() > 1 {
        return Err(ctx.unsupported("uint8 convolution with per-channel weights"));
    }
    let bias_types: &[DType] = if dtype == DType::I16 {
        &[DType::I64, DType::I32]
    } else {
        &[DType::I32]
    };
    check_bias(ctx, 2, bias_types, input, &filter, output, channels)?;
    let (scales, zp) = (&filter.scales[..], filter.zero_point);
    let params = match (kind, dtype) {
        (ConvKind::Regular, DType::I8) => {
            qconv::conv_params::<i8, i8>(geometry, input, scales, zp, output, channels)
        }
        (ConvKind::Regular, DType::U8) => {
            qconv::conv_params::<u8, u8>(geometry, input, scales, zp, output, channels)
        }
        (ConvKind::Regular, _) => {
            qconv::conv_params::<i16, i8>(geometry, input, scales, zp, output, channels)
        }
        (ConvKind::Depthwise, DType::I8) => {
            qconv::depthwise_conv_params::<i8, i8>(geometry, input, scales, zp, output, channels)
        }
        (ConvKind::Depthwise, DType::U8) => {
            qconv::depthwise_conv_params::<u8, u8>(geometry, input, scales, zp, output, channels)
        }
        (ConvKind::Depthwise, _) => {
            qconv::depthwise_conv_params::<i16, i8>(geometry, input, scales, zp, output, channels)
        }
    }
    .map_err(|e| params_err(ctx, e))?;
    let level = simd::level();
    let packed = match (kind, dtype, ctx.input(1)?.value) {
        (ConvKind::Regular, DType::I8, Some(bytes)) => cast::<i8>(bytes).ok().and_then(|f| {
            gemm_i8::pack_conv::<i8, i8>(level, &params, input_shape, f, filter_shape, out_shape)
        }),
        (ConvKind::Regular, DType::U8, Some(bytes)) => cast::<u8>(bytes).ok().and_then(|f| {
            gemm_i8::pack_conv::<u8, u8>(level, &params, input_shape, f, filter_shape, out_shape)
        }),
        _ => None,
    };
    let packed_dw = match (kind, dtype, ctx.input(1)?.value) {
        (ConvKind::Depthwise, DType::I8, Some(bytes)) => cast::<i8>(bytes).ok().and_then(|f| {
            let (i, o) = (input_shape, out_shape);
            dwconv_vnni::pack_depthwise::<i8, i8>(level, &params, i, f, filter_shape, o)
        }),
        _ => None,
    };
    Ok(Prepared::single(
        out_shape.to_vec(),
        QuantConvKernel {
            kind,
            dtype,
            params,
            input_shape,
            filter_shape,
            output_shape: out_shape,
            packed,
            packed_dw,
        },
    ))
}

/// A dtype's name in lower case (`int8`).
fn lower(d: DType) -> String {
    d.to_string().to_lowercase()
}

/// An integer CONV_2D / DEPTHWISE_CONV_2D bound to its parameters and shapes.
#[derive(Debug)]
struct QuantConvKernel {
    kind: ConvKind,
    dtype: DType,
    params: QuantConvParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
    /// A constant 8-bit CONV_2D filter packed for the integer GEMM at prepare time.
    packed: Option<PackedI8>,
    /// A constant int8 depthwise filter packed for the VNNI depthwise kernel.
    packed_dw: Option<PackedDw>,
}

impl QuantConvKernel {
    /// int8 / uint8 path (`T` activations and weights, int32 bias).
    fn eval_8bit<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_data::<T>(inputs, 0, self.input_shape.iter().product())?;
        let filter = input_data::<T>(inputs, 1, self.filter_shape.iter().product())?;
        let bias = optional_data::<i32>(inputs, 2, self.output_shape[3])?;
        let out = output_data::<T>(outputs, self.output_shape.iter().product())?;
        let problem = QuantConvProblem::new(
            &self.params,
            (input, self.input_shape),
            (filter, self.filter_shape),
            bias,
            self.output_shape,
        );
        if let Some(packed) = &self.packed {
            if gemm_i8::conv2d_prepacked(simd::level(), &problem, Some(packed), out) {
                return Ok(());
            }
        }
        if let Some(packed) = &self.packed_dw {
            if dwconv_vnni::depthwise_conv2d(simd::level(), &problem, Some(packed), out) {
                return Ok(());
            }
        }
        let run = match self.kind {
            ConvKind::Regular => qconv::conv2d::<T, T>,
            ConvKind::Depthwise => qconv::depthwise_conv2d::<T, T>,
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

    /// int16x8 path.
    fn eval_16x8(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_data::<i16>(inputs, 0, self.input_shape.iter().product())?;
        let filter = input_data::<i8>(inputs, 1, self.filter_shape.iter().product())?;
        if matches!(self.kind, ConvKind::Regular)
            && matches!(inputs.get(2), Some(Some(b)) if b.dtype == DType::I32)
        {
            // int32 bias: LiteRT's 32-bit paths (see conv16x8::conv2d_16x8_i32_bias).
            let bias = optional_data::<i32>(inputs, 2, self.output_shape[3])?;
            let out = output_data::<i16>(outputs, self.output_shape.iter().product())?;
            let (i, f, o) = (self.input_shape, self.filter_shape, self.output_shape);
            conv16x8::conv2d_16x8_i32_bias(&self.params, input, i, filter, f, bias, out, o);
            return Ok(());
        }
        let bias = bias_i64(inputs, 2, self.output_shape[3])?;
        let out = output_data::<i16>(outputs, self.output_shape.iter().product())?;
        let run = match self.kind {
            ConvKind::Regular => conv16x8::conv2d_16x8,
            ConvKind::Depthwise => conv16x8::depthwise_conv2d_16x8,
        };
        run(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias.as_deref(),
            out,
            self.output_shape,
        );
        Ok(())
    }
}

impl Kernel for QuantConvKernel {
    fn persistent_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedI8::bytes)
            + self.packed_dw.as_ref().map_or(0, PackedDw::bytes)
    }

    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::I8 => self.eval_8bit::<i8>(inputs, outputs),
            DType::U8 => self.eval_8bit::<u8>(inputs, outputs),
            _ => self.eval_16x8(inputs, outputs),
        }
    }
}

/// Prepares a dynamic-range CONV_2D / DEPTHWISE_CONV_2D (float input 0, int8 weights).
pub(super) fn prepare_hybrid(
    ctx: &PrepareCtx<'_>,
    kind: ConvKind,
    geometry: &Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
) -> Result<Prepared, RuntimeError> {
    ctx.expect_output_dtype(0, DType::F32)?;
    let out_shape = output_shape(ctx, kind, geometry, input_shape, filter_shape)?;
    let channels = out_shape[3];
    if let Some(b) = ctx.optional_input(2) {
        if b.dtype != DType::F32 || b.len() != channels {
            return Err(ctx.invalid(format!(
                "bias must be float32 with {channels} elements, is {}{:?}",
                b.dtype, b.shape
            )));
        }
    }
    if kind == ConvKind::Depthwise {
        let filter = filter_quant(ctx, 1, 3, channels)?;
        if filter.scales.len() != channels {
            return Err(ctx.invalid(format!(
                "dynamic-range DEPTHWISE_CONV_2D needs one filter scale per output channel \
                 ({channels}), has {}",
                filter.scales.len()
            )));
        }
        return Ok(Prepared::single(
            out_shape.to_vec(),
            HybridDepthwiseKernel {
                geometry: *geometry,
                filter_scales: filter.scales,
                input_shape,
                filter_shape,
                output_shape: out_shape,
                scratch: Mutex::new(Vec::new()),
            },
        ));
    }
    let filter = filter_quant(ctx, 1, 0, channels)?;
    let grouped = input_shape[3] != filter_shape[3];
    let params = hybrid_conv_params(geometry, &filter.scales, grouped);
    let packed = ctx.input(1)?.value.and_then(|bytes| {
        let f = cast::<i8>(bytes).ok()?;
        let level = simd::level();
        gemm_i8::pack_hybrid_conv(level, &params, input_shape, f, filter_shape, out_shape)
    });
    Ok(Prepared::single(
        out_shape.to_vec(),
        HybridConvKernel {
            params,
            input_shape,
            filter_shape,
            output_shape: out_shape,
            scratch: Mutex::new(Vec::new()),
            packed,
        },
    ))
}

/// A dynamic-range CONV_2D with its quantized-input scratch buffer.
#[derive(Debug)]
struct HybridConvKernel {
    params: HybridConvParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
    scratch: Mutex<Vec<i8>>,
    /// A constant filter packed for the integer GEMM at prepare time.
    packed: Option<PackedI8>,
}

impl Kernel for HybridConvKernel {
    fn persistent_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedI8::bytes)
    }

    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_data::<f32>(inputs, 0, self.input_shape.iter().product())?;
        let filter = input_data::<i8>(inputs, 1, self.filter_shape.iter().product())?;
        let bias = optional_data::<f32>(inputs, 2, self.output_shape[3])?;
        let out = output_data::<f32>(outputs, self.output_shape.iter().product())?;
        // A poisoned lock only means another invoke panicked mid-way; the buffer is scratch.
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        if gemm_i8::hybrid_conv2d(
            simd::level(),
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            self.packed.as_ref(),
            bias,
            &mut scratch,
            out,
            self.output_shape,
        ) {
            return Ok(());
        }
        hybrid_conv2d(
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

/// A dynamic-range DEPTHWISE_CONV_2D with its quantized-input scratch buffer.
#[derive(Debug)]
struct HybridDepthwiseKernel {
    geometry: Conv2DParams,
    filter_scales: Vec<f32>,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
    scratch: Mutex<Vec<i8>>,
}

impl Kernel for HybridDepthwiseKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_data::<f32>(inputs, 0, self.input_shape.iter().product())?;
        let filter = input_data::<i8>(inputs, 1, self.filter_shape.iter().product())?;
        let bias = optional_data::<f32>(inputs, 2, self.output_shape[3])?;
        let out = output_data::<f32>(outputs, self.output_shape.iter().product())?;
        // A poisoned lock only means another invoke panicked mid-way; the buffer is scratch.
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        hybrid_depthwise_conv2d(
            &self.geometry,
            &self.filter_scales,
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
