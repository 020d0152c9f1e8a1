//! x86-64 quantized ADD / SUB of two same-shape 8-bit tensors (AVX-512 and AVX2), bit-exact
//! with the scalar `quant::elementwise` kernel.
//!
//! Per lane, as TFLite's general quantized add: `a' = (a + off1) << left_shift` scaled by
//! `(m1, s1)`, `b'` likewise, `r = a' ± b'`, then `r` scaled by `(m_out, s_out)`, plus the output
//! zero point, clamped. Every scaling is gemmlowp's double rounding, done by
//! [`super::requant_x86`]'s vector routine (exact for non-negative multipliers and shifts in
//! `-31..=30`, which the safe driver checks). Bytes are widened to int32 lanes straight from the
//! operands and narrowed back (the clamp keeps them inside the 8-bit range); the last partial
//! vector goes through small stack buffers. One macro defines both widths from the same body.
//!
//! Contract: the CPU has the named features; `a`, `b` and `out` have the same length.

use std::arch::x86_64::*;

use super::requant_x86::{requant_vec256, requant_vec512, BlockArgs, DOUBLE};
use crate::kernels::quant::elementwise::AddParams;
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::QuantElem;

/// Requantization stage parameters (no offset, no clamp unless given).
fn stage(offset: i32, lo: i32, hi: i32) -> BlockArgs {
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
        output_offset: offset,
        act_min: lo,
        act_max: hi,
    }
}

/// Defines one width's kernel: the body is shared, the macro arguments name the width's vector
/// type, lane count and intrinsics (`$load` widens `LANES` bytes at a pointer to int32 lanes,
/// sign- or zero-extending per the flag; `$store` narrows clamped lanes to bytes at a pointer).
macro_rules! add_kernel {
    (
        $(#[$doc:meta])*
        $name:ident, $feat:literal, $lanes:literal,
        set1 = $set1:ident, add = $add:ident, sub = $sub:ident, sllv = $sllv:ident,
        requant = $rq:ident, load = $load:ident, store = $store:ident
    ) => {
        $(#[$doc])*
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn $name<T: QuantElem>(
            p: &AddParams,
            a: &[T],
            b: &[T],
            out: &mut [T],
            subtract: bool,
        ) {
            const LANES: usize = $lanes;
            let unsigned = T::MIN == 0;
            let free = stage(0, i32::MIN, i32::MAX);
            let last = stage(p.output_offset, p.act_min, p.act_max);
            let (off1, off2) = ($set1(p.input1_offset), $set1(p.input2_offset));
            let ls = $set1(p.left_shift);
            let (m1, s1) = ($set1(p.input1_multiplier), $set1(p.input1_shift));
            let (m2, s2) = ($set1(p.input2_multiplier), $set1(p.input2_shift));
            let (mo, so) = ($set1(p.output_multiplier), $set1(p.output_shift));
            let n = out.len().min(a.len()).min(b.len());
            let (pa, pb, po) = (
                a.as_ptr().cast::<u8>(),
                b.as_ptr().cast::<u8>(),
                out.as_mut_ptr().cast::<u8>(),
            );
            // The last partial vector goes through these.
            let (mut ta, mut tb, mut to) = ([0u8; LANES], [0u8; LANES], [0u8; LANES]);
            let mut i = 0;
            while i < n {
                let left = n - i;
                // SAFETY: i < n, so i.. lies inside every operand; a partial vector is copied
                // (left bytes) to and from buffers of LANES bytes.
                let (xa, xb, xo) = unsafe {
                    if left >= LANES {
                        (pa.add(i), pb.add(i), po.add(i))
                    } else {
                        std::ptr::copy_nonoverlapping(pa.add(i), ta.as_mut_ptr(), left);
                        std::ptr::copy_nonoverlapping(pb.add(i), tb.as_mut_ptr(), left);
                        (ta.as_ptr(), tb.as_ptr(), to.as_mut_ptr())
                    }
                };
                // SAFETY: xa / xb readable and xo writable for LANES bytes (see above).
                unsafe {
                    let va = $sllv($add($load(xa, unsigned), off1), ls);
                    let vb = $sllv($add($load(xb, unsigned), off2), ls);
                    let va = $rq::<DOUBLE>(va, m1, s1, &free);
                    let vb = $rq::<DOUBLE>(vb, m2, s2, &free);
                    let raw = if subtract { $sub(va, vb) } else { $add(va, vb) };
                    $store(xo, $rq::<DOUBLE>(raw, mo, so, &last), unsigned);
                    if left < LANES {
                        std::ptr::copy_nonoverlapping(to.as_ptr(), po.add(i), left);
                    }
                }
                i += LANES;
            }
        }
    };
}

/// Widens 16 bytes to int32 lanes.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn load16(p: *const u8, unsigned: bool) -> __m512i {
    // SAFETY: the caller guarantees 16 readable bytes.
    let v = unsafe { _mm_loadu_si128(p.cast()) };
    if unsigned {
        _mm512_cvtepu8_epi32(v)
    } else {
        _mm512_cvtepi8_epi32(v)
    }
}

/// Stores 16 int32 lanes already inside the 8-bit range as bytes (truncation is exact).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn store16(p: *mut u8, v: __m512i, _unsigned: bool) {
    // SAFETY: the caller guarantees 16 writable bytes.
    unsafe { _mm_storeu_si128(p.cast(), _mm512_cvtepi32_epi8(v)) };
}

/// Widens 8 bytes to int32 lanes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load8(p: *const u8, unsigned: bool) -> __m256i {
    // SAFETY: the caller guarantees 8 readable bytes.
    let v = unsafe { _mm_loadl_epi64(p.cast()) };
    if unsigned {
        _mm256_cvtepu8_epi32(v)
    } else {
        _mm256_cvtepi8_epi32(v)
    }
}

/// Stores 8 int32 lanes inside the (signed or unsigned) 8-bit range as bytes, through
/// saturating packs (exact on these values).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store8(p: *mut u8, v: __m256i, unsigned: bool) {
    let w = _mm256_packs_epi32(v, v);
    let b = if unsigned {
        _mm256_packus_epi16(w, w)
    } else {
        _mm256_packs_epi16(w, w)
    };
    // Bytes 0..4 of each 128-bit lane hold lanes 0..4 and 4..8.
    let lo = _mm256_castsi256_si128(b);
    let hi = _mm256_extracti128_si256::<1>(b);
    // SAFETY: the caller guarantees 8 writable bytes.
    unsafe { _mm_storel_epi64(p.cast(), _mm_unpacklo_epi32(lo, hi)) };
}

add_kernel!(
    /// AVX-512 ADD (`subtract = false`) or SUB of `a` and `b` into `out`.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL/DQ and AVX2 are available; the slices have equal lengths of a one-byte
    /// type.
    add_avx512, "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma", 16,
    set1 = _mm512_set1_epi32, add = _mm512_add_epi32, sub = _mm512_sub_epi32,
    sllv = _mm512_sllv_epi32, requant = requant_vec512, load = load16, store = store16
);

add_kernel!(
    /// AVX2 version of [`add_avx512`].
    ///
    /// # Safety
    /// AVX2 and FMA are available; the slices have equal lengths of a one-byte type.
    add_avx2, "avx2,fma", 8,
    set1 = _mm256_set1_epi32, add = _mm256_add_epi32, sub = _mm256_sub_epi32,
    sllv = _mm256_sllv_epi32, requant = requant_vec256, load = load8, store = store8
);
