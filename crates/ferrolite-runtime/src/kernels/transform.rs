//! Shape-rearranging data movement: TRANSPOSE, CONCATENATION, SPLIT, SPLIT_V, PACK, UNPACK, TILE.
//!
//! All kernels are generic over `T: Copy`, so one implementation serves f32, the quantized integer
//! types, i32/i64 and bool (quantized inputs and outputs must share scale and zero point, as TFLite
//! requires). Each op has a shape/parameter resolver returning [`KernelError`] for bad operands;
//! the kernels themselves assume the caller ran it (axes already normalised, slice lengths equal to
//! the resolved shapes) and panic on violated preconditions.

use super::common::{copy_strided, dim_from_i64, normalize_axis, row_major_strides, KernelError};

/// Validates a TRANSPOSE permutation for an input of rank `rank` and resolves negative entries.
///
/// TFLite accepts entries in `-rank..rank` (negatives count from the end); we additionally reject
/// repeated axes, which TFLite leaves undefined.
pub fn transpose_perm(perm: &[i64], rank: usize) -> Result<Vec<usize>, KernelError> {
    if perm.len() != rank {
        return Err(KernelError::Shape(format!(
            "transpose permutation has {} entries for a rank-{rank} input",
            perm.len()
        )));
    }
    let mut seen = vec![false; rank];
    let mut out = Vec::with_capacity(rank);
    for &p in perm {
        let axis = normalize_axis(p, rank)?;
        if std::mem::replace(&mut seen[axis], true) {
            return Err(KernelError::Param(format!(
                "transpose permutation repeats axis {axis}"
            )));
        }
        out.push(axis);
    }
    Ok(out)
}

/// Output shape of TRANSPOSE: `out[i] = in[perm[i]]` (`perm` as returned by [`transpose_perm`]).
pub fn transpose_output_shape(input_shape: &[usize], perm: &[usize]) -> Vec<usize> {
    perm.iter().map(|&p| input_shape[p]).collect()
}

/// TRANSPOSE: `output[i0, .., in] = input[j]` where `j[perm[k]] = i[k]`.
pub fn transpose<T: Copy>(input: &[T], input_shape: &[usize], perm: &[usize], output: &mut [T]) {
    let in_strides = row_major_strides(input_shape);
    let out_shape = transpose_output_shape(input_shape, perm);
    let strides: Vec<isize> = perm.iter().map(|&p| in_strides[p] as isize).collect();
    copy_strided(input, 0, &out_shape, &strides, output);
}

/// Output shape of CONCATENATION along `axis` (negative counts from the end).
///
/// Returns the resolved axis and the output shape. All inputs must have the same rank and agree on
/// every dimension except `axis`.
pub fn concat_output_shape(
    input_shapes: &[&[usize]],
    axis: i64,
) -> Result<(usize, Vec<usize>), KernelError> {
    let first = input_shapes
        .first()
        .ok_or_else(|| KernelError::Shape("concatenation needs at least one input".into()))?;
    let axis = normalize_axis(axis, first.len())?;
    let mut out = first.to_vec();
    out[axis] = 0;
    for shape in input_shapes {
        let compatible = shape.len() == first.len()
            && shape
                .iter()
                .zip(first.iter())
                .enumerate()
                .all(|(d, (a, b))| d == axis || a == b);
        if !compatible {
            return Err(KernelError::Shape(format!(
                "concatenation inputs {first:?} and {shape:?} differ outside axis {axis}"
            )));
        }
        out[axis] += shape[axis];
    }
    Ok((axis, out))
}

/// Product of `shape[..axis]` and of `shape[axis..]` (outer count, inner block length).
fn outer_inner(shape: &[usize], axis: usize) -> (usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis..].iter().product(),
    )
}

