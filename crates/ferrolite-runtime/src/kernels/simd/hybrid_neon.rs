//! NEON dynamic-range ("hybrid") DEPTHWISE_CONV_2D (depth multiplier 1, aarch64): the integer
//! part on one already quantized batch image, behind
//! [`super::dwconv_i8::hybrid_depthwise_conv2d`].
//!
//! Each output pixel walks its valid taps ([`PixelWalker`], so padding contributes nothing) and
//! accumulates `w · (q - zero_point)` per channel in int32 lanes with `smlal` on int16 operands
//! (both factors fit: `q - zp` lies in `[-255, 255]`, `w` in `[-128, 127]`; int32 sums wrap like
//! the scalar `wrapping_add`, and integer sums do not depend on the order). The f32 finish
//! repeats the scalar arithmetic lane-wise — convert, `· input_scale`, `· filter_scale`,
//! `+ bias` as separate operations (never fused), then `max(lo)` / `min(hi)` as `fmaxnm` /
//! `fminnm`, which treat a NaN operand like Rust's `f32::max` / `f32::min` — so results are
//! bit-identical to `quant::hybrid_depthwise`'s scalar loop. Output rows are split across the
//! thread budget; a pixel is computed the same way in any split. Verified under qemu-user only;
//! timings on real hardware are unmeasured.

use std::arch::aarch64::*;

use super::dwconv_f32::{DwGeometry, PixelWalker};
use super::dwconv_i8::HybridDw;
use super::im2col::with_tap_ranges;
use super::parallel::{run_tiles, useful_threads, SharedMut};
use crate::kernels::conv::Conv2DParams;

/// The hybrid depthwise conv (depth multiplier one) of one quantized image `q` (a batch of one)
/// into the f32 `output`. Returns `false` (doing nothing) for other multipliers or batch sizes,
/// zero points outside int8 or operands shorter than the shapes require.
#[allow(clippy::too_many_arguments)]
pub(super) fn hybrid_depthwise(
    params: &Conv2DParams,
    hp: &HybridDw<'_>,
    q: &[i8],
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    output: &mut [f32],
    output_shape: [usize; 4],
) -> bool {
    if input_shape[0] != 1 || !(-128..=127).contains(&hp.input_zero_point) {
        return false;
    }
    let Some(g) = DwGeometry::new(params, input_shape, filter_shape, output_shape) else {
        return false;
    };
    let (n_in, n_f, n_out) = g.lens();
    let c = g.channels;
    if q.len() < n_in
        || filter.len() < n_f
        || output.len() < n_out
        || hp.filter_scales.len() < c
        || hp.bias.is_some_and(|b| b.len() < c)
    {
        return false;
    }
    let pixels = g.out_h * g.out_w;
    if pixels == 0 || c == 0 {
        return true;
    }
    let out = SharedMut::new(&mut output[..n_out]);
    let rows = g.out_h;
    let threads = useful_threads(pixels * c * g.fh * g.fw, rows);
    let rows_per = rows.div_ceil(threads);
    let finish = Finish {
        scale: hp.input_scale,
        filter_scales: &hp.filter_scales[..c],
        bias: hp.bias.map(|b| &b[..c]),
        act: hp.act,
    };
    let (q, filter) = (&q[..n_in], &filter[..n_f]);
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
                accumulate(&q[base..], -hp.input_zero_point, taps, filter, &mut acc);
                finish.store(&acc, px);
            }
        };
        run_tiles(rows.div_ceil(rows_per), threads, &tile);
    });
    true
}

/// One pixel's sums `acc[ch] = Σ_taps w[fp + ch] · (x[ip + ch] + off)` (wrapping int32);
/// `off` lies in `[-127, 128]`. Panics if a tap reaches past `x` or `w`.
fn accumulate(x: &[i8], off: i32, taps: &[(usize, usize)], w: &[i8], acc: &mut [i32]) {
    let c = acc.len();
    for &(ip, fp) in taps {
        assert!(
            ip + c <= x.len() && fp + c <= w.len(),
            "depthwise tap out of range"
        );
    }
    let (xp, wp, ap) = (x.as_ptr(), w.as_ptr(), acc.as_mut_ptr());
    let mut ch = 0;
    // SAFETY: NEON is baseline on aarch64; `ch + 8 ≤ c` and every tap was checked above, so
    // the 8-byte loads stay inside `x` and `w`; `acc` holds `c` values.
    unsafe {
        let offv = vdupq_n_s16(off as i16);
        while ch + 8 <= c {
            let (mut lo, mut hi) = (vdupq_n_s32(0), vdupq_n_s32(0));
            for &(ip, fp) in taps {
                let xv = vaddq_s16(vmovl_s8(vld1_s8(xp.add(ip + ch))), offv);
                let wv = vmovl_s8(vld1_s8(wp.add(fp + ch)));
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
            s.wrapping_add(i32::from(w[fp + ch]).wrapping_mul(i32::from(x[ip + ch]) + off))
        });
    }
}

/// The f32 finish of a pixel: `clamp(acc · scale · filter_scale[ch] (+ bias[ch]))`.
struct Finish<'a> {
    scale: f32,
    filter_scales: &'a [f32],
    bias: Option<&'a [f32]>,
    act: (f32, f32),
}

