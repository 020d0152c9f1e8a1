//! Quantized DEPTHWISE_CONV_2D (8-bit operands, depth multiplier 1) vectorized over channels.
//!
//! The input is first widened once to int16 `x + input_offset` and the filter to int32 lanes
//! holding `w + filter_offset` in their low 16 bits (high bits zero), so that `vpmaddwd` of a
//! sign-extended input lane and a filter lane is exactly their product. Per output pixel the
//! valid taps are summed in int32 lanes (wrapping, like the scalar loop; the order does not
//! matter for integers); each output row is then requantized as a block (bias, per-channel
//! multiplier, clamp; [`super::requant`]) and narrowed to the output type. Results are
//! bit-identical to the scalar kernel. The generic conversion loops run inside
//! `#[target_feature]` wrappers so they are vectorized. The widening is done once per call; the
//! output rows are then split across the thread budget ([`super::parallel`]).

use std::cell::RefCell;

use super::dwconv_f32::{DwGeometry, PixelWalker};
use super::im2col::{with_tap_ranges, TapRanges};
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::requant::{requantize_block_at, RowRequant};
use super::Level;
use crate::kernels::quant::conv::QuantConvParams;
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

/// Operands of one call (shapes already checked).
struct Call<'a, T, W> {
    level: Level,
    g: DwGeometry,
    ranges: &'a TapRanges,
    params: &'a QuantConvParams,
    input: &'a [T],
    filter: &'a [W],
    bias: Option<&'a [i32]>,
}

