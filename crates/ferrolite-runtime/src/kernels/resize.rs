//! Spatial resampling kernels (f32, NHWC): `RESIZE_BILINEAR`, `RESIZE_NEAREST_NEIGHBOR`,
//! `SPACE_TO_DEPTH` and `DEPTH_TO_SPACE`.
//!
//! The resize ops reproduce TFLite's reference arithmetic in f32, including its coordinate
//! conventions: the scale is `in / out`, or `(in - 1) / (out - 1)` with `align_corners` (when
//! `out > 1`); `half_pixel_centers` samples at `(i + 0.5) * scale - 0.5` for bilinear (with the
//! lower neighbour clamped at 0 and the upper at `in - 1`) and at `(i + 0.5) * scale` for nearest
//! neighbour, which rounds half away from zero with `align_corners` and floors otherwise.
//! `SPACE_TO_DEPTH` / `DEPTH_TO_SPACE` use TFLite's (DCR) ordering: output channel
//! `(dy * block + dx) * C + c`. The `*_output_shape` functions validate operands; the kernels then
//! assume consistent shapes.

use super::common::KernelError;

/// Options of `RESIZE_BILINEAR` and `RESIZE_NEAREST_NEIGHBOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResizeParams {
    /// Map the corner pixel centres of input and output onto each other.
    pub align_corners: bool,
    /// Treat pixels as cells sampled at their centres (TF2 `tf.image.resize` behaviour).
    pub half_pixel_centers: bool,
}

/// Shared resize shape logic: `size` is the `[new_height, new_width]` operand.
fn resize_shape(
    input_shape: [usize; 4],
    size: &[i32],
    min_size: i32,
) -> Result<[usize; 4], KernelError> {
    let &[h, w] = size else {
        return Err(KernelError::Shape(format!(
            "resize size operand must have 2 elements, got {}",
            size.len()
        )));
    };
    if h < min_size || w < min_size {
        return Err(KernelError::Shape(format!(
            "resize size [{h}, {w}] must be >= {min_size}"
        )));
    }
    if input_shape[1] == 0 || input_shape[2] == 0 {
        return Err(KernelError::Shape(format!(
            "cannot resize an empty image {input_shape:?}"
        )));
    }
    Ok([input_shape[0], h as usize, w as usize, input_shape[3]])
}

/// Validates `RESIZE_BILINEAR` operands and returns the output shape.
///
/// Like TFLite, the new size must be positive and `align_corners` excludes `half_pixel_centers`.
pub fn resize_bilinear_output_shape(
    params: &ResizeParams,
    input_shape: [usize; 4],
    size: &[i32],
) -> Result<[usize; 4], KernelError> {
    if params.align_corners && params.half_pixel_centers {
        return Err(KernelError::Param(
            "resize bilinear: half_pixel_centers requires align_corners = false".into(),
        ));
    }
    resize_shape(input_shape, size, 1)
}

/// Validates `RESIZE_NEAREST_NEIGHBOR` operands and returns the output shape (a zero size is
/// allowed and yields an empty output; both flags may be set, as in TFLite).
pub fn resize_nearest_neighbor_output_shape(
    params: &ResizeParams,
    input_shape: [usize; 4],
    size: &[i32],
) -> Result<[usize; 4], KernelError> {
    let _ = params;
    resize_shape(input_shape, size, 0)
}

/// Input-per-output scale along one axis, computed in f32 as TFLite does.
pub(crate) fn resize_scale(in_size: usize, out_size: usize, align_corners: bool) -> f32 {
    if align_corners && out_size > 1 {
        (in_size - 1) as f32 / (out_size - 1) as f32
    } else {
        in_size as f32 / out_size as f32
    }
}

/// Bilinear source coordinate of output index `i` and its two clamped neighbours (TFLite's float
/// `ComputeInterpolationValues`).
pub(crate) fn bilinear_coord(
    i: usize,
    scale: f32,
    half_pixel: bool,
    in_size: usize,
) -> (f32, usize, usize) {
    let v = if half_pixel {
        (i as f32 + 0.5) * scale - 0.5
    } else {
        i as f32 * scale
    };
    let last = in_size as i64 - 1;
    let lo = (v.floor() as i64).clamp(0, last) as usize;
    let hi = (v.ceil() as i64).clamp(0, last) as usize;
    (v, lo, hi)
}

