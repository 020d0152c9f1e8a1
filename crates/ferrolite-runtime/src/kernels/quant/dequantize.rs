//! Per-tensor DEQUANTIZE of int8 / uint8 as LiteRT's optimized kernel computes it on x86.
//!
//! LiteRT's x86 build runs TFLite's NEON code through an SSE translation layer, so its optimized
//! `Dequantize` processes blocks of 8 values as `f32(q) · scale + bias` with
//! `bias = f32(-zero_point · scale)` (a multiply and an add, each rounded to f32), and the
//! remaining `len % 8` values with the reference formula `f32(f64(scale) · (q - zero_point))`.
//! The two differ in the last bit for some values, so which one applies depends on the element's
//! position. (Measured against LiteRT 2.21 on int8 and uint8 tensors of 30, 37, 203, 1000 and
//! 1003 elements; int16 tensors are symmetric, where both formulas agree.)

use super::QuantElem;

/// Dequantizes an 8-bit tensor: `output.len() == input.len()`.
pub fn dequantize_8bit<Q: QuantElem>(input: &[Q], scale: f32, zero_point: i32, output: &mut [f32]) {
    let vector_len = input.len() - input.len() % 8;
    let bias = (-zero_point) as f32 * scale;
    let (head_in, tail_in) = input.split_at(vector_len);
    let (head_out, tail_out) = output.split_at_mut(vector_len.min(output.len()));
    for (o, &q) in head_out.iter_mut().zip(head_in) {
        *o = q.to_i32() as f32 * scale + bias;
    }
    let scale64 = f64::from(scale);
    for (o, &q) in tail_out.iter_mut().zip(tail_in) {
        *o = (scale64 * f64::from(q.to_i32() - zero_point)) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_eight_use_the_affine_form_and_the_tail_the_reference_one() {
        // LiteRT's output for this int8 tensor (scale 0.02745098, zero point -128): elements 6,
        // 11, 14 and 19 differ from the reference formula in the last bit, element 24 (in the
        // tail) differs from the affine one.
        let scale = 0.027_450_98_f32;
        let q: Vec<i8> = (0..30)
            .map(|i| match i {
                6 => -97,
                11 => -101,
                14 => -84,
                19 => -112,
                24 => 73,
                _ => 0,
            })
            .collect();
        let mut out = vec![0f32; 30];
        dequantize_8bit(&q, scale, -128, &mut out);
        assert_eq!(out[6], 0.8509803);
        assert_eq!(out[11], 0.741_176_37);
        assert_eq!(out[14], 1.2078431);
        assert_eq!(out[19], 0.439_215_66);
        assert_eq!(out[24], 5.517_647_3);
        // Exact cases agree with the plain formula.
        let mut out = [0f32; 3];
        dequantize_8bit(&[1u8, 2, 3], 0.5, 1, &mut out);
        assert_eq!(out, [0.0, 0.5, 1.0]);
    }
}
