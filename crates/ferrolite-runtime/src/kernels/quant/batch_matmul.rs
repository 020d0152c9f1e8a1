//! Quantized `BATCH_MATMUL`: full-integer int8 and dynamic-range ("hybrid": float lhs, int8
//! constant rhs).
//!
//! Both take `output[..., i, j] = Σ_k X[..., i, k] · Y[..., k, j]` with `X` the lhs (transposed
//! when `adj_x`) and `Y` the rhs (transposed when `adj_y`), batch dims broadcast numpy-style.
//!
//! * int8: `Σ (x - zp_x) · (y - zp_y)` in int32, then the output multiplier
//!   `f64(f32(s_x · s_y)) / f64(s_out)` applied with the params' rounding (the glue sets gemmlowp's
//!   double rounding, which LiteRT's int8 BATCH_MATMUL uses), `+ zp_out`, clamped to int8 (BATCH_MATMUL has no fused activation). Each
//!   batch is one [`fully_connected`](super::fully_connected::fully_connected) call over `X` and
//!   `Yᵀ`, so it shares that kernel's SIMD paths and bit-exactness.
//! * hybrid: every row of `X` (its `k` values) is quantized to int8 with its own scale — symmetric
//!   or, with `asymmetric_quantize_inputs`, asymmetric with a zero point — and the scale is
//!   multiplied by the (per-tensor) rhs scale in f32. A product is
//!   `total = Σ q·w` corrected by `total -= row_sum(w) · zp` *computed in f32 and truncated back
//!   to int32*, then `out = row_scale · total` in f32, exactly as TFLite's reference hybrid
//!   kernel (which LiteRT runs on every build).
//!
//! LiteRT 2.21 quirk reproduced here (see [`hybrid_batch_matmul`]): the hybrid kernel indexes the
//! per-row scales and zero points with a stride of one matrix per *batch dimension* rather than
//! per batch, so an lhs with two or more non-broadcast batch dims reads another batch's row
//! scales. Before that, TFLite folds an rhs `[..., 1, K, N]` into `[..., K, N]` and merges the
//! lhs's matching batch dim into its rows (without `adj_x`); that changes which dims count.

use super::fully_connected::{
    asymmetric_quantize_floats, fully_connected, symmetric_quantize_floats, QuantFcParams,
};
use crate::kernels::common::{row_major_strides, KernelError};
use crate::kernels::matmul::{batch_matmul_output_shape, BatchMatMulParams};

/// The matrices of a validated BATCH_MATMUL: per output matrix, which lhs and rhs matrix it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMatMulLayout {
    /// Rows of `X` (after `adj_x`).
    pub m: usize,
    /// Contraction length.
    pub k: usize,
    /// Columns of `Y` (after `adj_y`).
    pub n: usize,
    /// Transpose the stored lhs matrices.
    pub adj_x: bool,
    /// Transpose the stored rhs matrices.
    pub adj_y: bool,
    /// Number of stored lhs / rhs matrices.
    pub lhs_matrices: usize,
    /// Number of stored rhs matrices.
    pub rhs_matrices: usize,
    /// `(lhs matrix, rhs matrix)` for each output matrix in order.
    pub pairs: Vec<(usize, usize)>,
    /// Per output matrix, the first per-row scale LiteRT's hybrid kernel reads (quirk above).
    pub hybrid_scale_base: Vec<usize>,
    /// Per output matrix, the first weight row sum LiteRT's hybrid kernel reads.
    pub hybrid_row_sum_base: Vec<usize>,
}

/// Left-pads `dims` with ones to `rank`.
fn pad_to(dims: &[usize], rank: usize) -> Vec<usize> {
    let mut v = vec![1; rank - dims.len()];
    v.extend_from_slice(dims);
    v
}