/// `RESIZE_BILINEAR`: each output pixel blends the four neighbours of its source coordinate with
/// weights `(1 - dy)(1 - dx)`, `dy (1 - dx)`, `(1 - dy) dx`, `dy dx` (`dy = y - y0`).
///
/// Shapes must be those accepted by [`resize_bilinear_output_shape`].
pub fn resize_bilinear(
    params: &ResizeParams,
    input: &[f32],
    input_shape: [usize; 4],
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let [batches, in_h, in_w, depth] = input_shape;
    let [_, out_h, out_w, _] = output_shape;
    let scale_h = resize_scale(in_h, out_h, params.align_corners);
    let scale_w = resize_scale(in_w, out_w, params.align_corners);
    let cols: Vec<(f32, usize, usize)> = (0..out_w)
        .map(|x| bilinear_coord(x, scale_w, params.half_pixel_centers, in_w))
        .collect();
    let pixel = |b: usize, y: usize, x: usize| {
        let base = ((b * in_h + y) * in_w + x) * depth;
        &input[base..base + depth]
    };
    for b in 0..batches {
        for oy in 0..out_h {
            let (sy, y0, y1) = bilinear_coord(oy, scale_h, params.half_pixel_centers, in_h);
            let dy = sy - y0 as f32;
            for (ox, &(sx, x0, x1)) in cols.iter().enumerate() {
                let dx = sx - x0 as f32;
                let (p00, p10) = (pixel(b, y0, x0), pixel(b, y1, x0));
                let (p01, p11) = (pixel(b, y0, x1), pixel(b, y1, x1));
                let out_base = ((b * out_h + oy) * out_w + ox) * depth;
                for (c, o) in output[out_base..out_base + depth].iter_mut().enumerate() {
                    *o = p00[c] * (1.0 - dy) * (1.0 - dx)
                        + p10[c] * dy * (1.0 - dx)
                        + p01[c] * (1.0 - dy) * dx
                        + p11[c] * dy * dx;
                }
            }
        }
    }
}

/// Source index of output index `i` for nearest-neighbour resizing (TFLite's f32
/// `GetNearestNeighbor`).
pub(crate) fn nearest_index(
    i: usize,
    in_size: usize,
    out_size: usize,
    params: &ResizeParams,
) -> usize {
    let scale = resize_scale(in_size, out_size, params.align_corners);
    let offset = if params.half_pixel_centers { 0.5 } else { 0.0 };
    let v = (i as f32 + offset) * scale;
    let idx = if params.align_corners {
        v.round()
    } else {
        v.floor()
    } as i64;
    // TFLite clamps to `in - 1` and (with half-pixel centres) to 0; `v` is never negative.
    idx.clamp(0, in_size as i64 - 1) as usize
}

/// `RESIZE_NEAREST_NEIGHBOR`: copies the channel vector of each output pixel's nearest source.
///
/// Shapes must be those accepted by [`resize_nearest_neighbor_output_shape`].
pub fn resize_nearest_neighbor(
    params: &ResizeParams,
    input: &[f32],
    input_shape: [usize; 4],
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let [_, in_h, in_w, _] = input_shape;
    let [_, out_h, out_w, _] = output_shape;
    let rows: Vec<usize> = (0..out_h)
        .map(|y| nearest_index(y, in_h, out_h, params))
        .collect();
    let cols: Vec<usize> = (0..out_w)
        .map(|x| nearest_index(x, in_w, out_w, params))
        .collect();
    copy_nearest(input, input_shape, output, output_shape, &rows, &cols);
}

