//! x86-64 vector requantization (AVX-512 and AVX2), bit-exact with
//! `quant::fixed_point::apply_multiplier` for non-negative multipliers.
//!
//! With `m ≥ 0` (every multiplier `quantize_multiplier` produces) the first step of both the
//! gemmlowp and the ruy x86 pipelines is the same: `t = floor((x·2^left · m + 2^30) / 2^31)`,
//! which always fits in 32 bits. (gemmlowp's "nudge, then truncate" equals this floor: for a
//! negative product the nudge `1 - 2^30` plus the truncation's `2^31 - 1` is again `2^30`.) It is
//! computed from two `vpmuldq` (even and odd lanes) and a logical 64-bit shift, whose low 32 bits
//! are the result. The second step is then
//!
//! * `Double`: gemmlowp's rounding right shift (ties away from zero);
//! * `RuyX86`: `(t + 2^(right-1)) >> right`, saturating to `2^(31-right)` on overflow;
//! * `Single`: no first step; `(x·m + 2^(30-shift)) >> (31-shift)` in 64 bits, truncated.
//!
//! The AVX-512 code merges both steps of `Double` and `RuyX86` into one 64-bit rounding shift,
//! using `⌊(⌊a / 2^31⌋ + c) / 2^r⌋ = ⌊(a + c·2^31) / 2^(31+r)⌋` for integers. With `P = x·m`
//! (exact in 64 bits) the result is `(P + K - C) >> (31 + right)` (arithmetic), where
//! `K = 2^30 + [right > 0]·2^(30+right)` and, for `Double` only, `C = [right > 0]·[P < 0]·2^31`
//! (the "ties away from zero" correction; gemmlowp takes the sign of `t`, which differs from that
//! of `P` only when `t = 0`, where both give 0). `RuyX86`'s saturation needs no special case:
//! when `t + 2^(right-1)` passes `2^31 - 1` the merged shift yields exactly `2^(31-right)`.
//!
//! Then `+ output_offset` (wrapping) and the clamp. Contract: the CPU has the named features;
//! `acc` and `colcorr` hold `n` values, `mult` / `shift` `n` values when `per_channel` (else one);
//! every multiplier is non-negative and every shift lies in `-31..=30`.

use std::arch::x86_64::*;

use crate::kernels::quant::fixed_point::Rounding;

pub(super) const DOUBLE: u8 = 0;
pub(super) const SINGLE: u8 = 1;
pub(super) const RUY: u8 = 2;

/// The rounding mode a const tag stands for.
#[inline(always)]
fn rounding_of(tag: u8) -> Rounding {
    match tag {
        DOUBLE => Rounding::Double,
        SINGLE => Rounding::Single,
        _ => Rounding::RuyX86,
    }
}

/// Block parameters as raw pointers (see the module contract): `rows` rows of `n` accumulators;
/// row `r` also gets `b_off · rowsum[r]` when `rowsum` is non-null.
pub(super) struct BlockArgs {
    pub rows: usize,
    pub n: usize,
    pub rowsum: *const i32,
    pub b_off: i32,
    pub colcorr: *const i32,
    pub mult: *const i32,
    pub shift: *const i32,
    pub per_channel: bool,
    pub rounding: Rounding,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// Whether any lane of the shifts `s` is a left shift (see [`requant_raw512`]).
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn any_left512(s: __m512i) -> bool {
    _mm512_cmpgt_epi32_mask(s, _mm512_setzero_si512()) != 0
}

impl BlockArgs {
    /// Arguments for a caller that only uses the per-vector functions ([`requant_vec512`]):
    /// output offset and clamp set, no block (null pointers, zero sizes).
    pub(super) fn for_store(output_offset: i32, act_min: i32, act_max: i32) -> Self {
        BlockArgs {
            rows: 0,
            n: 0,
            rowsum: std::ptr::null(),
            b_off: 0,
            colcorr: std::ptr::null(),
            mult: std::ptr::null(),
            shift: std::ptr::null(),
            per_channel: false,
            rounding: Rounding::Double,
            output_offset,
            act_min,
            act_max,
        }
    }
}

/// `apply_multiplier(x, m, s, rounding) + offset`, clamped to `[lo, hi]`, on 16 lanes.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn requant_vec512<const RND: u8>(
    x: __m512i,
    m: __m512i,
    s: __m512i,
    r: &BlockArgs,
) -> __m512i {
    let v = requant_raw512::<RND>(x, m, s, true);
    let v = _mm512_add_epi32(v, _mm512_set1_epi32(r.output_offset));
    let v = _mm512_max_epi32(v, _mm512_set1_epi32(r.act_min));
    _mm512_min_epi32(v, _mm512_set1_epi32(r.act_max))
}

