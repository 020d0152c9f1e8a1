//! int16 `SOFTMAX` (int16 input and output, both with zero point 0), as LiteRT computes it.
//!
//! TFLite has one int16 softmax (`reference_ops::SoftmaxInt16`, used by every kernel variant). At
//! prepare time it builds two 513-entry interpolating lookup tables ([`Lut16`], TFLite's
//! `LUTPopulate<int16_t>` with `double` arithmetic): `exp(x)` on `[-10, 0]` and `1 / (1 + x)` on
//! `[0, 1]`, both with outputs scaled by `32767.5` (a symmetric `[-1, 1]` range), and it turns
//! `s_in · β / (10 / 65535)` into an integer multiplier so that input differences map onto the exp
//! table's `[-65535, 0]` domain. Per row: the differences to the row maximum are scaled, recentred
//! by `+32767`, saturated to int16 and looked up (Q0.15 values); their int32 sum is normalised by
//! its leading zeros, looked up in the reciprocal table, and each term is multiplied by the
//! reciprocal with one rounding right shift, clamped to `[0, 32767]`.

use super::fixed_point::{multiply_by_quantized_multiplier, quantize_multiplier};
use super::QuantParams;
use crate::kernels::common::KernelError;

/// A 513-entry int16 → int16 table: 512 samples of a function over the int16 input range plus one
/// end point, read with linear interpolation on the low 7 bits ([`Lut16::lookup`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Lut16 {
    /// The samples (TFLite's `LUTSize<int16_t>()` = 513).
    pub table: [i16; 513],
}

impl Lut16 {
    /// TFLite's `LUTPopulateInt16<double>`: samples `f` at 512 equal steps of the input range
    /// `[s_in · (-32768 - zp_in), s_in · (32767 - zp_in)]` and scales by `65536 / (output range)`.
    /// Each sample is corrected by half the error the interpolation would make at the step's
    /// midpoint, so that interpolated values are centred on the function; everything rounds half
    /// away from zero and saturates to int16.
    pub fn populate(
        input_scale: f64,
        input_zero_point: i32,
        output_scale: f64,
        output_zero_point: i32,
        f: impl Fn(f64) -> f64,
    ) -> Lut16 {
        let input_min = input_scale * f64::from(-32768 - input_zero_point);
        let input_max = input_scale * f64::from(32767 - input_zero_point);
        let output_min = output_scale * f64::from(-32768 - output_zero_point);
        let output_max = output_scale * f64::from(32767 - output_zero_point);
        let steps = 512;
        let step = (input_max - input_min) / f64::from(steps);
        let half_step = step / 2.0;
        let inv = 65536.0 / (output_max - output_min);
        let clamp = |v: f64| v.clamp(-32768.0, 32767.0) as i16;
        let mut table = [0i16; 513];
        for (i, slot) in table.iter_mut().take(512).enumerate() {
            let x = input_min + i as f64 * step;
            let val = f(x);
            let val_midpoint = f(x + half_step);
            let val_next = f(input_min + (i + 1) as f64 * step);
            let sample = (val * inv).round();
            let midpoint_interp = ((val_next * inv + (val * inv).round()) / 2.0).round();
            let midpoint = (val_midpoint * inv).round();
            let bias = ((midpoint_interp - midpoint) / 2.0).round();
            *slot = clamp(sample - bias);
        }
        table[512] = clamp((f(input_max) * inv).round());
        Lut16 { table }
    }

    /// TFLite's `LUTLookup(int16_t, const int16_t*)`: entry `256 + (v >> 7)` plus the
    /// interpolated share `(slope · (v & 0x7f) + 64) >> 7` of the step to the next entry.
    #[inline]
    pub fn lookup(&self, value: i16) -> i16 {
        let index = (256 + (i32::from(value) >> 7)) as usize;
        let offset = i32::from(value & 0x7f);
        let base = self.table[index];
        let slope = self.table[index + 1].wrapping_sub(base);
        let delta = (i32::from(slope) * offset + 64) >> 7;
        (i32::from(base) + delta) as i16
    }
}

/// Prepared int16 SOFTMAX.
#[derive(Debug, Clone, PartialEq)]
pub struct Softmax16Params {
    /// `exp(x)` for `x` in `[-10, 0]` (input zero point 32767, both scales `10 / 65535`, `2 / 65535`).
    pub exp_lut: Box<Lut16>,
    /// `1 / (1 + x)` for `x` in `[0, 1]`.
    pub one_over_one_plus_x_lut: Box<Lut16>,
    /// Integer form of `s_in · β / (10 / 65535)`.
    pub input_multiplier: i32,
    /// Its shift (may be positive).
    pub input_shift: i32,
}