/// CONCATENATION along a resolved `axis` (see [`concat_output_shape`]).
pub fn concatenation<T: Copy>(
    inputs: &[&[T]],
    input_shapes: &[&[usize]],
    axis: usize,
    output: &mut [T],
) {
    let outer: usize = input_shapes[0][..axis].iter().product();
    let blocks: Vec<usize> = input_shapes
        .iter()
        .map(|s| s[axis..].iter().product())
        .collect();
    let mut pos = 0;
    for o in 0..outer {
        for (input, &block) in inputs.iter().zip(&blocks) {
            output[pos..pos + block].copy_from_slice(&input[o * block..(o + 1) * block]);
            pos += block;
        }
    }
}

/// Resolves SPLIT: the axis and the per-output size along it (`num_splits` equal parts).
pub fn split_sizes(
    input_shape: &[usize],
    axis: i64,
    num_splits: usize,
) -> Result<(usize, Vec<usize>), KernelError> {
    let axis = normalize_axis(axis, input_shape.len())?;
    let dim = input_shape[axis];
    if num_splits == 0 || !dim.is_multiple_of(num_splits) {
        return Err(KernelError::Shape(format!(
            "split: dimension {dim} is not divisible into {num_splits} parts"
        )));
    }
    Ok((axis, vec![dim / num_splits; num_splits]))
}

/// Resolves SPLIT_V: the axis and the per-output sizes, where at most one entry of `size_splits`
/// may be -1 (it takes the remainder). The sizes must sum to the axis dimension.
pub fn split_v_sizes(
    input_shape: &[usize],
    axis: i64,
    size_splits: &[i64],
) -> Result<(usize, Vec<usize>), KernelError> {
    let axis = normalize_axis(axis, input_shape.len())?;
    let dim = input_shape[axis];
    let mut unknown = None;
    let mut sum = 0usize;
    let mut sizes = Vec::with_capacity(size_splits.len());
    for (i, &s) in size_splits.iter().enumerate() {
        if s == -1 {
            if unknown.replace(i).is_some() {
                return Err(KernelError::Param("split_v: more than one -1 size".into()));
            }
            sizes.push(0);
        } else {
            let s = dim_from_i64(s, "split_v size")?;
            sum = sum.saturating_add(s);
            sizes.push(s);
        }
    }
    match unknown {
        Some(i) if sum <= dim => sizes[i] = dim - sum,
        None if sum == dim => {}
        _ => {
            return Err(KernelError::Shape(format!(
                "split_v sizes {size_splits:?} do not fit dimension {dim}"
            )))
        }
    }
    Ok((axis, sizes))
}

/// Output shapes of SPLIT / SPLIT_V: the input shape with `axis` replaced by each size.
pub fn split_output_shapes(input_shape: &[usize], axis: usize, sizes: &[usize]) -> Vec<Vec<usize>> {
    sizes
        .iter()
        .map(|&s| {
            let mut shape = input_shape.to_vec();
            shape[axis] = s;
            shape
        })
        .collect()
}

/// SPLIT / SPLIT_V: cuts `input` along a resolved `axis` into `outputs` of the given `sizes`.
pub fn split<T: Copy>(
    input: &[T],
    input_shape: &[usize],
    axis: usize,
    sizes: &[usize],
    outputs: &mut [&mut [T]],
) {
    let (outer, _) = outer_inner(input_shape, axis);
    let inner: usize = input_shape[axis + 1..].iter().product();
    let mut pos = 0;
    for o in 0..outer {
        for (out, &size) in outputs.iter_mut().zip(sizes) {
            let block = size * inner;
            out[o * block..(o + 1) * block].copy_from_slice(&input[pos..pos + block]);
            pos += block;
        }
    }
}

/// Output shape of PACK: `num` inputs of `input_shape` stacked along a new axis.
///
/// `axis` may be in `-(rank + 1)..=rank`; returns the resolved axis and the output shape.
pub fn pack_output_shape(
    input_shape: &[usize],
    num: usize,
    axis: i64,
) -> Result<(usize, Vec<usize>), KernelError> {
    let axis = normalize_axis(axis, input_shape.len() + 1)?;
    let mut out = input_shape.to_vec();
    out.insert(axis, num);
    Ok((axis, out))
}

