//! Element types the generic elementwise and reduction kernels work over.
//!
//! [`Numeric`] captures exactly the arithmetic TFLite's templated reference kernels rely on (add,
//! multiply, floor division, the activation clamp range, the accumulator used by MEAN), so one
//! generic kernel serves f32 as well as the raw integer tensors TFLite also accepts (i32, i64 and
//! the 8/16-bit types when scales match). Integer arithmetic wraps on overflow, where C++ would be
//! undefined; division by zero is never reached because kernels reject zero divisors first.

use std::fmt::Debug;

use super::common::Activation;

/// A tensor element type with the arithmetic the generic kernels need.
pub trait Numeric: Copy + PartialOrd + Default + Debug + Send + Sync + 'static {
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Smallest finite value (`numeric_limits::lowest`), the REDUCE_MAX seed.
    const LOWEST: Self;
    /// Largest finite value, the REDUCE_MIN seed.
    const HIGHEST: Self;
    /// What TFLite's MEAN writes when the input tensor is empty (`quiet_NaN()`: NaN for floats,
    /// 0 for integers).
    const EMPTY_MEAN: Self;
    /// True for integer types: zero divisors and negative integer exponents are errors.
    const IS_INTEGER: bool;
    /// Accumulator MEAN sums into (f32 for f32, i64 for every integer type, as TFLite).
    type Acc: Copy;

    /// `self + rhs` (wrapping for integers).
    fn add(self, rhs: Self) -> Self;
    /// `self - rhs` (wrapping for integers).
    fn sub(self, rhs: Self) -> Self;
    /// `self * rhs` (wrapping for integers).
    fn mul(self, rhs: Self) -> Self;
    /// `self / rhs`, truncating for integers; integer callers must rule out `rhs == 0`.
    fn div(self, rhs: Self) -> Self;
    /// TFLite FLOOR_DIV: `floor(self / rhs)`; integer callers must rule out `rhs == 0`.
    fn floor_div(self, rhs: Self) -> Self;
    /// TFLite FLOOR_MOD: remainder with the sign of the divisor; integer callers must rule out
    /// `rhs == 0`.
    fn floor_mod(self, rhs: Self) -> Self;
    /// `self` raised to `rhs` (`powf` for floats; exact wrapping power for integers, whose
    /// callers must rule out negative exponents).
    fn pow(self, rhs: Self) -> Self;
    /// `-self` (wrapping for integers).
    fn neg(self) -> Self;
    /// `|self|` (wrapping for integers).
    fn abs(self) -> Self;
    /// Whether the value equals zero.
    fn is_zero(self) -> bool;
    /// Whether the value is below zero.
    fn is_negative(self) -> bool;
    /// The `[min, max]` clamp TFLite's `CalculateActivationRange` gives a fused activation.
    ///
    /// Only RELU, RELU6 and RELU_N1_TO_1 clamp; everything else (including TANH and SIGN_BIT)
    /// yields the full range, exactly as TFLite's binary kernels treat it. Floats use ±infinity
    /// for the open ends so infinities pass through unchanged.
    fn activation_range(activation: Activation) -> (Self, Self);
    /// The zero accumulator.
    fn acc_zero() -> Self::Acc;
    /// `acc + value` in the accumulator type.
    fn acc_add(acc: Self::Acc, value: Self) -> Self::Acc;
    /// `acc / count` converted back (truncating toward zero for integers); `count > 0`.
    fn acc_mean(acc: Self::Acc, count: usize) -> Self;
}

/// A boolean tensor element: `bool` itself, or TFLite's one-byte storage viewed as `u8`
/// (0 = false, anything else = true; `true` is written as 1).
pub trait BoolLike: Copy + Send + Sync + 'static {
    /// The truth value.
    fn to_bool(self) -> bool;
    /// The element for a truth value.
    fn from_bool(value: bool) -> Self;
}

impl BoolLike for bool {
    #[inline]
    fn to_bool(self) -> bool {
        self
    }
    #[inline]
    fn from_bool(value: bool) -> Self {
        value
    }
}

impl BoolLike for u8 {
    #[inline]
    fn to_bool(self) -> bool {
        self != 0
    }
    #[inline]
    fn from_bool(value: bool) -> Self {
        u8::from(value)
    }
}

