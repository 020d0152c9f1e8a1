//! x86-64 (AVX2) pieces of the dynamic-range input quantization ([`super::quantize_f32`]): the
//! min / max scan and the scale-round-clamp-narrow loop, each bit-identical to the scalar code
//! in `quant::fully_connected` (same comparisons for the extremes, a separate multiply and add,
//! rounding half away from zero, NaN to 0, saturation to the clamp range).

use std::arch::x86_64::*;

/// `(min, max)` of `values` folded like the scalar code (`if v < lo { v } else { lo }`, NaNs
/// ignored), starting from `(+inf, -inf)`.
///
/// # Safety
/// The CPU supports AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn min_max_avx2(values: &[f32]) -> (f32, f32) {
    let mut lo = _mm256_set1_ps(f32::INFINITY);
    let mut hi = _mm256_set1_ps(f32::NEG_INFINITY);
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        // SAFETY: `c` holds 8 floats.
        let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        // `min_ps(v, lo)` is `v < lo ? v : lo`, exactly the scalar fold (a NaN keeps `lo`).
        lo = _mm256_min_ps(v, lo);
        hi = _mm256_max_ps(v, hi);
    }
    let mut l = [0f32; 8];
    let mut h = [0f32; 8];
    // SAFETY: both arrays hold 8 floats.
    unsafe {
        _mm256_storeu_ps(l.as_mut_ptr(), lo);
        _mm256_storeu_ps(h.as_mut_ptr(), hi);
    }
    let fold =
        |(lo, hi): (f32, f32), &v: &f32| (if v < lo { v } else { lo }, if v > hi { v } else { hi });
    let init = (f32::INFINITY, f32::NEG_INFINITY);
    let lanes = l.iter().zip(&h).fold(init, |(lo, hi), (&a, &b)| {
        (if a < lo { a } else { lo }, if b > hi { b } else { hi })
    });
    tail.iter().fold(lanes, fold)
}

/// The rounded, clamped quantized value of each lane of `v` (as f32): the arithmetic of
/// [`quantize_avx2`] before the narrowing.
#[target_feature(enable = "avx2")]
#[inline]
fn quantize_lanes(v: __m256, invv: __m256, offv: __m256, (minv, maxv): (__m256, __m256)) -> __m256 {
    let sign = _mm256_set1_ps(-0.0);
    let (half, one) = (_mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
    let t = _mm256_add_ps(offv, _mm256_mul_ps(v, invv));
    let tr = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(t);
    // `t - trunc(t)` is exact; a fraction of at least one half rounds away from zero.
    let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(t, tr));
    let up = _mm256_cmp_ps::<_CMP_GE_OQ>(frac, half);
    let step = _mm256_or_ps(_mm256_and_ps(t, sign), one);
    let r = _mm256_add_ps(tr, _mm256_and_ps(up, step));
    let ordered = _mm256_cmp_ps::<_CMP_ORD_Q>(t, t);
    let r = _mm256_and_ps(ordered, r);
    _mm256_min_ps(_mm256_max_ps(r, minv), maxv)
}

/// `out[i] = q[i] - zero_point` as f32, where `q[i]` is the int8 value [`quantize_avx2`]
/// (with `offset = zero_point`, range -128..=127) stores for `values[i]`: the offset quantized
/// input of the dynamic-range depthwise conv's f32 route, in one pass. Exact (small integers).
///
/// # Safety
/// The CPU supports AVX2; `out` is at least as long as `values`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize_offsets_avx2(values: &[f32], out: &mut [f32], inv: f32, zp: i32) {
    assert!(out.len() >= values.len(), "quantize output too short");
    let (invv, offv) = (_mm256_set1_ps(inv), _mm256_set1_ps(zp as f32));
    let range = (_mm256_set1_ps(-128.0), _mm256_set1_ps(127.0));
    let n8 = values.len() / 8 * 8;
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 <= values.len() <= out.len().
        unsafe {
            let v = _mm256_loadu_ps(values.as_ptr().add(i));
            let r = quantize_lanes(v, invv, offv, range);
            _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_sub_ps(r, offv));
        }
        i += 8;
    }
    for (q, &v) in out[n8..].iter_mut().zip(&values[n8..]) {
        let r = (zp as f32 + v * inv).round() as i32;
        *q = (r.clamp(-128, 127) - zp) as f32;
    }
}

