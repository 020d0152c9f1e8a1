//! SLICE and STRIDED_SLICE: parameter resolution (done once, at allocate time) and one copy kernel.
//!
//! Both ops resolve to a [`SlicePlan`]: the output shape plus, for every input dimension, the first
//! index, the step and the number of elements taken. The kernel [`slice`] then copies that strided
//! view; it is generic over `T: Copy` and assumes the plan was built for `input_shape`.
//!
//! STRIDED_SLICE follows TFLite's `strided_slice.cc` / `strided_slice_logic.h`: ellipsis and
//! new-axis entries are expanded into an effective spec first, then each axis resolves
//! `begin` (negative += dim, clamped to `[0, dim]` for positive strides and `[-1, dim-1]` for
//! negative ones, `begin_mask` → first element in iteration order), `end` (optionally `begin +
//! end` when `offset` is set, then the same wrap and clamp, `end_mask` → past the last element) and
//! the length `ceil((end - begin) / stride)` floored at zero. Where TFLite's behaviour is
//! undefined or self-inconsistent we return an error instead (documented on
//! [`resolve_strided_slice`]).

use super::common::{copy_strided, row_major_strides, KernelError};

/// What one input dimension contributes to a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceAxis {
    /// First input index taken (0 when `len` is 0).
    pub start: usize,
    /// Distance between consecutive taken indices (negative walks backwards).
    pub step: isize,
    /// Number of indices taken.
    pub len: usize,
}

/// A resolved slice: the output shape and one [`SliceAxis`] per input dimension.
///
/// The product of the `len`s equals the product of `output_shape` (new axes add 1s, shrunk axes
/// drop their 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlicePlan {
    /// Shape of the output tensor.
    pub output_shape: Vec<usize>,
    /// Per input dimension: start, step and count.
    pub axes: Vec<SliceAxis>,
}

/// STRIDED_SLICE operands and options (TFLite's `StridedSliceOptions` plus the three index
/// tensors, widened to i64).
#[derive(Debug, Clone, Copy, Default)]
pub struct StridedSliceParams<'a> {
    /// Begin indices, one per spec entry.
    pub begin: &'a [i64],
    /// End indices (or sizes when `offset` is set), one per spec entry.
    pub end: &'a [i64],
    /// Strides, one per spec entry; must be non-zero.
    pub strides: &'a [i64],
    /// Bit i: ignore `begin[i]` and start at the first element in iteration order.
    pub begin_mask: u32,
    /// Bit i: ignore `end[i]` and run to the end in iteration order.
    pub end_mask: u32,
    /// Bit i: spec entry i is `...` (covers all dimensions not named by other entries).
    pub ellipsis_mask: u32,
    /// Bit i: spec entry i inserts a new dimension of size 1.
    pub new_axis_mask: u32,
    /// Bit i: spec entry i takes the single element at `begin[i]` and drops the dimension.
    pub shrink_axis_mask: u32,
    /// When set, `end[i]` is relative to the resolved begin (`end = begin + end[i]`).
    pub offset: bool,
}

/// Resolves SLICE: `size[d] == -1` means "to the end"; otherwise `begin[d] + size[d] <= dim`.
pub fn resolve_slice(
    input_shape: &[usize],
    begin: &[i64],
    size: &[i64],
) -> Result<SlicePlan, KernelError> {
    let rank = input_shape.len();
    if begin.len() != rank || size.len() != rank {
        return Err(KernelError::Shape(format!(
            "slice: begin/size have {}/{} entries for a rank-{rank} input",
            begin.len(),
            size.len()
        )));
    }
    let mut axes = Vec::with_capacity(rank);
    for ((&dim, &b), &s) in input_shape.iter().zip(begin).zip(size) {
        let dim_i = dim as i64;
        if !(0..=dim_i).contains(&b) {
            return Err(KernelError::Param(format!(
                "slice: begin {b} outside dimension {dim}"
            )));
        }
        let len = match s {
            -1 => dim_i - b,
            s if s >= 0 && b + s <= dim_i => s,
            _ => {
                return Err(KernelError::Param(format!(
                    "slice: invalid begin {b} and size {s} for dimension {dim}"
                )))
            }
        };
        let len = len as usize;
        let start = if len == 0 { 0 } else { b as usize };
        axes.push(SliceAxis {
            start,
            step: 1,
            len,
        });
    }
    let output_shape = axes.iter().map(|a| a.len).collect();
    Ok(SlicePlan { output_shape, axes })
}

/// One entry of the expanded (effective) strided-slice spec.
enum Entry {
    /// Whole input dimension (ellipsis coverage or implicit trailing dimension).
    Full,
    /// A new dimension of size 1.
    NewAxis,
    /// An explicit spec entry at this index of the user's arrays.
    Spec(usize),
}

