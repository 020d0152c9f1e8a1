//! int16 `LOGISTIC` and `TANH` (zero points 0, output scale 1/32768), as LiteRT runs them.
//!
//! TFLite's prepare (`SigmoidPrepare` / `TanhPrepare`) picks one of two integer algorithms:
//!
//! * **power-of-two input scale** (`s_in = 2^-12` for LOGISTIC, `2^-12` or `2^-11` for TANH,
//!   judged by TFLite's `CheckedLog2`, which accepts scales within 0.1% of a power of two in the
//!   exponent): gemmlowp's 16-bit fixed-point `logistic` / `tanh` on a Q3.12 input
//!   (`optimized_ops::Logistic` / `Tanh` for int16), see [`logistic_q3`] and [`tanh_q3`].
//! * **any other scale**: the input is rescaled to units of `1 / (3 · 4096)` by an integer
//!   multiplier `⌊s_in · 3 · 4096 · 2^k⌋` in `(16383.5, 32767]` with a rounding right shift by
//!   `k`, and a 256-entry table of `sigmoid(i / 24)` in unsigned Q0.16 is interpolated linearly
//!   (`reference_integer_ops::Logistic` / `Tanh`, using `tanh(x) = 2 · sigmoid(2x) - 1`).

use super::fixed_point::rounding_divide_by_pot;
use super::QuantParams;
use crate::kernels::common::KernelError;

/// `sigmoid(i / 24)` in unsigned Q0.16 (saturated at 65535), the table TFLite interpolates for
/// int16 LOGISTIC and TANH. The entries are what LiteRT computes with: they were read back through
/// LiteRT's int16 TANH at every grid point (`tools/make_int16_fixtures.py`, case `tanh_grid`,
/// checked value by value in `tests/ops_int16.rs`); they lie within 1.5 of
/// `65536 · sigmoid(i / 24)`, mostly one above its rounding.
pub const SIGMOID_TABLE_U16: [u16; 256] = [
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
];

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act16Kind {
    /// `1 / (1 + e^-x)`.
    Logistic,
    /// `tanh(x)`.
    Tanh,
}

/// Prepared int16 LOGISTIC / TANH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Act16Params {
    /// Which function.
    pub kind: Act16Kind,
    /// Table-path multiplier (`0` selects the power-of-two fixed-point path).
    pub input_multiplier: i32,
    /// Table path: the rounding right shift after the multiplier; power-of-two path: the left
    /// shift of the input into Q3.12 (0, or 1 for TANH).
    pub input_left_shift: i32,
}

/// TFLite's `CheckedLog2`: `log2(x)` rounded, and whether `x` is a power of two within `1e-3` in
/// the exponent (computed in f32 as TFLite does).
pub fn checked_log2(x: f32) -> (i32, bool) {
    let log2 = x.ln() * (1.0f32 / 2.0f32.ln());
    let rounded = log2.round();
    (rounded as i32, (log2 - rounded).abs() < 1e-3)
}

/// Prepares int16 LOGISTIC or TANH with TFLite's checks (zero points 0, output scale 1/32768 —
/// exactly for LOGISTIC, as a power of two for TANH).
pub fn act16_params(
    kind: Act16Kind,
    input: QuantParams,
    output: QuantParams,
) -> Result<Act16Params, KernelError> {
    let name = match kind {
        Act16Kind::Logistic => "LOGISTIC",
        Act16Kind::Tanh => "TANH",
    };
    if !(input.scale.is_finite() && input.scale > 0.0) {
        return Err(KernelError::Param(format!(
            "int16 {name} input scale {} invalid",
            input.scale
        )));
    }
    if input.zero_point != 0 || output.zero_point != 0 {
        return Err(KernelError::Param(format!(
            "int16 {name} needs zero points 0 (input {}, output {})",
            input.zero_point, output.zero_point
        )));
    }
    let exact = f64::from(output.scale) == 1.0 / 32768.0;
    let (out_log2, out_pot) = checked_log2(output.scale);
    if (kind == Act16Kind::Logistic && !exact) || !out_pot || out_log2 != -15 {
        return Err(KernelError::Param(format!(
            "int16 {name} output scale {} must be 1/32768",
            output.scale
        )));
    }
    let (in_log2, in_pot) = checked_log2(input.scale);
    let left_shift = 12 + in_log2;
    let pot = in_pot
        && match kind {
            Act16Kind::Logistic => left_shift == 0,
            Act16Kind::Tanh => left_shift == 0 || left_shift == 1,
        };
    if pot {
        return Ok(Act16Params {
            kind,
            input_multiplier: 0,
            input_left_shift: left_shift,
        });
    }
    let mut multiplier = f64::from(input.scale) * 4096.0 * 3.0;
    let mut shift = 0;
    while multiplier <= 32767.0 / 2.0 && shift <= 30 {
        shift += 1;
        multiplier *= 2.0;
    }
    // C++ truncates the double to int32 (saturating here instead of UB for huge scales).
    let input_multiplier = multiplier as i32;
    if input_multiplier <= 0 {
        return Err(KernelError::Param(format!(
            "int16 {name} input scale {} too small",
            input.scale
        )));
    }
    Ok(Act16Params {
        kind,
        input_multiplier,
        input_left_shift: shift,
    })
}

