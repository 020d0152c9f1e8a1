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
use crate::kernels::conv::window;

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
    window::grouped_conv(
        &params.geometry,
        input,
        input_shape,
        filter,
        filter_shape,
        output,
        output_shape,
        |mut acc: i64, xs: &[i16], ws: &[i8]| {
            for (x, w) in xs.iter().zip(ws) {
                acc += i64::from(*x) * i64::from(*w);
            }
            acc
        },
        |o, acc| finish_16x8(params, acc.wrapping_add(bias.map_or(0, |bias| bias[o])), o),
    );
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
    window::depthwise_conv(
        &params.geometry,
        input,
        input_shape,
        filter,
        filter_shape,
        output,
        output_shape,
        |acc: i64, x: i16, w: i8| acc + i64::from(x) * i64::from(w),
        |o, acc| finish_16x8(params, acc.wrapping_add(bias.map_or(0, |bias| bias[o])), o),
    );
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
    let groups = input_shape[3] / filter_shape[3].max(1);
    let rounding = if groups == 1 {
        Rounding::RuyX86
    } else {
        Rounding::Double
    };
    window::grouped_conv(
        &params.geometry,
        input,
        input_shape,
        filter,
        filter_shape,
        output,
        output_shape,
        |mut acc: i32, xs: &[i16], ws: &[i8]| {
            for (x, w) in xs.iter().zip(ws) {
                acc = acc.wrapping_add(i32::from(*x) * i32::from(*w));
            }
            acc
        },
        |o, acc| {
            let acc = acc.wrapping_add(bias.map_or(0, |bias| bias[o]));
            let scaled = apply_multiplier(acc, params.multipliers[o], params.shifts[o], rounding);
            scaled
                .wrapping_add(params.output_offset)
                .clamp(params.act_min, params.act_max) as i16
        },
    );
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
