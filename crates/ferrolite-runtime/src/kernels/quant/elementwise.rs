//! Quantized elementwise arithmetic: `ADD`, `SUB`, `MUL` and requantization (`QUANTIZE` between
//! integer types or scales).
//!
//! CONCATENATION of legacy uint8 inputs with their own scales rescales each input in f32
//! ([`concat_rescale`]); quantized RELU / RELU6 / RELU_N1_TO_1 are a clamped requantization
//! ([`relu_x`]).
//!
//! ADD / SUB follow TFLite's general quantized path: both inputs are offset by their zero points,
//! shifted left by `left_shift` (20 for 8-bit, 15 for int16), scaled by `s_i / (2 · max(s1, s2))`
//! with a double-rounding multiplier, summed (or subtracted), then scaled by
//! `2 · max(s1, s2) / (2^left_shift · s_out)` and offset. MUL scales the product of the offset
//! inputs by `s1 · s2 / s_out`. Requantization maps `q - zp_in` through `s_in / s_out`. All
//! multipliers use TFLite's default double rounding. Broadcasting follows numpy rules.

use super::fixed_point::{
    multiply_by_quantized_multiplier, quantize_multiplier, quantize_multiplier_smaller_than_one,
};
use super::{check_quant, quantized_activation_range, QuantElem, QuantParams};
use crate::kernels::broadcast::broadcast_map2;
use crate::kernels::common::{Activation, KernelError};

/// Prepared parameters of a quantized ADD or SUB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// `-zero_point` of input 1.
    pub input1_offset: i32,
    /// `-zero_point` of input 2.
    pub input2_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Headroom shift applied to both offset inputs.
    pub left_shift: i32,
    /// Multiplier of input 1 (< 1).
    pub input1_multiplier: i32,
    /// Shift of input 1 (<= 0).
    pub input1_shift: i32,
    /// Multiplier of input 2 (< 1).
    pub input2_multiplier: i32,
    /// Shift of input 2 (<= 0).
    pub input2_shift: i32,
    /// Output multiplier (< 1).
    pub output_multiplier: i32,
    /// Output shift (<= 0).
    pub output_shift: i32,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

/// Prepares a quantized ADD or SUB for storage type `T` (int8, uint8 or int16).
pub fn add_params<T: QuantElem>(
    input1: QuantParams,
    input2: QuantParams,
    output: QuantParams,
    activation: Activation,
) -> Result<AddParams, KernelError> {
    check_quant::<T>("add input 1", input1)?;
    check_quant::<T>("add input 2", input2)?;
    check_quant::<T>("add output", output)?;
    let left_shift = if T::MIN == i32::from(i16::MIN) {
        15
    } else {
        20
    };
    let twice_max = f64::from(2.0 * input1.scale.max(input2.scale));
    let (input1_multiplier, input1_shift) =
        quantize_multiplier_smaller_than_one(f64::from(input1.scale) / twice_max)?;
    let (input2_multiplier, input2_shift) =
        quantize_multiplier_smaller_than_one(f64::from(input2.scale) / twice_max)?;
    let real_output = twice_max / (f64::from(1u32 << left_shift) * f64::from(output.scale));
    let (output_multiplier, output_shift) = quantize_multiplier_smaller_than_one(real_output)?;
    let (act_min, act_max) = quantized_activation_range(activation, output, T::MIN, T::MAX);
    Ok(AddParams {
        input1_offset: -input1.zero_point,
        input2_offset: -input2.zero_point,
        output_offset: output.zero_point,
        left_shift,
        input1_multiplier,
        input1_shift,
        input2_multiplier,
        input2_shift,
        output_multiplier,
        output_shift,
        act_min,
        act_max,
    })
}

/// One ADD (`sign = 1`) or SUB (`sign = -1`) element.
#[inline]
fn add_one(p: &AddParams, a: i32, b: i32, subtract: bool) -> i32 {
    let a = (a + p.input1_offset).wrapping_mul(1 << p.left_shift);
    let b = (b + p.input2_offset).wrapping_mul(1 << p.left_shift);
    let a = multiply_by_quantized_multiplier(a, p.input1_multiplier, p.input1_shift);
    let b = multiply_by_quantized_multiplier(b, p.input2_multiplier, p.input2_shift);
    let raw = if subtract {
        a.wrapping_sub(b)
    } else {
        a.wrapping_add(b)
    };
    multiply_by_quantized_multiplier(raw, p.output_multiplier, p.output_shift)
        .wrapping_add(p.output_offset)
        .clamp(p.act_min, p.act_max)
}

