//! Int8 CONV_2D over 1–4 input channels (a network's first layer) on AVX-512 VNNI, or at the
//! `Avx2` level on AVX-VNNI (256-bit `vpdpbusd`, `avxvnni_x86`, same layouts), bit-exact with the
//! scalar kernel.
//!
//! The input is copied once per call into a zero-point-padded image of unsigned bytes
//! (`xu = x + 128`; padding holds `128 - input_offset`, i.e. `x + input_offset = 0`), large
//! enough that every tap of every output pixel lies inside it. With unit horizontal dilation the
//! `fw · C` bytes one filter row reads are contiguous, so each output pixel needs
//! `fh · ⌈fw·C / 4⌉` broadcast dwords and as many `vpdpbusd` per 16 output channels; weights are
//! packed per call as `[fh][⌈fw·C/4⌉][npad][4]` (zero past `fw · C`, so the bytes a last dword
//! reads beyond the row contribute nothing). Writing `a = input_offset - 128`,
//! `Σ (x + input_offset) · w = Σ xu · w + a · Σ w` over all taps (padding included, as it adds
//! zero), so the correction is one constant per output channel. Output rows are split across the
//! thread budget.

use std::cell::RefCell;

use super::avxvnni_x86 as x86_256;
use super::conv_vnni_x86::{self as x86, ConvRow};
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::requant_x86::{BlockArgs, DOUBLE, RUY, SINGLE};
use super::{features, Level};
use crate::kernels::common::compute_padding;
use crate::kernels::quant::conv::QuantConvProblem;
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::QuantElem;