/// PACK: stacks equally shaped `inputs` along a new resolved `axis`.
pub fn pack<T: Copy>(inputs: &[&[T]], input_shape: &[usize], axis: usize, output: &mut [T]) {
    let (outer, block) = outer_inner(input_shape, axis);
    let mut pos = 0;
    for o in 0..outer {
        for input in inputs {
            output[pos..pos + block].copy_from_slice(&input[o * block..(o + 1) * block]);
            pos += block;
        }
    }
}

/// Resolves UNPACK: returns the axis, the number of outputs and the common output shape (the input
/// shape without `axis`). `num`, when given (TFLite's `num` option), must match the dimension.
pub fn unpack_output_shape(
    input_shape: &[usize],
    axis: i64,
    num: Option<usize>,
) -> Result<(usize, usize, Vec<usize>), KernelError> {
    let axis = normalize_axis(axis, input_shape.len())?;
    let count = input_shape[axis];
    if num.is_some_and(|n| n != count) {
        return Err(KernelError::Shape(format!(
            "unpack: num {num:?} does not match dimension {count}"
        )));
    }
    let mut out = input_shape.to_vec();
    out.remove(axis);
    Ok((axis, count, out))
}

/// UNPACK: splits `input` along a resolved `axis` into `input_shape[axis]` outputs.
pub fn unpack<T: Copy>(input: &[T], input_shape: &[usize], axis: usize, outputs: &mut [&mut [T]]) {
    let sizes = vec![1; input_shape[axis]];
    split(input, input_shape, axis, &sizes, outputs);
}

/// Output shape of TILE: `out[d] = in[d] * multiples[d]`; multiples must be non-negative.
pub fn tile_output_shape(
    input_shape: &[usize],
    multiples: &[i64],
) -> Result<Vec<usize>, KernelError> {
    if multiples.len() != input_shape.len() {
        return Err(KernelError::Shape(format!(
            "tile: {} multiples for a rank-{} input",
            multiples.len(),
            input_shape.len()
        )));
    }
    input_shape
        .iter()
        .zip(multiples)
        .map(|(&d, &m)| {
            let m = dim_from_i64(m, "tile multiple")?;
            d.checked_mul(m)
                .ok_or_else(|| KernelError::Shape("tile: output dimension overflows".into()))
        })
        .collect()
}

/// TILE: repeats `input` `multiples[d]` times along each dimension `d`.
pub fn tile<T: Copy>(input: &[T], input_shape: &[usize], multiples: &[usize], output: &mut [T]) {
    if output.is_empty() {
        return;
    }
    if input_shape.is_empty() {
        output[0] = input[0];
        return;
    }
    tile_dim(input, input_shape, multiples, output);
}

