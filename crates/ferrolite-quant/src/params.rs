//! Quantization parameters and value conversions, computed the way TensorFlow's converter
//! (TF 2.21, MLIR quantizer with its legacy float scales) computes them, so that our files carry
//! the same scales, zero points and integer weights as TF's for the same float model.
//!
//! - **Weights** (int8, symmetric, narrow range `[-127, 127]`, zero point 0): per channel, the
//!   range is `[-m, m]` with `m = max |w|` (a channel whose `2m <= 1e-6` is widened to
//!   `m = 5e-7`); `scale = (f32(m) - f32(-m)) / 254` evaluated in `f32`; values are
//!   `round_half_away(w * f32(1 / scale))` clamped to `[-127, 127]`.
//! - **Activations** (int8, asymmetric `[-128, 127]`): the calibrated `(min, max)` is first
//!   stretched to contain 0 (and widened by `1e-6` each side when narrower than `1e-6`), then
//!   `scale = (f32(max) - f32(min)) / 255` in `f32`, and the zero point is
//!   `round_half_away(f32(-128 - min / scale))` clamped to `[-128, 127]`.
//! - **Bias** (int32, zero point 0): `scale[c] = f32(f64(input_scale) * f64(weight_scale[c]))`,
//!   values `round_half_away(b * f32(1 / scale[c]))` clamped to `[-(2^31 - 1), 2^31 - 1]`.
//! - **float16**: values are clamped to `[-65504, 65504]` then rounded to nearest even (NaN
//!   stays NaN), as the converter does before storing half-precision weights.
//!
//! int16x8 follows TF's legacy quantizer instead (the one TF 2.21 still runs for 16x8):
//!
//! - **int16 activations** (symmetric, zero point 0): `scale = max(|min|, |max|) / 32767` in
//!   `f32` (a zero range, for which TF would write a zero scale, is widened to `1e-6`);
//! - **weights** (int8 per channel): `scale = m / 127` and `inverse = 127 / m` in `f32`, values
//!   `round_half_away(w * inverse)` clamped to `[-127, 127]` (an all-zero channel gets scale 0);
//! - **int64 biases**: scales as for int8, values clamped to `[-(2^63 - 1), 2^63 - 1]`;
//! - **int16 constants** (an ADD or MUL operand): symmetric over their own range, values
//!   `round_half_away(v * f32(1 / scale))` clamped to `[-32767, 32767]`.

use half::f16;

/// Ranges narrower than this are widened before computing a scale (TF's `kNearZeroTolerance`).
pub const NEAR_ZERO_TOLERANCE: f64 = 1.0e-6;

/// Symmetric int8 weights: one scale per channel (or one for the whole tensor) and the values.
#[derive(Debug, Clone, PartialEq)]
pub struct SymmetricWeights {
    /// Scales, one per channel along the quantized axis (one value when per-tensor).
    pub scales: Vec<f32>,
    /// Quantized values in the tensor's own (row-major) order.
    pub values: Vec<i8>,
    /// `max |w|` of each channel (before any widening), for reports.
    pub max_abs: Vec<f32>,
    /// Smallest value of each channel (TF's legacy quantizer records it in the file).
    pub min: Vec<f32>,
    /// Largest value of each channel.
    pub max: Vec<f32>,
}

/// Affine parameters of one tensor: `real = (q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i64,
}

/// The scale TF derives for a symmetric range `[-m, m]` over `levels` steps (254 for int8).
fn symmetric_scale(max_abs: f64, levels: f32) -> f32 {
    let m = if 2.0 * max_abs > NEAR_ZERO_TOLERANCE {
        max_abs
    } else {
        max_abs.max(NEAR_ZERO_TOLERANCE / 2.0)
    };
    ((m as f32) - (-m as f32)) / levels
}

/// Quantizes weights symmetrically to int8 with one scale per slice along `axis` of `shape`
/// (`values.len()` must equal the product of `shape` and `axis < shape.len()`; the caller checks).
pub fn symmetric_per_channel(values: &[f32], shape: &[usize], axis: usize) -> SymmetricWeights {
    let channels = shape[axis].max(1);
    let inner: usize = shape[axis + 1..].iter().product::<usize>().max(1);
    let mut max_abs = vec![0f64; channels];
    let (min, max) = channel_min_max(values, channels, inner);
    for (i, &v) in values.iter().enumerate() {
        let c = (i / inner) % channels;
        max_abs[c] = max_abs[c].max(f64::from(v).abs());
    }
    let scales: Vec<f32> = max_abs.iter().map(|&m| symmetric_scale(m, 254.0)).collect();
    let inverse: Vec<f32> = scales
        .iter()
        .map(|&s| (1.0 / f64::from(s)) as f32)
        .collect();
    let values = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner) % channels;
            (v * inverse[c]).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    SymmetricWeights {
        scales,
        values,
        max_abs: max_abs.iter().map(|&m| m as f32).collect(),
        min,
        max,
    }
}