/// Applies int16 LOGISTIC or TANH elementwise (`output.len() == input.len()`).
pub fn act16(params: &Act16Params, input: &[i16], output: &mut [i16]) {
    match (params.kind, params.input_multiplier > 0) {
        (Act16Kind::Logistic, true) => {
            for (o, &x) in output.iter_mut().zip(input) {
                *o = logistic_table(params, x);
            }
        }
        (Act16Kind::Tanh, true) => {
            for (o, &x) in output.iter_mut().zip(input) {
                *o = tanh_table(params, x);
            }
        }
        (Act16Kind::Logistic, false) => {
            for (o, &x) in output.iter_mut().zip(input) {
                *o = logistic_q3(x);
            }
        }
        (Act16Kind::Tanh, false) => {
            for (o, &x) in output.iter_mut().zip(input) {
                let x = if params.input_left_shift == 1 {
                    saturating_rounding_multiply_by_pot_i16(x, 1)
                } else {
                    x
                };
                *o = tanh_q3(x);
            }
        }
    }
}

/// Input rescaled by the table-path multiplier: `(x · m + round) >> shift` in int32.
#[inline]
fn rescaled(params: &Act16Params, x: i16) -> i32 {
    let shift = params.input_left_shift;
    let round = if shift > 0 { 1i32 << (shift - 1) } else { 0 };
    i32::from(x)
        .wrapping_mul(params.input_multiplier)
        .wrapping_add(round)
        >> shift
}

/// `reference_integer_ops::Logistic` for int16: 9 fractional bits of interpolation.
fn logistic_table(params: &Act16Params, x: i16) -> i16 {
    let v = rescaled(params, x);
    let abs = v.unsigned_abs();
    let uh = abs >> 9;
    let mut result: u32 = if uh >= 255 {
        0x7FFF << 10
    } else {
        let ua = u32::from(SIGMOID_TABLE_U16[uh as usize]);
        let ub = u32::from(SIGMOID_TABLE_U16[uh as usize + 1]);
        let ut = abs & 0x1ff;
        (ua << 9).wrapping_add(ut.wrapping_mul(ub.wrapping_sub(ua)))
    };
    result = if v >= 0 {
        result.wrapping_add(1 << 9)
    } else {
        (1u32 << 25)
            .wrapping_sub(result)
            .wrapping_add(1 << 9)
            .wrapping_sub(1)
    };
    (result >> 10) as i16
}

/// `reference_integer_ops::Tanh` for int16: 8 fractional bits of interpolation.
fn tanh_table(params: &Act16Params, x: i16) -> i16 {
    let v = rescaled(params, x);
    let abs = v.unsigned_abs();
    let uh = abs >> 8;
    let result: i32 = if uh >= 255 {
        0xFFFF << 8
    } else {
        let ua = u32::from(SIGMOID_TABLE_U16[uh as usize]);
        let ub = u32::from(SIGMOID_TABLE_U16[uh as usize + 1]);
        let ut = abs & 0xff;
        (ua << 8).wrapping_add(ut.wrapping_mul(ub.wrapping_sub(ua))) as i32
    };
    let result = if v >= 0 {
        result.wrapping_sub(1 << 23).wrapping_add(1 << 7)
    } else {
        result
            .wrapping_neg()
            .wrapping_add(1 << 23)
            .wrapping_add(1 << 7)
            .wrapping_sub(1)
    };
    (result >> 8) as i16
}

