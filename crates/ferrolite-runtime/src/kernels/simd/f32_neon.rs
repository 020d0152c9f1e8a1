//! NEON f32 GEMM and matrix-vector kernels (aarch64) behind [`super::gemm_f32`].
//!
//! Same contract as the x86 kernels: `A[m × k]` is read in place (row stride `lda`) and `B` is
//! packed by `gemm_f32::pack_w` into panels of 8 columns (`panel_width(Level::Neon, _)`), panel
//! `p` holding for every `kk` the 8 values `B[p·8 + c][kk]`. A tile of up to 8 rows × 8 columns
//! (16 accumulators) stays in registers over the whole `k` loop; four `k` steps at a time, each
//! row's four `A` values are loaded as one vector and used lane by lane (`fmla` by element).
//! Row tails run a smaller tile, column tails store through a buffer. The store adds the bias
//! and clamps keeping NaN (like `clamp_activation`: compare-and-select, not `fmax`), in the
//! normal order (`C[i][j]` at `c[i·ldc + j]`, bias per column) or transposed (`C[i][j]` at
//! `c[j·ldc + i]`, bias per row).
//!
//! Results differ from the scalar loops only by summation order and fused multiply-adds; the
//! f32 SIMD tests compare them within 1e-5 relative under qemu-aarch64.

use std::arch::aarch64::*;

use super::gemm_f32::Gemm;

/// Columns per packed panel.
pub(super) const NR: usize = 8;
/// Rows per full tile.
const MR: usize = 8;

/// `C = clamp(A · B + bias)` per the [`Gemm`] contract: `a` is readable for `(m - 1) · lda + k`
/// values, `b` for `ceil(n / 8) · 8 · k`, `bias` (if non-null) for `n` (normal) or `m`
/// (transposed) values and `c` writable for every stored element.
///
/// # Safety
/// The pointers satisfy the [`Gemm`] contract.
pub(super) unsafe fn gemm(g: Gemm) {
    let mut j = 0;
    while j < g.n {
        // SAFETY: panel `j / 8` lies inside `b` per the contract.
        let bp = unsafe { g.b.add(j * g.k) };
        let mut i = 0;
        // SAFETY: rows `i..i + R` and columns `j..` are inside the product.
        unsafe {
            while i + MR <= g.m {
                tile::<MR>(&g, bp, i, j);
                i += MR;
            }
            match g.m - i {
                1 => tile::<1>(&g, bp, i, j),
                2 => tile::<2>(&g, bp, i, j),
                3 => tile::<3>(&g, bp, i, j),
                4 => tile::<4>(&g, bp, i, j),
                5 => tile::<5>(&g, bp, i, j),
                6 => tile::<6>(&g, bp, i, j),
                7 => tile::<7>(&g, bp, i, j),
                _ => {}
            }
        }
        j += NR;
    }
}

/// One `R`-row tile at rows `i..`, panel starting at column `j` (`bp`).
///
/// # Safety
/// As [`gemm`], with `i + R ≤ m` and `j < n`.
#[inline(always)]
unsafe fn tile<const R: usize>(g: &Gemm, bp: *const f32, i: usize, j: usize) {
    let zero = vdupq_n_f32(0.0);
    let mut acc = [[zero; 2]; R];
    // SAFETY: every read lies in rows `i..i + R` (`k` values each) or the panel (`8 · k`).
    unsafe {
        let arow = |r: usize| g.a.add((i + r) * g.lda);
        let mut kk = 0;
        while kk + 4 <= g.k {
            let mut av = [zero; R];
            for (r, a) in av.iter_mut().enumerate() {
                *a = vld1q_f32(arow(r).add(kk));
            }
            macro_rules! step {
                ($l:literal) => {{
                    let b = bp.add((kk + $l) * NR);
                    let (b0, b1) = (vld1q_f32(b), vld1q_f32(b.add(4)));
                    for (row, &a) in acc.iter_mut().zip(&av) {
                        row[0] = vfmaq_laneq_f32::<$l>(row[0], b0, a);
                        row[1] = vfmaq_laneq_f32::<$l>(row[1], b1, a);
                    }
                }};
            }
            step!(0);
            step!(1);
            step!(2);
            step!(3);
            kk += 4;
        }
        while kk < g.k {
            let b = bp.add(kk * NR);
            let (b0, b1) = (vld1q_f32(b), vld1q_f32(b.add(4)));
            for (r, row) in acc.iter_mut().enumerate() {
                let a = *arow(r).add(kk);
                row[0] = vfmaq_n_f32(row[0], b0, a);
                row[1] = vfmaq_n_f32(row[1], b1, a);
            }
            kk += 1;
        }
        store(g, &acc, i, j);
    }
}

