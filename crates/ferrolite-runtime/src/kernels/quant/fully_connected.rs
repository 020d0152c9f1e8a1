//! Quantized `FULLY_CONNECTED`: full-integer (int8 / uint8, per-tensor or per-channel weights)
//! and hybrid (float activations, int8 weights quantized on the fly per batch row).
//!
//! Full-integer: `acc = bias[u] + Σ (x + input_offset) · (w + filter_offset)`, then the unit's
//! multiplier, `+ output_offset` and the activation clamp. Per-tensor multipliers are
//! `f64(f32(input_scale · filter_scale)) / f64(output_scale)` (TFLite's
//! `GetQuantizedConvolutionMultipler`), per-channel ones use the f64 product. As for CONV_2D,
//! TFLite runs int8 FC as a ruy GEMM (single rounding) and uint8 FC through gemmlowp (double).
//!
//! The int16x8 kernels (same [`QuantFcParams`]) live in [`super::fc16x8`].
//!
//! Hybrid: each batch row is quantized to int8 with its own scale (TFLite's
//! `SymmetricQuantizeFloats`, or `AsymmetricQuantizeFloats` with a per-row zero point when the
//! op's `asymmetric_quantize_inputs` is set), multiplied with the int8 weights in int32, and the
//! dot products are scaled back to float and added onto the bias: `out += dot · (row_scale ·
//! filter_scale[u])`, with `dot -= row_offset · Σ_k w[u, k]` in the asymmetric case. An all-zero
//! input skips the product (output = bias) exactly as TFLite does.

use super::fixed_point::{apply_multiplier, quantize_multiplier, Rounding};
use super::{check_quant, quantized_activation_range, QuantElem, QuantParams};
use crate::kernels::common::{activation_range, clamp_activation, Activation, KernelError};

/// Prepared parameters of a full-integer FULLY_CONNECTED.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantFcParams {
    /// `-input_zero_point`.
    pub input_offset: i32,
    /// `-filter_zero_point`.
    pub filter_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    /// One multiplier (per-tensor) or one per output unit.
    pub multipliers: Vec<i32>,
    /// Shifts matching `multipliers`.
    pub shifts: Vec<i32>,
    /// Lower clamp (quantized domain).
    pub act_min: i32,
    /// Upper clamp (quantized domain).
    pub act_max: i32,
    /// How the multiplier is applied.
    pub rounding: Rounding,
    /// `f64(s_in) · f64(s_w) / f64(s_out)`, one per entry of `multipliers`: the double-precision
    /// scale of the int16x8 reference kernel ([`fully_connected_16x8`]).
    pub effective_scales: Vec<f64>,
}

/// Prepares a full-integer FULLY_CONNECTED. `filter_scales` has one entry (per-tensor) or one per
/// output unit (per-channel along the filter's dimension 0).
pub fn fully_connected_params<T: QuantElem, W: QuantElem>(
    input: QuantParams,
    filter_scales: &[f32],
    filter_zero_point: i32,
    output: QuantParams,
    activation: Activation,
    units: usize,
) -> Result<QuantFcParams, KernelError> {
    check_quant::<T>("fully connected input", input)?;
    check_quant::<T>("fully connected output", output)?;
    if filter_scales.is_empty() || (filter_scales.len() != 1 && filter_scales.len() != units) {
        return Err(KernelError::Shape(format!(
            "{} filter scales for {units} units",
            filter_scales.len()
        )));
    }
    if let Some(s) = filter_scales
        .iter()
        .find(|s| !(s.is_finite() && **s >= 0.0))
    {
        return Err(KernelError::Param(format!("filter scale {s} invalid")));
    }
    if !(W::MIN..=W::MAX).contains(&filter_zero_point) {
        return Err(KernelError::Param(format!(
            "filter zero point {filter_zero_point} out of range"
        )));
    }
    let per_channel = filter_scales.len() > 1;
    let (multipliers, shifts) = filter_scales
        .iter()
        .map(|&fs| {
            let real = if per_channel {
                f64::from(input.scale) * f64::from(fs) / f64::from(output.scale)
            } else {
                f64::from(input.scale * fs) / f64::from(output.scale)
            };
            quantize_multiplier(real)
        })
        .unzip();
    let effective_scales = filter_scales
        .iter()
        .map(|&fs| f64::from(input.scale) * f64::from(fs) / f64::from(output.scale))
        .collect();
    let (act_min, act_max) = quantized_activation_range(activation, output, T::MIN, T::MAX);
    Ok(QuantFcParams {
        input_offset: -input.zero_point,
        filter_offset: -filter_zero_point,
        output_offset: output.zero_point,
        multipliers,
        shifts,
        act_min,
        act_max,
        rounding: if T::MIN == 0 {
            Rounding::Double
        } else {
            Rounding::RuyX86
        },
        effective_scales,
    })
}

