//! Helpers shared by kernels: TFLite padding arithmetic, fused activations and the kernel error type.

/// Why a kernel refused its operands (found when shapes or parameters are resolved at allocate time).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// Operand shapes are incompatible or out of range.
    #[error("shape error: {0}")]
    Shape(String),
    /// A parameter (axis, index, option) is out of range.
    #[error("invalid parameter: {0}")]
    Param(String),
}

/// TFLite's two padding schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output = ceil(in / stride); the total padding is split with the extra cell at the end.
    Same,
    /// No padding: output = ceil((in - effective_filter + 1) / stride).
    Valid,
}

/// A fused activation applied to a kernel's output (TFLite's `ActivationFunctionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Identity.
    None,
    /// max(x, 0).
    Relu,
    /// clamp(x, -1, 1).
    ReluN1To1,
    /// clamp(x, 0, 6).
    Relu6,
    /// tanh(x).
    Tanh,
    /// x >= 0 ? x : 0 with a sign bit (rarely used by converters).
    SignBit,
}

/// The `[min, max]` clamp TFLite's float kernels derive from a fused activation.
///
/// This mirrors TFLite's `CalculateActivationRange`, which conv, depthwise conv, transpose conv,
/// fully connected, pooling and the float arithmetic ops use: only the ReLU family clamps, while
/// `Tanh` and `SignBit` map to the unbounded range (TFLite silently ignores them there). Pair with
/// [`clamp_activation`].
pub fn activation_range(activation: Activation) -> (f32, f32) {
    match activation {
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
        Activation::None | Activation::Tanh | Activation::SignBit => (f32::MIN, f32::MAX),
    }
}

/// Clamps `x` to `[min, max]` the way TFLite's `ActivationFunctionWithMinMax` does.
///
/// Unlike `f32::clamp`/`f32::max` a NaN input passes through unchanged, as it does in C++'s
/// `std::min(std::max(x, min), max)`; infinities are clamped to the (finite) range ends.
#[inline]
pub fn clamp_activation(x: f32, min: f32, max: f32) -> f32 {
    if x < min {
        min
    } else if x > max {
        max
    } else {
        x
    }
}

/// Adds the dot product of `a` and `b` to `acc`, one product at a time in index order.
///
/// This is the inner loop of the conv / fully-connected / matmul reference kernels and the hook
/// where a SIMD version can be dropped in (which would reassociate the sum). Only the first
/// `min(a.len(), b.len())` elements take part.
#[inline]
pub fn dot_acc(acc: f32, a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(acc, |sum, (x, y)| sum + x * y)
}

/// Output size and leading pad for one spatial dimension, as TFLite computes them.
///
/// Returns `(out_size, pad_before)`. For SAME padding the total padding is
/// `max((out - 1) * stride + effective_filter - in, 0)` and the smaller half goes before.
pub fn compute_padding(
    padding: Padding,
    in_size: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> (usize, usize) {
    let effective = (filter - 1) * dilation + 1;
    match padding {
        Padding::Same => {
            let out = in_size.div_ceil(stride);
            let needed = ((out.saturating_sub(1)) * stride + effective).saturating_sub(in_size);
            (out, needed / 2)
        }
        Padding::Valid => {
            let out = if in_size + 1 > effective {
                (in_size + 1 - effective).div_ceil(stride)
            } else {
                0
            };
            (out, 0)
        }
    }
}

/// Resolves a possibly negative `axis` against `rank` (TFLite's `axis < 0 ? axis + rank : axis`).
///
/// Errors unless the result lies in `0..rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, KernelError> {
    let rank_i = rank as i64;
    let resolved = if axis < 0 { axis + rank_i } else { axis };
    if (0..rank_i).contains(&resolved) {
        Ok(resolved as usize)
    } else {
        Err(KernelError::Param(format!(
            "axis {axis} out of range for rank {rank}"
        )))
    }
}

/// Row-major element strides of `shape` (the last dimension has stride 1).
pub fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Copies a strided view of `input` into `output` in row-major order of `shape`.
///
/// Element `idx` of the view is `input[base + Σ idx[d] * strides[d]]`; strides may be negative
/// (reversed views) or zero (broadcasts). `output.len()` must equal the product of `shape` and every
/// addressed position must lie inside `input` — callers resolve these at allocate time, so a
/// violation is a caller bug and panics.
pub fn copy_strided<T: Copy>(
    input: &[T],
    base: usize,
    shape: &[usize],
    strides: &[isize],
    output: &mut [T],
) {
    let total: usize = shape.iter().product();
    debug_assert_eq!(output.len(), total);
    debug_assert_eq!(shape.len(), strides.len());
    if total == 0 {
        return;
    }
    let Some((&inner, outer_shape)) = shape.split_last() else {
        output[0] = input[base];
        return;
    };
    let inner_stride = strides[shape.len() - 1];
    let mut idx = vec![0usize; outer_shape.len()];
    let mut offset = base as isize;
    for row in output.chunks_exact_mut(inner) {
        let mut p = offset;
        for o in row.iter_mut() {
            *o = input[p as usize];
            p += inner_stride;
        }
        // Advance the odometer over the outer dimensions.
        for d in (0..outer_shape.len()).rev() {
            idx[d] += 1;
            offset += strides[d];
            if idx[d] < outer_shape[d] {
                break;
            }
            offset -= strides[d] * outer_shape[d] as isize;
            idx[d] = 0;
        }
    }
}

/// Converts a dimension value read from a tensor (e.g. an i32/i64 shape operand) to `usize`,
/// rejecting negatives; `what` names the operand in the error message.
pub fn dim_from_i64(value: i64, what: &str) -> Result<usize, KernelError> {
    usize::try_from(value)
        .map_err(|_| KernelError::Shape(format!("{what} must be non-negative, got {value}")))
}

/// Deterministic pseudo-random values in [-1, 1) (64-bit LCG), shared by the kernels' unit tests.
#[cfg(test)]
pub(crate) fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_splits_extra_cell_after() {
        // in 5, filter 3, stride 2 → out 3, total pad 2 → 1 before.
        assert_eq!(compute_padding(Padding::Same, 5, 3, 2, 1), (3, 1));
        // in 4, filter 3, stride 2 → out 2, total pad 1 → 0 before, 1 after.
        assert_eq!(compute_padding(Padding::Same, 4, 3, 2, 1), (2, 0));
    }

    #[test]
    fn valid_padding_uses_effective_filter() {
        assert_eq!(compute_padding(Padding::Valid, 7, 3, 1, 2), (3, 0));
        assert_eq!(compute_padding(Padding::Valid, 2, 3, 1, 1), (0, 0));
    }
}
