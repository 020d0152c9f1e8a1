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
    /// The outputs are `u8` (else `i8`).
    pub unsigned: bool,
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
    // A fused store without row sums starts from the column corrections (added once here
    // instead of per row in the store).
    let mut init = [_mm512_setzero_si512(); NV];
    // SAFETY: a non-null `fused` satisfies `FusedStore`'s contract (colcorr holds n values).
    let pre = !g.fused.is_null() && unsafe { (*g.fused).args.rowsum.is_null() };
    if pre {
        for (v, x) in init.iter_mut().enumerate() {
            let lanes = nc.saturating_sub(v * 16).min(16);
            let mask = ((1u32 << lanes) - 1) as u16;
            // SAFETY: the masked load reads only the valid columns j + 16v..; the address is
            // formed with wrapping_add as it may lie past the array when the mask is empty.
            *x = unsafe {
                let cc = (*g.fused).args.colcorr.wrapping_add(j + v * 16);
                _mm512_maskz_loadu_epi32(mask, cc.cast())
            };
        }
    }
    let mut acc = [init; R];
    let mut kk = 0;
    if R == 1 {
        // One row (a matrix-vector product): a second set of accumulators for every other
        // group of four k halves the dependency chains; integer sums are order-independent.
        let mut acc2 = [_mm512_setzero_si512(); NV];
        while kk + 8 <= g.kp {
            // SAFETY: kk + 8 <= kp inside row 0 and the panel (nr · 4 bytes per group).
            let (a0, a1) = unsafe {
                (
                    _mm512_set1_epi32(read4(ap[0].add(kk))),
                    _mm512_set1_epi32(read4(ap[0].add(kk + 4))),
                )
            };
            for v in 0..NV {
                // SAFETY: as above.
                let (b0, b1) = unsafe {
                    (
                        _mm512_loadu_si512(b.add(kk * nr + v * 64).cast()),
                        _mm512_loadu_si512(b.add((kk + 4) * nr + v * 64).cast()),
                    )
                };
                // The weights are streamed once: fetch the lines of 32 groups ahead into L1
                // (prefetches never fault).
                let ahead = b.wrapping_add((kk + 128) * nr + v * 64);
                _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(4 * nr).cast());
                acc[0][v] = _mm512_dpbusd_epi32(acc[0][v], a0, b0);
                acc2[v] = _mm512_dpbusd_epi32(acc2[v], a1, b1);
            }
            kk += 8;
        }
        for (x, y) in acc[0].iter_mut().zip(acc2) {
            *x = _mm512_add_epi32(*x, y);
        }
    }
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
        unsafe { store_fused::<NV, R>(&*g.fused, &acc, (i, j), nc, rows, pre) };
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
/// `pre`: the accumulators already hold the column corrections (only without row sums).
///
/// # Safety
/// AVX-512 F/BW/VL is available; `f` satisfies [`FusedStore`]'s contract for these rows and
/// columns.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn store_fused<const NV: usize, const R: usize>(
    f: &FusedStore,
    acc: &[[__m512i; NV]; R],
    at: (usize, usize),
    nc: usize,
    rows: usize,
    pre: bool,
) {
    use super::requant_x86::{DOUBLE, RUY, SINGLE};
    use crate::kernels::quant::fixed_point::Rounding;
    // SAFETY: forwarded from the caller.
    unsafe {
        match (f.args.rounding, pre) {
            (Rounding::Double, false) => {
                store_fused_as::<NV, R, DOUBLE, false>(f, acc, at, nc, rows)
            }
            (Rounding::Double, true) => store_fused_as::<NV, R, DOUBLE, true>(f, acc, at, nc, rows),
            (Rounding::Single, false) => {
                store_fused_as::<NV, R, SINGLE, false>(f, acc, at, nc, rows)
            }
            (Rounding::Single, true) => store_fused_as::<NV, R, SINGLE, true>(f, acc, at, nc, rows),
            (Rounding::RuyX86, false) => store_fused_as::<NV, R, RUY, false>(f, acc, at, nc, rows),
            (Rounding::RuyX86, true) => store_fused_as::<NV, R, RUY, true>(f, acc, at, nc, rows),
        }
    }
}

