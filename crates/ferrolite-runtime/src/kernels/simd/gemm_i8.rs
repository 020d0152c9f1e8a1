//! 8-bit GEMM with int32 accumulation for quantized CONV_2D and FULLY_CONNECTED, bit-exact with
//! the scalar kernels.
//!
//! The scalar kernels accumulate `Σ (x + input_offset) · (w + filter_offset)` in wrapping int32.
//! The vector kernels multiply an unsigned activation byte `xu` by a signed weight byte `ws`
//! instead, with `x = xu - sx` (`sx` = 128 for int8 activations, 0 for uint8) and `w = ws + sw`
//! (`sw` = 0 for int8 weights, 128 for uint8). Writing `a = input_offset - sx` and
//! `b = filter_offset + sw`,
//!
//! `Σ (x + input_offset)(w + filter_offset) = Σ xu·ws + a·Σws + b·Σxu + k·a·b`,
//!
//! an identity in wrapping int32 arithmetic, so the result is exactly the scalar accumulator.
//! `Σws` is taken per output column while packing the weights, `Σxu` per row while gathering
//! the activations (only when `b ≠ 0`). Padding taps of a convolution gather `xu` of the input
//! zero point, i.e. `x + input_offset = 0`, and so contribute nothing, as in the scalar loop.
//!
//! Per call: the weights are packed (`pack_b`) into per-thread scratch, the activations are
//! gathered block by block (im2col for convolutions), the micro-kernel produces raw int32 dot
//! products and the store adds bias and corrections, requantizes per channel with the caller's
//! [`Rounding`] (see [`super::requant`]) and narrows to the output type. Only 8-bit activation
//! and weight types have a fast path; the drivers return `false` otherwise.

use std::cell::RefCell;

use super::im2col::{with_tap_ranges, PatchGeometry};
use super::pack_i8::{
    activation_shift, block_rows, column_corrections, gather, grow, narrow_rows, pack_b, widen_row,
    Source,
};
use super::requant::{requantize_block_at, RowRequant};
use super::{features, Level};
use crate::kernels::common::compute_padding;
use crate::kernels::conv::Conv2DParams;
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::QuantElem;

#[cfg(target_arch = "x86_64")]
use super::i8_x86;

/// Which micro-kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// AVX-512 VNNI, bytes in groups of four.
    Vnni,
    /// AVX2, int16 in pairs.
    Avx2,
}

impl Kernel {
    fn pick(level: Level) -> Option<Kernel> {
        if !cfg!(target_arch = "x86_64") {
            return None;
        }
        match level {
            Level::Avx512 if features().vnni => Some(Kernel::Vnni),
            Level::Avx512 | Level::Avx2 => Some(Kernel::Avx2),
            Level::Scalar => None,
        }
    }
    /// The dispatch level this kernel belongs to.
    fn level(self) -> Level {
        match self {
            Kernel::Vnni => Level::Avx512,
            Kernel::Avx2 => Level::Avx2,
        }
    }
    /// `k` values per packed group.
    fn group(self) -> usize {
        match self {
            Kernel::Vnni => 4,
            Kernel::Avx2 => 2,
        }
    }
    /// Columns per packed panel for an `n`-column product, and rows per tile.
    fn panel(self, n: usize) -> (usize, usize) {
        match self {
            Kernel::Vnni if n > 32 => (64, 6),
            Kernel::Vnni if n > 16 => (32, 8),
            Kernel::Vnni => (16, 12),
            Kernel::Avx2 if n > 8 => (16, 6),
            Kernel::Avx2 => (8, 8),
        }
    }
}

/// Per-thread buffers reused across calls (taken out of the thread-local for the duration of
/// a call, so no borrow is held while the kernels run).
#[derive(Default)]
struct Scratch {
    a8: Vec<u8>,
    b8: Vec<i8>,
    a16: Vec<i16>,
    b16: Vec<i16>,
    acc: Vec<i32>,
    colsum: Vec<i32>,
    colcorr: Vec<i32>,
    rowsum: Vec<i32>,
    tmp8: Vec<i8>,
    tmp16: Vec<i16>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Bias and requantization of the output columns.
#[derive(Debug, Clone, Copy)]
struct QuantOut<'a> {
    bias: Option<&'a [i32]>,
    multipliers: &'a [i32],
    shifts: &'a [i32],
    rounding: Rounding,
    output_offset: i32,
    act_min: i32,
    act_max: i32,
}

