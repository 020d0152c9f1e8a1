//! int16x8 `CONV_2D` and `DEPTHWISE_CONV_2D`: int16 activations (zero point 0), int8 per-channel
//! weights and int64 bias, as TFLite's reference kernels (which the int16x8 ops always use).
//!
//! Accumulation is 64-bit and the per-channel multiplier is applied with TFLite's 64-bit
//! `MultiplyByQuantizedMultiplier` (multiplier reduced to 16 bits, one round-half-up shift). The
//! parameters are the same [`QuantConvParams`] as for int8 (`conv_params::<i16, i8>`), whose
//! `rounding` field does not apply here. With an int32 bias TFLite takes other paths (32-bit
//! accumulation, the int32 multiplier; see [`conv2d_16x8_i32_bias`]).

use super::conv::QuantConvParams;
use super::fixed_point::{apply_multiplier, multiply_by_quantized_multiplier_i64, Rounding};
use crate::kernels::common::compute_padding;

/// int16x8 CONV_2D (int16 activations, int8 weights, int64 bias): TFLite's reference kernel,
/// which accumulates in 64 bits and scales with the 64-bit multiply
/// ([`multiply_by_quantized_multiplier_i64`]); `params.rounding` is ignored. Parameters come from
/// [`conv_params::<i16, i8>`](super::conv::conv_params).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_16x8(
    params: &QuantConvParams,
    input: &[i16],
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    bias: Option<&[i64]>,
    output: &mut [i16],
    output_shape: [usize; 4],
) {
    let g = &params.geometry;
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, filter_in] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(g.padding, in_h, fh, g.stride_h, g.dilation_h);
    let (_, pad_w) = compute_padding(g.padding, in_w, fw, g.stride_w, g.dilation_w);
    let filters_per_group = out_c / (in_c / filter_in);
    let filter_stride = fh * fw * filter_in;
    for b in 0..batches {
        for oy in 0..out_h {
            let y0 = (oy * g.stride_h) as isize - pad_h as isize;
            for ox in 0..out_w {
                let x0 = (ox * g.stride_w) as isize - pad_w as isize;
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                for o in 0..out_c {
                    let channel0 = (o / filters_per_group) * filter_in;
                    let filter_o = &filter[o * filter_stride..(o + 1) * filter_stride];
                    let mut acc: i64 = 0;
                    for fy in 0..fh {
                        let iy = y0 + (fy * g.dilation_h) as isize;
                        if iy < 0 || iy >= in_h as isize {
                            continue;
                        }
                        for fx in 0..fw {
                            let ix = x0 + (fx * g.dilation_w) as isize;
                            if ix < 0 || ix >= in_w as isize {
                                continue;
                            }
                            let in_base =
                                ((b * in_h + iy as usize) * in_w + ix as usize) * in_c + channel0;
                            let f_base = (fy * fw + fx) * filter_in;
                            for (x, w) in input[in_base..in_base + filter_in]
                                .iter()
                                .zip(&filter_o[f_base..f_base + filter_in])
                            {
                                acc += i64::from(*x) * i64::from(*w);
                            }
                        }
                    }
                    if let Some(bias) = bias {
                        acc = acc.wrapping_add(bias[o]);
                    }
                    output[out_base + o] = finish_16x8(params, acc, o);
                }
            }
        }
    }
}

