//! QUANTIZE (f32 → int8/uint8/int16, plus same-scale integer requantization) and DEQUANTIZE
//! (int8/uint8/int16/int32 and f16 → f32).
//!
//! Arithmetic follows TFLite's reference kernels (`reference/quantize.h`, `reference/dequantize.h`):
//!
//! * quantize: `q = clamp(round(x / scale) + zero_point)`, where the division and the rounding are
//!   done in f32 and `round` is `TfLiteRound` = `std::round`, i.e. half away from zero
//!   (`0.5 → 1`, `-0.5 → -1`, `2.5 → 3`); the sum and clamp are done in f64.
//! * per-tensor dequantize: `x = (f64(scale) * (q - zero_point)) as f32`.
//! * per-channel dequantize: `x = scale[c] * (q - zero_point[c])` in f32.
//!
//! Parameters are checked by [`check_quant_params`] / [`check_per_channel`]; the kernels assume that
//! was done and that slices have equal lengths. NaN inputs quantize to 0 (undefined in TFLite).

use half::f16;

use super::common::{normalize_axis, KernelError};

/// Integer storage types of quantized tensors.
pub trait QuantElem: Copy + Send + Sync {
    /// Smallest representable value.
    const MIN: i32;
    /// Largest representable value.
    const MAX: i32;
    /// Widens to i32.
    fn to_i32(self) -> i32;
    /// Narrows from an i32 already clamped to `MIN..=MAX`.
    fn from_i32_clamped(v: i32) -> Self;
}

macro_rules! quant_elem {
    ($t:ty) => {
        impl QuantElem for $t {
            const MIN: i32 = <$t>::MIN as i32;
            const MAX: i32 = <$t>::MAX as i32;
            fn to_i32(self) -> i32 {
                self as i32
            }
            fn from_i32_clamped(v: i32) -> Self {
                v as $t
            }
        }
    };
}
quant_elem!(i8);
quant_elem!(u8);
quant_elem!(i16);
quant_elem!(i32);

/// Checks per-tensor quantization parameters for storage type `Q`: a finite positive scale and a
/// zero point inside `Q`'s range (TFLite additionally requires 0 for int16, enforced here).
pub fn check_quant_params<Q: QuantElem>(scale: f32, zero_point: i32) -> Result<(), KernelError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(KernelError::Param(format!(
            "quantization scale {scale} invalid"
        )));
    }
    if !(Q::MIN..=Q::MAX).contains(&zero_point) {
        return Err(KernelError::Param(format!(
            "zero point {zero_point} outside {}..={}",
            Q::MIN,
            Q::MAX
        )));
    }
    if Q::MIN == i16::MIN as i32 && zero_point != 0 {
        return Err(KernelError::Param(format!(
            "int16 quantization needs zero point 0, got {zero_point}"
        )));
    }
    Ok(())
}

/// Quantizes one value (the per-element rule in the module docs).
#[inline]
fn quantize_one<Q: QuantElem>(x: f32, scale: f32, zero_point: i32) -> Q {
    let rounded = f64::from((x / scale).round());
    let clamped = (rounded + f64::from(zero_point)).clamp(f64::from(Q::MIN), f64::from(Q::MAX));
    Q::from_i32_clamped(clamped as i32)
}

/// QUANTIZE per tensor: `output[i] = clamp(round(input[i] / scale) + zero_point)`.
pub fn quantize<Q: QuantElem>(input: &[f32], scale: f32, zero_point: i32, output: &mut [Q]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = quantize_one(x, scale, zero_point);
    }
}

/// DEQUANTIZE per tensor: `output[i] = (f64(scale) * (input[i] - zero_point)) as f32`.
pub fn dequantize<Q: QuantElem>(input: &[Q], scale: f32, zero_point: i32, output: &mut [f32]) {
    let scale = f64::from(scale);
    for (o, &q) in output.iter_mut().zip(input) {
        let diff = i64::from(q.to_i32()) - i64::from(zero_point);
        *o = (scale * diff as f64) as f32;
    }
}

