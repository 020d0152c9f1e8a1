//! Dynamic-range ("hybrid") CONV_2D and FULLY_CONNECTED on the integer GEMM of
//! [`super::gemm_i8`]: float activations are quantized to int8 at run time exactly as TFLite (and
//! the scalar kernels in `quant::hybrid_conv` / `quant::fully_connected`) do, the int32 products
//! come from the same packed micro-kernels and tiles, and the store converts them to f32 with the
//! scalar kernels' arithmetic (`acc as f32 · (filter scale · input scale) + bias`, clamped), so
//! results are bit-identical to the scalar kernels for any thread count.

use super::gemm_i8::{
    conv_shape, form_for, run, FloatOut, Form, Kernel, PackedI8, Problem, QuantOut,
};
use super::im2col::with_tap_ranges;
use super::pack_i8::Source;
use super::parallel::SharedMut;
use super::quantize_f32::{asymmetric_quantize, symmetric_quantize};
use super::Level;
use crate::kernels::common::{activation_range, clamp_activation};
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::fully_connected::HybridFcParams;
use crate::kernels::quant::hybrid_conv::HybridConvParams;

/// Packs a constant int8 filter of a dynamic-range CONV_2D for [`hybrid_conv2d`].
pub fn pack_hybrid_conv(
    level: Level,
    params: &HybridConvParams,
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
) -> Option<PackedI8> {
    let kernel = Kernel::pick(level)?;
    if filter.len() != filter_shape.iter().product::<usize>() {
        return None;
    }
    let (one_in, one_out) = (image_shape(input_shape), image_shape(output_shape));
    let (_, groups, fpg, k, pixels, pointwise) =
        conv_shape(&params.geometry, one_in, filter_shape, one_out);
    let form = form_for(pointwise, pixels);
    Some(PackedI8::new(kernel, form, filter, groups, fpg, k))
}

/// `shape` with a batch of one.
fn image_shape([_, h, w, c]: [usize; 4]) -> [usize; 4] {
    [1, h, w, c]
}

/// Dynamic-range CONV_2D (float input, int8 filter, float bias and output) through the integer
/// GEMM, bit-exact with `quant::hybrid_conv::hybrid_conv2d`: each image is quantized as TFLite
/// does (symmetric, or asymmetric with a zero point on the per-channel path) into `quantized`,
/// the int32 products are those of the scalar kernel, and the f32 store repeats its arithmetic.
/// Returns `false` (doing nothing) without a fast path.
#[allow(clippy::too_many_arguments)]
pub fn hybrid_conv2d(
    level: Level,
    params: &HybridConvParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[i8],
    filter_shape: [usize; 4],
    packed: Option<&PackedI8>,
    bias: Option<&[f32]>,
    quantized: &mut Vec<i8>,
    output: &mut [f32],
    output_shape: [usize; 4],
) -> bool {
    let Some(kernel) = Kernel::pick(level) else {
        return false;
    };
    let (one_in, one_out) = (image_shape(input_shape), image_shape(output_shape));
    let (geo, groups, fpg, k, pixels, pointwise) =
        conv_shape(&params.geometry, one_in, filter_shape, one_out);
    let image: usize = one_in.iter().product();
    let out_image: usize = one_out.iter().product();
    let (in_c, out_c, depth) = (input_shape[3], output_shape[3], geo.depth);
    let fs = &params.filter_scales;
    if image == 0
        || out_image == 0
        || input.len() < input_shape[0] * image
        || output.len() < output_shape[0] * out_image
        || (fs.len() != 1 && fs.len() < out_c)
    {
        return false;
    }
    let form = form_for(pointwise, pixels);
    let (min, max) = activation_range(params.geometry.activation);
    quantized.resize(image, 0);
    let mut scales = vec![0.0f32; out_c];
    let unused = QuantOut {
        bias: None,
        multipliers: &[0],
        shifts: &[0],
        rounding: Rounding::Double,
        output_offset: 0,
        act_min: 0,
        act_max: 0,
    };
    for (x, y) in input
        .chunks_exact(image)
        .zip(output.chunks_exact_mut(out_image))
    {
        let (scale, zero_point) = if params.asymmetric {
            asymmetric_quantize(level, x, quantized)
        } else {
            (symmetric_quantize(level, x, quantized), 0)
        };
        for (o, m) in scales.iter_mut().enumerate() {
            *m = fs[if fs.len() == 1 { 0 } else { o }] * scale;
        }
        let q: &[i8] = quantized;
        let out = SharedMut::new(y);
        with_tap_ranges(&geo, |taps| {
            for grp in 0..groups {
                let cols = grp * fpg..(grp + 1) * fpg;
                let src = if pointwise {
                    Source::Rows {
                        x: q,
                        ld: in_c,
                        off: grp * depth,
                    }
                } else {
                    Source::Patches {
                        input: q,
                        geo: &geo,
                        taps,
                        off: grp * depth,
                    }
                };
                let problem = Problem {
                    kernel,
                    src,
                    m: pixels,
                    n: fpg,
                    k,
                    w: &filter[grp * fpg * k..(grp + 1) * fpg * k],
                    in_off: -zero_point,
                    f_off: 0,
                    q: unused,
                    out_off: 0,
                    ldo: out_c,
                    float_out: Some(FloatOut {
                        scale: &scales[cols.clone()],
                        bias: bias.map(|b| &b[cols.clone()]),
                        min,
                        max,
                        out: out.offset(grp * fpg),
                    }),
                };
                let view = packed.and_then(|pk| pk.view(kernel, form, (groups, fpg, k), grp));
                run(problem, view, SharedMut::new(&mut []));
            }
        });
    }
    true
}

