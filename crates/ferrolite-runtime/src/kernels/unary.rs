//! Elementwise unary kernels: math functions and float activations.
//!
//! Each kernel maps `input` to an `out` slice of the same length (a mismatch is a
//! [`KernelError::Shape`]). The per-value formulas live in [`scalar`] so quantized kernels can
//! build TFLite-style lookup tables from exactly the same float functions. Conventions follow
//! TFLite's reference kernels: ROUND is half-to-even, the clamping activations propagate NaN,
//! LEAKY_RELU is `x > 0 ? x : alpha * x`, ELU uses `expm1`, HARD_SWISH is `x * relu6(x + 3) / 6`,
//! LOGISTIC saturates outside `[-9, 16.619047]`, and GELU is `0.5x·erfc(-x/√2)` (exact) or the tanh
//! approximation. `std` has no `erf`, so [`scalar::erf`] / [`scalar::erfc`] are implemented here.

use super::common::KernelError;
use super::element::{BoolLike, Numeric};

/// Writes `out[i] = f(input[i])`; errors if the lengths differ.
pub fn map_unary<A: Copy, O>(
    input: &[A],
    out: &mut [O],
    mut f: impl FnMut(A) -> O,
) -> Result<(), KernelError> {
    if input.len() != out.len() {
        return Err(KernelError::Shape(format!(
            "unary op: input has {} elements but output has {}",
            input.len(),
            out.len()
        )));
    }
    for (o, &x) in out.iter_mut().zip(input) {
        *o = f(x);
    }
    Ok(())
}

/// Per-value formulas shared by the kernels (and usable for lookup tables).
pub mod scalar {
    use std::f64::consts::FRAC_2_SQRT_PI;

    /// TFLite's LOGISTIC upper cut-off: above it the result is exactly 1.
    pub const LOGISTIC_CUTOFF_UPPER: f32 = 16.619_047;
    /// TFLite's LOGISTIC lower cut-off: below it the result is `exp(x)`.
    pub const LOGISTIC_CUTOFF_LOWER: f32 = -9.0;

    /// RELU: `x < 0 ? 0 : x` (NaN and -0.0 pass through).
    #[inline]
    pub fn relu(x: f32) -> f32 {
        if x < 0.0 {
            0.0
        } else {
            x
        }
    }

