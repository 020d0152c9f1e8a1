//! Quantized `CONV_2D` and `DEPTHWISE_CONV_2D` (int8 per-channel, legacy uint8 per-tensor).
//!
//! Arithmetic follows TFLite: `acc = Σ (x + input_offset) · (w + filter_offset)` over in-bounds
//! taps (padding contributes nothing, i.e. real zero), `acc += bias[c]` (int32), then the
//! channel's multiplier, `+ output_offset` and the activation clamp in the quantized domain.
//! Multipliers come from TFLite's `PopulateConvolutionQuantizationParams`:
//! `f64(input_scale) · f64(filter_scale[c]) / f64(output_scale)`; legacy uint8 models use the
//! per-tensor `f64(f32(input_scale · filter_scale)) / f64(output_scale)`.
//!
//! Rounding: TFLite's optimized int8 CONV_2D is an im2col + GEMM through ruy, whose output stage
//! rounds once ([`Rounding::Single`]); uint8 GEMMs go through gemmlowp and the depthwise kernels
//! use TFLite's own double-rounding multiply ([`Rounding::Double`]). The `*_params` functions pick
//! the rounding LiteRT's x86 build uses; the field is public for callers that need the other one.
//!
//! Shapes are validated by the float module's `conv2d_output_shape` /
//! `depthwise_conv2d_output_shape`; kernels assume consistent shapes and slice lengths.

use super::fixed_point::{apply_multiplier, quantize_multiplier, Rounding};
use super::{check_quant, quantized_activation_range, QuantElem, QuantParams};
use crate::kernels::common::KernelError;
use crate::kernels::conv::{window, Conv2DParams};
use crate::kernels::simd::dwconv_f32::DwGeometry;
use crate::kernels::simd::requant::RowRequant;
use crate::kernels::simd::{gemm_i8, Level};

/// Prepared parameters of a quantized convolution (CONV_2D or DEPTHWISE_CONV_2D).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantConvParams {
    /// Geometry (padding, strides, dilations); its activation is already folded into the clamp.
    pub geometry: Conv2DParams,
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `-filter_zero_point` (0 for symmetric int8 weights).
    pub filter_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// Fixed-point multiplier per output channel.
    pub multipliers: Vec<i32>,
    /// Shift per output channel (positive = left).
    pub shifts: Vec<i32>,
    /// Lower clamp in the output's quantized domain.
    pub act_min: i32,
    /// Upper clamp in the output's quantized domain.
    pub act_max: i32,
    /// How the multiplier is applied.
    pub rounding: Rounding,
}

/// Per-channel multipliers for `out_channels` channels from one or `out_channels` filter scales
/// (shared with TRANSPOSE_CONV); `legacy_f32_product` selects uint8's `f32(s_in · s_w)` form.
pub(super) fn channel_multipliers(
    input: QuantParams,
    filter_scales: &[f32],
    output: QuantParams,
    out_channels: usize,
    legacy_f32_product: bool,
) -> Result<(Vec<i32>, Vec<i32>), KernelError> {
    if filter_scales.len() != 1 && filter_scales.len() != out_channels {
        return Err(KernelError::Shape(format!(
            "{} filter scales for {out_channels} output channels",
            filter_scales.len()
        )));
    }
    if let Some(s) = filter_scales
        .iter()
        .find(|s| !(s.is_finite() && **s >= 0.0))
    {
        return Err(KernelError::Param(format!("filter scale {s} invalid")));
    }
    let mut multipliers = Vec::with_capacity(out_channels);
    let mut shifts = Vec::with_capacity(out_channels);
    for c in 0..out_channels {
        let fs = filter_scales[if filter_scales.len() == 1 { 0 } else { c }];
        let real = if legacy_f32_product {
            f64::from(input.scale * fs) / f64::from(output.scale)
        } else {
            f64::from(input.scale) * f64::from(fs) / f64::from(output.scale)
        };
        let (m, s) = quantize_multiplier(real);
        multipliers.push(m);
        shifts.push(s);
    }
    Ok((multipliers, shifts))
}