/// One integer product: `out[p · ldo + j] = requant(Σ_k (x_p[k] + in_off) · (w[j][k] + f_off)
/// + bias[j])` for rows `p < m` of `src` and the `n` weight rows of `w` (stride `k`).
#[derive(Clone, Copy)]
struct Problem<'a, T, W> {
    kernel: Kernel,
    src: Source<'a, T>,
    m: usize,
    n: usize,
    k: usize,
    w: &'a [W],
    in_off: i32,
    f_off: i32,
    q: QuantOut<'a>,
    ldo: usize,
}

/// Runs `p` writing into `out`, inside a `#[target_feature]` context matching the kernel.
fn run<T: QuantElem, W: QuantElem>(p: Problem<'_, T, W>, out: &mut [T]) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    let mut s = SCRATCH.with(|c| c.take());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the kernel was picked from run-time detected features (`Kernel::pick`).
    unsafe {
        match p.kernel {
            Kernel::Vnni => run_avx512(p, out, &mut s),
            Kernel::Avx2 => run_avx2(p, out, &mut s),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    run_body(p, out, &mut s);
    SCRATCH.with(|c| c.replace(s));
}

/// [`run_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn run_avx512<T: QuantElem, W: QuantElem>(
    p: Problem<'_, T, W>,
    out: &mut [T],
    s: &mut Scratch,
) {
    run_body(p, out, s);
}

/// [`run_body`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T: QuantElem, W: QuantElem>(
    p: Problem<'_, T, W>,
    out: &mut [T],
    s: &mut Scratch,
) {
    run_body(p, out, s);
}

#[inline(always)]
fn run_body<T: QuantElem, W: QuantElem>(p: Problem<'_, T, W>, out: &mut [T], s: &mut Scratch) {
    let (Some(sx), Some(wx)) = (activation_shift::<T>(), activation_shift::<W>()) else {
        unreachable!("callers check the operand types");
    };
    let Problem {
        kernel,
        src,
        m,
        n,
        k,
        w,
        in_off,
        f_off,
        q,
        ldo,
    } = p;
    let sw = 128 - wx;
    let (a_off, b_off) = (in_off - sx, f_off + sw);
    let pad_xu = sx - in_off;
    let level = kernel.level();
    let requant = |colcorr| RowRequant {
        colcorr,
        multipliers: q.multipliers,
        shifts: q.shifts,
        rounding: q.rounding,
        output_offset: q.output_offset,
        act_min: q.act_min,
        act_max: q.act_max,
    };
    if m <= 2 && matches!(src, Source::Rows { .. }) {
        gemv_rows(kernel, src, (m, n, k), w, (sx, sw, b_off), s);
        column_corrections(&s.colsum, q.bias, (a_off, b_off, k), &mut s.colcorr);
        let rq = requant(&s.colcorr);
        let rowsum = (b_off != 0).then_some((&s.rowsum[..m], b_off));
        let acc = &mut s.acc[..m * n];
        requantize_block_at(level, rq.vector_ok(), acc, n, rowsum, &rq);
        narrow_rows(acc, n, out, 0, ldo);
        return;
    }
    let grp = kernel.group();
    let (nr, mr) = kernel.panel(n);
    let kp = k.div_ceil(grp) * grp;
    let mc = block_rows(kp, n, mr);
    match kernel {
        Kernel::Vnni => pack_b::<_, _, 4>(
            w,
            k,
            (n, k, kp),
            sw,
            nr,
            &mut s.b8,
            &mut s.colsum,
            &mut s.tmp8,
        ),
        Kernel::Avx2 => pack_b::<_, _, 2>(
            w,
            k,
            (n, k, kp),
            sw,
            nr,
            &mut s.b16,
            &mut s.colsum,
            &mut s.tmp16,
        ),
    }
    column_corrections(&s.colsum, q.bias, (a_off, b_off, k), &mut s.colcorr);
    grow(&mut s.acc, mc * n);
    grow(&mut s.rowsum, mc);
    match kernel {
        Kernel::Vnni => grow(&mut s.a8, mc * kp),
        Kernel::Avx2 => grow(&mut s.a16, mc * kp),
    }
    let rq = requant(&s.colcorr);
    let vector_ok = rq.vector_ok();
    let mut p0 = 0;
    while p0 < m {
        let rows = mc.min(m - p0);
        let sums = (b_off != 0).then_some(&mut s.rowsum[..]);
        match kernel {
            Kernel::Vnni => gather(src, p0, rows, (k, kp), sx, pad_xu, &mut s.a8, sums),
            Kernel::Avx2 => gather(src, p0, rows, (k, kp), sx, pad_xu, &mut s.a16, sums),
        }
        let acc = &mut s.acc[..rows * n];
        micro_kernel(
            kernel,
            (rows, n, kp),
            nr,
            mr,
            &s.a8,
            &s.a16,
            &s.b8,
            &s.b16,
            acc,
        );
        let rowsum = (b_off != 0).then_some((&s.rowsum[..rows], b_off));
        requantize_block_at(level, vector_ok, acc, n, rowsum, &rq);
        narrow_rows(acc, n, out, p0, ldo);
        p0 += rows;
    }
}

