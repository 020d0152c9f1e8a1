//! The `Avx2` level's 8-bit GEMM micro-kernel on AVX-VNNI (the VEX-encoded 256-bit `vpdpbusd`,
//! no AVX-512 needed), behind [`super::gemm_i8`].
//!
//! It reads the same operands as the AVX-512 VNNI kernel (`i8_x86::gemm_vnni`): unsigned
//! activation bytes, rows of `kp` (a multiple of 4), and signed weight bytes packed in panels of
//! `nr = 8 · NV` columns as `[kp / 4][nr][4]`; one `vpdpbusd` adds four products per int32 lane,
//! without saturation (each group sum is at most `4 · 255 · 128`). Tiles are `MR` rows × `NV`
//! vectors (16 ymm registers: 6 × 2 accumulators for 16-column panels); smaller row tails run a
//! 1-, 2- or 4-row tile. With a [`FusedStore`] the tile is requantized in registers with the
//! merged exact 64-bit rounding shift (`requant_x86::requant_merged256`), offset, clamped and
//! narrowed to bytes; otherwise raw int32 sums are stored (masked to the valid columns).
//! [`dot4_avxvnni`] serves the matrix-vector form of the dynamic-range products. Contract as in
//! `i8_x86` (the safe drivers in `i8_tiles` check the lengths).

use std::arch::x86_64::*;

use super::i8_x86::{FusedStore, GemmI8};
use super::requant_x86::{merged_consts256, requant_merged256, DOUBLE, RUY, SINGLE};
use crate::kernels::quant::fixed_point::Rounding;

/// Reads four bytes at `p` as one int32 for broadcasting.
///
/// # Safety
/// `p` is readable for four bytes.
#[inline(always)]
unsafe fn read4(p: *const u8) -> i32 {
    // SAFETY: the caller guarantees four readable bytes.
    unsafe { p.cast::<i32>().read_unaligned() }
}

/// Lanes `< lanes` of a 32-bit mask vector (for `maskload` / `maskstore`).
#[target_feature(enable = "avx2")]
#[inline]
fn lane_mask(lanes: usize) -> __m256i {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes.min(8) as i32), idx)
}

/// AVX-VNNI driver over panels of `8 · NV` columns (`NV` 1 or 2).
///
/// # Safety
/// The CPU supports AVX2 and AVX-VNNI; `g` satisfies `i8_x86`'s contract with `nr = 8 · NV`
/// (and a non-null `g.fused` [`FusedStore`]'s).
#[target_feature(enable = "avx2,avxvnni")]
pub(super) unsafe fn gemm_avxvnni<const NV: usize, const MR: usize>(g: GemmI8<u8, i8>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let rounding = if g.fused.is_null() {
            Rounding::Double
        } else {
            (*g.fused).args.rounding
        };
        match rounding {
            Rounding::Double => gemm_as::<NV, MR, DOUBLE>(&g),
            Rounding::Single => gemm_as::<NV, MR, SINGLE>(&g),
            Rounding::RuyX86 => gemm_as::<NV, MR, RUY>(&g),
        }
    }
}

/// [`gemm_avxvnni`] for one rounding mode of the fused store.
///
/// # Safety
/// As for [`gemm_avxvnni`].
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn gemm_as<const NV: usize, const MR: usize, const RND: u8>(g: &GemmI8<u8, i8>) {
    let nr = NV * 8;
    let mut j = 0;
    while j < g.n {
        let nc = nr.min(g.n - j);
        let mut i = 0;
        while i < g.m {
            let rows = g.m - i;
            // SAFETY: panel j / nr, rows i.. and columns j.. lie inside the operands.
            unsafe {
                let at = (i, j);
                let (a, b) = (g.a.add(i * g.lda), g.b.add(j * g.kp));
                i += match rows {
                    1 => tile::<NV, 1, RND>(g, at, a, b, nc, 1),
                    2 => tile::<NV, 2, RND>(g, at, a, b, nc, 2),
                    3 | 4 => tile::<NV, 4, RND>(g, at, a, b, nc, rows),
                    _ => tile::<NV, MR, RND>(g, at, a, b, nc, rows),
                };
            }
        }
        j += nr;
    }
}

