//! Scans, sorting and block rearrangements: CUMSUM, TOPK_V2, REVERSE_V2, SPACE_TO_BATCH_ND and
//! BATCH_TO_SPACE_ND.
//!
//! Shapes are resolved by the glue; each kernel sees its tensor as `[outer, len, inner]` (the scan
//! or reversed axis in the middle) or as explicit dimension lists. CUMSUM accumulates in the
//! element type in axis order, as TFLite's reference kernel; TOP_K orders by value, ties by lower
//! index, as TFLite's `TopContainer`.

use super::common::{row_major_strides, KernelError};
use super::element::Numeric;

/// CUMSUM over the middle axis of an `[outer, len, inner]` tensor.
pub fn cumsum<T: Numeric>(
    input: &[T],
    dims: [usize; 3],
    exclusive: bool,
    reverse: bool,
    output: &mut [T],
) {
    let [outer, len, inner] = dims;
    for o in 0..outer {
        for i in 0..inner {
            let mut acc = T::ZERO;
            for step in 0..len {
                let k = if reverse { len - 1 - step } else { step };
                let at = (o * len + k) * inner + i;
                if exclusive {
                    output[at] = acc;
                    acc = acc.add(input[at]);
                } else {
                    acc = acc.add(input[at]);
                    output[at] = acc;
                }
            }
        }
    }
}

