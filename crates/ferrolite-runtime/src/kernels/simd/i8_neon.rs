//! NEON integer GEMM micro-kernels and the requantizing store (aarch64).
//!
//! The kernels read the two packed layouts of `pack_i8::pack_b` (see [`super::gemm_i8`]) and
//! produce the same raw int32 sums `Σ xu · ws` as the x86 kernels, so packing, corrections and
//! the store are shared:
//!
//! * byte groups of four (`Kernel::Vnni` layout) with the dot-product extension: `SDOT` is
//!   signed × signed, so the unsigned activation byte is flipped to `xs = xu - 128` and the
//!   kernel adds `128 · Σ ws` per column afterwards (`Σ xu·ws = Σ xs·ws + 128·Σ ws`, exact in
//!   wrapping int32). `SDOT` is emitted with inline assembly because its intrinsics are not
//!   stable in Rust yet.
//! * int16 pairs (`Kernel::Avx2` layout) on any aarch64 CPU: widening `smlal` into per-column
//!   pairs of partial sums, added pairwise in the store.
//!
//! The requantizing store is `requant_neon`.
//!
//! Every function here is `unsafe` with a pointer contract stated on it; the safe callers in
//! `i8_tiles` / `requant` check lengths first. Results are compared bit for bit with the scalar
//! kernels by the integer SIMD tests (run under qemu-aarch64, with and without dotprod).

use std::arch::aarch64::*;
use std::arch::asm;

use super::gemm_i8::Kernel;

/// Runs the micro-kernel for `kernel`'s layout on `rows` gathered rows (`a8` or `a16`, `kp` per
/// row) against `n` packed columns (`b8` or `b16`, panels of `nr`) into `acc` (`rows × n`).
#[allow(clippy::too_many_arguments)]
pub(super) fn micro_kernel(
    kernel: Kernel,
    (rows, n, kp): (usize, usize, usize),
    nr: usize,
    a8: &[u8],
    a16: &[i16],
    b8: &[i8],
    b16: &[i16],
    acc: &mut [i32],
) {
    let panels_len = n.div_ceil(nr) * nr * kp;
    assert!(acc.len() >= rows * n, "accumulator too short");
    match kernel {
        Kernel::Vnni => {
            assert!(
                std::arch::is_aarch64_feature_detected!("dotprod")
                    && nr.is_multiple_of(16)
                    && kp.is_multiple_of(4)
                    && a8.len() >= rows * kp
                    && b8.len() >= panels_len,
                "int8 operands too short"
            );
            let g = GemmI8 {
                m: rows,
                n,
                kp,
                nr,
                a: a8.as_ptr(),
                lda: kp,
                b: b8.as_ptr(),
                c: acc.as_mut_ptr(),
                ldc: n,
            };
            // SAFETY: lengths checked above; dotprod was detected at run time.
            unsafe { gemm_dot(&g) };
        }
        Kernel::Avx2 => {
            assert!(
                nr.is_multiple_of(8)
                    && kp.is_multiple_of(2)
                    && a16.len() >= rows * kp
                    && b16.len() >= panels_len,
                "int16 operands too short"
            );
            let g = GemmI8 {
                m: rows,
                n,
                kp,
                nr,
                a: a16.as_ptr(),
                lda: kp,
                b: b16.as_ptr(),
                c: acc.as_mut_ptr(),
                ldc: n,
            };
            // SAFETY: lengths checked above; NEON is baseline on aarch64.
            unsafe { gemm_i16(&g) };
        }
    }
}

/// Dot products of one gathered activation row (`kp` values) with four widened weight rows
/// (the matrix-vector form's layout for `kernel`).
pub(super) fn dot4(
    kernel: Kernel,
    kp: usize,
    x8: &[u8],
    x16: &[i16],
    w8: &[i8],
    w16: &[i16],
    out: &mut [i32; 4],
) {
    match kernel {
        Kernel::Vnni => {
            assert!(
                std::arch::is_aarch64_feature_detected!("dotprod")
                    && x8.len() >= kp
                    && w8.len() >= 4 * kp
                    && kp.is_multiple_of(16),
                "dot4 operands"
            );
            // SAFETY: lengths checked above; dotprod was detected at run time.
            unsafe { dot4_dot(kp, x8.as_ptr(), w8.as_ptr(), out) };
        }
        Kernel::Avx2 => {
            assert!(
                x16.len() >= kp && w16.len() >= 4 * kp && kp.is_multiple_of(8),
                "dot4 operands"
            );
            // SAFETY: lengths checked above.
            unsafe { dot4_i16(kp, x16.as_ptr(), w16.as_ptr(), out) };
        }
    }
}

