//! Quantized HARD_SWISH, LEAKY_RELU and PRELU (int8 / uint8), as LiteRT's built-in kernels compute
//! them.
//!
//! * HARD_SWISH follows TFLite's 16-bit fixed-point algorithm: the input (minus its zero point) is
//!   moved to a "hi-res" scale (`× 2^7`), multiplied once by the output multiplier and once by the
//!   "relu-ish" multiplier that maps `[-3, 3]` onto the int16 range, the latter is turned into a
//!   `[0, 1]` gate, and the two are combined with a *truncating* doubling high multiply before the
//!   final rounding shift. Both multipliers are computed in f32 (as TFLite does) and reduced to
//!   Q0.15 by `DownScaleInt32ToInt16Multiplier`.
//! * LEAKY_RELU requantizes non-negative inputs with `s_in / s_out` and negative ones with
//!   `s_in · alpha / s_out` (both products in f32), each with TFLite's double-rounding
//!   `MultiplyByQuantizedMultiplier`.
//! * PRELU does the same with a quantized `alpha` tensor: `(x - zp_x) · (alpha - zp_a)` scaled by
//!   `s_x · s_a / s_out` for negative inputs; `alpha` broadcasts against the input.

use super::fixed_point::{multiply_by_quantized_multiplier, quantize_multiplier};
use super::{check_quant, QuantElem, QuantParams};
use crate::kernels::broadcast::broadcast_map2;
use crate::kernels::common::KernelError;

/// Prepared HARD_SWISH parameters (TFLite's `HardSwishParams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardSwishParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q0.15 multiplier of `s_in / (128 · s_out)`.
    pub output_multiplier: i16,
    /// Its exponent (always `<= 0`).
    pub output_exponent: i32,
    /// Q0.15 multiplier of `(s_in / 128) / (3 / 32768)`.
    pub reluish_multiplier: i16,
    /// Its exponent.
    pub reluish_exponent: i32,
}

/// TFLite's `DownScaleInt32ToInt16Multiplier`: rounds a Q0.31 multiplier to Q0.15.
fn downscale_multiplier(m: i32) -> i16 {
    const ROUND: i32 = 1 << 15;
    if m >= i32::MAX - ROUND {
        i16::MAX
    } else {
        ((m + ROUND) >> 16) as i16
    }
}

/// Prepares HARD_SWISH for storage type `T`; errors when the output multiplier would need a left
/// shift (TFLite rejects that case too).
pub fn hard_swish_params<T: QuantElem>(
    input: QuantParams,
    output: QuantParams,
) -> Result<HardSwishParams, KernelError> {
    check_quant::<T>("hard-swish input", input)?;
    check_quant::<T>("hard-swish output", output)?;
    let hires_input_scale = (1.0f32 / 128.0) * input.scale;
    let reluish_scale = 3.0f32 / 32768.0;
    let (om, oe) = quantize_multiplier(f64::from(hires_input_scale / output.scale));
    if oe > 0 {
        return Err(KernelError::Param(format!(
            "hard-swish output multiplier {} needs a left shift",
            hires_input_scale / output.scale
        )));
    }
    let (rm, re) = quantize_multiplier(f64::from(hires_input_scale / reluish_scale));
    Ok(HardSwishParams {
        input_zero_point: input.zero_point,
        output_zero_point: output.zero_point,
        output_multiplier: downscale_multiplier(om),
        output_exponent: oe,
        reluish_multiplier: downscale_multiplier(rm),
        reluish_exponent: re,
    })
}

/// gemmlowp's int16 `SaturatingRoundingDoublingHighMul`.
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// TFLite's int16 `SaturatingDoublingHighMul` (truncating towards zero).
fn sdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// gemmlowp's `RoundingDivideByPOT` on int16 values, including its behaviour for exponents of 16
/// and more (the mask is computed in 64 bits and truncated to 16).
fn rounding_divide_by_pot16(x: i16, exponent: i32) -> i16 {
    let e = exponent.clamp(0, 62);
    let mask = ((1i64 << e) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1).wrapping_add(i16::from(x < 0));
    let shifted = (i32::from(x) >> e.min(31)) as i16;
    shifted.wrapping_add(i16::from(remainder > threshold))
}