/// Validates per-channel parameters: resolves `axis` against `shape` and requires one scale and one
/// zero point per channel (a single zero point is not broadcast, as in TFLite).
pub fn check_per_channel(
    shape: &[usize],
    axis: i64,
    scales: &[f32],
    zero_points: &[i32],
) -> Result<usize, KernelError> {
    let axis = normalize_axis(axis, shape.len())?;
    let channels = shape[axis];
    if scales.len() != channels || zero_points.len() != channels {
        return Err(KernelError::Shape(format!(
            "per-channel quantization: {} scales / {} zero points for {channels} channels",
            scales.len(),
            zero_points.len()
        )));
    }
    if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(KernelError::Param(format!(
            "quantization scale {s} invalid"
        )));
    }
    Ok(axis)
}

/// Calls `f(flat_index, channel)` for every element of `shape` with channels along `axis`.
fn for_each_channel(shape: &[usize], axis: usize, mut f: impl FnMut(usize, usize)) {
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let total: usize = shape.iter().product();
    if inner == 0 {
        return;
    }
    for i in 0..total {
        f(i, (i / inner) % channels);
    }
}

/// QUANTIZE per channel along a resolved `axis` (see [`check_per_channel`]); TFLite's
/// `PerChannelQuantize`, same rounding as [`quantize`].
pub fn quantize_per_channel<Q: QuantElem>(
    input: &[f32],
    shape: &[usize],
    axis: usize,
    scales: &[f32],
    zero_points: &[i32],
    output: &mut [Q],
) {
    for_each_channel(shape, axis, |i, c| {
        output[i] = quantize_one(input[i], scales[c], zero_points[c]);
    });
}

/// DEQUANTIZE per channel along a resolved `axis`: `output = scale[c] * (q - zero_point[c])` in
/// f32, as TFLite's `PerChannelDequantize`.
pub fn dequantize_per_channel<Q: QuantElem>(
    input: &[Q],
    shape: &[usize],
    axis: usize,
    scales: &[f32],
    zero_points: &[i32],
    output: &mut [f32],
) {
    for_each_channel(shape, axis, |i, c| {
        let diff = i64::from(input[i].to_i32()) - i64::from(zero_points[c]);
        output[i] = scales[c] * diff as f32;
    });
}

/// DEQUANTIZE from f16: exact widening to f32.
pub fn dequantize_f16(input: &[f16], output: &mut [f32]) {
    for (o, &h) in output.iter_mut().zip(input) {
        *o = h.to_f32();
    }
}