/// Per-channel minimum and maximum of `values` (`channels` slices of `inner` elements, repeated).
fn channel_min_max(values: &[f32], channels: usize, inner: usize) -> (Vec<f32>, Vec<f32>) {
    let mut min = vec![f32::INFINITY; channels];
    let mut max = vec![f32::NEG_INFINITY; channels];
    for (i, &v) in values.iter().enumerate() {
        let c = (i / inner) % channels;
        min[c] = min[c].min(v);
        max[c] = max[c].max(v);
    }
    let fix = |v: &mut Vec<f32>| {
        v.iter_mut()
            .filter(|x| !x.is_finite())
            .for_each(|x| *x = 0.0)
    };
    fix(&mut min);
    fix(&mut max);
    (min, max)
}

/// int8 per-channel weights by TF's legacy rule (int16x8 mode): `scale = m / 127` and
/// `inverse = 127 / m` in `f32` per channel (`m = max |w|`); an all-zero channel gets scale 0.
/// The caller guarantees `values.len()` equals the product of `shape` and `axis < shape.len()`.
pub fn symmetric_per_channel_legacy(
    values: &[f32],
    shape: &[usize],
    axis: usize,
) -> SymmetricWeights {
    let channels = shape[axis].max(1);
    let inner: usize = shape[axis + 1..].iter().product::<usize>().max(1);
    let (min, max) = channel_min_max(values, channels, inner);
    let half: Vec<f32> = min
        .iter()
        .zip(&max)
        .map(|(a, b)| a.abs().max(b.abs()))
        .collect();
    let scales: Vec<f32> = half.iter().map(|&h| h / 127.0).collect();
    let inverse: Vec<f32> = half
        .iter()
        .map(|&h| if h == 0.0 { 0.0 } else { 127.0 / h })
        .collect();
    let values = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (v * inverse[(i / inner) % channels])
                .round()
                .clamp(-127.0, 127.0) as i8
        })
        .collect();
    SymmetricWeights {
        scales,
        values,
        max_abs: half,
        min,
        max,
    }
}

/// Quantizes weights symmetrically to int8 with a single scale (TF's per-tensor path: the values
/// are scaled by `127 / max|w|`, computed in `f32`).
pub fn symmetric_per_tensor(values: &[f32]) -> SymmetricWeights {
    let range = values.iter().fold(0f32, |m, &v| m.max(v.abs()));
    let scale = symmetric_scale(f64::from(range), 254.0);
    let (min, max) = channel_min_max(values, 1, 1);
    let values = if range == 0.0 {
        vec![0; values.len()]
    } else {
        let inverse = 127.0f32 / range;
        values
            .iter()
            .map(|&v| (v * inverse).round().clamp(-127.0, 127.0) as i8)
            .collect()
    };
    SymmetricWeights {
        scales: vec![scale],
        values,
        max_abs: vec![range],
        min,
        max,
    }
}

/// TF's float-scale rule for an asymmetric range that already contains 0.
fn downcast(rmin: f64, rmax: f64, qmin: i64, qmax: i64) -> Affine {
    let scale = ((rmax as f32) - (rmin as f32)) / ((qmax - qmin) as f32);
    let from_min = (qmin as f64 - rmin / f64::from(scale)) as f32;
    let zero_point = if from_min < qmin as f32 {
        qmin
    } else if from_min > qmax as f32 {
        qmax
    } else {
        from_min.round() as i64
    };
    Affine { scale, zero_point }
}

/// Asymmetric parameters for a calibrated range over integers `[qmin, qmax]`.
pub fn asymmetric_params(min: f32, max: f32, qmin: i64, qmax: i64) -> Affine {
    let mut rmin = f64::from(min).min(0.0);
    let mut rmax = f64::from(max).max(0.0);
    if (rmax - rmin).abs() < NEAR_ZERO_TOLERANCE {
        rmin -= NEAR_ZERO_TOLERANCE;
        rmax += NEAR_ZERO_TOLERANCE;
    }
    downcast(rmin, rmax, qmin, qmax)
}

