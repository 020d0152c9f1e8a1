//! Convolution kernels: `CONV_2D`, `DEPTHWISE_CONV_2D` and `TRANSPOSE_CONV` (f32, NHWC).
//!
//! Layouts follow TFLite: activations are NHWC, conv filters are OHWI (`[out_c, h, w, in_c /
//! groups]`), depthwise filters are 1HWO (`[1, h, w, in_c * multiplier]`) and transpose-conv filters
//! are OHWI with the output shape supplied as an operand. Padding uses [`compute_padding`]; bias is
//! optional; the fused activation is applied as TFLite's float min/max clamp
//! ([`activation_range`]). The `*_output_shape` functions validate operands at allocate time; the
//! kernels then assume consistent shapes and slice lengths (a violation is a caller bug and may
//! panic on an out-of-bounds index).

use super::common::{
    activation_range, clamp_activation, compute_padding, dot_acc, Activation, KernelError, Padding,
};
use super::simd::{dwconv_f32, gemm_f32, Level};

pub(crate) mod window;

/// Options of `CONV_2D` and `DEPTHWISE_CONV_2D` (strides and dilations are ≥ 1).
///
/// For depthwise conv the depth multiplier is derived from the shapes (`filter_c / input_c`), as
/// current TFLite does, rather than taken from the (sometimes stale) option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2DParams {
    /// SAME or VALID.
    pub padding: Padding,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation factor.
    pub dilation_h: usize,
    /// Horizontal dilation factor.
    pub dilation_w: usize,
    /// Fused activation.
    pub activation: Activation,
}

/// Options of `TRANSPOSE_CONV` (strides are ≥ 1; TFLite has no dilation here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransposeConvParams {
    /// SAME or VALID, resolved against the requested output size.
    pub padding: Padding,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Fused activation (newer schemas only; `None` for older models).
    pub activation: Activation,
}

fn shape_err(msg: String) -> KernelError {
    KernelError::Shape(msg)
}

fn check_positive(values: &[(usize, &str)]) -> Result<(), KernelError> {
    for &(v, name) in values {
        if v == 0 {
            return Err(KernelError::Param(format!("{name} must be >= 1")));
        }
    }
    Ok(())
}

fn check_bias(bias_len: Option<usize>, channels: usize) -> Result<(), KernelError> {
    match bias_len {
        Some(n) if n != channels => Err(shape_err(format!(
            "bias has {n} elements, expected {channels}"
        ))),
        _ => Ok(()),
    }
}

/// Output `(height, width)` of a windowed op; errors if the window does not fit at all.
fn spatial_output(
    padding: Padding,
    input: [usize; 4],
    filter_hw: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
) -> Result<(usize, usize), KernelError> {
    let (out_h, _) = compute_padding(padding, input[1], filter_hw.0, stride.0, dilation.0);
    let (out_w, _) = compute_padding(padding, input[2], filter_hw.1, stride.1, dilation.1);
    if out_h == 0 || out_w == 0 {
        return Err(shape_err(format!(
            "window {}x{} (dilation {}x{}) does not fit input {}x{} with {:?} padding",
            filter_hw.0, filter_hw.1, dilation.0, dilation.1, input[1], input[2], padding
        )));
    }
    Ok((out_h, out_w))
}

/// Validates `CONV_2D` operands and returns the NHWC output shape.
///
/// Supports grouped convolution like TFLite: `input_c` must be a multiple of the filter's input
/// depth and `out_c` a multiple of the group count. `bias_len` is the bias element count, if any.
pub fn conv2d_output_shape(
    params: &Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    bias_len: Option<usize>,
) -> Result<[usize; 4], KernelError> {
    check_positive(&[
        (params.stride_h, "stride_h"),
        (params.stride_w, "stride_w"),
        (params.dilation_h, "dilation_h"),
        (params.dilation_w, "dilation_w"),
    ])?;
    let [out_c, fh, fw, filter_in] = filter_shape;
    if fh == 0 || fw == 0 || filter_in == 0 || out_c == 0 {
        return Err(shape_err(format!(
            "conv filter {filter_shape:?} has a zero dimension"
        )));
    }
    let in_c = input_shape[3];
    if in_c == 0 || !in_c.is_multiple_of(filter_in) {
        return Err(shape_err(format!(
            "input depth {in_c} is not a multiple of filter depth {filter_in}"
        )));
    }
    let groups = in_c / filter_in;
    if !out_c.is_multiple_of(groups) {
        return Err(shape_err(format!(
            "output channels {out_c} not divisible into {groups} groups"
        )));
    }
    check_bias(bias_len, out_c)?;
    let (oh, ow) = spatial_output(
        params.padding,
        input_shape,
        (fh, fw),
        (params.stride_h, params.stride_w),
        (params.dilation_h, params.dilation_w),
    )?;
    Ok([input_shape[0], oh, ow, out_c])
}

