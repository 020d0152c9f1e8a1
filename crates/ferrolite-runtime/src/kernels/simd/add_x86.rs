//! x86-64 quantized ADD / SUB of two same-shape 8-bit tensors (AVX-512 and AVX2), bit-exact
//! with the scalar `quant::elementwise` kernel.
//!
//! Per lane, as TFLite's general quantized add: `a' = (a + off1) << left_shift` scaled by
//! `(m1, s1)`, `b'` likewise, `r = a' ± b'`, then `r` scaled by `(m_out, s_out)`, plus the output
//! zero point, clamped. Every scaling is gemmlowp's double rounding, done by
//! [`super::requant_x86`]'s vector routine (exact for non-negative multipliers and shifts in
//! `-31..=30`, which the safe driver checks). Lanes are widened to int32 from a small stack
//! buffer and narrowed back (the clamp keeps them inside the 8-bit range).
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

/// AVX-512 ADD (`subtract = false`) or SUB of `a` and `b` into `out`.
///
/// # Safety
/// AVX-512 F/BW/VL/DQ and AVX2 are available; the slices have equal lengths.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
pub(super) unsafe fn add_avx512<T: QuantElem>(
    p: &AddParams,
    a: &[T],
    b: &[T],
    out: &mut [T],
    subtract: bool,
) {
    let free = stage(0, i32::MIN, i32::MAX);
    let last = stage(p.output_offset, p.act_min, p.act_max);
    let (off1, off2) = (
        _mm512_set1_epi32(p.input1_offset),
        _mm512_set1_epi32(p.input2_offset),
    );
    let ls = _mm512_set1_epi32(p.left_shift);
    let (m1, s1) = (
        _mm512_set1_epi32(p.input1_multiplier),
        _mm512_set1_epi32(p.input1_shift),
    );
    let (m2, s2) = (
        _mm512_set1_epi32(p.input2_multiplier),
        _mm512_set1_epi32(p.input2_shift),
    );
    let (mo, so) = (
        _mm512_set1_epi32(p.output_multiplier),
        _mm512_set1_epi32(p.output_shift),
    );
    let (mut xa, mut xb) = ([0i32; 16], [0i32; 16]);
    for ((ca, cb), co) in a.chunks(16).zip(b.chunks(16)).zip(out.chunks_mut(16)) {
        for (d, v) in xa.iter_mut().zip(ca) {
            *d = v.to_i32();
        }
        for (d, v) in xb.iter_mut().zip(cb) {
            *d = v.to_i32();
        }
        // SAFETY: the buffers hold 16 lanes each.
        let (va, vb) = unsafe {
            (
                _mm512_loadu_si512(xa.as_ptr().cast()),
                _mm512_loadu_si512(xb.as_ptr().cast()),
            )
        };
        let va = _mm512_sllv_epi32(_mm512_add_epi32(va, off1), ls);
        let vb = _mm512_sllv_epi32(_mm512_add_epi32(vb, off2), ls);
        let va = requant_vec512::<DOUBLE>(va, m1, s1, &free);
        let vb = requant_vec512::<DOUBLE>(vb, m2, s2, &free);
        let raw = if subtract {
            _mm512_sub_epi32(va, vb)
        } else {
            _mm512_add_epi32(va, vb)
        };
        let v = requant_vec512::<DOUBLE>(raw, mo, so, &last);
        // SAFETY: xa holds 16 lanes.
        unsafe { _mm512_storeu_si512(xa.as_mut_ptr().cast(), v) };
        for (d, &v) in co.iter_mut().zip(&xa) {
            *d = T::from_i32_clamped(v);
        }
    }
}

/// AVX2 version of [`add_avx512`].
///
/// # Safety
/// AVX2 and FMA are available; the slices have equal lengths.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn add_avx2<T: QuantElem>(
    p: &AddParams,
    a: &[T],
    b: &[T],
    out: &mut [T],
    subtract: bool,
) {
    let free = stage(0, i32::MIN, i32::MAX);
    let last = stage(p.output_offset, p.act_min, p.act_max);
    let (off1, off2) = (
        _mm256_set1_epi32(p.input1_offset),
        _mm256_set1_epi32(p.input2_offset),
    );
    let ls = _mm256_set1_epi32(p.left_shift);
    let (m1, s1) = (
        _mm256_set1_epi32(p.input1_multiplier),
        _mm256_set1_epi32(p.input1_shift),
    );
    let (m2, s2) = (
        _mm256_set1_epi32(p.input2_multiplier),
        _mm256_set1_epi32(p.input2_shift),
    );
    let (mo, so) = (
        _mm256_set1_epi32(p.output_multiplier),
        _mm256_set1_epi32(p.output_shift),
    );
    let (mut xa, mut xb) = ([0i32; 8], [0i32; 8]);
    for ((ca, cb), co) in a.chunks(8).zip(b.chunks(8)).zip(out.chunks_mut(8)) {
        for (d, v) in xa.iter_mut().zip(ca) {
            *d = v.to_i32();
        }
        for (d, v) in xb.iter_mut().zip(cb) {
            *d = v.to_i32();
        }
        // SAFETY: the buffers hold 8 lanes each.
        let (va, vb) = unsafe {
            (
                _mm256_loadu_si256(xa.as_ptr().cast()),
                _mm256_loadu_si256(xb.as_ptr().cast()),
            )
        };
        let va = _mm256_sllv_epi32(_mm256_add_epi32(va, off1), ls);
        let vb = _mm256_sllv_epi32(_mm256_add_epi32(vb, off2), ls);
        let va = requant_vec256::<DOUBLE>(va, m1, s1, &free);
        let vb = requant_vec256::<DOUBLE>(vb, m2, s2, &free);
        let raw = if subtract {
            _mm256_sub_epi32(va, vb)
        } else {
            _mm256_add_epi32(va, vb)
        };
        let v = requant_vec256::<DOUBLE>(raw, mo, so, &last);
        // SAFETY: xa holds 8 lanes.
        unsafe { _mm256_storeu_si256(xa.as_mut_ptr().cast(), v) };
        for (d, &v) in co.iter_mut().zip(&xa) {
            *d = T::from_i32_clamped(v);
        }
    }
}
