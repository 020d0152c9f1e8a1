//! Pooling kernels: `AVERAGE_POOL_2D`, `MAX_POOL_2D` and `L2_POOL_2D` (f32, NHWC).
//!
//! As in TFLite, windows are clipped to the input: padded cells are skipped rather than treated as
//! zeros, so an average (or L2 mean) divides by the number of in-bounds cells only. The output
//! size and leading pad come from [`compute_padding`] with dilation 1, and the fused activation is
//! TFLite's float min/max clamp ([`activation_range`]). [`pool2d_output_shape`] validates operands;
//! the kernels then assume consistent shapes. Every kernel processes a whole output pixel at a
//! time so the innermost loop runs over contiguous channels.

use std::ops::Range;

use super::common::{
    activation_range, clamp_activation, compute_padding, Activation, KernelError, Padding,
};

/// Options shared by the three pooling ops (filter sizes and strides are ≥ 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2DParams {
    /// SAME or VALID.
    pub padding: Padding,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Window height.
    pub filter_h: usize,
    /// Window width.
    pub filter_w: usize,
    /// Fused activation.
    pub activation: Activation,
}

/// Validates a pooling op's options against the NHWC input shape and returns the output shape.
pub fn pool2d_output_shape(
    params: &Pool2DParams,
    input_shape: [usize; 4],
) -> Result<[usize; 4], KernelError> {
    for (v, name) in [
        (params.stride_h, "stride_h"),
        (params.stride_w, "stride_w"),
        (params.filter_h, "filter_h"),
        (params.filter_w, "filter_w"),
    ] {
        if v == 0 {
            return Err(KernelError::Param(format!("pool {name} must be >= 1")));
        }
    }
    let (out_h, _) = compute_padding(
        params.padding,
        input_shape[1],
        params.filter_h,
        params.stride_h,
        1,
    );
    let (out_w, _) = compute_padding(
        params.padding,
        input_shape[2],
        params.filter_w,
        params.stride_w,
        1,
    );
    if out_h == 0 || out_w == 0 {
        return Err(KernelError::Shape(format!(
            "pool window {}x{} does not fit input {:?} with {:?} padding",
            params.filter_h, params.filter_w, input_shape, params.padding
        )));
    }
    Ok([input_shape[0], out_h, out_w, input_shape[3]])
}

/// In-bounds input rows (or columns) covered by the window of output index `out`.
fn window(out: usize, stride: usize, pad: usize, filter: usize, input: usize) -> Range<usize> {
    let start = (out * stride) as isize - pad as isize;
    let lo = start.max(0) as usize;
    let hi = (start + filter as isize).clamp(0, input as isize) as usize;
    lo..hi.max(lo)
}

/// Drives a pooling kernel (shared by the f32 and the quantized kernels): for each output pixel
/// every channel's accumulator starts at `init`, `step(acc, x)` folds in that channel of every
/// in-bounds input pixel of the window (row-major), and `finish(acc, count)` — `count` being the
/// number of in-bounds cells — yields the output value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pool_driver<X: Copy, A: Copy, Y>(
    params: &Pool2DParams,
    input: &[X],
    input_shape: [usize; 4],
    output: &mut [Y],
    output_shape: [usize; 4],
    init: A,
    step: impl Fn(A, X) -> A,
    finish: impl Fn(A, usize) -> Y,
) {
    let [batches, in_h, in_w, depth] = input_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(params.padding, in_h, params.filter_h, params.stride_h, 1);
    let (_, pad_w) = compute_padding(params.padding, in_w, params.filter_w, params.stride_w, 1);
    let mut acc = vec![init; depth];
    for b in 0..batches {
        for oy in 0..out_h {
            let rows = window(oy, params.stride_h, pad_h, params.filter_h, in_h);
            for ox in 0..out_w {
                let cols = window(ox, params.stride_w, pad_w, params.filter_w, in_w);
                acc.fill(init);
                for iy in rows.clone() {
                    for ix in cols.clone() {
                        let in_base = ((b * in_h + iy) * in_w + ix) * depth;
                        let in_px = &input[in_base..in_base + depth];
                        for (a, &x) in acc.iter_mut().zip(in_px) {
                            *a = step(*a, x);
                        }
                    }
                }
                let count = rows.len() * cols.len();
                let out_base = ((b * out_h + oy) * out_w + ox) * depth;
                let out_px = &mut output[out_base..out_base + depth];
                for (o, &a) in out_px.iter_mut().zip(&acc) {
                    *o = finish(a, count);
                }
            }
        }
    }
}

