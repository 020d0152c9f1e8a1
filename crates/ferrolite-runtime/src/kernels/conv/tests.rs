//! Unit tests for the convolution kernels: hand-checked cases plus naive-sum and adjoint checks.

use super::*;
use crate::kernels::common::rand_vec;

fn params(padding: Padding, stride: (usize, usize), dilation: (usize, usize)) -> Conv2DParams {
    Conv2DParams {
        padding,
        stride_h: stride.0,
        stride_w: stride.1,
        dilation_h: dilation.0,
        dilation_w: dilation.1,
        activation: Activation::None,
    }
}

/// Leading pad from the TF formula, written out independently of `compute_padding`.
fn naive_pad(padding: Padding, input: usize, filter: usize, stride: usize, dil: usize) -> usize {
    let eff = (filter - 1) * dil + 1;
    match padding {
        Padding::Valid => 0,
        Padding::Same => {
            let out = input.div_ceil(stride);
            ((out - 1) * stride + eff).saturating_sub(input) / 2
        }
    }
}

/// Explicitly zero-pads the input, then sums every tap with no bounds checks.
/// `depthwise` selects the 1HWO layout and channel mapping.
fn naive_conv(
    p: &Conv2DParams,
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    os: [usize; 4],
    depthwise: bool,
) -> Vec<f32> {
    let (fh, fw) = (ws[1], ws[2]);
    let ph = naive_pad(p.padding, xs[1], fh, p.stride_h, p.dilation_h);
    let pw = naive_pad(p.padding, xs[2], fw, p.stride_w, p.dilation_w);
    let (hp, wp) = (
        xs[1] + 2 * ph + fh * p.dilation_h,
        xs[2] + 2 * pw + fw * p.dilation_w,
    );
    let mut padded = vec![0.0f32; xs[0] * hp * wp * xs[3]];
    for b in 0..xs[0] {
        for y in 0..xs[1] {
            for xx in 0..xs[2] {
                for c in 0..xs[3] {
                    padded[((b * hp + y + ph) * wp + xx + pw) * xs[3] + c] =
                        x[((b * xs[1] + y) * xs[2] + xx) * xs[3] + c];
                }
            }
        }
    }
    let mut out = vec![0.0f32; os.iter().product()];
    for b in 0..os[0] {
        for oy in 0..os[1] {
            for ox in 0..os[2] {
                for o in 0..os[3] {
                    let mut sum = 0.0f64;
                    for fy in 0..fh {
                        for fx in 0..fw {
                            let y = oy * p.stride_h + fy * p.dilation_h;
                            let xx = ox * p.stride_w + fx * p.dilation_w;
                            let at = |c: usize| padded[((b * hp + y) * wp + xx) * xs[3] + c];
                            if depthwise {
                                let m = os[3] / xs[3];
                                sum += (at(o / m) * w[(fy * fw + fx) * os[3] + o]) as f64;
                            } else {
                                let fi = ws[3];
                                let g = o / (os[3] / (xs[3] / fi));
                                for i in 0..fi {
                                    sum += (at(g * fi + i) * w[((o * fh + fy) * fw + fx) * fi + i])
                                        as f64;
                                }
                            }
                        }
                    }
                    out[((b * os[1] + oy) * os[2] + ox) * os[3] + o] = sum as f32;
                }
            }
        }
    }
    out
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "index {i}: {x} vs {y}"
        );
    }
}

#[test]
fn conv_hand_checked_same_and_valid() {
    // 1x3x3x1 input 1..9, 2x2 filter [[1, 2], [3, 4]], stride 1.
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let w = [1.0, 2.0, 3.0, 4.0];
    let xs = [1, 3, 3, 1];
    let ws = [1, 2, 2, 1];
    let valid = params(Padding::Valid, (1, 1), (1, 1));
    let os = conv2d_output_shape(&valid, xs, ws, None).unwrap();
    assert_eq!(os, [1, 2, 2, 1]);
    let mut out = vec![0.0; 4];
    conv2d(&valid, &x, xs, &w, ws, Some(&[0.5]), &mut out, os);
    // top-left: 1*1 + 2*2 + 4*3 + 5*4 = 37.
    assert_eq!(out, [37.5, 47.5, 67.5, 77.5]);

    // SAME: total pad 1 goes after, so the last row/column only sees the top-left taps.
    let same = params(Padding::Same, (1, 1), (1, 1));
    let os = conv2d_output_shape(&same, xs, ws, None).unwrap();
    assert_eq!(os, [1, 3, 3, 1]);
    let mut out = vec![0.0; 9];
    conv2d(&same, &x, xs, &w, ws, None, &mut out, os);
    assert_eq!(out, [37.0, 47.0, 21.0, 67.0, 77.0, 33.0, 23.0, 26.0, 9.0]);
}