/// Tiles one level: writes each of the `in[0]` sub-blocks tiled recursively, then repeats the
/// whole result `multiples[0]` times; `output` has exactly the tiled size.
fn tile_dim<T: Copy>(input: &[T], shape: &[usize], multiples: &[usize], output: &mut [T]) {
    let in_block: usize = shape[1..].iter().product();
    let out_block: usize = shape[1..]
        .iter()
        .zip(&multiples[1..])
        .map(|(d, m)| d * m)
        .product();
    let once = shape[0] * out_block;
    if once == 0 {
        return;
    }
    for i in 0..shape[0] {
        let src = &input[i * in_block..(i + 1) * in_block];
        let dst = &mut output[i * out_block..(i + 1) * out_block];
        if shape.len() == 1 {
            dst.copy_from_slice(src);
        } else {
            tile_dim(src, &shape[1..], &multiples[1..], dst);
        }
    }
    for r in 1..multiples[0] {
        output.copy_within(0..once, r * once);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive multi-index helpers for the independent references below.
    fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
        let mut idx = vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        idx
    }
    fn ravel(idx: &[usize], shape: &[usize]) -> usize {
        idx.iter().zip(shape).fold(0, |acc, (i, d)| acc * d + i)
    }
    fn iota(n: usize) -> Vec<i32> {
        (0..n as i32).collect()
    }

    #[test]
    fn transpose_2d_by_hand() {
        // [[0,1,2],[3,4,5]]ᵀ = [[0,3],[1,4],[2,5]]
        let perm = transpose_perm(&[1, 0], 2).unwrap();
        assert_eq!(transpose_output_shape(&[2, 3], &perm), vec![3, 2]);
        let mut out = [0; 6];
        transpose(&iota(6), &[2, 3], &perm, &mut out);
        assert_eq!(out, [0, 3, 1, 4, 2, 5]);
    }

    #[test]
    fn transpose_4d_matches_naive_and_accepts_negative_perm() {
        let shape = [2, 3, 4, 5];
        let perm = transpose_perm(&[-1, 0, 2, 1], 4).unwrap();
        assert_eq!(perm, vec![3, 0, 2, 1]);
        let out_shape = transpose_output_shape(&shape, &perm);
        assert_eq!(out_shape, vec![5, 2, 4, 3]);
        let input = iota(120);
        let mut out = vec![0; 120];
        transpose(&input, &shape, &perm, &mut out);
        for (flat, &v) in out.iter().enumerate() {
            let oi = unravel(flat, &out_shape);
            let mut ii = [0; 4];
            for k in 0..4 {
                ii[perm[k]] = oi[k];
            }
            assert_eq!(v, input[ravel(&ii, &shape)]);
        }
    }

    #[test]
    fn transpose_rejects_bad_perms() {
        assert!(transpose_perm(&[0, 0], 2).is_err());
        assert!(transpose_perm(&[0, 2], 2).is_err());
        assert!(transpose_perm(&[0, -3], 2).is_err());
        assert!(transpose_perm(&[0], 2).is_err());
    }

    #[test]
    fn concat_negative_axis() {
        let a = [1, 2, 3, 4]; // [2,2]
        let b = [5, 6]; // [2,1]
        let (axis, shape) = concat_output_shape(&[&[2, 2], &[2, 1]], -1).unwrap();
        assert_eq!((axis, shape.clone()), (1, vec![2, 3]));
        let mut out = [0; 6];
        concatenation(&[&a, &b], &[&[2, 2], &[2, 1]], axis, &mut out);
        assert_eq!(out, [1, 2, 5, 3, 4, 6]);
        // Axis 0 stacks rows.
        let (axis, shape) = concat_output_shape(&[&[1, 2], &[2, 2]], -2).unwrap();
        assert_eq!((axis, shape), (0, vec![3, 2]));
        let mut out = [0; 6];
        concatenation(&[&[9, 8][..], &a[..]], &[&[1, 2], &[2, 2]], axis, &mut out);
        assert_eq!(out, [9, 8, 1, 2, 3, 4]);
        assert!(concat_output_shape(&[&[2, 2], &[3, 1]], 1).is_err());
        assert!(concat_output_shape(&[&[2, 2], &[2, 2, 1]], 0).is_err());
        assert!(concat_output_shape(&[&[2, 2]], 2).is_err());
        assert!(concat_output_shape(&[], 0).is_err());
    }

    #[test]
    fn split_even_and_v() {
        let input = iota(12); // [2,6]
        let (axis, sizes) = split_sizes(&[2, 6], -1, 3).unwrap();
        assert_eq!((axis, sizes.clone()), (1, vec![2, 2, 2]));
        let (mut a, mut b, mut c) = ([0; 4], [0; 4], [0; 4]);
        split(&input, &[2, 6], axis, &sizes, &mut [&mut a, &mut b, &mut c]);
        assert_eq!((a, b, c), ([0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]));
        assert!(split_sizes(&[2, 6], 1, 4).is_err());

        let (axis, sizes) = split_v_sizes(&[2, 6], 1, &[1, -1, 2]).unwrap();
        assert_eq!(sizes, vec![1, 3, 2]);
        assert_eq!(
            split_output_shapes(&[2, 6], axis, &sizes),
            vec![vec![2, 1], vec![2, 3], vec![2, 2]]
        );
        let (mut a, mut b, mut c) = ([0; 2], [0; 6], [0; 4]);
        split(&input, &[2, 6], axis, &sizes, &mut [&mut a, &mut b, &mut c]);
        assert_eq!(a, [0, 6]);
        assert_eq!(b, [1, 2, 3, 7, 8, 9]);
        assert_eq!(c, [4, 5, 10, 11]);
        assert!(split_v_sizes(&[2, 6], 1, &[-1, -1, 2]).is_err());
        assert!(split_v_sizes(&[2, 6], 1, &[5, -1, 2]).is_err());
        assert!(split_v_sizes(&[2, 6], 1, &[1, 2]).is_err());
        assert!(split_v_sizes(&[2, 6], 1, &[-2, 8]).is_err());
    }

    #[test]
    fn pack_and_unpack_roundtrip() {
        let a = [1, 2, 3];
        let b = [4, 5, 6];
        let (axis, shape) = pack_output_shape(&[3], 2, -1).unwrap();
        assert_eq!((axis, shape), (1, vec![3, 2]));
        let mut out = [0; 6];
        pack(&[&a, &b], &[3], axis, &mut out);
        assert_eq!(out, [1, 4, 2, 5, 3, 6]);
        let (axis0, shape0) = pack_output_shape(&[3], 2, 0).unwrap();
        assert_eq!((axis0, shape0), (0, vec![2, 3]));
        assert!(pack_output_shape(&[3], 2, 2).is_err());
        assert!(pack_output_shape(&[3], 2, -3).is_err());

        let (axis, count, shape) = unpack_output_shape(&[3, 2], -1, Some(2)).unwrap();
        assert_eq!((axis, count, shape), (1, 2, vec![3]));
        let (mut x, mut y) = ([0; 3], [0; 3]);
        unpack(&out, &[3, 2], axis, &mut [&mut x, &mut y]);
        assert_eq!((x, y), (a, b));
        assert!(unpack_output_shape(&[3, 2], 0, Some(2)).is_err());
    }

    #[test]
    fn tile_matches_naive() {
        let shape = [2, 3];
        let input = iota(6);
        let mult = [2usize, 3];
        let out_shape = tile_output_shape(&shape, &[2, 3]).unwrap();
        assert_eq!(out_shape, vec![4, 9]);
        let mut out = vec![0; 36];
        tile(&input, &shape, &mult, &mut out);
        for (flat, &v) in out.iter().enumerate() {
            let oi = unravel(flat, &out_shape);
            let ii: Vec<usize> = oi.iter().zip(&shape).map(|(i, d)| i % d).collect();
            assert_eq!(v, input[ravel(&ii, &shape)]);
        }
        // Hand case: [1,2] tiled [2] → [1,2,1,2].
        let mut out = [0; 4];
        tile(&[1, 2], &[2], &[2], &mut out);
        assert_eq!(out, [1, 2, 1, 2]);
        // Zero multiple gives an empty output; negatives are rejected.
        assert_eq!(tile_output_shape(&[2, 3], &[0, 1]).unwrap(), vec![0, 3]);
        assert!(tile_output_shape(&[2, 3], &[-1, 1]).is_err());
        assert!(tile_output_shape(&[2, 3], &[1]).is_err());
    }

    #[test]
    fn generic_over_bool() {
        let mut out = [false; 4];
        transpose(&[true, false, false, true], &[2, 2], &[1, 0], &mut out);
        assert_eq!(out, [true, false, false, true]);
    }
}