impl BatchMatMulLayout {
    /// Validates the operands (as the float kernel's shape function does) and plans the batches.
    pub fn new(
        params: &BatchMatMulParams,
        lhs_shape: &[usize],
        rhs_shape: &[usize],
    ) -> Result<Self, KernelError> {
        batch_matmul_output_shape(params, lhs_shape, rhs_shape)?;
        let dims = |s: &[usize], adj: bool| {
            let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
            if adj {
                (c, r)
            } else {
                (r, c)
            }
        };
        let (m, k) = dims(lhs_shape, params.adj_x);
        let (_, n) = dims(rhs_shape, params.adj_y);
        let lhs_batch = &lhs_shape[..lhs_shape.len() - 2];
        let rhs_batch = &rhs_shape[..rhs_shape.len() - 2];
        let rank = lhs_batch.len().max(rhs_batch.len());
        let (lb, rb) = (pad_to(lhs_batch, rank), pad_to(rhs_batch, rank));
        let out: Vec<usize> = lb.iter().zip(&rb).map(|(&l, &r)| l.max(r)).collect();
        let (ls, rs) = (row_major_strides(&lb), row_major_strides(&rb));
        let total: usize = out.iter().product();
        let mut pairs = Vec::with_capacity(total);
        let mut idx = vec![0usize; rank];
        for _ in 0..total {
            let mut l = 0;
            let mut r = 0;
            for d in 0..rank {
                if lb[d] != 1 {
                    l += idx[d] * ls[d];
                }
                if rb[d] != 1 {
                    r += idx[d] * rs[d];
                }
            }
            pairs.push((l, r));
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < out[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        let (scale_base, row_sum_base) = hybrid_bases(params, lhs_shape, rhs_shape, m, n);
        Ok(BatchMatMulLayout {
            m,
            k,
            n,
            adj_x: params.adj_x,
            adj_y: params.adj_y,
            lhs_matrices: lb.iter().product(),
            rhs_matrices: rb.iter().product(),
            pairs,
            hybrid_scale_base: scale_base,
            hybrid_row_sum_base: row_sum_base,
        })
    }
}

/// Where LiteRT's hybrid kernel starts reading row scales and weight row sums for each output
/// matrix: after the `[..., 1, K, N]` fold, batch index `b` contributes `b_d · rows` (resp.
/// `b_d · n`) for every non-broadcast dim `d` of the lhs (resp. rhs), summed, instead of the
/// row-major offset. Listed in output-matrix order, which the fold does not change.
fn hybrid_bases(
    params: &BatchMatMulParams,
    lhs_shape: &[usize],
    rhs_shape: &[usize],
    m: usize,
    n: usize,
) -> (Vec<usize>, Vec<usize>) {
    let (lr, rr) = (lhs_shape.len(), rhs_shape.len());
    let fold = lr > 2 && rr > 2 && rhs_shape[rr - 3] == 1 && !params.adj_x;
    let (lhs_batch, rows, rhs_batch): (Vec<usize>, usize, Vec<usize>) = if fold {
        (
            lhs_shape[..lr - 3].to_vec(),
            lhs_shape[lr - 3] * m,
            rhs_shape[..rr - 3].to_vec(),
        )
    } else {
        (
            lhs_shape[..lr - 2].to_vec(),
            m,
            rhs_shape[..rr - 2].to_vec(),
        )
    };
    let rank = lhs_batch.len().max(rhs_batch.len());
    let (lb, rb) = (pad_to(&lhs_batch, rank), pad_to(&rhs_batch, rank));
    let out: Vec<usize> = lb.iter().zip(&rb).map(|(&l, &r)| l.max(r)).collect();
    let total: usize = out.iter().product();
    // Each folded output matrix covers `rows / m` original ones.
    let per = rows / m.max(1);
    let mut scale = Vec::with_capacity(total * per);
    let mut row_sum = Vec::with_capacity(total * per);
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        let mut s = 0;
        let mut w = 0;
        for d in 0..rank {
            if lb[d] != 1 {
                s += idx[d] * rows;
            }
            if rb[d] != 1 {
                w += idx[d] * n;
            }
        }
        for p in 0..per {
            scale.push(s + p * m);
            row_sum.push(w);
        }
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    (scale, row_sum)
}

/// Copies matrix `mat` of `data` (stored `rows × cols`) into `out` as `cols × rows`.
fn transpose_into<T: Copy>(data: &[T], rows: usize, cols: usize, out: &mut [T]) {
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
}

/// All lhs matrices as rows of `X` (`m × k` each), transposing when `adj_x`.
fn lhs_rows<'a, T: Copy + Default>(
    layout: &BatchMatMulLayout,
    lhs: &'a [T],
    scratch: &'a mut Vec<T>,
) -> &'a [T] {
    if !layout.adj_x {
        return lhs;
    }
    let (m, k) = (layout.m, layout.k);
    scratch.resize(lhs.len(), T::default());
    for (src, dst) in lhs.chunks_exact(m * k).zip(scratch.chunks_exact_mut(m * k)) {
        transpose_into(src, k, m, dst);
    }
    scratch
}

/// All rhs matrices as `Yᵀ` (`n × k` each), transposing unless `adj_y`.
fn rhs_rows<'a, T: Copy + Default>(
    layout: &BatchMatMulLayout,
    rhs: &'a [T],
    scratch: &'a mut Vec<T>,
) -> &'a [T] {
    if layout.adj_y {
        return rhs;
    }
    let (k, n) = (layout.k, layout.n);
    scratch.resize(rhs.len(), T::default());
    for (src, dst) in rhs.chunks_exact(k * n).zip(scratch.chunks_exact_mut(k * n)) {
        transpose_into(src, k, n, dst);
    }
    scratch
}

/// Scratch of the int8 kernel (transposed operands).
#[derive(Debug, Default, Clone)]
pub struct QuantBmmScratch {
    lhs: Vec<i8>,
    rhs: Vec<i8>,
}