    /// Clamp to `[lo, hi]` with TFLite's comparison order (`x > hi ? hi : x < lo ? lo : x`).
    #[inline]
    pub fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
        if x > hi {
            hi
        } else if x < lo {
            lo
        } else {
            x
        }
    }

    /// LEAKY_RELU: `x > 0 ? x : alpha * x` (alpha may exceed 1 or be negative).
    #[inline]
    pub fn leaky_relu(x: f32, alpha: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            x * alpha
        }
    }

    /// ELU: `x < 0 ? expm1(x) : x`.
    #[inline]
    pub fn elu(x: f32) -> f32 {
        if x < 0.0 {
            x.exp_m1()
        } else {
            x
        }
    }

    /// HARD_SWISH: `x * min(6, max(0, x + 3)) / 6`, evaluated left to right as TFLite.
    #[inline]
    pub fn hard_swish(x: f32) -> f32 {
        x * clamp(x + 3.0, 0.0, 6.0) / 6.0
    }

    /// LOGISTIC with TFLite's cut-offs: 1 above 16.619047, `exp(x)` below -9, else
    /// `1 / (1 + exp(-x))`.
    #[inline]
    pub fn logistic(x: f32) -> f32 {
        if x > LOGISTIC_CUTOFF_UPPER {
            1.0
        } else if x < LOGISTIC_CUTOFF_LOWER {
            x.exp()
        } else {
            1.0 / (1.0 + (-x).exp())
        }
    }

    /// GELU. Exact: `0.5·x·erfc(-x/√2)` (the erfc form avoids cancellation for negative x).
    /// Approximate: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    #[inline]
    pub fn gelu(x: f32, approximate: bool) -> f32 {
        if approximate {
            let sqrt_2_over_pi = (FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;
            0.5 * x * (1.0 + (sqrt_2_over_pi * (x + 0.044_715 * x * x * x)).tanh())
        } else {
            let arg = x * -std::f32::consts::FRAC_1_SQRT_2;
            0.5 * x * erfc(f64::from(arg)) as f32
        }
    }

    /// ROUND: nearest integer, ties to even (banker's rounding, like `tf.round`).
    #[inline]
    pub fn round_half_even(x: f32) -> f32 {
        x.round_ties_even()
    }

    /// Above this, `erfc` is below the smallest positive f64.
    const ERFC_UNDERFLOW: f64 = 27.3;
    /// Switch from the power series to the continued fraction.
    const ERF_SERIES_LIMIT: f64 = 1.5;

    /// `erf(x)` for `0 <= x < ERF_SERIES_LIMIT` via the all-positive series
    /// `erf x = (2/√π)·e^{-x²}·Σ 2ⁿx^{2n+1}/(1·3·…·(2n+1))`, which has no cancellation.
    fn erf_series(x: f64) -> f64 {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
        }
        FRAC_2_SQRT_PI * (-x2).exp() * sum
    }

    /// `erfc(x)` for `x >= ERF_SERIES_LIMIT` via the continued fraction
    /// `erfc x = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))`, evaluated bottom-up.
    fn erfc_continued_fraction(x: f64) -> f64 {
        let mut tail = x;
        for k in (1..=100).rev() {
            tail = x + (f64::from(k) * 0.5) / tail;
        }
        (0.5 * FRAC_2_SQRT_PI) * (-x * x).exp() / tail
    }

    /// The error function, accurate to a few ulps of f64 over the whole line.
    pub fn erf(x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        let a = x.abs();
        let magnitude = if a < ERF_SERIES_LIMIT {
            erf_series(a)
        } else {
            1.0 - erfc_continued_fraction(a)
        };
        magnitude.copysign(x)
    }

    /// The complementary error function `1 - erf(x)`, with full relative accuracy in the tail.
    pub fn erfc(x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        let a = x.abs();
        let upper = if a >= ERFC_UNDERFLOW {
            0.0
        } else if a >= ERF_SERIES_LIMIT {
            erfc_continued_fraction(a)
        } else {
            1.0 - erf_series(a)
        };
        if x < 0.0 {
            2.0 - upper
        } else {
            upper
        }
    }
}

/// Declares an f32 → f32 elementwise kernel from a per-value expression.
macro_rules! unary_f32 {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        pub fn $name(input: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
            map_unary(input, out, |$x: f32| $body)
        }
    };
}

unary_f32!(
    /// EXP: `e^x`.
    exp, |x| x.exp()
);
unary_f32!(
    /// LOG: natural logarithm (NaN below 0, -inf at 0).
    log, |x| x.ln()
);
unary_f32!(
    /// SQRT.
    sqrt, |x| x.sqrt()
);
unary_f32!(
    /// RSQRT: `1 / sqrt(x)`.
    rsqrt, |x| 1.0 / x.sqrt()
);
unary_f32!(
    /// FLOOR.
    floor, |x| x.floor()
);
unary_f32!(
    /// CEIL.
    ceil, |x| x.ceil()
);
unary_f32!(
    /// ROUND: half to even, as TFLite (`round(2.5) == 2`, `round(-0.5) == -0`).
    round, |x| scalar::round_half_even(x)
);
unary_f32!(
    /// SIN.
    sin, |x| x.sin()
);
unary_f32!(
    /// COS.
    cos, |x| x.cos()
);
unary_f32!(
    /// RELU: `max(0, x)`, NaN passes through.
    relu, |x| scalar::relu(x)
);
unary_f32!(
    /// RELU6: `clamp(x, 0, 6)`.
    relu6, |x| scalar::clamp(x, 0.0, 6.0)
);
unary_f32!(
    /// RELU_N1_TO_1: `clamp(x, -1, 1)`.
    relu_n1_to_1, |x| scalar::clamp(x, -1.0, 1.0)
);
unary_f32!(
    /// RELU_0_TO_1: `clamp(x, 0, 1)`.
    relu_0_to_1, |x| scalar::clamp(x, 0.0, 1.0)
);
unary_f32!(
    /// ELU with alpha 1: `x < 0 ? e^x - 1 : x`.
    elu, |x| scalar::elu(x)
);
unary_f32!(
    /// HARD_SWISH: `x * relu6(x + 3) / 6`.
    hard_swish, |x| scalar::hard_swish(x)
);
unary_f32!(
    /// LOGISTIC (sigmoid) with TFLite's saturation cut-offs.
    logistic, |x| scalar::logistic(x)
);
unary_f32!(
    /// TANH.
    tanh, |x| x.tanh()
);

