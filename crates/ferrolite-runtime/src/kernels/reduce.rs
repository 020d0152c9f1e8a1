//! Reductions over an axis list (MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD) and ARG_MAX /
//! ARG_MIN.
//!
//! Axes may be negative (counted from the end) and may repeat; duplicates are ignored, as in
//! TFLite's `ResolveAxis`, and an empty axis list reduces nothing (the output equals the input). For
//! a rank-0 input the axes are ignored. `keep_dims` only changes the output *shape* (see
//! [`reduced_shape`]), never the flat data, so the kernels do not take it. Each output element
//! accumulates its inputs in row-major input order from TFLite's seeds (0 for SUM, 1 for PROD,
//! `lowest`/`max` for MAX/MIN with `in > cur` / `in < cur` comparisons, so NaNs are skipped).
//! MEAN sums in f32 for floats and in i64 for integers, then divides — integer means truncate
//! toward zero; a MEAN of an empty input is NaN (0 for integers), as TFLite fills it.
//! ARG_MAX/ARG_MIN return the first index on ties, in an i32 or i64 output.
//!
//! The reductions walk the input as contiguous runs (`ReduceLayout`: unit dimensions dropped,
//! neighbouring reduced or kept dimensions merged), so a global average pool over `[1, h, w, c]`
//! adds `h·w` whole channel vectors, which the compiler vectorizes, instead of indexing every
//! element; the per-output accumulation order is unchanged.

use super::broadcast::check_len;
use super::common::{normalize_axis, KernelError};
use super::element::Numeric;

/// Resolves an axis list against `rank`: negative axes wrap, duplicates are dropped (first
/// occurrence order kept). Errors on an out-of-range axis; a rank-0 input ignores its axes.
pub fn resolve_axes<A: Copy + Into<i64>>(
    rank: usize,
    axes: &[A],
) -> Result<Vec<usize>, KernelError> {
    let mut resolved = Vec::with_capacity(axes.len());
    if rank == 0 {
        return Ok(resolved);
    }
    for &axis in axes {
        let a = normalize_axis(axis.into(), rank)?;
        if !resolved.contains(&a) {
            resolved.push(a);
        }
    }
    Ok(resolved)
}

/// Output shape of a reduction: reduced dimensions become 1 with `keep_dims`, else are removed.
pub fn reduced_shape<A: Copy + Into<i64>>(
    shape: &[usize],
    axes: &[A],
    keep_dims: bool,
) -> Result<Vec<usize>, KernelError> {
    let resolved = resolve_axes(shape.len(), axes)?;
    Ok(shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (resolved.contains(&i), keep_dims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect())
}

/// The memory layout of a reduction, simplified for a fast walk: unit dimensions dropped and
/// neighbouring dimensions of the same kind (reduced or kept) merged. The input is then a
/// sequence of runs of `inner` contiguous elements; each run either folds entirely into one
/// output element (`inner_reduced`) or maps element-wise onto `inner` consecutive outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReduceLayout {
    /// Length of one contiguous run.
    pub(crate) inner: usize,
    /// True when a run folds into a single output element.
    pub(crate) inner_reduced: bool,
    /// The merged outer dimensions, outermost first: (size, output stride; 0 when reduced).
    outer: Vec<(usize, usize)>,
}

impl ReduceLayout {
    /// Builds the layout of reducing `shape` over the resolved, distinct `axes`.
    pub(crate) fn new(shape: &[usize], axes: &[usize]) -> Self {
        // (size, reduced) of each non-unit dimension, neighbours of one kind merged.
        let mut dims: Vec<(usize, bool)> = Vec::with_capacity(shape.len());
        for (d, &size) in shape.iter().enumerate() {
            if size == 1 {
                continue;
            }
            let reduced = axes.contains(&d);
            match dims.last_mut() {
                Some((s, r)) if *r == reduced => *s *= size,
                _ => dims.push((size, reduced)),
            }
        }
        let (inner, inner_reduced) = dims.pop().unwrap_or((1, false));
        let mut stride = if inner_reduced { 1 } else { inner };
        let mut outer = vec![(0, 0); dims.len()];
        for (slot, &(size, reduced)) in outer.iter_mut().zip(&dims).rev() {
            *slot = (size, if reduced { 0 } else { stride });
            if !reduced {
                stride *= size;
            }
        }
        ReduceLayout {
            inner,
            inner_reduced,
            outer,
        }
    }