/// One tile of up to `R` rows at `(i, j)` (rows past `rows` repeat the last one and are not
/// stored); returns the number of rows done.
///
/// # Safety
/// As for [`gemm_avxvnni`]; `a` / `b` point at row `i` of A and the panel of column `j`.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn tile<const NV: usize, const R: usize, const RND: u8>(
    g: &GemmI8<u8, i8>,
    (i, j): (usize, usize),
    a: *const u8,
    b: *const i8,
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
    // A fused store without row sums starts from the column corrections.
    let mut init = [_mm256_setzero_si256(); NV];
    // SAFETY: a non-null `fused` satisfies `FusedStore`'s contract (colcorr holds n values).
    let pre = !g.fused.is_null() && unsafe { (*g.fused).args.rowsum.is_null() };
    if pre {
        for (v, x) in init.iter_mut().enumerate() {
            let mask = lane_mask(nc.saturating_sub(v * 8));
            // SAFETY: the masked load reads only the valid columns j + 8v..; the address is
            // formed with wrapping_add as it may lie past the array when the mask is empty.
            *x = unsafe {
                let cc = (*g.fused).args.colcorr.wrapping_add(j + v * 8);
                _mm256_maskload_epi32(cc, mask)
            };
        }
    }
    let mut acc = [init; R];
    let mut kk = 0;
    if R == 1 {
        // One row: a second set of accumulators for every other group of four k halves the
        // dependency chains (integer sums do not depend on the order).
        let mut acc2 = [_mm256_setzero_si256(); NV];
        while kk + 8 <= g.kp {
            // SAFETY: kk + 8 <= kp inside row 0 and the panel (nr · 4 bytes per group).
            unsafe {
                let a0 = _mm256_set1_epi32(read4(ap[0].add(kk)));
                let a1 = _mm256_set1_epi32(read4(ap[0].add(kk + 4)));
                for v in 0..NV {
                    let b0 = _mm256_loadu_si256(b.add(kk * nr + v * 32).cast());
                    let b1 = _mm256_loadu_si256(b.add((kk + 4) * nr + v * 32).cast());
                    acc[0][v] = _mm256_dpbusd_avx_epi32(acc[0][v], a0, b0);
                    acc2[v] = _mm256_dpbusd_avx_epi32(acc2[v], a1, b1);
                }
            }
            kk += 8;
        }
        for (x, y) in acc[0].iter_mut().zip(acc2) {
            *x = _mm256_add_epi32(*x, y);
        }
    }
    while kk < g.kp {
        let mut bv = [_mm256_setzero_si256(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the panel holds nr · 4 bytes per group of four k.
            *x = unsafe { _mm256_loadu_si256(b.add(kk * nr + v * 32).cast()) };
        }
        for r in 0..R {
            // SAFETY: kk + 4 <= kp inside a valid row.
            let av = _mm256_set1_epi32(unsafe { read4(ap[r].add(kk)) });
            for v in 0..NV {
                acc[r][v] = _mm256_dpbusd_avx_epi32(acc[r][v], av, bv[v]);
            }
        }
        kk += 4;
    }
    if !g.fused.is_null() {
        // SAFETY: a non-null `fused` satisfies `FusedStore`'s contract for this call.
        unsafe { store_fused::<NV, R, RND>(&*g.fused, &acc, (i, j), nc, rows, pre) };
        return rows;
    }
    for (r, row) in acc.iter().enumerate().take(rows) {
        for (v, x) in row.iter().enumerate() {
            let mask = lane_mask(nc.saturating_sub(v * 8));
            let dst = g.c.wrapping_add((i + r) * g.ldc + j + v * 8);
            // SAFETY: the mask limits the store to the nc valid columns of row i + r (the
            // address is formed with wrapping_add as it may lie past C when the mask is empty).
            unsafe { _mm256_maskstore_epi32(dst, mask, *x) };
        }
    }
    rows
}

