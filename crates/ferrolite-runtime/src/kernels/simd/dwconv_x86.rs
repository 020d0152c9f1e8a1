//! x86-64 depthwise-convolution kernels (f32, multiplier 1), vectorized over channels.
//!
//! Contract for every function: the CPU has the named features; `input`, `filter` and `output`
//! hold at least the element counts of `DwGeometry::lens`, `bias` (if non-null) `channels`
//! values; `first + count` does not exceed the output pixel count. The drivers in `dwconv_f32`
//! check these before calling.

use std::arch::x86_64::*;

use super::dwconv_f32::{DwGeometry, PixelWalker};
use super::im2col::TapRanges;

/// Operands of an f32 depthwise call.
pub(super) struct DwF32<'a> {
    pub g: DwGeometry,
    pub ranges: &'a TapRanges,
    pub input: *const f32,
    pub filter: *const f32,
    pub bias: *const f32,
    pub min: f32,
    pub max: f32,
    pub output: *mut f32,
    /// First output pixel computed (row-major over batch, y, x).
    pub first: usize,
    /// Output pixels computed from `first` on.
    pub count: usize,
}

/// AVX-512 f32 depthwise conv.
///
/// # Safety
/// See the module contract (AVX-512F).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dw_f32_avx512(d: &DwF32<'_>) {
    let c = d.g.channels;
    let (minv, maxv) = (_mm512_set1_ps(d.min), _mm512_set1_ps(d.max));
    let mut walker = PixelWalker::new(&d.g, d.ranges).starting_at(d.first);
    let mut out = d.first * c;
    let mut left_pixels = d.count;
    while let Some((base, taps)) = walker.next_taps().filter(|_| left_pixels > 0) {
        left_pixels -= 1;
        let mut c0 = 0;
        while c0 < c {
            let left = c - c0;
            if left >= 64 {
                let mut acc = [_mm512_setzero_ps(); 4];
                for &(ip, fp) in taps {
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: channels c0 + 16v .. + 16 < c of a valid pixel / filter row.
                        unsafe {
                            let x = _mm512_loadu_ps(d.input.add(base + ip + c0 + 16 * v));
                            let w = _mm512_loadu_ps(d.filter.add(fp + c0 + 16 * v));
                            *a = _mm512_fmadd_ps(x, w, *a);
                        }
                    }
                }
                for (v, a) in acc.iter().enumerate() {
                    let cc = c0 + 16 * v;
                    // SAFETY: cc + 16 <= c inside bias and the output pixel.
                    unsafe {
                        let bv = if d.bias.is_null() {
                            _mm512_setzero_ps()
                        } else {
                            _mm512_loadu_ps(d.bias.add(cc))
                        };
                        let x = _mm512_min_ps(maxv, _mm512_max_ps(minv, _mm512_add_ps(*a, bv)));
                        _mm512_storeu_ps(d.output.add(out + cc), x);
                    }
                }
                c0 += 64;
            } else {
                let mask = if left >= 16 {
                    0xffff
                } else {
                    ((1u32 << left) - 1) as u16
                };
                let mut acc = _mm512_setzero_ps();
                for &(ip, fp) in taps {
                    // SAFETY: the mask limits the loads to channels below c.
                    unsafe {
                        let x = _mm512_maskz_loadu_ps(mask, d.input.add(base + ip + c0));
                        let w = _mm512_maskz_loadu_ps(mask, d.filter.add(fp + c0));
                        acc = _mm512_fmadd_ps(x, w, acc);
                    }
                }
                // SAFETY: masked accesses stay below c in bias and the output pixel.
                unsafe {
                    let bv = if d.bias.is_null() {
                        _mm512_setzero_ps()
                    } else {
                        _mm512_maskz_loadu_ps(mask, d.bias.add(c0))
                    };
                    let x = _mm512_min_ps(maxv, _mm512_max_ps(minv, _mm512_add_ps(acc, bv)));
                    _mm512_mask_storeu_ps(d.output.add(out + c0), mask, x);
                }
                c0 += 16;
            }
        }
        out += c;
    }
}

