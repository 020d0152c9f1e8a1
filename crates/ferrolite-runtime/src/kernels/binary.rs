//! Broadcasting binary kernels: arithmetic, comparisons, logical ops and SELECT.
//!
//! Every kernel takes `(a, a_shape, b, b_shape, …, out)` where `out` must hold the
//! [`broadcast_shape`](super::broadcast::broadcast_shape) of the inputs; shapes and lengths are
//! checked and mismatches return [`KernelError`]. Arithmetic is generic over [`Numeric`] and follows
//! TFLite's reference kernels: ADD/SUB/MUL/DIV clamp to the fused activation's range
//! (`CalculateActivationRange`), FLOOR_DIV divides in double precision and floors, FLOOR_MOD takes
//! the divisor's sign, MAXIMUM/MINIMUM use `a > b ? a : b` / `a < b ? a : b`. Integer division by
//! zero (and FLOOR_DIV by zero for any type, as TFLite) and integer POW with a negative exponent are
//! rejected up front with [`KernelError::Param`].
//! Boolean operands and results (comparisons, LOGICAL_AND/OR, SELECT conditions) are any
//! [`BoolLike`]: `bool`, or the `u8` view of TFLite's one-byte bool tensors.

use super::broadcast::{broadcast_map2, broadcast_map3, check_len};
use super::common::{Activation, KernelError};
use super::element::{clamp_activation, BoolLike, Numeric};

/// Elementwise arithmetic with a fused activation clamp.
fn arith<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    activation: Activation,
    out: &mut [T],
    op: impl Fn(T, T) -> T,
) -> Result<(), KernelError> {
    let (lo, hi) = T::activation_range(activation);
    broadcast_map2(a, a_shape, b, b_shape, out, |x, y| {
        clamp_activation(op(x, y), lo, hi)
    })
}

/// Errors if any divisor is zero (`what` names the op).
fn reject_zero_divisor<T: Numeric>(b: &[T], what: &str) -> Result<(), KernelError> {
    if b.iter().any(|v| v.is_zero()) {
        return Err(KernelError::Param(format!("{what}: division by zero")));
    }
    Ok(())
}

/// ADD: `act(a + b)`.
pub fn add<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    activation: Activation,
    out: &mut [T],
) -> Result<(), KernelError> {
    arith(a, a_shape, b, b_shape, activation, out, T::add)
}

/// SUB: `act(a - b)`.
pub fn sub<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    activation: Activation,
    out: &mut [T],
) -> Result<(), KernelError> {
    arith(a, a_shape, b, b_shape, activation, out, T::sub)
}

/// MUL: `act(a * b)`.
pub fn mul<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    activation: Activation,
    out: &mut [T],
) -> Result<(), KernelError> {
    arith(a, a_shape, b, b_shape, activation, out, T::mul)
}

/// DIV: `act(a / b)`; IEEE semantics for floats, truncating for integers (zero divisors are an
/// error for integers).
pub fn div<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    activation: Activation,
    out: &mut [T],
) -> Result<(), KernelError> {
    if T::IS_INTEGER {
        reject_zero_divisor(b, "DIV")?;
    }
    arith(a, a_shape, b, b_shape, activation, out, T::div)
}

/// SQUARED_DIFFERENCE: `(a - b)²`.
pub fn squared_difference<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    broadcast_map2(a, a_shape, b, b_shape, out, |x, y| {
        let d = x.sub(y);
        d.mul(d)
    })
}

/// POW: `a ^ b` (`powf` for floats; exact wrapping power for integers, which reject negative
/// exponents as TFLite does for int32).
pub fn pow<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    if T::IS_INTEGER && b.iter().any(|v| v.is_negative()) {
        return Err(KernelError::Param(
            "POW: negative exponents are not supported for integers".into(),
        ));
    }
    broadcast_map2(a, a_shape, b, b_shape, out, T::pow)
}

/// MAXIMUM: `a > b ? a : b` (so a NaN in `a` yields `b`).
pub fn maximum<T: PartialOrd + Copy>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    broadcast_map2(
        a,
        a_shape,
        b,
        b_shape,
        out,
        |x, y| if x > y { x } else { y },
    )
}

/// MINIMUM: `a < b ? a : b`.
pub fn minimum<T: PartialOrd + Copy>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    broadcast_map2(
        a,
        a_shape,
        b,
        b_shape,
        out,
        |x, y| if x < y { x } else { y },
    )
}