/// Requantizes a tile (rows `i..i + rows`, columns `j..j + nc`) in registers and stores it as
/// bytes. `pre`: the accumulators already hold the column corrections (only without row sums).
/// After the clamp every value lies in the 8-bit output range, so the saturating packs are exact.
///
/// # Safety
/// AVX2 is available; `f` satisfies [`FusedStore`]'s contract for these rows and columns.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store_fused<const NV: usize, const R: usize, const RND: u8>(
    f: &FusedStore,
    acc: &[[__m256i; NV]; R],
    (i, j): (usize, usize),
    nc: usize,
    rows: usize,
    pre: bool,
) {
    let q = &f.args;
    let mut corr = [_mm256_setzero_si256(); NV];
    let mut consts = [merged_consts256::<RND>(_mm256_setzero_si256(), _mm256_setzero_si256()); NV];
    for v in 0..NV {
        let mask = lane_mask(nc.saturating_sub(v * 8));
        let col = j + v * 8;
        // SAFETY: masked loads read only the valid columns (addresses formed with wrapping_add,
        // as they may lie past the arrays when the mask is empty); per-tensor parameters are
        // one readable value each.
        let (m, s) = unsafe {
            corr[v] = _mm256_maskload_epi32(q.colcorr.wrapping_add(col), mask);
            if q.per_channel {
                (
                    _mm256_maskload_epi32(q.mult.wrapping_add(col), mask),
                    _mm256_maskload_epi32(q.shift.wrapping_add(col), mask),
                )
            } else {
                (_mm256_set1_epi32(*q.mult), _mm256_set1_epi32(*q.shift))
            }
        };
        consts[v] = merged_consts256::<RND>(m, s);
    }
    let off = _mm256_set1_epi32(q.output_offset);
    let (lo, hi) = (_mm256_set1_epi32(q.act_min), _mm256_set1_epi32(q.act_max));
    for (r, row) in acc.iter().enumerate().take(rows) {
        let row_corr = if q.rowsum.is_null() {
            0
        } else {
            // SAFETY: row i + r < m.
            unsafe { *q.rowsum.add(i + r) }.wrapping_mul(q.b_off)
        };
        let rc = _mm256_set1_epi32(row_corr);
        let mut y = [_mm256_setzero_si256(); 2];
        for v in 0..NV {
            let x = if pre {
                row[v]
            } else {
                _mm256_add_epi32(_mm256_add_epi32(row[v], corr[v]), rc)
            };
            let z = _mm256_add_epi32(requant_merged256::<RND>(x, &consts[v]), off);
            y[v] = _mm256_min_epi32(_mm256_max_epi32(z, lo), hi);
        }
        // int16 pairs per 128-bit lane, then qwords reordered to column order.
        let w = _mm256_packs_epi32(y[0], if NV == 1 { y[0] } else { y[1] });
        let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(w);
        let (w0, w1) = (_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
        let bytes = if f.unsigned {
            _mm_packus_epi16(w0, w1)
        } else {
            _mm_packs_epi16(w0, w1)
        };
        let dst = f.out.wrapping_add((i + r) * f.ldo + j);
        let width = NV * 8;
        // SAFETY: `dst` is writable for the nc valid columns of row i + r; full tiles store
        // exactly `width` bytes, partial ones copy nc < width bytes from a local buffer.
        unsafe {
            if nc >= width && NV == 2 {
                _mm_storeu_si128(dst.cast(), bytes);
            } else if nc >= width {
                _mm_storel_epi64(dst.cast(), bytes);
            } else {
                let mut tmp = [0u8; 16];
                _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes);
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, nc);
            }
        }
    }
}

/// Four dot products `out[r] = Σ_k x[k] · w[r · kp + k]` of unsigned with signed bytes.
///
/// # Safety
/// AVX2 and AVX-VNNI are available; `kp` is a multiple of 32, `x` holds `kp` bytes and `w`
/// `4 · kp`.
#[target_feature(enable = "avx2,avxvnni")]
pub(super) unsafe fn dot4_avxvnni(kp: usize, x: *const u8, w: *const i8, out: &mut [i32; 4]) {
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut kk = 0;
    while kk < kp {
        // SAFETY: kk + 32 <= kp inside x and every row of w.
        unsafe {
            let xv = _mm256_loadu_si256(x.add(kk).cast());
            for (r, a) in acc.iter_mut().enumerate() {
                let wv = _mm256_loadu_si256(w.add(r * kp + kk).cast());
                *a = _mm256_dpbusd_avx_epi32(*a, xv, wv);
            }
        }
        kk += 32;
    }
    for (o, a) in out.iter_mut().zip(acc) {
        let s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256::<1>(a));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        *o = _mm_cvtsi128_si32(s);
    }
}

#[cfg(test)]
mod tests {
    use super::super::requant_x86::{merged_consts256, requant_merged256, DOUBLE, RUY, SINGLE};
    use super::*;
    use crate::kernels::quant::fixed_point::apply_multiplier;
    use crate::kernels::simd::tests::Rng;

    /// Packs `n` rows of `k` signed bytes into panels of `nr` columns (`[kp / 4][nr][4]`, zero
    /// padded), the layout the kernel reads.
    fn pack(b: &[i8], n: usize, k: usize, kp: usize, nr: usize) -> Vec<i8> {
        let mut out = vec![0i8; n.div_ceil(nr) * nr * kp];
        for j in 0..n {
            for kk in 0..k {
                let (panel, col) = (j / nr, j % nr);
                out[panel * nr * kp + (kk / 4) * nr * 4 + col * 4 + kk % 4] = b[j * k + kk];
            }
        }
        out
    }

