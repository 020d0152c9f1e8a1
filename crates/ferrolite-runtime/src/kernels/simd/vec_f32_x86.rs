//! The f32 vector operations shared by the macro-generated x86-64 kernels (`dw_window_x86`,
//! `conv_direct_x86`, the GEMV of `f32_x86`): one module per vector width with the same names
//! (`V`, `M`, `LANES`, `load`, `store`, `fma`, …), so a kernel body is written once and
//! instantiated inside a module that imports one of them. Every function carries its
//! `target_feature` and is `#[inline]`, so it compiles into the calling kernel, which has the
//! same features.
//!
//! `load` / `store` take a `MASKED` const: with it only the lanes of the mask (`mask(n)`: the
//! first `n`) are touched, without it the mask is ignored and the whole vector is accessed.

/// AVX-512 (F) operations on 16-lane vectors.
pub(super) mod w512 {
    use std::arch::x86_64::*;

    pub type V = __m512;
    pub type M = u16;
    pub const LANES: usize = 16;
    /// Pixels per block in the depthwise window kernel.
    pub const PX: usize = 8;
    /// The block size between `PX` and 4 offered for rows that `PX` would split badly.
    pub const PX_MID: usize = 6;
    /// Largest block at horizontal stride 2 (twice the input columns per pixel).
    pub const PX_S2: usize = 4;

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub fn mask(n: usize) -> M {
        if n >= LANES {
            0xffff
        } else {
            ((1u32 << n) - 1) as u16
        }
    }
    /// # Safety
    /// `p` is readable for the lanes the mask enables (all of them unless `MASKED`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn load<const MASKED: bool>(p: *const f32, m: M) -> V {
        // SAFETY: forwarded from the caller.
        unsafe {
            if MASKED {
                _mm512_maskz_loadu_ps(m, p)
            } else {
                _mm512_loadu_ps(p)
            }
        }
    }
    /// # Safety
    /// `p` is writable for the lanes the mask enables (all of them unless `MASKED`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn store<const MASKED: bool>(p: *mut f32, m: M, v: V) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if MASKED {
                _mm512_mask_storeu_ps(p, m, v)
            } else {
                _mm512_storeu_ps(p, v)
            }
        }
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub fn zero() -> V {
        _mm512_setzero_ps()
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub fn splat(x: f32) -> V {
        _mm512_set1_ps(x)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub fn add(a: V, b: V) -> V {
        _mm512_add_ps(a, b)
    }
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub fn fma(a: V, b: V, c: V) -> V {
        _mm512_fmadd_ps(a, b, c)
    }
    /// Sum of the lanes.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub fn hsum(v: V) -> f32 {
        _mm512_reduce_add_ps(v)
    }
    /// `clamp(acc + bias)`, NaN kept.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub fn finish(acc: V, bias: V, lo: V, hi: V) -> V {
        _mm512_min_ps(hi, _mm512_max_ps(lo, _mm512_add_ps(acc, bias)))
    }
}

/// AVX2 + FMA operations on 8-lane vectors.
pub(super) mod w256 {
    use std::arch::x86_64::*;

    pub type V = __m256;
    pub type M = __m256i;
    pub const LANES: usize = 8;
    /// Pixels per block in the depthwise window kernel (16 registers: 9 weights, 4
    /// accumulators, temporaries).
    pub const PX: usize = 4;
    /// The block size between `PX` and 2 offered for rows that `PX` would split badly.
    pub const PX_MID: usize = 3;
    /// Largest block at horizontal stride 2.
    pub const PX_S2: usize = 4;

    #[target_feature(enable = "avx2")]
    #[inline]
    pub fn mask(n: usize) -> M {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(LANES) as i32), idx)
    }
    /// # Safety
    /// `p` is readable for the lanes the mask enables (all of them unless `MASKED`).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn load<const MASKED: bool>(p: *const f32, m: M) -> V {
        // SAFETY: forwarded from the caller.
        unsafe {
            if MASKED {
                _mm256_maskload_ps(p, m)
            } else {
                _mm256_loadu_ps(p)
            }
        }
    }
    /// # Safety
    /// `p` is writable for the lanes the mask enables (all of them unless `MASKED`).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn store<const MASKED: bool>(p: *mut f32, m: M, v: V) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if MASKED {
                _mm256_maskstore_ps(p, m, v)
            } else {
                _mm256_storeu_ps(p, v)
            }
        }
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub fn zero() -> V {
        _mm256_setzero_ps()
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub fn splat(x: f32) -> V {
        _mm256_set1_ps(x)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    pub fn add(a: V, b: V) -> V {
        _mm256_add_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub fn fma(a: V, b: V, c: V) -> V {
        _mm256_fmadd_ps(a, b, c)
    }
    /// Sum of the lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub fn hsum(v: V) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }
    /// `clamp(acc + bias)`, NaN kept.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub fn finish(acc: V, bias: V, lo: V, hi: V) -> V {
        _mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_add_ps(acc, bias)))
    }
}