/// Dynamic-range FULLY_CONNECTED (float `input` `[batches, depth]`, int8 `filter`
/// `[units, depth]` with one or `units` scales, float bias and output) through the integer GEMM,
/// one batch row at a time; bit-exact with `quant::fully_connected::hybrid_fully_connected`
/// (same row quantization, same int32 dot products, same f32 scaling). `packed` comes from
/// [`pack_fc`] with one batch row. Returns `false` (doing nothing) without a fast path.
#[allow(clippy::too_many_arguments)]
pub fn hybrid_fully_connected(
    level: Level,
    params: &HybridFcParams,
    input: &[f32],
    filter: &[i8],
    filter_scales: &[f32],
    packed: Option<&PackedI8>,
    bias: Option<&[f32]>,
    depth: usize,
    quantized: &mut Vec<i8>,
    output: &mut [f32],
) -> bool {
    let Some(kernel) = Kernel::pick(level) else {
        return false;
    };
    let units = filter.len() / depth.max(1);
    if depth == 0
        || units == 0
        || input.len() / depth != output.len() / units
        || (filter_scales.len() != 1 && filter_scales.len() < units)
        || bias.is_some_and(|b| b.len() < units)
    {
        return false;
    }
    let (min, max) = activation_range(params.activation);
    if input.iter().all(|&v| v == 0.0) {
        // As the scalar kernel: the bias (or zero), clamped.
        for row in output.chunks_exact_mut(units) {
            for (u, v) in row.iter_mut().enumerate() {
                *v = clamp_activation(bias.map_or(0.0, |b| b[u]), min, max);
            }
        }
        return true;
    }
    quantized.resize(depth, 0);
    let mut scales = vec![0.0f32; units];
    let unused = QuantOut {
        bias: None,
        multipliers: &[0],
        shifts: &[0],
        rounding: Rounding::Double,
        output_offset: 0,
        act_min: 0,
        act_max: 0,
    };
    let view = packed.and_then(|pk| pk.view(kernel, Form::Rows, (1, units, depth), 0));
    for (x, y) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(units))
    {
        let (scale, zero_point) = if params.asymmetric {
            asymmetric_quantize(level, x, quantized)
        } else {
            (symmetric_quantize(level, x, quantized), 0)
        };
        for (u, m) in scales.iter_mut().enumerate() {
            *m = scale * filter_scales[if filter_scales.len() == 1 { 0 } else { u }];
        }
        let problem = Problem {
            kernel,
            src: Source::Rows {
                x: &quantized[..],
                ld: depth,
                off: 0,
            },
            m: 1,
            n: units,
            k: depth,
            w: filter,
            in_off: -zero_point,
            f_off: 0,
            q: unused,
            out_off: 0,
            ldo: units,
            float_out: Some(FloatOut {
                scale: &scales,
                bias,
                min,
                max,
                out: SharedMut::new(y),
            }),
        };
        run(problem, view, SharedMut::new(&mut []));
    }
    true
}