    fn raw_case<const NV: usize, const MR: usize>(rng: &mut Rng) {
        let (m, n, k) = (rng.range(1, 15), rng.range(1, 40), rng.range(1, 70));
        let kp = k.div_ceil(4) * 4;
        let nr = NV * 8;
        let mut a = vec![0u8; m * kp];
        for (i, row) in a.chunks_exact_mut(kp).enumerate() {
            for v in &mut row[..k] {
                *v = if i % 3 == 0 { 255 } else { rng.next() as u8 };
            }
        }
        let b: Vec<i8> = (0..n * k)
            .map(|t| if t % 7 == 0 { -128 } else { rng.next() as i8 })
            .collect();
        let packed = pack(&b, n, k, kp, nr);
        let mut c = vec![i32::MIN; m * n];
        let g = GemmI8 {
            m,
            n,
            kp,
            a: a.as_ptr(),
            lda: kp,
            b: packed.as_ptr(),
            c: c.as_mut_ptr(),
            ldc: n,
            fused: std::ptr::null(),
        };
        // SAFETY: AVX-VNNI detected by the caller; A holds m · kp bytes, the panels
        // ceil(n / nr) · nr · kp, C m · n values.
        unsafe { gemm_avxvnni::<NV, MR>(g) };
        for i in 0..m {
            for j in 0..n {
                let want: i32 = (0..k)
                    .map(|kk| i32::from(a[i * kp + kk]) * i32::from(b[j * k + kk]))
                    .sum();
                assert_eq!(c[i * n + j], want, "m={m} n={n} k={k} nr={nr} ({i}, {j})");
            }
        }
    }

    /// The raw int32 products of both panel widths on random shapes (row and column tails, odd
    /// depths, extreme bytes) against a plain sum.
    #[test]
    fn raw_products_match_reference() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni")) {
            return;
        }
        let mut rng = Rng::new(5);
        for _ in 0..300 {
            raw_case::<2, 6>(&mut rng);
            raw_case::<1, 8>(&mut rng);
        }
    }

    /// The merged 256-bit requantization on random and extreme accumulators, multipliers and
    /// every shift in `-31..=30`, against `apply_multiplier` bit for bit, for each rounding.
    #[test]
    fn merged256_matches_apply_multiplier() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng::new(77);
        let xs = [
            0,
            1,
            -1,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
            1 << 30,
            -(1 << 30),
            12345,
        ];
        let ms = [0, 1, 1 << 30, i32::MAX, (1 << 30) + 1, 1_518_500_250];
        for case in 0..4000 {
            let mut x = [0i32; 8];
            let mut m = [0i32; 8];
            let mut s = [0i32; 8];
            for l in 0..8 {
                x[l] = if case % 3 == 0 {
                    xs[rng.next() as usize % xs.len()]
                } else {
                    rng.next() as i32 >> (rng.next() % 31)
                };
                m[l] = if case % 2 == 0 {
                    ms[rng.next() as usize % ms.len()]
                } else {
                    (rng.next() >> 33) as i32
                };
                s[l] = (rng.next() % 62) as i32 - 31;
            }
            for (rounding, tag) in [
                (Rounding::Double, DOUBLE),
                (Rounding::Single, SINGLE),
                (Rounding::RuyX86, RUY),
            ] {
                let mut got = [0i32; 8];
                // SAFETY: AVX2 was detected above; the arrays hold eight lanes each.
                unsafe {
                    let load = |v: &[i32; 8]| _mm256_loadu_si256(v.as_ptr().cast());
                    let (xv, mv, sv) = (load(&x), load(&m), load(&s));
                    let r = match tag {
                        DOUBLE => {
                            requant_merged256::<DOUBLE>(xv, &merged_consts256::<DOUBLE>(mv, sv))
                        }
                        SINGLE => {
                            requant_merged256::<SINGLE>(xv, &merged_consts256::<SINGLE>(mv, sv))
                        }
                        _ => requant_merged256::<RUY>(xv, &merged_consts256::<RUY>(mv, sv)),
                    };
                    _mm256_storeu_si256(got.as_mut_ptr().cast(), r);
                }
                for l in 0..8 {
                    let want = apply_multiplier(x[l], m[l], s[l], rounding);
                    assert_eq!(
                        got[l], want,
                        "{rounding:?} x={} m={} s={}",
                        x[l], m[l], s[l]
                    );
                }
            }
        }
    }
}
