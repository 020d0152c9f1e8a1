//! Requantization of a row of int32 accumulators in the integer GEMM's store.
//!
//! `v = acc + colcorr[j] + row_corr` (wrapping), then the column's fixed-point multiplier with
//! the chosen [`Rounding`], `+ output_offset` (wrapping) and the activation clamp — exactly
//! `quant::fixed_point::apply_multiplier` per element. The vector version (AVX-512, in
//! `requant_x86`) reproduces every rounding mode bit for bit, including the saturating and
//! wrapping corner cases, and is tested against the scalar one on random and extreme values.

#[cfg(target_arch = "x86_64")]
use super::requant_x86;
use super::Level;
use crate::kernels::quant::fixed_point::{apply_multiplier, Rounding};

/// Per-column parameters of a requantized row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowRequant<'a> {
    /// Added to each column's accumulator (bias and zero-point corrections).
    pub colcorr: &'a [i32],
    /// One multiplier, or one per column.
    pub multipliers: &'a [i32],
    /// Shifts matching `multipliers`.
    pub shifts: &'a [i32],
    /// How the multiplier is applied.
    pub rounding: Rounding,
    /// Output zero point.
    pub output_offset: i32,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

impl RowRequant<'_> {
    /// Whether the vector code reproduces these parameters (non-negative multipliers, shifts in
    /// `-31..=30`; always true for multipliers from `quantize_multiplier`).
    pub(crate) fn vector_ok(&self) -> bool {
        self.multipliers.iter().all(|&m| m >= 0)
            && self.shifts.iter().all(|s| (-31..=30).contains(s))
    }
}

/// Scalar reference: requantizes `acc` in place (clamped values, ready to narrow).
pub(crate) fn requantize_row_scalar(acc: &mut [i32], row_corr: i32, q: &RowRequant<'_>) {
    let per_channel = q.multipliers.len() > 1;
    for (j, v) in acc.iter_mut().enumerate() {
        let c = if per_channel { j } else { 0 };
        let x = v.wrapping_add(q.colcorr[j]).wrapping_add(row_corr);
        *v = apply_multiplier(x, q.multipliers[c], q.shifts[c], q.rounding)
            .wrapping_add(q.output_offset)
            .clamp(q.act_min, q.act_max);
    }
}

/// Requantizes `acc` (rows of `n` accumulators) in place at `level`. Row `r` also gets
/// `b_off · rowsum[r]` when `rowsum = Some((rowsum, b_off))`. `vector_ok` is
/// [`RowRequant::vector_ok`] (computed once per call by the caller).
pub(crate) fn requantize_block_at(
    level: Level,
    vector_ok: bool,
    acc: &mut [i32],
    n: usize,
    rowsum: Option<(&[i32], i32)>,
    q: &RowRequant<'_>,
) {
    if n == 0 {
        return;
    }
    let rows = acc.len() / n;
    assert!(q.colcorr.len() >= n, "requant corrections too short");
    assert!(
        (q.multipliers.len() == 1 || q.multipliers.len() >= n)
            && q.shifts.len() >= q.multipliers.len().min(n),
        "requant multipliers too short"
    );
    if let Some((sums, _)) = rowsum {
        assert!(sums.len() >= rows, "requant row sums too short");
    }
    #[cfg(target_arch = "x86_64")]
    if level != Level::Scalar && vector_ok {
        let args = requant_x86::BlockArgs {
            rows,
            n,
            rowsum: rowsum.map_or(std::ptr::null(), |(s, _)| s.as_ptr()),
            b_off: rowsum.map_or(0, |(_, b)| b),
            colcorr: q.colcorr.as_ptr(),
            mult: q.multipliers.as_ptr(),
            shift: q.shifts.as_ptr(),
            per_channel: q.multipliers.len() > 1,
            rounding: q.rounding,
            output_offset: q.output_offset,
            act_min: q.act_min,
            act_max: q.act_max,
        };
        // SAFETY: lengths asserted above, parameters checked by `vector_ok`, level detected at
        // run time.
        unsafe {
            if level == Level::Avx512 {
                requant_x86::requant_block_avx512(acc.as_mut_ptr(), &args);
            } else {
                requant_x86::requant_block_avx2(acc.as_mut_ptr(), &args);
            }
        }
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if level != Level::Scalar && vector_ok {
        super::requant_neon::requant_block(acc, n, rowsum, q);
        return;
    }
    let _ = (level, vector_ok);
    for (r, row) in acc.chunks_exact_mut(n).enumerate() {
        let row_corr = rowsum.map_or(0, |(s, b)| b.wrapping_mul(s[r]));
        requantize_row_scalar(row, row_corr, q);
    }
}