/// int8 parameters of a constant operand quantized like an activation (its value range,
/// stretched to contain 0; a range of at most `1e-6` is widened to `[-5e-7, 5e-7]`).
pub fn constant_params(values: &[f32]) -> Affine {
    let (lo, hi) = values.iter().fold((0f64, 0f64), |(a, b), &v| {
        (a.min(f64::from(v)), b.max(f64::from(v)))
    });
    let (lo, hi) = if hi - lo > NEAR_ZERO_TOLERANCE {
        (lo, hi)
    } else {
        (
            lo.min(-NEAR_ZERO_TOLERANCE / 2.0),
            hi.max(NEAR_ZERO_TOLERANCE / 2.0),
        )
    };
    downcast(lo, hi, -128, 127)
}

/// int8 activation parameters (`[-128, 127]`) for a calibrated range.
pub fn int8_activation_params(min: f32, max: f32) -> Affine {
    asymmetric_params(min, max, -128, 127)
}

/// Bias scales: `f32(f64(input_scale) * f64(weight_scale[c]))` for each weight scale.
pub fn bias_scales(input_scale: f32, weight_scales: &[f32]) -> Vec<f32> {
    weight_scales
        .iter()
        .map(|&w| (f64::from(input_scale) * f64::from(w)) as f32)
        .collect()
}

/// Quantizes a bias to int32 with per-element scales (`scales.len() == 1` means per-tensor).
pub fn quantize_bias(values: &[f32], scales: &[f32]) -> Vec<i32> {
    let inverse = |s: f32| {
        if s == 0.0 {
            0.0
        } else {
            (1.0 / f64::from(s)) as f32
        }
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = if scales.len() == 1 {
                scales[0]
            } else {
                scales.get(i).copied().unwrap_or(0.0)
            };
            let q = (v * inverse(s)).round() as i32; // saturating; NaN -> 0
            q.max(-i32::MAX)
        })
        .collect()
}

/// int16 symmetric activation parameters (zero point 0) for a calibrated range, by TF's legacy
/// rule `max(|min|, |max|) / 32767`; a zero range is widened to `1e-6` (TF would write scale 0).
pub fn int16_activation_params(min: f32, max: f32) -> Affine {
    let range = min.min(0.0).abs().max(max.max(0.0));
    let range = if range > 0.0 {
        range
    } else {
        NEAR_ZERO_TOLERANCE as f32
    };
    Affine {
        scale: range / 32767.0,
        zero_point: 0,
    }
}

/// Quantizes a bias to int64 with per-element scales (`scales.len() == 1` means per-tensor);
/// the int16x8 counterpart of [`quantize_bias`].
pub fn quantize_bias_i64(values: &[f32], scales: &[f32]) -> Vec<i64> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = if scales.len() == 1 {
                scales[0]
            } else {
                scales.get(i).copied().unwrap_or(0.0)
            };
            let inverse = if s == 0.0 {
                0.0
            } else {
                (1.0 / f64::from(s)) as f32
            };
            ((v * inverse).round() as i64).max(-i64::MAX) // saturating; NaN -> 0
        })
        .collect()
}

/// A constant quantized to int16 over its own symmetric range (TF's legacy rule for ADD / MUL
/// operands in int16x8 mode): its scale and values.
pub fn int16_constant(values: &[f32]) -> (Affine, Vec<i16>) {
    let range = values.iter().fold(0f32, |m, &v| m.max(v.abs()));
    let p = int16_activation_params(-range, range);
    let inverse = (1.0 / f64::from(p.scale)) as f32;
    let q = values
        .iter()
        .map(|&v| (v * inverse).round().clamp(-32767.0, 32767.0) as i16)
        .collect();
    (p, q)
}

/// Quantizes float values to an affine integer grid (TFLite QUANTIZE semantics:
/// `round_half_away(x / scale) + zero_point`, clamped).
pub fn quantize_affine(values: &[f32], p: Affine, qmin: i64, qmax: i64) -> Vec<i64> {
    values
        .iter()
        .map(|&v| {
            let q = (f64::from(v) / f64::from(p.scale)).round() as i64 + p.zero_point;
            q.clamp(qmin, qmax)
        })
        .collect()
}