/// FLOOR_DIV: `floor(a / b)`; zero divisors are an error for every type (TFLite checks floats
/// too). Floats divide in double precision before flooring, as TFLite.
pub fn floor_div<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    reject_zero_divisor(b, "FLOOR_DIV")?;
    broadcast_map2(a, a_shape, b, b_shape, out, T::floor_div)
}

/// FLOOR_MOD: `a - floor(a / b) * b` computed as TFLite does (truncated remainder, then shifted
/// by `b` when its sign differs from `b`'s). Integer zero divisors are an error; float ones give
/// NaN.
pub fn floor_mod<T: Numeric>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    if T::IS_INTEGER {
        reject_zero_divisor(b, "FLOOR_MOD")?;
    }
    broadcast_map2(a, a_shape, b, b_shape, out, T::floor_mod)
}

/// Declares a broadcasting comparison kernel producing bool.
macro_rules! comparison {
    ($(#[$doc:meta])* $name:ident, $op:tt) => {
        $(#[$doc])*
        pub fn $name<T: PartialOrd + Copy, O: BoolLike>(
            a: &[T],
            a_shape: &[usize],
            b: &[T],
            b_shape: &[usize],
            out: &mut [O],
        ) -> Result<(), KernelError> {
            broadcast_map2(a, a_shape, b, b_shape, out, |x, y| O::from_bool(x $op y))
        }
    };
}

comparison!(
    /// LESS: `a < b`.
    less, <
);
comparison!(
    /// LESS_EQUAL: `a <= b`.
    less_equal, <=
);
comparison!(
    /// GREATER: `a > b`.
    greater, >
);
comparison!(
    /// GREATER_EQUAL: `a >= b`.
    greater_equal, >=
);
comparison!(
    /// EQUAL: `a == b` (NaN is unequal to everything).
    equal, ==
);
comparison!(
    /// NOT_EQUAL: `a != b`.
    not_equal, !=
);

/// LOGICAL_AND: `a && b`.
pub fn logical_and<B: BoolLike>(
    a: &[B],
    a_shape: &[usize],
    b: &[B],
    b_shape: &[usize],
    out: &mut [B],
) -> Result<(), KernelError> {
    broadcast_map2(a, a_shape, b, b_shape, out, |x, y| {
        B::from_bool(x.to_bool() && y.to_bool())
    })
}

/// LOGICAL_OR: `a || b`.
pub fn logical_or<B: BoolLike>(
    a: &[B],
    a_shape: &[usize],
    b: &[B],
    b_shape: &[usize],
    out: &mut [B],
) -> Result<(), KernelError> {
    broadcast_map2(a, a_shape, b, b_shape, out, |x, y| {
        B::from_bool(x.to_bool() || y.to_bool())
    })
}

/// SELECT (v1): `cond ? x : y` without general broadcasting.
///
/// `x` and `y` must have the same shape, which is the output's. `cond` either has that shape too,
/// or is a scalar (picks all of `x` or all of `y`), or is rank 1 with `x_shape[0]` elements (picks
/// whole slices along the first axis) — exactly TFLite's accepted forms (plus TFLite's allowance
/// for single-element operands of differing rank).
pub fn select<C: BoolLike, T: Copy>(
    cond: &[C],
    cond_shape: &[usize],
    x: &[T],
    x_shape: &[usize],
    y: &[T],
    y_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    check_len("condition", cond.len(), cond_shape)?;
    check_len("x", x.len(), x_shape)?;
    check_len("y", y.len(), y_shape)?;
    if x_shape != y_shape {
        return Err(KernelError::Shape(format!(
            "SELECT: x {x_shape:?} and y {y_shape:?} must have the same shape"
        )));
    }
    check_len("output", out.len(), x_shape)?;
    // Same shapes, or all single-element operands of mixed rank (TFLite keeps these too).
    if cond_shape == x_shape || (cond.len() == 1 && x.len() == 1) {
        for (((o, &c), &a), &b) in out.iter_mut().zip(cond).zip(x).zip(y) {
            *o = if c.to_bool() { a } else { b };
        }
        return Ok(());
    }
    let rows = match cond_shape {
        [] => 1,
        [n] if x_shape.first() == Some(n) => *n,
        _ => {
            return Err(KernelError::Shape(format!(
                "SELECT: condition {cond_shape:?} must match x {x_shape:?}, be a scalar, or be \
                 rank 1 over x's first dimension"
            )))
        }
    };
    if rows == 0 {
        return Ok(());
    }
    let inner = x.len() / rows;
    for (r, &c) in cond.iter().enumerate() {
        let span = r * inner..(r + 1) * inner;
        let src = if c.to_bool() {
            &x[span.clone()]
        } else {
            &y[span.clone()]
        };
        out[span].copy_from_slice(src);
    }
    Ok(())
}

/// SELECT_V2: `cond ? x : y` with all three operands broadcast together.
pub fn select_v2<C: BoolLike, T: Copy>(
    cond: &[C],
    cond_shape: &[usize],
    x: &[T],
    x_shape: &[usize],
    y: &[T],
    y_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    broadcast_map3(
        (cond, cond_shape),
        (x, x_shape),
        (y, y_shape),
        out,
        |c, a, b| {
            if c.to_bool() {
                a
            } else {
                b
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_broadcasts_and_clamps() {
        let a = [1.0f32, -2.0, 3.0, 8.0];
        let b = [1.0f32];
        let mut out = [0.0f32; 4];
        add(&a, &[2, 2], &b, &[], Activation::Relu6, &mut out).unwrap();
        assert_eq!(out, [2.0, 0.0, 4.0, 6.0]);
        add(&a, &[2, 2], &b, &[1], Activation::None, &mut out).unwrap();
        assert_eq!(out, [2.0, -1.0, 4.0, 9.0]);
        // Infinities pass through an open range; TANH is not a clamp and is ignored.
        add(
            &[f32::INFINITY],
            &[1],
            &[1.0],
            &[1],
            Activation::Tanh,
            &mut out[..1],
        )
        .unwrap();
        // TFLite clamps to [lowest, max] even without an activation: inf becomes FLT_MAX.
        assert_eq!(out[0], f32::MAX);
    }

    #[test]
    fn sub_mul_div_with_int_and_float() {
        let mut o = [0i32; 3];
        sub(&[5, 6, 7], &[3], &[1, 2, 3], &[3], Activation::None, &mut o).unwrap();
        assert_eq!(o, [4, 4, 4]);
        mul(&[5, -6, 7], &[3], &[2], &[1], Activation::Relu, &mut o).unwrap();
        assert_eq!(o, [10, 0, 14]);
        div(&[7, -7, 6], &[3], &[2], &[1], Activation::None, &mut o).unwrap();
        assert_eq!(o, [3, -3, 3]);
        assert!(div(&[1, 2, 3], &[3], &[0], &[1], Activation::None, &mut o).is_err());
        let mut f = [0.0f32; 2];
        div(&[1.0f32, -1.0], &[2], &[0.0], &[], Activation::None, &mut f).unwrap();
        assert_eq!(f, [f32::MAX, f32::MIN]);
        let mut l = [0i64; 2];
        add(
            &[i64::MAX, 1],
            &[2],
            &[1, 1],
            &[2],
            Activation::None,
            &mut l,
        )
        .unwrap();
        assert_eq!(l, [i64::MIN, 2]);
    }

    #[test]
    fn squared_difference_pow_max_min() {
        let mut o = [0.0f32; 3];
        squared_difference(&[1.0f32, 5.0, -2.0], &[3], &[3.0], &[], &mut o).unwrap();
        assert_eq!(o, [4.0, 4.0, 25.0]);
        pow(&[2.0f32, 4.0, 9.0], &[3], &[3.0, 0.5, 0.5], &[3], &mut o).unwrap();
        assert_eq!(o, [8.0, 2.0, 3.0]);
        let mut i = [0i32; 3];
        pow(&[2, -3, 7], &[3], &[10, 3, 0], &[3], &mut i).unwrap();
        assert_eq!(i, [1024, -27, 1]);
        assert!(pow(&[2, 3, 4], &[3], &[-1], &[1], &mut i).is_err());
        maximum(&[1, 5, 3], &[3], &[2, 2, 4], &[3], &mut i).unwrap();
        assert_eq!(i, [2, 5, 4]);
        minimum(&[1, 5, 3], &[3], &[2], &[1], &mut i).unwrap();
        assert_eq!(i, [1, 2, 2]);
        maximum(&[f32::NAN, 1.0], &[2], &[0.0, f32::NAN], &[2], &mut o[..2]).unwrap();
        assert_eq!(o[0], 0.0);
        assert!(o[1].is_nan());
    }

    #[test]
    fn floor_div_and_mod_match_python_semantics() {
        let a = [7, -7, 7, -7];
        let b = [2, 2, -2, -2];
        let mut o = [0i32; 4];
        floor_div(&a, &[4], &b, &[4], &mut o).unwrap();
        assert_eq!(o, [3, -4, -4, 3]);
        floor_mod(&a, &[4], &b, &[4], &mut o).unwrap();
        assert_eq!(o, [1, 1, -1, -1]);
        assert!(floor_div(&a, &[4], &[0], &[1], &mut o).is_err());
        assert!(floor_mod(&a, &[4], &[0], &[1], &mut o).is_err());
        let mut f = [0.0f32; 2];
        assert!(floor_div(&[1.0f32, 2.0], &[2], &[0.0], &[], &mut f).is_err());
        floor_mod(&[5.5f32, -5.5], &[2], &[2.0], &[], &mut f).unwrap();
        assert_eq!(f, [1.5, 0.5]);
        floor_div(&[5.5f32, -5.5], &[2], &[2.0], &[], &mut f).unwrap();
        assert_eq!(f, [2.0, -3.0]);
    }

    #[test]
    fn comparisons_broadcast_to_bool() {
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [2.0f32, 5.0];
        let mut o = [false; 6];
        // [3,2] vs [2]: rows (1,2) (3,4) (5,6) against (2,5).
        less(&a, &[3, 2], &b, &[2], &mut o).unwrap();
        assert_eq!(o, [true, true, false, true, false, false]);
        greater_equal(&a, &[3, 2], &b, &[2], &mut o).unwrap();
        assert_eq!(o, [false, false, true, false, true, true]);
        equal(&a, &[3, 2], &b, &[2], &mut o).unwrap();
        assert_eq!(o, [false, false, false, false, false, false]);
        less_equal(&[2, 2], &[2], &[2], &[], &mut o[..2]).unwrap();
        assert_eq!(&o[..2], &[true, true]);
        greater(&[3, 1], &[2], &[2], &[], &mut o[..2]).unwrap();
        assert_eq!(&o[..2], &[true, false]);
        not_equal(&[f32::NAN], &[], &[f32::NAN], &[], &mut o[..1]).unwrap();
        assert!(o[0]);
    }

    #[test]
    fn logical_ops() {
        let mut o = [false; 4];
        logical_and(&[true, false], &[2, 1], &[true, false], &[2], &mut o).unwrap();
        assert_eq!(o, [true, false, false, false]);
        logical_or(&[true, false], &[2, 1], &[true, false], &[2], &mut o).unwrap();
        assert_eq!(o, [true, true, true, false]);
    }

    #[test]
    fn select_v1_forms() {
        let x = [1, 2, 3, 4, 5, 6];
        let y = [-1, -2, -3, -4, -5, -6];
        let mut o = [0; 6];
        let full = [true, false, true, false, true, false];
        select(&full, &[2, 3], &x, &[2, 3], &y, &[2, 3], &mut o).unwrap();
        assert_eq!(o, [1, -2, 3, -4, 5, -6]);
        select(&[false, true], &[2], &x, &[2, 3], &y, &[2, 3], &mut o).unwrap();
        assert_eq!(o, [-1, -2, -3, 4, 5, 6]);
        select(&[true], &[], &x, &[2, 3], &y, &[2, 3], &mut o).unwrap();
        assert_eq!(o, x);
        assert!(select(&[true, false, true], &[3], &x, &[2, 3], &y, &[2, 3], &mut o).is_err());
        select(&[false], &[1, 1], &[7], &[], &[8], &[], &mut o[..1]).unwrap();
        assert_eq!(o[0], 8);
        assert!(select(&[true], &[], &x, &[2, 3], &y, &[3, 2], &mut o).is_err());
    }

    #[test]
    fn select_v2_broadcasts_condition() {
        let mut o = [0.0f32; 6];
        select_v2(
            &[true, false, true],
            &[3],
            &[1.0f32, 2.0],
            &[2, 1],
            &[0.0f32],
            &[],
            &mut o,
        )
        .unwrap();
        assert_eq!(o, [1.0, 0.0, 1.0, 2.0, 0.0, 2.0]);
    }

    #[test]
    fn byte_bools_work_like_bools() {
        // TFLite stores bools one byte per element; any nonzero byte reads as true.
        let mut o = [9u8; 3];
        logical_and(&[1u8, 2, 0], &[3], &[1u8], &[1], &mut o).unwrap();
        assert_eq!(o, [1, 1, 0]);
        less(&[1, 5, 3], &[3], &[4], &[], &mut o).unwrap();
        assert_eq!(o, [1, 0, 1]);
        let mut v = [0i32; 3];
        select_v2(&[0u8, 7, 1], &[3], &[1, 2, 3], &[3], &[-1], &[], &mut v).unwrap();
        assert_eq!(v, [-1, 2, 3]);
    }
}