/// `apply_multiplier(x, m, s, rounding)` on 16 lanes (no offset, no clamp). `shl = false`
/// promises that no lane of `s` is positive (no left shift), which saves the shift.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn requant_raw512<const RND: u8>(
    x: __m512i,
    m: __m512i,
    s: __m512i,
    shl: bool,
) -> __m512i {
    let one = _mm512_set1_epi32(1);
    let zero = _mm512_setzero_si512();
    let left = _mm512_max_epi32(s, zero);
    let right = _mm512_max_epi32(_mm512_sub_epi32(zero, s), zero);
    match rounding_of(RND) {
        Rounding::Single => {
            // total = 31 - s in 1..=62, per 64-bit lane for even and odd elements.
            let total = _mm512_sub_epi32(_mm512_set1_epi32(31), s);
            let t_even = _mm512_and_si512(total, _mm512_set1_epi64(0xffff_ffff));
            let t_odd = _mm512_srli_epi64::<32>(total);
            let one64 = _mm512_set1_epi64(1);
            let even = _mm512_mul_epi32(x, m);
            let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), _mm512_srli_epi64::<32>(m));
            let half_even = _mm512_sllv_epi64(one64, _mm512_sub_epi64(t_even, one64));
            let half_odd = _mm512_sllv_epi64(one64, _mm512_sub_epi64(t_odd, one64));
            let even = _mm512_srav_epi64(_mm512_add_epi64(even, half_even), t_even);
            let odd = _mm512_srav_epi64(_mm512_add_epi64(odd, half_odd), t_odd);
            _mm512_mask_blend_epi32(0xaaaa, even, _mm512_slli_epi64::<32>(odd))
        }
        Rounding::Double | Rounding::RuyX86 => {
            // One 64-bit step (see the module doc): `(x1·m + K - C) >> (31 + right)`.
            let x1 = if shl { _mm512_sllv_epi32(x, left) } else { x };
            let lo32 = _mm512_set1_epi64(0xffff_ffff);
            let one64 = _mm512_set1_epi64(1);
            let total = _mm512_add_epi32(right, _mm512_set1_epi32(31));
            let t_even = _mm512_and_si512(total, lo32);
            let t_odd = _mm512_srli_epi64::<32>(total);
            // [right > 0] in each 32-bit lane, as 2^30 (for K) and 2^31 (for C).
            let pos = _mm512_min_epi32(right, one);
            let k30 = _mm512_slli_epi32::<30>(pos);
            let k_even = _mm512_add_epi64(
                _mm512_sllv_epi64(one64, _mm512_sub_epi64(t_even, one64)),
                _mm512_and_si512(k30, lo32),
            );
            let k_odd = _mm512_add_epi64(
                _mm512_sllv_epi64(one64, _mm512_sub_epi64(t_odd, one64)),
                _mm512_srli_epi64::<32>(k30),
            );
            let mut even = _mm512_mul_epi32(x1, m);
            let mut odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x1), _mm512_srli_epi64::<32>(m));
            if RND == DOUBLE {
                let c31 = _mm512_slli_epi32::<31>(pos);
                let (c_even, c_odd) = (_mm512_and_si512(c31, lo32), _mm512_srli_epi64::<32>(c31));
                even =
                    _mm512_mask_sub_epi64(even, _mm512_cmplt_epi64_mask(even, zero), even, c_even);
                odd = _mm512_mask_sub_epi64(odd, _mm512_cmplt_epi64_mask(odd, zero), odd, c_odd);
            }
            let even = _mm512_srav_epi64(_mm512_add_epi64(even, k_even), t_even);
            let odd = _mm512_srav_epi64(_mm512_add_epi64(odd, k_odd), t_odd);
            _mm512_mask_shuffle_epi32::<_MM_PERM_CCAA>(even, 0xaaaa, odd)
        }
    }
}

