//! NEON quantized ADD / SUB of two same-shape 8-bit tensors (aarch64), behind
//! [`super::add_i8::add`]; bit-exact with the scalar kernel.
//!
//! Eight elements at a time: widen to int32, add the input offsets, apply the headroom shift and
//! each input's multiplier (TFLite's double rounding, [`multiply_double`]), add or subtract, apply
//! the output multiplier, add the output zero point, clamp and narrow. The tail runs the same
//! arithmetic in scalar code.

use std::arch::aarch64::*;

use super::requant_neon::multiply_double;
use crate::kernels::quant::elementwise::AddParams;
use crate::kernels::quant::fixed_point::multiply_by_quantized_multiplier;
use crate::kernels::quant::QuantElem;

/// `out = a ± b` for equal-length 8-bit slices; the caller checked the lengths, the element type
/// (one byte) and that the parameters are in the vector rounding's range (`add_i8::vector_ok`).
pub(super) fn add<T: QuantElem>(p: &AddParams, a: &[T], b: &[T], out: &mut [T], subtract: bool) {
    let n = out.len();
    assert!(
        a.len() == n && b.len() == n && std::mem::size_of::<T>() == 1,
        "add operands"
    );
    let signed = T::MIN < 0;
    let main = n / 8 * 8;
    let (ap, bp, op) = (
        a.as_ptr().cast::<u8>(),
        b.as_ptr().cast::<u8>(),
        out.as_mut_ptr().cast::<u8>(),
    );
    // SAFETY: `T` is a one-byte integer type, so the slices are `n` valid bytes each (every
    // byte pattern is a valid `T`); all accesses are below `main ≤ n`.
    unsafe {
        for i in (0..main).step_by(8) {
            let x = widen(vld1_u8(ap.add(i)), signed);
            let y = widen(vld1_u8(bp.add(i)), signed);
            let r = [0, 1].map(|h| lanes(p, x[h], y[h], subtract));
            let v16 = vcombine_s16(vmovn_s32(r[0]), vmovn_s32(r[1]));
            // Clamped to the output type's range, so truncating narrows are exact.
            vst1_u8(op.add(i), vreinterpret_u8_s8(vmovn_s16(v16)));
        }
    }
    for i in main..n {
        out[i] = T::from_i32_clamped(scalar(p, a[i].to_i32(), b[i].to_i32(), subtract));
    }
}

/// Eight bytes as two int32 vectors.
///
/// # Safety
/// NEON only (register-only arithmetic).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn widen(v: uint8x8_t, signed: bool) -> [int32x4_t; 2] {
    let w = if signed {
        vmovl_s8(vreinterpret_s8_u8(v))
    } else {
        vreinterpretq_s16_u16(vmovl_u8(v))
    };
    [vmovl_s16(vget_low_s16(w)), vmovl_high_s16(w)]
}

/// Four lanes of the add: clamped output values.
///
/// # Safety
/// NEON only (register-only arithmetic); parameters as [`add`] requires.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn lanes(p: &AddParams, x: int32x4_t, y: int32x4_t, subtract: bool) -> int32x4_t {
    let left = vdupq_n_s32(p.left_shift);
    let x = vshlq_s32(vaddq_s32(x, vdupq_n_s32(p.input1_offset)), left);
    let y = vshlq_s32(vaddq_s32(y, vdupq_n_s32(p.input2_offset)), left);
    // SAFETY: register-only NEON helpers.
    unsafe {
        let x = multiply_double(
            x,
            vdupq_n_s32(p.input1_multiplier),
            vdupq_n_s32(p.input1_shift),
        );
        let y = multiply_double(
            y,
            vdupq_n_s32(p.input2_multiplier),
            vdupq_n_s32(p.input2_shift),
        );
        let raw = if subtract {
            vsubq_s32(x, y)
        } else {
            vaddq_s32(x, y)
        };
        let o = multiply_double(
            raw,
            vdupq_n_s32(p.output_multiplier),
            vdupq_n_s32(p.output_shift),
        );
        let o = vaddq_s32(o, vdupq_n_s32(p.output_offset));
        vminq_s32(vmaxq_s32(o, vdupq_n_s32(p.act_min)), vdupq_n_s32(p.act_max))
    }
}

/// The same arithmetic for one element.
fn scalar(p: &AddParams, a: i32, b: i32, subtract: bool) -> i32 {
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