    /// Calls `f(input_start, output_offset)` for every run of an input of `len` elements, in
    /// input order.
    pub(crate) fn for_each_run(&self, len: usize, mut f: impl FnMut(usize, usize)) {
        let mut counter = vec![0usize; self.outer.len()];
        let mut out = 0usize;
        let mut start = 0usize;
        while start < len {
            f(start, out);
            start += self.inner;
            for (c, &(size, stride)) in counter.iter_mut().zip(&self.outer).rev() {
                *c += 1;
                out += stride;
                if *c < size {
                    break;
                }
                out -= stride * size;
                *c = 0;
            }
        }
    }

    /// Folds `input` into `acc` (one slot per output element, already seeded) with `f`, visiting
    /// the inputs of each output element in row-major input order.
    pub(crate) fn fold<T: Copy, S: Copy>(&self, input: &[T], acc: &mut [S], f: impl Fn(S, T) -> S) {
        let inner = self.inner;
        if self.inner_reduced {
            self.for_each_run(input.len(), |start, o| {
                acc[o] = input[start..start + inner]
                    .iter()
                    .fold(acc[o], |a, &x| f(a, x));
            });
        } else {
            self.for_each_run(input.len(), |start, o| {
                for (a, &x) in acc[o..o + inner]
                    .iter_mut()
                    .zip(&input[start..start + inner])
                {
                    *a = f(*a, x);
                }
            });
        }
    }
}

/// Folds `input` into `acc` (one slot per output element) starting from `init`; returns the number
/// of input elements folded into each slot.
fn fold_axes<T: Copy, S: Copy, A: Copy + Into<i64>>(
    input: &[T],
    shape: &[usize],
    axes: &[A],
    acc: &mut [S],
    init: S,
    f: impl Fn(S, T) -> S,
) -> Result<usize, KernelError> {
    check_len("input", input.len(), shape)?;
    let resolved = resolve_axes(shape.len(), axes)?;
    let mut keep_shape = shape.to_vec();
    let mut per_output = 1usize;
    for &a in &resolved {
        per_output = per_output.saturating_mul(keep_shape[a]);
        keep_shape[a] = 1;
    }
    check_len("output", acc.len(), &keep_shape)?;
    acc.fill(init);
    ReduceLayout::new(shape, &resolved).fold(input, acc, f);
    Ok(per_output)
}

/// SUM over `axes` (wrapping for integers).
pub fn sum<T: Numeric, A: Copy + Into<i64>>(
    input: &[T],
    shape: &[usize],
    axes: &[A],
    out: &mut [T],
) -> Result<(), KernelError> {
    fold_axes(input, shape, axes, out, T::ZERO, |acc, x| x.add(acc)).map(drop)
}

/// REDUCE_PROD over `axes` (wrapping for integers).
pub fn reduce_prod<T: Numeric, A: Copy + Into<i64>>(
    input: &[T],
    shape: &[usize],
    axes: &[A],
    out: &mut [T],
) -> Result<(), KernelError> {
    fold_axes(input, shape, axes, out, T::ONE, |acc, x| x.mul(acc)).map(drop)
}

/// REDUCE_MAX over `axes`; an empty reduction yields `T::LOWEST`.
pub fn reduce_max<T: Numeric, A: Copy + Into<i64>>(
    input: &[T],
    shape: &[usize],
    axes: &[A],
    out: &mut [T],
) -> Result<(), KernelError> {
    fold_axes(input, shape, axes, out, T::LOWEST, |acc, x| {
        if x > acc {
            x
        } else {
            acc
        }
    })
    .map(drop)
}

