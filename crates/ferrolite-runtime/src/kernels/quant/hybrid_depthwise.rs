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
//!
//! With SIMD and depth multiplier 1 the integer sum runs on the f32 depthwise kernels instead
//! ([`float_route`]): the offset inputs `q - zp` (|·| ≤ 255) and the weights (|·| ≤ 127) are
//! small integers, so every product and every partial sum of up to [`MAX_EXACT_TAPS`] taps is an
//! integer below 2^24, which f32 represents exactly — the f32 accumulator equals the int32 one
//! bit for bit, in any summation order, and the f32 window kernels are several times faster than
//! the 8-bit pixel walk at MobileNet's small maps.

use std::cell::RefCell;

use crate::kernels::common::activation_range;
use crate::kernels::conv::{window, Conv2DParams};
use crate::kernels::simd::gemm_f32::Epilogue;
use crate::kernels::simd::quantize_f32::{
    asymmetric_quantize, asymmetric_quantize_offsets, scale_clamp,
};
use crate::kernels::simd::{self, dwconv_f32, dwconv_i8, Level};

/// Most taps whose int32 sum the f32 route reproduces exactly: `taps · 255 · 128 < 2^24`.
pub const MAX_EXACT_TAPS: usize = (1 << 24) / (255 * 128);

thread_local! {
    /// Offset input image and widened filter of the f32 route.
    static FLOAT_SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const {
        RefCell::new((Vec::new(), Vec::new()))
    };
}

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
    hybrid_depthwise_conv2d_at(
        simd::level(),
        params,
        filter_scales,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        quantized,
        output,
        output_shape,
    );
}

/// [`hybrid_depthwise_conv2d`] at an explicit SIMD level (`Level::Scalar` is the reference).
#[allow(clippy::too_many_arguments)]
pub fn hybrid_depthwise_conv2d_at(
    level: Level,
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
    let [_, out_h, out_w, out_c] = output_shape;
    let image = in_h * in_w * in_c;
    let out_image = out_h * out_w * out_c;
    let (act_min, act_max) = activation_range(params.activation);
    quantized.resize(input.len(), 0);

    for b in 0..batches {
        let range = b * image..(b + 1) * image;
        let out_b = &mut output[b * out_image..(b + 1) * out_image];
        if float_route(
            level,
            params,
            filter_scales,
            (&input[range.clone()], &mut *out_b),
            [1, in_h, in_w, in_c],
            filter,
            filter_shape,
            bias,
            [1, out_h, out_w, out_c],
            quantized,
        ) {
            continue;
        }
        let (scale, zero_point) =
            asymmetric_quantize(level, &input[range.clone()], &mut quantized[range.clone()]);
        let hp = dwconv_i8::HybridDw {
            input_scale: scale,
            input_zero_point: zero_point,
            filter_scales,
            bias,
            act: (act_min, act_max),
        };
        if dwconv_i8::hybrid_depthwise_conv2d(
            level,
            params,
            &hp,
            &quantized[range.clone()],
            [1, in_h, in_w, in_c],
            filter,
            filter_shape,
            &mut output[b * out_image..(b + 1) * out_image],
            [1, out_h, out_w, out_c],
        ) {
            continue;
        }
        window::depthwise_conv(
            params,
            &quantized[range],
            [1, in_h, in_w, in_c],
            filter,
            filter_shape,
            &mut output[b * out_image..(b + 1) * out_image],
            [1, out_h, out_w, out_c],
            |acc: i32, q: i8, w: i8| {
                acc.wrapping_add(i32::from(w).wrapping_mul(i32::from(q) - zero_point))
            },
            |o, acc| {
                let mut v = acc as f32 * scale * filter_scales[o];
                if let Some(bias) = bias {
                    v += bias[o];
                }
                // TFLite clamps with max then min (NaN-propagation differs from f32::clamp).
                v.max(act_min).min(act_max)
            },
        );
    }
}

