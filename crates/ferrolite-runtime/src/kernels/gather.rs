//! GATHER (with `axis` and `batch_dims`) and GATHER_ND.
//!
//! Shapes are resolved once by [`resolve_gather`] / [`gather_nd_output_shape`]; the kernels are
//! generic over the element type `T: Copy` and the index type (`i16`, `i32` or `i64`, anything
//! `Into<i64>`). Index values are data, so the kernels check every index and return
//! [`KernelError::Param`] for negative or out-of-range ones (TFLite rejects them too) — they never
//! panic on index values. They do assume the slices match the resolved shapes.

use super::common::{normalize_axis, row_major_strides, KernelError};

/// A resolved GATHER: normalised axis and batch dimensions plus the output shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatherPlan {
    /// Axis of the input that the indices select along.
    pub axis: usize,
    /// Number of leading dimensions shared by input and indices.
    pub batch_dims: usize,
    /// `input[..axis] ++ indices[batch_dims..] ++ input[axis + 1..]`.
    pub output_shape: Vec<usize>,
}

/// Resolves GATHER as TFLite's `gather.cc` does.
///
/// `axis < 0` counts from the input's rank, `batch_dims < 0` from the indices' rank. Requires
/// `batch_dims <= axis < rank(input)`, `batch_dims <= rank(indices)` and equal leading
/// `batch_dims` dimensions.
pub fn resolve_gather(
    input_shape: &[usize],
    indices_shape: &[usize],
    axis: i64,
    batch_dims: i64,
) -> Result<GatherPlan, KernelError> {
    let axis = normalize_axis(axis, input_shape.len())?;
    let bd = if batch_dims < 0 {
        batch_dims + indices_shape.len() as i64
    } else {
        batch_dims
    };
    if bd < 0 || bd as usize > axis || bd as usize > indices_shape.len() {
        return Err(KernelError::Param(format!(
            "gather: batch_dims {batch_dims} invalid for axis {axis} and indices rank {}",
            indices_shape.len()
        )));
    }
    let batch_dims = bd as usize;
    if input_shape[..batch_dims] != indices_shape[..batch_dims] {
        return Err(KernelError::Shape(format!(
            "gather: batch dimensions of input {input_shape:?} and indices {indices_shape:?} differ"
        )));
    }
    let mut output_shape = input_shape[..axis].to_vec();
    output_shape.extend_from_slice(&indices_shape[batch_dims..]);
    output_shape.extend_from_slice(&input_shape[axis + 1..]);
    Ok(GatherPlan {
        axis,
        batch_dims,
        output_shape,
    })
}

/// Checks one index value against `0..bound`.
fn check_index<I: Copy + Into<i64>>(value: I, bound: usize) -> Result<usize, KernelError> {
    let v: i64 = value.into();
    if v < 0 || v as u64 >= bound as u64 {
        return Err(KernelError::Param(format!(
            "index {v} out of range 0..{bound}"
        )));
    }
    Ok(v as usize)
}

/// GATHER: `output[b.., o.., c.., i..] = input[b.., o.., indices[b.., c..], i..]`.
///
/// Every index is validated before anything is written.
pub fn gather<T: Copy, I: Copy + Into<i64>>(
    input: &[T],
    input_shape: &[usize],
    indices: &[I],
    indices_shape: &[usize],
    plan: &GatherPlan,
    output: &mut [T],
) -> Result<(), KernelError> {
    let (axis, bd) = (plan.axis, plan.batch_dims);
    let axis_size = input_shape[axis];
    for &i in indices {
        check_index(i, axis_size)?;
    }
    let batches: usize = input_shape[..bd].iter().product();
    let outer: usize = input_shape[bd..axis].iter().product();
    let inner: usize = input_shape[axis + 1..].iter().product();
    let coords: usize = indices_shape[bd..].iter().product();
    let mut pos = 0;
    for b in 0..batches {
        let batch_indices = &indices[b * coords..(b + 1) * coords];
        for o in 0..outer {
            let slab = (b * outer + o) * axis_size;
            for &i in batch_indices {
                let src = (slab + check_index(i, axis_size)?) * inner;
                output[pos..pos + inner].copy_from_slice(&input[src..src + inner]);
                pos += inner;
            }
        }
    }
    Ok(())
}

