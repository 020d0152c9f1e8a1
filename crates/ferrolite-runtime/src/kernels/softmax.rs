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
fn row_max(row: &[f32]) -> f32 {
    row.iter().fold(f32::MIN, |m, &v| if m < v { v } else { m })
}

/// SOFTMAX over the last axis with scaling `beta`: `exp((x - max)·beta) / Σ exp((x - max)·beta)`.
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
        let mut sum = 0.0f32;
        for (o, &x) in orow.iter_mut().zip(row) {
            let e = ((x - max) * beta).exp();
            *o = e;
            sum += e;
        }
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
