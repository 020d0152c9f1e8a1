//! Table-driven quantized activations: `SOFTMAX`, `LOGISTIC` and `TANH` (int8 / uint8), as
//! TFLite's optimized x86 kernels compute them.
//!
//! * SOFTMAX: a 256-entry f32 table `table[255 - d] = expf(-s_in · β · d)` is built at prepare time
//!   (`PopulateSoftmaxLookupTable`); per row, with `m` the row maximum, the kernel sums
//!   `table[255 - m + x]` in f32 (in order), scales each term by `1 / (sum · s_out)` and rounds:
//!   `round(p) + zp_out` for int8 output, `(int)(p + 0.5) + zp_out` for uint8 (TFLite's non-ARM
//!   uint8 specialisation). The fixed-point `SoftmaxInt8LUT` is only used on aarch64 + clang.
//! * LOGISTIC / TANH: TFLite's `LUTPopulate` evaluates the f32 function at every representable
//!   input (`s_in · (q - zp_in)`) and quantizes the result once (`round(f / s_out) + zp_out`,
//!   clamped); the kernel is a table lookup.

use super::{check_quant, QuantElem, QuantParams};
use crate::kernels::common::KernelError;

/// Prepared SOFTMAX parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxParams {
    /// `table[255 - d] = expf(-input_scale · beta · d)`.
    pub table: [f32; 256],
    /// Output scale.
    pub output_scale: f32,
    /// Output zero point.
    pub output_zero_point: i32,
}

/// Prepares a quantized SOFTMAX (`input` int8/uint8 quantization, `beta` from the options).
pub fn softmax_params<T: QuantElem>(
    input: QuantParams,
    beta: f32,
    output: QuantParams,
) -> Result<SoftmaxParams, KernelError> {
    check_quant::<T>("softmax input", input)?;
    if !(output.scale.is_finite() && output.scale > 0.0) {
        return Err(KernelError::Param(format!(
            "softmax output scale {} invalid",
            output.scale
        )));
    }
    let scale = -input.scale * beta;
    let mut table = [0f32; 256];
    for val in 0..=255i32 {
        table[(255 - val) as usize] = (scale * val as f32).exp();
    }
    Ok(SoftmaxParams {
        table,
        output_scale: output.scale,
        output_zero_point: output.zero_point,
    })
}

/// Quantized SOFTMAX over the last dimension (`depth` elements per row); input type `I` (int8 or
/// uint8), output type `O` (int8, uint8 or int16). `output.len() == input.len()`.
pub fn softmax<I: QuantElem, O: QuantElem>(
    params: &SoftmaxParams,
    input: &[I],
    depth: usize,
    output: &mut [O],
) {
    if depth == 0 {
        return;
    }
    let uint8_out = O::MIN == 0 && O::MAX == 255;
    for (row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().fold(I::MIN, |m, x| m.max(x.to_i32()));
        let base = 255 - max;
        let entry = |x: &I| params.table[(base + x.to_i32()) as usize];
        let sum = row.iter().fold(0f32, |s, x| s + entry(x));
        let inv = 1.0f32 / (sum * params.output_scale);
        let quantize = |e: f32| {
            let p = e * inv;
            let q = if uint8_out {
                (p + 0.5) as i32
            } else {
                round_to_i32(p)
            };
            let v = q
                .saturating_add(params.output_zero_point)
                .clamp(O::MIN, O::MAX);
            O::from_i32_clamped(v)
        };
        if depth >= ROW_TABLE_MIN_DEPTH {
            // Each output depends only on its table entry: quantize the 256 entries once.
            let mut row_table = [O::from_i32_clamped(0); 256];
            for (q, &e) in row_table.iter_mut().zip(&params.table) {
                *q = quantize(e);
            }
            for (o, x) in out_row.iter_mut().zip(row) {
                *o = row_table[(base + x.to_i32()) as usize];
            }
        } else {
            for (o, x) in out_row.iter_mut().zip(row) {
                *o = quantize(entry(x));
            }
        }
    }
}

