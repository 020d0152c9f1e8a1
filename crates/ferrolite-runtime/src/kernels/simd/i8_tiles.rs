//! One output tile of the integer GEMM ([`super::gemm_i8`]): gather the activation rows, run the
//! micro-kernel (or the 4-row dot products of the matrix-vector form), add the zero-point
//! corrections and bias, requantize and narrow into the output.
//!
//! A tile covers rows `p0..p0 + rows` and columns `j0..j0 + cols` of one product; columns start
//! on a packed panel (or a group of four weight rows in the matrix-vector form), so the tile reads
//! the same packed data and computes each element exactly as a whole-product call would. Every
//! tile owns a per-thread scratch and runs inside a `#[target_feature]` context matching the
//! kernel, so the gathering and conversion loops are vectorized for it.

use std::cell::RefCell;

use super::gemm_i8::{FloatOut, Kernel, Problem};
use super::pack_i8::{activation_shift, column_corrections, gather, grow, narrow_rows, widen_row};
use super::parallel::SharedMut;
use super::requant::requantize_block_at;
#[cfg(target_arch = "x86_64")]
use super::requant_x86::BlockArgs;
use crate::kernels::common::clamp_activation;
use crate::kernels::quant::QuantElem;

#[cfg(target_arch = "x86_64")]
use super::{i8_avxvnni, i8_x86};

/// Packed weights of one group as a tile reads them.
#[derive(Clone, Copy)]
pub(super) struct PackedView<'a> {
    /// VNNI panels / rows (empty for the AVX2 kernel).
    pub b8: &'a [i8],
    /// AVX2 panels / rows (empty for the VNNI kernel).
    pub b16: &'a [i16],
    /// `Σ ws` per column.
    pub colsum: &'a [i32],
}

/// Per-thread buffers of a tile.
#[derive(Default)]
struct TileScratch {
    a8: Vec<u8>,
    a16: Vec<i16>,
    b8: Vec<i8>,
    b16: Vec<i16>,
    acc: Vec<i32>,
    rowsum: Vec<i32>,
    colsum: Vec<i32>,
    colcorr: Vec<i32>,
}

thread_local! {
    static TILE: RefCell<TileScratch> = RefCell::new(TileScratch::default());
}

/// Offsets derived from the operand types: `(sx, sw, a_off, b_off, pad_xu)` (see `gemm_i8`).
fn offsets<T: QuantElem, W: QuantElem>(p: &Problem<'_, T, W>) -> (i32, i32, i32, i32, i32) {
    let (Some(sx), Some(wx)) = (activation_shift::<T>(), activation_shift::<W>()) else {
        unreachable!("callers check the operand types");
    };
    let sw = 128 - wx;
    (sx, sw, p.in_off - sx, p.f_off + sw, sx - p.in_off)
}

/// Adds corrections and bias to `acc` (`rows × cols`, columns `j0..`), requantizes and narrows
/// into output rows `p0..` at columns `out_off + j0..`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn finish<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    colsum: &[i32],
    (j0, cols): (usize, usize),
    rowsum: Option<&[i32]>,
    acc: &mut [i32],
    colcorr: &mut Vec<i32>,
    p0: usize,
    out: SharedMut<T>,
) {
    let (_, _, a_off, b_off, _) = offsets(p);
    let q = &p.q;
    column_corrections(
        colsum,
        q.bias.map(|b| &b[j0..]),
        (a_off, b_off, p.k),
        colcorr,
    );
    if let Some(f) = &p.float_out {
        float_store(
            f,
            (j0, cols),
            rowsum.map(|s| (s, b_off)),
            acc,
            colcorr,
            p0,
            p,
        );
        return;
    }
    let rq = q.columns((j0, cols), colcorr);
    let rowsum = rowsum.filter(|_| b_off != 0).map(|s| (s, b_off));
    requantize_block_at(p.kernel.level(), rq.vector_ok(), acc, cols, rowsum, &rq);
    // SAFETY: this tile alone writes rows p0.., columns out_off + j0.. + cols; the output stays
    // mutably borrowed by the driver for the whole call.
    let dst = unsafe { out.tail(p.out_off + j0) };
    narrow_rows(acc, cols, dst, p0, p.ldo);
}