// ---- gemmlowp's 16-bit fixed point (the power-of-two path) ----
//
// The same algorithms as the 32-bit helpers in `transcendental`, on int16 raw values: products are
// `SaturatingRoundingDoublingHighMul` at 2^15, sums and differences wrap to 16 bits, and every
// 32-bit constant is rounded to 16 bits (`RoundingDivideByPOT(c, 16)`, gemmlowp's
// `RescaleConstantInitializer`).

/// A gemmlowp Q0.31 constant rounded to its 16-bit form.
#[inline]
fn c16(value: i32) -> i16 {
    rounding_divide_by_pot(value, 16) as i16
}

#[inline]
fn add16(a: i16, b: i16) -> i16 {
    a.wrapping_add(b)
}

#[inline]
fn sub16(a: i16, b: i16) -> i16 {
    a.wrapping_sub(b)
}

/// 16-bit `SaturatingRoundingDoublingHighMul`: `(a · b + nudge) / 2^15` truncated towards zero.
#[inline]
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// 16-bit `SaturatingRoundingMultiplyByPOT` (saturating left shift, or rounding right shift).
#[inline]
fn srmbpot16(x: i16, exponent: i32) -> i16 {
    if exponent > 0 {
        let threshold = (1i32 << (15 - exponent)) - 1;
        let v = i32::from(x);
        if v > threshold {
            i16::MAX
        } else if v < -threshold {
            i16::MIN
        } else {
            (v << exponent) as i16
        }
    } else {
        rounding_divide_by_pot(i32::from(x), -exponent) as i16
    }
}

/// TANH's input shift by one bit into Q3.12 (gemmlowp `SaturatingRoundingMultiplyByPOT<1>` on
/// int16, saturating at the 16-bit limits).
#[inline]
fn saturating_rounding_multiply_by_pot_i16(x: i16, exponent: i32) -> i16 {
    srmbpot16(x, exponent)
}

/// 16-bit `RoundingHalfSum`.
#[inline]
fn rounding_half_sum16(a: i16, b: i16) -> i16 {
    let sum = i32::from(a) + i32::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i16
}

/// `exp(a)` for a Q0.15 `a` in `[-1/4, 0)` (Taylor expansion around -1/8); the final addition
/// saturates (gemmlowp's `AddSaturatingIf16Bit`).
fn exp_on_interval_between_negative_one_quarter_and_0_excl16(a: i16) -> i16 {
    let constant_term = c16(1_895_147_668);
    let constant_1_over_3 = c16(715_827_883);
    let x = add16(a, 1 << 12);
    let x2 = srdhm16(x, x);
    let x3 = srdhm16(x2, x);
    let x4 = srdhm16(x2, x2);
    let x4_over_4 = srmbpot16(x4, -2);
    let poly = srmbpot16(
        add16(srdhm16(add16(x4_over_4, x3), constant_1_over_3), x2),
        -1,
    );
    constant_term.saturating_add(srdhm16(constant_term, add16(x, poly)))
}

/// `exp(a)` for `a <= 0` with `integer_bits` (3 or 4) integer bits; the result is Q0.15.
fn exp_on_negative_values16(a: i16, integer_bits: i32) -> i16 {
    let fractional_bits = 15 - integer_bits;
    let one_quarter: i16 = 1 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = sub16(a & mask, one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl16(srmbpot16(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
    ));
    let remainder = sub16(a_mod_quarter_minus_one_quarter, a);
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
            let bit = (1i32 << (fractional_bits + exponent)) as i16;
            if remainder & bit != 0 {
                result = srdhm16(result, c16(multiplier));
            }
        }
    }
    if a == 0 {
        result = i16::MAX;
    }
    result
}

/// The Newton-Raphson loop shared by `1 / (1 + a)` and `(1 - a) / (1 + a)`: `x ≈ 1 / (1 + a)` in
/// Q2.13.
fn newton_reciprocal16(a: i16) -> i16 {
    let half_denominator = rounding_half_sum16(a, i16::MAX);
    let constant_48_over_17 = c16(1_515_870_810);
    let constant_neg_32_over_17 = c16(-1_010_580_540);
    let one_q2: i16 = 1 << 13;
    let mut x = add16(
        constant_48_over_17,
        srdhm16(half_denominator, constant_neg_32_over_17),
    );
    for _ in 0..3 {
        let half_denominator_times_x = srdhm16(half_denominator, x);
        let one_minus = sub16(one_q2, half_denominator_times_x);
        x = add16(x, srmbpot16(srdhm16(x, one_minus), 2));
    }
    x
}