/// Rows at least this long quantize the 256 table entries once instead of every element.
const ROW_TABLE_MIN_DEPTH: usize = 512;

/// `p.round() as i32` (half away from zero, saturating, NaN to 0) without the `roundf` call the
/// baseline x86-64 target makes for `f32::round`: truncate, then step away from zero when the
/// (exact) fractional part reaches one half.
#[inline]
fn round_to_i32(p: f32) -> i32 {
    let t = p as i32;
    let frac = p - t as f32;
    if (0.5..1.0).contains(&frac) {
        t + 1
    } else if frac <= -0.5 && frac > -1.0 {
        t - 1
    } else {
        t
    }
}

/// A 256-entry lookup table indexed by `q - T::MIN` (TFLite's `LUTPopulate` for 8-bit types).
#[derive(Debug, Clone, PartialEq)]
pub struct Lut8 {
    /// Output code per input code.
    pub table: [i32; 256],
}

/// Builds an 8-bit table for the f32 function `f` (TFLite's `LUTPopulate<T>`).
pub fn lut_populate<T: QuantElem>(
    input: QuantParams,
    output: QuantParams,
    f: impl Fn(f32) -> f32,
) -> Result<Lut8, KernelError> {
    check_quant::<T>("lut input", input)?;
    check_quant::<T>("lut output", output)?;
    if T::MAX - T::MIN != 255 {
        return Err(KernelError::Param(
            "8-bit lookup table needs an 8-bit type".into(),
        ));
    }
    let inverse_scale = 1.0f32 / output.scale;
    let mut table = [0i32; 256];
    for val in T::MIN..=T::MAX {
        let dequantized = input.scale * (val - input.zero_point) as f32;
        let transformed = f(dequantized);
        let rescaled = (transformed * inverse_scale).round();
        let quantized = (rescaled + output.zero_point as f32) as i32;
        table[(val - T::MIN) as usize] = quantized.clamp(T::MIN, T::MAX);
    }
    Ok(Lut8 { table })
}

/// Prepares int8/uint8 LOGISTIC: `1 / (1 + expf(-x))` (TFLite requires output scale 1/256).
pub fn logistic_params<T: QuantElem>(
    input: QuantParams,
    output: QuantParams,
) -> Result<Lut8, KernelError> {
    lut_populate::<T>(input, output, |x| 1.0 / (1.0 + (-x).exp()))
}

/// Prepares int8/uint8 TANH: `tanhf(x)`.
pub fn tanh_params<T: QuantElem>(
    input: QuantParams,
    output: QuantParams,
) -> Result<Lut8, KernelError> {
    lut_populate::<T>(input, output, f32::tanh)
}