/// Nearest-neighbour copy shared with the quantized kernel: output pixel `(b, oy, ox)` takes the
/// channel vector of input pixel `(b, rows[oy], cols[ox])`.
pub(crate) fn copy_nearest<T: Copy>(
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
    output_shape: [usize; 4],
    rows: &[usize],
    cols: &[usize],
) {
    let [batches, in_h, in_w, depth] = input_shape;
    let [_, out_h, out_w, _] = output_shape;
    for b in 0..batches {
        for (oy, &iy) in rows.iter().enumerate() {
            for (ox, &ix) in cols.iter().enumerate() {
                let src = ((b * in_h + iy) * in_w + ix) * depth;
                let dst = ((b * out_h + oy) * out_w + ox) * depth;
                output[dst..dst + depth].copy_from_slice(&input[src..src + depth]);
            }
        }
    }
}

fn check_block(block_size: i32) -> Result<usize, KernelError> {
    if block_size < 1 {
        return Err(KernelError::Param(format!(
            "block_size must be >= 1, got {block_size}"
        )));
    }
    Ok(block_size as usize)
}

/// Validates `SPACE_TO_DEPTH` operands: height and width must be multiples of `block_size`.
/// Returns `[n, h / bs, w / bs, c * bs * bs]`.
pub fn space_to_depth_output_shape(
    input_shape: [usize; 4],
    block_size: i32,
) -> Result<[usize; 4], KernelError> {
    let bs = check_block(block_size)?;
    let [n, h, w, c] = input_shape;
    if !h.is_multiple_of(bs) || !w.is_multiple_of(bs) {
        return Err(KernelError::Shape(format!(
            "space_to_depth: {h}x{w} is not a multiple of block {bs}"
        )));
    }
    Ok([n, h / bs, w / bs, c * bs * bs])
}

/// `SPACE_TO_DEPTH`: `output[b, y, x, (dy * bs + dx) * C + c] = input[b, y * bs + dy, x * bs + dx,
/// c]`. Shapes must be those accepted by [`space_to_depth_output_shape`].
pub fn space_to_depth(
    block_size: usize,
    input: &[f32],
    input_shape: [usize; 4],
    output: &mut [f32],
) {
    let [batches, in_h, in_w, depth] = input_shape;
    let bs = block_size;
    let mut dst = 0;
    for b in 0..batches {
        for oy in 0..in_h / bs {
            for ox in 0..in_w / bs {
                for dy in 0..bs {
                    for dx in 0..bs {
                        let src = ((b * in_h + oy * bs + dy) * in_w + ox * bs + dx) * depth;
                        output[dst..dst + depth].copy_from_slice(&input[src..src + depth]);
                        dst += depth;
                    }
                }
            }
        }
    }
}

/// Validates `DEPTH_TO_SPACE` operands: depth must be a multiple of `block_size²`.
/// Returns `[n, h * bs, w * bs, c / (bs * bs)]`.
pub fn depth_to_space_output_shape(
    input_shape: [usize; 4],
    block_size: i32,
) -> Result<[usize; 4], KernelError> {
    let bs = check_block(block_size)?;
    let [n, h, w, c] = input_shape;
    if !c.is_multiple_of(bs * bs) {
        return Err(KernelError::Shape(format!(
            "depth_to_space: depth {c} is not a multiple of {bs}x{bs}"
        )));
    }
    Ok([n, h * bs, w * bs, c / (bs * bs)])
}

/// `DEPTH_TO_SPACE` (DCR): `output[b, y, x, c] = input[b, y / bs, x / bs, ((y % bs) * bs + x % bs)
/// * C_out + c]`, the inverse of [`space_to_depth`]. Shapes must be those accepted by
/// [`depth_to_space_output_shape`].
pub fn depth_to_space(
    block_size: usize,
    input: &[f32],
    input_shape: [usize; 4],
    output: &mut [f32],
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let bs = block_size;
    let out_c = in_c / (bs * bs);
    let (out_h, out_w) = (in_h * bs, in_w * bs);
    let mut dst = 0;
    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                let block = (oy % bs) * bs + ox % bs;
                let src = ((b * in_h + oy / bs) * in_w + ox / bs) * in_c + block * out_c;
                output[dst..dst + out_c].copy_from_slice(&input[src..src + out_c]);
                dst += out_c;
            }
        }
    }
}

#[cfg(test)]
mod tests;
