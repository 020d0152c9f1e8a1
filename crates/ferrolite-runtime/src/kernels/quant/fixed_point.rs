//! TFLite's integer arithmetic, reproduced bit for bit.
//!
//! A real multiplier `M` is stored as a Q0.31 fixed-point mantissa in `[2^30, 2^31)` plus a
//! power-of-two exponent (`M ≈ m · 2^(shift - 31)`, [`quantize_multiplier`]). Applying it to an
//! int32 accumulator comes in two flavours that differ in their last bit:
//!
//! * **double rounding** ([`multiply_by_quantized_multiplier`]): gemmlowp's saturating rounding
//!   doubling high multiply followed by a rounding (half away from zero) right shift. This is what
//!   TFLite's reference kernels and its own optimized kernels (add, mean, depthwise conv, ...) use
//!   in default builds (`TFLITE_SINGLE_ROUNDING` unset).
//! * **single rounding** ([`multiply_by_quantized_multiplier_single`]): one 64-bit product and a
//!   single round-half-up shift (ruy's portable reference, `TFLITE_SINGLE_ROUNDING` builds).
//! * **ruy x86** ([`multiply_by_quantized_multiplier_ruy_x86`]): what ruy's AVX2/AVX-512 int8
//!   kernels actually compute, and hence what TFLite's int8 CONV_2D / FULLY_CONNECTED produce on
//!   x86 (they run as ruy GEMMs): two roundings like gemmlowp, but both round half *up*, so a
//!   negative value that lands on an exact tie after the first step goes towards zero.
//!
//! The fixed-point transcendental helpers built on these primitives live in
//! [`super::transcendental`]. All arithmetic wraps exactly where the C++ (on two's-complement
//! hardware) wraps.

use crate::kernels::common::KernelError;

/// How an int32 accumulator is scaled by a quantized multiplier (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// gemmlowp / TFLite reference: SRDHM then rounding divide by a power of two.
    Double,
    /// ruy's reference (and `TFLITE_SINGLE_ROUNDING` builds): one round-half-up shift of the
    /// 64-bit product.
    Single,
    /// ruy's x86 SIMD kernels: round half up at 2^31, then a round-half-up right shift.
    RuyX86,
}

/// C's `frexp`: `x = mantissa · 2^exp` with `0.5 <= |mantissa| < 1` (`(x, 0)` for 0, ±inf, NaN).
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    if raw_exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let exp = raw_exp - 1022;
    let mantissa_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(mantissa_bits), exp)
}

/// TFLite's `QuantizeMultiplier`: `(m, shift)` with `real ≈ m · 2^(shift - 31)`.
///
/// `m` is `round_half_away(frac · 2^31)` for `frac = frexp(real)`; a mantissa that rounds up to
/// `2^31` is halved and the shift bumped; zero maps to `(0, 0)` and multipliers below about
/// `2^-31` (shift < -31) are flushed to `(0, 0)` as TFLite does.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * 2f64.powi(31)).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// TFLite's `QuantizeMultiplierSmallerThanOneExp`: like [`quantize_multiplier`] but requires
/// `0 < real < 1`, so the returned shift is `<= 0`.
pub fn quantize_multiplier_smaller_than_one(real: f64) -> Result<(i32, i32), KernelError> {
    if !(real > 0.0 && real < 1.0) {
        return Err(KernelError::Param(format!(
            "multiplier {real} must lie in (0, 1)"
        )));
    }
    Ok(quantize_multiplier(real))
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `round_half_away(a · b / 2^31)`, saturating the
/// single overflow case `i32::MIN · i32::MIN` to `i32::MAX`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
///
/// `exponent` must lie in `0..=31`.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// TFLite's default `MultiplyByQuantizedMultiplier(int32, int32, int)` (double rounding).
///
/// A positive `shift` is applied as a (wrapping) left shift before the high multiply, a negative
/// one as a rounding right shift after it. `shift` must lie in `-31..=30`.
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left), multiplier),
        right,
    )
}

