//! Quantized DEPTHWISE_CONV_2D (8-bit operands, depth multiplier 1) vectorized over channels.
//!
//! The 8-bit input is read directly: each tap's channels are sign- or zero-extended to int32
//! lanes and offset by `input_offset` in registers, and multiplied (`vpmaddwd`) with filter lanes
//! holding `w + filter_offset` in their low 16 bits (high bits zero; the filter is widened once per
//! call, it is small), which gives exactly `(x + input_offset) · (w + filter_offset)`. Per output
//! pixel the valid taps are summed in int32 lanes (wrapping, like the scalar loop; the order does
//! not matter for integers); each output row is then finished as a block — requantized (bias,
//! per-channel multiplier, clamp; [`super::requant`]) and narrowed for int8 / uint8 outputs, or
//! scaled to f32 for the dynamic-range (hybrid) kernel ([`hybrid_depthwise_conv2d`]). Results are
//! bit-identical to the scalar kernels. Output rows are split across the thread budget
//! ([`super::parallel`]). The same pass runs CONV_2D over 1–4 input channels directly
//! ([`conv2d_direct`], a network's first layer), where im2col would cost more than the product.

use std::cell::RefCell;

use super::dwconv_f32::DwGeometry;
#[cfg(target_arch = "x86_64")]
use super::dwconv_f32::PixelWalker;
use super::im2col::{with_tap_ranges, TapRanges};
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::requant::requantize_block_at;
use super::Level;
use crate::kernels::common::compute_padding;
use crate::kernels::conv::Conv2DParams;
use crate::kernels::quant::conv::QuantConvProblem;
use crate::kernels::quant::QuantElem;

#[cfg(target_arch = "x86_64")]
use super::dwconv_x86;

#[derive(Default)]
struct Scratch {
    x16: Vec<i16>,
    w32: Vec<i32>,
    colcorr: Vec<i32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    static ACC: RefCell<Vec<i32>> = const { RefCell::new(Vec::new()) };
}

fn is_8bit<Q: QuantElem>() -> bool {
    matches!((Q::MIN, Q::MAX), (-128, 127) | (0, 255))
}

/// The accumulation pass of one call (shapes already checked).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Accumulate<'a> {
    level: Level,
    g: DwGeometry,
    ranges: &'a TapRanges,
    /// The 8-bit input's bytes.
    input: &'a [u8],
    /// Whether those bytes are `u8` (zero-extended) rather than `i8`.
    unsigned: bool,
    input_offset: i32,
    /// Offset filter values in the low 16 bits of each lane.
    w32: &'a [i32],
    /// Accumulators per output pixel (`g.channels` for depthwise).
    out_c: usize,
    /// A direct CONV_2D ([`conv2d_direct`]) rather than a depthwise conv: the input is `x16`
    /// with `g.channels` (even) offset channels per pixel, `w32` holds pairs of offset weights
    /// as `[(fy, fx, channel pair)][out_c]`.
    direct: bool,
    /// The widened input of a direct conv (empty otherwise).
    x16: &'a [i16],
}

/// Reinterprets an 8-bit quantized slice as bytes.
fn as_bytes<T: QuantElem>(v: &[T]) -> &[u8] {
    assert!(
        std::mem::size_of::<T>() == 1 && is_8bit::<T>(),
        "not an 8-bit type"
    );
    // SAFETY: `T` is a one-byte plain integer type (i8 or u8), so every byte pattern is a
    // valid u8 and the length in bytes equals the element count.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len()) }
}

