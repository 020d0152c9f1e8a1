//! Tensor-creating and type-changing ops: FILL, RANGE, SHAPE and CAST.
//!
//! FILL and RANGE sizes come from operand values, so they are resolved by [`fill_output_shape`]
//! and [`range_len`] (errors for negative dimensions, zero or wrong-signed deltas). CAST goes
//! through a small intermediate [`CastValue`] so any pair of the supported element types (f32,
//! f16, i64, i32, i16, i8, u8, bool) converts with TFLite's `static_cast` semantics: float → int
//! truncates toward zero, int → narrower int wraps, anything → bool is `!= 0`, bool → number is
//! 0/1, and → f16 rounds to nearest-even through f32. Where C++ is undefined (float out of an
//! integer's range, NaN) Rust's saturating conversion applies, except f32/f16 → i32, which mirrors
//! TFLite's explicit clamp (NaN → `i32::MAX`). Kernels assume output lengths match the input.

use half::f16;

use super::common::{dim_from_i64, KernelError};

/// Output shape of FILL: the `dims` operand, each entry non-negative.
pub fn fill_output_shape(dims: &[i64]) -> Result<Vec<usize>, KernelError> {
    dims.iter()
        .map(|&d| dim_from_i64(d, "fill dimension"))
        .collect()
}

/// FILL: writes `value` to every output element.
pub fn fill<T: Copy>(value: T, output: &mut [T]) {
    output.fill(value);
}

/// Element types RANGE supports: sizing rule and generation.
pub trait RangeElem: Copy {
    /// Number of elements of `range(start, limit, delta)` (see [`range_len`]).
    fn range_len(start: Self, limit: Self, delta: Self) -> Result<usize, KernelError>;
    /// Writes `start, start + delta, ...` into `output`.
    fn fill_range(start: Self, delta: Self, output: &mut [Self]);
}

/// Shared RANGE precondition: delta non-zero and pointing from `start` towards `limit`.
fn range_direction_ok<T: PartialOrd + Default>(
    start: T,
    limit: T,
    delta: T,
) -> Result<(), KernelError> {
    let zero = T::default();
    let ok = (start >= limit && delta < zero) || (start <= limit && delta > zero);
    if ok {
        Ok(())
    } else {
        Err(KernelError::Param(
            "range: delta must be non-zero and point from start towards limit".into(),
        ))
    }
}

macro_rules! range_int {
    ($t:ty) => {
        impl RangeElem for $t {
            fn range_len(start: Self, limit: Self, delta: Self) -> Result<usize, KernelError> {
                range_direction_ok(start, limit, delta)?;
                let span = (i128::from(limit) - i128::from(start)).unsigned_abs();
                let step = i128::from(delta).unsigned_abs();
                usize::try_from(span.div_ceil(step))
                    .map_err(|_| KernelError::Shape("range: too many elements".into()))
            }
            fn fill_range(start: Self, delta: Self, output: &mut [Self]) {
                // Every written value lies between start and limit, so it fits the type; only the
                // value after the last one could overflow, and it is never formed.
                let mut value = start;
                for (i, o) in output.iter_mut().enumerate() {
                    if i > 0 {
                        value = value.wrapping_add(delta);
                    }
                    *o = value;
                }
            }
        }
    };
}
range_int!(i32);
range_int!(i64);

impl RangeElem for f32 {
    fn range_len(start: Self, limit: Self, delta: Self) -> Result<usize, KernelError> {
        range_direction_ok(start, limit, delta)?;
        let len = ((limit - start) / delta).abs().ceil();
        if len.is_nan() || len > i32::MAX as f32 {
            return Err(KernelError::Shape(format!("range: {len} elements")));
        }
        Ok(len as usize)
    }
    fn fill_range(start: Self, delta: Self, output: &mut [Self]) {
        // TFLite accumulates (`value += delta`) rather than computing `start + i * delta`.
        let mut value = start;
        for o in output {
            *o = value;
            value += delta;
        }
    }
}

/// Output length of RANGE as TFLite computes it: for integers
/// `(|limit - start| + |delta| - 1) / |delta|`, for floats `ceil(|(limit - start) / delta|)` in
/// f32. Errors when `delta` is zero or points away from `limit` (`start == limit` gives 0).
pub fn range_len<T: RangeElem>(start: T, limit: T, delta: T) -> Result<usize, KernelError> {
    T::range_len(start, limit, delta)
}