/// The dynamic-range store: `out = (acc + corrections) as f32 · scale[j] + bias[j]`, clamped,
/// in the scalar hybrid kernel's order of f32 operations.
#[inline(always)]
fn float_store<T: QuantElem, W: QuantElem>(
    f: &FloatOut<'_>,
    (j0, cols): (usize, usize),
    rowsum: Option<(&[i32], i32)>,
    acc: &[i32],
    colcorr: &[i32],
    p0: usize,
    p: &Problem<'_, T, W>,
) {
    for (r, row) in acc.chunks_exact(cols).enumerate() {
        let row_corr = rowsum.map_or(0, |(s, b)| s[r].wrapping_mul(b));
        // SAFETY: this tile alone writes row p0 + r, columns out_off + j0.. + cols; the output
        // stays mutably borrowed by the driver for the whole call.
        let dst = unsafe { &mut f.out.tail((p0 + r) * p.ldo + p.out_off + j0)[..cols] };
        for (j, (d, &a)) in dst.iter_mut().zip(row).enumerate() {
            let v = a.wrapping_add(colcorr[j]).wrapping_add(row_corr);
            let bias = f.bias.map_or(0.0, |b| b[j0 + j]);
            *d = clamp_activation(v as f32 * f.scale[j0 + j] + bias, f.min, f.max);
        }
    }
}

/// The panel form: rows `p0..p0 + rows`, columns `j0..j0 + cols` (`j0` a multiple of `nr`).
pub(super) fn gemm_tile<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    v: PackedView<'_>,
    (p0, rows): (usize, usize),
    (j0, cols): (usize, usize),
    out: SharedMut<T>,
) {
    let mut s = TILE.with(|c| c.take());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: kernels are only picked from run-time detected features (`Kernel::pick`).
    unsafe {
        match p.kernel {
            Kernel::Vnni => gemm_tile_avx512(p, v, (p0, rows), (j0, cols), out, &mut s),
            Kernel::Avx2 | Kernel::AvxVnni => {
                gemm_tile_avx2(p, v, (p0, rows), (j0, cols), out, &mut s)
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    gemm_tile_body(p, v, (p0, rows), (j0, cols), out, &mut s);
    TILE.with(|c| c.replace(s));
}

/// [`gemm_tile_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn gemm_tile_avx512<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    v: PackedView<'_>,
    rows: (usize, usize),
    cols: (usize, usize),
    out: SharedMut<T>,
    s: &mut TileScratch,
) {
    gemm_tile_body(p, v, rows, cols, out, s);
}

/// [`gemm_tile_body`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_tile_avx2<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    v: PackedView<'_>,
    rows: (usize, usize),
    cols: (usize, usize),
    out: SharedMut<T>,
    s: &mut TileScratch,
) {
    gemm_tile_body(p, v, rows, cols, out, s);
}

#[inline(always)]
fn gemm_tile_body<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    v: PackedView<'_>,
    (p0, rows): (usize, usize),
    (j0, cols): (usize, usize),
    out: SharedMut<T>,
    s: &mut TileScratch,
) {
    let (sx, _, _, b_off, pad_xu) = offsets(p);
    let kernel = p.kernel;
    let (nr, mr) = kernel.panel(p.n);
    let kp = p.k.div_ceil(kernel.group()) * kernel.group();
    grow(&mut s.acc, rows * cols);
    grow(&mut s.rowsum, rows);
    let sums = (b_off != 0).then_some(&mut s.rowsum[..]);
    if kernel.byte_groups() {
        grow(&mut s.a8, rows * kp);
        gather(p.src, p0, rows, (p.k, kp), sx, pad_xu, &mut s.a8, sums);
    } else {
        grow(&mut s.a16, rows * kp);
        gather(p.src, p0, rows, (p.k, kp), sx, pad_xu, &mut s.a16, sums);
    }
    let acc = &mut s.acc[..rows * cols];
    let b8 = v.b8.get(j0 * kp..).unwrap_or_default();
    let b16 = v.b16.get(j0 * kp..).unwrap_or_default();
    let colsum = &v.colsum[j0..j0 + cols];
    #[cfg(target_arch = "x86_64")]
    if kernel.byte_groups() && p.float_out.is_none() {
        // Fused store: corrections first, then requantization in the micro-kernel's registers.
        let (_, _, a_off, _, _) = offsets(p);
        let q = &p.q;
        column_corrections(
            colsum,
            q.bias.map(|b| &b[j0..]),
            (a_off, b_off, p.k),
            &mut s.colcorr,
        );
        let per_channel = q.multipliers.len() > 1;
        let rq = q.columns((j0, cols), &s.colcorr);
        let (mult, shift) = (rq.multipliers, rq.shifts);
        if rq.vector_ok() && std::mem::size_of::<T>() == 1 && !mult.is_empty() {
            // SAFETY: this tile alone writes rows p0.. and columns out_off + j0.. + cols; the
            // output stays mutably borrowed by the driver for the whole call.
            let dst = unsafe { out.tail(p0 * p.ldo + p.out_off + j0) };
            assert!(
                dst.len() >= (rows - 1) * p.ldo + cols,
                "fused store output too short"
            );
            let fused = i8_x86::FusedStore {
                out: dst.as_mut_ptr().cast(),
                ldo: p.ldo,
                unsigned: T::MIN == 0,
                args: BlockArgs {
                    rows,
                    n: cols,
                    rowsum: if b_off != 0 {
                        s.rowsum.as_ptr()
                    } else {
                        std::ptr::null()
                    },
                    b_off,
                    colcorr: s.colcorr.as_ptr(),
                    mult: mult.as_ptr(),
                    shift: shift.as_ptr(),
                    per_channel,
                    rounding: q.rounding,
                    output_offset: q.output_offset,
                    act_min: q.act_min,
                    act_max: q.act_max,
                },
            };
            let (a8, dims) = (&s.a8[..], (rows, cols, kp));
            micro_kernel_fused(kernel, dims, (nr, mr), a8, b8, acc, &fused);
            return;
        }
    }
    micro_kernel(
        kernel,
        (rows, cols, kp),
        nr,
        mr,
        &s.a8,
        &s.a16,
        b8,
        b16,
        acc,
    );
    let rowsum = Some(&s.rowsum[..rows]);
    finish(p, colsum, (j0, cols), rowsum, acc, &mut s.colcorr, p0, out);
}

