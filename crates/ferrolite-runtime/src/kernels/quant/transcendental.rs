//! gemmlowp's fixed-point transcendental helpers, reproduced bit for bit.
//!
//! Values are raw int32 fixed-point numbers whose count of integer bits is passed explicitly
//! (gemmlowp's `FixedPoint<int32, N>` template parameter); products are
//! [`saturating_rounding_doubling_high_mul`], additions wrap, and format changes go through
//! [`rescale`]. These back TFLite's int16 LOGISTIC / TANH / SOFTMAX, the reference (non-LUT) int8
//! softmax and L2 normalization.

use super::fixed_point::{
    rescale, saturating_rounding_doubling_high_mul, saturating_rounding_multiply_by_pot,
};

/// gemmlowp's `RoundingHalfSum`: `(a + b)/2` rounded half away from zero, computed in 64 bits.
#[inline]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// Raw value of `1.0` in a fixed-point format with `integer_bits` integer bits (`i32::MAX` for
/// Q0.31, where 1.0 is not representable).
#[inline]
pub fn fixed_one(integer_bits: i32) -> i32 {
    if integer_bits == 0 {
        i32::MAX
    } else {
        1 << (31 - integer_bits)
    }
}

/// gemmlowp's `exp_on_interval_between_negative_one_quarter_and_0_excl` on a Q0.31 raw value.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    let srdhm = saturating_rounding_doubling_high_mul;
    let constant_term: i32 = 1_895_147_668; // exp(-1/8)
    let constant_1_over_3 = 715_827_883;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly = saturating_rounding_multiply_by_pot(
        srdhm(x4_over_4.wrapping_add(x3), constant_1_over_3).wrapping_add(x2),
        -1,
    );
    constant_term.wrapping_add(srdhm(constant_term, x.wrapping_add(poly)))
}

/// gemmlowp's `exp_on_negative_values`: `exp(a)` for `a <= 0` given as a raw value with
/// `integer_bits` integer bits (`0..=30`); the result is Q0.31.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    let fractional_bits = 31 - integer_bits;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // (exponent, Q0.31 of exp(-2^exponent))
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if integer_bits > exponent {
            let shift = fractional_bits + exponent;
            if remainder & (1i32.wrapping_shl(shift as u32)) != 0 {
                result = saturating_rounding_doubling_high_mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp = -(1i32 << (36 - integer_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX;
    }
    result
}

/// gemmlowp's `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)` for a Q0.31 `a` in `[0, 1)`,
/// by three Newton-Raphson steps; the result is Q0.31.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let srdhm = saturating_rounding_doubling_high_mul;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let constant_48_over_17: i32 = 1_515_870_810; // Q2.29
    let constant_neg_32_over_17 = -1_010_580_540; // Q2.29
                                                  // Q0 * Q2 = Q2
    let mut x = constant_48_over_17.wrapping_add(srdhm(half_denominator, constant_neg_32_over_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x); // Q2
        let one_minus = fixed_one(2).wrapping_sub(half_denominator_times_x); // Q2
                                                                             // Q2 * Q2 = Q4, rescaled to Q2
        x = x.wrapping_add(rescale(srdhm(x, one_minus), 4, 2));
    }
    // ExactMulByPot<-1> turns Q2 into Q1 without touching the raw value.
    rescale(x, 1, 0)
}

/// TFLite's `GetInvSqrtQuantizedMultiplierExp`: a multiplier/shift pair approximating
/// `1 / sqrt(input)` (Newton-Raphson in Q3.28), used by L2 normalization and int16 layer norm.
///
/// `reverse_shift` is `1` or `-1` (TFLite's `kReverseShift`); inputs `<= 1` yield
/// `(i32::MAX, 0)`.
pub fn get_inv_sqrt_quantized_multiplier_exp(mut input: i32, reverse_shift: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let srdhm = saturating_rounding_doubling_high_mul;
    let mut shift = 11;
    while input >= (1 << 29) {
        input /= 4;
        shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Q3.28 arithmetic.
    let fixed_input = input >> 1;
    let half_input = saturating_rounding_multiply_by_pot(fixed_input, -1);
    let half_three = (1 << 28) + (1 << 27);
    let mut x = fixed_one(3);
    for _ in 0..5 {
        let x3 = rescale(srdhm(srdhm(x, x), x), 9, 3);
        x = rescale(
            srdhm(half_three, x).wrapping_sub(srdhm(half_input, x3)),
            6,
            3,
        );
    }
    let half_sqrt_2 = 1_518_500_250; // Q0.31
    let mut inv_sqrt = srdhm(x, half_sqrt_2);
    if shift < 0 {
        inv_sqrt <<= -shift;
        shift = 0;
    }
    (inv_sqrt, shift * reverse_shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: i32, integer_bits: i32) -> f64 {
        f64::from(raw) * 2f64.powi(integer_bits - 31)
    }

    #[test]
    fn exp_on_negative_values_approximates_exp() {
        for integer_bits in [0, 4, 5, 6, 12] {
            let limit = if integer_bits == 0 {
                1.0
            } else {
                2f64.powi(integer_bits)
            };
            for k in 0..200 {
                let v = -limit * f64::from(k) / 200.0;
                let raw = (v * 2f64.powi(31 - integer_bits)).round() as i32;
                let got = q(exp_on_negative_values(raw, integer_bits), 0);
                let want = q(raw, integer_bits).exp();
                assert!(
                    (got - want).abs() < 5e-7,
                    "bits {integer_bits} v {v}: {got} vs {want}"
                );
            }
        }
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
    }

    #[test]
    fn one_over_one_plus_x_approximates() {
        for k in 0..100 {
            let v = f64::from(k) / 100.0;
            let raw = (v * 2f64.powi(31)).round() as i32;
            let got = q(one_over_one_plus_x_for_x_in_0_1(raw), 0);
            assert!((got - 1.0 / (1.0 + v)).abs() < 1e-8, "{v}: {got}");
        }
    }

    #[test]
    fn inv_sqrt_approximates() {
        for &input in &[2, 3, 10, 1000, 123_456, 1 << 20, 1 << 29, i32::MAX] {
            let (m, s) = get_inv_sqrt_quantized_multiplier_exp(input, -1);
            // With reverse_shift = -1, value = m * 2^(s - 31).
            let got = f64::from(m) * 2f64.powi(s - 31);
            let want = 1.0 / f64::from(input).sqrt();
            // Five Newton steps from x = 1 leave ~1e-6 relative error at the worst inputs.
            assert!((got / want - 1.0).abs() < 1e-5, "{input}: {got} vs {want}");
        }
        assert_eq!(get_inv_sqrt_quantized_multiplier_exp(1, -1), (i32::MAX, 0));
    }
}