/// Single-rounding multiplier application (ruy's `MultiplyByQuantizedMultiplier`,
/// TFLite's `TFLITE_SINGLE_ROUNDING` variant): `(x · m + 2^(30 - shift)) >> (31 - shift)`.
///
/// `shift` must lie in `-31..=30`; the result is truncated to 32 bits like the C++ cast.
#[inline]
pub fn multiply_by_quantized_multiplier_single(x: i32, multiplier: i32, shift: i32) -> i32 {
    let total_shift = 31 - shift;
    let round = 1i64 << (total_shift - 1);
    ((i64::from(x) * i64::from(multiplier) + round) >> total_shift) as i32
}

/// ruy's x86 (AVX2 / AVX-512) output-stage multiply: `t = (x · 2^left · m + 2^30) >> 31`, then
/// `(t + 2^(right-1)) >> right`, saturating to `2^(31-right)` on overflow and truncating to 32 bits
/// (all as the SIMD code does). `shift` must lie in `-31..=30`.
#[inline]
pub fn multiply_by_quantized_multiplier_ruy_x86(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = i64::from((-shift).max(0));
    let x = x.wrapping_shl(left as u32);
    let scaled = (i64::from(x) * i64::from(multiplier) + (1i64 << 30)) >> 31;
    if right == 0 {
        return scaled as i32;
    }
    let nudge = 1i64 << (right - 1);
    if scaled > 0x7fff_ffff - nudge {
        (1i64 << (31 - right)) as i32
    } else {
        ((scaled + nudge) >> right) as i32
    }
}