thread_local! {
    static IMAGE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Bytes past the padded image, so a filter row's last dword may be read whole.
const SLACK: usize = 16;

/// Quantized CONV_2D over 1–4 int8 input channels with symmetric int8 weights through VNNI;
/// returns `false` (doing nothing) when this path does not apply.
pub(super) fn conv2d<T: QuantElem, W: QuantElem>(
    level: Level,
    problem: &QuantConvProblem<'_, T, W>,
    output: &mut [T],
) -> bool {
    let int8 = |min: i32, max: i32, size: usize| (min, max, size) == (-128, 127, 1);
    let (params, input, filter, bias) =
        (problem.params, problem.input, problem.filter, problem.bias);
    let [batches, in_h, in_w, c] = problem.input_shape;
    let [n, fh, fw, depth] = problem.filter_shape;
    let [_, out_h, out_w, out_c] = problem.output_shape;
    let g = &params.geometry;
    let pad_byte = 128 - i64::from(params.input_offset);
    let nm = params.multipliers.len();
    let n_out = batches * out_h * out_w * n;
    let wide = level == Level::Avx512;
    if !((wide && features().vnni) || (level == Level::Avx2 && features().avxvnni))
        || !int8(T::MIN, T::MAX, std::mem::size_of::<T>())
        || !int8(W::MIN, W::MAX, std::mem::size_of::<W>())
        || params.filter_offset != 0
        || depth != c
        || !(1..=4).contains(&c)
        || out_c != n
        || n == 0
        || fh == 0
        || fw == 0
        || fw * c > 32
        || g.dilation_w != 1
        || g.stride_h == 0
        || g.stride_w == 0
        || !(0..=255).contains(&pad_byte)
        || !params.covers(n)
        || input.len() < batches * in_h * in_w * c
        || filter.len() < n * fh * fw * c
        || output.len() < n_out
        || bias.is_some_and(|b| b.len() < n)
        || !params.requant(0..n, &[]).vector_ok()
    {
        return false;
    }
    if n_out == 0 {
        return true;
    }
    let (_, pad_h) = compute_padding(g.padding, in_h, fh, g.stride_h, g.dilation_h);
    let (_, pad_w) = compute_padding(g.padding, in_w, fw, g.stride_w, 1);
    let hp = (pad_h + in_h).max((out_h - 1) * g.stride_h + (fh - 1) * g.dilation_h + 1);
    let wp = (pad_w + in_w).max((out_w - 1) * g.stride_w + fw);
    // Filter rows as dwords, and output channels padded to whole vectors.
    let (kq, npad) = ((fw * c).div_ceil(4), n.div_ceil(16) * 16);
    let k = fh * fw * c;
    let a = params.input_offset.wrapping_sub(128);
    let mut wpk = vec![0i8; fh * kq * npad * 4];
    let mut corr = vec![0i32; npad];
    for (j, row) in filter[..n * k].chunks_exact(k).enumerate() {
        let mut sum = 0i32;
        for (t, w) in row.iter().enumerate() {
            let (fy, r) = (t / (fw * c), t % (fw * c));
            let w = w.to_i32();
            sum = sum.wrapping_add(w);
            wpk[((fy * kq + r / 4) * npad + j) * 4 + r % 4] = w as i8;
        }
        corr[j] = bias.map_or(0, |b| b[j]).wrapping_add(a.wrapping_mul(sum));
    }
    let mut image = IMAGE.with(|cell| cell.take());
    image.clear();
    image.resize(batches * hp * wp * c + SLACK, pad_byte as u8);
    for b in 0..batches {
        for y in 0..in_h {
            let src = &input[((b * in_h + y) * in_w) * c..((b * in_h + y + 1) * in_w) * c];
            let at = ((b * hp + y + pad_h) * wp + pad_w) * c;
            for (d, v) in image[at..at + in_w * c].iter_mut().zip(src) {
                *d = (v.to_i32() + 128) as u8;
            }
        }
    }
    let out = SharedMut::new(&mut output[..n_out]);
    let rows = batches * out_h;
    let threads = useful_threads(n_out * k, rows);
    let rows_per = rows.div_ceil(threads);
    let (img, wts) = (&image[..], &wpk[..]);
    let tile = |t: usize| {
        let args = BlockArgs::for_store(params.output_offset, params.act_min, params.act_max);
        let out_ptr = out.as_ptr().cast::<u8>();
        let mut ptrs = Vec::with_capacity(fh);
        for row in t * rows_per..((t + 1) * rows_per).min(rows) {
            let (b, oy) = (row / out_h, row % out_h);
            ptrs.clear();
            ptrs.extend((0..fh).map(|fy| {
                let iy = oy * g.stride_h + fy * g.dilation_h;
                img[(b * hp + iy) * wp * c..].as_ptr()
            }));
            let r = ConvRow {
                rows: &ptrs,
                step: g.stride_w * c,
                kq,
                weights: wts.as_ptr(),
                corr: corr.as_ptr(),
                mult: params.multipliers.as_ptr(),
                shift: params.shifts.as_ptr(),
                per_channel: nm > 1,
                n,
                npad,
                out_w,
                // Output row `row`, written only by this tile.
                out: out_ptr.wrapping_add(row * out_w * n),
                q: &args,
            };
            // SAFETY: the level's VNNI (AVX-512 or AVX-VNNI) detected; each row pointer starts
            // a padded image row holding `wp · c` bytes plus at least SLACK more (the image
            // ends with SLACK bytes), and
            // pixel (out_w - 1) · stride_w + fw - 1 < wp, so every dword read lies inside; the
            // weights hold fh · kq · npad · 4 bytes, corr npad values, the multipliers passed
            // `vector_ok`, and output row `row` exists.
            unsafe {
                match (params.rounding, wide) {
                    (Rounding::Double, true) => x86::conv_row::<DOUBLE>(&r),
                    (Rounding::Single, true) => x86::conv_row::<SINGLE>(&r),
                    (Rounding::RuyX86, true) => x86::conv_row::<RUY>(&r),
                    (Rounding::Double, false) => x86_256::conv_row::<DOUBLE>(&r),
                    (Rounding::Single, false) => x86_256::conv_row::<SINGLE>(&r),
                    (Rounding::RuyX86, false) => x86_256::conv_row::<RUY>(&r),
                }
            }
        }
    };
    run_tiles(rows.div_ceil(rows_per), threads, &tile);
    IMAGE.with(|cell| cell.replace(image));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};
    use crate::kernels::conv::{conv2d_output_shape, Conv2DParams};
    use crate::kernels::quant::conv::{conv2d_at, conv_params};
    use crate::kernels::quant::QuantParams;
    use crate::kernels::simd::parallel::with_threads;
    use crate::kernels::simd::tests::Rng;

    /// First-layer-like convs (1–4 channels, output channel counts around the 16-lane blocks,
    /// extreme input / output zero points, per-tensor and per-channel scales, every rounding,
    /// 1–3 threads): this path, which must be taken, against the scalar kernel bit for bit.
    #[test]
    fn vnni_few_channel_conv_matches_scalar() {
        let f = features();
        for (level, present) in [(Level::Avx512, f.vnni), (Level::Avx2, f.avxvnni)] {
            if present {
                few_channel_cases(level);
            }
        }
    }

    /// [`vnni_few_channel_conv_matches_scalar`] at `level`, which must take this path.
    fn few_channel_cases(level: Level) {
        let mut rng = Rng::new(33);
        for case in 0..200 {
            let c = rng.range(1, 4);
            let n = rng.pick(&[1, 8, 15, 16, 17, 32, 33, 64]);
            let (fh, fw) = (rng.range(1, 5), rng.range(1, 5));
            let g = Conv2DParams {
                padding: rng.pick(&[Padding::Same, Padding::Valid]),
                stride_h: rng.range(1, 3),
                stride_w: rng.range(1, 3),
                dilation_h: rng.range(1, 2),
                dilation_w: 1,
                activation: rng.pick(&[Activation::None, Activation::Relu6]),
            };
            let is = [rng.range(1, 2), rng.range(1, 14), rng.range(1, 14), c];
            let fs = [n, fh, fw, c];
            let Ok(os) = conv2d_output_shape(&g, is, fs, Some(n)) else {
                continue;
            };
            let nscales = if case % 2 == 0 { 1 } else { n };
            let fscales: Vec<f32> = (0..nscales)
                .map(|_| 10f32.powf(-4.0 + 4.0 * (rng.next() % 1000) as f32 / 1000.0))
                .collect();
            let mut qp = conv_params::<i8, i8>(
                &g,
                QuantParams::new(0.02, rng.pick(&[-128, 127, 0, 31])),
                &fscales,
                0,
                QuantParams::new(rng.pick(&[0.05, 0.0002]), rng.pick(&[-128, 127, -7])),
                n,
            )
            .unwrap();
            qp.rounding = rng.pick(&[Rounding::Double, Rounding::Single, Rounding::RuyX86]);
            let byte = |r: &mut Rng| (r.next() % 256) as u8 as i8;
            let x: Vec<i8> = (0..is.iter().product()).map(|_| byte(&mut rng)).collect();
            let w: Vec<i8> = (0..fs.iter().product()).map(|_| byte(&mut rng)).collect();
            let b: Vec<i32> = (0..n)
                .map(|_| (rng.next() % 200_001) as i32 - 100_000)
                .collect();
            let bias = (case % 3 > 0).then_some(&b[..]);
            let n_out: usize = os.iter().product();
            let mut want = vec![0i8; n_out];
            conv2d_at(Level::Scalar, &qp, &x, is, &w, fs, bias, &mut want, os);
            for threads in 1..=3 {
                let mut got = vec![0i8; n_out];
                let problem = QuantConvProblem::new(&qp, (&x, is), (&w, fs), bias, os);
                let taken = with_threads(threads, || conv2d(level, &problem, &mut got));
                assert!(taken, "{g:?} {is:?} {fs:?}: path not taken");
                assert_eq!(
                    got, want,
                    "{level:?} {g:?} {is:?} {fs:?} {:?} {threads}",
                    qp.rounding
                );
            }
        }
    }
}