/// Requantizes between integer types that share one scale: `output = clamp(q - zp_in + zp_out)`.
///
/// With equal scales TFLite's fixed-point requantization (multiplier 1.0) is exact, so this is
/// what its QUANTIZE does for the int8 <-> uint8 conversions converters put at model boundaries.
pub fn requantize_zero_point<A: QuantElem, B: QuantElem>(
    input: &[A],
    zp_in: i32,
    zp_out: i32,
    output: &mut [B],
) {
    for (o, &q) in output.iter_mut().zip(input) {
        let v = i64::from(q.to_i32()) - i64::from(zp_in) + i64::from(zp_out);
        *o = B::from_i32_clamped(v.clamp(i64::from(B::MIN), i64::from(B::MAX)) as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        let input = [0.5f32, -0.5, 1.5, 2.5, -2.5, 0.49999997, -1.4];
        let mut out = [0i8; 7];
        quantize(&input, 1.0, 0, &mut out);
        assert_eq!(out, [1, -1, 2, 3, -3, 0, -1]);
        // The zero point is added after rounding.
        let mut out = [0u8; 3];
        quantize(&[0.5f32, -0.5, 2.5], 1.0, 10, &mut out);
        assert_eq!(out, [11, 9, 13]);
    }

    #[test]
    fn quantize_clamps_and_uses_f32_division() {
        let mut out = [0i8; 4];
        quantize(
            &[1000.0f32, -1000.0, f32::INFINITY, f32::NEG_INFINITY],
            0.5,
            -3,
            &mut out,
        );
        assert_eq!(out, [127, -128, 127, -128]);
        let mut out = [0u8; 2];
        quantize(&[-1.0f32, 100.0], 0.25, 128, &mut out);
        assert_eq!(out, [124, 255]);
        let mut out = [0i16; 2];
        quantize(&[0.3f32, -40000.0], 0.1, 0, &mut out);
        assert_eq!(out, [3, -32768]);
        // 0.35f32 / 0.1f32 is 3.49999989 exactly, which rounds to 3.5 in f32 → 4 (in f64 it would
        // stay below 3.5 and give 3): the division must happen in f32, as in TFLite.
        assert_eq!((f64::from(0.35f32) / f64::from(0.1f32)).round(), 3.0);
        let mut out = [0i8; 1];
        quantize(&[0.35f32], 0.1, 0, &mut out);
        assert_eq!(out, [4]);
    }

    #[test]
    fn param_checks() {
        assert!(check_quant_params::<i8>(0.1, -128).is_ok());
        assert!(check_quant_params::<i8>(0.1, 128).is_err());
        assert!(check_quant_params::<u8>(0.0, 0).is_err());
        assert!(check_quant_params::<u8>(f32::NAN, 0).is_err());
        assert!(check_quant_params::<i16>(0.1, 1).is_err());
        assert!(check_quant_params::<i16>(0.1, 0).is_ok());
        assert_eq!(
            check_per_channel(&[2, 3], -1, &[1.0; 3], &[0; 3]).unwrap(),
            1
        );
        assert!(check_per_channel(&[2, 3], 0, &[1.0; 3], &[0; 3]).is_err());
        assert!(check_per_channel(&[2, 3], 1, &[1.0, -1.0, 1.0], &[0; 3]).is_err());
    }

    #[test]
    fn dequantize_per_tensor() {
        let mut out = [0f32; 3];
        dequantize(&[-128i8, 0, 127], 0.5, -1, &mut out);
        assert_eq!(out, [-63.5, 0.5, 64.0]);
        let mut out = [0f32; 2];
        dequantize(&[i32::MIN, i32::MAX], 1.0, 1, &mut out);
        assert_eq!(out, [-2_147_483_649.0f64 as f32, 2_147_483_646.0f64 as f32]);
        // Computed in f64 then rounded once: 0.1f32 * 3 in f64 → f32.
        let mut out = [0f32; 1];
        dequantize(&[3u8], 0.1, 0, &mut out);
        assert_eq!(out[0], (f64::from(0.1f32) * 3.0) as f32);
    }

    #[test]
    fn dequantize_per_channel_matches_naive() {
        // shape [2, 3], channels along axis 1 and axis 0.
        let q = [-3i8, 0, 5, 7, -8, 1];
        let scales = [0.5f32, 2.0, 0.25];
        let zps = [1, 0, -1];
        let axis = check_per_channel(&[2, 3], 1, &scales, &zps).unwrap();
        let mut out = [0f32; 6];
        dequantize_per_channel(&q, &[2, 3], axis, &scales, &zps, &mut out);
        assert_eq!(out, [-2.0, 0.0, 1.5, 3.0, -16.0, 0.5]);

        let scales0 = [0.5f32, 2.0];
        let zps0 = [0, 1];
        let mut out = [0f32; 6];
        dequantize_per_channel(&q, &[2, 3], 0, &scales0, &zps0, &mut out);
        assert_eq!(out, [-1.5, 0.0, 2.5, 12.0, -18.0, 0.0]);

        // Round trip through per-channel quantize.
        let mut back = [0i8; 6];
        quantize_per_channel(&out, &[2, 3], 0, &scales0, &zps0, &mut back);
        assert_eq!(back, q);
    }

    #[test]
    fn requantize_shifts_zero_point_and_clamps() {
        let mut out = [0i8; 4];
        requantize_zero_point(&[0u8, 128, 255, 130], 128, 0, &mut out);
        assert_eq!(out, [-128, 0, 127, 2]);
        let mut back = [0u8; 3];
        requantize_zero_point(&[-128i8, 0, 127], -5, 10, &mut back);
        assert_eq!(back, [0, 15, 142]);
    }

    #[test]
    fn dequantize_half() {
        let h = [f16::from_f32(1.5), f16::from_f32(-0.1), f16::INFINITY];
        let mut out = [0f32; 3];
        dequantize_f16(&h, &mut out);
        assert_eq!(out[0], 1.5);
        assert_eq!(out[1], f16::from_f32(-0.1).to_f32());
        assert!(out[2].is_infinite());
    }
}
