//! Quantized RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (int8 / uint8, NHWC), as LiteRT's
//! built-in kernels compute them on x86.
//!
//! Both work on the raw integers: the output keeps the input's quantization (TFLite does not
//! rescale). The paths differ by type:
//!
//! * int8 bilinear is TFLite's `ResizeBilinearInteger`: scales and source coordinates in Q10
//!   fixed point (`scale_10 = round(2^10 · in / out)`, integer division), four Q20 weights per
//!   output, and a final division by `2^20` rounding half away from zero.
//! * uint8 bilinear is the optimized `ResizeBilinearGenericSmallChannel`: f32 scale and
//!   coordinates (the float kernel's conventions), the four products summed left to right in f32
//!   plus 0.5, truncated. LiteRT has a separate fixed-point kernel for exact 8× upsampling with
//!   half-pixel centres and a depth multiple of 8 ([`is_uint8_x8_special_case`]); that case is not
//!   reproduced and callers report it as unsupported.
//! * nearest neighbour on 8-bit data uses TFLite's optimized fixed-point indexing
//!   (`(i · ((in << 16) / out + 1)) >> 16`) when neither `align_corners` nor `half_pixel_centers`
//!   is set, and the reference f32 indexing otherwise.
//!
//! Shapes are validated by the float module's `resize_*_output_shape` functions; the kernels
//! assume consistent shapes and slice lengths.

use super::QuantElem;
use crate::kernels::resize::{
    bilinear_coord, copy_nearest, nearest_index, resize_scale, ResizeParams,
};

/// Q10 scale of one axis (`ResizeBilinearInteger`).
fn scale_q10(in_size: usize, out_size: usize, align_corners: bool) -> i64 {
    let (i, o) = if align_corners && out_size > 1 {
        (in_size as i64 - 1, out_size as i64 - 1)
    } else {
        (in_size as i64, out_size as i64)
    };
    ((1 << 10) * i + o / 2) / o
}

/// Q10 source coordinate of output index `i` and its two clamped neighbours.
fn coord_q10(i: usize, scale: i64, half_pixel: bool, in_size: usize) -> (i64, usize, usize) {
    let v = if half_pixel {
        i as i64 * scale + scale / 2 - (1 << 9)
    } else {
        i as i64 * scale
    };
    // C++ integer division truncates towards zero.
    let lo = (v / (1 << 10)).max(0);
    let hi = ((v + (1 << 10) - 1) / (1 << 10)).min(in_size as i64 - 1);
    (v, lo as usize, hi as usize)
}

/// int8 RESIZE_BILINEAR (TFLite's `ResizeBilinearInteger`).
pub fn resize_bilinear_integer<T: QuantElem>(
    params: &ResizeParams,
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
    output_shape: [usize; 4],
) {
    let [batches, in_h, in_w, depth] = input_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (sh, sw) = (
        scale_q10(in_h, out_h, params.align_corners),
        scale_q10(in_w, out_w, params.align_corners),
    );
    let cols: Vec<_> = (0..out_w)
        .map(|x| coord_q10(x, sw, params.half_pixel_centers, in_w))
        .collect();
    let at = |b: usize, y: usize, x: usize, c: usize| {
        i64::from(input[((b * in_h + y) * in_w + x) * depth + c].to_i32())
    };
    let one = 1i64 << 10;
    for b in 0..batches {
        for oy in 0..out_h {
            let (vy, y0, y1) = coord_q10(oy, sh, params.half_pixel_centers, in_h);
            let dy = vy - one * y0 as i64;
            for (ox, &(vx, x0, x1)) in cols.iter().enumerate() {
                let dx = vx - one * x0 as i64;
                let base = ((b * out_h + oy) * out_w + ox) * depth;
                for (c, o) in output[base..base + depth].iter_mut().enumerate() {
                    let sum = at(b, y0, x0, c) * (one - dy) * (one - dx)
                        + at(b, y1, x0, c) * dy * (one - dx)
                        + at(b, y0, x1, c) * (one - dy) * dx
                        + at(b, y1, x1, c) * dy * dx;
                    let round = if sum > 0 { 1 << 19 } else { -(1 << 19) };
                    // Truncating division, then a plain narrowing cast as in C++.
                    let v = (sum + round) / (1 << 20);
                    *o = T::from_i32_clamped(v.clamp(T::MIN.into(), T::MAX.into()) as i32);
                }
            }
        }
    }
}