/// Clamps `value` into `[lo, hi]` the way TFLite's `ActivationFunctionWithMinMax` does
/// (`min(max(x, lo), hi)` with C++ comparison semantics, so NaN passes through).
#[inline]
pub fn clamp_activation<T: PartialOrd>(value: T, lo: T, hi: T) -> T {
    let v = if value < lo { lo } else { value };
    if hi < v {
        hi
    } else {
        v
    }
}

impl Numeric for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const LOWEST: Self = f32::MIN;
    const HIGHEST: Self = f32::MAX;
    const EMPTY_MEAN: Self = f32::NAN;
    const IS_INTEGER: bool = false;
    type Acc = f32;

    #[inline]
    fn add(self, rhs: Self) -> Self {
        self + rhs
    }
    #[inline]
    fn sub(self, rhs: Self) -> Self {
        self - rhs
    }
    #[inline]
    fn mul(self, rhs: Self) -> Self {
        self * rhs
    }
    #[inline]
    fn div(self, rhs: Self) -> Self {
        self / rhs
    }
    #[inline]
    fn floor_div(self, rhs: Self) -> Self {
        // TFLite divides in double precision, floors, then narrows.
        (f64::from(self) / f64::from(rhs)).floor() as f32
    }
    #[inline]
    fn floor_mod(self, rhs: Self) -> Self {
        // `%` on floats is C's fmod: the remainder takes the dividend's sign.
        let trunc = self % rhs;
        if trunc != 0.0 && ((rhs < 0.0) != (trunc < 0.0)) {
            trunc + rhs
        } else {
            trunc
        }
    }
    #[inline]
    fn pow(self, rhs: Self) -> Self {
        self.powf(rhs)
    }
    #[inline]
    fn neg(self) -> Self {
        -self
    }
    #[inline]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline]
    fn is_zero(self) -> bool {
        self == 0.0
    }
    #[inline]
    fn is_negative(self) -> bool {
        self < 0.0
    }
    fn activation_range(activation: Activation) -> (Self, Self) {
        // TFLite's CalculateActivationRange<float>: lowest()/max() bounds, so ±inf clamps to ±FLT_MAX.
        super::common::activation_range(activation)
    }
    #[inline]
    fn acc_zero() -> f32 {
        0.0
    }
    #[inline]
    fn acc_add(acc: f32, value: Self) -> f32 {
        acc + value
    }
    #[inline]
    fn acc_mean(acc: f32, count: usize) -> Self {
        acc / count as f32
    }
}