/// TFLite's int16 `SaturatingLeftShift`.
fn saturating_left_shift16(x: i16, amount: i32) -> i16 {
    let v = i64::from(x) * (1i64 << amount.clamp(0, 40));
    v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// One HARD_SWISH value.
fn hard_swish_one(p: &HardSwishParams, x: i32, qmin: i32, qmax: i32) -> i32 {
    // int16 arithmetic as in TFLite; `x - zp` fits int16 for 8-bit inputs.
    let input_value = (x - p.input_zero_point) as i16;
    let hires = input_value.wrapping_mul(1 << 7);
    let preshift_output = srdhm16(hires, p.output_multiplier);
    let mut reluish = hires;
    if p.reluish_exponent > 0 {
        reluish = saturating_left_shift16(reluish, p.reluish_exponent - 1);
    }
    reluish = srdhm16(reluish, p.reluish_multiplier);
    if p.reluish_exponent > 0 {
        reluish = saturating_left_shift16(reluish, 1);
    }
    if p.reluish_exponent < 0 {
        reluish = rounding_divide_by_pot16(reluish, -p.reluish_exponent);
    }
    // [-1, 1] -> [0, 1] in Q0.15 (computed in int, stored back to int16).
    let gate = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
    let preshift = sdhm16(gate, preshift_output);
    let out = rounding_divide_by_pot16(preshift, -p.output_exponent);
    (i32::from(out.wrapping_add(p.output_zero_point as i16))).clamp(qmin, qmax)
}

/// Quantized HARD_SWISH over equal-length slices.
pub fn hard_swish<T: QuantElem>(params: &HardSwishParams, input: &[T], output: &mut [T]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = T::from_i32_clamped(hard_swish_one(params, x.to_i32(), T::MIN, T::MAX));
    }
}

/// Prepared LEAKY_RELU parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakyReluParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Multiplier and shift of `s_in / s_out` (inputs at or above the zero point).
    pub identity: (i32, i32),
    /// Multiplier and shift of `s_in · alpha / s_out` (inputs below it).
    pub alpha: (i32, i32),
}

/// Prepares LEAKY_RELU for storage type `T` (products and quotients in f32, as TFLite).
pub fn leaky_relu_params<T: QuantElem>(
    input: QuantParams,
    alpha: f32,
    output: QuantParams,
) -> Result<LeakyReluParams, KernelError> {
    check_quant::<T>("leaky-relu input", input)?;
    check_quant::<T>("leaky-relu output", output)?;
    if !alpha.is_finite() {
        return Err(KernelError::Param(format!("alpha {alpha} is not finite")));
    }
    Ok(LeakyReluParams {
        input_zero_point: input.zero_point,
        output_zero_point: output.zero_point,
        identity: quantize_multiplier(f64::from(input.scale / output.scale)),
        alpha: quantize_multiplier(f64::from(input.scale * alpha / output.scale)),
    })
}

/// Quantized LEAKY_RELU over equal-length slices.
pub fn leaky_relu<T: QuantElem>(params: &LeakyReluParams, input: &[T], output: &mut [T]) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = x.to_i32() - params.input_zero_point;
        let (m, s) = if v >= 0 {
            params.identity
        } else {
            params.alpha
        };
        let r = params
            .output_zero_point
            .wrapping_add(multiply_by_quantized_multiplier(v, m, s));
        *o = T::from_i32_clamped(r.clamp(T::MIN, T::MAX));
    }
}

/// Prepared PRELU parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreluParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Alpha zero point.
    pub alpha_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Multiplier and shift of `s_in / s_out`.
    pub positive: (i32, i32),
    /// Multiplier and shift of `s_in · s_alpha / s_out`.
    pub negative: (i32, i32),
}

/// Prepares PRELU for storage type `T` (f32 products and quotients, as TFLite).
pub fn prelu_params<T: QuantElem>(
    input: QuantParams,
    alpha: QuantParams,
    output: QuantParams,
) -> Result<PreluParams, KernelError> {
    check_quant::<T>("prelu input", input)?;
    check_quant::<T>("prelu alpha", alpha)?;
    check_quant::<T>("prelu output", output)?;
    Ok(PreluParams {
        input_zero_point: input.zero_point,
        alpha_zero_point: alpha.zero_point,
        output_zero_point: output.zero_point,
        positive: quantize_multiplier(f64::from(input.scale / output.scale)),
        negative: quantize_multiplier(f64::from(input.scale * alpha.scale / output.scale)),
    })
}