/// AVX-512 requantization of a block of accumulator rows in place.
///
/// # Safety
/// AVX-512F is available; `acc` holds `rows · n` values and `r` satisfies the module contract
/// (`rowsum`, if non-null, holds `rows` values).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn requant_block_avx512(acc: *mut i32, r: &BlockArgs) {
    // SAFETY: same contract.
    unsafe {
        match r.rounding {
            Rounding::Double => block512::<DOUBLE>(acc, r),
            Rounding::Single => block512::<SINGLE>(acc, r),
            Rounding::RuyX86 => block512::<RUY>(acc, r),
        }
    }
}

/// [`requant_block_avx512`] for one rounding mode: column chunks outside, rows inside, so the
/// per-column parameters (and what is derived from them) stay in registers.
///
/// # Safety
/// As for [`requant_block_avx512`].
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn block512<const RND: u8>(acc: *mut i32, r: &BlockArgs) {
    let mut j = 0;
    while j < r.n {
        let lanes = (r.n - j).min(16);
        let mask = ((1u32 << lanes) - 1) as u16;
        // SAFETY: masked loads read only the columns left; per-tensor parameters are one
        // readable value each.
        let (c, m, s) = unsafe {
            let c = _mm512_maskz_loadu_epi32(mask, r.colcorr.add(j).cast());
            if r.per_channel {
                (
                    c,
                    _mm512_maskz_loadu_epi32(mask, r.mult.add(j).cast()),
                    _mm512_maskz_loadu_epi32(mask, r.shift.add(j).cast()),
                )
            } else {
                (c, _mm512_set1_epi32(*r.mult), _mm512_set1_epi32(*r.shift))
            }
        };
        for row in 0..r.rows {
            // SAFETY: row < rows; masked to the columns left in the row.
            unsafe {
                let rc = if r.rowsum.is_null() {
                    c
                } else {
                    let corr = r.b_off.wrapping_mul(*r.rowsum.add(row));
                    _mm512_add_epi32(c, _mm512_set1_epi32(corr))
                };
                let p = acc.add(row * r.n + j);
                let x = _mm512_add_epi32(_mm512_maskz_loadu_epi32(mask, p.cast()), rc);
                _mm512_mask_storeu_epi32(p.cast(), mask, requant_vec512::<RND>(x, m, s, r));
            }
        }
        j += 16;
    }
}

/// Output offset and clamp of a byte store, as AVX-512 vectors `[offset, min, max]`.
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) fn store_consts512(q: &BlockArgs) -> [__m512i; 3] {
    [
        _mm512_set1_epi32(q.output_offset),
        _mm512_set1_epi32(q.act_min),
        _mm512_set1_epi32(q.act_max),
    ]
}

/// The 16-channel block at `nb` of `n` channels: `(corr, mult, shift, byte mask)`, where `corr`
/// is loaded whole and `mult` / `shift` per channel (masked) or broadcast.
///
/// # Safety
/// AVX-512 F/BW/VL are available; `nb < n`; `corr` is readable for `nb + 16` values; `mult` /
/// `shift` hold `n` values when `per_channel`, else one.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
pub(super) unsafe fn channel_block512(
    corr: *const i32,
    mult: *const i32,
    shift: *const i32,
    per_channel: bool,
    n: usize,
    nb: usize,
) -> (__m512i, __m512i, __m512i, u16) {
    let lanes = (n - nb).min(16);
    let mask = ((1u32 << lanes) - 1) as u16;
    // SAFETY: per the contract; the masked loads keep the per-channel reads below n.
    unsafe {
        let cv = _mm512_loadu_si512(corr.add(nb).cast());
        if per_channel {
            (
                cv,
                _mm512_maskz_loadu_epi32(mask, mult.add(nb).cast()),
                _mm512_maskz_loadu_epi32(mask, shift.add(nb).cast()),
                mask,
            )
        } else {
            (
                cv,
                _mm512_set1_epi32(*mult),
                _mm512_set1_epi32(*shift),
                mask,
            )
        }
    }
}

