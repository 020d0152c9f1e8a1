//! Quantized `MEAN` (and `SUM`) over arbitrary axes, plus TFLite's specialised 4-D
//! height-and-width mean.
//!
//! TFLite has two integer paths:
//!
//! * [`mean_hw`] — the optimized kernel for a rank-4 int8/uint8 input reduced over axes {1, 2}
//!   with `keep_dims`: the raw (un-offset) int32 sum is scaled by a multiplier of
//!   `f32(s_in / (h·w · s_out))` and a bias `zp_out - (int)(zp_in · s_in / s_out ± 0.5)` (f32) is
//!   added.
//! * [`mean`] — the general path (the reference `QuantizedMeanOrSum`, which LiteRT's MEAN uses):
//!   `sum - zp_in · n` is scaled by the multiplier of `s_in / s_out` with `1/n` folded in at run
//!   time (`m' = (m << k) / n`, `shift' = shift - k`, `k = min(floor(log2 n), 32, 31 + shift)`),
//!   then offset by `zp_out`. With `sum = true` the `1/n` is left out (the reference quantized SUM).
//!
//! Both use TFLite's double-rounding multiply. LiteRT's quantized SUM runs the *optimized*
//! `QuantizedMeanOrSum` instead, which rescales the raw sum in f32 and does not clamp: that is
//! [`sum`] / [`sum_params`].

use super::fixed_point::{multiply_by_quantized_multiplier, quantize_multiplier};
use super::{QuantElem, QuantParams};
use crate::kernels::common::KernelError;
use crate::kernels::reduce::ReduceLayout;

/// Prepared parameters of the specialised height/width mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeanHwParams {
    /// Multiplier of `s_in / (h·w · s_out)`.
    pub multiplier: i32,
    /// Its shift.
    pub shift: i32,
    /// Added after scaling (output zero point minus the scaled input zero point).
    pub bias: i32,
}

/// Prepares [`mean_hw`] for `hw = h · w` reduced cells.
pub fn mean_hw_params(input: QuantParams, output: QuantParams, hw: usize) -> MeanHwParams {
    let mut temp = input.zero_point as f32 * input.scale / output.scale;
    temp = if temp > 0.0 { temp + 0.5 } else { temp - 0.5 };
    let bias = output.zero_point.wrapping_sub(temp as i32);
    let real_scale = input.scale / (hw as f32 * output.scale);
    let (multiplier, shift) = quantize_multiplier(f64::from(real_scale));
    MeanHwParams {
        multiplier,
        shift,
        bias,
    }
}

/// Specialised MEAN over height and width of an NHWC `input`; `output` is `[n, c]` (i.e. the
/// `[n, 1, 1, c]` result).
pub fn mean_hw<T: QuantElem>(
    params: &MeanHwParams,
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
) {
    let [batches, h, w, depth] = input_shape;
    let mut acc = vec![0i32; depth];
    for b in 0..batches {
        acc.iter_mut().for_each(|a| *a = 0);
        let image = &input[b * h * w * depth..(b + 1) * h * w * depth];
        for px in image.chunks_exact(depth) {
            for (a, x) in acc.iter_mut().zip(px) {
                *a = a.wrapping_add(x.to_i32());
            }
        }
        for (o, &a) in output[b * depth..(b + 1) * depth].iter_mut().zip(&acc) {
            let v = multiply_by_quantized_multiplier(a, params.multiplier, params.shift)
                .wrapping_add(params.bias)
                .clamp(T::MIN, T::MAX);
            *o = T::from_i32_clamped(v);
        }
    }
}

/// Prepared parameters of the general quantized MEAN / SUM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeanParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Multiplier (with `1/n` folded in for MEAN).
    pub multiplier: i32,
    /// Its shift.
    pub shift: i32,
    /// Number of input elements reduced into each output (`n`).
    pub count: usize,
}

/// Prepares the general quantized MEAN (`sum = false`) or SUM (`sum = true`) for `count` reduced
/// elements per output.
pub fn mean_params(
    input: QuantParams,
    output: QuantParams,
    count: usize,
    sum: bool,
) -> Result<MeanParams, KernelError> {
    if count == 0 {
        return Err(KernelError::Shape("mean over an empty axis".into()));
    }
    let (mut multiplier, mut shift) =
        quantize_multiplier(f64::from(input.scale) / f64::from(output.scale));
    if !sum {
        let n = count as i64;
        let k = (63 - (n as u64).leading_zeros() as i32)
            .min(32)
            .min(31 + shift);
        multiplier = ((i64::from(multiplier) << k) / n) as i32;
        shift -= k;
    }
    Ok(MeanParams {
        input_zero_point: input.zero_point,
        output_zero_point: output.zero_point,
        multiplier,
        shift,
        count,
    })
}

/// Raw int32 sums of `input` (row-major `input_shape`) over the distinct `axes`, one per output
/// element (the product of the kept dimensions, `out_len`), accumulated in input order.
fn raw_sums<T: QuantElem>(
    input: &[T],
    input_shape: &[usize],
    axes: &[usize],
    out_len: usize,
) -> Vec<i32> {
    let mut sums = vec![0i32; out_len];
    ReduceLayout::new(input_shape, axes).fold(input, &mut sums, |s, x| s.wrapping_add(x.to_i32()));
    sums
}

/// General quantized MEAN / SUM: reduces `input` (row-major `input_shape`) over the resolved,
/// distinct `axes`; `output` holds the product of the kept dimensions. `params.count` must equal
/// the product of the reduced dimensions.
pub fn mean<T: QuantElem>(
    params: &MeanParams,
    input: &[T],
    input_shape: &[usize],
    axes: &[usize],
    output: &mut [T],
) {
    let sums = raw_sums(input, input_shape, axes, output.len());
    let zp_total = params.input_zero_point.wrapping_mul(params.count as i32);
    for (o, &s) in output.iter_mut().zip(&sums) {
        let v = multiply_by_quantized_multiplier(
            s.wrapping_sub(zp_total),
            params.multiplier,
            params.shift,
        )
        .wrapping_add(params.output_zero_point)
        .clamp(T::MIN, T::MAX);
        *o = T::from_i32_clamped(v);
    }
}