/// Output shape of GATHER_ND: `indices[..-1] ++ params[indices[-1]..]`.
///
/// Both operands must be at least rank 1 and the innermost index length may not exceed the params
/// rank; empty params are only allowed with empty indices (as TFLite requires).
pub fn gather_nd_output_shape(
    params_shape: &[usize],
    indices_shape: &[usize],
) -> Result<Vec<usize>, KernelError> {
    let (&nd, batch) = indices_shape
        .split_last()
        .ok_or_else(|| KernelError::Shape("gather_nd: indices must be at least a vector".into()))?;
    if params_shape.is_empty() {
        return Err(KernelError::Shape(
            "gather_nd: params must be at least a vector".into(),
        ));
    }
    if nd > params_shape.len() {
        return Err(KernelError::Shape(format!(
            "gather_nd: index length {nd} exceeds params rank {}",
            params_shape.len()
        )));
    }
    let params_empty = params_shape.contains(&0);
    let indices_empty = indices_shape.contains(&0);
    if params_empty && !indices_empty {
        return Err(KernelError::Shape(
            "gather_nd: cannot gather from empty params".into(),
        ));
    }
    let mut out = batch.to_vec();
    out.extend_from_slice(&params_shape[nd..]);
    Ok(out)
}

/// GATHER_ND: each innermost index vector of length `k` selects `params[i0, .., ik-1, ..]`.
///
/// Every index is validated before anything is written.
pub fn gather_nd<T: Copy, I: Copy + Into<i64>>(
    params: &[T],
    params_shape: &[usize],
    indices: &[I],
    indices_shape: &[usize],
    output: &mut [T],
) -> Result<(), KernelError> {
    let nd = indices_shape[indices_shape.len() - 1];
    let strides = row_major_strides(params_shape);
    let slice: usize = params_shape[nd..].iter().product();
    let offset_of = |tuple: &[I]| -> Result<usize, KernelError> {
        tuple
            .iter()
            .zip(params_shape)
            .zip(&strides)
            .try_fold(0, |acc, ((&i, &dim), &stride)| {
                Ok(acc + check_index(i, dim)? * stride)
            })
    };
    if nd == 0 {
        for chunk in output.chunks_exact_mut(slice.max(1)) {
            chunk.copy_from_slice(&params[..chunk.len()]);
        }
        return Ok(());
    }
    for tuple in indices.chunks_exact(nd) {
        offset_of(tuple)?;
    }
    for (tuple, chunk) in indices
        .chunks_exact(nd)
        .zip(output.chunks_exact_mut(slice.max(1)))
    {
        let src = offset_of(tuple)?;
        chunk.copy_from_slice(&params[src..src + slice]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iota(n: usize) -> Vec<i32> {
        (0..n as i32).collect()
    }

    #[test]
    fn gather_axis0_and_axis1_by_hand() {
        // params [[0,1,2],[3,4,5],[6,7,8]]
        let input = iota(9);
        let plan = resolve_gather(&[3, 3], &[2], 0, 0).unwrap();
        assert_eq!(plan.output_shape, vec![2, 3]);
        let mut out = [0; 6];
        gather(&input, &[3, 3], &[2i32, 0], &[2], &plan, &mut out).unwrap();
        assert_eq!(out, [6, 7, 8, 0, 1, 2]);

        let plan = resolve_gather(&[3, 3], &[2, 2], -1, 0).unwrap();
        assert_eq!(plan.output_shape, vec![3, 2, 2]);
        let mut out = [0; 12];
        gather(&input, &[3, 3], &[0i64, 2, 1, 1], &[2, 2], &plan, &mut out).unwrap();
        assert_eq!(out, [0, 2, 1, 1, 3, 5, 4, 4, 6, 8, 7, 7]);
    }

    #[test]
    fn gather_with_batch_dims_matches_naive() {
        // input [2, 3, 4], indices [2, 2], axis 2, batch_dims 1:
        // out[b, o, c] = input[b, o, idx[b, c]].
        let input = iota(24);
        let indices = [3i32, 0, 1, 1];
        let plan = resolve_gather(&[2, 3, 4], &[2, 2], 2, 1).unwrap();
        assert_eq!(plan.output_shape, vec![2, 3, 2]);
        let mut out = [0; 12];
        gather(&input, &[2, 3, 4], &indices, &[2, 2], &plan, &mut out).unwrap();
        let mut expect = Vec::new();
        for b in 0..2 {
            for o in 0..3 {
                for c in 0..2 {
                    expect.push(input[b * 12 + o * 4 + indices[b * 2 + c] as usize]);
                }
            }
        }
        assert_eq!(out.to_vec(), expect);
        assert_eq!(out, [3, 0, 7, 4, 11, 8, 13, 13, 17, 17, 21, 21]);

        // batch_dims = -1 on rank-2 indices is 1; axis 1 with batch_dims 1:
        // out[b, c, i] = input[b, idx[b, c], i].
        let plan = resolve_gather(&[2, 3, 4], &[2, 1], 1, -1).unwrap();
        assert_eq!(
            (plan.batch_dims, plan.output_shape.clone()),
            (1, vec![2, 1, 4])
        );
        let mut out = [0; 8];
        gather(&input, &[2, 3, 4], &[2i32, 0], &[2, 1], &plan, &mut out).unwrap();
        assert_eq!(out, [8, 9, 10, 11, 12, 13, 14, 15]);
    }

    #[test]
    fn gather_rejects_bad_params_and_indices() {
        assert!(resolve_gather(&[2, 3], &[2], 2, 0).is_err());
        assert!(resolve_gather(&[2, 3], &[2], 0, 1).is_err()); // batch_dims > axis
        assert!(resolve_gather(&[2, 3], &[3, 1], 1, 1).is_err()); // batch dims differ
        let plan = resolve_gather(&[3], &[1], 0, 0).unwrap();
        let mut out = [0; 1];
        assert!(gather(&[1, 2, 3], &[3], &[3i32], &[1], &plan, &mut out).is_err());
        assert!(gather(&[1, 2, 3], &[3], &[-1i32], &[1], &plan, &mut out).is_err());
    }

    #[test]
    fn gather_nd_by_hand() {
        // params [[0,1],[2,3]]
        let params = iota(4);
        // Full index → scalars.
        let shape = gather_nd_output_shape(&[2, 2], &[2, 2]).unwrap();
        assert_eq!(shape, vec![2]);
        let mut out = [0; 2];
        gather_nd(&params, &[2, 2], &[0i32, 0, 1, 1], &[2, 2], &mut out).unwrap();
        assert_eq!(out, [0, 3]);
        // Partial index → rows.
        let shape = gather_nd_output_shape(&[2, 2], &[2, 1]).unwrap();
        assert_eq!(shape, vec![2, 2]);
        let mut out = [0; 4];
        gather_nd(&params, &[2, 2], &[1i16, 0], &[2, 1], &mut out).unwrap();
        assert_eq!(out, [2, 3, 0, 1]);
        // Batched 3-D params [2,2,2], indices [2,1,2] → output [2,1,2].
        let params = iota(8);
        let shape = gather_nd_output_shape(&[2, 2, 2], &[2, 1, 2]).unwrap();
        assert_eq!(shape, vec![2, 1, 2]);
        let mut out = [0; 4];
        gather_nd(&params, &[2, 2, 2], &[0i64, 1, 1, 0], &[2, 1, 2], &mut out).unwrap();
        assert_eq!(out, [2, 3, 4, 5]);
    }

    #[test]
    fn gather_nd_errors() {
        assert!(gather_nd_output_shape(&[2, 2], &[1, 3]).is_err());
        assert!(gather_nd_output_shape(&[2, 2], &[]).is_err());
        assert!(gather_nd_output_shape(&[], &[1]).is_err());
        assert!(gather_nd_output_shape(&[0, 2], &[1, 1]).is_err());
        let mut out = [0; 1];
        assert!(gather_nd(&iota(4), &[2, 2], &[0i32, 2], &[2], &mut out).is_err());
        assert!(gather_nd(&iota(4), &[2, 2], &[-1i32, 0], &[2], &mut out).is_err());
    }
}