/// Shared preparation of CONV_2D and DEPTHWISE_CONV_2D parameters.
fn prepare<T: QuantElem, W: QuantElem>(
    geometry: &Conv2DParams,
    input: QuantParams,
    filter_scales: &[f32],
    filter_zero_point: i32,
    output: QuantParams,
    out_channels: usize,
    rounding: Rounding,
) -> Result<QuantConvParams, KernelError> {
    check_quant::<T>("conv input", input)?;
    check_quant::<T>("conv output", output)?;
    if !(W::MIN..=W::MAX).contains(&filter_zero_point) {
        return Err(KernelError::Param(format!(
            "filter zero point {filter_zero_point} out of range"
        )));
    }
    let legacy = T::MIN == 0;
    let (multipliers, shifts) =
        channel_multipliers(input, filter_scales, output, out_channels, legacy)?;
    let (act_min, act_max) =
        quantized_activation_range(geometry.activation, output, T::MIN, T::MAX);
    Ok(QuantConvParams {
        geometry: *geometry,
        input_offset: -input.zero_point,
        filter_offset: -filter_zero_point,
        output_offset: output.zero_point,
        multipliers,
        shifts,
        act_min,
        act_max,
        rounding,
    })
}

/// Prepares a quantized CONV_2D: `filter_scales` holds one scale per output channel (or one for
/// the whole filter). int8 models get ruy's single rounding, uint8 ones gemmlowp's double rounding.
pub fn conv_params<T: QuantElem, W: QuantElem>(
    geometry: &Conv2DParams,
    input: QuantParams,
    filter_scales: &[f32],
    filter_zero_point: i32,
    output: QuantParams,
    out_channels: usize,
) -> Result<QuantConvParams, KernelError> {
    let rounding = if T::MIN == 0 {
        Rounding::Double
    } else {
        Rounding::RuyX86
    };
    prepare::<T, W>(
        geometry,
        input,
        filter_scales,
        filter_zero_point,
        output,
        out_channels,
        rounding,
    )
}

/// Prepares a quantized DEPTHWISE_CONV_2D (scales per output channel, i.e. along the filter's
/// last dimension); TFLite's depthwise kernels use double rounding.
pub fn depthwise_conv_params<T: QuantElem, W: QuantElem>(
    geometry: &Conv2DParams,
    input: QuantParams,
    filter_scales: &[f32],
    filter_zero_point: i32,
    output: QuantParams,
    out_channels: usize,
) -> Result<QuantConvParams, KernelError> {
    prepare::<T, W>(
        geometry,
        input,
        filter_scales,
        filter_zero_point,
        output,
        out_channels,
        Rounding::Double,
    )
}

/// One quantized convolution call: its prepared parameters, the read-only operands and the
/// shapes (NHWC input and output; OHWI filter for CONV_2D, `[1, h, w, c]` for the depthwise
/// conv). The SIMD drivers take it by reference, with the output slice beside it.
#[derive(Debug, Clone, Copy)]
pub struct QuantConvProblem<'a, T, W> {
    /// Prepared parameters ([`conv_params`] / [`depthwise_conv_params`]).
    pub params: &'a QuantConvParams,
    /// Input activations.
    pub input: &'a [T],
    /// Input shape `[batches, h, w, c]`.
    pub input_shape: [usize; 4],
    /// Filter values.
    pub filter: &'a [W],
    /// Filter shape.
    pub filter_shape: [usize; 4],
    /// Optional int32 bias per output channel.
    pub bias: Option<&'a [i32]>,
    /// Output shape `[batches, out_h, out_w, out_c]`.
    pub output_shape: [usize; 4],
}