/// One image: quantized as TFLite does (kept as the offsets `q - zp` in f32), the integer sum
/// on the f32 depthwise kernel (exact, see the module docs), then LiteRT's float epilogue. Returns `false` (doing nothing) at the scalar level, for depth
/// multipliers other than 1 or windows of more than [`MAX_EXACT_TAPS`] taps.
#[allow(clippy::too_many_arguments)]
fn float_route(
    level: Level,
    params: &Conv2DParams,
    filter_scales: &[f32],
    (image, output): (&[f32], &mut [f32]),
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    bias: Option<&[f32]>,
    output_shape: [usize; 4],
    tmp: &mut Vec<i8>,
) -> bool {
    let [_, fh, fw, out_c] = filter_shape;
    let c = input_shape[3];
    if level == Level::Scalar || out_c != c || fh * fw > MAX_EXACT_TAPS || c == 0 {
        return false;
    }
    let (act_min, act_max) = activation_range(params.activation);
    FLOAT_SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (x, w) = &mut *guard;
        x.resize(image.len(), 0.0);
        let (scale, _) = asymmetric_quantize_offsets(level, image, x, tmp);
        w.clear();
        w.extend(filter[..fh * fw * c].iter().map(|&v| f32::from(v)));
        let raw = Epilogue {
            bias: None,
            min: f32::NEG_INFINITY,
            max: f32::INFINITY,
        };
        if !dwconv_f32::depthwise_conv2d(
            level,
            params,
            x,
            input_shape,
            w,
            filter_shape,
            raw,
            output,
            output_shape,
        ) {
            return false;
        }
        // `acc` holds the exact int32 sum, so `acc · scale` is TFLite's `(float)acc · scale`;
        // the clamp selects like `v.max(act_min).min(act_max)` (a NaN becomes `act_min`; only
        // a -0 result, which needs an underflowing product, might differ in its sign).
        scale_clamp(
            level,
            output,
            c,
            scale,
            &filter_scales[..c],
            bias,
            (act_min, act_max),
        );
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};
    use crate::kernels::conv::{depthwise_conv2d, depthwise_conv2d_output_shape};
    use crate::kernels::simd::{self, Level};

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

    #[test]
    fn simd_matches_scalar_bit_for_bit() {
        let mut seed = 0x1234_5678u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        for case in 0..120 {
            let c = 1 + next(80);
            let is = [1 + next(2), 1 + next(9), 1 + next(9), c];
            let fs = [1, 1 + next(4), 1 + next(4), c];
            let padding = if next(2) == 0 {
                Padding::Same
            } else {
                Padding::Valid
            };
            let mut g = geometry(padding, 1 + next(2), 1 + next(2));
            g.activation = [Activation::None, Activation::Relu, Activation::Relu6][next(3)];
            let Ok(os) = depthwise_conv2d_output_shape(&g, is, fs, Some(c)) else {
                continue;
            };
            let input: Vec<f32> = (0..is.iter().product::<usize>())
                .map(|_| next(1000) as f32 * 0.01 - 3.0)
                .collect();
            let filter: Vec<i8> = (0..fs.iter().product::<usize>())
                .map(|_| (next(255) as i32 - 127) as i8)
                .collect();
            let scales: Vec<f32> = (0..c).map(|_| 0.001 + next(100) as f32 * 1e-4).collect();
            let bias: Vec<f32> = (0..c).map(|_| next(200) as f32 * 0.01 - 1.0).collect();
            let bias = (case % 3 != 0).then_some(&bias[..]);
            assert_every_level_matches_scalar(&g, &scales, &input, is, &filter, fs, bias, os);
        }
    }

    /// The f32 route on the window kernels (3x3 / 5x5, maps up to 14x14, stride 1 and 2) with
    /// inputs that quantize to the ends of the int8 range and weights of ±127, so the sums reach
    /// their largest magnitudes: bit-identical to the scalar int32 kernel.
    #[test]
    fn float_route_is_exact_at_extremes() {
        let mut seed = 0x9e37_79b9u64;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        for case in 0..60 {
            let c = [1, 7, 16, 33, 144][next(5)];
            let k = [3, 5][next(2)];
            let is = [1, 1 + next(14), 1 + next(14), c];
            let fs = [1, k, k, c];
            let mut g = geometry(Padding::Same, 1 + next(2), 1);
            g.activation = [Activation::None, Activation::Relu6][next(2)];
            let Ok(os) = depthwise_conv2d_output_shape(&g, is, fs, Some(c)) else {
                continue;
            };
            // Mostly the range's ends (-3 and 5 → q = -128 and 127), some values between.
            let input: Vec<f32> = (0..is.iter().product::<usize>())
                .map(|_| match next(4) {
                    0 => -3.0,
                    1 | 2 => 5.0,
                    _ => next(800) as f32 * 0.01 - 3.0,
                })
                .collect();
            let filter: Vec<i8> = (0..fs.iter().product::<usize>())
                .map(|_| if next(2) == 0 { 127 } else { -127 })
                .collect();
            let scales: Vec<f32> = (0..c).map(|_| 0.001 + next(100) as f32 * 1e-4).collect();
            let bias: Vec<f32> = (0..c).map(|_| next(200) as f32 * 0.01 - 1.0).collect();
            let bias = (case % 2 == 0).then_some(&bias[..]);
            assert_every_level_matches_scalar(&g, &scales, &input, is, &filter, fs, bias, os);
        }
    }

    /// Runs the hybrid depthwise at every available SIMD level and asserts each output is
    /// bit-identical to the scalar kernel's.
    #[allow(clippy::too_many_arguments)]
    fn assert_every_level_matches_scalar(
        g: &Conv2DParams,
        scales: &[f32],
        input: &[f32],
        is: [usize; 4],
        filter: &[i8],
        fs: [usize; 4],
        bias: Option<&[f32]>,
        os: [usize; 4],
    ) {
        let run = |level| {
            let mut out = vec![0f32; os.iter().product()];
            hybrid_depthwise_conv2d_at(
                level,
                g,
                scales,
                input,
                is,
                filter,
                fs,
                bias,
                &mut Vec::new(),
                &mut out,
                os,
            );
            out
        };
        let want = run(Level::Scalar);
        for level in simd::available_levels() {
            let got = run(level);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{level:?} {is:?} {fs:?} {g:?}");
        }
    }
}