/// Matrix-vector path for one or two activation rows: no packing; weight rows are widened four
/// at a time into a small buffer and dotted with the gathered rows. Fills `s.acc` (`m × n`),
/// `s.colsum` and (when `b ≠ 0`) `s.rowsum`.
#[inline(always)]
fn gemv_rows<T: QuantElem, W: QuantElem>(
    kernel: Kernel,
    src: Source<'_, T>,
    (m, n, k): (usize, usize, usize),
    w: &[W],
    (sx, sw, b_off): (i32, i32, i32),
    s: &mut Scratch,
) {
    let chunk = match kernel {
        Kernel::Vnni => 64,
        Kernel::Avx2 => 16,
    };
    let kp = k.div_ceil(chunk) * chunk;
    grow(&mut s.acc, m * n);
    s.colsum.resize(n, 0);
    grow(&mut s.rowsum, m);
    let sums = (b_off != 0).then_some(&mut s.rowsum[..]);
    match kernel {
        Kernel::Vnni => {
            grow(&mut s.a8, m * kp);
            grow(&mut s.b8, 4 * kp);
            gather(src, 0, m, (k, kp), sx, 0, &mut s.a8, sums);
        }
        Kernel::Avx2 => {
            grow(&mut s.a16, m * kp);
            grow(&mut s.b16, 4 * kp);
            gather(src, 0, m, (k, kp), sx, 0, &mut s.a16, sums);
        }
    }
    let mut u0 = 0;
    while u0 < n {
        let rows = 4.min(n - u0);
        for r in 0..4 {
            let u = u0 + r.min(rows - 1);
            let src_row = &w[u * k..(u + 1) * k];
            let sum = match kernel {
                Kernel::Vnni => widen_row(src_row, sw, &mut s.b8[r * kp..(r + 1) * kp]),
                Kernel::Avx2 => widen_row(src_row, sw, &mut s.b16[r * kp..(r + 1) * kp]),
            };
            if r < rows {
                s.colsum[u0 + r] = sum;
            }
        }
        for i in 0..m {
            let dots = dot4(kernel, kp, i, s);
            for (r, &d) in dots.iter().enumerate().take(rows) {
                s.acc[i * n + u0 + r] = d;
            }
        }
        u0 += 4;
    }
}

