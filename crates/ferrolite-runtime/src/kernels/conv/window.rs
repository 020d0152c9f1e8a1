//! The window walk shared by the reference (scalar) convolution kernels.
//!
//! Every NHWC convolution flavour — f32, int8/uint8, int16x8, hybrid — visits the same taps: for
//! output pixel `(b, oy, ox)` the input pixel `(oy·stride - pad + fy·dilation, …)` of every filter
//! tap that lands inside the image (padding contributes nothing). What differs is only the element
//! types, the accumulator and how the accumulator becomes an output value, so the two loop nests
//! (grouped CONV_2D and DEPTHWISE_CONV_2D) are written once here, generic over those parts. The
//! `mac` closure receives exactly the operand pairs, in exactly the order, the per-kernel loops
//! used to, so every kernel keeps its bit-exact arithmetic. TRANSPOSE_CONV walks the same
//! geometry the other way round (input pixel → output taps), so its kernels share [`Window`].

use super::{Conv2DParams, TransposeConvParams};
use crate::kernels::common::compute_padding;

/// Where the taps of a strided window land: position `s·stride - pad + f·dilation` of an
/// `extent_h × extent_w` image, for source position `s` and filter tap `f`.
///
/// For a convolution the source is the output pixel and the taps land in the input; for a
/// transpose convolution the source is the input pixel and the taps land in the output.
pub(crate) struct Window {
    extent_h: usize,
    extent_w: usize,
    fh: usize,
    fw: usize,
    pad_h: usize,
    pad_w: usize,
    stride_h: usize,
    stride_w: usize,
    dilation_h: usize,
    dilation_w: usize,
}

impl Window {
    /// The window of a CONV_2D / DEPTHWISE_CONV_2D with an `fh × fw` filter over `input_shape`.
    fn conv(g: &Conv2DParams, input_shape: [usize; 4], fh: usize, fw: usize) -> Self {
        let [_, in_h, in_w, _] = input_shape;
        let (_, pad_h) = compute_padding(g.padding, in_h, fh, g.stride_h, g.dilation_h);
        let (_, pad_w) = compute_padding(g.padding, in_w, fw, g.stride_w, g.dilation_w);
        Self {
            extent_h: in_h,
            extent_w: in_w,
            fh,
            fw,
            pad_h,
            pad_w,
            stride_h: g.stride_h,
            stride_w: g.stride_w,
            dilation_h: g.dilation_h,
            dilation_w: g.dilation_w,
        }
    }

    /// The scatter window of a TRANSPOSE_CONV with an `fh × fw` filter into `output_shape`
    /// (TFLite pads as if the output were a conv input; no dilation).
    pub(crate) fn transpose(
        g: &TransposeConvParams,
        output_shape: [usize; 4],
        fh: usize,
        fw: usize,
    ) -> Self {
        let [_, out_h, out_w, _] = output_shape;
        let (_, pad_h) = compute_padding(g.padding, out_h, fh, g.stride_h, 1);
        let (_, pad_w) = compute_padding(g.padding, out_w, fw, g.stride_w, 1);
        Self {
            extent_h: out_h,
            extent_w: out_w,
            fh,
            fw,
            pad_h,
            pad_w,
            stride_h: g.stride_h,
            stride_w: g.stride_w,
            dilation_h: 1,
            dilation_w: 1,
        }
    }