/// A float32 weight as TF stores it in float16 mode.
pub fn to_f16(v: f32) -> f16 {
    f16::from_f32(v.clamp(-65504.0, 65504.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_params_match_tf_fixture_values() {
        // Calibrated ranges and TF's resulting parameters from tests/fixtures/*_int8.tflite.
        let p = int8_activation_params(0.0, 1.0);
        assert_eq!((p.scale, p.zero_point), (0.003921569, -128));
        let p = int8_activation_params(-21.530_478, 15.502_777);
        assert_eq!((p.scale, p.zero_point), (0.145_228_46, 20));
        let p = int8_activation_params(0.0, 10.057_793);
        assert_eq!((p.scale, p.zero_point), (0.039_442_323, -128));
        let p = int8_activation_params(-2.658_16, 2.882_358_3);
        assert_eq!((p.scale, p.zero_point), (0.021_727_523, -6));
        let p = int8_activation_params(-23.815_111, 21.944_225);
        assert_eq!((p.scale, p.zero_point), (0.179_448_38, 5));
    }

    #[test]
    fn ranges_are_stretched_to_contain_zero_and_widened_when_tiny() {
        let p = int8_activation_params(2.0, 4.0);
        assert_eq!(p.zero_point, -128);
        assert_eq!(p.scale, 4.0 / 255.0);
        let p = int8_activation_params(0.0, 0.0);
        assert!(p.scale > 0.0 && p.scale < 1e-8);
        assert!((-1..=0).contains(&p.zero_point));
    }

    #[test]
    fn per_channel_weights_use_max_abs_per_slice() {
        // shape [2, 3], axis 0: channel 0 max 1.27, channel 1 all zero.
        let w = [1.27f32, -0.5, 0.0, 0.0, 0.0, 0.0];
        let q = symmetric_per_channel(&w, &[2, 3], 0);
        assert_eq!(q.scales[0], 0.01);
        assert_eq!(q.values[..3], [127, -50, 0]);
        assert_eq!(q.scales[1], 3.937008e-9); // TF widens an all-zero channel to +-5e-7
        assert_eq!(q.values[3..], [0, 0, 0]);
        // axis 1 of [1, 2]: each element its own channel.
        let q = symmetric_per_channel(&[2.0, -4.0], &[1, 2], 1);
        assert_eq!(q.values, [127, -127]);
    }

    #[test]
    fn bias_quantization_saturates_symmetrically() {
        assert_eq!(quantize_bias(&[1.0, -1.0], &[0.5]), [2, -2]);
        assert_eq!(quantize_bias(&[1e30, -1e30], &[1.0]), [i32::MAX, -i32::MAX]);
        assert_eq!(quantize_bias(&[1.0], &[0.0]), [0]);
    }

    #[test]
    fn int16x8_rules_match_tf_legacy_quantizer() {
        // Values from tests/fixtures/quant/*_int16x8.tflite.
        assert_eq!(int16_activation_params(0.0, 1.0).scale, 3.051851e-05);
        assert_eq!(int16_activation_params(-23.815111, 5.0).scale, 0.0007268017);
        assert_eq!(int16_activation_params(0.0, 1.0).zero_point, 0);
        assert!(int16_activation_params(0.0, 0.0).scale > 0.0);
        let (p, q) = int16_constant(&[0.5]);
        assert_eq!((p.scale, q[0]), (1.5259255e-05, 32767));
        let w = symmetric_per_channel_legacy(&[1.27, -0.5, 0.0, 0.0], &[2, 2], 0);
        assert_eq!(w.scales, [0.01, 0.0]);
        assert_eq!(w.values, [127, -50, 0, 0]);
        assert_eq!((w.min[0], w.max[0]), (-0.5, 1.27));
        assert_eq!(quantize_bias_i64(&[1e30, 1.0], &[1.0, 0.5]), [i64::MAX, 2]);
    }

    #[test]
    fn float16_clamps_to_the_finite_range() {
        assert_eq!(to_f16(1e6).to_f32(), 65504.0);
        assert_eq!(to_f16(-1e6).to_f32(), -65504.0);
        assert!(to_f16(f32::NAN).is_nan());
        // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: nearest even is 1.
        assert_eq!(to_f16(1.0 + 2f32.powi(-11)).to_f32(), 1.0);
    }
}