/// Quantized depthwise conv with multiplier 1 and 8-bit operands; returns `false` (doing
/// nothing) otherwise or at the scalar level. Shapes as accepted by
/// `depthwise_conv2d_output_shape`.
pub fn depthwise_conv2d<T: QuantElem, W: QuantElem>(
    level: Level,
    problem: &QuantConvProblem<'_, T, W>,
    output: &mut [T],
) -> bool {
    if super::dwconv_vnni::depthwise_conv2d(level, problem, None, output) {
        return true;
    }
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon {
        return super::dwconv_neon::depthwise_i8(problem, output);
    }
    let (params, input, filter) = (problem.params, problem.input, problem.filter);
    if level == Level::Scalar || !cfg!(target_arch = "x86_64") {
        return false;
    }
    if !is_8bit::<T>() || !is_8bit::<W>() {
        return false;
    }
    let Some(g) = problem.dw_geometry() else {
        return false;
    };
    let (n_in, n_f, n_out) = g.lens();
    let c = g.channels;
    assert!(
        input.len() >= n_in && filter.len() >= n_f && output.len() >= n_out,
        "depthwise operands too short"
    );
    assert!(params.covers(c), "too few multipliers");
    if let Some(b) = problem.bias {
        assert!(b.len() >= c, "depthwise bias too short");
    }
    let mut s = SCRATCH.with(|cell| cell.take());
    s.w32.clear();
    s.w32.extend(
        filter[..n_f]
            .iter()
            .map(|v| (v.to_i32() + params.filter_offset) & 0xffff),
    );
    problem.bias_into(c, &mut s.colcorr);
    let q = params.requant(0..c, &s.colcorr);
    let vector_ok = q.vector_ok();
    let row_len = g.out_w * c;
    let out = SharedMut::new(&mut output[..n_out]);
    with_tap_ranges(&g.patches(), |ranges| {
        let pass = Accumulate {
            level,
            g,
            ranges,
            input: as_bytes(&input[..n_in]),
            unsigned: T::MIN == 0,
            input_offset: params.input_offset,
            w32: &s.w32,
            out_c: c,
            direct: false,
            x16: &[],
        };
        accumulate(&pass, |row: usize, acc: &mut [i32]| {
            requantize_block_at(level, vector_ok, acc, c, None, &q);
            // SAFETY: only the tile computing output row `row` writes it; the output stays
            // mutably borrowed by this function meanwhile.
            let dst = unsafe { &mut out.tail(row * row_len)[..row_len] };
            for (d, &v) in dst.iter_mut().zip(acc.iter()) {
                *d = T::from_i32_clamped(v);
            }
        });
    });
    SCRATCH.with(|cell| cell.replace(s));
    true
}

/// Float parameters of a dynamic-range depthwise call (see [`hybrid_depthwise_conv2d`]).
pub struct HybridDw<'a> {
    /// Scale of the quantized input image.
    pub input_scale: f32,
    /// Zero point of the quantized input image.
    pub input_zero_point: i32,
    /// One filter scale per channel.
    pub filter_scales: &'a [f32],
    /// Optional float bias per channel.
    pub bias: Option<&'a [f32]>,
    /// Activation clamp (applied as `max(lo)` then `min(hi)`).
    pub act: (f32, f32),
}