    /// Calls `f(pixel, tap)` for each tap of the window at source position `(sy, sx)` of image
    /// `b` that lands inside the image, in `fy`-major order: `pixel` is the NHW pixel index
    /// `(b·extent_h + y)·extent_w + x` of the landing position and `tap` is `fy·fw + fx`.
    #[inline(always)]
    pub(crate) fn for_each_tap(
        &self,
        b: usize,
        sy: usize,
        sx: usize,
        mut f: impl FnMut(usize, usize),
    ) {
        let y0 = (sy * self.stride_h) as isize - self.pad_h as isize;
        let x0 = (sx * self.stride_w) as isize - self.pad_w as isize;
        for fy in 0..self.fh {
            let y = y0 + (fy * self.dilation_h) as isize;
            if y < 0 || y >= self.extent_h as isize {
                continue;
            }
            for fx in 0..self.fw {
                let x = x0 + (fx * self.dilation_w) as isize;
                if x < 0 || x >= self.extent_w as isize {
                    continue;
                }
                f(
                    (b * self.extent_h + y as usize) * self.extent_w + x as usize,
                    fy * self.fw + fx,
                );
            }
        }
    }
}

/// Reference grouped CONV_2D (OHWI filter, `input_c` a multiple of the filter depth).
///
/// For each output value `o` the accumulator starts at `A::default()` and `mac(acc, xs, ws)` folds
/// in every in-bounds tap, `xs` being the input channels of `o`'s group at that pixel and `ws` the
/// matching filter row; `finish(o, acc)` then yields the output value.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn grouped_conv<X, W, A: Copy + Default, Y>(
    geometry: &Conv2DParams,
    input: &[X],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    output: &mut [Y],
    output_shape: [usize; 4],
    mac: impl Fn(A, &[X], &[W]) -> A,
    finish: impl Fn(usize, A) -> Y,
) {
    let [batches, _, _, in_c] = input_shape;
    let [out_c, fh, fw, filter_in] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let window = Window::conv(geometry, input_shape, fh, fw);
    let filters_per_group = out_c / (in_c / filter_in).max(1);
    let filter_stride = fh * fw * filter_in;
    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                let out_px = &mut output[out_base..out_base + out_c];
                for (o, out_v) in out_px.iter_mut().enumerate() {
                    let channel0 = (o / filters_per_group) * filter_in;
                    let filter_o = &filter[o * filter_stride..(o + 1) * filter_stride];
                    let mut acc = A::default();
                    window.for_each_tap(b, oy, ox, |pixel, tap| {
                        let in_base = pixel * in_c + channel0;
                        let f_base = tap * filter_in;
                        acc = mac(
                            acc,
                            &input[in_base..in_base + filter_in],
                            &filter_o[f_base..f_base + filter_in],
                        );
                    });
                    *out_v = finish(o, acc);
                }
            }
        }
    }
}

/// Reference DEPTHWISE_CONV_2D (`[1, h, w, input_c · multiplier]` filter): output channel `o`
/// reads input channel `o / multiplier`.
///
/// Each output pixel's accumulators start at `A::default()`; every in-bounds tap updates
/// `acc[o] = mac(acc[o], x, w)` for all channels `o` in order, then `finish(o, acc[o])` yields the
/// output values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn depthwise_conv<X: Copy, W: Copy, A: Copy + Default, Y>(
    geometry: &Conv2DParams,
    input: &[X],
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    output: &mut [Y],
    output_shape: [usize; 4],
    mac: impl Fn(A, X, W) -> A,
    finish: impl Fn(usize, A) -> Y,
) {
    let [batches, _, _, in_c] = input_shape;
    let [_, fh, fw, out_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let window = Window::conv(geometry, input_shape, fh, fw);
    let multiplier = out_c / in_c.max(1);
    let mut acc = vec![A::default(); out_c];
    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                acc.fill(A::default());
                window.for_each_tap(b, oy, ox, |pixel, tap| {
                    let in_px = &input[pixel * in_c..(pixel + 1) * in_c];
                    let f_px = &filter[tap * out_c..(tap + 1) * out_c];
                    for (o, (a, &w)) in acc.iter_mut().zip(f_px).enumerate() {
                        *a = mac(*a, in_px[o / multiplier], w);
                    }
                });
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                let out_px = &mut output[out_base..out_base + out_c];
                for (o, (out_v, &a)) in out_px.iter_mut().zip(&acc).enumerate() {
                    *out_v = finish(o, a);
                }
            }
        }
    }
}