/// The VNNI micro-kernel with the requantizing store (`fused`, whose pointers the caller
/// checked: `colcorr` / per-channel parameters hold `cols` values, the rowsums `rows`, and the
/// output `(rows - 1) · ldo + cols` bytes).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn micro_kernel_fused(
    kernel: Kernel,
    (rows, n, kp): (usize, usize, usize),
    (nr, mr): (usize, usize),
    a8: &[u8],
    b8: &[i8],
    acc: &mut [i32],
    fused: &i8_x86::FusedStore,
) {
    let panels_len = n.div_ceil(nr) * nr * kp;
    assert!(
        a8.len() >= rows * kp && b8.len() >= panels_len,
        "int8 operands too short"
    );
    let g = i8_x86::GemmI8 {
        m: rows,
        n,
        kp,
        a: a8.as_ptr(),
        lda: kp,
        b: b8.as_ptr(),
        c: acc.as_mut_ptr(),
        ldc: n,
        fused,
    };
    // SAFETY: operand lengths checked above and the store's by the caller; kp is a multiple of
    // 4; VNNI (AVX-512 or AVX-VNNI) was detected (the kernel was picked from run-time features).
    unsafe { run_byte_kernel(kernel, nr, mr, g) }
}

/// Runs the byte-group micro-kernel of `kernel` for a panel width `nr` / tile height `mr`.
///
/// # Safety
/// `kernel` was picked from run-time features; `g` satisfies `i8_x86`'s contract for `nr`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn run_byte_kernel(kernel: Kernel, nr: usize, mr: usize, g: i8_x86::GemmI8<u8, i8>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (kernel, nr, mr) {
            (Kernel::AvxVnni, 16, _) => i8_avxvnni::gemm_avxvnni::<2, 6>(g),
            (Kernel::AvxVnni, _, _) => i8_avxvnni::gemm_avxvnni::<1, 8>(g),
            (_, 64, _) => i8_x86::gemm_vnni::<4, 6>(g),
            (_, 48, _) => i8_x86::gemm_vnni::<3, 8>(g),
            (_, 32, _) => i8_x86::gemm_vnni::<2, 8>(g),
            _ => i8_x86::gemm_vnni::<1, 12>(g),
        }
    }
}