/// Requantizes `acc` with `(mult, shift, any left shift)`, adds the offset, clamps
/// (`[offset, min, max]` from [`store_consts512`]) and stores the `mask`ed bytes at `dst`.
///
/// # Safety
/// AVX-512 F/BW/VL are available; `dst` is writable for the masked bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
pub(super) unsafe fn finish_bytes512<const RND: u8>(
    acc: __m512i,
    (m, s, shl): (__m512i, __m512i, bool),
    [off, lo, hi]: [__m512i; 3],
    dst: *mut u8,
    mask: u16,
) {
    let y = _mm512_add_epi32(requant_raw512::<RND>(acc, m, s, shl), off);
    let y = _mm512_min_epi32(_mm512_max_epi32(y, lo), hi);
    // SAFETY: forwarded from the caller.
    unsafe { _mm_mask_storeu_epi8(dst.cast(), mask, _mm512_cvtepi32_epi8(y)) };
}

/// `apply_multiplier(x, m, s, rounding) + offset`, clamped, on 8 lanes.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn requant_vec256<const RND: u8>(
    x: __m256i,
    m: __m256i,
    s: __m256i,
    r: &BlockArgs,
) -> __m256i {
    let one = _mm256_set1_epi32(1);
    let zero = _mm256_setzero_si256();
    let left = _mm256_max_epi32(s, zero);
    let right = _mm256_max_epi32(_mm256_sub_epi32(zero, s), zero);
    let v = match rounding_of(RND) {
        Rounding::Single => {
            let total = _mm256_sub_epi32(_mm256_set1_epi32(31), s);
            let t_even = _mm256_and_si256(total, _mm256_set1_epi64x(0xffff_ffff));
            let t_odd = _mm256_srli_epi64::<32>(total);
            let one64 = _mm256_set1_epi64x(1);
            let even = _mm256_mul_epi32(x, m);
            let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(m));
            let half_even = _mm256_sllv_epi64(one64, _mm256_sub_epi64(t_even, one64));
            let half_odd = _mm256_sllv_epi64(one64, _mm256_sub_epi64(t_odd, one64));
            let even = sra64(_mm256_add_epi64(even, half_even), t_even);
            let odd = sra64(_mm256_add_epi64(odd, half_odd), t_odd);
            _mm256_blend_epi32::<0xaa>(even, _mm256_slli_epi64::<32>(odd))
        }
        Rounding::Double | Rounding::RuyX86 => {
            let round30 = _mm256_set1_epi64x(1 << 30);
            let x1 = _mm256_sllv_epi32(x, left);
            let even = _mm256_add_epi64(_mm256_mul_epi32(x1, m), round30);
            let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x1), _mm256_srli_epi64::<32>(m));
            let odd = _mm256_add_epi64(odd, round30);
            let even = _mm256_srli_epi64::<31>(even);
            let odd = _mm256_slli_epi64::<32>(_mm256_srli_epi64::<31>(odd));
            let t = _mm256_blend_epi32::<0xaa>(even, odd);
            let pot = _mm256_sllv_epi32(one, right);
            if RND == DOUBLE {
                let mask_bits = _mm256_sub_epi32(pot, one);
                let rem = _mm256_and_si256(t, mask_bits);
                // cmpgt yields -1 where t < 0, so subtracting it adds one there.
                let thr = _mm256_sub_epi32(
                    _mm256_srli_epi32::<1>(mask_bits),
                    _mm256_cmpgt_epi32(zero, t),
                );
                let q = _mm256_srav_epi32(t, right);
                _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr))
            } else {
                let nudge = _mm256_srli_epi32::<1>(pot);
                let thr = _mm256_sub_epi32(_mm256_set1_epi32(i32::MAX), nudge);
                let over = _mm256_cmpgt_epi32(t, thr);
                let normal = _mm256_srav_epi32(_mm256_add_epi32(t, nudge), right);
                let sat = _mm256_sllv_epi32(one, _mm256_sub_epi32(_mm256_set1_epi32(31), right));
                _mm256_blendv_epi8(normal, sat, over)
            }
        }
    };
    let v = _mm256_add_epi32(v, _mm256_set1_epi32(r.output_offset));
    let v = _mm256_max_epi32(v, _mm256_set1_epi32(r.act_min));
    _mm256_min_epi32(v, _mm256_set1_epi32(r.act_max))
}

