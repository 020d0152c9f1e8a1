//! Generator and small element-wise kernels: ONE_HOT, BROADCAST_TO, SCATTER_ND, WHERE, ADD_N,
//! SIGN, REDUCE_ANY / REDUCE_ALL and LOCAL_RESPONSE_NORMALIZATION (ZEROS_LIKE is a fill).
//!
//! Each mirrors TFLite's reference semantics: ONE_HOT writes `off` for out-of-range indices,
//! SCATTER_ND sums duplicate indices into a zeroed output and rejects out-of-range ones, WHERE
//! lists the coordinates of non-zero elements in row-major order, ADD_N adds inputs left to
//! right, SIGN maps NaN to 0, LRN sums squares over `[c - r, c + r]` clipped to the depth.

use super::broadcast::BroadcastIndex;
use super::common::KernelError;
use super::element::Numeric;

/// ONE_HOT with the new axis in the middle of `[outer, depth, inner]`: `out[o, d, i] = on` when
/// `indices[o, i] == d`, else `off`.
pub fn one_hot<I: Copy + Into<i64>, T: Copy>(
    indices: &[I],
    dims: [usize; 3],
    on: T,
    off: T,
    output: &mut [T],
) {
    let [outer, depth, inner] = dims;
    for o in 0..outer {
        for d in 0..depth {
            for i in 0..inner {
                let hit = indices[o * inner + i].into() == d as i64;
                output[(o * depth + d) * inner + i] = if hit { on } else { off };
            }
        }
    }
}

/// BROADCAST_TO: repeats `input` (shape `in_shape`) to `out_shape`.
pub fn broadcast_to<T: Copy>(
    input: &[T],
    in_shape: &[usize],
    out_shape: &[usize],
    output: &mut [T],
) -> Result<(), KernelError> {
    let index = BroadcastIndex::new(out_shape, [in_shape])?;
    for (o, [i]) in output.iter_mut().zip(index) {
        *o = input[i];
    }
    Ok(())
}

/// SCATTER_ND: zeroes `output` (shape `out_shape`) and adds each slice of `updates` at the
/// position its row of `indices` (`[n, k]`) names.
pub fn scatter_nd<T: Numeric>(
    indices: &[i64],
    k: usize,
    updates: &[T],
    out_shape: &[usize],
    output: &mut [T],
) -> Result<(), KernelError> {
    output.fill(T::ZERO);
    if k == 0 || k > out_shape.len() {
        return Err(KernelError::Shape(format!(
            "index depth {k} for output rank {}",
            out_shape.len()
        )));
    }
    let slice: usize = out_shape[k..].iter().product();
    for (row, upd) in indices
        .chunks_exact(k)
        .zip(updates.chunks_exact(slice.max(1)))
    {
        let mut at = 0usize;
        for (d, &ix) in row.iter().enumerate() {
            if ix < 0 || ix as usize >= out_shape[d] {
                return Err(KernelError::Param(format!(
                    "index {ix} out of range for dimension {d} of size {}",
                    out_shape[d]
                )));
            }
            at = at * out_shape[d] + ix as usize;
        }
        let dst = &mut output[at * slice..(at + 1) * slice];
        for (o, &u) in dst.iter_mut().zip(upd) {
            *o = o.add(u);
        }
    }
    Ok(())
}

/// WHERE: the row-major coordinates of every element for which `nonzero` holds, as int64
/// `[count, rank]`.
pub fn where_coords(shape: &[usize], nonzero: impl Iterator<Item = bool>, output: &mut [i64]) {
    let rank = shape.len();
    let mut k = 0;
    for (flat, nz) in nonzero.enumerate() {
        if !nz {
            continue;
        }
        let mut rest = flat;
        for d in (0..rank).rev() {
            output[k * rank + d] = (rest % shape[d]) as i64;
            rest /= shape[d];
        }
        k += 1;
    }
}