/// RANGE: `output[i]` = `start` advanced `i` times by `delta` (length from [`range_len`]).
pub fn range<T: RangeElem>(start: T, delta: T, output: &mut [T]) {
    T::fill_range(start, delta, output);
}

/// SHAPE: writes `input_shape` as i32 or i64 (`T`), erroring if a dimension does not fit.
pub fn shape<T: TryFrom<usize>>(
    input_shape: &[usize],
    output: &mut [T],
) -> Result<(), KernelError> {
    for (o, &d) in output.iter_mut().zip(input_shape) {
        *o = T::try_from(d).map_err(|_| {
            KernelError::Shape(format!("shape: dimension {d} overflows output type"))
        })?;
    }
    Ok(())
}

/// The value a CAST passes between source and destination types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CastValue {
    /// Any integer source (exact in i64).
    Int(i64),
    /// A float source (f16 widens exactly to f32).
    Float(f32),
    /// A bool source.
    Bool(bool),
}

/// Element types CAST converts between.
pub trait CastElem: Copy {
    /// Widens this element to the intermediate value.
    fn to_cast_value(self) -> CastValue;
    /// Converts the intermediate value to this type with TFLite's semantics.
    fn from_cast_value(value: CastValue) -> Self;
}

macro_rules! cast_int {
    ($t:ty, $from_float:expr) => {
        impl CastElem for $t {
            fn to_cast_value(self) -> CastValue {
                CastValue::Int(i64::from(self))
            }
            fn from_cast_value(value: CastValue) -> Self {
                match value {
                    CastValue::Int(v) => v as $t,
                    CastValue::Float(f) => $from_float(f),
                    CastValue::Bool(b) => <$t>::from(b),
                }
            }
        }
    };
}
cast_int!(i8, |f: f32| f as i8);
cast_int!(i16, |f: f32| f as i16);
cast_int!(i64, |f: f32| f as i64);
cast_int!(u8, |f: f32| f as u8);
cast_int!(i32, |f: f32| if f.is_nan() { i32::MAX } else { f as i32 });

impl CastElem for f32 {
    fn to_cast_value(self) -> CastValue {
        CastValue::Float(self)
    }
    fn from_cast_value(value: CastValue) -> Self {
        match value {
            CastValue::Int(v) => v as f32,
            CastValue::Float(f) => f,
            CastValue::Bool(b) => f32::from(u8::from(b)),
        }
    }
}

impl CastElem for f16 {
    fn to_cast_value(self) -> CastValue {
        CastValue::Float(self.to_f32())
    }
    fn from_cast_value(value: CastValue) -> Self {
        f16::from_f32(f32::from_cast_value(value))
    }
}

impl CastElem for bool {
    fn to_cast_value(self) -> CastValue {
        CastValue::Bool(self)
    }
    fn from_cast_value(value: CastValue) -> Self {
        match value {
            CastValue::Int(v) => v != 0,
            CastValue::Float(f) => f != 0.0,
            CastValue::Bool(b) => b,
        }
    }
}