/// [`store_fused`] for one rounding mode; `PRE`: the accumulators already include the column
/// corrections and there are no row sums. With two or more vectors per row the int32 results
/// (offset added) are narrowed with saturating packs and clamped as bytes: saturation is
/// monotone and the clamp range lies inside the 8-bit range, so this equals clamping first.
///
/// # Safety
/// As for [`store_fused`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn store_fused_as<const NV: usize, const R: usize, const RND: u8, const PRE: bool>(
    f: &FusedStore,
    acc: &[[__m512i; NV]; R],
    (i, j): (usize, usize),
    nc: usize,
    rows: usize,
) {
    use super::requant_x86::{any_left512, requant_raw512};
    let q = &f.args;
    let mut corr = [_mm512_setzero_si512(); NV];
    let mut mult = [_mm512_setzero_si512(); NV];
    let mut shift = [_mm512_setzero_si512(); NV];
    for v in 0..NV {
        let lanes = nc.saturating_sub(v * 16).min(16);
        let mask = ((1u32 << lanes) - 1) as u16;
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
    let mut shl = [false; NV];
    for v in 0..NV {
        shl[v] = any_left512(shift[v]);
    }
    let off = _mm512_set1_epi32(q.output_offset);
    let (lo32, hi32) = (_mm512_set1_epi32(q.act_min), _mm512_set1_epi32(q.act_max));
    let (lo8, hi8) = (
        _mm512_set1_epi8(q.act_min as i8),
        _mm512_set1_epi8(q.act_max as i8),
    );
    let bytes_mask = if nc >= 64 { !0u64 } else { (1u64 << nc) - 1 };
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (r, row) in acc.iter().enumerate().take(rows) {
        let row_corr = if q.rowsum.is_null() {
            0
        } else {
            // SAFETY: row i + r < m.
            unsafe { *q.rowsum.add(i + r) }.wrapping_mul(q.b_off)
        };
        let rc = _mm512_set1_epi32(row_corr);
        let mut y = [_mm512_setzero_si512(); 4];
        for v in 0..NV {
            let x = if PRE {
                row[v]
            } else {
                _mm512_add_epi32(_mm512_add_epi32(row[v], corr[v]), rc)
            };
            y[v] = _mm512_add_epi32(requant_raw512::<RND>(x, mult[v], shift[v], shl[v]), off);
        }
        let dst = f.out.wrapping_add((i + r) * f.ldo + j);
        if NV == 1 {
            let v = _mm512_min_epi32(_mm512_max_epi32(y[0], lo32), hi32);
            // SAFETY: the mask limits the store to the nc valid columns of row i + r.
            unsafe { _mm_mask_storeu_epi8(dst.cast(), bytes_mask as u16, _mm512_cvtepi32_epi8(v)) };
            continue;
        }
        // Packing works per 128-bit lane: dword 4L + v of `b` holds lanes 4L.. of vector v.
        let p01 = _mm512_packs_epi32(y[0], y[1]);
        let p23 = _mm512_packs_epi32(y[2], y[3]);
        let b = if f.unsigned {
            let b = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(p01, p23));
            _mm512_min_epu8(_mm512_max_epu8(b, lo8), hi8)
        } else {
            let b = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(p01, p23));
            _mm512_min_epi8(_mm512_max_epi8(b, lo8), hi8)
        };
        // SAFETY: the mask limits the store to the nc valid columns of row i + r.
        unsafe { _mm512_mask_storeu_epi8(dst.cast(), bytes_mask, b) };
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
    // Two accumulators per row (even / odd 64-byte blocks) halve the dependency chains; the
    // weight streams are prefetched a few blocks ahead (they are read once per call).
    let mut acc = [_mm512_setzero_si512(); 4];
    let mut acc2 = [_mm512_setzero_si512(); 4];
    let mut kk = 0;
    while kk + 128 <= kp {
        // SAFETY: kk + 128 <= kp inside x and every row of w; prefetches never fault.
        unsafe {
            let xv = _mm512_loadu_si512(x.add(kk).cast());
            let xv2 = _mm512_loadu_si512(x.add(kk + 64).cast());
            for r in 0..4 {
                let wr = w.add(r * kp + kk);
                _mm_prefetch::<_MM_HINT_T0>(wr.wrapping_add(512).cast());
                acc[r] = _mm512_dpbusd_epi32(acc[r], xv, _mm512_loadu_si512(wr.cast()));
                let w2 = _mm512_loadu_si512(wr.add(64).cast());
                acc2[r] = _mm512_dpbusd_epi32(acc2[r], xv2, w2);
            }
        }
        kk += 128;
    }
    if kk < kp {
        // SAFETY: kk + 64 == kp inside x and every row of w.
        unsafe {
            let xv = _mm512_loadu_si512(x.add(kk).cast());
            for (r, a) in acc.iter_mut().enumerate() {
                let wv = _mm512_loadu_si512(w.add(r * kp + kk).cast());
                *a = _mm512_dpbusd_epi32(*a, xv, wv);
            }
        }
    }
    for ((o, a), b) in out.iter_mut().zip(acc).zip(acc2) {
        *o = _mm512_reduce_add_epi32(_mm512_add_epi32(a, b));
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