/// Quantized ADD with numpy broadcasting; errors if the shapes do not broadcast or a buffer length
/// disagrees with its shape.
pub fn add<T: QuantElem>(
    params: &AddParams,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    if same_shape_simd(params, a, a_shape, b, b_shape, out, false) {
        return Ok(());
    }
    broadcast_map2(a, a_shape, b, b_shape, out, |x, y| {
        T::from_i32_clamped(add_one(params, x.to_i32(), y.to_i32(), false))
    })
}

/// The vectorized ADD / SUB (`crate::kernels::simd::add_i8`) for equal shapes; `false` when it
/// does not apply.
fn same_shape_simd<T: QuantElem>(
    params: &AddParams,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
    subtract: bool,
) -> bool {
    let n: usize = a_shape.iter().product();
    a_shape == b_shape
        && a.len() == n
        && b.len() == n
        && out.len() == n
        && crate::kernels::simd::add_i8::add(
            crate::kernels::simd::level(),
            params,
            a,
            b,
            out,
            subtract,
        )
}

/// Quantized SUB (`a - b`) with numpy broadcasting; parameters from [`add_params`].
pub fn sub<T: QuantElem>(
    params: &AddParams,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    if same_shape_simd(params, a, a_shape, b, b_shape, out, true) {
        return Ok(());
    }
    broadcast_map2(a, a_shape, b, b_shape, out, |x, y| {
        T::from_i32_clamped(add_one(params, x.to_i32(), y.to_i32(), true))
    })
}

/// Prepared parameters of a quantized MUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulParams {
    /// `-zero_point` of input 1.
    pub input1_offset: i32,
    /// `-zero_point` of input 2.
    pub input2_offset: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Multiplier of `s1 · s2 / s_out`.
    pub output_multiplier: i32,
    /// Its shift.
    pub output_shift: i32,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

/// Prepares a quantized MUL (multiplier `f64(s1) · f64(s2) / f64(s_out)`).
pub fn mul_params<T: QuantElem>(
    input1: QuantParams,
    input2: QuantParams,
    output: QuantParams,
    activation: Activation,
) -> Result<MulParams, KernelError> {
    check_quant::<T>("mul input 1", input1)?;
    check_quant::<T>("mul input 2", input2)?;
    check_quant::<T>("mul output", output)?;
    let real = f64::from(input1.scale) * f64::from(input2.scale) / f64::from(output.scale);
    let (output_multiplier, output_shift) = quantize_multiplier(real);
    let (act_min, act_max) = quantized_activation_range(activation, output, T::MIN, T::MAX);
    Ok(MulParams {
        input1_offset: -input1.zero_point,
        input2_offset: -input2.zero_point,
        output_offset: output.zero_point,
        output_multiplier,
        output_shift,
        act_min,
        act_max,
    })
}

/// Quantized MUL with numpy broadcasting.
pub fn mul<T: QuantElem>(
    params: &MulParams,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out: &mut [T],
) -> Result<(), KernelError> {
    broadcast_map2(a, a_shape, b, b_shape, out, |x, y| {
        let prod =
            (x.to_i32() + params.input1_offset).wrapping_mul(y.to_i32() + params.input2_offset);
        let v =
            multiply_by_quantized_multiplier(prod, params.output_multiplier, params.output_shift)
                .wrapping_add(params.output_offset)
                .clamp(params.act_min, params.act_max);
        T::from_i32_clamped(v)
    })
}

/// Prepared requantization between two integer quantizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequantizeParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Multiplier of `s_in / s_out`.
    pub multiplier: i32,
    /// Its shift.
    pub shift: i32,
}

/// Prepares a requantization from `(A, input)` to `(B, output)` (TFLite's QUANTIZE between integer
/// types: int8 ↔ uint8, int8 → int8 with a new scale, int16 ↔ int8, ...).
pub fn requantize_params<A: QuantElem, B: QuantElem>(
    input: QuantParams,
    output: QuantParams,
) -> Result<RequantizeParams, KernelError> {
    check_quant::<A>("requantize input", input)?;
    check_quant::<B>("requantize output", output)?;
    let (multiplier, shift) = quantize_multiplier(f64::from(input.scale) / f64::from(output.scale));
    Ok(RequantizeParams {
        input_zero_point: input.zero_point,
        output_zero_point: output.zero_point,
        multiplier,
        shift,
    })
}