impl<'a, T, W> QuantConvProblem<'a, T, W> {
    /// Bundles one call's operands.
    pub fn new(
        params: &'a QuantConvParams,
        (input, input_shape): (&'a [T], [usize; 4]),
        (filter, filter_shape): (&'a [W], [usize; 4]),
        bias: Option<&'a [i32]>,
        output_shape: [usize; 4],
    ) -> Self {
        QuantConvProblem {
            params,
            input,
            input_shape,
            filter,
            filter_shape,
            bias,
            output_shape,
        }
    }

    /// The depthwise geometry (multiplier 1) of this call, if the shapes are consistent.
    pub(crate) fn dw_geometry(&self) -> Option<DwGeometry> {
        let p = &self.params.geometry;
        DwGeometry::new(p, self.input_shape, self.filter_shape, self.output_shape)
    }

    /// `colcorr` set to the bias of the first `n` output channels (zeros without a bias).
    pub(crate) fn bias_into(&self, n: usize, colcorr: &mut Vec<i32>) {
        colcorr.clear();
        match self.bias {
            Some(b) => colcorr.extend_from_slice(&b[..n]),
            None => colcorr.resize(n, 0),
        }
    }
}

impl QuantConvParams {
    /// The requantizing store of output channels `cols`: their multipliers and shifts (or the
    /// per-tensor pair), rounding, output offset and clamp, with `colcorr` added per column.
    pub(crate) fn requant<'a>(
        &'a self,
        cols: std::ops::Range<usize>,
        colcorr: &'a [i32],
    ) -> RowRequant<'a> {
        let (multipliers, shifts) = if self.multipliers.len() > 1 {
            (&self.multipliers[cols.clone()], &self.shifts[cols])
        } else {
            (&self.multipliers[..], &self.shifts[..])
        };
        RowRequant {
            colcorr,
            multipliers,
            shifts,
            rounding: self.rounding,
            output_offset: self.output_offset,
            act_min: self.act_min,
            act_max: self.act_max,
        }
    }

    /// Whether the multipliers and shifts cover `n` output channels (one per-tensor pair, or at
    /// least `n` of each).
    pub(crate) fn covers(&self, n: usize) -> bool {
        let nm = self.multipliers.len();
        (nm == 1 || nm >= n) && self.shifts.len() >= nm.min(n)
    }
}

/// Requantizes one accumulator of channel `c` and clamps it.
#[inline]
fn finish(params: &QuantConvParams, acc: i32, c: usize) -> i32 {
    let scaled = apply_multiplier(
        acc,
        params.multipliers[c],
        params.shifts[c],
        params.rounding,
    );
    scaled
        .wrapping_add(params.output_offset)
        .clamp(params.act_min, params.act_max)
}

/// Quantized CONV_2D over NHWC input, OHWI filter (grouped when `input_c` is a multiple of the
/// filter depth) and optional int32 bias.
#[allow(clippy::too_many_arguments)]
pub fn conv2d<T: QuantElem, W: QuantElem>(
    params: &QuantConvParams,
    input: &[T],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    output: &mut [T],
    output_shape: [usize; 4],
) {
    conv2d_at(
        crate::kernels::simd::level(),
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        output,
        output_shape,
    );
}

/// [`conv2d`] at a given SIMD level (`Level::Scalar` runs the reference loop below).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_at<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantConvParams,
    input: &[T],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    output: &mut [T],
    output_shape: [usize; 4],
) {
    let problem = QuantConvProblem::new(
        params,
        (input, input_shape),
        (filter, filter_shape),
        bias,
        output_shape,
    );
    if gemm_i8::conv2d(level, &problem, output) {
        return;
    }
    let (in_off, f_off) = (params.input_offset, params.filter_offset);
    window::grouped_conv(
        &params.geometry,
        input,
        input_shape,
        filter,
        filter_shape,
        output,
        output_shape,
        |mut acc: i32, xs: &[T], ws: &[W]| {
            for (x, w) in xs.iter().zip(ws) {
                acc = acc.wrapping_add((x.to_i32() + in_off).wrapping_mul(w.to_i32() + f_off));
            }
            acc
        },
        |o, acc| {
            let acc = acc.wrapping_add(bias.map_or(0, |bias| bias[o]));
            T::from_i32_clamped(finish(params, acc, o))
        },
    );
}