/// AVX2 requantization of a block of accumulator rows in place.
///
/// # Safety
/// AVX2 is available; operands as for [`requant_block_avx512`].
#[target_feature(enable = "avx2")]
pub(super) unsafe fn requant_block_avx2(acc: *mut i32, r: &BlockArgs) {
    // SAFETY: same contract.
    unsafe {
        match r.rounding {
            Rounding::Double => block256::<DOUBLE>(acc, r),
            Rounding::Single => block256::<SINGLE>(acc, r),
            Rounding::RuyX86 => block256::<RUY>(acc, r),
        }
    }
}

/// [`requant_block_avx2`] for one rounding mode (column chunks outside, rows inside).
///
/// # Safety
/// As for [`requant_block_avx2`].
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn block256<const RND: u8>(acc: *mut i32, r: &BlockArgs) {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut j = 0;
    while j < r.n {
        let lanes = (r.n - j).min(8) as i32;
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), idx);
        // SAFETY: masked loads read only the columns left; per-tensor parameters are one
        // readable value each.
        let (c, m, s) = unsafe {
            let c = _mm256_maskload_epi32(r.colcorr.add(j), mask);
            if r.per_channel {
                (
                    c,
                    _mm256_maskload_epi32(r.mult.add(j), mask),
                    _mm256_maskload_epi32(r.shift.add(j), mask),
                )
            } else {
                (c, _mm256_set1_epi32(*r.mult), _mm256_set1_epi32(*r.shift))
            }
        };
        for row in 0..r.rows {
            // SAFETY: row < rows; masked to the columns left in the row.
            unsafe {
                let rc = if r.rowsum.is_null() {
                    c
                } else {
                    let corr = r.b_off.wrapping_mul(*r.rowsum.add(row));
                    _mm256_add_epi32(c, _mm256_set1_epi32(corr))
                };
                let p = acc.add(row * r.n + j);
                let x = _mm256_add_epi32(_mm256_maskload_epi32(p, mask), rc);
                _mm256_maskstore_epi32(p, mask, requant_vec256::<RND>(x, m, s, r));
            }
        }
        j += 8;
    }
}

/// Per-column constants of [`requant_merged256`] for one vector of multipliers and shifts.
///
/// AVX2 has no 64-bit arithmetic shift, so the merged form (module doc; for `Single` the one
/// 64-bit rounding shift it already is) adds `2^62` to the 64-bit value, which makes it
/// non-negative (`|x·m| < 2^62`, the rounding terms stay below `2^62`), shifts it logically by
/// `t ≤ 62` and subtracts the bias's share `2^(62-t)` from the low 32 bits afterwards:
/// `⌊(v + 2^62) / 2^t⌋ = ⌊v / 2^t⌋ + 2^(62-t)` exactly.
#[derive(Clone, Copy)]
pub(super) struct Merged256 {
    m: __m256i,
    /// The multipliers of the odd lanes, in the low half of each 64-bit lane.
    m_odd: __m256i,
    /// Left shift per lane (`Double` / `RuyX86`).
    left: __m256i,
    /// Whether any lane shifts left.
    shl: bool,
    /// Shift counts and rounding addends (bias included) of the even / odd 64-bit products.
    t: [__m256i; 2],
    k: [__m256i; 2],
    /// `Double`: `[right > 0] · 2^31`, subtracted from negative products.
    c: [__m256i; 2],
    /// Low 32 bits of `2^(62-t)` per 32-bit lane.
    unbias: __m256i,
}