#[test]
fn conv_fused_activation_clamps() {
    let mut p = params(Padding::Valid, (1, 1), (1, 1));
    p.activation = Activation::Relu6;
    let mut out = vec![0.0; 3];
    conv2d(
        &p,
        &[1.0, -2.0, 0.25],
        [1, 1, 3, 1],
        &[8.0],
        [1, 1, 1, 1],
        None,
        &mut out,
        [1, 1, 3, 1],
    );
    assert_eq!(out, [6.0, 0.0, 2.0]);
    // TFLite ignores a fused TANH in conv (CalculateActivationRange is unbounded for it).
    p.activation = Activation::Tanh;
    conv2d(
        &p,
        &[1.0, -2.0, 0.25],
        [1, 1, 3, 1],
        &[8.0],
        [1, 1, 1, 1],
        None,
        &mut out,
        [1, 1, 3, 1],
    );
    assert_eq!(out, [8.0, -16.0, 2.0]);
}

#[test]
fn conv_matches_naive_sum_on_random_data() {
    let cases = [
        (Padding::Same, (1, 1), (1, 1), [2, 5, 6, 3], [4, 3, 3, 3]),
        (Padding::Valid, (1, 1), (1, 1), [1, 6, 5, 2], [3, 3, 2, 2]),
        (Padding::Same, (2, 2), (2, 2), [1, 9, 8, 2], [3, 3, 3, 2]),
        (Padding::Valid, (2, 2), (2, 2), [2, 9, 10, 3], [2, 3, 2, 3]),
        (Padding::Same, (2, 1), (1, 3), [1, 7, 9, 1], [2, 2, 3, 1]),
        // Grouped: input depth 4, filter depth 2 → 2 groups of 3 filters.
        (Padding::Same, (1, 2), (1, 1), [1, 5, 5, 4], [6, 3, 3, 2]),
    ];
    for (i, (pad, stride, dil, xs, ws)) in cases.into_iter().enumerate() {
        let p = params(pad, stride, dil);
        let os = conv2d_output_shape(&p, xs, ws, Some(ws[0])).unwrap();
        let x = rand_vec(xs.iter().product(), 10 + i as u64);
        let w = rand_vec(ws.iter().product(), 20 + i as u64);
        let bias = rand_vec(ws[0], 30 + i as u64);
        let mut out = vec![0.0; os.iter().product()];
        conv2d(&p, &x, xs, &w, ws, Some(&bias), &mut out, os);
        let mut expect = naive_conv(&p, &x, xs, &w, ws, os, false);
        for (j, e) in expect.iter_mut().enumerate() {
            *e += bias[j % ws[0]];
        }
        assert_close(&out, &expect);
    }
}

#[test]
fn conv_output_shapes() {
    let p = params(Padding::Same, (2, 2), (1, 1));
    assert_eq!(
        conv2d_output_shape(&p, [1, 7, 8, 3], [5, 3, 3, 3], None).unwrap(),
        [1, 4, 4, 5]
    );
    let p = params(Padding::Valid, (2, 2), (2, 2));
    // Effective filter 5: (7 - 5 + 1) / 2 rounded up = 2, (8 - 5 + 1) / 2 = 2.
    assert_eq!(
        conv2d_output_shape(&p, [1, 7, 8, 3], [5, 3, 3, 3], None).unwrap(),
        [1, 2, 2, 5]
    );
    assert!(conv2d_output_shape(&p, [1, 4, 8, 3], [5, 3, 3, 3], None).is_err());
    assert!(conv2d_output_shape(&p, [1, 7, 8, 4], [5, 3, 3, 3], None).is_err());
    assert!(conv2d_output_shape(&p, [1, 7, 8, 3], [5, 3, 3, 3], Some(4)).is_err());
    let bad = params(Padding::Same, (0, 1), (1, 1));
    assert!(conv2d_output_shape(&bad, [1, 7, 8, 3], [5, 3, 3, 3], None).is_err());
}

