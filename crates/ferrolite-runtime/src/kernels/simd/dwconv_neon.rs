//! NEON DEPTHWISE_CONV_2D (depth multiplier 1) over channels (aarch64): f32 behind
//! [`super::dwconv_f32::depthwise_conv2d`], 8-bit ([`depthwise_i8`]) behind
//! [`super::dwconv_i8::depthwise_conv2d`].
//!
//! Every output pixel walks its valid taps ([`PixelWalker`]: padding costs nothing) and sums
//! them in the scalar kernel's order (row-major over the window) with fused multiply-adds,
//! channels in blocks of four vectors, then single vectors, then a scalar tail; bias and the
//! NaN-keeping clamp follow, as in the scalar kernel. Output rows are split across the thread
//! budget; a pixel is computed the same way in any split.

use std::arch::aarch64::*;

use super::dwconv_f32::{DwGeometry, PixelWalker};
use super::gemm_f32::Epilogue;
use super::im2col::with_tap_ranges;
use super::pack_i8::activation_shift;
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::requant::requantize_row_scalar;
use super::requant_neon::requant_block;
use crate::kernels::common::clamp_activation;
use crate::kernels::quant::conv::QuantConvProblem;
use crate::kernels::quant::QuantElem;

/// Runs the depthwise conv of geometry `g` (multiplier 1). Panics if an operand is shorter
/// than `g` requires.
pub(super) fn depthwise_f32(
    g: &DwGeometry,
    input: &[f32],
    filter: &[f32],
    epi: Epilogue<'_>,
    output: &mut [f32],
) {
    let (n_in, n_f, n_out) = g.lens();
    assert!(
        input.len() >= n_in && filter.len() >= n_f && output.len() >= n_out,
        "depthwise operands too short"
    );
    let c = g.channels;
    if let Some(b) = epi.bias {
        assert!(b.len() >= c, "depthwise bias too short");
    }
    let pixels = g.batches * g.out_h * g.out_w;
    if pixels == 0 || c == 0 {
        return;
    }
    let out = SharedMut::new(&mut output[..n_out]);
    let rows = g.batches * g.out_h;
    let threads = useful_threads(pixels * c * g.fh * g.fw, rows);
    let rows_per = rows.div_ceil(threads);
    with_tap_ranges(&g.patches(), |ranges| {
        let tile = |t: usize| {
            let first = t * rows_per * g.out_w;
            let count = (rows_per * g.out_w).min(pixels - first);
            // SAFETY: tiles write the disjoint pixel ranges `first..first + count`; the output
            // stays mutably borrowed for the whole call.
            let dst = unsafe { &mut out.tail(first * c)[..count * c] };
            let mut walk = PixelWalker::new(g, ranges).starting_at(first);
            for px in dst.chunks_exact_mut(c) {
                let Some((base, taps)) = walk.next_taps() else {
                    break;
                };
                pixel(c, &input[base..], taps, filter, epi, px);
            }
        };
        run_tiles(rows.div_ceil(rows_per), threads, &tile);
    });
}