/// REDUCE_MIN over `axes`; an empty reduction yields `T::HIGHEST`.
pub fn reduce_min<T: Numeric, A: Copy + Into<i64>>(
    input: &[T],
    shape: &[usize],
    axes: &[A],
    out: &mut [T],
) -> Result<(), KernelError> {
    fold_axes(input, shape, axes, out, T::HIGHEST, |acc, x| {
        if x < acc {
            x
        } else {
            acc
        }
    })
    .map(drop)
}

/// MEAN over `axes`: sum in `T::Acc`, then divide by the reduced element count (integer means
/// truncate toward zero). An empty input fills the output with `T::EMPTY_MEAN`.
pub fn mean<T: Numeric, A: Copy + Into<i64>>(
    input: &[T],
    shape: &[usize],
    axes: &[A],
    out: &mut [T],
) -> Result<(), KernelError> {
    let mut acc = vec![T::acc_zero(); out.len()];
    let count = fold_axes(input, shape, axes, &mut acc, T::acc_zero(), T::acc_add)?;
    if input.is_empty() {
        out.fill(T::EMPTY_MEAN);
        return Ok(());
    }
    for (o, &s) in out.iter_mut().zip(&acc) {
        *o = T::acc_mean(s, count);
    }
    Ok(())
}

/// Output shape of ARG_MAX/ARG_MIN: the input shape without `axis`.
pub fn arg_output_shape(shape: &[usize], axis: i64) -> Result<Vec<usize>, KernelError> {
    let axis = normalize_axis(axis, shape.len())?;
    let mut out = shape.to_vec();
    out.remove(axis);
    Ok(out)
}

/// Shared ARG_MAX/ARG_MIN walk: `better(candidate, best)` replaces the running best, so a strict
/// comparison keeps the first index on ties.
fn arg_reduce<T: PartialOrd + Copy, I: TryFrom<usize> + Copy>(
    input: &[T],
    shape: &[usize],
    axis: i64,
    out: &mut [I],
    better: impl Fn(T, T) -> bool,
) -> Result<(), KernelError> {
    check_len("input", input.len(), shape)?;
    let axis = normalize_axis(axis, shape.len())?;
    let out_shape = arg_output_shape(shape, axis as i64)?;
    check_len("output", out.len(), &out_shape)?;
    let axis_size = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    if out.is_empty() {
        return Ok(());
    }
    if axis_size == 0 {
        return Err(KernelError::Shape(
            "ARG_MIN/ARG_MAX over an empty axis".into(),
        ));
    }
    let to_index = |i: usize| {
        I::try_from(i).map_err(|_| {
            KernelError::Param(format!(
                "index {i} does not fit the ARG_MIN/ARG_MAX output type"
            ))
        })
    };
    to_index(axis_size - 1)?;
    for (outer, out_block) in out.chunks_exact_mut(inner).enumerate() {
        let block = &input[outer * axis_size * inner..(outer + 1) * axis_size * inner];
        for (j, o) in out_block.iter_mut().enumerate() {
            let mut best = block[j];
            let mut best_i = 0;
            for i in 1..axis_size {
                let v = block[i * inner + j];
                if better(v, best) {
                    best = v;
                    best_i = i;
                }
            }
            *o = to_index(best_i)?;
        }
    }
    Ok(())
}

/// ARG_MAX along `axis` (negative counts from the end); ties keep the first index. `I` is the
/// output index type (i32 or i64).
pub fn arg_max<T: PartialOrd + Copy, I: TryFrom<usize> + Copy>(
    input: &[T],
    shape: &[usize],
    axis: i64,
    out: &mut [I],
) -> Result<(), KernelError> {
    arg_reduce(input, shape, axis, out, |v, best| v > best)
}