/// Requantizes `input` into `output` (equal lengths):
/// `clamp(MBQM(q - zp_in, m, shift) + zp_out)` to `B`'s range.
pub fn requantize<A: QuantElem, B: QuantElem>(
    params: &RequantizeParams,
    input: &[A],
    output: &mut [B],
) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = multiply_by_quantized_multiplier(
            x.to_i32() - params.input_zero_point,
            params.multiplier,
            params.shift,
        )
        .wrapping_add(params.output_zero_point)
        .clamp(B::MIN, B::MAX);
        *o = B::from_i32_clamped(v);
    }
}

/// Per-input rescaling of a legacy uint8 CONCATENATION whose input quantization differs from the
/// output's (TFLite's `ConcatenationWithScaling`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConcatRescale {
    /// `s_in · (1 / s_out)` in f32.
    pub scale: f32,
    /// `-zp_in · scale` in f32.
    pub bias: f32,
    /// Output zero point.
    pub output_zero_point: i32,
}

/// Prepares [`concat_rescale`] from one input's and the output's quantization.
pub fn concat_rescale_params(input: QuantParams, output: QuantParams) -> ConcatRescale {
    let scale = input.scale * (1.0f32 / output.scale);
    ConcatRescale {
        scale,
        bias: (-input.zero_point) as f32 * scale,
        output_zero_point: output.zero_point,
    }
}

/// Rescales uint8 values in f32: `clamp(round(q · scale + bias) + zp_out, 0, 255)` (round half
/// away from zero). `output.len() == input.len()`.
pub fn concat_rescale(params: &ConcatRescale, input: &[u8], output: &mut [u8]) {
    for (o, &x) in output.iter_mut().zip(input) {
        let r = (f32::from(x) * params.scale + params.bias).round() as i32;
        *o = r.wrapping_add(params.output_zero_point).clamp(0, 255) as u8;
    }
}