/// Resolves STRIDED_SLICE into a [`SlicePlan`], TFLite-compatibly.
///
/// Errors (rather than TFLite's undefined or inconsistent results) when: the index arrays differ
/// in length; more than one ellipsis bit is set; the spec names more real dimensions than the input
/// has; a stride is 0; a shrunk axis has a non-positive stride or an index outside the dimension;
/// or, with `offset`, the clamped range does not hold `ceil(end / stride)` elements (TFLite sizes
/// the output from the raw `end` but copies the clamped range). Mask bits at or beyond the number
/// of spec entries are ignored. An ellipsis with nothing to cover expands to zero dimensions (as in
/// TensorFlow), where TFLite would make it cover one.
pub fn resolve_strided_slice(
    input_shape: &[usize],
    p: &StridedSliceParams<'_>,
) -> Result<SlicePlan, KernelError> {
    let n = p.begin.len();
    if p.end.len() != n || p.strides.len() != n {
        return Err(KernelError::Shape(format!(
            "strided_slice: begin/end/strides have {}/{}/{} entries",
            n,
            p.end.len(),
            p.strides.len()
        )));
    }
    let used = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    let bit = |mask: u32, i: usize| i < 32 && (mask >> i) & 1 == 1;
    let ellipsis_count = (p.ellipsis_mask & used).count_ones();
    if ellipsis_count > 1 {
        return Err(KernelError::Param(
            "strided_slice: more than one ellipsis".into(),
        ));
    }
    let new_axes = (0..n)
        .filter(|&i| bit(p.new_axis_mask, i) && !bit(p.ellipsis_mask, i))
        .count();
    let real = n - new_axes - ellipsis_count as usize;
    let rank = input_shape.len();
    if real > rank {
        return Err(KernelError::Shape(format!(
            "strided_slice: {real} indexed dimensions for a rank-{rank} input"
        )));
    }

    // Expand the spec into one entry per effective dimension.
    let mut entries = Vec::with_capacity(rank + new_axes);
    for i in 0..n {
        if bit(p.ellipsis_mask, i) {
            entries.extend((0..rank - real).map(|_| Entry::Full));
        } else if bit(p.new_axis_mask, i) {
            entries.push(Entry::NewAxis);
        } else {
            entries.push(Entry::Spec(i));
        }
    }
    let named = entries
        .iter()
        .filter(|e| !matches!(e, Entry::NewAxis))
        .count();
    entries.extend((named..rank).map(|_| Entry::Full));

    let mut output_shape = Vec::with_capacity(entries.len());
    let mut axes = Vec::with_capacity(rank);
    let mut dims = input_shape.iter();
    for entry in entries {
        let i = match entry {
            Entry::NewAxis => {
                output_shape.push(1);
                continue;
            }
            Entry::Full => {
                let &dim = dims.next().expect("entries cover exactly `rank` dims");
                output_shape.push(dim);
                axes.push(SliceAxis {
                    start: 0,
                    step: 1,
                    len: dim,
                });
                continue;
            }
            Entry::Spec(i) => i,
        };
        let &dim = dims.next().expect("entries cover exactly `rank` dims");
        let axis = resolve_axis(
            dim,
            p.begin[i],
            p.end[i],
            p.strides[i],
            bit(p.begin_mask, i),
            bit(p.end_mask, i),
            bit(p.shrink_axis_mask, i),
            p.offset,
        )?;
        if !bit(p.shrink_axis_mask, i) {
            output_shape.push(axis.len);
        }
        axes.push(axis);
    }
    Ok(SlicePlan { output_shape, axes })
}

/// Resolves one explicit strided-slice axis of size `dim` (see [`resolve_strided_slice`]).
#[allow(clippy::too_many_arguments)]
fn resolve_axis(
    dim: usize,
    begin: i64,
    end: i64,
    stride: i64,
    begin_masked: bool,
    end_masked: bool,
    shrink: bool,
    offset: bool,
) -> Result<SliceAxis, KernelError> {
    if stride == 0 {
        return Err(KernelError::Param("strided_slice: stride is 0".into()));
    }
    let size = dim as i64;
    if shrink {
        // TFLite takes the element at the resolved begin; TensorFlow requires it to exist and the
        // stride to be positive (TFLite would copy nothing for negative strides).
        let index = if begin_masked {
            0
        } else if begin < 0 {
            begin + size
        } else {
            begin
        };
        if stride < 0 || !(0..size).contains(&index) {
            return Err(KernelError::Param(format!(
                "strided_slice: shrink index {begin} (stride {stride}) invalid for dimension {dim}"
            )));
        }
        return Ok(SliceAxis {
            start: index as usize,
            step: 1,
            len: 1,
        });
    }
    // Clamping range: [0, size] going forwards, [-1, size - 1] going backwards.
    let (lo, hi) = if stride > 0 {
        (0, size)
    } else {
        (-1, size - 1)
    };
    let wrap_clamp = |v: i64| (if v < 0 { v + size } else { v }).clamp(lo, hi);
    let start = if begin_masked {
        if stride > 0 {
            0
        } else {
            size - 1
        }
    } else {
        wrap_clamp(begin)
    };
    let stop = if end_masked {
        if stride > 0 {
            size
        } else {
            -1
        }
    } else if offset {
        wrap_clamp(end + start)
    } else {
        wrap_clamp(end)
    };
    let len = ceil_div(stop - start, stride).max(0);
    if offset && len != ceil_div(end, stride).max(0) {
        return Err(KernelError::Param(format!(
            "strided_slice: offset range {start}+{end} exceeds dimension {dim}"
        )));
    }
    Ok(SliceAxis {
        start: if len == 0 { 0 } else { start as usize },
        step: stride as isize,
        len: len as usize,
    })
}

/// `ceil(a / b)` for non-zero `b`, exact in integers.
fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if a % b != 0 && ((a < 0) == (b < 0)) {
        q + 1
    } else {
        q
    }
}

/// SLICE / STRIDED_SLICE kernel: copies the view described by `plan` (built for `input_shape`).
pub fn slice<T: Copy>(input: &[T], input_shape: &[usize], plan: &SlicePlan, output: &mut [T]) {
    let in_strides = row_major_strides(input_shape);
    let base = plan
        .axes
        .iter()
        .zip(&in_strides)
        .map(|(a, s)| a.start * s)
        .sum();
    let shape: Vec<usize> = plan.axes.iter().map(|a| a.len).collect();
    let strides: Vec<isize> = plan
        .axes
        .iter()
        .zip(&in_strides)
        .map(|(a, &s)| a.step * s as isize)
        .collect();
    copy_strided(input, base, &shape, &strides, output);
}

#[cfg(test)]
mod tests;