/// Clamps keeping NaN: `x < min → min`, `x > max → max`, else `x`.
#[inline(always)]
fn clamp4(x: float32x4_t, min: float32x4_t, max: float32x4_t) -> float32x4_t {
    // SAFETY: register-only NEON arithmetic (baseline on aarch64).
    unsafe {
        let x = vbslq_f32(vcltq_f32(x, min), min, x);
        vbslq_f32(vcgtq_f32(x, max), max, x)
    }
}

/// Bias, clamp and store of an `R × 8` tile.
///
/// # Safety
/// As [`tile`].
#[inline(always)]
unsafe fn store<const R: usize>(g: &Gemm, acc: &[[float32x4_t; 2]; R], i: usize, j: usize) {
    let cols = NR.min(g.n - j);
    // SAFETY: bias reads and output writes stay inside the contract's ranges (`cols` columns,
    // rows `i..i + R`).
    unsafe {
        let (min, max) = (vdupq_n_f32(g.min), vdupq_n_f32(g.max));
        if !g.trans {
            let mut bias = [0f32; NR];
            if !g.bias.is_null() {
                std::ptr::copy_nonoverlapping(g.bias.add(j), bias.as_mut_ptr(), cols);
            }
            let (bias0, bias1) = (vld1q_f32(bias.as_ptr()), vld1q_f32(bias.as_ptr().add(4)));
            for (r, row) in acc.iter().enumerate() {
                let v0 = clamp4(vaddq_f32(row[0], bias0), min, max);
                let v1 = clamp4(vaddq_f32(row[1], bias1), min, max);
                let dst = g.c.add((i + r) * g.ldc + j);
                if cols == NR {
                    vst1q_f32(dst, v0);
                    vst1q_f32(dst.add(4), v1);
                } else {
                    let mut tmp = [0f32; NR];
                    vst1q_f32(tmp.as_mut_ptr(), v0);
                    vst1q_f32(tmp.as_mut_ptr().add(4), v1);
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
                }
            }
        } else {
            for (r, row) in acc.iter().enumerate() {
                let b = if g.bias.is_null() {
                    0.0
                } else {
                    *g.bias.add(i + r)
                };
                let bias = vdupq_n_f32(b);
                let mut tmp = [0f32; NR];
                vst1q_f32(tmp.as_mut_ptr(), clamp4(vaddq_f32(row[0], bias), min, max));
                vst1q_f32(
                    tmp.as_mut_ptr().add(4),
                    clamp4(vaddq_f32(row[1], bias), min, max),
                );
                for (c, &v) in tmp[..cols].iter().enumerate() {
                    *g.c.add((j + c) * g.ldc + i + r) = v;
                }
            }
        }
    }
}

/// `y[u] = clamp(x · w[u] + bias[u])` for `n` rows of `w` (stride `ldw`, `k` values each).
///
/// # Safety
/// `x` readable for `k` values, `w` for `(n - 1) · ldw + k`, `bias` (if non-null) for `n`, `y`
/// writable for `n`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemv(
    k: usize,
    x: *const f32,
    w: *const f32,
    ldw: usize,
    n: usize,
    bias: *const f32,
    (min, max): (f32, f32),
    y: *mut f32,
) {
    // SAFETY: reads of `x` and rows `u..u + 4` of `w` stay below `k`; writes below `n`.
    unsafe {
        let mut u = 0;
        while u < n {
            let live = 4.min(n - u);
            let mut acc = [vdupq_n_f32(0.0); 4];
            let mut tail = [0f32; 4];
            let rows: [*const f32; 4] = std::array::from_fn(|r| w.add((u + r.min(live - 1)) * ldw));
            let mut kk = 0;
            while kk + 4 <= k {
                let xv = vld1q_f32(x.add(kk));
                for (a, &row) in acc.iter_mut().zip(&rows) {
                    *a = vfmaq_f32(*a, xv, vld1q_f32(row.add(kk)));
                }
                kk += 4;
            }
            while kk < k {
                let xv = *x.add(kk);
                for (t, &row) in tail.iter_mut().zip(&rows) {
                    *t += xv * *row.add(kk);
                }
                kk += 1;
            }
            for r in 0..live {
                let mut v = vaddvq_f32(acc[r]) + tail[r];
                if !bias.is_null() {
                    v += *bias.add(u + r);
                }
                *y.add(u + r) = crate::kernels::common::clamp_activation(v, min, max);
            }
            u += 4;
        }
    }
}
