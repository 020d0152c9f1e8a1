//! int16x8 `FULLY_CONNECTED` (int16 activations, int8 weights), as LiteRT runs it.
//!
//! TFLite's `EvalQuantized` picks one of two kernels at run time, and so does the glue
//! (`ops/matmul.rs`), with the same rule:
//!
//! * int64 bias, or `quantized_bias_type` INT64 (what TF's converter writes): the reference
//!   kernel, which accumulates in 64 bits and scales in double precision,
//!   `round_half_away(acc · (f64(s_in) · f64(s_w[u]) / f64(s_out)))` ([`fully_connected_16x8`]).
//!   Older TFLite versions applied a 16-bit-reduced integer multiplier here; LiteRT 2.x does not.
//! * otherwise (int32 bias or none): the ruy GEMM, which accumulates in 32 bits and applies the
//!   integer multiplier with ruy's x86 rounding ([`fully_connected_16x8_ruy`]).
//!
//! Both take the [`QuantFcParams`] of [`fully_connected_params::<i16, i8>`](super::fully_connected::fully_connected_params).

use super::fixed_point::{apply_multiplier, round_to_i32_x86, Rounding};
use super::fully_connected::QuantFcParams;

/// int16x8 FULLY_CONNECTED through TFLite's reference kernel (int64 bias): 64-bit accumulation,
/// then `round_half_away(acc · effective_scale)` in f64, `+ output_offset` and the clamp.
/// Parameters come from [`fully_connected_params::<i16, i8>`](fully_connected_params).
pub fn fully_connected_16x8(
    params: &QuantFcParams,
    input: &[i16],
    filter: &[i8],
    bias: Option<&[i64]>,
    depth: usize,
    output: &mut [i16],
) {
    let units = filter.len() / depth.max(1);
    let per_channel = params.effective_scales.len() > 1;
    for (x_row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(units))
    {
        for (u, out) in out_row.iter_mut().enumerate() {
            let w_row = &filter[u * depth..(u + 1) * depth];
            let mut acc: i64 = x_row.iter().zip(w_row).fold(0i64, |acc, (x, w)| {
                acc.wrapping_add(
                    (i64::from(*x) + i64::from(params.input_offset))
                        * (i64::from(*w) + i64::from(params.filter_offset)),
                )
            });
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[u]);
            }
            let scale = params.effective_scales[if per_channel { u } else { 0 }];
            let v = round_to_i32_x86(acc as f64 * scale)
                .wrapping_add(params.output_offset)
                .clamp(params.act_min, params.act_max);
            *out = v as i16;
        }
    }
}

/// int16x8 FULLY_CONNECTED through ruy (int32 or no bias, all zero points 0): 32-bit wrapping
/// accumulation and the integer multiplier with ruy's x86 rounding
/// ([`Rounding::RuyX86`](Rounding::RuyX86)), whatever `params.rounding` says.
pub fn fully_connected_16x8_ruy(
    params: &QuantFcParams,
    input: &[i16],
    filter: &[i8],
    bias: Option<&[i32]>,
    depth: usize,
    output: &mut [i16],
) {
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
                    (i32::from(*x) + params.input_offset)
                        .wrapping_mul(i32::from(*w) + params.filter_offset),
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
                Rounding::RuyX86,
            )
            .wrapping_add(params.output_offset)
            .clamp(params.act_min, params.act_max);
            *out = v as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::Activation;
    use crate::kernels::quant::fixed_point::multiply_by_quantized_multiplier_ruy_x86;
    use crate::kernels::quant::fully_connected::fully_connected_params;
    use crate::kernels::quant::QuantParams;

    #[test]
    fn fc_16x8_matches_formula() {
        let p = fully_connected_params::<i16, i8>(
            QuantParams::new(1e-4, 0),
            &[0.01, 0.02],
            0,
            QuantParams::new(1e-3, 0),
            Activation::None,
            2,
        )
        .unwrap();
        let input = [32_000i16, -32_768, 5];
        let filter = [127i8, -127, 3, 1, 1, 1];
        let bias = [10_000_000_000i64, -7];
        let mut out = [0i16; 2];
        fully_connected_16x8(&p, &input, &filter, Some(&bias), 3, &mut out);
        for u in 0..2 {
            let acc: i64 = bias[u]
                + (0..3)
                    .map(|k| i64::from(input[k]) * i64::from(filter[u * 3 + k]))
                    .sum::<i64>();
            let scale = 1e-4f32 as f64 * [0.01f32, 0.02][u] as f64 / 1e-3f32 as f64;
            let v = (acc as f64 * scale).round() as i32;
            assert_eq!(i32::from(out[u]), v.clamp(-32_768, 32_767));
        }
        assert_eq!(out[0], 32_767); // the huge bias saturates
                                    // The ruy path wraps in 32 bits and rounds the integer multiplier like ruy on x86.
        let bias32 = [1_000i32, -7];
        fully_connected_16x8_ruy(&p, &input, &filter, Some(&bias32), 3, &mut out);
        for u in 0..2 {
            let acc: i32 = bias32[u]
                + (0..3)
                    .map(|k| i32::from(input[k]) * i32::from(filter[u * 3 + k]))
                    .sum::<i32>();
            let v = multiply_by_quantized_multiplier_ruy_x86(acc, p.multipliers[u], p.shifts[u]);
            assert_eq!(i32::from(out[u]), v.clamp(-32_768, 32_767));
        }
    }
}
