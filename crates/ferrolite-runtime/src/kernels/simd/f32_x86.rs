//! x86-64 f32 GEMM micro-kernels (AVX-512 and AVX2 + FMA) behind [`super::gemm_f32`].
//!
//! Computes a product of `A[m × k]`, read in place (row stride `lda`), with a matrix packed by
//! `gemm_f32::pack_w` into panels of `nr = NV · lanes` columns: panel `j` holds, for every `kk`,
//! the `nr` values `B[j·nr + c][kk]` (zero past `n`). A tile of `MR` rows × `nr` columns lives in
//! registers for the whole `k` loop; every step loads the panel row once and broadcasts one `A`
//! value per row. Row tails run a 1-, 2- or 4-row tile (or re-read the last valid row and skip
//! its store); column tails use masked stores. The clamp keeps NaN like the scalar
//! `clamp_activation` (`max(min, x)` / `min(max, x)` return `x` when it is NaN).
//!
//! Two store orders ([`Gemm::trans`]):
//! * normal — `C[i][j]` at `c[i · ldc + j]`, bias per column `j` (A = activations, B = weights);
//! * transposed — `C[i][j]` at `c[j · ldc + i]`, bias per row `i` (A = weights, B = activations,
//!   for products with few output pixels: the weights are then not packed at all).
//!
//! The drivers of both widths come from one macro (`gemm_driver!`), and the unpacked
//! matrix-vector product (`gemv_avx512` / `gemv_avx2`) from one body over `vec_f32_x86`.
//!
//! Callers (the safe driver) guarantee: `a` is readable for `(m - 1) · lda + k` values, `b` for
//! `ceil(n / nr) · nr · k`, `bias` (if non-null) for `n` (normal) or `m` (transposed) values,
//! `c` writable for every stored element, `ldc · nr` fits in an `i32`, and that the CPU has the
//! features of the function called.

use std::arch::x86_64::*;

use super::gemm_f32::Gemm;

/// Pointers of one tile.
#[derive(Clone, Copy)]
struct Tile {
    a: *const f32,
    b: *const f32,
    bias: *const f32,
    c: *mut f32,
    nc: usize,
    rows: usize,
}

/// Tile pointers for rows `i..` and panel columns `j..`.
#[inline(always)]
fn tile_at(g: &Gemm, i: usize, j: usize, nc: usize, rows: usize) -> Tile {
    // Offsets stay inside the operands by the module contract; wrapping_add keeps the (unused)
    // null bias pointer valid to form.
    let (bias, c) = if g.trans {
        (g.bias.wrapping_add(i), g.c.wrapping_add(j * g.ldc + i))
    } else {
        (g.bias.wrapping_add(j), g.c.wrapping_add(i * g.ldc + j))
    };
    Tile {
        a: g.a.wrapping_add(i * g.lda),
        b: g.b.wrapping_add(j * g.k),
        bias: if g.bias.is_null() { g.bias } else { bias },
        c,
        nc,
        rows,
    }
}

/// A GEMM driver over panels of `NV · $lanes` columns and tiles of at most `MR` rows (row
/// tails run 1-, 2- or 4-row tiles); the two widths differ only in the tile function.
macro_rules! gemm_driver {
    ($name:ident, $tile:ident, $lanes:literal, $feat:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// # Safety
        /// The CPU has the features named in `target_feature` and `g` satisfies the module's
        /// contract.
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn $name<const NV: usize, const MR: usize>(g: Gemm) {
            let nr = NV * $lanes;
            let mut j = 0;
            while j < g.n {
                let nc = nr.min(g.n - j);
                let mut i = 0;
                while i < g.m {
                    let rows = g.m - i;
                    let t = tile_at(&g, i, j, nc, rows);
                    // SAFETY: the tile's rows and columns lie inside the operands (module
                    // contract).
                    i += unsafe {
                        match (rows, g.trans) {
                            (1, false) => $tile::<NV, 1, false>(&g, t),
                            (2, false) => $tile::<NV, 2, false>(&g, t),
                            (3 | 4, false) => $tile::<NV, 4, false>(&g, t),
                            (_, false) => $tile::<NV, MR, false>(&g, t),
                            (1, true) => $tile::<NV, 1, true>(&g, t),
                            (2, true) => $tile::<NV, 2, true>(&g, t),
                            (3 | 4, true) => $tile::<NV, 4, true>(&g, t),
                            (_, true) => $tile::<NV, MR, true>(&g, t),
                        }
                    };
                }
                j += nr;
            }
        }
    };
}

gemm_driver!(
    gemm_avx512,
    tile_avx512,
    16,
    "avx512f",
    "AVX-512 driver: panels of `NV · 16` columns, tiles of `MR` rows."
);
gemm_driver!(
    gemm_avx2,
    tile_avx2,
    8,
    "avx2,fma",
    "AVX2 driver: panels of `NV · 8` columns, tiles of `MR` rows."
);