/// LEAKY_RELU: `x > 0 ? x : alpha * x`.
pub fn leaky_relu(input: &[f32], alpha: f32, out: &mut [f32]) -> Result<(), KernelError> {
    map_unary(input, out, |x| scalar::leaky_relu(x, alpha))
}

/// GELU: exact (`approximate == false`, via erfc) or the tanh approximation.
pub fn gelu(input: &[f32], approximate: bool, out: &mut [f32]) -> Result<(), KernelError> {
    map_unary(input, out, |x| scalar::gelu(x, approximate))
}

/// SQUARE: `x * x` (wrapping for integers).
pub fn square<T: Numeric>(input: &[T], out: &mut [T]) -> Result<(), KernelError> {
    map_unary(input, out, |x| x.mul(x))
}

/// ABS: `|x|` (wrapping for integers: `abs(MIN) == MIN`).
pub fn abs<T: Numeric>(input: &[T], out: &mut [T]) -> Result<(), KernelError> {
    map_unary(input, out, T::abs)
}

/// NEG: `-x` (wrapping for integers).
pub fn neg<T: Numeric>(input: &[T], out: &mut [T]) -> Result<(), KernelError> {
    map_unary(input, out, T::neg)
}

/// LOGICAL_NOT: `!x` (over `bool` or TFLite's one-byte bool storage).
pub fn logical_not<B: BoolLike>(input: &[B], out: &mut [B]) -> Result<(), KernelError> {
    map_unary(input, out, |x| B::from_bool(!x.to_bool()))
}

#[cfg(test)]
mod tests {
    use super::scalar::{erf, erfc};
    use super::*;

