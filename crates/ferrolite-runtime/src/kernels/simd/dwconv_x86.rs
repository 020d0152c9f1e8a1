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

/// Sign- (`U8 = false`) or zero-extends 16 bytes to 16 int32 lanes.
#[inline(always)]
unsafe fn widen16_avx512<const U8: bool>(v: __m128i) -> __m512i {
    if U8 {
        _mm512_cvtepu8_epi32(v)
    } else {
        _mm512_cvtepi8_epi32(v)
    }
}

/// Sign- (`U8 = false`) or zero-extends the low 8 bytes to 8 int32 lanes.
#[inline(always)]
unsafe fn widen8_avx2<const U8: bool>(v: __m128i) -> __m256i {
    if U8 {
        _mm256_cvtepu8_epi32(v)
    } else {
        _mm256_cvtepi8_epi32(v)
    }
}

/// One output pixel of the 8-bit depthwise conv, read straight from the 8-bit input:
/// `acc[c] = Σ_taps (x[base + ip + c] + x_off) · w32[fp + c]` (wrapping int32), where `x` holds
/// `u8` (`U8 = true`) or `i8` values and the `w32` lanes hold the offset weight in their low 16
/// bits (high bits zero), so `vpmaddwd` of the offset input lane (which fits 16 bits) and a weight
/// lane is exactly their product.
///
/// # Safety
/// AVX-512F/BW/VL are available; for every `(ip, fp)` in `taps`, `x[base + ip..][..c]` and
/// `w32[fp..fp + c]` are readable; `acc` is writable for `c` values.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
pub(super) unsafe fn dw_i8_pixel_avx512<const U8: bool>(
    base: usize,
    taps: &[(usize, usize)],
    x: *const u8,
    x_off: i32,
    w32: *const i32,
    c: usize,
    acc: *mut i32,
) {
    let off = _mm512_set1_epi32(x_off);
    let mut c0 = 0;
    while c0 + 64 <= c {
        let mut a = [_mm512_setzero_si512(); 4];
        for &(ip, fp) in taps {
            for (v, a) in a.iter_mut().enumerate() {
                let cc = c0 + 16 * v;
                // SAFETY: cc + 16 <= c inside the tap's pixel and filter row.
                unsafe {
                    let xv = widen16_avx512::<U8>(_mm_loadu_si128(x.add(base + ip + cc).cast()));
                    let xv = _mm512_add_epi32(xv, off);
                    let w = _mm512_loadu_si512(w32.add(fp + cc).cast());
                    *a = _mm512_add_epi32(*a, _mm512_madd_epi16(xv, w));
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
                let xv =
                    widen16_avx512::<U8>(_mm_maskz_loadu_epi8(mask, x.add(base + ip + c0).cast()));
                let xv = _mm512_add_epi32(xv, off);
                let w = _mm512_maskz_loadu_epi32(mask, w32.add(fp + c0).cast());
                a = _mm512_add_epi32(a, _mm512_madd_epi16(xv, w));
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
#[inline]
pub(super) unsafe fn dw_i8_pixel_avx2<const U8: bool>(
    base: usize,
    taps: &[(usize, usize)],
    x: *const u8,
    x_off: i32,
    w32: *const i32,
    c: usize,
    acc: *mut i32,
) {
    let off = _mm256_set1_epi32(x_off);
    let mut c0 = 0;
    while c0 + 16 <= c {
        let (mut a0, mut a1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for &(ip, fp) in taps {
            // SAFETY: c0 + 16 <= c inside the tap's pixel and filter row.
            unsafe {
                let xb = _mm_loadu_si128(x.add(base + ip + c0).cast());
                let x0 = _mm256_add_epi32(widen8_avx2::<U8>(xb), off);
                let x1 = _mm256_add_epi32(widen8_avx2::<U8>(_mm_unpackhi_epi64(xb, xb)), off);
                let w0 = _mm256_loadu_si256(w32.add(fp + c0).cast());
                let w1 = _mm256_loadu_si256(w32.add(fp + c0 + 8).cast());
                a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(x0, w0));
                a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(x1, w1));
            }
        }
        // SAFETY: c0 + 16 <= c.
        unsafe {
            _mm256_storeu_si256(acc.add(c0).cast(), a0);
            _mm256_storeu_si256(acc.add(c0 + 8).cast(), a1);
        }
        c0 += 16;
    }
    while c0 + 8 <= c {
        let mut a = _mm256_setzero_si256();
        for &(ip, fp) in taps {
            // SAFETY: c0 + 8 <= c inside the tap's pixel and filter row.
            unsafe {
                let xb = _mm_loadl_epi64(x.add(base + ip + c0).cast());
                let xv = _mm256_add_epi32(widen8_avx2::<U8>(xb), off);
                let w = _mm256_loadu_si256(w32.add(fp + c0).cast());
                a = _mm256_add_epi32(a, _mm256_madd_epi16(xv, w));
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
                let b = *x.add(base + ip + cc);
                let xv = if U8 { i32::from(b) } else { i32::from(b as i8) } + x_off;
                let w = *w32.add(fp + cc) as i16;
                a = a.wrapping_add(i32::from(xv as i16) * i32::from(w));
            }
        }
        // SAFETY: cc < c.
        unsafe { *acc.add(cc) = a };
    }
}

/// One output pixel of the direct 8-bit CONV_2D over `2 · CP` (padded) input channels (see
/// `dwconv_i8::conv2d_direct`): `acc[j] = Σ_taps Σ_pr x32[pr] ·· w32[(fp / 2 + pr) · n + j]` for
/// `j < n`, where `x32[pr]` is the 32-bit pair of offset int16 inputs `x16[base + ip + 2pr..][..2]`
/// and the `w32` lanes hold the matching pair of offset int16 weights, so one `vpmaddwd` of the
/// broadcast pair and a weight vector adds both channels' products; `fp` is the tap index times
/// `2 · CP`.
///
/// # Safety
/// AVX-512F/BW/VL are available; for every `(ip, fp)` in `taps`, `x16[base + ip..][..2 CP]` and
/// `w32[(fp / 2 + pr) · n..][..n]` (`pr < CP`) are readable; `acc` is writable for `n` values.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
pub(super) unsafe fn conv_i8_pixel_avx512<const CP: usize>(
    base: usize,
    taps: &[(usize, usize)],
    x16: *const i16,
    w32: *const i32,
    n: usize,
    acc: *mut i32,
) {
    let mut n0 = 0;
    while n0 < n {
        let lanes = (n - n0).min(16);
        let mask = ((1u32 << lanes) - 1) as u16;
        let mut a = [_mm512_setzero_si512(); CP];
        for &(ip, fp) in taps {
            for (pr, a) in a.iter_mut().enumerate() {
                // SAFETY: a channel pair of a valid input pixel; the mask keeps the filter row
                // read below n.
                unsafe {
                    let xp = x16.add(base + ip + 2 * pr).cast::<i32>().read_unaligned();
                    let w = _mm512_maskz_loadu_epi32(mask, w32.add((fp / 2 + pr) * n + n0).cast());
                    *a = _mm512_add_epi32(*a, _mm512_madd_epi16(_mm512_set1_epi32(xp), w));
                }
            }
        }
        let mut s = a[0];
        for v in &a[1..] {
            s = _mm512_add_epi32(s, *v);
        }
        // SAFETY: masked store writes only columns below n.
        unsafe { _mm512_mask_storeu_epi32(acc.add(n0).cast(), mask, s) };
        n0 += 16;
    }
}

/// AVX2 version of [`conv_i8_pixel_avx512`].
///
/// # Safety
/// AVX2 is available; operands as for [`conv_i8_pixel_avx512`].
#[target_feature(enable = "avx2")]
#[inline]
pub(super) unsafe fn conv_i8_pixel_avx2<const CP: usize>(
    base: usize,
    taps: &[(usize, usize)],
    x16: *const i16,
    w32: *const i32,
    n: usize,
    acc: *mut i32,
) {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut n0 = 0;
    while n0 < n {
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((n - n0).min(8) as i32), idx);
        let mut a = [_mm256_setzero_si256(); CP];
        for &(ip, fp) in taps {
            for (pr, a) in a.iter_mut().enumerate() {
                // SAFETY: as in `conv_i8_pixel_avx512`; the mask limits the filter load.
                unsafe {
                    let xp = x16.add(base + ip + 2 * pr).cast::<i32>().read_unaligned();
                    let w = _mm256_maskload_epi32(w32.add((fp / 2 + pr) * n + n0), mask);
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_set1_epi32(xp), w));
                }
            }
        }
        let mut s = a[0];
        for v in &a[1..] {
            s = _mm256_add_epi32(s, *v);
        }
        // SAFETY: masked store writes only columns below n.
        unsafe { _mm256_maskstore_epi32(acc.add(n0), mask, s) };
        n0 += 8;
    }
}