/// ADD_N: the element-wise sum of equally shaped inputs, added left to right.
pub fn add_n<T: Numeric>(inputs: &[&[T]], output: &mut [T]) {
    for (j, o) in output.iter_mut().enumerate() {
        let mut acc = inputs[0][j];
        for x in &inputs[1..] {
            acc = acc.add(x[j]);
        }
        *o = acc;
    }
}

/// SIGN: -1, 0 or 1 (NaN → 0).
pub fn sign<T: Numeric>(input: &[T], output: &mut [T]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = if T::ZERO < x {
            T::ONE
        } else if x < T::ZERO {
            T::ZERO.sub(T::ONE)
        } else {
            T::ZERO
        };
    }
}

/// REDUCE_ANY (`any = true`) or REDUCE_ALL over `axes` of a bool tensor (bytes, 0 = false);
/// `keep_shape` is the input shape with the reduced axes set to 1.
pub fn reduce_bool(
    input: &[u8],
    shape: &[usize],
    keep_shape: &[usize],
    any: bool,
    output: &mut [u8],
) -> Result<(), KernelError> {
    output.fill(u8::from(!any));
    let index = BroadcastIndex::new(shape, [keep_shape])?;
    for (&x, [o]) in input.iter().zip(index) {
        if (x != 0) == any {
            output[o] = u8::from(any);
        }
    }
    Ok(())
}

/// LOCAL_RESPONSE_NORMALIZATION over the last axis (`depth` channels):
/// `x / (bias + alpha * Σ_{|c' - c| <= radius} x[c']²)^beta`.
pub fn local_response_norm(
    input: &[f32],
    depth: usize,
    radius: usize,
    bias: f32,
    alpha: f32,
    beta: f32,
    output: &mut [f32],
) {
    if depth == 0 {
        return;
    }
    for (xs, os) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        for c in 0..depth {
            let lo = c.saturating_sub(radius);
            let hi = (c + radius + 1).min(depth);
            let acc: f32 = xs[lo..hi].iter().map(|v| v * v).sum();
            os[c] = xs[c] * (bias + alpha * acc).powf(-beta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_out_of_range_is_off() {
        let mut out = [0.0f32; 6];
        one_hot(&[1i32, 3], [2, 3, 1], 1.0, -1.0, &mut out);
        assert_eq!(out, [-1.0, 1.0, -1.0, -1.0, -1.0, -1.0]);
    }

    #[test]
    fn scatter_sums_duplicates_and_checks_range() {
        let mut out = [0.0f32; 4];
        scatter_nd(&[1, 3, 1], 1, &[1.0, 2.0, 3.0], &[4], &mut out).unwrap();
        assert_eq!(out, [0.0, 4.0, 0.0, 2.0]);
        assert!(scatter_nd(&[4], 1, &[1.0], &[4], &mut out).is_err());
    }

    #[test]
    fn where_any_all_sign_addn() {
        let mut c = [0i64; 4];
        where_coords(&[2, 2], [false, true, true, false].into_iter(), &mut c);
        assert_eq!(c, [0, 1, 1, 0]);
        let mut o = [0u8; 2];
        reduce_bool(&[1, 0, 0, 0], &[2, 2], &[2, 1], true, &mut o).unwrap();
        assert_eq!(o, [1, 0]);
        reduce_bool(&[1, 1, 1, 0], &[2, 2], &[2, 1], false, &mut o).unwrap();
        assert_eq!(o, [1, 0]);
        let mut s = [0.0f32; 4];
        sign(&[-2.0, 0.0, 3.0, f32::NAN], &mut s);
        assert_eq!(s, [-1.0, 0.0, 1.0, 0.0]);
        let mut y = [0i32; 2];
        add_n(&[&[1, 2], &[3, 4], &[5, 6]], &mut y);
        assert_eq!(y, [9, 12]);
    }

    #[test]
    fn lrn_single_channel() {
        let mut o = [0.0f32];
        local_response_norm(&[2.0], 1, 1, 1.0, 1.0, 0.5, &mut o);
        assert_eq!(o[0], 2.0 / 5.0f32.sqrt());
    }
}