/// `CONV_2D`: `output[b, y, x, o] = act(bias[o] + Σ input[b, y*s - pad + fy*d, …, g*I + i] ·
/// filter[o, fy, fx, i])` over in-bounds taps, where `g` is the group of channel `o`.
///
/// Shapes must be those accepted by [`conv2d_output_shape`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    params: &Conv2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    bias: Option<&[f32]>,
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    conv2d_at(
        super::simd::level(),
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        output,
        output_shape,
    );
}

/// [`conv2d`] at a given SIMD level (`Level::Scalar` runs the reference loop below).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_at(
    level: Level,
    params: &Conv2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    bias: Option<&[f32]>,
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let (act_min, act_max) = activation_range(params.activation);
    let epi = gemm_f32::Epilogue {
        bias,
        min: act_min,
        max: act_max,
    };
    if gemm_f32::conv2d(
        level,
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        epi,
        output,
        output_shape,
    ) {
        return;
    }
    window::grouped_conv(
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        output,
        output_shape,
        dot_acc,
        |o, acc| clamp_activation(acc + bias.map_or(0.0, |bias| bias[o]), act_min, act_max),
    );
}

/// Validates `DEPTHWISE_CONV_2D` operands and returns the NHWC output shape.
///
/// The filter is `[1, h, w, out_c]` with `out_c` a multiple of `input_c` (the depth multiplier).
pub fn depthwise_conv2d_output_shape(
    params: &Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    bias_len: Option<usize>,
) -> Result<[usize; 4], KernelError> {
    check_positive(&[
        (params.stride_h, "stride_h"),
        (params.stride_w, "stride_w"),
        (params.dilation_h, "dilation_h"),
        (params.dilation_w, "dilation_w"),
    ])?;
    let [one, fh, fw, out_c] = filter_shape;
    if one != 1 || fh == 0 || fw == 0 {
        return Err(shape_err(format!(
            "depthwise filter {filter_shape:?} must be [1, h>0, w>0, c]"
        )));
    }
    let in_c = input_shape[3];
    if in_c == 0 || out_c == 0 || !out_c.is_multiple_of(in_c) {
        return Err(shape_err(format!(
            "depthwise filter channels {out_c} not a positive multiple of input depth {in_c}"
        )));
    }
    check_bias(bias_len, out_c)?;
    let (oh, ow) = spatial_output(
        params.padding,
        input_shape,
        (fh, fw),
        (params.stride_h, params.stride_w),
        (params.dilation_h, params.dilation_w),
    )?;
    Ok([input_shape[0], oh, ow, out_c])
}

/// `DEPTHWISE_CONV_2D`: output channel `o = i * multiplier + m` sees only input channel `i`:
/// `output[b, y, x, o] = act(bias[o] + Σ input[b, y*s - pad + fy*d, …, i] · filter[0, fy, fx, o])`.
///
/// Shapes must be those accepted by [`depthwise_conv2d_output_shape`]. Taps are accumulated
/// across the whole output pixel at once so the inner loop runs over contiguous channels.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    params: &Conv2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    bias: Option<&[f32]>,
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    depthwise_conv2d_at(
        super::simd::level(),
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        output,
        output_shape,
    );
}

