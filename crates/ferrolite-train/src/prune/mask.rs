//! Magnitude masks as tfmot computes them: element-wise, block-pooled and m-by-n.
//!
//! - Element-wise (`Pruning._update_mask`): keep the `k = max(round(size * (1 - sparsity)), 1)`
//!   largest magnitudes (round half to even, float32), i.e. every weight whose magnitude is at
//!   least the k-th largest; ties at the threshold are all kept.
//! - Block (`_maybe_update_block_mask`, rank-2 weights only): on the Keras kernel `[in, out]`,
//!   pool `|w|` over `block_h x block_w` tiles (average or max; tiles placed with TensorFlow's
//!   `SAME` padding, which centres the padding, and averages counting valid elements only),
//!   prune the pooled matrix element-wise, then expand each pooled mask value over the tile
//!   starting at `(i * block_h, j * block_w)`. When a dimension is not a multiple of the block,
//!   the pooled tiles and the expanded tiles are offset exactly as in tfmot.
//! - m-by-n (`generate_m_by_n_mask`): on rows of the TFLite-layout weight reshaped to
//!   `[-1, last_dim]` (zero-padded to a multiple of `n`), keep the `n - m` largest magnitudes of
//!   every `n` consecutive values (lower index first on ties). The sparsity schedule only decides
//!   when this mask is refreshed.

/// How block magnitudes are pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockPooling {
    /// Mean of the block's magnitudes (tfmot's default, `'AVG'`).
    #[default]
    Avg,
    /// Largest magnitude of the block (`'MAX'`).
    Max,
}

/// tfmot's `k`: how many values survive at `sparsity` out of `size`.
pub fn kept_count(size: usize, sparsity: f32) -> usize {
    let k = (size as f32 * (1.0 - sparsity)).round_ties_even();
    (k.max(1.0) as usize).min(size.max(1))
}

/// Element-wise magnitude mask of `abs` (magnitudes) at `sparsity`: `(threshold, mask)`.
pub fn magnitude_mask(abs: &[f32], sparsity: f32) -> (f32, Vec<f32>) {
    if abs.is_empty() {
        return (0.0, Vec::new());
    }
    let k = kept_count(abs.len(), sparsity);
    let mut sorted = abs.to_vec();
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let threshold = *kth;
    let mask = abs
        .iter()
        .map(|&a| if a >= threshold { 1.0 } else { 0.0 })
        .collect();
    (threshold, mask)
}

/// Start offsets of TensorFlow `SAME` pooling windows with stride == window over `n` values.
fn same_window_start(n: usize, b: usize, j: usize) -> isize {
    let out = n.div_ceil(b);
    let pad_before = (out * b - n) / 2;
    (j * b) as isize - pad_before as isize
}

/// Block mask of a row-major `[rows, cols]` matrix (the Keras kernel layout) at `sparsity`:
/// `(threshold, mask)`, the mask in the same layout.
pub fn block_mask(
    w: &[f32],
    rows: usize,
    cols: usize,
    block: (usize, usize),
    pooling: BlockPooling,
    sparsity: f32,
) -> (f32, Vec<f32>) {
    let (bh, bw) = (block.0.max(1), block.1.max(1));
    let (ph, pw) = (rows.div_ceil(bh), cols.div_ceil(bw));
    let window = |n: usize, b: usize, j: usize| {
        let s = same_window_start(n, b, j);
        let lo = s.max(0) as usize;
        let hi = ((s + b as isize).max(0) as usize).min(n);
        lo..hi
    };
    // Factorized pooling as tfmot does it: first along rows, then along columns.
    let mut by_rows = vec![0.0f32; ph * cols];
    for i in 0..ph {
        let r = window(rows, bh, i);
        for c in 0..cols {
            let vals = r.clone().map(|row| w[row * cols + c].abs());
            by_rows[i * cols + c] = pool(vals, pooling);
        }
    }
    let mut pooled = vec![0.0f32; ph * pw];
    for i in 0..ph {
        for j in 0..pw {
            let vals = window(cols, bw, j).map(|c| by_rows[i * cols + c]);
            pooled[i * pw + j] = pool(vals, pooling);
        }
    }
    let (threshold, pmask) = magnitude_mask(&pooled, sparsity);
    let mut mask = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            mask[r * cols + c] = pmask[(r / bh) * pw + c / bw];
        }
    }
    (threshold, mask)
}