    fn run(f: fn(&[f32], &mut [f32]) -> Result<(), KernelError>, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        f(x, &mut out).unwrap();
        out
    }

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn erf_and_erfc_match_reference_values() {
        // Values from high-precision tables (Abramowitz & Stegun / mpmath).
        let erf_cases = [
            (0.0, 0.0),
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (1.5, 0.966_105_146_475_310_7),
            (2.0, 0.995_322_265_018_952_7),
            (2.5, 0.999_593_047_982_555),
            (3.0, 0.999_977_909_503_001_4),
            (-1.0, -0.842_700_792_949_714_9),
        ];
        for (x, want) in erf_cases {
            assert!((erf(x) - want).abs() < 1e-15, "erf({x}) = {}", erf(x));
        }
        let erfc_cases = [
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (1.5, 0.033_894_853_524_689_27),
            (2.0, 4.677_734_981_047_266e-3),
            (2.5, 4.069_520_174_449_59e-4),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (10.0, 2.088_487_583_762_545e-45),
            (-2.0, 1.995_322_265_018_952_7),
            (30.0, 0.0),
        ];
        for (x, want) in erfc_cases {
            let got = erfc(x);
            assert!((got - want).abs() <= 1e-13 * want, "erfc({x}) = {got}");
        }
        // erf + erfc = 1 across both methods.
        for i in 0..60 {
            let x = f64::from(i) * 0.1 - 3.0;
            assert!((erf(x) + erfc(x) - 1.0).abs() < 1e-15, "x = {x}");
        }
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn erf_is_continuous_at_the_method_switch() {
        // Across the series/continued-fraction switch at 1.5 the step must equal the slope
        // erf'(x) = 2/sqrt(pi)·exp(-x²) times the 2e-12 gap, to within rounding.
        let (x, h) = (1.5f64, 1e-12);
        let slope = std::f64::consts::FRAC_2_SQRT_PI * (-x * x).exp();
        let step = erf(x + h) - erf(x - h);
        assert!((step - 2.0 * h * slope).abs() < 1e-15, "erf step {step}");
        let step = erfc(x - h) - erfc(x + h);
        assert!((step - 2.0 * h * slope).abs() < 1e-15, "erfc step {step}");
    }

    #[test]
    fn gelu_known_values() {
        let mut out = [0.0f32; 3];
        gelu(&[1.0, -1.0, 0.0], false, &mut out).unwrap();
        assert!(close(out[0], 0.841_344_7, 1e-6), "{}", out[0]);
        assert!(close(out[1], -0.158_655_26, 1e-6), "{}", out[1]);
        assert_eq!(out[2], 0.0);
        gelu(&[1.0, -1.0, 0.0], true, &mut out).unwrap();
        assert!(close(out[0], 0.841_192, 1e-6), "{}", out[0]);
        assert!(close(out[1], -0.158_808, 1e-5), "{}", out[1]);
        // Large negative inputs stay tiny and finite instead of cancelling to zero noise.
        let tail = scalar::gelu(-10.0, false);
        assert!(tail < 0.0 && tail > -1e-20, "{tail}");
    }

    #[test]
    fn round_is_half_to_even() {
        let got = run(round, &[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6]);
        assert_eq!(got, [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, 3.0, -3.0]);
    }

    #[test]
    fn clamping_activations() {
        let x = [-7.0f32, -0.5, 0.5, 3.0, 7.0];
        assert_eq!(run(relu, &x), [0.0, 0.0, 0.5, 3.0, 7.0]);
        assert_eq!(run(relu6, &x), [0.0, 0.0, 0.5, 3.0, 6.0]);
        assert_eq!(run(relu_n1_to_1, &x), [-1.0, -0.5, 0.5, 1.0, 1.0]);
        assert_eq!(run(relu_0_to_1, &x), [0.0, 0.0, 0.5, 1.0, 1.0]);
        assert!(run(relu, &[f32::NAN])[0].is_nan());
        let mut out = [0.0f32; 5];
        leaky_relu(&x, 0.2, &mut out).unwrap();
        assert_eq!(out, [-1.4, -0.1, 0.5, 3.0, 7.0]);
    }

    #[test]
    fn smooth_activations_match_direct_formulas() {
        let xs: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.5).collect();
        let lg = run(logistic, &xs);
        let hs = run(hard_swish, &xs);
        let el = run(elu, &xs);
        let th = run(tanh, &xs);
        for (i, &x) in xs.iter().enumerate() {
            let xd = f64::from(x);
            let sig = 1.0 / (1.0 + (-xd).exp());
            assert!(close(lg[i], sig as f32, 2e-6), "logistic({x}) = {}", lg[i]);
            let hsw = xd * (xd + 3.0).clamp(0.0, 6.0) / 6.0;
            assert!(close(hs[i], hsw as f32, 1e-6), "hard_swish({x})");
            let e = if xd < 0.0 { xd.exp() - 1.0 } else { xd };
            assert!(close(el[i], e as f32, 1e-6), "elu({x})");
            assert!(close(th[i], xd.tanh() as f32, 1e-6), "tanh({x})");
        }
        assert_eq!(scalar::logistic(20.0), 1.0);
        assert_eq!(scalar::logistic(-10.0), (-10.0f32).exp());
        assert_eq!(run(hard_swish, &[-3.0, 3.0]), [-0.0, 3.0]);
    }

    #[test]
    fn math_functions() {
        assert_eq!(run(exp, &[0.0]), [1.0]);
        assert_eq!(run(log, &[1.0]), [0.0]);
        assert_eq!(run(sqrt, &[9.0]), [3.0]);
        assert_eq!(run(rsqrt, &[4.0]), [0.5]);
        assert_eq!(run(floor, &[-1.5, 1.5]), [-2.0, 1.0]);
        assert_eq!(run(ceil, &[-1.5, 1.5]), [-1.0, 2.0]);
        assert_eq!(run(sin, &[0.0]), [0.0]);
        assert_eq!(run(cos, &[0.0]), [1.0]);
        let mut i = [0i32; 3];
        square(&[-3, 4, 0], &mut i).unwrap();
        assert_eq!(i, [9, 16, 0]);
        abs(&[-3, i32::MIN, 2], &mut i).unwrap();
        assert_eq!(i, [3, i32::MIN, 2]);
        neg(&[-3, 4, 0], &mut i).unwrap();
        assert_eq!(i, [3, -4, 0]);
        let mut b = [false; 2];
        logical_not(&[true, false], &mut b).unwrap();
        assert_eq!(b, [false, true]);
        assert!(exp(&[1.0, 2.0], &mut [0.0]).is_err());
    }
}