/// int16x8 DEPTHWISE_CONV_2D (64-bit accumulation and multiply, like [`conv2d_16x8`]).
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_16x8(
    params: &QuantConvParams,
    input: &[i16],
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    bias: Option<&[i64]>,
    output: &mut [i16],
    output_shape: [usize; 4],
) {
    let g = &params.geometry;
    let [batches, in_h, in_w, in_c] = input_shape;
    let [_, fh, fw, out_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let multiplier = out_c / in_c;
    let (_, pad_h) = compute_padding(g.padding, in_h, fh, g.stride_h, g.dilation_h);
    let (_, pad_w) = compute_padding(g.padding, in_w, fw, g.stride_w, g.dilation_w);
    let mut acc = vec![0i64; out_c];
    for b in 0..batches {
        for oy in 0..out_h {
            let y0 = (oy * g.stride_h) as isize - pad_h as isize;
            for ox in 0..out_w {
                let x0 = (ox * g.stride_w) as isize - pad_w as isize;
                acc.iter_mut().for_each(|a| *a = 0);
                for fy in 0..fh {
                    let iy = y0 + (fy * g.dilation_h) as isize;
                    if iy < 0 || iy >= in_h as isize {
                        continue;
                    }
                    for fx in 0..fw {
                        let ix = x0 + (fx * g.dilation_w) as isize;
                        if ix < 0 || ix >= in_w as isize {
                            continue;
                        }
                        let in_base = ((b * in_h + iy as usize) * in_w + ix as usize) * in_c;
                        let f_base = (fy * fw + fx) * out_c;
                        for (o, a) in acc.iter_mut().enumerate() {
                            *a += i64::from(input[in_base + o / multiplier])
                                * i64::from(filter[f_base + o]);
                        }
                    }
                }
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                for (o, &a) in acc.iter().enumerate() {
                    let a = a.wrapping_add(bias.map_or(0, |bias| bias[o]));
                    output[out_base + o] = finish_16x8(params, a, o);
                }
            }
        }
    }
}

/// int16x8 CONV_2D with an int32 bias (`quantized_bias_type` INT32), as LiteRT runs it: 32-bit
/// wrapping accumulation and the per-channel integer multiplier. Ungrouped convolutions go through
/// TFLite's optimized im2col + ruy GEMM path (ruy's x86 rounding,
/// [`Rounding::RuyX86`]); grouped ones through the reference kernel (gemmlowp double rounding,
/// [`Rounding::Double`]). `params.rounding` is ignored.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_16x8_i32_bias(
    params: &QuantConvParams,
    input: &[i16],
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    output: &mut [i16],
    output_shape: [usize; 4],
) {
    let g = &params.geometry;
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, filter_in] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(g.padding, in_h, fh, g.stride_h, g.dilation_h);
    let (_, pad_w) = compute_padding(g.padding, in_w, fw, g.stride_w, g.dilation_w);
    let groups = in_c / filter_in.max(1);
    let rounding = if groups == 1 {
        Rounding::RuyX86
    } else {
        Rounding::Double
    };
    let filters_per_group = out_c / groups.max(1);
    let filter_stride = fh * fw * filter_in;
    for b in 0..batches {
        for oy in 0..out_h {
            let y0 = (oy * g.stride_h) as isize - pad_h as isize;
            for ox in 0..out_w {
                let x0 = (ox * g.stride_w) as isize - pad_w as isize;
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                for o in 0..out_c {
                    let channel0 = (o / filters_per_group) * filter_in;
                    let filter_o = &filter[o * filter_stride..(o + 1) * filter_stride];
                    let mut acc: i32 = 0;
                    for fy in 0..fh {
                        let iy = y0 + (fy * g.dilation_h) as isize;
                        if iy < 0 || iy >= in_h as isize {
                            continue;
                        }
                        for fx in 0..fw {
                            let ix = x0 + (fx * g.dilation_w) as isize;
                            if ix < 0 || ix >= in_w as isize {
                                continue;
                            }
                            let in_base =
                                ((b * in_h + iy as usize) * in_w + ix as usize) * in_c + channel0;
                            let f_base = (fy * fw + fx) * filter_in;
                            for (x, w) in input[in_base..in_base + filter_in]
                                .iter()
                                .zip(&filter_o[f_base..f_base + filter_in])
                            {
                                acc = acc.wrapping_add(i32::from(*x) * i32::from(*w));
                            }
                        }
                    }
                    if let Some(bias) = bias {
                        acc = acc.wrapping_add(bias[o]);
                    }
                    let scaled =
                        apply_multiplier(acc, params.multipliers[o], params.shifts[o], rounding);
                    output[out_base + o] = scaled
                        .wrapping_add(params.output_offset)
                        .clamp(params.act_min, params.act_max)
                        as i16;
                }
            }
        }
    }
}

/// Scales a 64-bit accumulator of channel `c` to int16 and clamps it.
#[inline]
fn finish_16x8(params: &QuantConvParams, acc: i64, c: usize) -> i16 {
    let scaled = multiply_by_quantized_multiplier_i64(acc, params.multipliers[c], params.shifts[c]);
    scaled
        .wrapping_add(params.output_offset)
        .clamp(params.act_min, params.act_max) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};
    use crate::kernels::conv::Conv2DParams;
    use crate::kernels::quant::conv::conv_params;
    use crate::kernels::quant::QuantParams;

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
    fn conv_16x8_uses_64_bit_accumulation() {
        // One 1x1 tap with a large product and int64 bias beyond the int32 range.
        let g = geometry(Padding::Valid, 1, Activation::None);
        let p = conv_params::<i16, i8>(
            &g,
            QuantParams::new(1e-3, 0),
            &[1e-3],
            0,
            QuantParams::new(1.0, 0),
            1,
        )
        .unwrap();
        let mut out = [0i16; 1];
        conv2d_16x8(
            &p,
            &[30_000],
            [1, 1, 1, 1],
            &[100],
            [1, 1, 1, 1],
            Some(&[5_000_000_000]),
            &mut out,
            [1, 1, 1, 1],
        );
        // (3e6 + 5e9) * 1e-6 = 5003 (within the 16-bit multiplier's precision)
        let want =
            multiply_by_quantized_multiplier_i64(5_003_000_000, p.multipliers[0], p.shifts[0]);
        assert_eq!(i32::from(out[0]), want);
        assert!((i32::from(out[0]) - 5003).abs() <= 1);
        let mut dw = [0i16; 1];
        depthwise_conv2d_16x8(
            &p,
            &[30_000],
            [1, 1, 1, 1],
            &[100],
            [1, 1, 1, 1],
            Some(&[5_000_000_000]),
            &mut dw,
            [1, 1, 1, 1],
        );
        assert_eq!(dw, out);
    }
}