/// AVX2 f32 depthwise conv.
///
/// # Safety
/// See the module contract (AVX2 + FMA).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dw_f32_avx2(d: &DwF32<'_>) {
    let c = d.g.channels;
    let (minv, maxv) = (_mm256_set1_ps(d.min), _mm256_set1_ps(d.max));
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut walker = PixelWalker::new(&d.g, d.ranges).starting_at(d.first);
    let mut out = d.first * c;
    let mut left_pixels = d.count;
    while let Some((base, taps)) = walker.next_taps().filter(|_| left_pixels > 0) {
        left_pixels -= 1;
        let mut c0 = 0;
        while c0 < c {
            let left = c - c0;
            if left >= 32 {
                let mut acc = [_mm256_setzero_ps(); 4];
                for &(ip, fp) in taps {
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: channels c0 + 8v .. + 8 < c of a valid pixel / filter row.
                        unsafe {
                            let x = _mm256_loadu_ps(d.input.add(base + ip + c0 + 8 * v));
                            let w = _mm256_loadu_ps(d.filter.add(fp + c0 + 8 * v));
                            *a = _mm256_fmadd_ps(x, w, *a);
                        }
                    }
                }
                for (v, a) in acc.iter().enumerate() {
                    let cc = c0 + 8 * v;
                    // SAFETY: cc + 8 <= c inside bias and the output pixel.
                    unsafe {
                        let bv = if d.bias.is_null() {
                            _mm256_setzero_ps()
                        } else {
                            _mm256_loadu_ps(d.bias.add(cc))
                        };
                        let x = _mm256_min_ps(maxv, _mm256_max_ps(minv, _mm256_add_ps(*a, bv)));
                        _mm256_storeu_ps(d.output.add(out + cc), x);
                    }
                }
                c0 += 32;
            } else {
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left.min(8) as i32), idx);
                let mut acc = _mm256_setzero_ps();
                for &(ip, fp) in taps {
                    // SAFETY: the mask limits the loads to channels below c.
                    unsafe {
                        let x = _mm256_maskload_ps(d.input.add(base + ip + c0), mask);
                        let w = _mm256_maskload_ps(d.filter.add(fp + c0), mask);
                        acc = _mm256_fmadd_ps(x, w, acc);
                    }
                }
                // SAFETY: masked accesses stay below c in bias and the output pixel.
                unsafe {
                    let bv = if d.bias.is_null() {
                        _mm256_setzero_ps()
                    } else {
                        _mm256_maskload_ps(d.bias.add(c0), mask)
                    };
                    let x = _mm256_min_ps(maxv, _mm256_max_ps(minv, _mm256_add_ps(acc, bv)));
                    _mm256_maskstore_ps(d.output.add(out + c0), mask, x);
                }
                c0 += 8;
            }
        }
        out += c;
    }
}

/// One output pixel of the int8 depthwise conv: `acc[c] = Σ_taps x16[base + ip + c] · w32[fp + c]`
/// (wrapping int32), where `w32` lanes hold the weight in their low 16 bits.
///
/// # Safety
/// AVX-512F/BW are available; for every `(ip, fp)` in `taps`, `x16[base + ip..][..c]` and
/// `w32[fp..fp + c]` are readable; `acc` is writable for `c` values.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn dw_i8_pixel_avx512(
    base: usize,
    taps: &[(usize, usize)],
    x16: *const i16,
    w32: *const i32,
    c: usize,
    acc: *mut i32,
) {
    let mut c0 = 0;
    while c0 + 64 <= c {
        let mut a = [_mm512_setzero_si512(); 4];
        for &(ip, fp) in taps {
            for (v, a) in a.iter_mut().enumerate() {
                let cc = c0 + 16 * v;
                // SAFETY: cc + 16 <= c inside the tap's pixel and filter row.
                unsafe {
                    let x =
                        _mm512_cvtepi16_epi32(_mm256_loadu_si256(x16.add(base + ip + cc).cast()));
                    let w = _mm512_loadu_si512(w32.add(fp + cc).cast());
                    *a = _mm512_add_epi32(*a, _mm512_madd_epi16(x, w));
                }
            }
        }
        for (v, a) in a.iter().enumerate() {
            // SAFETY: c0 + 16v + 16 <= c.
            unsafe { _mm512_storeu_si512(acc.add(c0 + 16 * v).cast(), *a) };
        }
        c0 += 64;
    }
    while c0 < c {
        let lanes = (c - c0).min(16);
        let mask = ((1u32 << lanes) - 1) as u16;
        let mut a = _mm512_setzero_si512();
        for &(ip, fp) in taps {
            // SAFETY: masked loads read only channels below c.
            unsafe {
                let x =
                    _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(mask, x16.add(base + ip + c0)));
                let w = _mm512_maskz_loadu_epi32(mask, w32.add(fp + c0).cast());
                a = _mm512_add_epi32(a, _mm512_madd_epi16(x, w));
            }
        }
        // SAFETY: masked store writes only channels below c.
        unsafe { _mm512_mask_storeu_epi32(acc.add(c0).cast(), mask, a) };
        c0 += 16;
    }
}

/// AVX2 version of [`dw_i8_pixel_avx512`] (channel tails in scalar code).
///
/// # Safety
/// AVX2 is available; operands as for [`dw_i8_pixel_avx512`].
#[target_feature(enable = "avx2")]
pub(super) unsafe fn dw_i8_pixel_avx2(
    base: usize,
    taps: &[(usize, usize)],
    x16: *const i16,
    w32: *const i32,
    c: usize,
    acc: *mut i32,
) {
    let mut c0 = 0;
    while c0 + 8 <= c {
        let mut a = _mm256_setzero_si256();
        for &(ip, fp) in taps {
            // SAFETY: c0 + 8 <= c inside the tap's pixel and filter row.
            unsafe {
                let x = _mm256_cvtepi16_epi32(_mm_loadu_si128(x16.add(base + ip + c0).cast()));
                let w = _mm256_loadu_si256(w32.add(fp + c0).cast());
                a = _mm256_add_epi32(a, _mm256_madd_epi16(x, w));
            }
        }
        // SAFETY: c0 + 8 <= c.
        unsafe { _mm256_storeu_si256(acc.add(c0).cast(), a) };
        c0 += 8;
    }
    for cc in c0..c {
        let mut a = 0i32;
        for &(ip, fp) in taps {
            // SAFETY: cc < c inside the tap's pixel and filter row.
            unsafe {
                let w = *w32.add(fp + cc) as i16;
                a = a.wrapping_add(i32::from(*x16.add(base + ip + cc)) * i32::from(w));
            }
        }
        // SAFETY: cc < c.
        unsafe { *acc.add(cc) = a };
    }
}