/// Quantized depthwise conv with multiplier 1 and 8-bit operands; returns `false` (doing
/// nothing) otherwise or at the scalar level. Shapes as accepted by
/// `depthwise_conv2d_output_shape`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantConvParams,
    input: &[T],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    bias: Option<&[i32]>,
    output: &mut [T],
    output_shape: [usize; 4],
) -> bool {
    if level == Level::Scalar || !cfg!(target_arch = "x86_64") {
        return false;
    }
    if !is_8bit::<T>() || !is_8bit::<W>() {
        return false;
    }
    let Some(g) = DwGeometry::new(&params.geometry, input_shape, filter_shape, output_shape) else {
        return false;
    };
    let (n_in, n_f, n_out) = g.lens();
    let c = g.channels;
    assert!(
        input.len() >= n_in && filter.len() >= n_f && output.len() >= n_out,
        "depthwise operands too short"
    );
    assert!(
        params.multipliers.len() == 1 || params.multipliers.len() >= c,
        "too few multipliers"
    );
    if let Some(b) = bias {
        assert!(b.len() >= c, "depthwise bias too short");
    }
    let mut s = SCRATCH.with(|cell| cell.take());
    with_tap_ranges(&g.patches(), |ranges| {
        let call = Call {
            level,
            g,
            ranges,
            params,
            input: &input[..n_in],
            filter: &filter[..n_f],
            bias,
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `level` is at most the detected level.
        unsafe {
            if level == Level::Avx512 {
                widen_avx512(&call, &mut s);
            } else {
                widen_avx2(&call, &mut s);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        widen(&call, &mut s);
        let rows = g.batches * g.out_h;
        let threads = useful_threads(n_out * g.fh * g.fw, rows);
        let rows_per = rows.div_ceil(threads);
        let out = SharedMut::new(&mut output[..n_out]);
        let shared = &s;
        let tile = |t: usize| {
            let first = t * rows_per;
            let count = rows_per.min(rows - first);
            let mut acc = ACC.with(|cell| cell.take());
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `level` is at most the detected level.
            unsafe {
                if level == Level::Avx512 {
                    rows_avx512(&call, shared, (first, count), out, &mut acc);
                } else {
                    rows_avx2(&call, shared, (first, count), out, &mut acc);
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            rows_body(&call, shared, (first, count), out, &mut acc);
            ACC.with(|cell| cell.replace(acc));
        };
        run_tiles(rows.div_ceil(rows_per), threads, &tile);
    });
    SCRATCH.with(|cell| cell.replace(s));
    true
}

/// [`widen`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ and AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn widen_avx512<T: QuantElem, W: QuantElem>(call: &Call<'_, T, W>, s: &mut Scratch) {
    widen(call, s);
}

/// [`widen`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn widen_avx2<T: QuantElem, W: QuantElem>(call: &Call<'_, T, W>, s: &mut Scratch) {
    widen(call, s);
}

/// [`rows_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ and AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn rows_avx512<T: QuantElem, W: QuantElem>(
    call: &Call<'_, T, W>,
    s: &Scratch,
    rows: (usize, usize),
    out: SharedMut<T>,
    acc: &mut Vec<i32>,
) {
    rows_body(call, s, rows, out, acc);
}

/// [`rows_body`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2<T: QuantElem, W: QuantElem>(
    call: &Call<'_, T, W>,
    s: &Scratch,
    rows: (usize, usize),
    out: SharedMut<T>,
    acc: &mut Vec<i32>,
) {
    rows_body(call, s, rows, out, acc);
}

/// Widens input and filter and sets up the per-channel corrections (shared by all tiles).
#[inline(always)]
fn widen<T: QuantElem, W: QuantElem>(call: &Call<'_, T, W>, s: &mut Scratch) {
    let p = call.params;
    let c = call.g.channels;
    s.x16.clear();
    s.x16.extend(
        call.input
            .iter()
            .map(|v| (v.to_i32() + p.input_offset) as i16),
    );
    s.w32.clear();
    s.w32.extend(
        call.filter
            .iter()
            .map(|v| (v.to_i32() + p.filter_offset) & 0xffff),
    );
    s.colcorr.clear();
    match call.bias {
        Some(b) => s.colcorr.extend_from_slice(&b[..c]),
        None => s.colcorr.resize(c, 0),
    }
}

/// Output rows `first..first + count` (over batch and y).
#[inline(always)]
fn rows_body<T: QuantElem, W: QuantElem>(
    call: &Call<'_, T, W>,
    s: &Scratch,
    (first, count): (usize, usize),
    out: SharedMut<T>,
    acc_buf: &mut Vec<i32>,
) {
    let (g, p) = (&call.g, call.params);
    let c = g.channels;
    let row_len = g.out_w * c;
    if acc_buf.len() < row_len {
        acc_buf.resize(row_len, 0);
    }
    let q = RowRequant {
        colcorr: &s.colcorr,
        multipliers: &p.multipliers,
        shifts: &p.shifts,
        rounding: p.rounding,
        output_offset: p.output_offset,
        act_min: p.act_min,
        act_max: p.act_max,
    };
    let vector_ok = q.vector_ok();
    let mut walker = PixelWalker::new(g, call.ranges).starting_at(first * g.out_w);
    // SAFETY: this tile alone writes output rows first..first + count; the output stays
    // mutably borrowed by the driver meanwhile.
    let output = unsafe { &mut out.tail(first * row_len)[..count * row_len] };
    for out_row in output.chunks_exact_mut(row_len) {
        for acc in acc_buf[..row_len].chunks_exact_mut(c) {
            let Some((base, taps)) = walker.next_taps() else {
                return;
            };
            #[cfg(target_arch = "x86_64")]
            // SAFETY: x16 / w32 hold the widened input and filter, every tap offset points at a
            // whole pixel / filter row of c values, acc holds c values; the level was detected
            // at run time.
            unsafe {
                let (x, w, acc) = (s.x16.as_ptr(), s.w32.as_ptr(), acc.as_mut_ptr());
                if call.level == Level::Avx512 {
                    dwconv_x86::dw_i8_pixel_avx512(base, taps, x, w, c, acc);
                } else {
                    dwconv_x86::dw_i8_pixel_avx2(base, taps, x, w, c, acc);
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (base, taps, acc);
        }
        requantize_block_at(call.level, vector_ok, &mut acc_buf[..row_len], c, None, &q);
        for (d, &v) in out_row.iter_mut().zip(&acc_buf[..row_len]) {
            *d = T::from_i32_clamped(v);
        }
    }
}
