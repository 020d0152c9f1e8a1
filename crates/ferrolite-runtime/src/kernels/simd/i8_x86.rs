//! x86-64 8-bit GEMM micro-kernels with int32 accumulation, behind [`super::gemm_i8`].
//!
//! Both compute raw dot products `C[i][j] = Σ_k A[i][k] · B[j][k]` (wrapping int32) of an
//! activation matrix `A` (row stride `lda`, `kp` values per row, the padding zero) and weights
//! packed by `gemm_i8::pack_b` into panels of `nr` columns:
//!
//! * [`gemm_vnni`] (AVX-512 VNNI): `A` is unsigned bytes, `B` signed bytes in groups of four
//!   consecutive `k` per column (`[k / 4][nr][4]`); one `vpdpbusd` adds four products per lane.
//!   No saturation: each group sum is at most `4 · 255 · 128`.
//! * [`gemm_avx2`] (AVX2): `A` and `B` are int16 in pairs (`[k / 2][nr][2]`), multiplied with
//!   `vpmaddwd`, which cannot saturate on these ranges (|a| ≤ 255, |b| ≤ 128) — unlike
//!   `vpmaddubsw`, whose int16 pair sums would.
//!
//! Tiles are `MR` rows × `NV` vectors; smaller row tails run a 1-, 2- or 4-row tile. Column tails
//! use masked stores. Contract (the safe driver checks it): `a` readable for `(m - 1) · lda + kp`
//! elements, `b` for `ceil(n / nr) · nr · kp`, `c` writable for `(m - 1) · ldc + n`; `kp` a
//! multiple of the group size; the CPU has the features of the function called.

use std::arch::x86_64::*;

/// Shape and operands of one integer GEMM call.
#[derive(Clone, Copy)]
pub(super) struct GemmI8<A, B> {
    pub m: usize,
    pub n: usize,
    pub kp: usize,
    pub a: *const A,
    pub lda: usize,
    pub b: *const B,
    pub c: *mut i32,
    pub ldc: usize,
    /// When non-null (VNNI only), tiles requantize in registers and store 8-bit outputs there
    /// instead of writing int32 to `c`.
    pub fused: *const FusedStore,
}

/// The requantizing store of [`gemm_vnni`]: `out[i · ldo + j] = requant(acc + colcorr[j] +
/// b_off · rowsum[i])` narrowed to bytes (the clamp keeps values inside the 8-bit range, so
/// truncation is exact for int8 and uint8 alike). Contract: `out` is writable for every stored
/// byte, `colcorr` (and `mult` / `shift` when `args.per_channel`) hold `n` values, `rowsum`
/// (if non-null) `m`; `args` satisfies `requant_x86`'s contract.
pub(super) struct FusedStore {
    pub out: *mut u8,
    pub ldo: usize,
    pub args: super::requant_x86::BlockArgs,
}

/// Reads four bytes (two int16) at `p` as one int32 for broadcasting.
///
/// # Safety
/// `p` is readable for four bytes.
#[inline(always)]
unsafe fn read4<T>(p: *const T) -> i32 {
    // SAFETY: the caller guarantees four readable bytes.
    unsafe { p.cast::<i32>().read_unaligned() }
}

/// AVX-512 VNNI driver.
///
/// # Safety
/// The CPU supports AVX-512F/BW and VNNI; `g` satisfies the module contract.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn gemm_vnni<const NV: usize, const MR: usize>(g: GemmI8<u8, i8>) {
    let nr = NV * 16;
    let mut j = 0;
    while j < g.n {
        let nc = nr.min(g.n - j);
        let mut i = 0;
        while i < g.m {
            let rows = g.m - i;
            // SAFETY: panel j / nr, rows i.. and columns j.. lie inside the operands.
            unsafe {
                let (a, b, c) = (
                    g.a.add(i * g.lda),
                    g.b.add(j * g.kp),
                    g.c.add(i * g.ldc + j),
                );
                let at = (i, j);
                let done = match rows {
                    1 => tile_vnni::<NV, 1>(&g, at, a, b, c, nc, 1),
                    2 => tile_vnni::<NV, 2>(&g, at, a, b, c, nc, 2),
                    3 | 4 => tile_vnni::<NV, 4>(&g, at, a, b, c, nc, rows),
                    _ => tile_vnni::<NV, MR>(&g, at, a, b, c, nc, rows),
                };
                i += done;
            }
        }
        j += nr;
    }
}