/// Prepares an int16 SOFTMAX with TFLite's checks: input and output zero points 0, output scale
/// within 0.1% of 1/32768.
pub fn softmax16_params(
    input: QuantParams,
    beta: f32,
    output: QuantParams,
) -> Result<Softmax16Params, KernelError> {
    if !(input.scale.is_finite() && input.scale > 0.0) {
        return Err(KernelError::Param(format!(
            "int16 softmax input scale {} invalid",
            input.scale
        )));
    }
    if input.zero_point != 0 || output.zero_point != 0 {
        return Err(KernelError::Param(format!(
            "int16 softmax needs zero points 0 (input {}, output {})",
            input.zero_point, output.zero_point
        )));
    }
    let want = 1.0f32 / 32768.0;
    if (output.scale - want).abs() > 0.001f32 * want || output.scale.is_nan() {
        return Err(KernelError::Param(format!(
            "int16 softmax output scale {} must be 1/32768",
            output.scale
        )));
    }
    let range = 65535.0;
    let exp_lut = Lut16::populate(10.0 / range, 32767, 2.0 / range, 0, f64::exp);
    let one_over_one_plus_x_lut =
        Lut16::populate(1.0 / range, -32768, 2.0 / range, 0, |x| 1.0 / (1.0 + x));
    // TFLite multiplies the two floats in single precision before widening.
    let rescale = f64::from(input.scale * beta) / (10.0 / 65535.0);
    if !(rescale.is_finite() && rescale >= 0.0) {
        return Err(KernelError::Param(format!(
            "int16 softmax beta {beta} gives input rescale {rescale}"
        )));
    }
    let (input_multiplier, input_shift) = quantize_multiplier(rescale);
    if input_shift > 30 {
        return Err(KernelError::Param(format!(
            "int16 softmax input rescale {rescale} too large"
        )));
    }
    Ok(Softmax16Params {
        exp_lut: Box::new(exp_lut),
        one_over_one_plus_x_lut: Box::new(one_over_one_plus_x_lut),
        input_multiplier,
        input_shift,
    })
}

/// int16 SOFTMAX over rows of `depth` values (`output.len() == input.len()`).
pub fn softmax16(params: &Softmax16Params, input: &[i16], depth: usize, output: &mut [i16]) {
    if depth == 0 {
        return;
    }
    for (row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().copied().max().unwrap_or(i16::MIN);
        let mut sum: i32 = 0;
        for (o, &x) in out_row.iter_mut().zip(row) {
            let diff = i32::from(x) - i32::from(max);
            let scaled =
                multiply_by_quantized_multiplier(diff, params.input_multiplier, params.input_shift);
            let centred = scaled.wrapping_add(32767).clamp(-32768, 32767) as i16;
            *o = params.exp_lut.lookup(centred);
            sum = sum.wrapping_add(i32::from(*o));
        }
        // Normalise the sum to Q1.30-ish, then map [1, 2) onto the reciprocal table's input.
        let headroom_plus_one = (sum as u32).leading_zeros() as i32;
        let shifted_sum =
            (((i64::from(sum)) << (headroom_plus_one - 1).clamp(0, 63)) + (1 << 13)) >> 14;
        let centred_sum = (shifted_sum as i32)
            .wrapping_sub((1 << 15) + (1 << 16))
            .clamp(-32768, 32767) as i16;
        let reciprocal = i64::from(params.one_over_one_plus_x_lut.lookup(centred_sum));
        let right_shift = (31 - headroom_plus_one).max(1);
        let round = 1i64 << (right_shift - 1);
        for o in out_row.iter_mut() {
            let result = ((i64::from(*o) * reciprocal + round) >> right_shift) as i32;
            *o = result.clamp(0, 32767) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(scale: f32, beta: f32) -> Softmax16Params {
        softmax16_params(
            QuantParams::new(scale, 0),
            beta,
            QuantParams::new(1.0 / 32768.0, 0),
        )
        .unwrap()
    }

    #[test]
    fn exp_table_end_points() {
        let p = params(1e-3, 1.0);
        // exp(0) = 1 -> 32767.5 rounds to 32768, saturated; exp(-10) ~ 0.
        assert_eq!(p.exp_lut.table[512], 32767);
        assert!(p.exp_lut.table[0].abs() <= 2);
        // 1 / (1 + 0) at the first entry, 1 / 2 at the last.
        assert_eq!(p.one_over_one_plus_x_lut.table[0], 32767);
        assert_eq!(p.one_over_one_plus_x_lut.table[512], 16384);
        // The top input interpolates 127/128 of the way from entry 511 to entry 512.
        let t = &p.exp_lut.table;
        let top = i32::from(t[511]) + ((i32::from(t[512] - t[511]) * 127 + 64) >> 7);
        assert_eq!(i32::from(p.exp_lut.lookup(32767)), top);
        assert_eq!(p.exp_lut.lookup(32767 - 127), t[511]);
        assert_eq!(p.exp_lut.lookup(-32768), p.exp_lut.table[0]);
    }

    #[test]
    fn softmax16_close_to_float() {
        let s = 2e-4f32;
        let p = params(s, 1.0);
        let row = [-32768i16, -5000, 0, 1234, 20000, 32767];
        let mut out = [0i16; 6];
        softmax16(&p, &row, 6, &mut out);
        let xs: Vec<f64> = row.iter().map(|&q| f64::from(s) * f64::from(q)).collect();
        let m = xs.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = xs.iter().map(|x| (x - m).exp()).sum();
        for (o, x) in out.iter().zip(&xs) {
            let want = (x - m).exp() / sum * 32768.0;
            assert!((f64::from(*o) - want).abs() < 40.0, "{o} vs {want}");
        }
        // A uniform row gives 1/n.
        let mut out = [0i16; 4];
        softmax16(&p, &[7, 7, 7, 7], 4, &mut out);
        for o in out {
            assert!((i32::from(o) - 8192).abs() <= 2, "{o}");
        }
    }

    #[test]
    fn prepare_checks() {
        let out = QuantParams::new(1.0 / 32768.0, 0);
        assert!(softmax16_params(QuantParams::new(0.1, 1), 1.0, out).is_err());
        assert!(softmax16_params(
            QuantParams::new(0.1, 0),
            1.0,
            QuantParams::new(1.0 / 256.0, 0)
        )
        .is_err());
        assert!(softmax16_params(
            QuantParams::new(0.1, 0),
            1.0,
            QuantParams::new(1.0 / 32768.0, 3)
        )
        .is_err());
        assert!(softmax16_params(QuantParams::new(0.1, 0), 1.0, out).is_ok());
    }
}