/// One output pixel: `out[ch] = clamp(Σ_taps x[ip + ch] · w[fp + ch] + bias[ch])`.
#[inline]
fn pixel(
    c: usize,
    x: &[f32],
    taps: &[(usize, usize)],
    w: &[f32],
    epi: Epilogue<'_>,
    out: &mut [f32],
) {
    // Every tap reads `c` values at `ip` and `fp`; checked once so the loops below need no
    // bounds checks.
    for &(ip, fp) in taps {
        assert!(
            ip + c <= x.len() && fp + c <= w.len(),
            "depthwise tap out of range"
        );
    }
    let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
    let mut ch = 0;
    // SAFETY: `ch + 16 ≤ c` (or `ch + 4 ≤ c`) and the taps were checked above; `out` holds `c`.
    unsafe {
        let (min, max) = (vdupq_n_f32(epi.min), vdupq_n_f32(epi.max));
        while ch + 16 <= c {
            let mut acc = [vdupq_n_f32(0.0); 4];
            for &(ip, fp) in taps {
                for (v, a) in acc.iter_mut().enumerate() {
                    let xv = vld1q_f32(xp.add(ip + ch + 4 * v));
                    *a = vfmaq_f32(*a, xv, vld1q_f32(wp.add(fp + ch + 4 * v)));
                }
            }
            for (v, a) in acc.iter().enumerate() {
                let r = finish(*a, epi.bias, ch + 4 * v, min, max);
                vst1q_f32(op.add(ch + 4 * v), r);
            }
            ch += 16;
        }
        while ch + 4 <= c {
            let mut acc = vdupq_n_f32(0.0);
            for &(ip, fp) in taps {
                acc = vfmaq_f32(acc, vld1q_f32(xp.add(ip + ch)), vld1q_f32(wp.add(fp + ch)));
            }
            vst1q_f32(op.add(ch), finish(acc, epi.bias, ch, min, max));
            ch += 4;
        }
    }
    for (o, ch) in out[ch..c].iter_mut().zip(ch..c) {
        let mut acc = 0f32;
        for &(ip, fp) in taps {
            acc = x[ip + ch].mul_add(w[fp + ch], acc);
        }
        *o = clamp_activation(acc + epi.bias.map_or(0.0, |b| b[ch]), epi.min, epi.max);
    }
}

/// Bias (channels `ch..ch + 4`) and the NaN-keeping clamp.
///
/// # Safety
/// `bias`, when given, holds at least `ch + 4` values.
#[inline(always)]
unsafe fn finish(
    acc: float32x4_t,
    bias: Option<&[f32]>,
    ch: usize,
    min: float32x4_t,
    max: float32x4_t,
) -> float32x4_t {
    // SAFETY: per the contract.
    unsafe {
        let v = match bias {
            Some(b) => vaddq_f32(acc, vld1q_f32(b.as_ptr().add(ch))),
            None => acc,
        };
        let v = vbslq_f32(vcltq_f32(v, min), min, v);
        vbslq_f32(vcgtq_f32(v, max), max, v)
    }
}

/// Quantized DEPTHWISE_CONV_2D (multiplier 1, 8-bit input `T` and filter `W`), bit-exact with
/// the scalar kernel: per pixel and channel `Σ_taps (x + input_offset) · (w + filter_offset)`
/// in int32 lanes (`smlal` on int16 operands, exact: both factors fit in int16), then bias,
/// requantization ([`super::requant_neon`]) and narrowing. Returns `false` (doing nothing) for
/// other types, multipliers or offsets outside int16-safe ranges.
pub(super) fn depthwise_i8<T: QuantElem, W: QuantElem>(
    problem: &QuantConvProblem<'_, T, W>,
    output: &mut [T],
) -> bool {
    let (params, input, filter) = (problem.params, problem.input, problem.filter);
    let (in_off, f_off) = (params.input_offset, params.filter_offset);
    if activation_shift::<T>().is_none()
        || activation_shift::<W>().is_none()
        || !(-255..=255).contains(&in_off)
        || !(-255..=255).contains(&f_off)
    {
        return false;
    }
    let Some(g) = problem.dw_geometry() else {
        return false;
    };
    let (n_in, n_f, n_out) = g.lens();
    let c = g.channels;
    if input.len() < n_in
        || filter.len() < n_f
        || output.len() < n_out
        || !params.covers(c)
        || params.shifts.is_empty()
        || problem.bias.is_some_and(|b| b.len() < c)
    {
        return false;
    }
    let pixels = g.batches * g.out_h * g.out_w;
    if pixels == 0 || c == 0 {
        return true;
    }
    // Offset filter, widened once (it is small): `w + filter_offset` fits in int16.
    let w16: Vec<i16> = filter[..n_f]
        .iter()
        .map(|w| (w.to_i32() + f_off) as i16)
        .collect();
    let mut colcorr = Vec::new();
    problem.bias_into(c, &mut colcorr);
    let rq = params.requant(0..c, &colcorr);
    let vector_ok = rq.vector_ok();
    let signed = T::MIN < 0;
    // SAFETY: `T` is a one-byte integer type (checked by `activation_shift`), so its elements
    // are valid bytes and the byte length equals the element count.
    let x8 = unsafe { std::slice::from_raw_parts(input.as_ptr().cast::<u8>(), n_in) };
    let out = SharedMut::new(&mut output[..n_out]);
    let rows = g.batches * g.out_h;
    let threads = useful_threads(pixels * c * g.fh * g.fw, rows);
    let rows_per = rows.div_ceil(threads);
    with_tap_ranges(&g.patches(), |ranges| {
        let tile = |t: usize| {
            let first = t * rows_per * g.out_w;
            let count = (rows_per * g.out_w).min(pixels - first);
            // SAFETY: tiles write the disjoint pixel ranges `first..first + count`; the output
            // stays mutably borrowed for the whole call.
            let dst = unsafe { &mut out.tail(first * c)[..count * c] };
            let mut acc = vec![0i32; c];
            let mut walk = PixelWalker::new(&g, ranges).starting_at(first);
            for px in dst.chunks_exact_mut(c) {
                let Some((base, taps)) = walk.next_taps() else {
                    break;
                };
                pixel_i8(&x8[base..], signed, in_off, taps, &w16, &mut acc);
                if vector_ok {
                    requant_block(&mut acc, c, None, &rq);
                } else {
                    requantize_row_scalar(&mut acc, 0, &rq);
                }
                for (o, &v) in px.iter_mut().zip(&acc) {
                    *o = T::from_i32_clamped(v);
                }
            }
        };
        run_tiles(rows.div_ceil(rows_per), threads, &tile);
    });
    true
}