/// Full-integer int8 BATCH_MATMUL. `params` come from
/// [`fully_connected_params::<i8, i8>`](super::fully_connected::fully_connected_params) with the
/// lhs as input, the rhs's (single) scale and zero point as filter, `Activation::None` and
/// `n` units.
pub fn batch_matmul_i8(
    layout: &BatchMatMulLayout,
    params: &QuantFcParams,
    lhs: &[i8],
    rhs: &[i8],
    scratch: &mut QuantBmmScratch,
    output: &mut [i8],
) {
    let (m, k, n) = (layout.m, layout.k, layout.n);
    if m * n == 0 {
        return;
    }
    if k == 0 {
        let v = params
            .output_offset
            .clamp(params.act_min, params.act_max)
            .clamp(-128, 127) as i8;
        output.iter_mut().for_each(|o| *o = v);
        return;
    }
    let QuantBmmScratch { lhs: ls, rhs: rs } = scratch;
    let x = lhs_rows(layout, lhs, ls);
    let w = rhs_rows(layout, rhs, rs);
    for (out, &(l, r)) in output.chunks_exact_mut(m * n).zip(&layout.pairs) {
        fully_connected(
            params,
            &x[l * m * k..(l + 1) * m * k],
            &w[r * n * k..(r + 1) * n * k],
            None,
            k,
            out,
        );
    }
}

/// Options of a hybrid BATCH_MATMUL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HybridBmmParams {
    /// Quantize each lhs row with its own zero point (`asymmetric_quantize_inputs`).
    pub asymmetric: bool,
    /// The rhs's per-tensor scale.
    pub filter_scale: f32,
}

/// Scratch of the hybrid kernel; the transposed weights and their row sums are cached when the
/// rhs is constant (set `constant_rhs`).
#[derive(Debug, Default, Clone)]
pub struct HybridBmmScratch {
    x: Vec<f32>,
    quantized: Vec<i8>,
    scales: Vec<f32>,
    offsets: Vec<i32>,
    weights: Vec<i8>,
    row_sums: Vec<i32>,
    cached: bool,
    /// Keep the prepared weights across calls (the rhs is a constant).
    pub constant_rhs: bool,
}

impl HybridBmmScratch {
    /// Empty scratch; `constant_rhs` lets the kernel keep the prepared weights across calls.
    pub fn new(constant_rhs: bool) -> Self {
        HybridBmmScratch {
            constant_rhs,
            ..Default::default()
        }
    }
}

/// Hybrid BATCH_MATMUL: float `lhs`, int8 `rhs` with one scale, float `output`.
pub fn hybrid_batch_matmul(
    layout: &BatchMatMulLayout,
    params: &HybridBmmParams,
    lhs: &[f32],
    rhs: &[i8],
    scratch: &mut HybridBmmScratch,
    output: &mut [f32],
) {
    let (m, k, n) = (layout.m, layout.k, layout.n);
    if m * n == 0 {
        return;
    }
    let s = scratch;
    if !(s.constant_rhs && s.cached) {
        let mut tmp = std::mem::take(&mut s.weights);
        let w = rhs_rows(layout, rhs, &mut tmp).to_vec();
        s.weights = w;
        s.row_sums = s
            .weights
            .chunks_exact(k.max(1))
            .map(|row| row.iter().map(|&v| i32::from(v)).sum())
            .collect();
        if k == 0 {
            s.row_sums = vec![0; layout.rhs_matrices * n];
        }
        s.cached = true;
    }
    let mut xs = std::mem::take(&mut s.x);
    let x = lhs_rows(layout, lhs, &mut xs);
    let rows = layout.lhs_matrices * m;
    s.quantized.resize(rows * k, 0);
    s.scales.resize(rows, 0.0);
    s.offsets.resize(rows, 0);
    for r in 0..rows {
        let span = r * k..(r + 1) * k;
        let (scale, zp) = if params.asymmetric {
            asymmetric_quantize_floats(&x[span.clone()], &mut s.quantized[span])
        } else {
            (
                symmetric_quantize_floats(&x[span.clone()], &mut s.quantized[span]),
                0,
            )
        };
        s.scales[r] = scale * params.filter_scale;
        s.offsets[r] = zp;
    }
    s.x = xs;
    for (o, (out, &(l, wm))) in output
        .chunks_exact_mut(m * n)
        .zip(&layout.pairs)
        .enumerate()
    {
        let scale_base = layout.hybrid_scale_base[o];
        let sum_base = layout.hybrid_row_sum_base[o];
        for j in 0..m {
            let row = l * m + j;
            let q = &s.quantized[row * k..(row + 1) * k];
            // LiteRT's (quirky) scale / offset index; in range because it never exceeds the
            // row-major one.
            let si = (scale_base + j).min(rows - 1);
            let (scale, offset) = (s.scales[si], s.offsets[si] as f32);
            for i in 0..n {
                let w = &s.weights[(wm * n + i) * k..(wm * n + i + 1) * k];
                let dot = q.iter().zip(w).fold(0i32, |acc, (&a, &b)| {
                    acc.wrapping_add(i32::from(a) * i32::from(b))
                });
                let ri = (sum_base + i).min(s.row_sums.len() - 1);
                // `int32 -= int32 * float` in C++: the correction is done in f32, then truncated.
                let total = (dot as f32 - s.row_sums[ri] as f32 * offset) as i32;
                out[j * n + i] = scale * total as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests;