/// Dot products of gathered activation row `i` with the four widened weight rows.
fn dot4(kernel: Kernel, kp: usize, i: usize, s: &Scratch) -> [i32; 4] {
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut out = [0i32; 4];
    #[cfg(target_arch = "x86_64")]
    match kernel {
        Kernel::Vnni => {
            let (x, w) = (&s.a8[i * kp..(i + 1) * kp], &s.b8[..4 * kp]);
            // SAFETY: x holds kp bytes, w four rows of kp, kp is a multiple of 64; VNNI was
            // detected.
            unsafe { i8_x86::dot4_vnni(kp, x.as_ptr(), w.as_ptr(), &mut out) };
        }
        Kernel::Avx2 => {
            let (x, w) = (&s.a16[i * kp..(i + 1) * kp], &s.b16[..4 * kp]);
            // SAFETY: as above with kp a multiple of 16 int16; AVX2 was detected.
            unsafe { i8_x86::dot4_avx2(kp, x.as_ptr(), w.as_ptr(), &mut out) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (kernel, kp, i, s);
    out
}

/// Runs the chosen micro-kernel on `rows` gathered rows into `acc` (`rows × n`).
#[allow(clippy::too_many_arguments)]
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
        Kernel::Vnni => {
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
            };
            // SAFETY: lengths checked above, kp is a multiple of 4, VNNI was detected.
            unsafe {
                match (nr, mr) {
                    (64, _) => i8_x86::gemm_vnni::<4, 6>(g),
                    (32, _) => i8_x86::gemm_vnni::<2, 8>(g),
                    _ => i8_x86::gemm_vnni::<1, 12>(g),
                }
            }
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
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (kernel, rows, mr, a8, a16, b8, b16, panels_len);
}

/// Quantized CONV_2D through the integer GEMM (shapes as accepted by `conv2d_output_shape`).
/// Returns `false` (doing nothing) when there is no fast path for the level or the types.
#[allow(clippy::too_many_arguments)]
pub fn conv2d<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &crate::kernels::quant::conv::QuantConvParams,
    input: &[T],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    output: &mut [T],
    output_shape: [usize; 4],
) -> bool {
    let Some(kernel) = Kernel::pick(level) else {
        return false;
    };
    if activation_shift::<T>().is_none() || activation_shift::<W>().is_none() {
        return false;
    }
    let g: &Conv2DParams = &params.geometry;
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, depth] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(g.padding, in_h, fh, g.stride_h, g.dilation_h);
    let (_, pad_w) = compute_padding(g.padding, in_w, fw, g.stride_w, g.dilation_w);
    let groups = in_c / depth;
    let fpg = out_c / groups;
    let k = fh * fw * depth;
    let pixels = batches * out_h * out_w;
    let pointwise = fh == 1
        && fw == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && pad_h == 0
        && pad_w == 0
        && out_h == in_h
        && out_w == in_w;
    let geo = PatchGeometry {
        in_h,
        in_w,
        in_c,
        fh,
        fw,
        depth,
        stride: (g.stride_h, g.stride_w),
        dilation: (g.dilation_h, g.dilation_w),
        pad: (pad_h, pad_w),
        out_h,
        out_w,
    };
    let per_channel = params.multipliers.len() > 1;
    with_tap_ranges(&geo, |taps| {
        for grp in 0..groups {
            let cols = grp * fpg..(grp + 1) * fpg;
            let src = if pointwise {
                Source::Rows {
                    x: input,
                    ld: in_c,
                    off: grp * depth,
                }
            } else {
                Source::Patches {
                    input,
                    geo: &geo,
                    taps,
                    off: grp * depth,
                }
            };
            let q = QuantOut {
                bias: bias.map(|b| &b[cols.clone()]),
                multipliers: if per_channel {
                    &params.multipliers[cols.clone()]
                } else {
                    &params.multipliers
                },
                shifts: if per_channel {
                    &params.shifts[cols.clone()]
                } else {
                    &params.shifts
                },
                rounding: params.rounding,
                output_offset: params.output_offset,
                act_min: params.act_min,
                act_max: params.act_max,
            };
            let problem = Problem {
                kernel,
                src,
                m: pixels,
                n: fpg,
                k,
                w: &filter[grp * fpg * k..(grp + 1) * fpg * k],
                in_off: params.input_offset,
                f_off: params.filter_offset,
                q,
                ldo: out_c,
            };
            run(problem, &mut output[grp * fpg..]);
        }
    });
    true
}

/// Full-integer FULLY_CONNECTED through the integer GEMM (`input` `[batches, depth]`, `filter`
/// `[units, depth]`). Returns `false` (doing nothing) when there is no fast path.
pub fn fully_connected<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &crate::kernels::quant::fully_connected::QuantFcParams,
    input: &[T],
    filter: &[W],
    bias: Option<&[i32]>,
    depth: usize,
    output: &mut [T],
) -> bool {
    let Some(kernel) = Kernel::pick(level) else {
        return false;
    };
    if depth == 0 || activation_shift::<T>().is_none() || activation_shift::<W>().is_none() {
        return false;
    }
    let units = filter.len() / depth;
    let batches = (input.len() / depth).min(output.len() / units.max(1));
    let q = QuantOut {
        bias,
        multipliers: &params.multipliers,
        shifts: &params.shifts,
        rounding: params.rounding,
        output_offset: params.output_offset,
        act_min: params.act_min,
        act_max: params.act_max,
    };
    let problem = Problem {
        kernel,
        src: Source::Rows {
            x: input,
            ld: depth,
            off: 0,
        },
        m: batches,
        n: units,
        k: depth,
        w: filter,
        in_off: params.input_offset,
        f_off: params.filter_offset,
        q,
        ldo: units,
    };
    run(problem, output);
    true
}
