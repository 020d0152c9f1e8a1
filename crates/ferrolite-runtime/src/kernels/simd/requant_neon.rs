//! NEON requantization of int32 accumulator rows (aarch64), behind
//! `requant::requantize_block_at`.
//!
//! TFLite's requantization on four lanes, bit for bit with `requant::requantize_row_scalar`:
//! `vqrdmulhq_s32` is exactly gemmlowp's SaturatingRoundingDoublingHighMul (and, for the
//! non-negative multipliers `RowRequant::vector_ok` admits, ruy's x86 first rounding); a rounding
//! shift `vrshlq_s32` after gemmlowp's sign fix-up (negative values nudged down by one) is
//! RoundingDivideByPOT, which rounds ties away from zero; the single-rounding mode shifts the
//! 64-bit products (`vmull_s32` + `vrshlq_s64`) and truncates. Column tails run the scalar code.
//! The integer SIMD tests compare it with the scalar reference on random, extreme and tie values.

use std::arch::aarch64::*;

use super::requant::{requantize_row_scalar, RowRequant};
use crate::kernels::quant::fixed_point::Rounding;

/// Requantizes `acc` (rows of `n` accumulators) in place like `requant::requantize_row_scalar`
/// (row `r` also gets `b_off · rowsum[r]`). Requires [`RowRequant::vector_ok`] and the lengths
/// `requant::requantize_block_at` asserts.
pub(super) fn requant_block(
    acc: &mut [i32],
    n: usize,
    rowsum: Option<(&[i32], i32)>,
    q: &RowRequant<'_>,
) {
    let per_channel = q.multipliers.len() > 1;
    let main = n / 4 * 4;
    assert!(
        q.colcorr.len() >= n && (!per_channel || q.multipliers.len().min(q.shifts.len()) >= n),
        "requant parameters too short"
    );
    let tail = RowRequant {
        colcorr: &q.colcorr[main..],
        multipliers: if per_channel {
            &q.multipliers[main..]
        } else {
            q.multipliers
        },
        shifts: if per_channel {
            &q.shifts[main..]
        } else {
            q.shifts
        },
        ..*q
    };
    for (r, row) in acc.chunks_exact_mut(n).enumerate() {
        let row_corr = rowsum.map_or(0, |(s, b)| b.wrapping_mul(s[r]));
        for j in (0..main).step_by(4) {
            let c = if per_channel { j } else { 0 };
            // SAFETY: `j + 4 ≤ main ≤ n` lanes of the row, the corrections and (per channel) the
            // multipliers and shifts, checked above.
            unsafe {
                let (m, s) = if per_channel {
                    (
                        vld1q_s32(q.multipliers.as_ptr().add(c)),
                        vld1q_s32(q.shifts.as_ptr().add(c)),
                    )
                } else {
                    (vdupq_n_s32(q.multipliers[0]), vdupq_n_s32(q.shifts[0]))
                };
                let x = vaddq_s32(
                    vld1q_s32(row.as_ptr().add(j)),
                    vaddq_s32(vld1q_s32(q.colcorr.as_ptr().add(j)), vdupq_n_s32(row_corr)),
                );
                let y = requant4(x, m, s, q);
                vst1q_s32(row.as_mut_ptr().add(j), y);
            }
        }
        if main < n {
            requantize_row_scalar(&mut row[main..], row_corr, &tail);
        }
    }
}

/// Four lanes of `apply_multiplier` + output offset + clamp (multipliers ≥ 0, shifts in
/// `-31..=30`).
///
/// # Safety
/// None beyond NEON, which every aarch64 CPU has (register-only arithmetic).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn requant4(x: int32x4_t, m: int32x4_t, s: int32x4_t, q: &RowRequant<'_>) -> int32x4_t {
    let zero = vdupq_n_s32(0);
    let scaled = match q.rounding {
        Rounding::Double => multiply_double(x, m, s),
        Rounding::RuyX86 => {
            // Wrapping left shift, SRDHM (ruy's x86 first rounding is the same for non-negative
            // multipliers), then a round-half-up right shift by `max(-s, 0)`.
            let t = vqrdmulhq_s32(vshlq_s32(x, vmaxq_s32(s, zero)), m);
            vrshlq_s32(t, vminq_s32(s, zero))
        }
        Rounding::Single => {
            // (x · m + 2^(30 - s)) >> (31 - s) on 64-bit products, truncated to 32 bits.
            let total_neg = vsubq_s32(s, vdupq_n_s32(31));
            let lo = vmull_s32(vget_low_s32(x), vget_low_s32(m));
            let hi = vmull_high_s32(x, m);
            let lo = vrshlq_s64(lo, vmovl_s32(vget_low_s32(total_neg)));
            let hi = vrshlq_s64(hi, vmovl_high_s32(total_neg));
            vcombine_s32(vmovn_s64(lo), vmovn_s64(hi))
        }
    };
    let y = vaddq_s32(scaled, vdupq_n_s32(q.output_offset));
    vminq_s32(vmaxq_s32(y, vdupq_n_s32(q.act_min)), vdupq_n_s32(q.act_max))
}

/// TFLite's default `MultiplyByQuantizedMultiplier` on four lanes: wrapping left shift by
/// `max(s, 0)`, SaturatingRoundingDoublingHighMul (`vqrdmulhq_s32`, identical), then
/// RoundingDivideByPOT by `max(-s, 0)` (shifts in `-31..=30`).
///
/// # Safety
/// None beyond NEON, which every aarch64 CPU has (register-only arithmetic).
#[inline]
#[target_feature(enable = "neon")]
pub(super) unsafe fn multiply_double(x: int32x4_t, m: int32x4_t, s: int32x4_t) -> int32x4_t {
    let zero = vdupq_n_s32(0);
    // Shift right by `max(-s, 0)`: a non-positive shift amount for `vrshlq_s32`.
    let right_neg = vminq_s32(s, zero);
    let t = vqrdmulhq_s32(vshlq_s32(x, vmaxq_s32(s, zero)), m);
    // RoundingDivideByPOT rounds ties away from zero; `vrshl` rounds them up, so negative values
    // are first nudged down by one (when the shift is non-zero): gemmlowp's NEON fix-up.
    let fixup = vshrq_n_s32::<31>(vandq_s32(t, right_neg));
    vrshlq_s32(vqaddq_s32(t, fixup), right_neg)
}