/// One tile of up to `R` rows × `NV · 16` columns; returns the rows done.
///
/// # Safety
/// AVX-512F is available and `t` is a tile of a call satisfying the module's contract.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_avx512<const NV: usize, const R: usize, const TRANS: bool>(
    g: &Gemm,
    t: Tile,
) -> usize {
    let nr = NV * 16;
    let rows = t.rows.min(R);
    let mut ap = [t.a; R];
    for (r, p) in ap.iter_mut().enumerate() {
        // SAFETY: row min(r, rows - 1) is a valid row of A.
        *p = unsafe { t.a.add(r.min(rows - 1) * g.lda) };
    }
    let mut acc = [[_mm512_setzero_ps(); NV]; R];
    for kk in 0..g.k {
        let mut bv = [_mm512_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the panel holds nr values per kk (zero padded).
            *x = unsafe { _mm512_loadu_ps(t.b.add(kk * nr + v * 16)) };
        }
        for r in 0..R {
            // SAFETY: kk < k inside a valid row.
            let av = _mm512_set1_ps(unsafe { *ap[r].add(kk) });
            for v in 0..NV {
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
            }
        }
    }
    let (minv, maxv) = (_mm512_set1_ps(g.min), _mm512_set1_ps(g.max));
    let mut masks = [0u16; NV];
    for (v, m) in masks.iter_mut().enumerate() {
        let lanes = t.nc.saturating_sub(v * 16).min(16);
        *m = ((1u32 << lanes) - 1) as u16;
    }
    if TRANS {
        let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let index = _mm512_mullo_epi32(lane, _mm512_set1_epi32(g.ldc as i32));
        for (r, row) in acc.iter().enumerate().take(rows) {
            let bias = if t.bias.is_null() {
                _mm512_setzero_ps()
            } else {
                // SAFETY: bias has a value for each of the tile's rows.
                _mm512_set1_ps(unsafe { *t.bias.add(r) })
            };
            for (v, &x) in row.iter().enumerate() {
                let x = _mm512_min_ps(maxv, _mm512_max_ps(minv, _mm512_add_ps(x, bias)));
                let base = t.c.wrapping_add(r + v * 16 * g.ldc);
                // SAFETY: the mask limits the scatter to the nc valid columns, each stored at
                // c[(j + col) · ldc + i + r].
                unsafe { _mm512_mask_i32scatter_ps::<4>(base, masks[v], index, x) };
            }
        }
        return rows;
    }
    let mut bv = [_mm512_setzero_ps(); NV];
    if !t.bias.is_null() {
        for (v, b) in bv.iter_mut().enumerate() {
            // SAFETY: masked lanes are not accessed; the address is formed with wrapping_add as
            // it may lie past the slice when the mask is empty.
            *b = unsafe { _mm512_maskz_loadu_ps(masks[v], t.bias.wrapping_add(v * 16)) };
        }
    }
    for (r, row) in acc.iter().enumerate().take(rows) {
        for (v, &x) in row.iter().enumerate() {
            let x = _mm512_add_ps(x, bv[v]);
            let x = _mm512_min_ps(maxv, _mm512_max_ps(minv, x));
            // SAFETY: masked store writes only the nc valid columns of row r.
            unsafe { _mm512_mask_storeu_ps(t.c.wrapping_add(r * g.ldc + v * 16), masks[v], x) };
        }
    }
    rows
}

/// Lane mask (all ones in lanes `< count`) for AVX2 masked loads and stores.
#[target_feature(enable = "avx2")]
#[inline]
fn mask8(count: usize) -> __m256i {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(count.min(8) as i32), idx)
}