/// `AVERAGE_POOL_2D`: the mean of the in-bounds cells of each window, then the activation clamp.
///
/// Shapes must be those accepted by [`pool2d_output_shape`].
pub fn average_pool2d(
    params: &Pool2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let (lo, hi) = activation_range(params.activation);
    pool_driver(
        params,
        input,
        input_shape,
        output,
        output_shape,
        0.0,
        |sum, x| sum + x,
        |sum, count| clamp_activation(sum / count as f32, lo, hi),
    );
}

/// `MAX_POOL_2D`: the maximum of the in-bounds cells of each window (NaNs are skipped, as
/// `std::max` does in TFLite), then the activation clamp.
///
/// Shapes must be those accepted by [`pool2d_output_shape`].
pub fn max_pool2d(
    params: &Pool2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let (lo, hi) = activation_range(params.activation);
    pool_driver(
        params,
        input,
        input_shape,
        output,
        output_shape,
        f32::MIN,
        |max, x| if max < x { x } else { max },
        |max, _| clamp_activation(max, lo, hi),
    );
}

/// `L2_POOL_2D`: `sqrt(Σ x² / count)` over the in-bounds cells of each window, then the
/// activation clamp.
///
/// Shapes must be those accepted by [`pool2d_output_shape`].
pub fn l2_pool2d(
    params: &Pool2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let (lo, hi) = activation_range(params.activation);
    pool_driver(
        params,
        input,
        input_shape,
        output,
        output_shape,
        0.0,
        |sum, x| sum + x * x,
        |sum, count| clamp_activation((sum / count as f32).sqrt(), lo, hi),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::rand_vec;

    fn params(padding: Padding, filter: (usize, usize), stride: (usize, usize)) -> Pool2DParams {
        Pool2DParams {
            padding,
            stride_h: stride.0,
            stride_w: stride.1,
            filter_h: filter.0,
            filter_w: filter.1,
            activation: Activation::None,
        }
    }

    type PoolFn = fn(&Pool2DParams, &[f32], [usize; 4], &mut [f32], [usize; 4]);

    fn run(f: PoolFn, p: &Pool2DParams, x: &[f32], xs: [usize; 4]) -> Vec<f32> {
        let os = pool2d_output_shape(p, xs).unwrap();
        let mut out = vec![0.0; os.iter().product()];
        f(p, x, xs, &mut out, os);
        out
    }

    #[test]
    fn average_counts_only_in_bounds_cells() {
        // 3x3 input 1..9, 2x2 window, stride 1, SAME: total pad 1, all of it after.
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let p = params(Padding::Same, (2, 2), (1, 1));
        let out = run(average_pool2d, &p, &x, [1, 3, 3, 1]);
        assert_eq!(out, [3.0, 4.0, 4.5, 6.0, 7.0, 7.5, 7.5, 8.5, 9.0]);
        let out = run(max_pool2d, &p, &x, [1, 3, 3, 1]);
        assert_eq!(out, [5.0, 6.0, 6.0, 8.0, 9.0, 9.0, 8.0, 9.0, 9.0]);
        let out = run(l2_pool2d, &p, &x, [1, 3, 3, 1]);
        assert_eq!(out[2], ((9.0f32 + 36.0) / 2.0).sqrt());
        assert_eq!(out[8], 9.0);
    }

    #[test]
    fn valid_stride_2_and_activation() {
        // 4x4 input with 2 channels (c1 = -c0), 2x2 window, stride 2, VALID.
        let x: Vec<f32> = (0..16).flat_map(|v| [v as f32, -(v as f32)]).collect();
        let mut p = params(Padding::Valid, (2, 2), (2, 2));
        assert_eq!(pool2d_output_shape(&p, [1, 4, 4, 2]).unwrap(), [1, 2, 2, 2]);
        let out = run(max_pool2d, &p, &x, [1, 4, 4, 2]);
        assert_eq!(out, [5.0, -0.0, 7.0, -2.0, 13.0, -8.0, 15.0, -10.0]);
        let out = run(average_pool2d, &p, &x, [1, 4, 4, 2]);
        assert_eq!(out, [2.5, -2.5, 4.5, -4.5, 10.5, -10.5, 12.5, -12.5]);
        p.activation = Activation::Relu6;
        let out = run(average_pool2d, &p, &x, [1, 4, 4, 2]);
        assert_eq!(out, [2.5, 0.0, 4.5, 0.0, 6.0, 0.0, 6.0, 0.0]);
        p.activation = Activation::None;
        let out = run(l2_pool2d, &p, &x, [1, 4, 4, 2]);
        assert_eq!(out[0], ((0.0f32 + 1.0 + 16.0 + 25.0) / 4.0).sqrt());
        assert_eq!(out[0], out[1]);
    }

    /// Independent window enumeration: an input cell belongs to the window when it lies in
    /// `[o*s - pad, o*s - pad + f)` with the TF padding formula written out here.
    fn naive(kind: u8, p: &Pool2DParams, x: &[f32], xs: [usize; 4]) -> Vec<f32> {
        let pad = |input: usize, f: usize, s: usize| -> (usize, i64) {
            match p.padding {
                Padding::Valid => ((input - f) / s + 1, 0),
                Padding::Same => {
                    let out = input.div_ceil(s);
                    let total = ((out - 1) * s + f).saturating_sub(input);
                    (out, (total / 2) as i64)
                }
            }
        };
        let (oh, ph) = pad(xs[1], p.filter_h, p.stride_h);
        let (ow, pw) = pad(xs[2], p.filter_w, p.stride_w);
        let mut out = Vec::new();
        for b in 0..xs[0] {
            for oy in 0..oh {
                for ox in 0..ow {
                    for c in 0..xs[3] {
                        let mut vals = Vec::new();
                        for iy in 0..xs[1] {
                            for ix in 0..xs[2] {
                                let dy = iy as i64 - (oy * p.stride_h) as i64 + ph;
                                let dx = ix as i64 - (ox * p.stride_w) as i64 + pw;
                                if (0..p.filter_h as i64).contains(&dy)
                                    && (0..p.filter_w as i64).contains(&dx)
                                {
                                    vals.push(
                                        x[((b * xs[1] + iy) * xs[2] + ix) * xs[3] + c] as f64,
                                    );
                                }
                            }
                        }
                        let n = vals.len() as f64;
                        out.push(match kind {
                            0 => vals.iter().sum::<f64>() / n,
                            1 => vals.iter().cloned().fold(f64::MIN, f64::max),
                            _ => (vals.iter().map(|v| v * v).sum::<f64>() / n).sqrt(),
                        } as f32);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn random_data_matches_naive_windows() {
        let cases = [
            (Padding::Same, (3, 3), (2, 2), [2, 7, 6, 3]),
            (Padding::Valid, (3, 2), (2, 1), [1, 8, 7, 2]),
            (Padding::Same, (2, 4), (1, 3), [1, 5, 9, 1]),
            (Padding::Same, (5, 5), (3, 3), [1, 4, 4, 2]),
        ];
        let kernels: [PoolFn; 3] = [average_pool2d, max_pool2d, l2_pool2d];
        for (i, (pad, f, s, xs)) in cases.into_iter().enumerate() {
            let p = params(pad, f, s);
            let x = rand_vec(xs.iter().product(), i as u64);
            for (kind, k) in kernels.iter().enumerate() {
                let got = run(*k, &p, &x, xs);
                let want = naive(kind as u8, &p, &x, xs);
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-5, "case {i} kind {kind}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn output_shape_errors() {
        let p = params(Padding::Valid, (3, 3), (1, 1));
        assert!(pool2d_output_shape(&p, [1, 2, 5, 1]).is_err());
        assert!(pool2d_output_shape(&params(Padding::Same, (0, 3), (1, 1)), [1, 4, 4, 1]).is_err());
        assert!(pool2d_output_shape(&params(Padding::Same, (3, 3), (1, 0)), [1, 4, 4, 1]).is_err());
        let p = params(Padding::Same, (3, 3), (2, 2));
        assert_eq!(pool2d_output_shape(&p, [2, 5, 6, 3]).unwrap(), [2, 3, 3, 3]);
    }
}
