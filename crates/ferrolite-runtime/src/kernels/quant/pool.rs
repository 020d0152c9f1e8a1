//! Quantized `AVERAGE_POOL_2D` and `MAX_POOL_2D` (int8, uint8, int16; NHWC).
//!
//! Inputs and outputs share scale and zero point (TFLite requires it), so pooling works on raw
//! integers: windows are clipped to the input, the average is TFLite's rounded integer division
//! `(sum ± count/2) / count` (C truncation, i.e. ties away from zero), the maximum is taken over
//! in-bounds cells, and the fused activation is clamped in the quantized domain. Output shapes
//! come from the float module's `pool2d_output_shape`.

use std::ops::Range;

use super::{quantized_activation_range, QuantElem, QuantParams};
use crate::kernels::common::compute_padding;
use crate::kernels::pool::Pool2DParams;

/// Prepared parameters of a quantized pooling op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantPoolParams {
    /// Geometry (window, strides, padding); its activation is folded into the clamp.
    pub geometry: Pool2DParams,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

/// Prepares a quantized pooling op for storage type `T` with the (shared) output quantization.
pub fn pool_params<T: QuantElem>(geometry: &Pool2DParams, output: QuantParams) -> QuantPoolParams {
    let (act_min, act_max) =
        quantized_activation_range(geometry.activation, output, T::MIN, T::MAX);
    QuantPoolParams {
        geometry: *geometry,
        act_min,
        act_max,
    }
}

/// In-bounds input rows (or columns) of the window of output index `out`.
fn window(out: usize, stride: usize, pad: usize, filter: usize, input: usize) -> Range<usize> {
    let start = (out * stride) as isize - pad as isize;
    let lo = start.max(0) as usize;
    let hi = (start + filter as isize).clamp(0, input as isize) as usize;
    lo..hi.max(lo)
}

/// Runs `reduce` over every window: `reduce(out_px_index_base, rows, cols)`.
fn for_each_window(
    params: &QuantPoolParams,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
    mut f: impl FnMut(usize, usize, Range<usize>, Range<usize>),
) {
    let g = &params.geometry;
    let [batches, in_h, in_w, _] = input_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(g.padding, in_h, g.filter_h, g.stride_h, 1);
    let (_, pad_w) = compute_padding(g.padding, in_w, g.filter_w, g.stride_w, 1);
    for b in 0..batches {
        for oy in 0..out_h {
            let rows = window(oy, g.stride_h, pad_h, g.filter_h, in_h);
            for ox in 0..out_w {
                let cols = window(ox, g.stride_w, pad_w, g.filter_w, in_w);
                f(b, (b * out_h + oy) * out_w + ox, rows.clone(), cols);
            }
        }
    }
}

/// Quantized AVERAGE_POOL_2D. An empty window (impossible for valid shapes) yields the clamp of 0.
pub fn average_pool2d<T: QuantElem>(
    params: &QuantPoolParams,
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
    output_shape: [usize; 4],
) {
    let [_, in_h, in_w, depth] = input_shape;
    let mut acc = vec![0i32; depth];
    for_each_window(
        params,
        input_shape,
        output_shape,
        |b, out_px, rows, cols| {
            acc.iter_mut().for_each(|a| *a = 0);
            let count = (rows.len() * cols.len()) as i32;
            for iy in rows {
                for ix in cols.clone() {
                    let base = ((b * in_h + iy) * in_w + ix) * depth;
                    for (a, x) in acc.iter_mut().zip(&input[base..base + depth]) {
                        *a += x.to_i32();
                    }
                }
            }
            let out = &mut output[out_px * depth..(out_px + 1) * depth];
            for (o, &a) in out.iter_mut().zip(&acc) {
                let avg = if count == 0 {
                    0
                } else if a > 0 {
                    (a + count / 2) / count
                } else {
                    (a - count / 2) / count
                };
                *o = T::from_i32_clamped(avg.clamp(params.act_min, params.act_max));
            }
        },
    );
}

/// Quantized MAX_POOL_2D.
pub fn max_pool2d<T: QuantElem>(
    params: &QuantPoolParams,
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
    output_shape: [usize; 4],
) {
    let [_, in_h, in_w, depth] = input_shape;
    let mut acc = vec![0i32; depth];
    for_each_window(
        params,
        input_shape,
        output_shape,
        |b, out_px, rows, cols| {
            acc.iter_mut().for_each(|a| *a = T::MIN);
            for iy in rows {
                for ix in cols.clone() {
                    let base = ((b * in_h + iy) * in_w + ix) * depth;
                    for (a, x) in acc.iter_mut().zip(&input[base..base + depth]) {
                        *a = (*a).max(x.to_i32());
                    }
                }
            }
            let out = &mut output[out_px * depth..(out_px + 1) * depth];
            for (o, &a) in out.iter_mut().zip(&acc) {
                *o = T::from_i32_clamped(a.clamp(params.act_min, params.act_max));
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};

    fn geometry(padding: Padding, k: usize, s: usize, activation: Activation) -> Pool2DParams {
        Pool2DParams {
            padding,
            stride_h: s,
            stride_w: s,
            filter_h: k,
            filter_w: k,
            activation,
        }
    }

    #[test]
    fn average_rounds_half_away_from_zero() {
        let p = pool_params::<i8>(
            &geometry(Padding::Valid, 2, 2, Activation::None),
            QuantParams::new(1.0, 0),
        );
        // windows: [1,2,3,4] -> 10/4 = 2.5 -> 3 ; [-1,-2,-3,-4] -> -3 ; [1,1,1,0] -> 0.75 -> 1
        let input = [1i8, 2, -1, -2, 1, 1, 3, 4, -3, -4, 1, 0];
        // shape [1, 2, 6, 1]: row0 = 1 2 -1 -2 1 1 ; row1 = 3 4 -3 -4 1 0
        let mut out = [0i8; 3];
        average_pool2d(&p, &input, [1, 2, 6, 1], &mut out, [1, 1, 3, 1]);
        assert_eq!(out, [3, -3, 1]);
    }

    #[test]
    fn same_padding_divides_by_in_bounds_count() {
        let p = pool_params::<u8>(
            &geometry(Padding::Same, 3, 1, Activation::None),
            QuantParams::new(1.0, 0),
        );
        let input = [10u8, 20, 30, 40];
        let mut out = [0u8; 4];
        average_pool2d(&p, &input, [1, 2, 2, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [25; 4]);
    }

    #[test]
    fn max_pool_with_activation() {
        let p = pool_params::<i8>(
            &geometry(Padding::Valid, 2, 2, Activation::Relu6),
            QuantParams::new(0.1, -10),
        );
        assert_eq!((p.act_min, p.act_max), (-10, 50));
        let input = [-100i8, -50, -20, -60, 100, 3, 0, 1];
        let mut out = [0i8; 2];
        max_pool2d(&p, &input, [1, 2, 4, 1], &mut out, [1, 1, 2, 1]);
        // windows: [-100,-50,100,3] -> 100 -> 50 ; [-20,-60,0,1] -> 1
        assert_eq!(out, [50, 1]);
    }
}