/// Applies a multiplier with the chosen [`Rounding`].
#[inline]
pub fn apply_multiplier(x: i32, multiplier: i32, shift: i32, rounding: Rounding) -> i32 {
    match rounding {
        Rounding::Double => multiply_by_quantized_multiplier(x, multiplier, shift),
        Rounding::Single => multiply_by_quantized_multiplier_single(x, multiplier, shift),
        Rounding::RuyX86 => multiply_by_quantized_multiplier_ruy_x86(x, multiplier, shift),
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier(int64, int32, int)` used with 64-bit accumulators
/// (int16x8 conv / FC with int64 bias): the multiplier is reduced to 16 bits
/// (`(m + 2^15) >> 16`, saturated at `0x7FFF`) and applied with one round-half-up shift.
///
/// Assumes `|x| < 2^47` and `shift` in `-31..=7`.
#[inline]
pub fn multiply_by_quantized_multiplier_i64(x: i64, multiplier: i32, shift: i32) -> i32 {
    let reduced: i64 = if multiplier < 0x7FFF_0000 {
        i64::from((multiplier + (1 << 15)) >> 16)
    } else {
        0x7FFF
    };
    let total_shift = 15 - shift;
    let round = 1i64 << (total_shift - 1);
    (x.wrapping_mul(reduced).wrapping_add(round) >> total_shift) as i32
}

/// `(int32_t)std::round(v)` as compiled for x86-64: round half away from zero, and any value
/// outside the int32 range (or NaN) becomes `i32::MIN`, the "integer indefinite" that
/// `cvttsd2si` returns (C++ leaves the conversion undefined; this is what LiteRT's binary does).
#[inline]
pub fn round_to_i32_x86(v: f64) -> i32 {
    let r = v.round();
    if (-2_147_483_648.0..=2_147_483_647.0).contains(&r) {
        r as i32
    } else {
        i32::MIN
    }
}

/// gemmlowp's `SaturatingRoundingMultiplyByPOT<exponent>` on a raw int32: a saturating left shift
/// for `exponent > 0` (values beyond `±(2^(31-exponent) - 1)` saturate), a rounding right shift
/// for `exponent < 0`.
#[inline]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent == 0 {
        x
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        let threshold = ((1i64 << (31 - exponent)) - 1) as i32;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x.wrapping_shl(exponent as u32)
        }
    }
}

/// gemmlowp's `Rescale`: converts a raw fixed-point value with `from_bits` integer bits to one with
/// `to_bits` integer bits (saturating, rounding).
#[inline]
pub fn rescale(raw: i32, from_bits: i32, to_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(raw, from_bits - to_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a multiplier back to the real value it represents.
    fn real_of(m: i32, shift: i32) -> f64 {
        f64::from(m) * 2f64.powi(shift - 31)
    }

    #[test]
    fn x86_double_to_int_conversion() {
        assert_eq!(round_to_i32_x86(2.5), 3);
        assert_eq!(round_to_i32_x86(-2.5), -3);
        assert_eq!(round_to_i32_x86(-0.4), 0);
        assert_eq!(round_to_i32_x86(2_147_483_647.4), i32::MAX);
        assert_eq!(round_to_i32_x86(3e9), i32::MIN);
        assert_eq!(round_to_i32_x86(-3e9), i32::MIN);
        assert_eq!(round_to_i32_x86(f64::NAN), i32::MIN);
    }

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(1.0), (0.5, 1));
        let tiny = f64::from_bits(1); // smallest subnormal, 2^-1074
        assert_eq!(frexp(tiny), (0.5, -1073));
    }

    #[test]
    fn quantize_multiplier_known_pairs() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(2.0), (1 << 30, 2));
        assert_eq!(quantize_multiplier(0.75), (1_610_612_736, 0));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        // 1/3: frac 2/3 -> round(2/3 * 2^31) = 1431655765
        assert_eq!(quantize_multiplier(1.0 / 3.0), (1_431_655_765, -1));
    }

    #[test]
    fn quantize_multiplier_rounds_up_to_two_pow_31() {
        // Just below 1.0: frac * 2^31 rounds to 2^31, which is halved with shift + 1.
        let x = 1.0 - 2f64.powi(-40);
        assert_eq!(quantize_multiplier(x), (1 << 30, 1));
    }

    #[test]
    fn quantize_multiplier_flushes_tiny() {
        assert_eq!(quantize_multiplier(2f64.powi(-40)), (0, 0));
        // 2^-32 has frexp exponent -31: still representable.
        assert_eq!(quantize_multiplier(2f64.powi(-32)), (1 << 30, -31));
    }

    #[test]
    fn quantize_multiplier_is_accurate() {
        for &r in &[1e-6, 3.7e-4, 0.0123, 0.9999, 1.5, 77.25, 1234.5] {
            let (m, s) = quantize_multiplier(r);
            assert!((1 << 30..=i32::MAX).contains(&m), "{r}: {m}");
            assert!((real_of(m, s) - r).abs() <= r * 2f64.powi(-30), "{r}");
        }
    }

    #[test]
    fn smaller_than_one_rejects_out_of_range() {
        assert!(quantize_multiplier_smaller_than_one(1.0).is_err());
        assert!(quantize_multiplier_smaller_than_one(0.0).is_err());
        assert_eq!(
            quantize_multiplier_smaller_than_one(0.5).unwrap(),
            (1 << 30, 0)
        );
    }

    #[test]
    fn srdhm_rounds_half_up_and_saturates() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        // 3 * 2^30 / 2^31 = 1.5 -> 2 ; the negative nudge is 1 - 2^30, so -1.5 -> -1
        // (ties go up, towards +inf).
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(-5, 1 << 30), -2);
        assert_eq!(saturating_rounding_doubling_high_mul(5, 1 << 30), 3);
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
    }

    #[test]
    fn rounding_divide_ties_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 -> 2
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(-7, 2), -2); // -1.75
        assert_eq!(rounding_divide_by_pot(-5, 2), -1); // -1.25
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    }

    /// Simple xorshift for reproducible random tests.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    /// Exact rational reference of the double-rounding scheme: the high multiply rounds half up
    /// (`floor(p / 2^31 + 1/2)`), the power-of-two division rounds half away from zero.
    fn double_rounding_reference(x: i32, m: i32, shift: i32) -> i32 {
        let left = shift.max(0);
        let right = (-shift).max(0);
        let xs = i128::from(x.wrapping_mul(1 << left));
        let p = xs * i128::from(m);
        let high = (p + (1i128 << 30)).div_euclid(1i128 << 31);
        let d = 1i128 << right;
        let away = high.signum() * ((high.abs() * 2 + d) / (2 * d));
        away as i32
    }

    #[test]
    fn multiply_by_quantized_multiplier_matches_exact_formula() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            let x = (rng(&mut seed) as i32) >> (rng(&mut seed) % 20);
            let m = (1 << 30) + (rng(&mut seed) % (1 << 30)) as i32;
            let shift = -((rng(&mut seed) % 20) as i32);
            assert_eq!(
                multiply_by_quantized_multiplier(x, m, shift),
                double_rounding_reference(x, m, shift),
                "x={x} m={m} shift={shift}"
            );
            // Single rounding: floor((x*m + 2^(30-shift)) / 2^(31-shift)).
            let t = 31 - shift;
            let exact = ((i128::from(x) * i128::from(m) + (1i128 << (t - 1))) >> t) as i32;
            assert_eq!(multiply_by_quantized_multiplier_single(x, m, shift), exact);
        }
    }

    #[test]
    fn single_and_double_rounding_can_differ() {
        let m = 1 << 30; // 0.5, with shift -1: x / 4
                         // x = -6: -1.5. Double: SRDHM gives -3 exactly, then -3/2 rounds away to -2.
                         // Single: floor(-1.5 + 0.5) = -1.
        assert_eq!(multiply_by_quantized_multiplier(-6, m, -1), -2);
        assert_eq!(multiply_by_quantized_multiplier_single(-6, m, -1), -1);
        assert_eq!(apply_multiplier(-6, m, -1, Rounding::Double), -2);
        assert_eq!(apply_multiplier(-6, m, -1, Rounding::Single), -1);
        // Positive ties agree.
        assert_eq!(multiply_by_quantized_multiplier(6, m, -1), 2);
        assert_eq!(multiply_by_quantized_multiplier_single(6, m, -1), 2);
    }

    #[test]
    fn ruy_x86_rounding_matches_litert_ties() {
        // Cases observed in LiteRT's int8 FC / 1x1 conv outputs on x86: the exact value lies just
        // below a negative tie, the first rounding lands exactly on it, and ruy rounds it up.
        for (acc, m, shift, litert) in [
            (-34_321, 1_681_923_688, -9, -53),
            (-971, 1_699_361_810, -9, -2),
            (-11_098, 1_238_337_648, -9, -13),
            (-49_972, 1_221_152_576, -9, -56),
        ] {
            assert_eq!(
                multiply_by_quantized_multiplier_ruy_x86(acc, m, shift),
                litert + 1,
                "{acc}"
            );
            assert_eq!(multiply_by_quantized_multiplier(acc, m, shift), litert);
        }
        // Away from ties all three agree.
        let mut seed = 99u64;
        for _ in 0..10_000 {
            let x = (rng(&mut seed) as i32) >> 12;
            let m = (1 << 30) + (rng(&mut seed) % (1 << 30)) as i32;
            let shift = -((rng(&mut seed) % 12) as i32);
            let r = multiply_by_quantized_multiplier_ruy_x86(x, m, shift);
            let d = multiply_by_quantized_multiplier(x, m, shift);
            assert!((r - d).abs() <= 1);
            if x >= 0 {
                assert_eq!(r, d, "positive values round alike");
            }
        }
        // Left shifts, and the largest product (no overflow: (2^31 - 2 + 1) >> 1).
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(multiply_by_quantized_multiplier_ruy_x86(7, m, s), 21);
        assert_eq!(
            multiply_by_quantized_multiplier_ruy_x86(i32::MAX, i32::MAX, -1),
            (1 << 30) - 1
        );
    }

    #[test]
    fn multiplier_with_left_shift() {
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(s, 2);
        assert_eq!(multiply_by_quantized_multiplier(7, m, s), 21);
        assert_eq!(multiply_by_quantized_multiplier_single(7, m, s), 21);
    }

    #[test]
    fn i64_multiplier() {
        let (m, s) = quantize_multiplier(0.5);
        assert_eq!(multiply_by_quantized_multiplier_i64(1001, m, s), 501);
        assert_eq!(multiply_by_quantized_multiplier_i64(-1001, m, s), -500);
        // Only 16 bits of the multiplier survive: 1e-3 * 2^40 = 1099511627.8 comes out as
        // (2^40 * 16777) >> 24 = 1099497472.
        let (m, s) = quantize_multiplier(1e-3);
        assert_eq!((m + (1 << 15)) >> 16, 16_777);
        assert_eq!(s, -9);
        assert_eq!(
            multiply_by_quantized_multiplier_i64(1 << 40, m, s),
            1_099_497_472
        );
        assert_eq!(multiply_by_quantized_multiplier_i64(7, i32::MAX, 0), 7);
    }

    #[test]
    fn saturating_pot() {
        assert_eq!(saturating_rounding_multiply_by_pot(3, 2), 12);
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 30, 1), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 30), 1), i32::MIN);
        assert_eq!(saturating_rounding_multiply_by_pot(-5, -1), -3);
    }
}