/// Prepared parameters of LiteRT's quantized SUM (its optimized kernel's float rescaling).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SumParams {
    /// `s_in / s_out` in f32.
    pub scale: f32,
    /// `-zp_in · scale · n` in f32.
    pub bias: f32,
    /// Output zero point.
    pub output_zero_point: i32,
}

/// Prepares the quantized SUM of `count` elements per output, as TFLite's optimized
/// `QuantizedMeanOrSum` with `compute_sum` (the integer multiplier TFLite also computes at prepare
/// time is only used by its reference kernel).
pub fn sum_params(input: QuantParams, output: QuantParams, count: usize) -> SumParams {
    let scale = input.scale / output.scale;
    SumParams {
        scale,
        bias: (-input.zero_point) as f32 * scale * count as f32,
        output_zero_point: output.zero_point,
    }
}

/// Quantized SUM like LiteRT's optimized kernel: the raw int32 sum is rescaled in f32,
/// `round(sum · scale + bias) + zp_out`, and narrowed to `T` *without* clamping (TFLite's
/// `static_cast`, i.e. the value wraps). Arguments as for [`mean`].
pub fn sum<T: QuantElem>(
    params: &SumParams,
    input: &[T],
    input_shape: &[usize],
    axes: &[usize],
    output: &mut [T],
) {
    let sums = raw_sums(input, input_shape, axes, output.len());
    for (o, &s) in output.iter_mut().zip(&sums) {
        let scaled = s as f32 * params.scale;
        let v = ((scaled + params.bias).round() as i32).wrapping_add(params.output_zero_point);
        // `from_i32_clamped` is an `as` cast: out-of-range values wrap like TFLite's.
        *o = T::from_i32_clamped(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_hw_identity_quantization() {
        let q = QuantParams::new(0.5, 0);
        let p = mean_hw_params(q, q, 4);
        let input = [1i8, 10, 2, 20, 3, 30, 5, -60]; // [1, 2, 2, 2]
        let mut out = [0i8; 2];
        mean_hw(&p, &input, [1, 2, 2, 2], &mut out);
        // (1+2+3+5)/4 = 2.75 -> 3 ; (10+20+30-60)/4 = 0
        assert_eq!(out, [3, 0]);
    }

    #[test]
    fn mean_hw_with_offsets() {
        let p = mean_hw_params(QuantParams::new(0.1, -10), QuantParams::new(0.2, 5), 2);
        // bias = 5 - (int)(-10*0.1/0.2 - 0.5) = 5 - (int)(-5.5) = 10
        assert_eq!(p.bias, 10);
        let mut out = [0i8; 1];
        mean_hw(&p, &[10i8, 20], [1, 1, 2, 1], &mut out);
        // real: ((20 + 30)/2) * 0.1 = 2.5 -> /0.2 = 12.5 + 5 = 17.5 ; integer path: 30*0.25 = 7.5 -> 8 + 10 = 18
        assert_eq!(out, [18]);
    }

    #[test]
    fn general_mean_matches_float_reference() {
        let qi = QuantParams::new(0.07, 3);
        let qo = QuantParams::new(0.05, -4);
        let shape = [2, 3, 4];
        let input: Vec<i8> = (0..24).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        for axes in [vec![1usize], vec![0, 2], vec![2]] {
            let count: usize = axes.iter().map(|&a| shape[a]).product();
            let p = mean_params(qi, qo, count, false).unwrap();
            let out_len = 24 / count;
            let mut out = vec![0i8; out_len];
            mean(&p, &input, &shape, &axes, &mut out);
            // float reference
            let mut sums = vec![0f64; out_len];
            for (i, &x) in input.iter().enumerate() {
                let idx = [i / 12, (i / 4) % 3, i % 4];
                let mut o = 0;
                for d in 0..3 {
                    if !axes.contains(&d) {
                        o = o * shape[d] + idx[d];
                    }
                }
                sums[o] += f64::from(i32::from(x) - 3) * 0.07;
            }
            for (o, s) in out.iter().zip(sums) {
                let want = (s / count as f64 / 0.05 - 4.0).round();
                assert!((f64::from(*o) - want).abs() <= 1.0, "{axes:?}");
            }
        }
    }

    #[test]
    fn litert_quantized_sum_rescales_in_float_and_wraps() {
        let p = sum_params(QuantParams::new(0.5, 2), QuantParams::new(1.0, -3), 3);
        // bias = -2 * 0.5 * 3 = -3 ; sums: 6 -> 3 - 3 - 3 = -3 ; 150 -> 75 - 3 - 3 = 69
        let mut out = [0i8; 2];
        sum(&p, &[1i8, 2, 3, 40, 50, 60], &[2, 3], &[1], &mut out);
        assert_eq!(out, [-3, 69]);
        let q = QuantParams::new(1.0, 0);
        let p = sum_params(q, q, 2);
        sum(&p, &[100i8, 100], &[2], &[0], &mut out[..1]);
        assert_eq!(out[0], -56); // 200 wraps
    }

    #[test]
    fn quantized_sum() {
        let q = QuantParams::new(1.0, 0);
        let p = mean_params(q, q, 3, true).unwrap();
        let mut out = [0i8; 2];
        mean(&p, &[1i8, 2, 3, 100, 20, 30], &[2, 3], &[1], &mut out);
        assert_eq!(out, [6, 127]);
    }
}