/// The integer part of the dynamic-range DEPTHWISE_CONV_2D (multiplier 1) on one already
/// quantized batch image `q` (`input_shape[0]` must be 1), finished in f32 exactly like
/// `quant::hybrid_depthwise`: `acc · input_scale · filter_scale[c] (+ bias)`, then the clamp.
/// Returns `false` (doing nothing) at the scalar level or for other multipliers.
#[allow(clippy::too_many_arguments)]
pub fn hybrid_depthwise_conv2d(
    level: Level,
    params: &Conv2DParams,
    hp: &HybridDw<'_>,
    q: &[i8],
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    output: &mut [f32],
    output_shape: [usize; 4],
) -> bool {
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon {
        return super::hybrid_neon::hybrid_depthwise(
            params,
            hp,
            q,
            input_shape,
            filter,
            filter_shape,
            output,
            output_shape,
        );
    }
    if level == Level::Scalar || !cfg!(target_arch = "x86_64") || input_shape[0] != 1 {
        return false;
    }
    let Some(g) = DwGeometry::new(params, input_shape, filter_shape, output_shape) else {
        return false;
    };
    let (n_in, n_f, n_out) = g.lens();
    let c = g.channels;
    assert!(
        q.len() >= n_in && filter.len() >= n_f && output.len() >= n_out,
        "depthwise operands too short"
    );
    assert!(hp.filter_scales.len() >= c, "too few filter scales");
    if let Some(b) = hp.bias {
        assert!(b.len() >= c, "depthwise bias too short");
    }
    let mut s = SCRATCH.with(|cell| cell.take());
    s.w32.clear();
    s.w32
        .extend(filter[..n_f].iter().map(|&v| i32::from(v) & 0xffff));
    let row_len = g.out_w * c;
    let out = SharedMut::new(&mut output[..n_out]);
    let (lo, hi) = hp.act;
    let scales = &hp.filter_scales[..c];
    with_tap_ranges(&g.patches(), |ranges| {
        let pass = Accumulate {
            level,
            g,
            ranges,
            input: as_bytes(&q[..n_in]),
            unsigned: false,
            input_offset: -hp.input_zero_point,
            w32: &s.w32,
            out_c: c,
            direct: false,
            x16: &[],
        };
        accumulate(&pass, |row: usize, acc: &mut [i32]| {
            // SAFETY: only the tile computing output row `row` writes it; the output stays
            // mutably borrowed by this function meanwhile.
            let dst = unsafe { &mut out.tail(row * row_len)[..row_len] };
            for (dpx, apx) in dst.chunks_exact_mut(c).zip(acc.chunks_exact(c)) {
                match hp.bias {
                    Some(b) => {
                        for (((d, &a), &fs), &bv) in dpx.iter_mut().zip(apx).zip(scales).zip(b) {
                            let v = a as f32 * hp.input_scale * fs + bv;
                            *d = v.max(lo).min(hi);
                        }
                    }
                    None => {
                        for ((d, &a), &fs) in dpx.iter_mut().zip(apx).zip(scales) {
                            let v = a as f32 * hp.input_scale * fs;
                            *d = v.max(lo).min(hi);
                        }
                    }
                }
            }
        });
    });
    SCRATCH.with(|cell| cell.replace(s));
    true
}

/// Runs the accumulation over all output rows (split across the thread budget), calling
/// `finish(row, acc)` with each row's `out_w · channels` accumulators.
fn accumulate<F: Fn(usize, &mut [i32]) + Sync>(pass: &Accumulate<'_>, finish: F) {
    let g = &pass.g;
    let (_, _, n_out) = g.lens();
    let rows = g.batches * g.out_h;
    if rows == 0 || g.out_w == 0 || g.channels == 0 || pass.out_c == 0 {
        return;
    }
    let work = n_out / g.channels * pass.out_c * g.fh * g.fw;
    let threads = useful_threads(if pass.direct { work * g.channels } else { work }, rows);
    let rows_per = rows.div_ceil(threads);
    let tile = |t: usize| {
        let first = t * rows_per;
        let count = rows_per.min(rows - first);
        let mut acc = ACC.with(|cell| cell.take());
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level` is at most the detected level.
        unsafe {
            if pass.level == Level::Avx512 {
                rows_avx512(pass, (first, count), &finish, &mut acc);
            } else {
                rows_avx2(pass, (first, count), &finish, &mut acc);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (first, count, &finish, &mut acc);
        ACC.with(|cell| cell.replace(acc));
    };
    run_tiles(rows.div_ceil(rows_per), threads, &tile);
}

/// [`rows_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ and AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn rows_avx512<F: Fn(usize, &mut [i32])>(
    pass: &Accumulate<'_>,
    rows: (usize, usize),
    finish: &F,
    acc: &mut Vec<i32>,
) {
    rows_body(pass, rows, finish, acc);
}

/// [`rows_body`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2<F: Fn(usize, &mut [i32])>(
    pass: &Accumulate<'_>,
    rows: (usize, usize),
    finish: &F,
    acc: &mut Vec<i32>,
) {
    rows_body(pass, rows, finish, acc);
}

/// Output rows `first..first + count` (over batch and y).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rows_body<F: Fn(usize, &mut [i32])>(
    pass: &Accumulate<'_>,
    (first, count): (usize, usize),
    finish: &F,
    acc_buf: &mut Vec<i32>,
) {
    let g = &pass.g;
    let (c, n) = (g.channels, pass.out_c);
    let row_len = g.out_w * n;
    if acc_buf.len() < row_len {
        acc_buf.resize(row_len, 0);
    }
    let (x, w, off) = (pass.input.as_ptr(), pass.w32.as_ptr(), pass.input_offset);
    let mut walker = PixelWalker::new(g, pass.ranges).starting_at(first * g.out_w);
    for row in first..first + count {
        for acc in acc_buf[..row_len].chunks_exact_mut(n) {
            let Some((base, taps)) = walker.next_taps() else {
                return;
            };
            if pass.direct {
                // SAFETY: as below, with filter rows of n values per tap and input channel.
                unsafe { direct_pixel(pass, base, taps, acc) };
                continue;
            }
            // SAFETY: `input` / `w32` hold the whole input and filter, every tap offset points at
            // a whole pixel / filter row of c values, acc holds c values; the level was
            // detected at run time.
            unsafe {
                let acc = acc.as_mut_ptr();
                match (pass.level == Level::Avx512, pass.unsigned) {
                    (true, true) => {
                        dwconv_x86::dw_i8_pixel_avx512::<true>(base, taps, x, off, w, c, acc)
                    }
                    (true, false) => {
                        dwconv_x86::dw_i8_pixel_avx512::<false>(base, taps, x, off, w, c, acc)
                    }
                    (false, true) => {
                        dwconv_x86::dw_i8_pixel_avx2::<true>(base, taps, x, off, w, c, acc)
                    }
                    (false, false) => {
                        dwconv_x86::dw_i8_pixel_avx2::<false>(base, taps, x, off, w, c, acc)
                    }
                }
            }
        }
        finish(row, &mut acc_buf[..row_len]);
    }
}

