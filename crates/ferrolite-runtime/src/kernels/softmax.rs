//! Normalisations over the last axis (SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION) and PRELU.
//!
//! The last-axis kernels treat the input as `outer × depth` rows (`depth` = last dimension) and
//! follow TFLite's float reference kernels: SOFTMAX subtracts the row maximum before
//! `exp((x - max) * beta)` and divides by the sum; LOG_SOFTMAX computes `x - max - ln Σ exp(x - max)`
//! (no beta); L2_NORMALIZATION divides by `max(sqrt(Σx²), 1e-6)`. Rank-0 inputs are rejected, as
//! TFLite requires at least one dimension.

use super::broadcast::{broadcast_map2, check_len};
use super::common::KernelError;

/// The floor TFLite puts under the L2 norm so all-zero rows divide by `1e-6`, not by zero.
pub const L2_NORM_EPSILON: f32 = 1e-6;

/// Validates `input`/`out` against `shape` and returns the last-axis length (`depth`).
fn rows(input: &[f32], shape: &[usize], out: &[f32], op: &str) -> Result<usize, KernelError> {
    let Some(&depth) = shape.last() else {
        return Err(KernelError::Shape(format!(
            "{op}: input must have rank >= 1"
        )));
    };
    check_len("input", input.len(), shape)?;
    check_len("output", out.len(), shape)?;
    Ok(depth)
}

/// Row maximum with TFLite's seed (`lowest`) and `std::max` semantics (NaN elements are skipped).
/// Eight running maxima let the compiler vectorize; the result is the same value (max is
/// associative over the non-NaN elements; at most the sign of a zero maximum can differ, which
/// no `x - max` below can tell).
fn row_max(row: &[f32]) -> f32 {
    let pick = |m: f32, v: f32| if m < v { v } else { m };
    let mut lanes = [f32::MIN; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = pick(*m, v);
        }
    }
    let m = chunks.remainder().iter().fold(f32::MIN, |m, &v| pick(m, v));
    lanes.iter().fold(m, |a, &b| pick(a, b))
}

/// `e^x` in plain arithmetic the compiler vectorizes (no libm call): `x = n·ln2 + r` with
/// `|r| <= ln2/2`, `e^r` from its degree-7 Taylor polynomial (truncation below 1e-8 relative),
/// and `2^n` applied in two halves so results down to the subnormal range stay right. Within
/// 2 ulp of `f32::exp` for normal results; NaN stays NaN, large arguments give infinity and very
/// negative ones 0.
#[inline(always)]
fn exp_fast(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so `n · LN2_HI` is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 · 2^23 rounds to the nearest integer, left in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = if x < -104.0 { -104.0 } else { x };
    let x = if x > 89.0 { 89.0 } else { x };
    let t = x * LOG2E + ROUND;
    let n_f = t - ROUND;
    let n = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = (x - n_f * LN2_HI) - n_f * LN2_LO;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    let e_r = (p * r) * r + r + 1.0;
    let n1 = n >> 1;
    let n2 = n - n1;
    let scale1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let scale2 = f32::from_bits(((n2 + 127) as u32) << 23);
    e_r * scale1 * scale2
}

/// SOFTMAX over the last axis with scaling `beta`: `exp((x - max)·beta) / Σ exp((x - max)·beta)`.
/// The exponentials are vectorized (`exp_fast`) and summed in eight lanes, so results differ
/// from a sequential libm evaluation by a few ulp at most.
pub fn softmax(
    input: &[f32],
    shape: &[usize],
    beta: f32,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let depth = rows(input, shape, out, "SOFTMAX")?;
    if depth == 0 {
        return Ok(());
    }
    for (row, orow) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let max = row_max(row);
        for (o, &x) in orow.iter_mut().zip(row) {
            *o = exp_fast((x - max) * beta);
        }
        let mut lanes = [0.0f32; 8];
        let mut chunks = orow.chunks_exact(8);
        for c in &mut chunks {
            for (s, &e) in lanes.iter_mut().zip(c) {
                *s += e;
            }
        }
        let tail: f32 = chunks.remainder().iter().sum();
        let sum = lanes.iter().sum::<f32>() + tail;
        for o in orow.iter_mut() {
            *o /= sum;
        }
    }
    Ok(())
}

/// LOG_SOFTMAX over the last axis: `x - max - ln Σ exp(x - max)`.
pub fn log_softmax(input: &[f32], shape: &[usize], out: &mut [f32]) -> Result<(), KernelError> {
    let depth = rows(input, shape, out, "LOG_SOFTMAX")?;
    if depth == 0 {
        return Ok(());
    }
    for (row, orow) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let max = row_max(row);
        let sum: f32 = row.iter().fold(0.0, |s, &x| s + (x - max).exp());
        let log_sum = sum.ln();
        for (o, &x) in orow.iter_mut().zip(row) {
            *o = x - max - log_sum;
        }
    }
    Ok(())
}

/// L2_NORMALIZATION over the last axis: `x / max(sqrt(Σx²), L2_NORM_EPSILON)`.
pub fn l2_normalization(
    input: &[f32],
    shape: &[usize],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let depth = rows(input, shape, out, "L2_NORMALIZATION")?;
    if depth == 0 {
        return Ok(());
    }
    for (row, orow) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let squared: f32 = row.iter().fold(0.0, |s, &x| s + x * x);
        let norm = squared.sqrt();
        // std::max(norm, eps): keeps `norm` unless it is below eps (a NaN norm stays NaN).
        let norm = if norm < L2_NORM_EPSILON {
            L2_NORM_EPSILON
        } else {
            norm
        };
        for (o, &x) in orow.iter_mut().zip(row) {
            *o = x / norm;
        }
    }
    Ok(())
}