/// `out[i] = clamp(round_half_away(offset + values[i] · inv), qmin, qmax)` as i8, with NaN
/// becoming 0 (Rust's saturating `as i32`); `qmin..=qmax` lies within `-128..=127`.
///
/// # Safety
/// The CPU supports AVX2; `out` is at least as long as `values`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn quantize_avx2(
    values: &[f32],
    out: &mut [i8],
    inv: f32,
    offset: f32,
    (qmin, qmax): (f32, f32),
) {
    assert!(out.len() >= values.len(), "quantize output too short");
    let (invv, offv) = (_mm256_set1_ps(inv), _mm256_set1_ps(offset));
    let range = (_mm256_set1_ps(qmin), _mm256_set1_ps(qmax));
    let n8 = values.len() / 8 * 8;
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 <= values.len() <= out.len().
        unsafe {
            let v = _mm256_loadu_ps(values.as_ptr().add(i));
            let r = quantize_lanes(v, invv, offv, range);
            let q = _mm256_cvttps_epi32(r);
            let w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256::<1>(q));
            let b = _mm_packs_epi16(w, w);
            _mm_storel_epi64(out.as_mut_ptr().add(i).cast(), b);
        }
        i += 8;
    }
    for (q, &v) in out[n8..].iter_mut().zip(&values[n8..]) {
        let r = (offset + v * inv).round() as i32;
        *q = r.clamp(qmin as i32, qmax as i32) as i8;
    }
}

/// The float epilogue of the dynamic-range depthwise conv's f32 route, in place over pixels of
/// `c` channels: `v = acc · scale · scales[ch] (+ bias[ch])` (two multiplies and an add, no
/// fusing), then `v = if v > lo { v } else { lo }` (a NaN becomes `lo`) and
/// `if v < hi { v } else { hi }` — the same as the scalar loop in `quant::hybrid_depthwise`.
///
/// # Safety
/// The CPU supports AVX2; `scales` (and `bias`, if given) hold at least `c` values, `c > 0`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn scale_clamp_avx2(
    out: &mut [f32],
    c: usize,
    scale: f32,
    scales: &[f32],
    bias: Option<&[f32]>,
    (lo, hi): (f32, f32),
) {
    assert!(c > 0 && scales.len() >= c && bias.is_none_or(|b| b.len() >= c));
    let (sv, lov, hiv) = (
        _mm256_set1_ps(scale),
        _mm256_set1_ps(lo),
        _mm256_set1_ps(hi),
    );
    let c8 = c / 8 * 8;
    for px in out.chunks_exact_mut(c) {
        let mut i = 0;
        while i < c8 {
            // SAFETY: i + 8 <= c, inside the pixel, `scales` and `bias`.
            unsafe {
                let a = _mm256_loadu_ps(px.as_ptr().add(i));
                let mut v = _mm256_mul_ps(
                    _mm256_mul_ps(a, sv),
                    _mm256_loadu_ps(scales.as_ptr().add(i)),
                );
                if let Some(b) = bias {
                    v = _mm256_add_ps(v, _mm256_loadu_ps(b.as_ptr().add(i)));
                }
                // `max_ps(v, lo)` is `v > lo ? v : lo`; `min_ps(v, hi)` is `v < hi ? v : hi`.
                let v = _mm256_min_ps(_mm256_max_ps(v, lov), hiv);
                _mm256_storeu_ps(px.as_mut_ptr().add(i), v);
            }
            i += 8;
        }
        for j in c8..c {
            let mut v = px[j] * scale * scales[j];
            if let Some(b) = bias {
                v += b[j];
            }
            let v = if v > lo { v } else { lo };
            px[j] = if v < hi { v } else { hi };
        }
    }
}