/// Quantized PRELU: `alpha` broadcasts against `input`; `output` has the broadcast shape.
pub fn prelu<T: QuantElem>(
    params: &PreluParams,
    input: &[T],
    input_shape: &[usize],
    alpha: &[T],
    alpha_shape: &[usize],
    output: &mut [T],
) -> Result<(), KernelError> {
    let p = *params;
    broadcast_map2(input, input_shape, alpha, alpha_shape, output, |x, a| {
        let v = x.to_i32() - p.input_zero_point;
        let scaled = if v >= 0 {
            multiply_by_quantized_multiplier(v, p.positive.0, p.positive.1)
        } else {
            let av = a.to_i32() - p.alpha_zero_point;
            multiply_by_quantized_multiplier(v.wrapping_mul(av), p.negative.0, p.negative.1)
        };
        T::from_i32_clamped(
            scaled
                .wrapping_add(p.output_zero_point)
                .clamp(T::MIN, T::MAX),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dequant(q: i32, p: QuantParams) -> f32 {
        (q - p.zero_point) as f32 * p.scale
    }

    #[test]
    fn int16_helpers_match_their_definitions() {
        assert_eq!(srdhm16(i16::MIN, i16::MIN), i16::MAX);
        assert_eq!(srdhm16(16384, 16384), 8192);
        // gemmlowp's nudge is 2^14 for positive and 1 - 2^14 for negative products, so +1.5
        // rounds up and -1.5 towards zero.
        assert_eq!(srdhm16(3, 16384), 2);
        assert_eq!(srdhm16(-3, 16384), -1);
        assert_eq!(srdhm16(-5, 16384), -2); // -2.5
        assert_eq!(sdhm16(-5, 16384), -2); // truncates
        assert_eq!(rounding_divide_by_pot16(5, 1), 3);
        assert_eq!(rounding_divide_by_pot16(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot16(7, 0), 7);
        assert_eq!(saturating_left_shift16(20000, 1), i16::MAX);
        assert_eq!(saturating_left_shift16(-20000, 2), i16::MIN);
        assert_eq!(downscale_multiplier(1 << 30), 1 << 14);
        assert_eq!(downscale_multiplier(i32::MAX), i16::MAX);
    }

    #[test]
    fn hard_swish_tracks_the_float_function() {
        let (inp, out) = (QuantParams::new(0.05, -10), QuantParams::new(0.03, -100));
        let p = hard_swish_params::<i8>(inp, out).unwrap();
        let xs: Vec<i8> = (-128..=127).collect();
        let mut ys = vec![0i8; xs.len()];
        hard_swish(&p, &xs, &mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            let xf = dequant(x.into(), inp);
            let want = (xf * (xf + 3.0).clamp(0.0, 6.0) / 6.0)
                .clamp(dequant(-128, out), dequant(127, out));
            let got = dequant(y.into(), out);
            assert!(
                (got - want).abs() <= 2.0 * out.scale,
                "x {xf}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn hard_swish_rejects_upscaling_output() {
        // s_in / (128 s_out) > 1 needs a left shift.
        let r = hard_swish_params::<i8>(QuantParams::new(1.0, 0), QuantParams::new(1e-3, 0));
        assert!(r.is_err());
    }

    #[test]
    fn leaky_relu_uses_both_slopes() {
        let (inp, out) = (QuantParams::new(0.1, 0), QuantParams::new(0.1, 0));
        let p = leaky_relu_params::<i8>(inp, 0.5, out).unwrap();
        let mut y = [0i8; 4];
        leaky_relu(&p, &[10i8, -10, -3, 127], &mut y);
        assert_eq!(y, [10, -5, -1, 127]); // -1.5: gemmlowp's high multiply rounds it to -1
        let p =
            leaky_relu_params::<u8>(QuantParams::new(0.1, 128), 2.0, QuantParams::new(0.1, 128))
                .unwrap();
        let mut y = [0u8; 3];
        leaky_relu(&p, &[138u8, 118, 0], &mut y);
        assert_eq!(y, [138, 108, 0]);
    }

    #[test]
    fn prelu_broadcasts_quantized_alpha() {
        let inp = QuantParams::new(0.1, 0);
        let alpha = QuantParams::new(0.01, 0);
        let out = QuantParams::new(0.1, 0);
        let p = prelu_params::<i8>(inp, alpha, out).unwrap();
        let x = [-10i8, -10, 10, -20, 20, -30];
        let a = [50i8, 100, -25]; // 0.5, 1.0, -0.25
        let mut y = [0i8; 6];
        prelu(&p, &x, &[2, 3], &a, &[3], &mut y).unwrap();
        assert_eq!(y, [-5, -10, 10, -10, 20, 8]); // 7.5 rounds to 8
    }
}