/// CAST: converts each element of `input` to `B` (semantics in the module docs).
pub fn cast<A: CastElem, B: CastElem>(input: &[A], output: &mut [B]) {
    for (o, &i) in output.iter_mut().zip(input) {
        *o = B::from_cast_value(i.to_cast_value());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_and_shape() {
        assert_eq!(fill_output_shape(&[2, 3]).unwrap(), vec![2, 3]);
        assert!(fill_output_shape(&[2, -1]).is_err());
        let mut out = [0u8; 3];
        fill(7, &mut out);
        assert_eq!(out, [7, 7, 7]);
        let mut s32 = [0i32; 3];
        shape(&[4, 0, 9], &mut s32).unwrap();
        assert_eq!(s32, [4, 0, 9]);
        let mut s64 = [0i64; 1];
        shape(&[5], &mut s64).unwrap();
        assert_eq!(s64, [5]);
        let mut small = [0i32; 1];
        assert!(shape(&[usize::MAX], &mut small).is_err());
    }

    #[test]
    fn int_range() {
        assert_eq!(range_len(0i32, 10, 3).unwrap(), 4);
        let mut out = [0i32; 4];
        range(0, 3, &mut out);
        assert_eq!(out, [0, 3, 6, 9]);
        assert_eq!(range_len(10i64, 0, -3).unwrap(), 4);
        let mut out = [0i64; 4];
        range(10, -3, &mut out);
        assert_eq!(out, [10, 7, 4, 1]);
        assert_eq!(range_len(3i32, 3, 1).unwrap(), 0);
        assert_eq!(range_len(i32::MIN, i32::MAX, i32::MAX).unwrap(), 3);
        let mut out = [0i32; 3];
        range(i32::MIN, i32::MAX, &mut out);
        assert_eq!(out, [i32::MIN, -1, i32::MAX - 1]);
        assert!(range_len(0i32, 10, 0).is_err());
        assert!(range_len(0i32, 10, -1).is_err());
        assert!(range_len(10i32, 0, 1).is_err());
    }

    #[test]
    fn float_range_accumulates() {
        assert_eq!(range_len(0.0f32, 1.0, 0.3).unwrap(), 4);
        let mut out = [0f32; 4];
        range(0.0, 0.3, &mut out);
        let mut expect = [0f32; 4];
        let mut v = 0.0f32;
        for e in &mut expect {
            *e = v;
            v += 0.3;
        }
        assert_eq!(out, expect);
        assert_eq!(range_len(1.0f32, -1.0, -0.5).unwrap(), 4);
        assert!(range_len(0.0f32, 1.0, 0.0).is_err());
        assert!(range_len(0.0f32, f32::NAN, 1.0).is_err());
        assert!(range_len(0.0f32, f32::INFINITY, 1.0).is_err());
    }

    #[test]
    fn cast_float_to_int_truncates_and_saturates() {
        let input = [1.9f32, -1.9, 3e9, -3e9, f32::NAN, 0.5];
        let mut out = [0i32; 6];
        cast(&input, &mut out);
        assert_eq!(out, [1, -1, i32::MAX, i32::MIN, i32::MAX, 0]);
        let mut out = [0u8; 4];
        cast(&[-1.5f32, 300.0, 2.7, 255.9], &mut out);
        assert_eq!(out, [0, 255, 2, 255]);
        let mut out = [0i16; 2];
        cast(&[-40000.0f32, 12.99], &mut out);
        assert_eq!(out, [i16::MIN, 12]);
    }

    #[test]
    fn cast_int_narrowing_wraps_and_widening_is_exact() {
        let mut out = [0i8; 3];
        cast(&[300i32, -129, 127], &mut out);
        assert_eq!(out, [44, 127, 127]);
        let mut out = [0u8; 2];
        cast(&[-1i64, 256], &mut out);
        assert_eq!(out, [255, 0]);
        let mut out = [0i64; 2];
        cast(&[-128i8, 127], &mut out);
        assert_eq!(out, [-128, 127]);
        let mut out = [0f32; 2];
        cast(&[16_777_217i32, -3], &mut out);
        assert_eq!(out, [16_777_216.0, -3.0]);
    }

    #[test]
    fn cast_bool_both_ways() {
        let mut out = [0f32; 2];
        cast(&[true, false], &mut out);
        assert_eq!(out, [1.0, 0.0]);
        let mut out = [0u8; 2];
        cast(&[false, true], &mut out);
        assert_eq!(out, [0, 1]);
        let mut out = [false; 5];
        cast(&[0.0f32, -0.0, 0.1, f32::NAN, -2.0], &mut out);
        assert_eq!(out, [false, false, true, true, true]);
        let mut out = [false; 3];
        cast(&[0i32, 7, -1], &mut out);
        assert_eq!(out, [false, true, true]);
    }

    #[test]
    fn cast_f16_round_trips() {
        let mut h = [f16::ZERO; 4];
        cast(&[1.0f32 / 3.0, 65520.0, 2049.0, -0.0], &mut h);
        assert_eq!(h[0].to_f32(), 0.333_251_95);
        assert!(h[1].is_infinite());
        assert_eq!(h[2].to_f32(), 2048.0);
        assert!(h[3].is_sign_negative());
        let mut h = [f16::ZERO; 2];
        cast(&[2049i64, 1], &mut h);
        assert_eq!((h[0].to_f32(), h[1].to_f32()), (2048.0, 1.0));
        let mut out = [0i32; 2];
        cast(&[f16::from_f32(2.5), f16::from_f32(-7.75)], &mut out);
        assert_eq!(out, [2, -7]);
        let mut out = [false; 2];
        cast(&[f16::ZERO, f16::ONE], &mut out);
        assert_eq!(out, [false, true]);
    }
}