/// [`depthwise_conv2d`] at a given SIMD level (`Level::Scalar` runs the reference loop below).
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise_conv2d_at(
    level: Level,
    params: &Conv2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    bias: Option<&[f32]>,
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let (act_min, act_max) = activation_range(params.activation);
    let epi = gemm_f32::Epilogue {
        bias,
        min: act_min,
        max: act_max,
    };
    if dwconv_f32::depthwise_conv2d(
        level,
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        epi,
        output,
        output_shape,
    ) {
        return;
    }
    window::depthwise_conv(
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        output,
        output_shape,
        |acc: f32, x, w| acc + x * w,
        |o, acc| clamp_activation(acc + bias.map_or(0.0, |bias| bias[o]), act_min, act_max),
    );
}

/// Validates `TRANSPOSE_CONV` operands and returns the output shape requested by the
/// `output_shape` operand (`[n, h, w, c]` as i32).
///
/// Checks as TFLite does: 4 positive dims, batch equal to the input's, `c` equal to the filter's
/// output channels, filter input depth equal to the input's, bias length equal to `c`.
pub fn transpose_conv_output_shape(
    params: &TransposeConvParams,
    output_shape_operand: &[i32],
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    bias_len: Option<usize>,
) -> Result<[usize; 4], KernelError> {
    check_positive(&[(params.stride_h, "stride_h"), (params.stride_w, "stride_w")])?;
    let dims: [i32; 4] = output_shape_operand.try_into().map_err(|_| {
        shape_err(format!(
            "transpose conv output_shape has {} elements, expected 4",
            output_shape_operand.len()
        ))
    })?;
    let mut out = [0usize; 4];
    for (o, &d) in out.iter_mut().zip(&dims) {
        if d <= 0 {
            return Err(shape_err(format!(
                "transpose conv output_shape {dims:?} must be positive"
            )));
        }
        *o = d as usize;
    }
    let [filter_out, fh, fw, filter_in] = filter_shape;
    if fh == 0 || fw == 0 {
        return Err(shape_err(format!(
            "transpose conv filter {filter_shape:?} has zero size"
        )));
    }
    if out[0] != input_shape[0] {
        return Err(shape_err(format!(
            "transpose conv output batch {} differs from input batch {}",
            out[0], input_shape[0]
        )));
    }
    if out[3] != filter_out {
        return Err(shape_err(format!(
            "transpose conv output depth {} differs from filter output channels {filter_out}",
            out[3]
        )));
    }
    if input_shape[3] != filter_in {
        return Err(shape_err(format!(
            "transpose conv input depth {} differs from filter input depth {filter_in}",
            input_shape[3]
        )));
    }
    check_bias(bias_len, filter_out)?;
    Ok(out)
}

/// `TRANSPOSE_CONV` (the gradient of `CONV_2D` w.r.t. its input), computed by scattering each
/// input pixel into the output: `output[b, y*s - pad + fy, x*s - pad + fx, o] += Σ_i input[b, y, x,
/// i] · filter[o, fy, fx, i]`, then bias and activation.
///
/// The padding is TFLite's: [`compute_padding`] applied to the *output* size as if it were a conv
/// input. Shapes must be those accepted by [`transpose_conv_output_shape`].
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv(
    params: &TransposeConvParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    bias: Option<&[f32]>,
    output: &mut [f32],
    output_shape: [usize; 4],
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, _] = filter_shape;
    let window = window::Window::transpose(params, output_shape, fh, fw);
    let filter_stride = fh * fw * in_c;

    output.fill(0.0);
    for b in 0..batches {
        for iy in 0..in_h {
            for ix in 0..in_w {
                let in_base = ((b * in_h + iy) * in_w + ix) * in_c;
                let in_px = &input[in_base..in_base + in_c];
                window.for_each_tap(b, iy, ix, |pixel, tap| {
                    let out_px = &mut output[pixel * out_c..(pixel + 1) * out_c];
                    for (o, acc) in out_px.iter_mut().enumerate() {
                        let f_base = o * filter_stride + tap * in_c;
                        *acc = dot_acc(*acc, in_px, &filter[f_base..f_base + in_c]);
                    }
                });
            }
        }
    }
    let (act_min, act_max) = activation_range(params.activation);
    for out_px in output.chunks_exact_mut(out_c) {
        for (o, v) in out_px.iter_mut().enumerate() {
            let bias_v = bias.map_or(0.0, |bias| bias[o]);
            *v = clamp_activation(*v + bias_v, act_min, act_max);
        }
    }
}

#[cfg(test)]
mod tests;