/// PRELU: `x >= 0 ? x : x * alpha`, with `alpha` broadcast against `input` (TFLite allows both to
/// broadcast; `out` holds their broadcast shape).
pub fn prelu(
    input: &[f32],
    input_shape: &[usize],
    alpha: &[f32],
    alpha_shape: &[usize],
    out: &mut [f32],
) -> Result<(), KernelError> {
    broadcast_map2(input, input_shape, alpha, alpha_shape, out, |x, a| {
        if x >= 0.0 {
            x
        } else {
            x * a
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_matches_libm() {
        let mut worst = 0.0f32;
        for i in -200_000..=170_000 {
            let x = i as f32 * 5.2e-4;
            let (got, want) = (exp_fast(x), x.exp());
            if want > f32::MIN_POSITIVE {
                worst = worst.max((got - want).abs() / want);
            } else {
                assert!(
                    (got - want).abs() <= 2.0 * f32::MIN_POSITIVE * f32::EPSILON,
                    "{x}"
                );
            }
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(exp_fast(0.0), 1.0);
        assert_eq!(exp_fast(-1e30), 0.0);
        assert_eq!(exp_fast(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_fast(100.0), f32::INFINITY);
        assert!(exp_fast(f32::NAN).is_nan());
    }

    #[test]
    fn softmax_matches_sequential_libm_reference() {
        let depth = 1001;
        let input: Vec<f32> = (0..2 * depth)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.013 - 6.0)
            .collect();
        let mut out = vec![0.0f32; input.len()];
        softmax(&input, &[2, depth], 1.3, &mut out).unwrap();
        for (row, orow) in input.chunks(depth).zip(out.chunks(depth)) {
            let max = row.iter().fold(f32::MIN, |m, &v| m.max(v));
            let e: Vec<f64> = row
                .iter()
                .map(|&x| f64::from((x - max) * 1.3).exp())
                .collect();
            let sum: f64 = e.iter().sum();
            for (&o, &e) in orow.iter().zip(&e) {
                assert!(
                    (f64::from(o) - e / sum).abs() <= 1e-6 * (e / sum),
                    "{o} vs {}",
                    e / sum
                );
            }
        }
        // NaN entries are skipped by the max and propagate through the sum, as before.
        let mut o = [0.0f32; 3];
        softmax(&[1.0, f32::NAN, 2.0], &[3], 1.0, &mut o).unwrap();
        assert!(o.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn softmax_rows_sum_to_one_and_match_direct_formula() {
        let x = [1.0f32, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 100.0];
        let mut out = [0.0f32; 8];
        for beta in [1.0f32, 0.5, 2.0] {
            softmax(&x, &[2, 4], beta, &mut out).unwrap();
            for (row, orow) in x.chunks(4).zip(out.chunks(4)) {
                let total: f32 = orow.iter().sum();
                assert!((total - 1.0).abs() < 1e-6, "sum {total}");
                // Direct formula in f64, shifted by the row max only to avoid overflow at 100.
                let m = row
                    .iter()
                    .cloned()
                    .fold(f64::MIN, |a, b| a.max(f64::from(b)));
                let den: f64 = row
                    .iter()
                    .map(|&v| ((f64::from(v) - m) * f64::from(beta)).exp())
                    .sum();
                for (&v, &o) in row.iter().zip(orow) {
                    let want = ((f64::from(v) - m) * f64::from(beta)).exp() / den;
                    assert!((f64::from(o) - want).abs() < 1e-6, "{o} vs {want}");
                }
            }
        }
        // Hand-checkable: equal logits split evenly.
        softmax(&[3.0, 3.0], &[2], 1.0, &mut out[..2]).unwrap();
        assert_eq!(&out[..2], &[0.5, 0.5]);
    }

    #[test]
    fn log_softmax_is_log_of_softmax() {
        let x = [0.5f32, -1.0, 2.0, 0.0, 10.0, 10.0];
        let mut sm = [0.0f32; 6];
        let mut lsm = [0.0f32; 6];
        softmax(&x, &[3, 2], 1.0, &mut sm).unwrap();
        log_softmax(&x, &[3, 2], &mut lsm).unwrap();
        for (s, l) in sm.iter().zip(&lsm) {
            assert!((s.ln() - l).abs() < 1e-6, "{s} {l}");
        }
        assert!((lsm[4] - (0.5f32).ln()).abs() < 1e-7);
    }

    #[test]
    fn l2_normalization_with_epsilon() {
        let mut out = [0.0f32; 4];
        l2_normalization(&[3.0, 4.0, 0.0, 0.0], &[2, 2], &mut out).unwrap();
        assert_eq!(out, [0.6, 0.8, 0.0, 0.0]);
        // A tiny row is divided by the epsilon floor, not by its own norm.
        l2_normalization(&[1e-8, 0.0], &[2], &mut out[..2]).unwrap();
        assert!((out[0] - 1e-2).abs() < 1e-8, "{}", out[0]);
    }

    #[test]
    fn rank_zero_and_length_mismatch_are_errors() {
        let mut out = [0.0f32; 1];
        assert!(softmax(&[1.0], &[], 1.0, &mut out).is_err());
        assert!(log_softmax(&[1.0, 2.0], &[2], &mut out).is_err());
    }

    #[test]
    fn prelu_broadcasts_alpha_per_channel() {
        let x = [-1.0f32, -2.0, 3.0, -4.0, 5.0, -6.0];
        let alpha = [0.5f32, 0.25, 0.125];
        let mut out = [0.0f32; 6];
        prelu(&x, &[1, 2, 3], &alpha, &[3], &mut out).unwrap();
        assert_eq!(out, [-0.5, -0.5, 3.0, -2.0, 5.0, -0.75]);
    }
}