/// One tile of up to `R` rows × `NV · 8` columns; returns the rows done.
///
/// # Safety
/// AVX2 and FMA are available and `t` is a tile of a call satisfying the module's contract.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_avx2<const NV: usize, const R: usize, const TRANS: bool>(
    g: &Gemm,
    t: Tile,
) -> usize {
    let nr = NV * 8;
    let rows = t.rows.min(R);
    let mut ap = [t.a; R];
    for (r, p) in ap.iter_mut().enumerate() {
        // SAFETY: row min(r, rows - 1) is a valid row of A.
        *p = unsafe { t.a.add(r.min(rows - 1) * g.lda) };
    }
    let mut acc = [[_mm256_setzero_ps(); NV]; R];
    for kk in 0..g.k {
        let mut bv = [_mm256_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the panel holds nr values per kk (zero padded).
            *x = unsafe { _mm256_loadu_ps(t.b.add(kk * nr + v * 8)) };
        }
        for r in 0..R {
            // SAFETY: kk < k inside a valid row.
            let av = _mm256_set1_ps(unsafe { *ap[r].add(kk) });
            for v in 0..NV {
                acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
            }
        }
    }
    let (minv, maxv) = (_mm256_set1_ps(g.min), _mm256_set1_ps(g.max));
    if TRANS {
        for (r, row) in acc.iter().enumerate().take(rows) {
            let bias = if t.bias.is_null() {
                _mm256_setzero_ps()
            } else {
                // SAFETY: bias has a value for each of the tile's rows.
                _mm256_set1_ps(unsafe { *t.bias.add(r) })
            };
            for (v, &x) in row.iter().enumerate() {
                let x = _mm256_min_ps(maxv, _mm256_max_ps(minv, _mm256_add_ps(x, bias)));
                let mut lanes = [0f32; 8];
                // SAFETY: an 8-float stack array.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
                let valid = t.nc.saturating_sub(v * 8).min(8);
                for (l, &val) in lanes.iter().enumerate().take(valid) {
                    // SAFETY: column v · 8 + l < nc is stored at c[(j + col) · ldc + i + r].
                    unsafe { *t.c.add(r + (v * 8 + l) * g.ldc) = val };
                }
            }
        }
        return rows;
    }
    let mut masks = [_mm256_setzero_si256(); NV];
    let mut bv = [_mm256_setzero_ps(); NV];
    for v in 0..NV {
        masks[v] = mask8(t.nc.saturating_sub(v * 8));
        if !t.bias.is_null() {
            // SAFETY: masked lanes are not accessed; wrapping_add as the address may lie past
            // the slice when the mask is empty.
            bv[v] = unsafe { _mm256_maskload_ps(t.bias.wrapping_add(v * 8), masks[v]) };
        }
    }
    for (r, row) in acc.iter().enumerate().take(rows) {
        for (v, &x) in row.iter().enumerate() {
            let x = _mm256_add_ps(x, bv[v]);
            let x = _mm256_min_ps(maxv, _mm256_max_ps(minv, x));
            // SAFETY: masked store writes only the valid columns of row r.
            unsafe { _mm256_maskstore_ps(t.c.wrapping_add(r * g.ldc + v * 8), masks[v], x) };
        }
    }
    rows
}

/// A matrix-vector product `y[u] = clamp(Σ x[kk] · w[u·ldw + kk] + bias[u])` for `u < n`, eight
/// rows at a time (eight independent accumulators, one row stream each, the `k` tail masked),
/// over the vector operations of `vec_f32_x86::$w`.
macro_rules! gemv_kernel {
    ($name:ident, $w:ident, $feat:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// # Safety
        /// The CPU has the features named in `target_feature`; `x` holds `k` values, `w`
        /// `(n - 1) · ldw + k`, `bias` (if non-null) and `y` `n`.
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = $feat)]
        pub(super) unsafe fn $name(
            k: usize,
            x: *const f32,
            w: *const f32,
            ldw: usize,
            n: usize,
            bias: *const f32,
            min: f32,
            max: f32,
            y: *mut f32,
        ) {
            use super::vec_f32_x86::$w::*;
            let tail = k % LANES;
            let tail_mask = mask(tail);
            let mut u = 0;
            while u < n {
                let rows = 8.min(n - u);
                let mut wp = [w; 8];
                for (r, p) in wp.iter_mut().enumerate() {
                    // SAFETY: row u + min(r, rows - 1) < n.
                    *p = unsafe { w.add((u + r.min(rows - 1)) * ldw) };
                }
                let mut acc = [zero(); 8];
                let mut kk = 0;
                while kk + LANES <= k {
                    // SAFETY: kk + LANES <= k inside x and every row.
                    unsafe {
                        let xv = load::<false>(x.add(kk), tail_mask);
                        for r in 0..8 {
                            acc[r] = fma(xv, load::<false>(wp[r].add(kk), tail_mask), acc[r]);
                        }
                    }
                    kk += LANES;
                }
                if tail != 0 {
                    // SAFETY: masked loads read only the `tail` values left in x and each row.
                    unsafe {
                        let xv = load::<true>(x.add(kk), tail_mask);
                        for r in 0..8 {
                            acc[r] = fma(xv, load::<true>(wp[r].add(kk), tail_mask), acc[r]);
                        }
                    }
                }
                for (r, &a) in acc.iter().enumerate().take(rows) {
                    // SAFETY: u + r < n.
                    unsafe {
                        let b = if bias.is_null() {
                            0.0
                        } else {
                            *bias.add(u + r)
                        };
                        let s = hsum(a) + b;
                        *y.add(u + r) = crate::kernels::common::clamp_activation(s, min, max);
                    }
                }
                u += 8;
            }
        }
    };
}

gemv_kernel!(
    gemv_avx512,
    w512,
    "avx512f",
    "AVX-512 matrix-vector product."
);
gemv_kernel!(
    gemv_avx2,
    w256,
    "avx2,fma",
    "AVX2 + FMA matrix-vector product."
);