/// Applies a table built by [`lut_populate`] elementwise (`output.len() == input.len()`).
pub fn lookup<T: QuantElem>(lut: &Lut8, input: &[T], output: &mut [T]) {
    for (o, x) in output.iter_mut().zip(input) {
        *o = T::from_i32_clamped(lut.table[(x.to_i32() - T::MIN) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_to_i32_matches_f32_round() {
        let specials = [
            0.5f32,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.499_999_97,
            -0.499_999_97,
            8_388_607.5,
            16_777_216.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            3e9,
            -3e9,
            2_147_483_520.0,
            -2_147_483_648.0,
        ];
        let grid = (-100_000..100_000).map(|i| i as f32 * 0.001_953_125 + i as f32 * 1e-7);
        for p in specials.into_iter().chain(grid) {
            assert_eq!(round_to_i32(p), p.round() as i32, "{p}");
        }
    }

    #[test]
    fn softmax_uniform_row() {
        let p = softmax_params::<i8>(
            QuantParams::new(0.1, 0),
            1.0,
            QuantParams::new(1.0 / 256.0, -128),
        )
        .unwrap();
        let mut out = [0i8; 4];
        softmax(&p, &[5i8, 5, 5, 5], 4, &mut out);
        // 0.25 * 256 = 64 -> -64
        assert_eq!(out, [-64; 4]);
    }

    /// Long rows take the per-row table; every element must equal the direct formula.
    #[test]
    fn long_rows_match_the_per_element_formula() {
        fn check<O: QuantElem + PartialEq + std::fmt::Debug>(zp: i32, uint8_out: bool) {
            let p = softmax_params::<i8>(
                QuantParams::new(0.07, 3),
                1.3,
                QuantParams::new(1.0 / 256.0, zp),
            )
            .unwrap();
            let depth = 1000;
            let row: Vec<i8> = (0..depth).map(|i| ((i * 37) % 256) as u8 as i8).collect();
            let row = &row[..];
            let mut out = vec![O::from_i32_clamped(0); depth];
            softmax(&p, row, depth, &mut out);
            let max = row.iter().map(|&x| i32::from(x)).max().unwrap();
            let idx = |x: i8| (255 - max + i32::from(x)) as usize;
            let sum = row.iter().fold(0f32, |s, &x| s + p.table[idx(x)]);
            let inv = 1.0f32 / (sum * p.output_scale);
            for (&o, &x) in out.iter().zip(row) {
                let v = p.table[idx(x)] * inv;
                let q = if uint8_out {
                    (v + 0.5) as i32
                } else {
                    v.round() as i32
                };
                let want = O::from_i32_clamped((q + zp).clamp(O::MIN, O::MAX));
                assert_eq!(o, want, "x = {x}");
            }
        }
        check::<i8>(-128, false);
        check::<u8>(0, true);
        check::<i16>(0, false);
    }

    #[test]
    fn softmax_close_to_float() {
        let s_in = 0.2f32;
        let p = softmax_params::<i8>(
            QuantParams::new(s_in, 10),
            1.0,
            QuantParams::new(1.0 / 256.0, -128),
        )
        .unwrap();
        let row = [-128i8, -20, 0, 17, 40, 127];
        let mut out = [0i8; 6];
        softmax(&p, &row, 6, &mut out);
        let xs: Vec<f64> = row
            .iter()
            .map(|&q| f64::from(s_in) * f64::from(q))
            .collect();
        let m = xs.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = xs.iter().map(|x| (x - m).exp()).sum();
        for (o, x) in out.iter().zip(&xs) {
            let want = ((x - m).exp() / sum * 256.0).round() - 128.0;
            assert!((f64::from(*o) - want.min(127.0)).abs() <= 1.0);
        }
        // uint8 output rounds with +0.5 truncation.
        let p = softmax_params::<u8>(
            QuantParams::new(0.1, 0),
            1.0,
            QuantParams::new(1.0 / 256.0, 0),
        )
        .unwrap();
        let mut out = [0u8; 2];
        softmax(&p, &[7u8, 7], 2, &mut out);
        assert_eq!(out, [128, 128]);
    }

    #[test]
    fn logistic_and_tanh_tables() {
        let lut = logistic_params::<i8>(
            QuantParams::new(0.1, 0),
            QuantParams::new(1.0 / 256.0, -128),
        )
        .unwrap();
        let mut out = [0i8; 3];
        lookup(&lut, &[0i8, 127, -128], &mut out);
        // sigmoid(0) = 0.5 -> 128 - 128 = 0 ; sigmoid(12.7) ~ 1 -> 256 - 128 clamps to 127
        assert_eq!(out, [0, 127, -128]);
        let lut = tanh_params::<u8>(
            QuantParams::new(0.05, 128),
            QuantParams::new(1.0 / 128.0, 128),
        )
        .unwrap();
        let mut out = [0u8; 3];
        lookup(&lut, &[128u8, 148, 0], &mut out);
        // tanh(1.0) = 0.7616 * 128 = 97.48 -> 97 + 128 = 225
        assert_eq!(out, [128, 225, 0]);
    }
}