impl Finish<'_> {
    /// Writes the finished `acc` (one value per channel) into `px`. Panics if `px` or a
    /// per-channel slice is shorter than `acc`.
    fn store(&self, acc: &[i32], px: &mut [f32]) {
        let c = acc.len();
        assert!(
            px.len() >= c
                && self.filter_scales.len() >= c
                && self.bias.is_none_or(|b| b.len() >= c),
            "hybrid depthwise finish operands too short"
        );
        let (lo, hi) = self.act;
        let (ap, sp, op) = (acc.as_ptr(), self.filter_scales.as_ptr(), px.as_mut_ptr());
        let mut ch = 0;
        // SAFETY: NEON is baseline on aarch64; `ch + 4 ≤ c` and every slice holds at least `c`
        // values (asserted above).
        unsafe {
            let (scale, lov, hiv) = (vdupq_n_f32(self.scale), vdupq_n_f32(lo), vdupq_n_f32(hi));
            while ch + 4 <= c {
                let v = vmulq_f32(vcvtq_f32_s32(vld1q_s32(ap.add(ch))), scale);
                let mut v = vmulq_f32(v, vld1q_f32(sp.add(ch)));
                if let Some(b) = self.bias {
                    v = vaddq_f32(v, vld1q_f32(b.as_ptr().add(ch)));
                }
                vst1q_f32(op.add(ch), vminnmq_f32(vmaxnmq_f32(v, lov), hiv));
                ch += 4;
            }
        }
        for ch in ch..c {
            let mut v = acc[ch] as f32 * self.scale * self.filter_scales[ch];
            if let Some(b) = self.bias {
                v += b[ch];
            }
            px[ch] = v.max(lo).min(hi);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};
    use crate::kernels::conv::depthwise_conv2d_output_shape;
    use crate::kernels::quant::hybrid_depthwise::hybrid_depthwise_conv2d_at;
    use crate::kernels::simd::{quantize_f32::asymmetric_quantize, Level};

    /// The NEON path runs (returns `true`) and matches the scalar kernel bit for bit on
    /// channel counts around the vector widths, strides, dilations, both paddings and
    /// activations with NaN / infinite inputs excluded (they are quantized anyway).
    #[test]
    fn matches_scalar_bit_for_bit() {
        let mut seed = 0xfeed_beefu64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let mut ran = 0;
        for case in 0..60 {
            let c = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33][case % 11];
            let is = [1, 1 + next(8), 1 + next(8), c];
            let fs = [1, 1 + next(3), 1 + next(3), c];
            let g = Conv2DParams {
                padding: if case.is_multiple_of(2) {
                    Padding::Same
                } else {
                    Padding::Valid
                },
                stride_h: 1 + next(2),
                stride_w: 1 + next(2),
                dilation_h: 1 + next(2),
                dilation_w: 1,
                activation: [Activation::None, Activation::Relu, Activation::Relu6][case % 3],
            };
            let Ok(os) = depthwise_conv2d_output_shape(&g, is, fs, Some(c)) else {
                continue;
            };
            let input: Vec<f32> = (0..is.iter().product::<usize>())
                .map(|_| next(1000) as f32 * 0.013 - 4.0)
                .collect();
            let filter: Vec<i8> = (0..fs.iter().product::<usize>())
                .map(|_| (next(256) as i32 - 128) as i8)
                .collect();
            let scales: Vec<f32> = (0..c).map(|_| 0.001 + next(100) as f32 * 1e-4).collect();
            let bias: Vec<f32> = (0..c).map(|_| next(200) as f32 * 0.01 - 1.0).collect();
            let bias = (!case.is_multiple_of(4)).then_some(&bias[..]);
            let n_out: usize = os.iter().product();
            let mut want = vec![0f32; n_out];
            hybrid_depthwise_conv2d_at(
                Level::Scalar,
                &g,
                &scales,
                &input,
                is,
                &filter,
                fs,
                bias,
                &mut Vec::new(),
                &mut want,
                os,
            );
            let mut q = vec![0i8; input.len()];
            let (scale, zp) = asymmetric_quantize(Level::Scalar, &input, &mut q);
            let (lo, hi) = crate::kernels::common::activation_range(g.activation);
            let hp = HybridDw {
                input_scale: scale,
                input_zero_point: zp,
                filter_scales: &scales,
                bias,
                act: (lo, hi),
            };
            let mut got = vec![f32::NAN; n_out];
            assert!(hybrid_depthwise(&g, &hp, &q, is, &filter, fs, &mut got, os));
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{is:?} {fs:?} {g:?}");
            ran += 1;
        }
        assert!(ran > 30, "too few valid cases: {ran}");
    }

    #[test]
    fn declines_bad_operands() {
        let g = Conv2DParams {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            activation: Activation::None,
        };
        let hp = HybridDw {
            input_scale: 1.0,
            input_zero_point: 0,
            filter_scales: &[1.0; 3],
            bias: None,
            act: (f32::MIN, f32::MAX),
        };
        let mut out = vec![0f32; 3];
        // Multiplier 2, short input and a batch of two are all declined.
        let f = [1i8; 6];
        assert!(!hybrid_depthwise(
            &g,
            &hp,
            &[0; 3],
            [1, 1, 1, 3],
            &f,
            [1, 1, 1, 6],
            &mut out,
            [1, 1, 1, 6]
        ));
        assert!(!hybrid_depthwise(
            &g,
            &hp,
            &[0; 2],
            [1, 1, 1, 3],
            &f,
            [1, 1, 1, 3],
            &mut out,
            [1, 1, 1, 3]
        ));
        assert!(!hybrid_depthwise(
            &g,
            &hp,
            &[0; 6],
            [2, 1, 1, 3],
            &f,
            [1, 1, 1, 3],
            &mut out,
            [2, 1, 1, 3]
        ));
        assert!(hybrid_depthwise(
            &g,
            &hp,
            &[1, 2, 3],
            [1, 1, 1, 3],
            &f,
            [1, 1, 1, 3],
            &mut out,
            [1, 1, 1, 3]
        ));
        assert_eq!(out, [1.0, 2.0, 3.0]);
    }
}
