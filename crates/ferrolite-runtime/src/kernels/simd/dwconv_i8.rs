//! Quantized DEPTHWISE_CONV_2D (8-bit operands, depth multiplier 1) vectorized over channels.
//!
//! The input is first widened once to int16 `x + input_offset` and the filter to int32 lanes
//! holding `w + filter_offset` in their low 16 bits (high bits zero), so that `vpmaddwd` of a
//! sign-extended input lane and a filter lane is exactly their product. Per output pixel the
//! valid taps are summed in int32 lanes (wrapping, like the scalar loop; the order does not
//! matter for integers); each output row is then requantized as a block (bias, per-channel
//! multiplier, clamp; [`super::requant`]) and narrowed to the output type. Results are
//! bit-identical to the scalar kernel. The generic conversion loops run inside
//! `#[target_feature]` wrappers so they are vectorized.

use std::cell::RefCell;

use super::dwconv_f32::{DwGeometry, PixelWalker};
use super::im2col::{with_tap_ranges, TapRanges};
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
    acc: Vec<i32>,
    colcorr: Vec<i32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
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
                run_avx512(&call, &mut output[..n_out], &mut s);
            } else {
                run_avx2(&call, &mut output[..n_out], &mut s);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        run_body(&call, &mut output[..n_out], &mut s);
    });
    SCRATCH.with(|cell| cell.replace(s));
    true
}

/// [`run_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ and AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn run_avx512<T: QuantElem, W: QuantElem>(
    call: &Call<'_, T, W>,
    output: &mut [T],
    s: &mut Scratch,
) {
    run_body(call, output, s);
}

/// [`run_body`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T: QuantElem, W: QuantElem>(
    call: &Call<'_, T, W>,
    output: &mut [T],
    s: &mut Scratch,
) {
    run_body(call, output, s);
}

#[inline(always)]
fn run_body<T: QuantElem, W: QuantElem>(call: &Call<'_, T, W>, output: &mut [T], s: &mut Scratch) {
    let (g, p) = (&call.g, call.params);
    let c = g.channels;
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
    let row_len = g.out_w * c;
    if s.acc.len() < row_len {
        s.acc.resize(row_len, 0);
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
    let mut walker = PixelWalker::new(g, call.ranges);
    for out_row in output.chunks_exact_mut(row_len) {
        for acc in s.acc[..row_len].chunks_exact_mut(c) {
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
        requantize_block_at(call.level, vector_ok, &mut s.acc[..row_len], c, None, &q);
        for (d, &v) in out_row.iter_mut().zip(&s.acc[..row_len]) {
            *d = T::from_i32_clamped(v);
        }
    }
}