/// `k` padding of the matrix-vector form's rows.
pub(super) fn gemv_chunk(kernel: Kernel) -> usize {
    match kernel {
        Kernel::Vnni => 64,
        Kernel::Avx2 => 16,
        #[cfg(target_arch = "x86_64")]
        Kernel::AvxVnni => 32,
    }
}

/// The matrix-vector form (`m ≤ 2` activation rows read in place): columns `u0..u0 + cols`
/// (`u0` a multiple of 4). `rows` holds the weight rows pre-widened (`w - sw`, zero padded to
/// [`gemv_chunk`], a multiple of 4 rows); without it they are widened here four at a time.
pub(super) fn gemv_tile<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    rows: Option<PackedView<'_>>,
    (u0, cols): (usize, usize),
    out: SharedMut<T>,
) {
    let mut s = TILE.with(|c| c.take());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: kernels are only picked from run-time detected features (`Kernel::pick`).
    unsafe {
        match p.kernel {
            Kernel::Vnni => gemv_tile_avx512(p, rows, (u0, cols), out, &mut s),
            Kernel::Avx2 | Kernel::AvxVnni => gemv_tile_avx2(p, rows, (u0, cols), out, &mut s),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    gemv_tile_body(p, rows, (u0, cols), out, &mut s);
    TILE.with(|c| c.replace(s));
}

/// [`gemv_tile_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn gemv_tile_avx512<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    rows: Option<PackedView<'_>>,
    cols: (usize, usize),
    out: SharedMut<T>,
    s: &mut TileScratch,
) {
    gemv_tile_body(p, rows, cols, out, s);
}

/// [`gemv_tile_body`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_tile_avx2<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    rows: Option<PackedView<'_>>,
    cols: (usize, usize),
    out: SharedMut<T>,
    s: &mut TileScratch,
) {
    gemv_tile_body(p, rows, cols, out, s);
}

#[inline(always)]
fn gemv_tile_body<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    packed: Option<PackedView<'_>>,
    (u0, cols): (usize, usize),
    out: SharedMut<T>,
    s: &mut TileScratch,
) {
    let (sx, sw, _, b_off, _) = offsets(p);
    let (kernel, m, k) = (p.kernel, p.m, p.k);
    let kp = k.div_ceil(gemv_chunk(kernel)) * gemv_chunk(kernel);
    grow(&mut s.acc, m * cols);
    grow(&mut s.rowsum, m);
    s.colsum.clear();
    s.colsum.resize(cols, 0);
    let sums = (b_off != 0).then_some(&mut s.rowsum[..]);
    if kernel.byte_groups() {
        grow(&mut s.a8, m * kp);
        gather(p.src, 0, m, (k, kp), sx, 0, &mut s.a8, sums);
    } else {
        grow(&mut s.a16, m * kp);
        gather(p.src, 0, m, (k, kp), sx, 0, &mut s.a16, sums);
    }
    let mut u = 0;
    while u < cols {
        let live = 4.min(cols - u);
        let (w8, w16): (&[i8], &[i16]) = match packed {
            Some(v) => {
                s.colsum[u..u + live].copy_from_slice(&v.colsum[u0 + u..u0 + u + live]);
                let at = (u0 + u) * kp;
                (
                    v.b8.get(at..at + 4 * kp).unwrap_or_default(),
                    v.b16.get(at..at + 4 * kp).unwrap_or_default(),
                )
            }
            None => {
                if kernel.byte_groups() {
                    grow(&mut s.b8, 4 * kp);
                } else {
                    grow(&mut s.b16, 4 * kp);
                }
                for r in 0..4 {
                    let row = u0 + u + r.min(live - 1);
                    let src = &p.w[row * k..(row + 1) * k];
                    let sum = if kernel.byte_groups() {
                        widen_row(src, sw, &mut s.b8[r * kp..(r + 1) * kp])
                    } else {
                        widen_row(src, sw, &mut s.b16[r * kp..(r + 1) * kp])
                    };
                    if r < live {
                        s.colsum[u + r] = sum;
                    }
                }
                (&s.b8[..], &s.b16[..])
            }
        };
        for i in 0..m {
            let x8 = s.a8.get(i * kp..(i + 1) * kp).unwrap_or_default();
            let x16 = s.a16.get(i * kp..(i + 1) * kp).unwrap_or_default();
            let dots = dot4(kernel, kp, x8, x16, w8, w16);
            s.acc[i * cols + u..i * cols + u + live].copy_from_slice(&dots[..live]);
        }
        u += 4;
    }
    let acc = &mut s.acc[..m * cols];
    let rowsum = Some(&s.rowsum[..m]);
    finish(
        p,
        &s.colsum,
        (u0, cols),
        rowsum,
        acc,
        &mut s.colcorr,
        0,
        out,
    );
}

