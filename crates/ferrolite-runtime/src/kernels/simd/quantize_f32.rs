//! Dynamic-range input quantization (TFLite's `AsymmetricQuantizeFloats` /
//! `SymmetricQuantizeFloats`) vectorized, bit-identical to the scalar functions in
//! `quant::fully_connected`, which stay the reference (and are used at the scalar level).
//!
//! The hybrid kernels quantize every input image (or row) on every call, so with fast integer
//! kernels the scalar loop — a libm `roundf` per value — became a large share of their time.
//! The scale / zero-point arithmetic is the scalar code's, step for step (f64 nudging included);
//! the vector scan and quantize loops are `quantize_x86` (AVX2) and `quantize_neon` (aarch64).

#[cfg(target_arch = "aarch64")]
use super::quantize_neon;
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

/// TFLite's scale and nudged zero point for the observed extremes `lo`, `hi` of a non-empty
/// input (the scalar code's f64 arithmetic step for step), or `None` when the range
/// `[min(0, lo), max(0, hi)]` is empty.
pub(crate) fn asymmetric_params(lo: f32, hi: f32) -> Option<(f32, i32)> {
    let rmin = f64::from(0.0f32.min(lo));
    let rmax = f64::from(0.0f32.max(hi));
    if rmin == rmax {
        return None;
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
    Some((scale as f32, nudged))
}

/// [`asymmetric_quantize_floats`] at `level`: quantizes `values` into `out` (at least as long)
/// and returns `(scale, zero_point)`.
pub fn asymmetric_quantize(level: Level, values: &[f32], out: &mut [i8]) -> (f32, i32) {
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx2 && !values.is_empty() {
        let out = &mut out[..values.len()];
        let (lo, hi) = min_max(values);
        let Some((scale, nudged)) = asymmetric_params(lo, hi) else {
            out.iter_mut().for_each(|q| *q = 0);
            return (1.0, 0);
        };
        let inv = 1.0f32 / scale;
        // SAFETY: AVX2 was detected; `out` is as long as `values`.
        unsafe { quantize_x86::quantize_avx2(values, out, inv, nudged as f32, (-128.0, 127.0)) };
        return (scale, nudged);
    }
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon && !values.is_empty() {
        let out = &mut out[..values.len()];
        let (lo, hi) = quantize_neon::min_max_neon(values);
        let Some((scale, nudged)) = asymmetric_params(lo, hi) else {
            out.iter_mut().for_each(|q| *q = 0);
            return (1.0, 0);
        };
        let inv = 1.0f32 / scale;
        quantize_neon::quantize_neon(values, out, inv, nudged as f32, (-128, 127));
        return (scale, nudged);
    }
    let _ = level;
    asymmetric_quantize_floats(values, out)
}

/// [`asymmetric_quantize`] storing `q - zero_point` as f32 instead of `q` (the offset inputs of
/// the dynamic-range depthwise conv's f32 route): `out[i]` equals `(q[i] - zero_point) as f32`
/// for the `q` that [`asymmetric_quantize`] writes. `tmp` is scratch for the levels without a
/// fused kernel. Returns `(scale, zero_point)`.
pub fn asymmetric_quantize_offsets(
    level: Level,
    values: &[f32],
    out: &mut [f32],
    tmp: &mut Vec<i8>,
) -> (f32, i32) {
    let out = &mut out[..values.len()];
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx2 && !values.is_empty() {
        let (lo, hi) = min_max(values);
        let Some((scale, nudged)) = asymmetric_params(lo, hi) else {
            out.iter_mut().for_each(|q| *q = 0.0);
            return (1.0, 0);
        };
        // SAFETY: AVX2 was detected; `out` is as long as `values`.
        unsafe { quantize_x86::quantize_offsets_avx2(values, out, 1.0f32 / scale, nudged) };
        return (scale, nudged);
    }
    if tmp.len() < values.len() {
        tmp.resize(values.len(), 0);
    }
    let (scale, zp) = asymmetric_quantize(level, values, tmp);
    for (o, &q) in out.iter_mut().zip(tmp.iter()) {
        *o = (i32::from(q) - zp) as f32;
    }
    (scale, zp)
}

/// The float epilogue of the dynamic-range depthwise conv's f32 route, in place over `out`
/// (pixels of `c` channels holding exact int32 sums): `acc · scale · scales[ch]`, plus
/// `bias[ch]` if given, then clamped to `lo..=hi` with `v > lo ? v : lo` and `v < hi ? v : hi`
/// (a NaN becomes `lo`, as with `f32::max`). `scales` and `bias` hold at least `c` values.
pub fn scale_clamp(
    level: Level,
    out: &mut [f32],
    c: usize,
    scale: f32,
    scales: &[f32],
    bias: Option<&[f32]>,
    (lo, hi): (f32, f32),
) {
    if c == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if level >= Level::Avx2 {
        // SAFETY: AVX2 was detected; `scales` / `bias` lengths are the caller's contract
        // (checked by the kernel).
        unsafe { quantize_x86::scale_clamp_avx2(out, c, scale, scales, bias, (lo, hi)) };
        return;
    }
    let _ = level;
    let scales = &scales[..c];
    for px in out.chunks_exact_mut(c) {
        for (j, v) in px.iter_mut().enumerate() {
            let mut x = *v * scale * scales[j];
            if let Some(b) = bias {
                x += b[j];
            }
            let x = if x > lo { x } else { lo };
            *v = if x < hi { x } else { hi };
        }
    }
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
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon && !values.is_empty() {
        let out = &mut out[..values.len()];
        let (min, max) = quantize_neon::min_max_neon(values);
        let range = min.abs().max(max.abs());
        if range == 0.0 {
            out.iter_mut().for_each(|q| *q = 0);
            return 1.0;
        }
        let inv = 127.0f32 / range;
        // `0.0 + v · inv` rounds like `v · inv` (only the sign of a zero can differ).
        quantize_neon::quantize_neon(values, out, inv, 0.0, (-127, 127));
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

#[cfg(test)]
mod route_tests {
    use super::*;
    use crate::kernels::simd::available_levels;

    /// Values with ties at .5, NaN / infinities, zeros and lengths around the vector width.
    fn inputs() -> Vec<Vec<f32>> {
        let mut out = vec![
            vec![],
            vec![0.0; 9],
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
                0.0, 1.0, 2.55, 1.275, 0.01, -0.005, 0.5, 2.5, -2.5, 7.0, 1e-8, 3.3,
            ],
        ];
        let mut s = 5u32;
        for n in [1usize, 7, 8, 9, 17, 100, 1001] {
            out.push(
                (0..n)
                    .map(|_| {
                        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (s >> 8) as f32 / (1 << 24) as f32 * 6.0 - 2.0
                    })
                    .collect(),
            );
        }
        out
    }

    /// The offsets are exactly `q - zp` of the int8 quantization, at every level.
    #[test]
    fn offsets_equal_quantized_minus_zero_point() {
        for v in inputs() {
            let mut q = vec![0i8; v.len()];
            let (scale, zp) = asymmetric_quantize_floats(&v, &mut q);
            for level in available_levels() {
                let mut got = vec![f32::NAN; v.len()];
                let r = asymmetric_quantize_offsets(level, &v, &mut got, &mut Vec::new());
                assert_eq!(r, (scale, zp), "{level:?} {v:?}");
                for (i, (&g, &qi)) in got.iter().zip(&q).enumerate() {
                    let want = (i32::from(qi) - zp) as f32;
                    assert_eq!(g.to_bits(), want.to_bits(), "{level:?} [{i}] of {v:?}");
                }
            }
        }
    }

    /// The vector epilogue equals the scalar one bit for bit (odd channel counts, NaN, the
    /// clamp bounds, with and without bias).
    #[test]
    fn scale_clamp_matches_scalar() {
        for c in [1usize, 3, 8, 13, 24, 33] {
            let mut acc: Vec<f32> = (0..5 * c)
                .map(|i| (i as f32 * 37.0) % 901.0 - 450.0)
                .collect();
            acc[c / 2] = f32::NAN;
            let scales: Vec<f32> = (0..c).map(|i| 0.001 + i as f32 * 3e-4).collect();
            let bias: Vec<f32> = (0..c).map(|i| i as f32 * 0.1 - 0.7).collect();
            for b in [None, Some(&bias[..])] {
                for act in [(f32::NEG_INFINITY, f32::INFINITY), (0.0, 6.0), (-1.0, 1.0)] {
                    let mut want = acc.clone();
                    scale_clamp(Level::Scalar, &mut want, c, 0.37, &scales, b, act);
                    for level in available_levels() {
                        let mut got = acc.clone();
                        scale_clamp(level, &mut got, c, 0.37, &scales, b, act);
                        let same = got
                            .iter()
                            .zip(&want)
                            .all(|(x, y)| x.to_bits() == y.to_bits());
                        assert!(same, "{level:?} c={c} {act:?}");
                    }
                }
            }
        }
    }
}
