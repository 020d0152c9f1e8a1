//! aarch64 (NEON) pieces of the dynamic-range input quantization ([`super::quantize_f32`]): the
//! min / max scan and the scale-round-clamp-narrow loop, each bit-identical to the scalar code
//! in `quant::fully_connected` (the same comparisons for the extremes, a separate multiply and
//! add, rounding half away from zero, NaN to 0, saturation to the clamp range).
//!
//! `fcvtas` (`vcvtaq_s32_f32`) is exactly the scalar `round() as i32`: nearest with ties away
//! from zero, NaN to 0, saturating. Tested under qemu-user only; timings on real hardware are
//! unmeasured.

use std::arch::aarch64::*;

/// `(min, max)` of `values` folded like the scalar code (`if v < lo { v } else { lo }`, NaNs
/// ignored), starting from `(+inf, -inf)`. Only the sign of a zero extreme may differ from a
/// sequential fold, which the callers' arithmetic does not observe.
pub(super) fn min_max_neon(values: &[f32]) -> (f32, f32) {
    let chunks = values.chunks_exact(4);
    let tail = chunks.remainder();
    let (mut l, mut h) = ([f32::INFINITY; 4], [f32::NEG_INFINITY; 4]);
    // SAFETY: NEON is baseline on aarch64; every load reads one 4-float chunk and the stores
    // write the two 4-float arrays.
    unsafe {
        let mut lo = vdupq_n_f32(f32::INFINITY);
        let mut hi = vdupq_n_f32(f32::NEG_INFINITY);
        for c in chunks {
            let v = vld1q_f32(c.as_ptr());
            // `v < lo ? v : lo` lane-wise; a NaN compares false and keeps `lo`.
            lo = vbslq_f32(vcltq_f32(v, lo), v, lo);
            hi = vbslq_f32(vcgtq_f32(v, hi), v, hi);
        }
        vst1q_f32(l.as_mut_ptr(), lo);
        vst1q_f32(h.as_mut_ptr(), hi);
    }
    let fold = |(lo, hi): (f32, f32), (&a, &b): (&f32, &f32)| -> (f32, f32) {
        (if a < lo { a } else { lo }, if b > hi { b } else { hi })
    };
    let lanes = l
        .iter()
        .zip(&h)
        .fold((f32::INFINITY, f32::NEG_INFINITY), fold);
    tail.iter().zip(tail).fold(lanes, fold)
}

/// `out[i] = clamp(round_half_away(offset + values[i] · inv), qmin, qmax)` as i8, with NaN
/// becoming 0; `qmin..=qmax` lies within `-128..=127`. Panics if `out` is shorter than
/// `values`.
pub(super) fn quantize_neon(
    values: &[f32],
    out: &mut [i8],
    inv: f32,
    offset: f32,
    (qmin, qmax): (i32, i32),
) {
    assert!(out.len() >= values.len(), "quantize output too short");
    let n8 = values.len() / 8 * 8;
    // SAFETY: NEON is baseline on aarch64; `i + 8 <= n8 <= values.len() <= out.len()` bounds
    // every 8-float load and 8-byte store.
    unsafe {
        let (invv, offv) = (vdupq_n_f32(inv), vdupq_n_f32(offset));
        let (minv, maxv) = (vdupq_n_s32(qmin), vdupq_n_s32(qmax));
        let mut i = 0;
        while i < n8 {
            let p = values.as_ptr().add(i);
            let t0 = vaddq_f32(offv, vmulq_f32(vld1q_f32(p), invv));
            let t1 = vaddq_f32(offv, vmulq_f32(vld1q_f32(p.add(4)), invv));
            let r0 = vminq_s32(vmaxq_s32(vcvtaq_s32_f32(t0), minv), maxv);
            let r1 = vminq_s32(vmaxq_s32(vcvtaq_s32_f32(t1), minv), maxv);
            let w = vcombine_s16(vmovn_s32(r0), vmovn_s32(r1));
            vst1_s8(out.as_mut_ptr().add(i), vmovn_s16(w));
            i += 8;
        }
    }
    for (q, &v) in out[n8..].iter_mut().zip(&values[n8..]) {
        let r = (offset + v * inv).round() as i32;
        *q = r.clamp(qmin, qmax) as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scalar reference of [`quantize_neon`], written from its contract.
    fn reference(values: &[f32], inv: f32, offset: f32, (qmin, qmax): (i32, i32)) -> Vec<i8> {
        values
            .iter()
            .map(|&v| ((offset + v * inv).round() as i32).clamp(qmin, qmax) as i8)
            .collect()
    }

    #[test]
    fn quantize_matches_scalar_on_ties_nan_and_saturation() {
        let mut values: Vec<f32> = (0..67).map(|i| i as f32 * 0.5 - 16.0).collect();
        values.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e30,
            -1e30,
            -0.0,
        ]);
        values.extend((0..13).map(|i| (i as f32 * 0.37).sin() * 3.0));
        for (inv, offset, range) in [
            (1.0, 0.0, (-127, 127)),
            (7.3, -3.0, (-128, 127)),
            (0.25, 17.0, (-128, 127)),
        ] {
            for n in [0, 1, 7, 8, 9, 16, values.len()] {
                let mut got = vec![5i8; n];
                quantize_neon(&values[..n], &mut got, inv, offset, range);
                assert_eq!(
                    got,
                    reference(&values[..n], inv, offset, range),
                    "{inv} {n}"
                );
            }
        }
    }

    #[test]
    fn min_max_skips_nans_like_the_fold() {
        let mut v: Vec<f32> = (0..23).map(|i| (i as f32 * 1.7).cos() * 5.0).collect();
        v[4] = f32::NAN;
        v[0] = f32::NAN;
        v[21] = -9.5;
        v[13] = 8.25;
        for n in [0, 1, 3, 4, 5, 8, 23] {
            let want = v[..n]
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                    (if x < lo { x } else { lo }, if x > hi { x } else { hi })
                });
            let got = min_max_neon(&v[..n]);
            assert_eq!(
                (got.0.to_bits(), got.1.to_bits()),
                (want.0.to_bits(), want.1.to_bits()),
                "{n}"
            );
        }
    }
}
