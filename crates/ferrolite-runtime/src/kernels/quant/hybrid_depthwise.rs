//! Dynamic-range ("hybrid") `DEPTHWISE_CONV_2D`: float input, int8 filter with one scale per
//! output channel, float bias and output.
//!
//! TFLite has a single hybrid depthwise path (`EvalHybridPerChannel`): every batch image (all
//! `h · w · c` values) is quantized *asymmetrically* (`AsymmetricQuantizeFloats`, one scale and
//! zero point per image), and each output channel `o = i · multiplier + m` accumulates
//! `Σ w[fy, fx, o] · (q[y, x, i] - zp)` over the in-bounds taps in int32 (padding contributes
//! nothing). The accumulator is then scaled in f32 the way the x86 build of TFLite's optimized
//! kernel does it — `(acc · image_scale) · filter_scale[o]`, left to right, which can differ from
//! the reference kernel's `acc · (filter_scale · image_scale)` in the last bit — plus the bias,
//! clamped to the fused activation's float range (ReLU family; other activations do not clamp).
//! TFLite requires one filter scale per output channel; the glue checks that. Shapes are
//! validated by the float module's `depthwise_conv2d_output_shape`; the kernel assumes
//! consistent shapes and slice lengths.

use super::fully_connected::asymmetric_quantize_floats;
use crate::kernels::common::{activation_range, compute_padding};
use crate::kernels::conv::Conv2DParams;

/// Hybrid DEPTHWISE_CONV_2D over NHWC float `input`, 1HWO int8 `filter` with `filter_scales`
/// (one per output channel), optional float bias. `quantized` is scratch (resized as needed).
#[allow(clippy::too_many_arguments)]
pub fn hybrid_depthwise_conv2d(
    params: &Conv2DParams,
    filter_scales: &[f32],
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    bias: Option<&[f32]>,
    quantized: &mut Vec<i8>,
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [_, fh, fw, out_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let multiplier = out_c / in_c.max(1);
    let (_, pad_h) = compute_padding(params.padding, in_h, fh, params.stride_h, params.dilation_h);
    let (_, pad_w) = compute_padding(params.padding, in_w, fw, params.stride_w, params.dilation_w);
    let (act_min, act_max) = activation_range(params.activation);
    let image = in_h * in_w * in_c;
    quantized.resize(input.len(), 0);
    let mut acc = vec![0i32; out_c];

    for b in 0..batches {
        let range = b * image..(b + 1) * image;
        let (scale, zero_point) =
            asymmetric_quantize_floats(&input[range.clone()], &mut quantized[range]);
        let q_image = &quantized[b * image..(b + 1) * image];
        for oy in 0..out_h {
            let y0 = (oy * params.stride_h) as isize - pad_h as isize;
            for ox in 0..out_w {
                let x0 = (ox * params.stride_w) as isize - pad_w as isize;
                acc.iter_mut().for_each(|a| *a = 0);
                for fy in 0..fh {
                    let iy = y0 + (fy * params.dilation_h) as isize;
                    if iy < 0 || iy >= in_h as isize {
                        continue;
                    }
                    for fx in 0..fw {
                        let ix = x0 + (fx * params.dilation_w) as isize;
                        if ix < 0 || ix >= in_w as isize {
                            continue;
                        }
                        let px = (iy as usize * in_w + ix as usize) * in_c;
                        let taps = &filter[(fy * fw + fx) * out_c..(fy * fw + fx + 1) * out_c];
                        for (i, &q) in q_image[px..px + in_c].iter().enumerate() {
                            let x = i32::from(q) - zero_point;
                            let o0 = i * multiplier;
                            for (a, &w) in acc[o0..o0 + multiplier]
                                .iter_mut()
                                .zip(&taps[o0..o0 + multiplier])
                            {
                                *a = a.wrapping_add(i32::from(w).wrapping_mul(x));
                            }
                        }
                    }
                }
                let out_base = ((b * out_h + oy) * out_w + ox) * out_c;
                for (o, &a) in acc.iter().enumerate() {
                    let mut v = a as f32 * scale * filter_scales[o];
                    if let Some(bias) = bias {
                        v += bias[o];
                    }
                    // TFLite clamps with max then min (NaN-propagation differs from f32::clamp).
                    output[out_base + o] = v.max(act_min).min(act_max);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};
    use crate::kernels::conv::{depthwise_conv2d, depthwise_conv2d_output_shape};

    fn geometry(padding: Padding, stride: usize, dilation: usize) -> Conv2DParams {
        Conv2DParams {
            padding,
            stride_h: stride,
            stride_w: stride,
            dilation_h: dilation,
            dilation_w: dilation,
            activation: Activation::Relu6,
        }
    }

    #[test]
    fn close_to_float_depthwise() {
        let is = [2, 6, 5, 3];
        let fs = [1, 3, 3, 6];
        let input: Vec<f32> = (0..is.iter().product::<usize>())
            .map(|i| ((i * 37 % 23) as f32 - 5.0) * 0.11)
            .collect();
        let filter: Vec<i8> = (0..fs.iter().product::<usize>())
            .map(|i| ((i * 53 % 255) as i32 - 127) as i8)
            .collect();
        let scales = [0.01f32, 0.02, 0.005, 0.01, 0.015, 0.008];
        let bias = [0.5f32, -0.25, 0.0, 1.0, 0.1, -0.3];
        for (padding, stride, dilation) in [
            (Padding::Same, 1, 1),
            (Padding::Valid, 2, 1),
            (Padding::Same, 1, 2),
        ] {
            let g = geometry(padding, stride, dilation);
            let os = depthwise_conv2d_output_shape(&g, is, fs, Some(6)).unwrap();
            let mut got = vec![0f32; os.iter().product()];
            let mut scratch = Vec::new();
            hybrid_depthwise_conv2d(
                &g,
                &scales,
                &input,
                is,
                &filter,
                fs,
                Some(&bias),
                &mut scratch,
                &mut got,
                os,
            );
            let real: Vec<f32> = filter
                .iter()
                .enumerate()
                .map(|(i, &w)| f32::from(w) * scales[i % 6])
                .collect();
            let mut want = vec![0f32; got.len()];
            depthwise_conv2d(&g, &input, is, &real, fs, Some(&bias), &mut want, os);
            // Input and weight quantization (8 bits each) bound the error to about 1% of the
            // output's range.
            let peak = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 0.02 * peak, "{g} vs {w} (peak {peak})");
            }
        }
    }

    #[test]
    fn zero_image_gives_bias() {
        let g = geometry(Padding::Same, 1, 1);
        let is = [1, 3, 3, 2];
        let fs = [1, 2, 2, 2];
        let os = depthwise_conv2d_output_shape(&g, is, fs, Some(2)).unwrap();
        let mut out = vec![9f32; os.iter().product()];
        hybrid_depthwise_conv2d(
            &g,
            &[0.1, 0.2],
            &[0.0; 18],
            is,
            &[1, 2, 3, 4, 5, 6, 7, 8],
            fs,
            Some(&[0.25, 7.0]),
            &mut Vec::new(),
            &mut out,
            os,
        );
        for px in out.chunks_exact(2) {
            assert_eq!(px, [0.25, 6.0]);
        }
    }
}