/// Full-integer FULLY_CONNECTED: `input` is `[batches, depth]`, `filter` `[units, depth]`,
/// `output` `[batches, units]` (row-major), `bias` has `units` int32 values.
pub fn fully_connected<T: QuantElem, W: QuantElem>(
    params: &QuantFcParams,
    input: &[T],
    filter: &[W],
    bias: Option<&[i32]>,
    depth: usize,
    output: &mut [T],
) {
    fully_connected_at(
        crate::kernels::simd::level(),
        params,
        input,
        filter,
        bias,
        depth,
        output,
    );
}

/// [`fully_connected`] at a given SIMD level (`Level::Scalar` runs the reference loop below).
pub(crate) fn fully_connected_at<T: QuantElem, W: QuantElem>(
    level: crate::kernels::simd::Level,
    params: &QuantFcParams,
    input: &[T],
    filter: &[W],
    bias: Option<&[i32]>,
    depth: usize,
    output: &mut [T],
) {
    if crate::kernels::simd::gemm_i8::fully_connected(
        level, params, input, filter, bias, depth, output,
    ) {
        return;
    }
    let units = filter.len() / depth.max(1);
    let per_channel = params.multipliers.len() > 1;
    for (x_row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(units))
    {
        for (u, out) in out_row.iter_mut().enumerate() {
            let w_row = &filter[u * depth..(u + 1) * depth];
            let mut acc = x_row.iter().zip(w_row).fold(0i32, |acc, (x, w)| {
                acc.wrapping_add(
                    (x.to_i32() + params.input_offset)
                        .wrapping_mul(w.to_i32() + params.filter_offset),
                )
            });
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[u]);
            }
            let c = if per_channel { u } else { 0 };
            let v = apply_multiplier(
                acc,
                params.multipliers[c],
                params.shifts[c],
                params.rounding,
            )
            .wrapping_add(params.output_offset)
            .clamp(params.act_min, params.act_max);
            *out = T::from_i32_clamped(v);
        }
    }
}

/// TFLite's `SymmetricQuantizeFloats`: quantizes `values` to `[-127, 127]` with scale
/// `max|x| / 127` (returned; 1 for an all-zero row, whose output is all zeros).
pub fn symmetric_quantize_floats(values: &[f32], out: &mut [i8]) -> f32 {
    let (min, max) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (if v < lo { v } else { lo }, if v > hi { v } else { hi })
        });
    let range = min.abs().max(max.abs());
    if values.is_empty() || range == 0.0 {
        out.iter_mut().for_each(|q| *q = 0);
        return 1.0;
    }
    let inv = 127.0f32 / range;
    for (q, &v) in out.iter_mut().zip(values) {
        let r = (v * inv).round() as i32;
        *q = r.clamp(-127, 127) as i8;
    }
    range / 127.0
}

/// TFLite's `AsymmetricQuantizeFloats`: quantizes `values` to `[-128, 127]` over the range
/// `[min(0, min x), max(0, max x)]` with a nudged zero point; returns `(scale, zero_point)`
/// (`(1, 0)` and all zeros when the range is empty).
pub fn asymmetric_quantize_floats(values: &[f32], out: &mut [i8]) -> (f32, i32) {
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (if v < lo { v } else { lo }, if v > hi { v } else { hi })
        });
    let params = if values.is_empty() {
        None
    } else {
        crate::kernels::simd::quantize_f32::asymmetric_params(lo, hi)
    };
    let Some((scale, nudged)) = params else {
        out.iter_mut().for_each(|q| *q = 0);
        return (1.0, 0);
    };
    let inv = 1.0f32 / scale;
    for (q, &v) in out.iter_mut().zip(values) {
        let r = (nudged as f32 + v * inv).round() as i32;
        *q = r.clamp(-128, 127) as i8;
    }
    (scale, nudged)
}