/// uint8 RESIZE_BILINEAR (TFLite's optimized `ResizeBilinearGenericSmallChannel<uint8>`).
pub fn resize_bilinear_u8(
    params: &ResizeParams,
    input: &[u8],
    input_shape: [usize; 4],
    output: &mut [u8],
    output_shape: [usize; 4],
) {
    let [batches, in_h, in_w, depth] = input_shape;
    let [_, out_h, out_w, _] = output_shape;
    let sh = resize_scale(in_h, out_h, params.align_corners);
    let sw = resize_scale(in_w, out_w, params.align_corners);
    let cols: Vec<_> = (0..out_w)
        .map(|x| bilinear_coord(x, sw, params.half_pixel_centers, in_w))
        .collect();
    let pixel = |b: usize, y: usize, x: usize| ((b * in_h + y) * in_w + x) * depth;
    for b in 0..batches {
        for oy in 0..out_h {
            let (vy, y0, y1) = bilinear_coord(oy, sh, params.half_pixel_centers, in_h);
            let dy = vy - y0 as f32;
            for (ox, &(vx, x0, x1)) in cols.iter().enumerate() {
                let dx = vx - x0 as f32;
                let offsets = [
                    pixel(b, y0, x0),
                    pixel(b, y0, x1),
                    pixel(b, y1, x0),
                    pixel(b, y1, x1),
                ];
                let weights = [
                    (1.0 - dy) * (1.0 - dx),
                    (1.0 - dy) * dx,
                    dy * (1.0 - dx),
                    dy * dx,
                ];
                let base = ((b * out_h + oy) * out_w + ox) * depth;
                for (c, o) in output[base..base + depth].iter_mut().enumerate() {
                    let v = f32::from(input[offsets[0] + c]) * weights[0]
                        + f32::from(input[offsets[1] + c]) * weights[1]
                        + f32::from(input[offsets[2] + c]) * weights[2]
                        + f32::from(input[offsets[3] + c]) * weights[3]
                        + 0.5;
                    // `static_cast<uint8>` of a value in [0, 256): truncation (saturating here).
                    *o = v as u8;
                }
            }
        }
    }
}

/// True for the uint8 RESIZE_BILINEAR shapes LiteRT sends to its dedicated 8×-upsampling kernel
/// (`ResizeBilinear888Uint8`), which [`resize_bilinear_u8`] does not reproduce.
pub fn is_uint8_x8_special_case(
    params: &ResizeParams,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
) -> bool {
    let ([_, in_h, in_w, depth], [_, out_h, out_w, _]) = (input_shape, output_shape);
    if params.align_corners || !params.half_pixel_centers || depth % 8 != 0 || in_h == 0 {
        return false;
    }
    let scale = out_h / in_h;
    scale == 8 && out_h >= 8 && out_w >= 8 && in_h * scale == out_h && in_w * scale == out_w
}

/// Source indices along one axis for 8-bit nearest-neighbour resizing.
fn nearest_indices(in_size: usize, out_size: usize, params: &ResizeParams) -> Vec<usize> {
    if !params.align_corners && !params.half_pixel_centers {
        // TFLite's optimized fixed-point path (16 fractional bits, scale rounded up by one).
        let scale = ((in_size as i64) << 16) / out_size.max(1) as i64 + 1;
        (0..out_size)
            .map(|i| (((i as i64 * scale) >> 16) as usize).min(in_size - 1))
            .collect()
    } else {
        (0..out_size)
            .map(|i| nearest_index(i, in_size, out_size, params))
            .collect()
    }
}

/// 8-bit RESIZE_NEAREST_NEIGHBOR (int8 or uint8 values are copied unchanged).
pub fn resize_nearest_8bit<T: Copy>(
    params: &ResizeParams,
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
    output_shape: [usize; 4],
) {
    let rows = nearest_indices(input_shape[1], output_shape[1], params);
    let cols = nearest_indices(input_shape[2], output_shape[2], params);
    copy_nearest(input, input_shape, output, output_shape, &rows, &cols);
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: ResizeParams = ResizeParams {
        align_corners: false,
        half_pixel_centers: false,
    };
    const HALF: ResizeParams = ResizeParams {
        align_corners: false,
        half_pixel_centers: true,
    };

    #[test]
    fn integer_bilinear_2x2_to_4x6() {
        // TFLite's own unit test values for this case.
        let input = [127i8, -128, 64, 0];
        let mut out = [0i8; 24];
        resize_bilinear_integer(&NONE, &input, [1, 2, 2, 1], &mut out, [1, 4, 6, 1]);
        assert_eq!(
            out,
            [
                127, 42, -43, -128, -128, -128, 96, 42, -11, -64, -64, -64, 64, 43, 21, 0, 0, 0,
                64, 43, 21, 0, 0, 0
            ]
        );
    }

    #[test]
    fn integer_bilinear_identity_and_constant() {
        let input: Vec<i8> = (0..12).map(|v| v * 10 - 60).collect();
        let mut out = vec![0i8; 12];
        resize_bilinear_integer(&HALF, &input, [1, 3, 4, 1], &mut out, [1, 3, 4, 1]);
        assert_eq!(out, input);
        let flat = [7u8; 6];
        let mut out = [0u8; 20];
        resize_bilinear_u8(&HALF, &flat, [1, 2, 3, 1], &mut out, [1, 4, 5, 1]);
        assert!(out.iter().all(|&v| v == 7));
    }

    #[test]
    fn nearest_fixed_point_and_float_paths() {
        assert_eq!(nearest_indices(3, 7, &NONE), [0, 0, 0, 1, 1, 2, 2]);
        assert_eq!(nearest_indices(7, 3, &NONE), [0, 2, 4]);
        assert_eq!(nearest_indices(3, 4, &HALF), [0, 1, 1, 2]);
        let input: Vec<u8> = (0..6).collect();
        let mut out = vec![0u8; 12];
        resize_nearest_8bit(&NONE, &input, [1, 2, 3, 1], &mut out, [1, 2, 6, 1]);
        assert_eq!(out, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    }
}