/// One tile of up to `R` rows (rows past `rows` repeat the last one and are not stored).
/// Returns the number of rows done.
///
/// # Safety
/// AVX-512 VNNI is available; `a`, `b` and `c` point at rows / panel / columns of a call
/// satisfying the module's contract.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn tile_vnni<const NV: usize, const R: usize>(
    g: &GemmI8<u8, i8>,
    (i, j): (usize, usize),
    a: *const u8,
    b: *const i8,
    c: *mut i32,
    nc: usize,
    rows: usize,
) -> usize {
    let nr = NV * 16;
    let rows = rows.min(R);
    let mut ap = [a; R];
    for (r, p) in ap.iter_mut().enumerate() {
        // SAFETY: row min(r, rows - 1) is a valid row of A.
        *p = unsafe { a.add(r.min(rows - 1) * g.lda) };
    }
    let mut acc = [[_mm512_setzero_si512(); NV]; R];
    let mut kk = 0;
    while kk < g.kp {
        let mut bv = [_mm512_setzero_si512(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the panel holds nr · 4 bytes per group of four k.
            *x = unsafe { _mm512_loadu_si512(b.add(kk * nr + v * 64).cast()) };
        }
        for r in 0..R {
            // SAFETY: kk + 4 <= kp inside a valid row.
            let av = _mm512_set1_epi32(unsafe { read4(ap[r].add(kk)) });
            for v in 0..NV {
                acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, bv[v]);
            }
        }
        kk += 4;
    }
    if !g.fused.is_null() {
        // SAFETY: a non-null `fused` satisfies `FusedStore`'s contract for this call.
        unsafe { store_fused::<NV, R>(&*g.fused, &acc, (i, j), nc, rows) };
        return rows;
    }
    for (r, row) in acc.iter().enumerate().take(rows) {
        for (v, x) in row.iter().enumerate() {
            let lanes = nc.saturating_sub(v * 16).min(16);
            let mask = ((1u32 << lanes) - 1) as u16;
            // SAFETY: the mask limits the store to the nc valid columns of row r; the address is
            // formed with wrapping_add as it may lie past the slice when the mask is empty.
            unsafe {
                _mm512_mask_storeu_epi32(c.wrapping_add(r * g.ldc + v * 16).cast(), mask, *x)
            };
        }
    }
    rows
}

/// Requantizes a VNNI tile (rows `i..i + rows`, columns `j..j + nc`) in registers and stores it
/// as bytes.
///
/// # Safety
/// AVX-512 F/BW/VL is available; `f` satisfies [`FusedStore`]'s contract for these rows and
/// columns.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn store_fused<const NV: usize, const R: usize>(
    f: &FusedStore,
    acc: &[[__m512i; NV]; R],
    (i, j): (usize, usize),
    nc: usize,
    rows: usize,
) {
    use super::requant_x86::{requant_vec512, DOUBLE, RUY, SINGLE};
    use crate::kernels::quant::fixed_point::Rounding;
    let q = &f.args;
    let mut corr = [_mm512_setzero_si512(); NV];
    let mut mult = [_mm512_setzero_si512(); NV];
    let mut shift = [_mm512_setzero_si512(); NV];
    let mut masks = [0u16; NV];
    for v in 0..NV {
        let lanes = nc.saturating_sub(v * 16).min(16);
        let mask = ((1u32 << lanes) - 1) as u16;
        masks[v] = mask;
        let col = j + v * 16;
        // SAFETY: masked loads read only the valid columns; addresses are formed with
        // wrapping_add as they may lie past the arrays when the mask is empty.
        unsafe {
            corr[v] = _mm512_maskz_loadu_epi32(mask, q.colcorr.wrapping_add(col).cast());
            if q.per_channel {
                mult[v] = _mm512_maskz_loadu_epi32(mask, q.mult.wrapping_add(col).cast());
                shift[v] = _mm512_maskz_loadu_epi32(mask, q.shift.wrapping_add(col).cast());
            } else {
                mult[v] = _mm512_set1_epi32(*q.mult);
                shift[v] = _mm512_set1_epi32(*q.shift);
            }
        }
    }
    for (r, row) in acc.iter().enumerate().take(rows) {
        let row_corr = if q.rowsum.is_null() {
            0
        } else {
            // SAFETY: row i + r < m.
            unsafe { *q.rowsum.add(i + r) }.wrapping_mul(q.b_off)
        };
        let rc = _mm512_set1_epi32(row_corr);
        for v in 0..NV {
            if masks[v] == 0 {
                continue;
            }
            let x = _mm512_add_epi32(_mm512_add_epi32(row[v], corr[v]), rc);
            let y = match q.rounding {
                Rounding::Double => requant_vec512::<DOUBLE>(x, mult[v], shift[v], q),
                Rounding::Single => requant_vec512::<SINGLE>(x, mult[v], shift[v], q),
                Rounding::RuyX86 => requant_vec512::<RUY>(x, mult[v], shift[v], q),
            };
            let bytes = _mm512_cvtepi32_epi8(y);
            let dst = f.out.wrapping_add((i + r) * f.ldo + j + v * 16);
            // SAFETY: the mask limits the store to the valid columns of row i + r.
            unsafe { _mm_mask_storeu_epi8(dst.cast(), masks[v], bytes) };
        }
    }
}

