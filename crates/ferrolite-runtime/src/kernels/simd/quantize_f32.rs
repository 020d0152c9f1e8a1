//! Dynamic-range input quantization (TFLite's `AsymmetricQuantizeFloats` /
//! `SymmetricQuantizeFloats`) vectorized, bit-identical to the scalar functions in
//! `quant::fully_connected`, which stay the reference (and are used at the scalar level).
//!
//! The hybrid kernels quantize every input image (or row) on every call, so with fast integer
//! kernels the scalar loop — a libm `roundf` per value — became a large share of their time.
//! The scale / zero-point arithmetic is the scalar code's, step for step (f64 nudging included).

#[cfg(target_arch = "x86_64")]
use super::quantize_x86;
use super::Level;
use crate::kernels::quant::fully_connected::{
    asymmetric_quantize_floats, symmetric_quantize_floats,
};

/// `(min, max)` of `values` (NaNs ignored; `(+inf, -inf)` when empty), at AVX2 or above.
#[cfg(target_arch = "x86_64")]
fn min_max(values: &[f32]) -> (f32, f32) {
    // SAFETY: only called at a detected level of at least AVX2.
    unsafe { quantize_x86::min_max_avx2(values) }
}

/// [`asymmetric_quantize_floats`] at `level`: quantizes `values` into `out` (at least as long)
/// and returns `(scale, zero_point)`.
pub fn asymmetric_quantize(level: Level, values: &[f32], out: &mut [i8]) -> (f32, i32) {
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx2 && !values.is_empty() {
        let out = &mut out[..values.len()];
        let (lo, hi) = min_max(values);
        let rmin = f64::from(0.0f32.min(lo));
        let rmax = f64::from(0.0f32.max(hi));
        if rmin == rmax {
            out.iter_mut().for_each(|q| *q = 0);
            return (1.0, 0);
        }
        let (qmin, qmax) = (-128.0f64, 127.0f64);
        let scale = (rmax - rmin) / (qmax - qmin);
        let zp_from_min = qmin - rmin / scale;
        let zp_from_max = qmax - rmax / scale;
        let err_min = qmin.abs() + (rmin / scale).abs();
        let err_max = qmax.abs() + (rmax / scale).abs();
        let zp = if err_min < err_max {
            zp_from_min
        } else {
            zp_from_max
        };
        let nudged = if zp <= qmin {
            -128
        } else if zp >= qmax {
            127
        } else {
            zp.round() as i32
        };
        let scale = scale as f32;
        let inv = 1.0f32 / scale;
        // SAFETY: AVX2 was detected; `out` is as long as `values`.
        unsafe { quantize_x86::quantize_avx2(values, out, inv, nudged as f32, (-128.0, 127.0)) };
        return (scale, nudged);
    }
    let _ = level;
    asymmetric_quantize_floats(values, out)
}

/// [`symmetric_quantize_floats`] at `level`: quantizes `values` into `out` (at least as long)
/// and returns the scale.
pub fn symmetric_quantize(level: Level, values: &[f32], out: &mut [i8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx2 && !values.is_empty() {
        let out = &mut out[..values.len()];
        let (min, max) = min_max(values);
        let range = min.abs().max(max.abs());
        if range == 0.0 {
            out.iter_mut().for_each(|q| *q = 0);
            return 1.0;
        }
        let inv = 127.0f32 / range;
        // `0.0 + v · inv` rounds like `v · inv` (only the sign of a zero can differ).
        // SAFETY: AVX2 was detected; `out` is as long as `values`.
        unsafe { quantize_x86::quantize_avx2(values, out, inv, 0.0, (-127.0, 127.0)) };
        return range / 127.0;
    }
    let _ = level;
    symmetric_quantize_floats(values, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd::available_levels;

    fn cases() -> Vec<Vec<f32>> {
        let mut seed = 99u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        let mut out: Vec<Vec<f32>> = vec![
            vec![],
            vec![0.0; 13],
            vec![-0.0, 0.0, -0.0],
            vec![1.0, 2.0, 3.0],
            vec![-5.0, -1.0],
            vec![
                0.0, 1.0, 2.55, 1.275, 0.01, -0.005, 0.5, 2.5, -2.5, 7.0, 1e-8, 3.3,
            ],
            vec![
                f32::NAN,
                1.0,
                -2.0,
                0.3,
                f32::INFINITY,
                0.25,
                0.75,
                -1.25,
                4.0,
            ],
            vec![
                f32::NEG_INFINITY,
                1.0,
                -2.0,
                0.3,
                0.7,
                0.25,
                0.75,
                -1.25,
                4.0,
            ],
        ];
        for n in [1usize, 7, 8, 9, 31, 64, 100, 1000] {
            for spread in [1.0f32, 10.0, 1e-3] {
                let shift = next() - 0.3;
                out.push((0..n).map(|_| (next() - shift) * spread).collect());
            }
        }
        // Exact half-way points after scaling: multiples of scale / 2.
        out.push((0..64).map(|i| i as f32 * 0.5 - 10.0).collect());
        out
    }

    #[test]
    fn matches_scalar_bit_for_bit() {
        for values in cases() {
            let mut want = vec![0i8; values.len()];
            let ws = asymmetric_quantize_floats(&values, &mut want);
            let mut want_s = vec![0i8; values.len()];
            let wss = symmetric_quantize_floats(&values, &mut want_s);
            for level in available_levels() {
                let mut got = vec![1i8; values.len()];
                let gs = asymmetric_quantize(level, &values, &mut got);
                assert_eq!(
                    (got.as_slice(), gs.0.to_bits(), gs.1),
                    (want.as_slice(), ws.0.to_bits(), ws.1),
                    "{level:?} {values:?}"
                );
                let mut got = vec![1i8; values.len()];
                let gss = symmetric_quantize(level, &values, &mut got);
                assert_eq!(
                    (got.as_slice(), gss.to_bits()),
                    (want_s.as_slice(), wss.to_bits()),
                    "{level:?} {values:?}"
                );
            }
        }
    }
}