/// TFLite's quantized RELU / RELU6 / RELU_N1_TO_1 (`QuantizedReluX`): requantizes like
/// [`requantize`] (same type in and out) and clamps to `[act_min, act_max]`, the activation's
/// bounds in the output's quantized domain (see `quantized_activation_range`).
pub fn relu_x<T: QuantElem>(
    params: &RequantizeParams,
    act_min: i32,
    act_max: i32,
    input: &[T],
    output: &mut [T],
) {
    for (o, &x) in output.iter_mut().zip(input) {
        let v = multiply_by_quantized_multiplier(
            x.to_i32() - params.input_zero_point,
            params.multiplier,
            params.shift,
        )
        .wrapping_add(params.output_zero_point)
        .max(act_min)
        .min(act_max);
        *o = T::from_i32_clamped(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dequant(q: i32, p: QuantParams) -> f64 {
        f64::from(q - p.zero_point) * f64::from(p.scale)
    }

    #[test]
    fn add_params_known_values() {
        let p = add_params::<i8>(
            QuantParams::new(0.5, 0),
            QuantParams::new(0.25, 0),
            QuantParams::new(1.0, 0),
            Activation::None,
        )
        .unwrap();
        assert_eq!(p.left_shift, 20);
        // 0.5 / 1.0 = 0.5 -> (2^30, 0); 0.25 / 1.0 -> (2^30, -1)
        assert_eq!((p.input1_multiplier, p.input1_shift), (1 << 30, 0));
        assert_eq!((p.input2_multiplier, p.input2_shift), (1 << 30, -1));
        // 1 / (2^20 * 1) = 2^-20 -> (2^30, -19)
        assert_eq!((p.output_multiplier, p.output_shift), (1 << 30, -19));
        let p16 = add_params::<i16>(
            QuantParams::new(0.5, 0),
            QuantParams::new(0.25, 0),
            QuantParams::new(1.0, 0),
            Activation::None,
        )
        .unwrap();
        assert_eq!(p16.left_shift, 15);
    }

    #[test]
    fn add_and_sub_are_close_to_real_arithmetic() {
        let (qa, qb, qo) = (
            QuantParams::new(0.031, -7),
            QuantParams::new(0.047, 12),
            QuantParams::new(0.06, 3),
        );
        let p = add_params::<i8>(qa, qb, qo, Activation::None).unwrap();
        let a: Vec<i8> = (-128..=127).step_by(5).map(|v| v as i8).collect();
        let b: Vec<i8> = a.iter().rev().copied().collect();
        let mut out = vec![0i8; a.len()];
        add(&p, &a, &[a.len()], &b, &[b.len()], &mut out).unwrap();
        for i in 0..a.len() {
            let want = (dequant(a[i].into(), qa) + dequant(b[i].into(), qb)) / 0.06 + 3.0;
            let want = want.round().clamp(-128.0, 127.0);
            assert!((f64::from(out[i]) - want).abs() <= 1.0, "{i}");
        }
        sub(&p, &a, &[a.len()], &b, &[b.len()], &mut out).unwrap();
        for i in 0..a.len() {
            let want = (dequant(a[i].into(), qa) - dequant(b[i].into(), qb)) / 0.06 + 3.0;
            let want = want.round().clamp(-128.0, 127.0);
            assert!((f64::from(out[i]) - want).abs() <= 1.0, "{i}");
        }
    }

    #[test]
    fn add_broadcasts_and_clamps() {
        let q = QuantParams::new(1.0, 0);
        let p = add_params::<i8>(q, q, q, Activation::Relu).unwrap();
        let mut out = [0i8; 4];
        add(&p, &[1, -5, 100, 120], &[4], &[10], &[1], &mut out).unwrap();
        assert_eq!(out, [11, 5, 110, 127]);
        let p = add_params::<i8>(q, q, q, Activation::ReluN1To1).unwrap();
        add(&p, &[1, -5, 100, 0], &[4], &[0], &[1], &mut out).unwrap();
        assert_eq!(out, [1, -1, 1, 0]);
    }

    #[test]
    fn mul_matches_formula() {
        let (qa, qb, qo) = (
            QuantParams::new(0.1, 2),
            QuantParams::new(0.2, -1),
            QuantParams::new(0.05, 0),
        );
        let p = mul_params::<i8>(qa, qb, qo, Activation::None).unwrap();
        let mut out = [0i8; 3];
        mul(&p, &[12, -8, 2], &[3], &[4, 4, 100], &[3], &mut out).unwrap();
        // (10 * 5) * 0.02 / 0.05 = 20 ; (-10*5)*0.4 = -20 ; 0
        assert_eq!(out, [20, -20, 0]);
    }

    #[test]
    fn concat_rescale_rounds_in_float() {
        let p = concat_rescale_params(QuantParams::new(0.5, 10), QuantParams::new(0.25, 3));
        let mut out = [0u8; 3];
        // (q - 10) * 2 + 3: 0 -> -17 -> 0 ; 10 -> 3 ; 200 -> 383 -> 255
        concat_rescale(&p, &[0, 10, 200], &mut out);
        assert_eq!(out, [0, 3, 255]);
    }

    #[test]
    fn relu_x_requantizes_and_clamps() {
        let (qi, qo) = (QuantParams::new(0.1, -10), QuantParams::new(0.05, -128));
        let p = requantize_params::<i8, i8>(qi, qo).unwrap();
        let (lo, hi) = quantized_activation_range(Activation::Relu6, qo, -128, 127);
        assert_eq!((lo, hi), (-128, -8));
        let mut out = [0i8; 4];
        // reals: -1.0, 0.0, 0.5, 5.0 -> clamp 0..6 -> codes -128, -128, -118, -28
        relu_x(&p, lo, hi, &[-20i8, -10, -5, 40], &mut out);
        assert_eq!(out, [-128, -128, -118, -28]);
    }

    #[test]
    fn requantize_int8_to_uint8_and_rescale() {
        let p = requantize_params::<i8, u8>(QuantParams::new(0.5, -3), QuantParams::new(0.5, 125))
            .unwrap();
        let mut out = [0u8; 3];
        requantize(&p, &[-3i8, -128, 127], &mut out);
        assert_eq!(out, [125, 0, 255]);
        let p = requantize_params::<i8, i8>(QuantParams::new(0.3, 0), QuantParams::new(0.2, 1))
            .unwrap();
        let mut out = [0i8; 4];
        requantize(&p, &[1i8, 3, -3, 100], &mut out);
        // 1.5 -> 2 (+1 = 3), 4.5 -> 5 (+1), -4.5 -> -5 (+1 = -4), 150 -> clamp 127
        assert_eq!(out, [3, 6, -4, 127]);
    }
}