fn pool(vals: impl Iterator<Item = f32>, pooling: BlockPooling) -> f32 {
    match pooling {
        BlockPooling::Max => vals.fold(0.0f32, f32::max),
        BlockPooling::Avg => {
            let (mut sum, mut n) = (0.0f32, 0usize);
            for v in vals {
                sum += v;
                n += 1;
            }
            if n == 0 {
                0.0
            } else {
                sum / n as f32
            }
        }
    }
}

/// m-by-n mask of a row-major `[rows, row_len]` matrix: at least `m` zeros in every `n`
/// consecutive values of a row (rows zero-padded to a multiple of `n`).
pub fn m_by_n_mask(w: &[f32], row_len: usize, m: usize, n: usize) -> Vec<f32> {
    let keep = n.saturating_sub(m);
    let mut mask = vec![0.0f32; w.len()];
    if row_len == 0 || n == 0 {
        return mask;
    }
    let mut idx: Vec<usize> = Vec::with_capacity(n);
    for (row_i, row) in w.chunks(row_len).enumerate() {
        for start in (0..row.len()).step_by(n) {
            let end = (start + n).min(row.len());
            idx.clear();
            idx.extend(start..end);
            // Padded positions are zeros placed after the real values: they only win when fewer
            // than `keep` real values exist, so real values never lose to them.
            idx.sort_by(|&a, &b| row[b].abs().total_cmp(&row[a].abs()).then(a.cmp(&b)));
            for &i in idx.iter().take(keep) {
                mask[row_i * row_len + i] = 1.0;
            }
        }
    }
    mask
}

/// Fraction of exact zeros in `v` (0 for an empty slice).
pub fn zero_fraction(v: &[f32]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().filter(|&&x| x == 0.0).count() as f64 / v.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_rounds_half_to_even_and_keeps_one() {
        assert_eq!(kept_count(10, 0.5), 5);
        assert_eq!(kept_count(9, 0.5), 4); // 4.5 -> 4
        assert_eq!(kept_count(11, 0.5), 6); // 5.5 -> 6
        assert_eq!(kept_count(4, 0.99), 1);
        assert_eq!(kept_count(100, 0.0), 100);
    }

    #[test]
    fn magnitude_keeps_the_largest() {
        let w = [0.1f32, -0.5, 0.3, -0.05, 0.9, 0.2];
        let abs: Vec<f32> = w.iter().map(|v| v.abs()).collect();
        let (t, m) = magnitude_mask(&abs, 0.5);
        assert_eq!(t, 0.3);
        assert_eq!(m, vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
        // Ties at the threshold are all kept (tfmot's greater_equal).
        let (_, m) = magnitude_mask(&[1.0, 1.0, 1.0, 0.5], 0.5);
        assert_eq!(m, vec![1.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn block_avg_pools_tiles() {
        // 2x4 matrix, 1x2 blocks: tile means 0.15, 0.55 / 0.35, 0.05 -> keep the top 2.
        let w = [0.1, 0.2, 0.5, 0.6, 0.3, 0.4, 0.0, 0.1];
        let (t, m) = block_mask(&w, 2, 4, (1, 2), BlockPooling::Avg, 0.5);
        assert!((t - 0.35).abs() < 1e-6);
        assert_eq!(m, vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        let (_, m) = block_mask(&w, 2, 4, (1, 2), BlockPooling::Max, 0.5);
        assert_eq!(m, vec![0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn block_uses_tf_same_offsets_on_ragged_dims() {
        // One row of 5 values, blocks of 4: SAME pads 3 (1 before, 2 after), so pooled tile 0
        // covers columns 0..3 and tile 1 covers column 3..5; the mask expands tile 0 over
        // columns 0..4 and tile 1 over column 4.
        let w = [0.0, 0.0, 0.0, 9.0, 1.0];
        let (_, m) = block_mask(&w, 1, 5, (1, 4), BlockPooling::Avg, 0.5);
        // Tile means: [0, 0, 0] -> 0; [9, 1] -> 5. Tile 1 kept, mapped onto column 4 only.
        assert_eq!(m, vec![0.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn two_of_four() {
        let w = [0.1, -0.4, 0.3, 0.2, 1.0, 1.0, 0.0, 1.0, 0.5, 0.6];
        let m = m_by_n_mask(&w, 5, 2, 4);
        // Row 0: [0.1,-0.4,0.3,0.2] keeps -0.4,0.3; tail [1.0] keeps it.
        // Row 1: [1.0,0.0,1.0,0.5] keeps the first two 1.0s; tail [0.6] keeps it.
        assert_eq!(m, vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    }
}