/// Scratch buffers of a hybrid FULLY_CONNECTED (allocate once, reuse across invocations).
#[derive(Debug, Clone, Default)]
pub struct HybridFcScratch {
    /// Quantized input, `batches · depth`.
    pub quantized: Vec<i8>,
    /// Per-row scale (times the filter scale for per-tensor weights).
    pub scaling: Vec<f32>,
    /// Per-row zero point (asymmetric only).
    pub offsets: Vec<i32>,
    /// Per-unit sum of the weights (asymmetric only; computed on first use).
    pub row_sums: Option<Vec<i32>>,
}

/// Options of a hybrid FULLY_CONNECTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HybridFcParams {
    /// Quantize each row with its own zero point (`asymmetric_quantize_inputs`).
    pub asymmetric: bool,
    /// Fused activation (float clamp).
    pub activation: Activation,
}

/// Hybrid FULLY_CONNECTED: float `input` `[batches, depth]`, int8 `filter` `[units, depth]` with
/// one or `units` scales, optional float bias, float `output` `[batches, units]`.
#[allow(clippy::too_many_arguments)]
pub fn hybrid_fully_connected(
    params: &HybridFcParams,
    input: &[f32],
    filter: &[i8],
    filter_scales: &[f32],
    bias: Option<&[f32]>,
    depth: usize,
    scratch: &mut HybridFcScratch,
    output: &mut [f32],
) {
    let units = filter.len() / depth.max(1);
    let batches = input.len() / depth.max(1);
    for row in output.chunks_exact_mut(units) {
        match bias {
            Some(b) => row.copy_from_slice(&b[..units]),
            None => row.iter_mut().for_each(|v| *v = 0.0),
        }
    }
    let (act_min, act_max) = activation_range(params.activation);
    let apply_activation = |output: &mut [f32]| {
        output
            .iter_mut()
            .for_each(|v| *v = clamp_activation(*v, act_min, act_max));
    };
    if input.iter().all(|&v| v == 0.0) {
        apply_activation(output);
        return;
    }
    scratch.quantized.resize(input.len(), 0);
    scratch.scaling.resize(batches, 0.0);
    scratch.offsets.resize(batches, 0);
    for b in 0..batches {
        let rows = b * depth..(b + 1) * depth;
        if params.asymmetric {
            let (s, zp) =
                asymmetric_quantize_floats(&input[rows.clone()], &mut scratch.quantized[rows]);
            scratch.scaling[b] = s;
            scratch.offsets[b] = zp;
        } else {
            scratch.scaling[b] =
                symmetric_quantize_floats(&input[rows.clone()], &mut scratch.quantized[rows]);
            scratch.offsets[b] = 0;
        }
    }
    let per_channel = filter_scales.len() > 1;
    if !per_channel {
        scratch
            .scaling
            .iter_mut()
            .for_each(|s| *s *= filter_scales[0]);
    }
    if params.asymmetric && scratch.row_sums.is_none() {
        scratch.row_sums = Some(
            filter
                .chunks_exact(depth)
                .map(|w| w.iter().map(|&v| i32::from(v)).sum())
                .collect(),
        );
    }
    for (b, out_row) in output.chunks_exact_mut(units).enumerate() {
        let q_row = &scratch.quantized[b * depth..(b + 1) * depth];
        let row_scale = scratch.scaling[b];
        let row_offset = scratch.offsets[b];
        for (u, out) in out_row.iter_mut().enumerate() {
            let w_row = &filter[u * depth..(u + 1) * depth];
            let mut dot = q_row.iter().zip(w_row).fold(0i32, |acc, (&q, &w)| {
                acc.wrapping_add(i32::from(q) * i32::from(w))
            });
            if params.asymmetric {
                if let Some(sums) = &scratch.row_sums {
                    dot = dot.wrapping_sub(sums[u].wrapping_mul(row_offset));
                }
            }
            let scale = if per_channel {
                row_scale * filter_scales[u]
            } else {
                row_scale
            };
            *out += dot as f32 * scale;
        }
    }
    apply_activation(output);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::quant::fixed_point::multiply_by_quantized_multiplier_ruy_x86;

    #[test]
    fn per_tensor_multiplier_uses_f32_product() {
        let p = fully_connected_params::<i8, i8>(
            QuantParams::new(0.1, 0),
            &[0.3],
            0,
            QuantParams::new(0.7, 0),
            Activation::None,
            4,
        )
        .unwrap();
        let (m, s) = quantize_multiplier(f64::from(0.1f32 * 0.3f32) / f64::from(0.7f32));
        assert_eq!((p.multipliers[0], p.shifts[0]), (m, s));
        assert_eq!(p.multipliers.len(), 1);
    }

    #[test]
    fn fc_matches_formula() {
        let p = fully_connected_params::<i8, i8>(
            QuantParams::new(0.05, -5),
            &[0.01, 0.02],
            0,
            QuantParams::new(0.02, 3),
            Activation::Relu,
            2,
        )
        .unwrap();
        let input = [10i8, -20, 30, 127, -128, 0];
        let filter = [1i8, 2, 3, -4, 5, -6];
        let bias = [100, -50];
        let mut out = [0i8; 4];
        fully_connected(&p, &input, &filter, Some(&bias), 3, &mut out);
        for b in 0..2 {
            for u in 0..2 {
                let mut acc = bias[u];
                for k in 0..3 {
                    acc += (i32::from(input[b * 3 + k]) + 5) * i32::from(filter[u * 3 + k]);
                }
                let v =
                    multiply_by_quantized_multiplier_ruy_x86(acc, p.multipliers[u], p.shifts[u])
                        + 3;
                assert_eq!(i32::from(out[b * 2 + u]), v.clamp(p.act_min, 127));
            }
        }
    }

    #[test]
    fn symmetric_quantization() {
        let mut q = [0i8; 4];
        let s = symmetric_quantize_floats(&[0.5, -1.0, 0.25, 0.0], &mut q);
        assert_eq!(s, 1.0 / 127.0);
        assert_eq!(q, [64, -127, 32, 0]); // 63.5 rounds away from zero
        let s = symmetric_quantize_floats(&[0.0; 4], &mut q);
        assert_eq!((s, q), (1.0, [0; 4]));
    }

    #[test]
    fn asymmetric_quantization() {
        let mut q = [0i8; 3];
        let (s, zp) = asymmetric_quantize_floats(&[0.0, 1.0, 2.55], &mut q);
        assert!((s - 0.01).abs() < 1e-7);
        assert_eq!(zp, -128);
        assert_eq!(q, [-128, -28, 127]);
        let (s, zp) = asymmetric_quantize_floats(&[-1.0, 1.0], &mut q[..2]);
        assert!((s - 2.0 / 255.0).abs() < 1e-7);
        // Both candidates are -0.5; C's round() takes it away from zero.
        assert_eq!(zp, -1);
    }

    #[test]
    fn hybrid_close_to_float() {
        let input = [0.3f32, -1.2, 2.0, 0.7, 0.0, -0.1, 0.05, 1.0];
        let filter = [10i8, -20, 30, 40, -127, 5, 60, 1];
        let scales = [0.01f32, 0.02];
        let bias = [0.5f32, -0.25];
        for asymmetric in [false, true] {
            let params = HybridFcParams {
                asymmetric,
                activation: Activation::None,
            };
            let mut out = [0f32; 4];
            let mut scratch = HybridFcScratch::default();
            hybrid_fully_connected(
                &params,
                &input,
                &filter,
                &scales,
                Some(&bias),
                4,
                &mut scratch,
                &mut out,
            );
            for b in 0..2 {
                for u in 0..2 {
                    let exact: f32 = bias[u]
                        + (0..4)
                            .map(|k| input[b * 4 + k] * f32::from(filter[u * 4 + k]) * scales[u])
                            .sum::<f32>();
                    assert!(
                        (out[b * 2 + u] - exact).abs() < 0.02,
                        "{asymmetric} {b} {u}"
                    );
                }
            }
        }
    }
}