/// TOP_K over the last axis of `rows` rows of `n` values: the `k` largest per row, descending,
/// ties in index order, with their int32 indices.
pub fn top_k<T: PartialOrd + Copy>(
    input: &[T],
    n: usize,
    k: usize,
    values: &mut [T],
    indices: &mut [i32],
) {
    if n == 0 {
        return;
    }
    for ((row, vals), idxs) in input
        .chunks_exact(n)
        .zip(values.chunks_exact_mut(k.max(1)))
        .zip(indices.chunks_exact_mut(k.max(1)))
    {
        let mut order: Vec<usize> = (0..n).collect();
        // Stable: equal values keep index order.
        order.sort_by(|&a, &b| {
            if row[a] > row[b] {
                std::cmp::Ordering::Less
            } else if row[b] > row[a] {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        for (j, &src) in order.iter().take(k).enumerate() {
            vals[j] = row[src];
            idxs[j] = src as i32;
        }
    }
}

/// REVERSE_V2 of the middle axis of `[outer, len, inner]` (contiguous reversed axes merged).
pub fn reverse<T: Copy>(input: &[T], dims: [usize; 3], output: &mut [T]) {
    let [outer, len, inner] = dims;
    for o in 0..outer {
        for k in 0..len {
            let src = (o * len + (len - 1 - k)) * inner;
            let dst = (o * len + k) * inner;
            output[dst..dst + inner].copy_from_slice(&input[src..src + inner]);
        }
    }
}

/// Geometry shared by SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND: the *space* side's shape
/// `[batch, spatial.., rest..]`, the block sizes and the leading pads (or crops) per spatial dim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockGeometry {
    /// Shape of the larger-spatial ("space") tensor, padded for SPACE_TO_BATCH, cropped for
    /// BATCH_TO_SPACE: the batch dimension is the small one.
    pub space_shape: Vec<usize>,
    /// Shape of the "batch" tensor: batch × prod(block), spatial / block.
    pub batch_shape: Vec<usize>,
    /// Block size per spatial dimension.
    pub block: Vec<usize>,
    /// Pad (space-to-batch) or crop (batch-to-space) before each spatial dimension.
    pub before: Vec<usize>,
}

/// Visits every element of the batch-side tensor with its flat offset and the flat offset of the
/// matching space-side element (`None` in the padding / cropped area).
fn for_each_block(g: &BlockGeometry, mut f: impl FnMut(usize, Option<usize>)) {
    let m = g.block.len();
    let space_strides = row_major_strides(&g.space_shape);
    let batch = g.space_shape[0];
    let inner: usize = g.batch_shape[m + 1..].iter().product();
    let outer_count: usize = g.batch_shape[..=m].iter().product();
    let mut idx = vec![0usize; m + 1];
    for pos in 0..outer_count {
        // Decompose pos into batch-side [b_out, s_1..s_m].
        let mut rest = pos;
        for d in (0..=m).rev() {
            idx[d] = rest % g.batch_shape[d];
            rest /= g.batch_shape[d];
        }
        let b = idx[0] % batch;
        let mut block_off = idx[0] / batch;
        let mut offs = vec![0usize; m];
        for d in (0..m).rev() {
            offs[d] = block_off % g.block[d];
            block_off /= g.block[d];
        }
        let mut src = Some(b * space_strides[0]);
        for d in 0..m {
            let p = idx[d + 1] * g.block[d] + offs[d];
            src = match (src, p.checked_sub(g.before[d])) {
                (Some(s), Some(x)) if x < g.space_shape[d + 1] => {
                    Some(s + x * space_strides[d + 1])
                }
                _ => None,
            };
        }
        f(pos * inner, src);
    }
}

/// SPACE_TO_BATCH_ND: `input` has `g.space_shape` (unpadded), `output` `g.batch_shape`; padding
/// reads as `pad`.
pub fn space_to_batch<T: Copy>(input: &[T], g: &BlockGeometry, pad: T, output: &mut [T]) {
    let inner: usize = g.batch_shape[g.block.len() + 1..].iter().product();
    for_each_block(g, |dst, src| match src {
        Some(s) => output[dst..dst + inner].copy_from_slice(&input[s..s + inner]),
        None => output[dst..dst + inner].fill(pad),
    });
}

/// BATCH_TO_SPACE_ND: `input` has `g.batch_shape`, `output` `g.space_shape` (cropped).
pub fn batch_to_space<T: Copy>(input: &[T], g: &BlockGeometry, output: &mut [T]) {
    let inner: usize = g.batch_shape[g.block.len() + 1..].iter().product();
    for_each_block(g, |src, dst| {
        if let Some(d) = dst {
            output[d..d + inner].copy_from_slice(&input[src..src + inner]);
        }
    });
}

/// Builds the geometry of SPACE_TO_BATCH_ND from the input shape, block sizes and `[m, 2]` pads.
pub fn space_to_batch_geometry(
    input: &[usize],
    block: &[i64],
    pads: &[i64],
) -> Result<BlockGeometry, KernelError> {
    let m = block.len();
    if input.len() < m + 1 || pads.len() != 2 * m {
        return Err(KernelError::Shape(format!(
            "input {input:?} with {m} block dims and {} pads",
            pads.len()
        )));
    }
    let mut batch_shape = input.to_vec();
    let mut blocks = Vec::with_capacity(m);
    let mut before = Vec::with_capacity(m);
    let mut total = 1usize;
    for d in 0..m {
        let (b, p0, p1) = (block[d], pads[2 * d], pads[2 * d + 1]);
        if b < 1 || p0 < 0 || p1 < 0 {
            return Err(KernelError::Param(format!(
                "block {b} and pads ({p0}, {p1}) must be positive / non-negative"
            )));
        }
        let padded = input[d + 1] as i64 + p0 + p1;
        if padded % b != 0 {
            return Err(KernelError::Shape(format!(
                "padded size {padded} of dim {} is not a multiple of block {b}",
                d + 1
            )));
        }
        batch_shape[d + 1] = (padded / b) as usize;
        blocks.push(b as usize);
        before.push(p0 as usize);
        total = total.saturating_mul(b as usize);
    }
    batch_shape[0] = input[0].saturating_mul(total);
    Ok(BlockGeometry {
        space_shape: input.to_vec(),
        batch_shape,
        block: blocks,
        before,
    })
}

/// Builds the geometry of BATCH_TO_SPACE_ND from the input shape, block sizes and `[m, 2]` crops.
pub fn batch_to_space_geometry(
    input: &[usize],
    block: &[i64],
    crops: &[i64],
) -> Result<BlockGeometry, KernelError> {
    let m = block.len();
    if input.len() < m + 1 || crops.len() != 2 * m {
        return Err(KernelError::Shape(format!(
            "input {input:?} with {m} block dims and {} crops",
            crops.len()
        )));
    }
    let mut space_shape = input.to_vec();
    let mut blocks = Vec::with_capacity(m);
    let mut before = Vec::with_capacity(m);
    let mut total = 1usize;
    for d in 0..m {
        let (b, c0, c1) = (block[d], crops[2 * d], crops[2 * d + 1]);
        if b < 1 || c0 < 0 || c1 < 0 {
            return Err(KernelError::Param(format!(
                "block {b} and crops ({c0}, {c1}) must be positive / non-negative"
            )));
        }
        let full = input[d + 1] as i64 * b;
        if c0 + c1 > full {
            return Err(KernelError::Shape(format!(
                "crops ({c0}, {c1}) exceed size {full}"
            )));
        }
        space_shape[d + 1] = (full - c0 - c1) as usize;
        blocks.push(b as usize);
        before.push(c0 as usize);
        total = total.saturating_mul(b as usize);
    }
    if total == 0 || !input[0].is_multiple_of(total) {
        return Err(KernelError::Shape(format!(
            "batch {} is not a multiple of the block product {total}",
            input[0]
        )));
    }
    space_shape[0] = input[0] / total;
    Ok(BlockGeometry {
        space_shape,
        batch_shape: input.to_vec(),
        block: blocks,
        before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumsum_variants() {
        let x = [1.0f32, 2.0, 3.0];
        let mut y = [0.0; 3];
        cumsum(&x, [1, 3, 1], false, false, &mut y);
        assert_eq!(y, [1.0, 3.0, 6.0]);
        cumsum(&x, [1, 3, 1], true, false, &mut y);
        assert_eq!(y, [0.0, 1.0, 3.0]);
        cumsum(&x, [1, 3, 1], false, true, &mut y);
        assert_eq!(y, [6.0, 5.0, 3.0]);
        cumsum(&x, [1, 3, 1], true, true, &mut y);
        assert_eq!(y, [5.0, 3.0, 0.0]);
    }

    #[test]
    fn top_k_ties_by_index() {
        let mut v = [0; 3];
        let mut i = [0; 3];
        top_k(&[1, 3, 3, 2, 3], 5, 3, &mut v, &mut i);
        assert_eq!((v, i), ([3, 3, 3], [1, 2, 4]));
    }

    #[test]
    fn space_batch_round_trip() {
        let x: Vec<i32> = (0..12).collect(); // [1, 3, 4, 1]
        let g = space_to_batch_geometry(&[1, 3, 4, 1], &[2, 2], &[1, 0, 0, 0]).unwrap();
        assert_eq!(g.batch_shape, vec![4, 2, 2, 1]);
        let mut y = vec![0; 16];
        space_to_batch(&x, &g, -1, &mut y);
        // Block offset (0, 0) reads padded rows 0 and 2 (row 0 is padding), columns 0 and 2.
        assert_eq!(&y[..4], &[-1, -1, 4, 6]);
        let back = batch_to_space_geometry(&[4, 2, 2, 1], &[2, 2], &[1, 0, 0, 0]).unwrap();
        assert_eq!(back.space_shape, vec![1, 3, 4, 1]);
        let mut z = vec![0; 12];
        batch_to_space(&y, &back, &mut z);
        assert_eq!(z, x);
    }
}