/// Quantized DEPTHWISE_CONV_2D over NHWC input and a `[1, h, w, in_c · multiplier]` filter;
/// output channel `c · multiplier + m` reads input channel `c`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d<T: QuantElem, W: QuantElem>(
    params: &QuantConvParams,
    input: &[T],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    output: &mut [T],
    output_shape: [usize; 4],
) {
    depthwise_conv2d_at(
        crate::kernels::simd::level(),
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        output,
        output_shape,
    );
}

/// [`depthwise_conv2d`] at a given SIMD level (`Level::Scalar` runs the reference loop below).
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_conv2d_at<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantConvParams,
    input: &[T],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    output: &mut [T],
    output_shape: [usize; 4],
) {
    let problem = QuantConvProblem::new(
        params,
        (input, input_shape),
        (filter, filter_shape),
        bias,
        output_shape,
    );
    if crate::kernels::simd::dwconv_i8::depthwise_conv2d(level, &problem, output) {
        return;
    }
    let (in_off, f_off) = (params.input_offset, params.filter_offset);
    window::depthwise_conv(
        &params.geometry,
        input,
        input_shape,
        filter,
        filter_shape,
        output,
        output_shape,
        |acc: i32, x: T, w: W| {
            acc.wrapping_add((x.to_i32() + in_off).wrapping_mul(w.to_i32() + f_off))
        },
        |o, acc| {
            let acc = acc.wrapping_add(bias.map_or(0, |bias| bias[o]));
            T::from_i32_clamped(finish(params, acc, o))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{compute_padding, Activation, Padding};
    use crate::kernels::quant::fixed_point::multiply_by_quantized_multiplier;

    fn geometry(padding: Padding, stride: usize, activation: Activation) -> Conv2DParams {
        Conv2DParams {
            padding,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            activation,
        }
    }

    #[test]
    fn params_match_tflite_formula() {
        let g = geometry(Padding::Valid, 1, Activation::Relu);
        let p = conv_params::<i8, i8>(
            &g,
            QuantParams::new(0.5, -3),
            &[0.25, 0.125],
            0,
            QuantParams::new(0.25, 5),
            2,
        )
        .unwrap();
        // 0.5*0.25/0.25 = 0.5 ; 0.5*0.125/0.25 = 0.25
        assert_eq!(p.multipliers, vec![1 << 30, 1 << 30]);
        assert_eq!(p.shifts, vec![0, -1]);
        assert_eq!((p.act_min, p.act_max), (5, 127));
        assert_eq!(p.input_offset, 3);
        assert_eq!(p.rounding, Rounding::RuyX86);
        assert!(conv_params::<i8, i8>(
            &g,
            QuantParams::new(0.5, -3),
            &[0.25, 0.125, 1.0],
            0,
            QuantParams::new(0.25, 5),
            2
        )
        .is_err());
    }

    /// Straightforward i64 reference of the conv arithmetic (double rounding, per channel).
    #[allow(clippy::too_many_arguments)]
    fn reference_conv(
        p: &QuantConvParams,
        input: &[i8],
        is: [usize; 4],
        filter: &[i8],
        fs: [usize; 4],
        bias: &[i32],
        os: [usize; 4],
    ) -> Vec<i8> {
        let (_, pad_h) = compute_padding(p.geometry.padding, is[1], fs[1], p.geometry.stride_h, 1);
        let (_, pad_w) = compute_padding(p.geometry.padding, is[2], fs[2], p.geometry.stride_w, 1);
        let mut out = vec![0i8; os.iter().product()];
        for b in 0..os[0] {
            for oy in 0..os[1] {
                for ox in 0..os[2] {
                    for o in 0..os[3] {
                        let mut acc: i64 = i64::from(bias[o]);
                        for fy in 0..fs[1] {
                            for fx in 0..fs[2] {
                                let iy = (oy * p.geometry.stride_h + fy) as i64 - pad_h as i64;
                                let ix = (ox * p.geometry.stride_w + fx) as i64 - pad_w as i64;
                                if iy < 0 || ix < 0 || iy >= is[1] as i64 || ix >= is[2] as i64 {
                                    continue;
                                }
                                for i in 0..fs[3] {
                                    let x = input[((b * is[1] + iy as usize) * is[2]
                                        + ix as usize)
                                        * is[3]
                                        + i];
                                    let w = filter[((o * fs[1] + fy) * fs[2] + fx) * fs[3] + i];
                                    acc +=
                                        (i64::from(x) + i64::from(p.input_offset)) * i64::from(w);
                                }
                            }
                        }
                        let v = multiply_by_quantized_multiplier(
                            acc as i32,
                            p.multipliers[o],
                            p.shifts[o],
                        ) + p.output_offset;
                        out[((b * os[1] + oy) * os[2] + ox) * os[3] + o] =
                            v.clamp(p.act_min, p.act_max) as i8;
                    }
                }
            }
        }
        out
    }

    fn lcg(seed: &mut u32) -> i8 {
        *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (*seed >> 24) as u8 as i8
    }

    #[test]
    fn conv_matches_reference_on_random_problem() {
        let mut seed = 7;
        let is = [2, 5, 6, 3];
        let fs = [4, 3, 3, 3];
        let input: Vec<i8> = (0..is.iter().product::<usize>())
            .map(|_| lcg(&mut seed))
            .collect();
        let filter: Vec<i8> = (0..fs.iter().product::<usize>())
            .map(|_| lcg(&mut seed).clamp(-127, 127))
            .collect();
        let bias = vec![100, -2000, 0, 55];
        for (padding, stride) in [(Padding::Same, 1), (Padding::Valid, 2), (Padding::Same, 2)] {
            let g = geometry(padding, stride, Activation::Relu6);
            let mut p = conv_params::<i8, i8>(
                &g,
                QuantParams::new(0.02, 7),
                &[0.01, 0.003, 0.02, 0.0005],
                0,
                QuantParams::new(0.05, -20),
                4,
            )
            .unwrap();
            p.rounding = Rounding::Double;
            let os = crate::kernels::conv::conv2d_output_shape(&g, is, fs, Some(4)).unwrap();
            let mut out = vec![0i8; os.iter().product()];
            conv2d(&p, &input, is, &filter, fs, Some(&bias), &mut out, os);
            assert_eq!(out, reference_conv(&p, &input, is, &filter, fs, &bias, os));
        }
    }

    #[test]
    fn depthwise_hand_checked() {
        // 1x2x2x1 input, depth multiplier 2, 2x2 filter, VALID -> 1x1x1x2.
        let g = geometry(Padding::Valid, 1, Activation::None);
        let p = depthwise_conv_params::<i8, i8>(
            &g,
            QuantParams::new(1.0, 1),
            &[1.0, 0.5],
            0,
            QuantParams::new(1.0, 0),
            2,
        )
        .unwrap();
        let input = [2i8, 3, 4, 5]; // minus zp 1 -> 1,2,3,4
        let filter = [1i8, 2, 1, 2, 1, 2, 1, 2]; // [1,2,2,2]
        let mut out = [0i8; 2];
        depthwise_conv2d(
            &p,
            &input,
            [1, 2, 2, 1],
            &filter,
            [1, 2, 2, 2],
            Some(&[1, 1]),
            &mut out,
            [1, 1, 1, 2],
        );
        // ch0: (1+2+3+4)*1 + 1 = 11 ; ch1: 10*2 + 1 = 21, * 0.5 = 10.5 -> 11 (away from zero)
        assert_eq!(out, [11, 11]);
    }
}