/// One pixel of the direct conv, dispatched on level and channel-pair count.
///
/// # Safety
/// The level was detected; `pass` describes a direct conv (`g.channels` 2 or 4) whose operands
/// hold the whole widened input and paired filter; `taps` come from its walker.
#[cfg(target_arch = "x86_64")]
unsafe fn direct_pixel(
    pass: &Accumulate<'_>,
    base: usize,
    taps: &[(usize, usize)],
    acc: &mut [i32],
) {
    use dwconv_x86::{conv_i8_pixel_avx2 as v2, conv_i8_pixel_avx512 as v5};
    let (x, w, n) = (pass.x16.as_ptr(), pass.w32.as_ptr(), pass.out_c);
    let a = acc.as_mut_ptr();
    // SAFETY: forwarded from the caller.
    unsafe {
        match (pass.level == Level::Avx512, pass.g.channels) {
            (true, 2) => v5::<1>(base, taps, x, w, n, a),
            (true, _) => v5::<2>(base, taps, x, w, n, a),
            (false, 2) => v2::<1>(base, taps, x, w, n, a),
            (false, _) => v2::<2>(base, taps, x, w, n, a),
        }
    }
}

/// Whether [`conv2d_direct`] takes a CONV_2D with this input / filter shape.
pub(crate) fn direct_eligible<T: QuantElem, W: QuantElem>(
    level: Level,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
) -> bool {
    let [n, fh, fw, depth] = filter_shape;
    level != Level::Scalar
        && cfg!(target_arch = "x86_64")
        && is_8bit::<T>()
        && is_8bit::<W>()
        && depth == input_shape[3]
        && (1..=4).contains(&depth)
        && (1..=64).contains(&n)
        && fh * fw <= 49
}

