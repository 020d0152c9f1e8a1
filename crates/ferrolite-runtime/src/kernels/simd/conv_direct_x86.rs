//! x86-64 direct CONV_2D micro-kernels for few input channels (see [`super::conv_direct`]).
//!
//! Contract: the CPU has the named features; `input` holds the whole NHWC input of `g`, `wt`
//! the `(fh · fw · C) × n` transposed filter, `bias` (if non-null) `n` values, `output` at least
//! `(first + count) · n` values; `g.channels == C`.

use std::arch::x86_64::*;

use super::dwconv_f32::{DwGeometry, PixelWalker};
use super::im2col::TapRanges;

/// Operands of a direct conv tile.
pub(super) struct Direct<'a> {
    pub g: DwGeometry,
    pub ranges: &'a TapRanges,
    pub input: *const f32,
    /// Filter transposed to `[(fy, fx, ci)][n]`.
    pub wt: *const f32,
    /// Output channels.
    pub n: usize,
    pub bias: *const f32,
    pub min: f32,
    pub max: f32,
    pub output: *mut f32,
    /// First output pixel computed (row-major over batch, y, x).
    pub first: usize,
    /// Output pixels computed from `first` on.
    pub count: usize,
}

/// AVX-512 direct conv over `C` input channels: per pixel and block of 16 output channels, one
/// broadcast-FMA per valid tap and input channel (one accumulator per input channel).
///
/// # Safety
/// See the module contract (AVX-512F).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn direct_avx512<const C: usize>(d: &Direct<'_>) {
    let n = d.n;
    let (minv, maxv) = (_mm512_set1_ps(d.min), _mm512_set1_ps(d.max));
    let mut walker = PixelWalker::new(&d.g, d.ranges).starting_at(d.first);
    let mut out = d.first * n;
    let mut left = d.count;
    while let Some((base, taps)) = walker.next_taps().filter(|_| left > 0) {
        left -= 1;
        let mut n0 = 0;
        while n0 < n {
            let lanes = (n - n0).min(16);
            let mask = ((1u32 << lanes) - 1) as u16;
            let mut acc = [_mm512_setzero_ps(); C];
            for &(ip, fp) in taps {
                for (ci, a) in acc.iter_mut().enumerate() {
                    // SAFETY: ip + ci is a channel of a valid input pixel; (fp + ci) is a row of
                    // the transposed filter, read below column n.
                    unsafe {
                        let x = _mm512_set1_ps(*d.input.add(base + ip + ci));
                        let w = _mm512_maskz_loadu_ps(mask, d.wt.add((fp + ci) * n + n0));
                        *a = _mm512_fmadd_ps(x, w, *a);
                    }
                }
            }
            let mut s = acc[0];
            for a in &acc[1..] {
                s = _mm512_add_ps(s, *a);
            }
            // SAFETY: masked accesses stay below n in bias and the output pixel.
            unsafe {
                if !d.bias.is_null() {
                    s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mask, d.bias.add(n0)));
                }
                let x = _mm512_min_ps(maxv, _mm512_max_ps(minv, s));
                _mm512_mask_storeu_ps(d.output.add(out + n0), mask, x);
            }
            n0 += 16;
        }
        out += n;
    }
}

/// AVX2 version of [`direct_avx512`] (blocks of 8 output channels).
///
/// # Safety
/// See the module contract (AVX2 + FMA).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn direct_avx2<const C: usize>(d: &Direct<'_>) {
    let n = d.n;
    let (minv, maxv) = (_mm256_set1_ps(d.min), _mm256_set1_ps(d.max));
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut walker = PixelWalker::new(&d.g, d.ranges).starting_at(d.first);
    let mut out = d.first * n;
    let mut left = d.count;
    while let Some((base, taps)) = walker.next_taps().filter(|_| left > 0) {
        left -= 1;
        let mut n0 = 0;
        while n0 < n {
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((n - n0).min(8) as i32), idx);
            let mut acc = [_mm256_setzero_ps(); C];
            for &(ip, fp) in taps {
                for (ci, a) in acc.iter_mut().enumerate() {
                    // SAFETY: as in `direct_avx512`; the mask limits the filter load.
                    unsafe {
                        let x = _mm256_set1_ps(*d.input.add(base + ip + ci));
                        let w = _mm256_maskload_ps(d.wt.add((fp + ci) * n + n0), mask);
                        *a = _mm256_fmadd_ps(x, w, *a);
                    }
                }
            }
            let mut s = acc[0];
            for a in &acc[1..] {
                s = _mm256_add_ps(s, *a);
            }
            // SAFETY: masked accesses stay below n in bias and the output pixel.
            unsafe {
                if !d.bias.is_null() {
                    s = _mm256_add_ps(s, _mm256_maskload_ps(d.bias.add(n0), mask));
                }
                let x = _mm256_min_ps(maxv, _mm256_max_ps(minv, s));
                _mm256_maskstore_ps(d.output.add(out + n0), mask, x);
            }
            n0 += 8;
        }
        out += n;
    }
}
