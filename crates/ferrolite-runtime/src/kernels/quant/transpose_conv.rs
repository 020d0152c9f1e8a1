//! Quantized TRANSPOSE_CONV: int8 with per-channel int8 weights and legacy uint8 with per-tensor
//! uint8 weights, both with int32 bias (NHWC input, `[out_c, h, w, in_c]` weights).
//!
//! TFLite's optimized kernel multiplies the weights by the zero-point-corrected input (a GEMM into
//! int32 columns), scatters the columns into the output ("col2im", taps that fall into the padding
//! are dropped), adds the bias and requantizes every value with its channel's multiplier using the
//! double-rounding `MultiplyByQuantizedMultiplier`, then adds the output zero point and clamps.
//! The integer sum does not depend on the order of accumulation, so the scatter below gives the
//! same bytes. Multipliers follow `PopulateConvolutionQuantizationParams`: per channel
//! `f64(s_in) · f64(s_w[c]) / f64(s_out)` for int8, and the legacy `f64(f32(s_in · s_w)) /
//! f64(s_out)` for uint8.

use super::conv::channel_multipliers;
use super::fixed_point::multiply_by_quantized_multiplier;
use super::{check_quant, quantized_activation_range, QuantElem, QuantParams};
use crate::kernels::common::{Activation, KernelError};
use crate::kernels::conv::window::Window;
use crate::kernels::conv::TransposeConvParams;

/// Prepared parameters of a quantized TRANSPOSE_CONV.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantTransposeConvParams {
    /// Geometry (padding, strides).
    pub geometry: TransposeConvParams,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Weight zero point (0 for int8).
    pub filter_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Multiplier per output channel.
    pub multipliers: Vec<i32>,
    /// Shift per output channel (positive = left).
    pub shifts: Vec<i32>,
    /// Lower clamp (quantized).
    pub act_min: i32,
    /// Upper clamp (quantized).
    pub act_max: i32,
}

/// Prepares a quantized TRANSPOSE_CONV with storage type `T` for activations and weights;
/// `filter_scales` has one entry or one per output channel.
pub fn transpose_conv_params<T: QuantElem>(
    geometry: &TransposeConvParams,
    input: QuantParams,
    filter_scales: &[f32],
    filter_zero_point: i32,
    output: QuantParams,
    out_channels: usize,
) -> Result<QuantTransposeConvParams, KernelError> {
    check_quant::<T>("transpose conv input", input)?;
    check_quant::<T>("transpose conv output", output)?;
    if !(T::MIN..=T::MAX).contains(&filter_zero_point) {
        return Err(KernelError::Param(format!(
            "filter zero point {filter_zero_point} out of range"
        )));
    }
    let legacy = T::MIN == 0;
    let (multipliers, shifts) =
        channel_multipliers(input, filter_scales, output, out_channels, legacy)?;
    let (act_min, act_max) = match geometry.activation {
        Activation::None => (T::MIN, T::MAX),
        a => quantized_activation_range(a, output, T::MIN, T::MAX),
    };
    Ok(QuantTransposeConvParams {
        geometry: *geometry,
        input_zero_point: input.zero_point,
        filter_zero_point,
        output_zero_point: output.zero_point,
        multipliers,
        shifts,
        act_min,
        act_max,
    })
}

/// Quantized TRANSPOSE_CONV. `acc` is an int32 scratch buffer of the output's size (resized
/// here). Shapes must be those accepted by the float module's `transpose_conv_output_shape`.
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv<T: QuantElem>(
    params: &QuantTransposeConvParams,
    input: &[T],
    input_shape: [usize; 4],
    filter: &[T],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    acc: &mut Vec<i32>,
    output: &mut [T],
    output_shape: [usize; 4],
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, _] = filter_shape;
    let window = Window::transpose(&params.geometry, output_shape, fh, fw);
    let filter_stride = fh * fw * in_c;
    acc.clear();
    acc.resize(output.len(), 0);
    let mut px = vec![0i32; in_c];
    for b in 0..batches {
        for iy in 0..in_h {
            for ix in 0..in_w {
                let in_base = ((b * in_h + iy) * in_w + ix) * in_c;
                for (p, &x) in px.iter_mut().zip(&input[in_base..in_base + in_c]) {
                    *p = x.to_i32() - params.input_zero_point;
                }
                window.for_each_tap(b, iy, ix, |pixel, tap| {
                    for (o, a) in acc[pixel * out_c..(pixel + 1) * out_c]
                        .iter_mut()
                        .enumerate()
                    {
                        let f_base = o * filter_stride + tap * in_c;
                        let dot = px.iter().zip(&filter[f_base..f_base + in_c]).fold(
                            0i32,
                            |s, (&x, &w)| {
                                s.wrapping_add(
                                    x.wrapping_mul(w.to_i32() - params.filter_zero_point),
                                )
                            },
                        );
                        *a = a.wrapping_add(dot);
                    }
                });
            }
        }
    }
    for (acc_px, out_px) in acc.chunks_exact(out_c).zip(output.chunks_exact_mut(out_c)) {
        for (c, (&a, o)) in acc_px.iter().zip(out_px.iter_mut()).enumerate() {
            let v = a.wrapping_add(bias.map_or(0, |b| b[c]));
            let r = multiply_by_quantized_multiplier(v, params.multipliers[c], params.shifts[c])
                .wrapping_add(params.output_zero_point)
                .clamp(params.act_min, params.act_max);
            *o = T::from_i32_clamped(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::Padding;
    use crate::kernels::conv;

    /// Against the float kernel on dequantized values: within one output step.
    #[test]
    fn agrees_with_float_transpose_conv() {
        let geometry = TransposeConvParams {
            padding: Padding::Same,
            stride_h: 2,
            stride_w: 2,
            activation: Activation::None,
        };
        let (inp, out) = (QuantParams::new(0.05, 3), QuantParams::new(0.1, -7));
        let wscales = [0.02f32, 0.01];
        let input: Vec<i8> = (0..2 * 3 * 2).map(|v| (v * 23 % 200 - 100) as i8).collect();
        let filter: Vec<i8> = (0..2 * 3 * 3 * 2)
            .map(|v| (v * 37 % 250 - 125) as i8)
            .collect();
        let bias = [40i32, -60];
        let (is, fs, os) = ([1, 2, 3, 2], [2, 3, 3, 2], [1, 4, 6, 2]);
        let p = transpose_conv_params::<i8>(&geometry, inp, &wscales, 0, out, 2).unwrap();
        let mut got = vec![0i8; 48];
        transpose_conv(
            &p,
            &input,
            is,
            &filter,
            fs,
            Some(&bias),
            &mut Vec::new(),
            &mut got,
            os,
        );

        let fin: Vec<f32> = input.iter().map(|&q| (f32::from(q) - 3.0) * 0.05).collect();
        let ffil: Vec<f32> = filter
            .iter()
            .enumerate()
            .map(|(i, &q)| f32::from(q) * wscales[i / 18])
            .collect();
        let fbias: Vec<f32> = bias
            .iter()
            .zip(wscales)
            .map(|(&b, s)| b as f32 * s * 0.05)
            .collect();
        let mut want = vec![0f32; 48];
        conv::transpose_conv(&geometry, &fin, is, &ffil, fs, Some(&fbias), &mut want, os);
        for (&g, &w) in got.iter().zip(&want) {
            let q = ((w / 0.1).round() - 7.0).clamp(-128.0, 127.0);
            assert!((f32::from(g) - q).abs() <= 1.0, "{g} vs {q}");
        }
    }
}