/// One micro-kernel call: `c[i · ldc + j] = Σ_k a[i · lda + k] · b(k, j)` for `i < m`, `j < n`,
/// with `b` packed in panels of `nr` columns and `kp` (padded) depth.
pub(super) struct GemmI8<A, B> {
    pub m: usize,
    pub n: usize,
    pub kp: usize,
    pub nr: usize,
    pub a: *const A,
    pub lda: usize,
    pub b: *const B,
    pub c: *mut i32,
    pub ldc: usize,
}

/// `acc += dot(b[4j..4j + 4], a[4L..4L + 4])` for each lane `j` (`SDOT` by element).
///
/// # Safety
/// The CPU has the dot-product extension.
#[inline]
#[target_feature(enable = "dotprod")]
unsafe fn sdot_lane<const L: i32>(mut acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
    // SAFETY: register-only instruction, available per the caller's contract.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[{l}]",
            acc = inout(vreg) acc,
            b = in(vreg) b,
            a = in(vreg) a,
            l = const L,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// `acc += dot(b[4j..4j + 4], a[4j..4j + 4])` for each lane `j` (`SDOT` by vector).
///
/// # Safety
/// The CPU has the dot-product extension.
#[inline]
#[target_feature(enable = "dotprod")]
unsafe fn sdot(mut acc: int32x4_t, b: int8x16_t, a: int8x16_t) -> int32x4_t {
    // SAFETY: register-only instruction, available per the caller's contract.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {b:v}.16b, {a:v}.16b",
            acc = inout(vreg) acc,
            b = in(vreg) b,
            a = in(vreg) a,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Loads 16 activation bytes as `xu - 128`.
///
/// # Safety
/// `p` is valid for 16 bytes.
#[inline(always)]
unsafe fn load_flipped(p: *const u8) -> int8x16_t {
    // SAFETY: per the caller's contract.
    unsafe { vreinterpretq_s8_u8(veorq_u8(vld1q_u8(p), vdupq_n_u8(0x80))) }
}

/// Stores `v` (`R` rows of 4 vectors) into `c` rows `i..`, columns `j..j + cols` (`cols ≤ 16`).
///
/// # Safety
/// `c` is valid for rows `i..i + R` (stride `ldc`) and columns `j..j + cols`.
#[inline(always)]
unsafe fn store_rows<const R: usize, const V: usize>(
    v: &[[int32x4_t; V]; R],
    c: *mut i32,
    ldc: usize,
    (i, j, cols): (usize, usize, usize),
) {
    for (r, row) in v.iter().enumerate() {
        // SAFETY: per the caller's contract; full vectors only when all lanes are columns.
        unsafe {
            let dst = c.add((i + r) * ldc + j);
            if cols == 4 * V {
                for (q, &x) in row.iter().enumerate() {
                    vst1q_s32(dst.add(4 * q), x);
                }
            } else {
                let mut tmp = [0i32; 16];
                for (q, &x) in row.iter().enumerate() {
                    vst1q_s32(tmp.as_mut_ptr().add(4 * q), x);
                }
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
            }
        }
    }
}

/// The `SDOT` kernel over the byte-group layout (`nr` ∈ {16, 32, 64}, `kp` a multiple of 4).
///
/// # Safety
/// The CPU has the dot-product extension; `a` holds `m` rows of `kp` bytes at stride `lda`, `b`
/// holds `n.div_ceil(nr)` panels of `nr · kp` bytes, `c` holds `m` rows of `n` at stride `ldc`.
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn gemm_dot(g: &GemmI8<u8, i8>) {
    let groups = g.kp / 4;
    let stride = g.nr * 4;
    let mut j = 0;
    while j < g.n {
        let cols = 16.min(g.n - j);
        // SAFETY: column chunk `j..j + 16` lies inside its panel (nr is a multiple of 16).
        unsafe {
            let bp = g.b.add((j / g.nr) * g.nr * g.kp + (j % g.nr) * 4);
            let corr = column_sums_x128(bp, stride, groups);
            let mut i = 0;
            while i + 4 <= g.m {
                tile_dot::<4>(g, bp, stride, (i, j, cols), &corr);
                i += 4;
            }
            match g.m - i {
                1 => tile_dot::<1>(g, bp, stride, (i, j, cols), &corr),
                2 => tile_dot::<2>(g, bp, stride, (i, j, cols), &corr),
                3 => tile_dot::<3>(g, bp, stride, (i, j, cols), &corr),
                _ => {}
            }
        }
        j += 16;
    }
}

/// `128 · Σ_k ws` for the 16 columns of a panel chunk.
///
/// # Safety
/// Dot-product extension present; `bp` valid for `groups` groups of 64 bytes at `stride`.
#[inline]
#[target_feature(enable = "dotprod")]
unsafe fn column_sums_x128(bp: *const i8, stride: usize, groups: usize) -> [int32x4_t; 4] {
    let ones = vdupq_n_s8(1);
    let mut s = [vdupq_n_s32(0); 4];
    for q in 0..groups {
        for (v, sv) in s.iter_mut().enumerate() {
            // SAFETY: per the contract.
            unsafe { *sv = sdot(*sv, vld1q_s8(bp.add(q * stride + 16 * v)), ones) };
        }
    }
    s.map(|v| vshlq_n_s32::<7>(v))
}

/// `R` rows × 16 columns of the `SDOT` kernel.
///
/// # Safety
/// As [`gemm_dot`], with rows `i..i + R` and the chunk at `bp` in range.
#[inline]
#[target_feature(enable = "dotprod")]
unsafe fn tile_dot<const R: usize>(
    g: &GemmI8<u8, i8>,
    bp: *const i8,
    stride: usize,
    (i, j, cols): (usize, usize, usize),
    corr: &[int32x4_t; 4],
) {
    let groups = g.kp / 4;
    let mut acc = [*corr; R];
    let arow = |r: usize| g.a.wrapping_add((i + r) * g.lda);
    let mut q = 0;
    // SAFETY: reads stay inside rows of `kp` bytes and the chunk's `groups` groups.
    unsafe {
        while q + 4 <= groups {
            let mut av = [vdupq_n_s8(0); R];
            for (r, a) in av.iter_mut().enumerate() {
                *a = load_flipped(arow(r).add(4 * q));
            }
            macro_rules! step {
                ($l:literal) => {{
                    let b = bp.add((q + $l) * stride);
                    let bv = [
                        vld1q_s8(b),
                        vld1q_s8(b.add(16)),
                        vld1q_s8(b.add(32)),
                        vld1q_s8(b.add(48)),
                    ];
                    for (row, &a) in acc.iter_mut().zip(&av) {
                        for (x, &bb) in row.iter_mut().zip(&bv) {
                            *x = sdot_lane::<$l>(*x, bb, a);
                        }
                    }
                }};
            }
            step!(0);
            step!(1);
            step!(2);
            step!(3);
            q += 4;
        }
        while q < groups {
            let b = bp.add(q * stride);
            let bv = [
                vld1q_s8(b),
                vld1q_s8(b.add(16)),
                vld1q_s8(b.add(32)),
                vld1q_s8(b.add(48)),
            ];
            for (r, row) in acc.iter_mut().enumerate() {
                let word = std::ptr::read_unaligned(arow(r).add(4 * q).cast::<u32>());
                let a =
                    vreinterpretq_s8_u32(veorq_u32(vdupq_n_u32(word), vdupq_n_u32(0x8080_8080)));
                for (x, &bb) in row.iter_mut().zip(&bv) {
                    *x = sdot_lane::<0>(*x, bb, a);
                }
            }
            q += 1;
        }
        store_rows(&acc, g.c, g.ldc, (i, j, cols));
    }
}

/// The widening kernel over the int16-pair layout (`nr` ∈ {8, 16}, `kp` even).
///
/// # Safety
/// `a` holds `m` rows of `kp` int16 at stride `lda`, `b` holds `n.div_ceil(nr)` panels of
/// `nr · kp` int16, `c` holds `m` rows of `n` at stride `ldc`.
pub(super) unsafe fn gemm_i16(g: &GemmI8<i16, i16>) {
    let stride = g.nr * 2;
    let mut j = 0;
    while j < g.n {
        let cols = 8.min(g.n - j);
        // SAFETY: column chunk `j..j + 8` lies inside its panel (nr is a multiple of 8).
        unsafe {
            let bp = g.b.add((j / g.nr) * g.nr * g.kp + (j % g.nr) * 2);
            let mut i = 0;
            while i + 5 <= g.m {
                tile_i16::<5>(g, bp, stride, (i, j, cols));
                i += 5;
            }
            match g.m - i {
                1 => tile_i16::<1>(g, bp, stride, (i, j, cols)),
                2 => tile_i16::<2>(g, bp, stride, (i, j, cols)),
                3 => tile_i16::<3>(g, bp, stride, (i, j, cols)),
                4 => tile_i16::<4>(g, bp, stride, (i, j, cols)),
                _ => {}
            }
        }
        j += 8;
    }
}

/// `R` rows × 8 columns of the widening kernel: per row four accumulators holding, for each
/// column, the partial sums of its even and odd `k`.
///
/// # Safety
/// As [`gemm_i16`], with rows `i..i + R` and the chunk at `bp` in range.
#[inline(always)]
unsafe fn tile_i16<const R: usize>(
    g: &GemmI8<i16, i16>,
    bp: *const i16,
    stride: usize,
    (i, j, cols): (usize, usize, usize),
) {
    let mut acc = [[vdupq_n_s32(0); 4]; R];
    // SAFETY: reads stay inside rows of `kp` values and the chunk's `kp / 2` pairs.
    unsafe {
        for q in 0..g.kp / 2 {
            let b = bp.add(q * stride);
            let (b0, b1) = (vld1q_s16(b), vld1q_s16(b.add(8)));
            for (r, row) in acc.iter_mut().enumerate() {
                let pair = std::ptr::read_unaligned(g.a.add((i + r) * g.lda + 2 * q).cast::<i32>());
                let a = vreinterpretq_s16_s32(vdupq_n_s32(pair));
                let al = vget_low_s16(a);
                row[0] = vmlal_s16(row[0], vget_low_s16(b0), al);
                row[1] = vmlal_high_s16(row[1], b0, a);
                row[2] = vmlal_s16(row[2], vget_low_s16(b1), al);
                row[3] = vmlal_high_s16(row[3], b1, a);
            }
        }
        let sums: [[int32x4_t; 2]; R] =
            acc.map(|r| [vpaddq_s32(r[0], r[1]), vpaddq_s32(r[2], r[3])]);
        store_rows(&sums, g.c, g.ldc, (i, j, cols));
    }
}

/// Dot products of `x` (`kp` unsigned bytes) with four rows of `kp` signed bytes at `w`.
///
/// # Safety
/// Dot-product extension present; `kp` is a multiple of 16, `x` holds `kp` bytes, `w` `4 · kp`.
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn dot4_dot(kp: usize, x: *const u8, w: *const i8, out: &mut [i32; 4]) {
    let ones = vdupq_n_s8(1);
    let mut acc = [vdupq_n_s32(0); 4];
    let mut sum = [vdupq_n_s32(0); 4];
    // SAFETY: per the contract.
    unsafe {
        for t in (0..kp).step_by(16) {
            let xs = load_flipped(x.add(t));
            for r in 0..4 {
                let wv = vld1q_s8(w.add(r * kp + t));
                acc[r] = sdot(acc[r], wv, xs);
                sum[r] = sdot(sum[r], wv, ones);
            }
        }
    }
    for r in 0..4 {
        out[r] = vaddvq_s32(acc[r]).wrapping_add(vaddvq_s32(sum[r]).wrapping_mul(128));
    }
}

/// Dot products of `x` (`kp` int16) with four rows of `kp` int16 at `w`.
///
/// # Safety
/// `kp` is a multiple of 8, `x` holds `kp` values and `w` `4 · kp`.
pub(super) unsafe fn dot4_i16(kp: usize, x: *const i16, w: *const i16, out: &mut [i32; 4]) {
    let mut lo = [vdupq_n_s32(0); 4];
    let mut hi = [vdupq_n_s32(0); 4];
    // SAFETY: per the contract.
    unsafe {
        for t in (0..kp).step_by(8) {
            let xv = vld1q_s16(x.add(t));
            for r in 0..4 {
                let wv = vld1q_s16(w.add(r * kp + t));
                lo[r] = vmlal_s16(lo[r], vget_low_s16(wv), vget_low_s16(xv));
                hi[r] = vmlal_high_s16(hi[r], wv, xv);
            }
        }
    }
    for r in 0..4 {
        out[r] = vaddvq_s32(vaddq_s32(lo[r], hi[r]));
    }
}

#[cfg(test)]
mod tests {
    //! Both layouts' kernels against a plain integer product in every process (the driver tests
    //! only reach the one `features().dotprod` selects), including extreme bytes.
    use super::*;
    use crate::kernels::simd::pack_i8::pack_b;
    use crate::kernels::simd::tests::Rng;

    fn reference(a: &[u8], w: &[i8], (m, n, k): (usize, usize, usize), kp: usize) -> Vec<i32> {
        let mut c = vec![0i32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).fold(0i32, |s, kk| {
                    s.wrapping_add(i32::from(a[i * kp + kk]) * i32::from(w[j * k + kk]))
                });
            }
        }
        c
    }

    #[test]
    fn neon_int8_kernels_match_integer_product() {
        let mut rng = Rng::new(0xa64);
        for case in 0..60 {
            let (m, n, k) = (rng.range(1, 13), rng.range(1, 70), rng.range(1, 90));
            let byte = |rng: &mut Rng| match case % 3 {
                0 => (rng.next() % 256) as u8,
                1 => [0u8, 255][(rng.next() % 2) as usize],
                _ => 255,
            };
            let w: Vec<i8> = (0..n * k)
                .map(|_| {
                    if case % 3 == 2 {
                        -128
                    } else {
                        byte(&mut rng) as i8
                    }
                })
                .collect();
            let mut kernels = vec![(Kernel::Avx2, 2, 8), (Kernel::Avx2, 2, 16)];
            if std::arch::is_aarch64_feature_detected!("dotprod") {
                kernels.extend([
                    (Kernel::Vnni, 4, 16),
                    (Kernel::Vnni, 4, 32),
                    (Kernel::Vnni, 4, 64),
                ]);
            }
            for (kernel, group, nr) in kernels {
                let kp = k.div_ceil(group) * group;
                let a8: Vec<u8> = (0..m * kp).map(|_| byte(&mut rng)).collect();
                let a16: Vec<i16> = a8.iter().map(|&v| i16::from(v)).collect();
                let (mut b8, mut b16, mut colsum) = (Vec::new(), Vec::new(), Vec::new());
                let (mut t8, mut t16) = (Vec::new(), Vec::new());
                if group == 4 {
                    pack_b::<i8, i8, 4>(&w, k, (n, k, kp), 0, nr, &mut b8, &mut colsum, &mut t8);
                } else {
                    pack_b::<i8, i16, 2>(&w, k, (n, k, kp), 0, nr, &mut b16, &mut colsum, &mut t16);
                }
                // The packed padding is zero, so the activations' padding does not matter.
                let want = reference(&a8, &w, (m, n, k), kp);
                let mut got = vec![0i32; m * n];
                micro_kernel(kernel, (m, n, kp), nr, &a8, &a16, &b8, &b16, &mut got);
                assert_eq!(got, want, "{kernel:?} nr={nr} m={m} n={n} k={k}");
            }
        }
    }

    #[test]
    fn neon_dot4_matches_integer_product() {
        let mut rng = Rng::new(0xd07);
        for _ in 0..40 {
            let kp = 64 * rng.range(1, 4);
            let x: Vec<u8> = (0..kp).map(|_| (rng.next() % 256) as u8).collect();
            let w: Vec<i8> = (0..4 * kp)
                .map(|_| (rng.next() % 256) as u8 as i8)
                .collect();
            let want: [i32; 4] = std::array::from_fn(|r| {
                (0..kp).fold(0i32, |s, t| s + i32::from(x[t]) * i32::from(w[r * kp + t]))
            });
            let x16: Vec<i16> = x.iter().map(|&v| i16::from(v)).collect();
            let w16: Vec<i16> = w.iter().map(|&v| i16::from(v)).collect();
            let mut got = [0i32; 4];
            dot4(Kernel::Avx2, kp, &[], &x16, &[], &w16, &mut got);
            assert_eq!(got, want, "int16 kp={kp}");
            if std::arch::is_aarch64_feature_detected!("dotprod") {
                let mut got = [0i32; 4];
                dot4(Kernel::Vnni, kp, &x, &[], &w, &[], &mut got);
                assert_eq!(got, want, "sdot kp={kp}");
            }
        }
    }
}