/// ARG_MIN along `axis` (negative counts from the end); ties keep the first index.
pub fn arg_min<T: PartialOrd + Copy, I: TryFrom<usize> + Copy>(
    input: &[T],
    shape: &[usize],
    axis: i64,
    out: &mut [I],
) -> Result<(), KernelError> {
    arg_reduce(input, shape, axis, out, |v, best| v < best)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x[i,j,k] = 100i + 10j + k over shape [2,3,4].
    fn cube() -> Vec<f32> {
        let mut v = Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    v.push((100 * i + 10 * j + k) as f32);
                }
            }
        }
        v
    }

    /// Folds with an order-sensitive function by explicit index arithmetic, as a reference.
    fn naive_fold(shape: &[usize], axes: &[usize]) -> Vec<u64> {
        let kept: usize = (0..shape.len())
            .filter(|d| !axes.contains(d))
            .map(|d| shape[d])
            .product();
        let mut acc = vec![7u64; kept];
        let total: usize = shape.iter().product();
        for i in 0..total {
            let (mut rem, mut o, mut ostride) = (i, 0usize, 1usize);
            for d in (0..shape.len()).rev() {
                let idx = rem % shape[d];
                rem /= shape[d];
                if !axes.contains(&d) {
                    o += idx * ostride;
                    ostride *= shape[d];
                }
            }
            acc[o] = acc[o].wrapping_mul(31).wrapping_add(i as u64);
        }
        acc
    }

    #[test]
    fn layout_walk_matches_naive_order_for_many_shapes() {
        let mut seed = 12345u32;
        let mut next = |m: u32| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 16) % m
        };
        for _ in 0..400 {
            let rank = 1 + next(5) as usize;
            let shape: Vec<usize> = (0..rank).map(|_| next(4) as usize + 1).collect();
            let axes: Vec<usize> = (0..rank).filter(|_| next(2) == 1).collect();
            let want = naive_fold(&shape, &axes);
            let input: Vec<u64> = (0..shape.iter().product::<usize>() as u64).collect();
            let mut got = vec![7u64; want.len()];
            ReduceLayout::new(&shape, &axes)
                .fold(&input, &mut got, |a, x| a.wrapping_mul(31).wrapping_add(x));
            assert_eq!(got, want, "shape {shape:?} axes {axes:?}");
        }
        // MobileNet's global average pool: 9 runs of 1280 kept channels.
        let l = ReduceLayout::new(&[1, 3, 3, 1280], &[1, 2]);
        assert_eq!((l.inner, l.inner_reduced), (1280, false));
        let l = ReduceLayout::new(&[4, 1, 6], &[2]);
        assert_eq!((l.inner, l.inner_reduced), (6, true));
    }

    #[test]
    fn axis_resolution() {
        assert_eq!(resolve_axes(3, &[-1i32, 0, 2, -3]).unwrap(), vec![2, 0]);
        assert!(resolve_axes(3, &[3i32]).is_err());
        assert!(resolve_axes(3, &[-4i64]).is_err());
        assert!(resolve_axes(0, &[5i32]).unwrap().is_empty());
        assert_eq!(
            reduced_shape(&[2, 3, 4], &[-1i32, 0], true).unwrap(),
            vec![1, 3, 1]
        );
        assert_eq!(
            reduced_shape(&[2, 3, 4], &[-1i32, 0], false).unwrap(),
            vec![3]
        );
        assert_eq!(
            reduced_shape::<i32>(&[2, 3], &[], false).unwrap(),
            vec![2, 3]
        );
    }

    #[test]
    fn sum_and_mean_over_negative_and_duplicate_axes() {
        let x = cube();
        let mut out = [0.0f32; 3];
        sum(&x, &[2, 3, 4], &[0i32, -1, 2], &mut out).unwrap();
        // Σ_i Σ_k (100i + 10j + k) = 4·100 + 8·10j + 2·6 = 412 + 80j.
        assert_eq!(out, [412.0, 492.0, 572.0]);
        mean(&x, &[2, 3, 4], &[-3i32, 2], &mut out).unwrap();
        assert_eq!(out, [51.5, 61.5, 71.5]);
        let mut out2 = [0.0f32; 8];
        mean(&x, &[2, 3, 4], &[1i32], &mut out2).unwrap();
        assert_eq!(out2[..4], [10.0, 11.0, 12.0, 13.0]);
        assert_eq!(out2[4..], [110.0, 111.0, 112.0, 113.0]);
    }

    #[test]
    fn max_min_prod() {
        let x = cube();
        let mut out = [0.0f32; 2];
        reduce_max(&x, &[2, 3, 4], &[1i32, 2], &mut out).unwrap();
        assert_eq!(out, [23.0, 123.0]);
        reduce_min(&x, &[2, 3, 4], &[1i32, 2], &mut out).unwrap();
        assert_eq!(out, [0.0, 100.0]);
        let mut p = [0i32; 2];
        reduce_prod(&[1, 2, 3, 4, 5, 6], &[2, 3], &[-1i32], &mut p).unwrap();
        assert_eq!(p, [6, 120]);
        // NaN is never selected by REDUCE_MAX.
        reduce_max(&[f32::NAN, 1.0], &[2], &[0i32], &mut out[..1]).unwrap();
        assert_eq!(out[0], 1.0);
    }

    #[test]
    fn empty_axis_list_is_identity_and_all_axes_give_scalar() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut out = [0.0f32; 4];
        sum::<f32, i32>(&x, &[2, 2], &[], &mut out).unwrap();
        assert_eq!(out, x);
        mean::<f32, i32>(&x, &[2, 2], &[], &mut out).unwrap();
        assert_eq!(out, x);
        let mut s = [0.0f32; 1];
        sum(&x, &[2, 2], &[0i32, 1], &mut s).unwrap();
        assert_eq!(s, [10.0]);
    }

    #[test]
    fn integer_mean_truncates_and_empty_mean_is_nan() {
        let mut out = [0i32; 2];
        mean(&[1, 2, -1, -2], &[2, 2], &[1i32], &mut out).unwrap();
        assert_eq!(out, [1, -1]);
        let mut f = [0.0f32; 3];
        mean::<f32, i32>(&[], &[0, 3], &[0], &mut f).unwrap();
        assert!(f.iter().all(|v| v.is_nan()));
        reduce_max::<f32, i32>(&[], &[0, 3], &[0], &mut f).unwrap();
        assert_eq!(f, [f32::MIN; 3]);
        assert!(sum(&[1.0f32, 2.0], &[2], &[0i32], &mut f).is_err());
    }

    #[test]
    fn arg_max_min_ties_and_axes() {
        let x = [1.0f32, 5.0, 5.0, 0.0, 2.0, 2.0];
        let mut o32 = [0i32; 2];
        arg_max(&x, &[2, 3], -1, &mut o32).unwrap();
        assert_eq!(o32, [1, 1]);
        arg_min(&x, &[2, 3], 1, &mut o32).unwrap();
        assert_eq!(o32, [0, 0]);
        let mut o64 = [0i64; 3];
        arg_max(&x, &[2, 3], 0, &mut o64).unwrap();
        assert_eq!(o64, [0, 0, 0]);
        arg_min(&x, &[2, 3], -2, &mut o64).unwrap();
        assert_eq!(o64, [1, 1, 1]);
        // Axis 1 of [2,3,2]: inner stride 2.
        let y = [0, 9, 3, 1, 3, 9, 7, 7, 8, 0, 8, 1];
        let mut o = [0i32; 4];
        arg_max(&y, &[2, 3, 2], 1, &mut o).unwrap();
        assert_eq!(o, [1, 0, 1, 0]);
        assert_eq!(arg_output_shape(&[2, 3, 2], -2).unwrap(), vec![2, 2]);
        assert!(arg_max(&x, &[2, 3], 2, &mut o32).is_err());
    }
}