/// The [`Merged256`] constants of multipliers `m` (non-negative) and shifts `s` (`-31..=30`).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn merged_consts256<const RND: u8>(m: __m256i, s: __m256i) -> Merged256 {
    let zero = _mm256_setzero_si256();
    let one = _mm256_set1_epi32(1);
    let one64 = _mm256_set1_epi64x(1);
    let lo32 = _mm256_set1_epi64x(0xffff_ffff);
    let bias = _mm256_set1_epi64x(1 << 62);
    let left = _mm256_max_epi32(s, zero);
    let right = _mm256_max_epi32(_mm256_sub_epi32(zero, s), zero);
    // Per 32-bit lane: the total shift t, and 2^30 / 2^31 where right > 0 (Double / RuyX86).
    let (t32, k30, c31) = if RND == SINGLE {
        (_mm256_sub_epi32(_mm256_set1_epi32(31), s), zero, zero)
    } else {
        let pos = _mm256_min_epi32(right, one);
        (
            _mm256_add_epi32(right, _mm256_set1_epi32(31)),
            _mm256_slli_epi32::<30>(pos),
            _mm256_slli_epi32::<31>(pos),
        )
    };
    let split = |v: __m256i| [_mm256_and_si256(v, lo32), _mm256_srli_epi64::<32>(v)];
    let t = split(t32);
    let k30 = split(k30);
    let k = [0, 1].map(|h| {
        let half = _mm256_sllv_epi64(one64, _mm256_sub_epi64(t[h], one64));
        _mm256_add_epi64(_mm256_add_epi64(half, k30[h]), bias)
    });
    Merged256 {
        m,
        m_odd: _mm256_srli_epi64::<32>(m),
        left,
        shl: _mm256_movemask_epi8(_mm256_cmpgt_epi32(s, zero)) != 0,
        t,
        k,
        c: split(c31),
        unbias: _mm256_sllv_epi32(one, _mm256_sub_epi32(_mm256_set1_epi32(62), t32)),
    }
}

/// `apply_multiplier(x, m, s, rounding)` on 8 lanes (no offset, no clamp) with the constants of
/// [`merged_consts256`]: one 64-bit rounding shift per product, bit-exact like
/// [`requant_raw512`].
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn requant_merged256<const RND: u8>(x: __m256i, q: &Merged256) -> __m256i {
    let x1 = if RND != SINGLE && q.shl {
        _mm256_sllv_epi32(x, q.left)
    } else {
        x
    };
    let mut even = _mm256_mul_epi32(x1, q.m);
    let mut odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x1), q.m_odd);
    if RND == DOUBLE {
        let zero = _mm256_setzero_si256();
        let neg_even = _mm256_cmpgt_epi64(zero, even);
        let neg_odd = _mm256_cmpgt_epi64(zero, odd);
        even = _mm256_sub_epi64(even, _mm256_and_si256(neg_even, q.c[0]));
        odd = _mm256_sub_epi64(odd, _mm256_and_si256(neg_odd, q.c[1]));
    }
    let even = _mm256_srlv_epi64(_mm256_add_epi64(even, q.k[0]), q.t[0]);
    let odd = _mm256_srlv_epi64(_mm256_add_epi64(odd, q.k[1]), q.t[1]);
    let v = _mm256_blend_epi32::<0xaa>(even, _mm256_slli_epi64::<32>(odd));
    _mm256_sub_epi32(v, q.unbias)
}

/// Arithmetic right shift of 64-bit lanes by per-lane counts (AVX2 has only the logical one).
#[target_feature(enable = "avx2")]
#[inline]
fn sra64(v: __m256i, count: __m256i) -> __m256i {
    let sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), v);
    _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(v, sign), count), sign)
}