macro_rules! impl_numeric_int {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            const EMPTY_MEAN: Self = 0;
            const IS_INTEGER: bool = true;
            type Acc = i64;

            #[inline]
            fn add(self, rhs: Self) -> Self {
                self.wrapping_add(rhs)
            }
            #[inline]
            fn sub(self, rhs: Self) -> Self {
                self.wrapping_sub(rhs)
            }
            #[inline]
            fn mul(self, rhs: Self) -> Self {
                self.wrapping_mul(rhs)
            }
            #[inline]
            fn div(self, rhs: Self) -> Self {
                if rhs == 0 {
                    0
                } else {
                    self.wrapping_div(rhs)
                }
            }
            #[inline]
            fn floor_div(self, rhs: Self) -> Self {
                if rhs == 0 {
                    return 0;
                }
                let q = self.wrapping_div(rhs);
                let r = self.wrapping_rem(rhs);
                #[allow(unused_comparisons)]
                let signs_differ = (r < 0) != (rhs < 0);
                if r != 0 && signs_differ {
                    q.wrapping_sub(1)
                } else {
                    q
                }
            }
            #[inline]
            fn floor_mod(self, rhs: Self) -> Self {
                if rhs == 0 {
                    return 0;
                }
                let r = self.wrapping_rem(rhs);
                #[allow(unused_comparisons)]
                let signs_differ = (r < 0) != (rhs < 0);
                if r != 0 && signs_differ {
                    r.wrapping_add(rhs)
                } else {
                    r
                }
            }
            #[inline]
            fn pow(self, rhs: Self) -> Self {
                // Square-and-multiply; negative exponents are rejected by the caller.
                let mut base = self;
                let mut exp = rhs;
                let mut result: Self = 1;
                while exp > 0 {
                    if exp & 1 == 1 {
                        result = result.wrapping_mul(base);
                    }
                    base = base.wrapping_mul(base);
                    exp >>= 1;
                }
                result
            }
            #[inline]
            fn neg(self) -> Self {
                self.wrapping_neg()
            }
            #[inline]
            fn abs(self) -> Self {
                #[allow(unused_comparisons)]
                let negative = self < 0;
                if negative {
                    self.wrapping_neg()
                } else {
                    self
                }
            }
            #[inline]
            fn is_zero(self) -> bool {
                self == 0
            }
            #[inline]
            fn is_negative(self) -> bool {
                #[allow(unused_comparisons)]
                let negative = self < 0;
                negative
            }
            fn activation_range(activation: Activation) -> (Self, Self) {
                // Saturate the small constants into the type (u8 cannot hold -1).
                let sat = |v: i64| -> Self {
                    v.clamp(<$t>::MIN as i64, <$t>::MAX as i64) as Self
                };
                match activation {
                    Activation::Relu => (0, <$t>::MAX),
                    Activation::Relu6 => (0, sat(6)),
                    Activation::ReluN1To1 => (sat(-1), sat(1)),
                    _ => (<$t>::MIN, <$t>::MAX),
                }
            }
            #[inline]
            fn acc_zero() -> i64 {
                0
            }
            #[inline]
            fn acc_add(acc: i64, value: Self) -> i64 {
                acc.wrapping_add(value as i64)
            }
            #[inline]
            fn acc_mean(acc: i64, count: usize) -> Self {
                acc.wrapping_div(count as i64) as Self
            }
        }
    )*};
}

impl_numeric_int!(i8, u8, i16, i32, i64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_floor_div_and_mod_follow_divisor_sign() {
        // Pairs checked by hand against Python's // and %.
        let cases: [(i32, i32, i32, i32); 6] = [
            (7, 2, 3, 1),
            (-7, 2, -4, 1),
            (7, -2, -4, -1),
            (-7, -2, 3, -1),
            (6, -3, -2, 0),
            (i32::MIN, -1, i32::MIN, 0),
        ];
        for (a, b, q, r) in cases {
            assert_eq!(a.floor_div(b), q, "{a} // {b}");
            assert_eq!(a.floor_mod(b), r, "{a} % {b}");
        }
    }

    #[test]
    fn float_floor_div_and_mod() {
        assert_eq!(7.5f32.floor_div(-2.0), -4.0);
        assert_eq!((-7.5f32).floor_mod(2.0), 0.5);
        assert_eq!(7.5f32.floor_mod(-2.0), -0.5);
        assert_eq!(4.0f32.floor_mod(2.0), 0.0);
    }

    #[test]
    fn integer_pow_and_wrapping() {
        // Call through the trait: the inherent `pow`/`abs` would shadow it.
        assert_eq!(Numeric::pow(3i32, 4), 81);
        assert_eq!(Numeric::pow(-2i64, 3), -8);
        assert_eq!(Numeric::pow(5i32, 0), 1);
        assert_eq!(Numeric::pow(2u8, 9), 0);
        assert_eq!(Numeric::abs(i32::MIN), i32::MIN);
        assert_eq!(Numeric::neg(i8::MIN), i8::MIN);
        assert_eq!(Numeric::add(i32::MAX, 1), i32::MIN);
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(
            f32::activation_range(Activation::None),
            (f32::MIN, f32::MAX)
        );
        assert_eq!(
            f32::activation_range(Activation::Tanh),
            (f32::MIN, f32::MAX)
        );
        assert_eq!(i32::activation_range(Activation::Relu6), (0, 6));
        assert_eq!(u8::activation_range(Activation::ReluN1To1), (0, 1));
        assert!(clamp_activation(f32::NAN, 0.0, 6.0).is_nan());
        assert_eq!(clamp_activation(7.0, 0.0, 6.0), 6.0);
    }

    #[test]
    fn integer_mean_truncates_toward_zero() {
        assert_eq!(i32::acc_mean(-7, 2), -3);
        assert_eq!(i32::acc_mean(7, 2), 3);
    }
}