/// Quantized CONV_2D over 1–4 input channels (a network's first layer) computed directly, without
/// im2col: every output pixel walks its valid taps and broadcasts each offset input value against
/// the offset weights of up to 16 output channels; rows are requantized like the depthwise
/// kernel's. Returns `false` (doing nothing) unless [`direct_eligible`]. Bit-identical to the
/// scalar kernel (padding taps contribute nothing in both).
pub fn conv2d_direct<T: QuantElem, W: QuantElem>(
    level: Level,
    problem: &QuantConvProblem<'_, T, W>,
    output: &mut [T],
) -> bool {
    if !direct_eligible::<T, W>(level, problem.input_shape, problem.filter_shape) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if super::conv_vnni::conv2d(level, problem, output) {
        return true;
    }
    let (params, input, filter) = (problem.params, problem.input, problem.filter);
    let [batches, in_h, in_w, c] = problem.input_shape;
    let [n, fh, fw, _] = problem.filter_shape;
    let output_shape = problem.output_shape;
    // Channels padded to an even count, processed in pairs.
    let (pairs, c2) = (c.div_ceil(2), c.div_ceil(2) * 2);
    let p = &params.geometry;
    let (_, pad_h) = compute_padding(p.padding, in_h, fh, p.stride_h, p.dilation_h);
    let (_, pad_w) = compute_padding(p.padding, in_w, fw, p.stride_w, p.dilation_w);
    let g = DwGeometry {
        batches,
        in_h,
        in_w,
        channels: c2,
        fh,
        fw,
        stride: (p.stride_h, p.stride_w),
        dilation: (p.dilation_h, p.dilation_w),
        pad: (pad_h, pad_w),
        out_h: output_shape[1],
        out_w: output_shape[2],
    };
    let k = fh * fw * c;
    let n_in = batches * in_h * in_w * c;
    let n_out = batches * g.out_h * g.out_w * n;
    assert!(
        input.len() >= n_in && filter.len() >= n * k && output.len() >= n_out,
        "conv operands too short"
    );
    assert!(params.covers(n), "too few multipliers");
    if let Some(b) = problem.bias {
        assert!(b.len() >= n, "conv bias too short");
    }
    let mut s = SCRATCH.with(|cell| cell.take());
    s.w32.clear();
    s.w32.resize(fh * fw * pairs * n, 0);
    for (j, row) in filter[..n * k].chunks_exact(k).enumerate() {
        for (t, tap) in row.chunks_exact(c).enumerate() {
            for (ci, v) in tap.iter().enumerate() {
                let half = ((v.to_i32() + params.filter_offset) & 0xffff) << (16 * (ci % 2));
                s.w32[(t * pairs + ci / 2) * n + j] |= half;
            }
        }
    }
    s.x16.clear();
    s.x16.resize(batches * in_h * in_w * c2, 0);
    let (x, x16, off) = (&input[..n_in], &mut s.x16[..], params.input_offset);
    match c {
        1 => widen_pixels::<T, 1, 2>(x, x16, off),
        2 => widen_pixels::<T, 2, 2>(x, x16, off),
        3 => widen_pixels::<T, 3, 4>(x, x16, off),
        _ => widen_pixels::<T, 4, 4>(x, x16, off),
    }
    problem.bias_into(n, &mut s.colcorr);
    let q = params.requant(0..n, &s.colcorr);
    let vector_ok = q.vector_ok();
    let row_len = g.out_w * n;
    let out = SharedMut::new(&mut output[..n_out]);
    with_tap_ranges(&g.patches(), |ranges| {
        let pass = Accumulate {
            level,
            g,
            ranges,
            input: as_bytes(&input[..n_in]),
            unsigned: T::MIN == 0,
            input_offset: params.input_offset,
            w32: &s.w32,
            out_c: n,
            direct: true,
            x16: &s.x16,
        };
        accumulate(&pass, |row: usize, acc: &mut [i32]| {
            requantize_block_at(level, vector_ok, acc, n, None, &q);
            // SAFETY: only the tile computing output row `row` writes it; the output stays
            // mutably borrowed by this function meanwhile.
            let dst = unsafe { &mut out.tail(row * row_len)[..row_len] };
            for (d, &v) in dst.iter_mut().zip(acc.iter()) {
                *d = T::from_i32_clamped(v);
            }
        });
    });
    SCRATCH.with(|cell| cell.replace(s));
    true
}

/// `x16[p · C2 + ci] = x[p · C + ci] + offset` for every pixel `p` (channels `C..C2` stay as
/// they are, zero); constant strides let the loop unroll.
fn widen_pixels<T: QuantElem, const C: usize, const C2: usize>(
    x: &[T],
    x16: &mut [i16],
    offset: i32,
) {
    for (d, px) in x16.chunks_exact_mut(C2).zip(x.chunks_exact(C)) {
        for ci in 0..C {
            d[ci] = (px[ci].to_i32() + offset) as i16;
        }
    }
}