#[test]
fn depthwise_hand_checked_multiplier_2() {
    // 1x1x2x2 input, 1x1x1x4 filter: out[x, 2i + m] = in[x, i] * f[2i + m].
    let x = [1.0, 2.0, 3.0, 4.0];
    let w = [10.0, 20.0, 30.0, 40.0];
    let p = params(Padding::Valid, (1, 1), (1, 1));
    let os = depthwise_conv2d_output_shape(&p, [1, 1, 2, 2], [1, 1, 1, 4], Some(4)).unwrap();
    assert_eq!(os, [1, 1, 2, 4]);
    let mut out = vec![0.0; 8];
    depthwise_conv2d(
        &p,
        &x,
        [1, 1, 2, 2],
        &w,
        [1, 1, 1, 4],
        Some(&[1.0; 4]),
        &mut out,
        os,
    );
    assert_eq!(out, [11.0, 21.0, 61.0, 81.0, 31.0, 61.0, 121.0, 161.0]);
}

#[test]
fn depthwise_matches_naive_sum_on_random_data() {
    let cases = [
        (Padding::Same, (1, 1), (1, 1), [1, 5, 6, 3], 1),
        (Padding::Same, (2, 2), (2, 2), [2, 9, 8, 2], 2),
        (Padding::Valid, (2, 1), (1, 2), [1, 8, 9, 3], 3),
    ];
    for (i, (pad, stride, dil, xs, mult)) in cases.into_iter().enumerate() {
        let p = params(pad, stride, dil);
        let ws = [1, 3, 3, xs[3] * mult];
        let os = depthwise_conv2d_output_shape(&p, xs, ws, None).unwrap();
        let x = rand_vec(xs.iter().product(), 40 + i as u64);
        let w = rand_vec(ws.iter().product(), 50 + i as u64);
        let mut out = vec![0.0; os.iter().product()];
        depthwise_conv2d(&p, &x, xs, &w, ws, None, &mut out, os);
        assert_close(&out, &naive_conv(&p, &x, xs, &w, ws, os, true));
    }
    let p = params(Padding::Same, (1, 1), (1, 1));
    assert!(depthwise_conv2d_output_shape(&p, [1, 4, 4, 3], [1, 3, 3, 4], None).is_err());
    assert!(depthwise_conv2d_output_shape(&p, [1, 4, 4, 2], [2, 3, 3, 4], None).is_err());
}

fn tparams(padding: Padding, stride: (usize, usize)) -> TransposeConvParams {
    TransposeConvParams {
        padding,
        stride_h: stride.0,
        stride_w: stride.1,
        activation: Activation::None,
    }
}

#[test]
fn transpose_conv_hand_checked() {
    // VALID, stride 2, filter [10, 1]: each input pixel writes two output columns.
    let p = tparams(Padding::Valid, (1, 2));
    let os = transpose_conv_output_shape(&p, &[1, 1, 4, 1], [1, 1, 2, 1], [1, 1, 2, 1], Some(1))
        .unwrap();
    let mut out = vec![0.0; 4];
    transpose_conv(
        &p,
        &[1.0, 2.0],
        [1, 1, 2, 1],
        &[10.0, 1.0],
        [1, 1, 2, 1],
        Some(&[0.5]),
        &mut out,
        os,
    );
    assert_eq!(out, [10.5, 1.5, 20.5, 2.5]);

    // SAME, output width 3, filter [1, 10, 100], stride 2: pad = 1, overlapping at x = 1.
    let p = tparams(Padding::Same, (1, 2));
    let mut out = vec![0.0; 3];
    let f = [1.0, 10.0, 100.0];
    transpose_conv(
        &p,
        &[1.0, 2.0],
        [1, 1, 2, 1],
        &f,
        [1, 1, 3, 1],
        None,
        &mut out,
        [1, 1, 3, 1],
    );
    assert_eq!(out, [10.0, 102.0, 20.0]);
}