/// gemmlowp `logistic` on a Q3.12 input, Q0.15 output (TFLite's int16 LOGISTIC with input scale
/// 2^-12).
pub fn logistic_q3(a: i16) -> i16 {
    if a == 0 {
        return c16(1 << 30);
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let e = exp_on_negative_values16(abs.wrapping_neg(), 3);
    // Rescale<0>(ExactMulByPot<-1>(x)): Q2 halved is Q1, then one saturating doubling.
    let positive = srmbpot16(newton_reciprocal16(e), 1);
    if a > 0 {
        positive
    } else {
        sub16(i16::MAX, positive)
    }
}

/// gemmlowp `tanh` on a Q3.12 input, Q0.15 output (TFLite's int16 TANH with input scale 2^-12,
/// or 2^-11 after a saturating doubling of the input).
pub fn tanh_q3(a: i16) -> i16 {
    if a == 0 {
        return 0;
    }
    let n = if a < 0 { a } else { a.wrapping_neg() };
    // ExactMulByPot<1> reinterprets Q3.12 as Q4.11 (2a), then exp(2a) and (1 - e) / (1 + e).
    let e = exp_on_negative_values16(n, 4);
    let t = srmbpot16(sub16(newton_reciprocal16(e), 1 << 13), 2);
    if a < 0 {
        t.wrapping_neg()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kind: Act16Kind, scale: f32) -> Act16Params {
        act16_params(
            kind,
            QuantParams::new(scale, 0),
            QuantParams::new(1.0 / 32768.0, 0),
        )
        .unwrap()
    }

    #[test]
    fn table_is_sigmoid() {
        for (i, &v) in SIGMOID_TABLE_U16.iter().enumerate() {
            let want = 65536.0 / (1.0 + (-(i as f64) / 24.0).exp());
            assert!((f64::from(v) - want.min(65535.0)).abs() <= 1.5, "{i}: {v}");
        }
    }

    #[test]
    fn prepare_picks_the_path() {
        let p = params(Act16Kind::Logistic, 1.0 / 4096.0);
        assert_eq!((p.input_multiplier, p.input_left_shift), (0, 0));
        let p = params(Act16Kind::Tanh, 1.0 / 2048.0);
        assert_eq!((p.input_multiplier, p.input_left_shift), (0, 1));
        // 2^-11 is not a fixed-point case for LOGISTIC: multiplier 3 · 4096 / 2048 = 6, doubled.
        let p = params(Act16Kind::Logistic, 1.0 / 2048.0);
        assert_eq!((p.input_multiplier, p.input_left_shift), (24576, 12));
        let p = params(Act16Kind::Tanh, 3e-4);
        assert!(p.input_multiplier > 16383 && p.input_multiplier <= 32767);
        let bad = act16_params(
            Act16Kind::Logistic,
            QuantParams::new(1e-3, 0),
            QuantParams::new(1.0 / 32767.0, 0),
        );
        assert!(bad.is_err());
        assert!(act16_params(
            Act16Kind::Tanh,
            QuantParams::new(1e-3, 1),
            QuantParams::new(1.0 / 32768.0, 0)
        )
        .is_err());
    }

    #[test]
    fn both_paths_close_to_float() {
        for kind in [Act16Kind::Logistic, Act16Kind::Tanh] {
            for scale in [1.0f32 / 4096.0, 3.1e-4, 1.0 / 2048.0] {
                let p = params(kind, scale);
                let xs: Vec<i16> = (-32768..=32767).step_by(97).map(|v| v as i16).collect();
                let mut out = vec![0i16; xs.len()];
                act16(&p, &xs, &mut out);
                for (&x, &o) in xs.iter().zip(&out) {
                    let r = f64::from(scale) * f64::from(x);
                    let want = match kind {
                        Act16Kind::Logistic => 1.0 / (1.0 + (-r).exp()),
                        Act16Kind::Tanh => r.tanh(),
                    } * 32768.0;
                    // gemmlowp's own 16-bit tests allow 12 units for tanh.
                    let err = (f64::from(o) - want.min(32767.0)).abs();
                    assert!(err <= 16.0, "{kind:?} {scale} x={x}: {o} vs {want}");
                }
            }
        }
    }
}
