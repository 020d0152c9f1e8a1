//! Quantized ADD / SUB of two same-shape 8-bit tensors (the residual connections of int8
//! networks), vectorized; bit-exact with the scalar kernel in `quant::elementwise`.
//!
//! [`add`] returns `false` (doing nothing) when it has no fast path: scalar level, other element
//! types, shapes that need broadcasting (callers only call it for equal shapes), or parameters
//! outside what the vector rounding reproduces (negative multipliers, shifts beyond `-31..=30`).
//! The x86 code is in `add_x86`, the aarch64 code in `add_neon`.

use super::pack_i8::activation_shift;
use super::Level;
use crate::kernels::quant::elementwise::AddParams;
use crate::kernels::quant::QuantElem;

#[cfg(target_arch = "x86_64")]
use super::add_x86;

/// Whether the vector rounding reproduces `p` exactly.
fn vector_ok(p: &AddParams) -> bool {
    let shift_ok = |s: i32| (-31..=30).contains(&s);
    [
        p.input1_multiplier,
        p.input2_multiplier,
        p.output_multiplier,
    ]
    .iter()
    .all(|&m| m >= 0)
        && [p.input1_shift, p.input2_shift, p.output_shift]
            .iter()
            .all(|&s| shift_ok(s))
        && (0..=31).contains(&p.left_shift)
}

/// `out = a + b` (or `a - b` when `subtract`) elementwise with TFLite's quantized-add
/// arithmetic, for equal-length 8-bit operands. Returns `false` (doing nothing) without a fast
/// path.
pub fn add<T: QuantElem>(
    level: Level,
    p: &AddParams,
    a: &[T],
    b: &[T],
    out: &mut [T],
    subtract: bool,
) -> bool {
    if level == Level::Scalar
        || activation_shift::<T>().is_none()
        || a.len() != out.len()
        || b.len() != out.len()
        || !vector_ok(p)
    {
        return false;
    }
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon {
        super::add_neon::add(p, a, b, out, subtract);
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: equal lengths checked above; the level was detected at run time.
        unsafe {
            if level == Level::Avx512 {
                add_x86::add_avx512(p, a, b, out, subtract);
            } else {
                add_x86::add_avx2(p, a, b, out, subtract);
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = subtract;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::Activation;
    use crate::kernels::quant::elementwise::add_params;
    use crate::kernels::quant::fixed_point::multiply_by_quantized_multiplier;
    use crate::kernels::quant::QuantParams;
    use crate::kernels::simd::available_levels;
    use crate::kernels::simd::tests::Rng;

    /// TFLite's quantized add, element by element (the formula of the scalar kernel).
    fn reference(p: &AddParams, a: i32, b: i32, subtract: bool) -> i32 {
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

    fn case<T: QuantElem + PartialEq + std::fmt::Debug>(rng: &mut Rng) {
        let zp = |rng: &mut Rng| T::MIN + (rng.next() % 256) as i32;
        let scale = |rng: &mut Rng| 10f32.powf(-3.0 + 3.0 * (rng.next() % 1000) as f32 / 1000.0);
        let act = rng.pick(&[Activation::None, Activation::Relu, Activation::Relu6]);
        let q1 = QuantParams::new(scale(rng), zp(rng));
        let q2 = QuantParams::new(scale(rng), zp(rng));
        let qo = QuantParams::new(scale(rng), zp(rng));
        let p = add_params::<T>(q1, q2, qo, act).unwrap();
        let n = rng.range(0, 300);
        let val = |rng: &mut Rng| T::from_i32_clamped(T::MIN + (rng.next() % 256) as i32);
        let a: Vec<T> = (0..n).map(|_| val(rng)).collect();
        let b: Vec<T> = (0..n).map(|_| val(rng)).collect();
        for subtract in [false, true] {
            let want: Vec<T> = a
                .iter()
                .zip(&b)
                .map(|(x, y)| T::from_i32_clamped(reference(&p, x.to_i32(), y.to_i32(), subtract)))
                .collect();
            for level in available_levels() {
                let mut got = vec![T::from_i32_clamped(0); n];
                if add(level, &p, &a, &b, &mut got, subtract) {
                    assert_eq!(got, want, "{level:?} n={n} subtract={subtract} {p:?}");
                } else {
                    assert_eq!(level, Level::Scalar);
                }
            }
        }
    }

    #[test]
    fn int8_add_matches_scalar_formula() {
        let mut rng = Rng::new(71);
        for _ in 0..300 {
            case::<i8>(&mut rng);
            case::<u8>(&mut rng);
        }
    }
}