#[test]
fn transpose_conv_is_adjoint_of_conv() {
    // <conv(y; W'), x> == <y, tconv(x; W)> with W'[i, fy, fx, o] = W[o, fy, fx, i].
    let cases = [
        (Padding::Same, (2, 2), [1, 7, 8, 3], [3, 3, 3, 2]),
        (Padding::Valid, (2, 3), [2, 9, 10, 2], [2, 3, 2, 3]),
        (Padding::Same, (1, 1), [1, 5, 4, 2], [2, 2, 3, 3]),
        (Padding::Valid, (3, 2), [1, 10, 7, 4], [4, 4, 3, 2]),
    ];
    for (i, (pad, stride, ys, ws)) in cases.into_iter().enumerate() {
        // ys is the transpose-conv output (= conv input); ws is OHWI with O = ys[3].
        let [o_c, fh, fw, i_c] = ws;
        assert_eq!(o_c, ys[3]);
        let cp = params(pad, stride, (1, 1));
        let wt_shape = [i_c, fh, fw, o_c];
        let xs = conv2d_output_shape(&cp, ys, wt_shape, None).unwrap();
        let tp = tparams(pad, stride);
        let ys_i32: Vec<i32> = ys.iter().map(|&d| d as i32).collect();
        assert_eq!(
            transpose_conv_output_shape(&tp, &ys_i32, xs, ws, None).unwrap(),
            ys
        );

        let w = rand_vec(ws.iter().product(), 60 + i as u64);
        let mut wt = vec![0.0; w.len()];
        for o in 0..o_c {
            for t in 0..fh * fw {
                for c in 0..i_c {
                    wt[(c * fh * fw + t) * o_c + o] = w[(o * fh * fw + t) * i_c + c];
                }
            }
        }
        let x = rand_vec(xs.iter().product(), 70 + i as u64);
        let y = rand_vec(ys.iter().product(), 80 + i as u64);
        let mut conv_y = vec![0.0; x.len()];
        conv2d(&cp, &y, ys, &wt, wt_shape, None, &mut conv_y, xs);
        let mut tconv_x = vec![0.0; y.len()];
        transpose_conv(&tp, &x, xs, &w, ws, None, &mut tconv_x, ys);
        let lhs: f64 = conv_y.iter().zip(&x).map(|(a, b)| (a * b) as f64).sum();
        let rhs: f64 = tconv_x.iter().zip(&y).map(|(a, b)| (a * b) as f64).sum();
        assert!(
            (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
            "case {i}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn transpose_conv_shape_errors() {
    let p = tparams(Padding::Same, (2, 2));
    assert!(transpose_conv_output_shape(&p, &[1, 4, 4], [1, 2, 2, 3], [5, 3, 3, 3], None).is_err());
    assert!(
        transpose_conv_output_shape(&p, &[1, 4, -4, 5], [1, 2, 2, 3], [5, 3, 3, 3], None).is_err()
    );
    assert!(
        transpose_conv_output_shape(&p, &[2, 4, 4, 5], [1, 2, 2, 3], [5, 3, 3, 3], None).is_err()
    );
    assert!(
        transpose_conv_output_shape(&p, &[1, 4, 4, 6], [1, 2, 2, 3], [5, 3, 3, 3], None).is_err()
    );
    assert!(
        transpose_conv_output_shape(&p, &[1, 4, 4, 5], [1, 2, 2, 2], [5, 3, 3, 3], None).is_err()
    );
    assert!(
        transpose_conv_output_shape(&p, &[1, 4, 4, 5], [1, 2, 2, 3], [5, 3, 3, 3], Some(3))
            .is_err()
    );
}

#[test]
fn nan_passes_through_and_inf_clamps_like_tflite() {
    let p = params(Padding::Valid, (1, 1), (1, 1));
    let mut out = vec![0.0; 2];
    conv2d(
        &p,
        &[f32::NAN, f32::INFINITY],
        [1, 1, 2, 1],
        &[1.0],
        [1, 1, 1, 1],
        None,
        &mut out,
        [1, 1, 2, 1],
    );
    assert!(out[0].is_nan());
    assert_eq!(out[1], f32::MAX);
}