/// One pixel's raw sums `acc[ch] = Σ_taps (x[ip + ch] + in_off) · w16[fp + ch]` (`x` bytes of
/// a signed or unsigned 8-bit type).
fn pixel_i8(
    x: &[u8],
    signed: bool,
    in_off: i32,
    taps: &[(usize, usize)],
    w16: &[i16],
    acc: &mut [i32],
) {
    let c = acc.len();
    for &(ip, fp) in taps {
        assert!(
            ip + c <= x.len() && fp + c <= w16.len(),
            "depthwise tap out of range"
        );
    }
    let widen = |v: u8| {
        if signed {
            i32::from(v as i8)
        } else {
            i32::from(v)
        }
    };
    let (xp, wp, ap) = (x.as_ptr(), w16.as_ptr(), acc.as_mut_ptr());
    let mut ch = 0;
    // SAFETY: `ch + 8 ≤ c` and every tap was checked above; `acc` holds `c` values.
    unsafe {
        let off = vdupq_n_s16(in_off as i16);
        while ch + 8 <= c {
            let (mut lo, mut hi) = (vdupq_n_s32(0), vdupq_n_s32(0));
            for &(ip, fp) in taps {
                let raw = vld1_u8(xp.add(ip + ch));
                let xv = if signed {
                    vmovl_s8(vreinterpret_s8_u8(raw))
                } else {
                    vreinterpretq_s16_u16(vmovl_u8(raw))
                };
                let xv = vaddq_s16(xv, off);
                let wv = vld1q_s16(wp.add(fp + ch));
                lo = vmlal_s16(lo, vget_low_s16(xv), vget_low_s16(wv));
                hi = vmlal_high_s16(hi, xv, wv);
            }
            vst1q_s32(ap.add(ch), lo);
            vst1q_s32(ap.add(ch + 4), hi);
            ch += 8;
        }
    }
    for (a, ch) in acc[ch..].iter_mut().zip(ch..c) {
        *a = taps.iter().fold(0i32, |s, &(ip, fp)| {
            s.wrapping_add((widen(x[ip + ch]) + in_off) * i32::from(w16[fp + ch]))
        });
    }
}