/// AVX2 int16 driver.
///
/// # Safety
/// The CPU supports AVX2; `g` satisfies the module contract.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn gemm_avx2<const NV: usize, const MR: usize>(g: GemmI8<i16, i16>) {
    let nr = NV * 8;
    let mut j = 0;
    while j < g.n {
        let nc = nr.min(g.n - j);
        let mut i = 0;
        while i < g.m {
            let rows = g.m - i;
            // SAFETY: panel j / nr, rows i.. and columns j.. lie inside the operands.
            unsafe {
                let (a, b, c) = (
                    g.a.add(i * g.lda),
                    g.b.add(j * g.kp),
                    g.c.add(i * g.ldc + j),
                );
                let done = match rows {
                    1 => tile_avx2::<NV, 1>(&g, a, b, c, nc, 1),
                    2 => tile_avx2::<NV, 2>(&g, a, b, c, nc, 2),
                    3 | 4 => tile_avx2::<NV, 4>(&g, a, b, c, nc, rows),
                    _ => tile_avx2::<NV, MR>(&g, a, b, c, nc, rows),
                };
                i += done;
            }
        }
        j += nr;
    }
}

/// AVX2 version of [`tile_vnni`] (int16 pairs).
///
/// # Safety
/// AVX2 is available; pointers as for [`tile_vnni`].
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile_avx2<const NV: usize, const R: usize>(
    g: &GemmI8<i16, i16>,
    a: *const i16,
    b: *const i16,
    c: *mut i32,
    nc: usize,
    rows: usize,
) -> usize {
    let nr = NV * 8;
    let rows = rows.min(R);
    let mut ap = [a; R];
    for (r, p) in ap.iter_mut().enumerate() {
        // SAFETY: row min(r, rows - 1) is a valid row of A.
        *p = unsafe { a.add(r.min(rows - 1) * g.lda) };
    }
    let mut acc = [[_mm256_setzero_si256(); NV]; R];
    let mut kk = 0;
    while kk < g.kp {
        let mut bv = [_mm256_setzero_si256(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the panel holds nr · 2 int16 per pair of k.
            *x = unsafe { _mm256_loadu_si256(b.add(kk * nr + v * 16).cast()) };
        }
        for r in 0..R {
            // SAFETY: kk + 2 <= kp inside a valid row.
            let av = _mm256_set1_epi32(unsafe { read4(ap[r].add(kk)) });
            for v in 0..NV {
                acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(av, bv[v]));
            }
        }
        kk += 2;
    }
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (r, row) in acc.iter().enumerate().take(rows) {
        for (v, x) in row.iter().enumerate() {
            let lanes = nc.saturating_sub(v * 8).min(8) as i32;
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), idx);
            // SAFETY: as in tile_vnni.
            unsafe { _mm256_maskstore_epi32(c.wrapping_add(r * g.ldc + v * 8), mask, *x) };
        }
    }
    rows
}

/// Four dot products `out[r] = Σ_k x[k] · w[r · kp + k]` of unsigned bytes with signed bytes.
///
/// # Safety
/// AVX-512 VNNI is available; `kp` is a multiple of 64, `x` holds `kp` bytes and `w` `4 · kp`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn dot4_vnni(kp: usize, x: *const u8, w: *const i8, out: &mut [i32; 4]) {
    let mut acc = [_mm512_setzero_si512(); 4];
    let mut kk = 0;
    while kk < kp {
        // SAFETY: kk + 64 <= kp inside x and every row of w.
        unsafe {
            let xv = _mm512_loadu_si512(x.add(kk).cast());
            for (r, a) in acc.iter_mut().enumerate() {
                let wv = _mm512_loadu_si512(w.add(r * kp + kk).cast());
                *a = _mm512_dpbusd_epi32(*a, xv, wv);
            }
        }
        kk += 64;
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = _mm512_reduce_add_epi32(a);
    }
}

/// Four dot products of int16 rows (`vpmaddwd`).
///
/// # Safety
/// AVX2 is available; `kp` is a multiple of 16, `x` holds `kp` values and `w` `4 · kp`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn dot4_avx2(kp: usize, x: *const i16, w: *const i16, out: &mut [i32; 4]) {
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut kk = 0;
    while kk < kp {
        // SAFETY: kk + 16 <= kp inside x and every row of w.
        unsafe {
            let xv = _mm256_loadu_si256(x.add(kk).cast());
            for (r, a) in acc.iter_mut().enumerate() {
                let wv = _mm256_loadu_si256(w.add(r * kp + kk).cast());
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, wv));
            }
        }
        kk += 16;
    }
    for (o, a) in out.iter_mut().zip(acc) {
        let s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        *o = _mm_cvtsi128_si32(s);
    }
}
