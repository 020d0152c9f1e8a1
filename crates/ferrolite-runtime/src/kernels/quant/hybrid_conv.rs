//! Dynamic-range ("hybrid") `CONV_2D`: float input, int8 weights, float bias and output.
//!
//! TFLite quantizes each batch image (all `h · w · c` values at once) to int8 at run time and
//! convolves in int32:
//!
//! * with distinct per-channel filter scales (or a grouped conv) it takes `EvalHybridPerChannel`:
//!   the image is quantized *asymmetrically* (`AsymmetricQuantizeFloats`, one zero point per
//!   image), the im2col buffer is padded with that zero point and `zp · Σ w` is subtracted from
//!   each GEMM result — which is exactly `Σ (q - zp) · w` over the in-bounds taps, the integer this
//!   kernel accumulates;
//! * otherwise (`EvalHybrid`) the image is quantized *symmetrically* (`SymmetricQuantizeFloats`)
//!   and padding contributes 0.
//!
//! The int32 result is then scaled in f32: `out = acc · (filter_scale[c] · image_scale) +
//! bias[c]`, clamped to the fused activation's float range (the ReLU family; other activations do
//! not clamp, as in TFLite). Shapes are validated by the float module's `conv2d_output_shape`;
//! the kernel assumes consistent shapes and slice lengths.

use super::fully_connected::{asymmetric_quantize_floats, symmetric_quantize_floats};
use crate::kernels::common::{activation_range, clamp_activation};
use crate::kernels::conv::{window, Conv2DParams};

/// Prepared parameters of a hybrid CONV_2D.
#[derive(Debug, Clone, PartialEq)]
pub struct HybridConvParams {
    /// Geometry and fused activation.
    pub geometry: Conv2DParams,
    /// Per-output-channel filter scales (one entry when per-tensor).
    pub filter_scales: Vec<f32>,
    /// Quantize each image asymmetrically (TFLite's per-channel path).
    pub asymmetric: bool,
}

/// Prepares a hybrid CONV_2D. TFLite takes its per-channel (asymmetric) path when the filter's
/// scales are not all equal or the convolution is grouped, and the symmetric path otherwise.
pub fn hybrid_conv_params(
    geometry: &Conv2DParams,
    filter_scales: &[f32],
    grouped: bool,
) -> HybridConvParams {
    let distinct = filter_scales.iter().any(|&s| s != filter_scales[0]);
    HybridConvParams {
        geometry: *geometry,
        filter_scales: filter_scales.to_vec(),
        asymmetric: distinct || grouped,
    }
}

/// Hybrid CONV_2D over NHWC float `input`, OHWI int8 `filter` (grouped when `input_c` is a
/// multiple of the filter depth) and optional float bias. `quantized` is scratch space of
/// `input.len()` values (resized as needed).
#[allow(clippy::too_many_arguments)]
pub fn hybrid_conv2d(
    params: &HybridConvParams,
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
    let [_, out_h, out_w, out_c] = output_shape;
    let image = in_h * in_w * in_c;
    let out_image = out_h * out_w * out_c;
    let (act_min, act_max) = activation_range(params.geometry.activation);
    quantized.resize(input.len(), 0);

    for b in 0..batches {
        let range = b * image..(b + 1) * image;
        let (scale, zero_point) = if params.asymmetric {
            asymmetric_quantize_floats(&input[range.clone()], &mut quantized[range.clone()])
        } else {
            (
                symmetric_quantize_floats(&input[range.clone()], &mut quantized[range.clone()]),
                0,
            )
        };
        window::grouped_conv(
            &params.geometry,
            &quantized[range],
            [1, in_h, in_w, in_c],
            filter,
            filter_shape,
            &mut output[b * out_image..(b + 1) * out_image],
            [1, out_h, out_w, out_c],
            |mut acc: i32, xs: &[i8], ws: &[i8]| {
                for (&x, &w) in xs.iter().zip(ws) {
                    acc = acc.wrapping_add((i32::from(x) - zero_point).wrapping_mul(i32::from(w)));
                }
                acc
            },
            |o, acc| {
                let fs = params.filter_scales[if params.filter_scales.len() == 1 {
                    0
                } else {
                    o
                }];
                // TFLite forms the multiplier as the f32 product filter scale · image scale.
                let v = acc as f32 * (fs * scale) + bias.map_or(0.0, |bias| bias[o]);
                clamp_activation(v, act_min, act_max)
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};
    use crate::kernels::conv::{conv2d, conv2d_output_shape};

    fn geometry(padding: Padding, stride: usize) -> Conv2DParams {
        Conv2DParams {
            padding,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            activation: Activation::None,
        }
    }

    #[test]
    fn path_selection_follows_tflite() {
        let g = geometry(Padding::Same, 1);
        assert!(!hybrid_conv_params(&g, &[0.5], false).asymmetric);
        assert!(!hybrid_conv_params(&g, &[0.5, 0.5], false).asymmetric);
        assert!(hybrid_conv_params(&g, &[0.5, 0.25], false).asymmetric);
        assert!(hybrid_conv_params(&g, &[0.5], true).asymmetric);
    }

    #[test]
    fn close_to_float_conv_on_both_paths() {
        let is = [2, 5, 4, 3];
        let fs = [4, 3, 3, 3];
        let input: Vec<f32> = (0..is.iter().product::<usize>())
            .map(|i| ((i * 37 % 23) as f32 - 7.0) * 0.13)
            .collect();
        let filter: Vec<i8> = (0..fs.iter().product::<usize>())
            .map(|i| ((i * 53 % 255) as i32 - 127) as i8)
            .collect();
        let bias = [0.5f32, -0.25, 0.0, 1.0];
        for (scales, padding) in [
            (vec![0.01f32, 0.02, 0.005, 0.01], Padding::Same),
            (vec![0.01f32], Padding::Valid),
        ] {
            let g = geometry(padding, 1);
            let p = hybrid_conv_params(&g, &scales, false);
            let os = conv2d_output_shape(&g, is, fs, Some(4)).unwrap();
            let mut got = vec![0f32; os.iter().product()];
            let mut scratch = Vec::new();
            hybrid_conv2d(
                &p,
                &input,
                is,
                &filter,
                fs,
                Some(&bias),
                &mut scratch,
                &mut got,
                os,
            );
            let real_filter: Vec<f32> = filter
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let o = i / (fs[1] * fs[2] * fs[3]);
                    f32::from(w) * scales[if scales.len() == 1 { 0 } else { o }]
                })
                .collect();
            let mut want = vec![0f32; got.len()];
            conv2d(&g, &input, is, &real_filter, fs, Some(&bias), &mut want, os);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 0.05, "{g} vs {w}");
            }
        }
    }
}