/// Dot products of one gathered activation row (`kp` values) with four widened weight rows.
fn dot4(kernel: Kernel, kp: usize, x8: &[u8], x16: &[i16], w8: &[i8], w16: &[i16]) -> [i32; 4] {
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut out = [0i32; 4];
    #[cfg(target_arch = "x86_64")]
    match kernel {
        Kernel::Vnni => {
            assert!(
                x8.len() >= kp && w8.len() >= 4 * kp && kp.is_multiple_of(64),
                "dot4 operands"
            );
            // SAFETY: lengths checked above; VNNI was detected.
            unsafe { i8_x86::dot4_vnni(kp, x8.as_ptr(), w8.as_ptr(), &mut out) };
        }
        Kernel::Avx2 => {
            assert!(
                x16.len() >= kp && w16.len() >= 4 * kp && kp.is_multiple_of(16),
                "dot4 operands"
            );
            // SAFETY: lengths checked above; AVX2 was detected.
            unsafe { i8_x86::dot4_avx2(kp, x16.as_ptr(), w16.as_ptr(), &mut out) };
        }
        Kernel::AvxVnni => {
            assert!(
                x8.len() >= kp && w8.len() >= 4 * kp && kp.is_multiple_of(32),
                "dot4 operands"
            );
            // SAFETY: lengths checked above; AVX-VNNI was detected.
            unsafe { i8_avxvnni::dot4_avxvnni(kp, x8.as_ptr(), w8.as_ptr(), &mut out) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    super::i8_neon::dot4(kernel, kp, x8, x16, w8, w16, &mut out);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (kernel, kp, x8, x16, w8, w16);
    out
}

/// Runs the chosen micro-kernel on `rows` gathered rows into `acc` (`rows × n`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn micro_kernel(
    kernel: Kernel,
    (rows, n, kp): (usize, usize, usize),
    nr: usize,
    mr: usize,
    a8: &[u8],
    a16: &[i16],
    b8: &[i8],
    b16: &[i16],
    acc: &mut [i32],
) {
    let panels_len = n.div_ceil(nr) * nr * kp;
    assert!(acc.len() >= rows * n, "accumulator too short");
    #[cfg(target_arch = "x86_64")]
    match kernel {
        Kernel::Vnni | Kernel::AvxVnni => {
            assert!(
                a8.len() >= rows * kp && b8.len() >= panels_len,
                "int8 operands too short"
            );
            let g = i8_x86::GemmI8 {
                m: rows,
                n,
                kp,
                a: a8.as_ptr(),
                lda: kp,
                b: b8.as_ptr(),
                c: acc.as_mut_ptr(),
                ldc: n,
                fused: std::ptr::null(),
            };
            // SAFETY: lengths checked above, kp is a multiple of 4, VNNI (AVX-512 or AVX-VNNI)
            // was detected.
            unsafe { run_byte_kernel(kernel, nr, mr, g) }
        }
        Kernel::Avx2 => {
            assert!(
                a16.len() >= rows * kp && b16.len() >= panels_len,
                "int16 operands too short"
            );
            let g = i8_x86::GemmI8 {
                m: rows,
                n,
                kp,
                a: a16.as_ptr(),
                lda: kp,
                b: b16.as_ptr(),
                c: acc.as_mut_ptr(),
                ldc: n,
                fused: std::ptr::null(),
            };
            // SAFETY: lengths checked above, kp is even, AVX2 was detected.
            unsafe {
                match nr {
                    16 => i8_x86::gemm_avx2::<2, 6>(g),
                    _ => i8_x86::gemm_avx2::<1, 8>(g),
                }
            }
        }
    }
    #[cfg(target_arch = "aarch64")]
    super::i8_neon::micro_kernel(kernel, (rows, n, kp), nr, a8, a16, b8, b16, acc);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (kernel, rows, mr, a8, a16, b8, b16, panels_len);
}
