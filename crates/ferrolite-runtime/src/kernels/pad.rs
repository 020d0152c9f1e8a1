//! PAD, PADV2 (constant padding) and MIRROR_PAD (REFLECT and SYMMETRIC).
//!
//! The paddings operand (`[rank, 2]`, i32 or i64 in TFLite) is validated once by [`resolve_pad`] or
//! [`resolve_mirror_pad`], which return a [`PadPlan`]; the kernels are generic over `T: Copy` and
//! assume the plan was built for `input_shape`. For quantized PAD without an explicit constant the
//! caller passes the output zero point as the pad value, as TFLite does.

use super::common::{dim_from_i64, row_major_strides, KernelError};

/// TFLite's `MirrorPadMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorPadMode {
    /// Mirror without repeating the edge: `[1,2,3]` padded by 2 → `3 2 | 1 2 3 | 2 1`.
    Reflect,
    /// Mirror including the edge: `[1,2,3]` padded by 2 → `2 1 | 1 2 3 | 3 2`.
    Symmetric,
}

/// Validated paddings (`[before, after]` per dimension) and the padded output shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PadPlan {
    /// `[before, after]` element counts for every input dimension.
    pub paddings: Vec<[usize; 2]>,
    /// `input[d] + before[d] + after[d]`.
    pub output_shape: Vec<usize>,
}

/// Resolves PAD / PADV2 paddings: one `[before, after]` pair per dimension, all non-negative.
pub fn resolve_pad(input_shape: &[usize], paddings: &[[i64; 2]]) -> Result<PadPlan, KernelError> {
    if paddings.len() != input_shape.len() {
        return Err(KernelError::Shape(format!(
            "pad: {} padding pairs for a rank-{} input",
            paddings.len(),
            input_shape.len()
        )));
    }
    let mut pads = Vec::with_capacity(paddings.len());
    let mut output_shape = Vec::with_capacity(paddings.len());
    for (&dim, &[before, after]) in input_shape.iter().zip(paddings) {
        let before = dim_from_i64(before, "padding")?;
        let after = dim_from_i64(after, "padding")?;
        let out = dim
            .checked_add(before)
            .and_then(|v| v.checked_add(after))
            .ok_or_else(|| KernelError::Shape("pad: output dimension overflows".into()))?;
        pads.push([before, after]);
        output_shape.push(out);
    }
    Ok(PadPlan {
        paddings: pads,
        output_shape,
    })
}

/// Resolves MIRROR_PAD paddings: like [`resolve_pad`], and each pad may be at most `dim - 1`
/// (REFLECT) or `dim` (SYMMETRIC), TensorFlow's limits (TFLite reads out of bounds beyond them).
pub fn resolve_mirror_pad(
    input_shape: &[usize],
    paddings: &[[i64; 2]],
    mode: MirrorPadMode,
) -> Result<PadPlan, KernelError> {
    let plan = resolve_pad(input_shape, paddings)?;
    for (&dim, &[before, after]) in input_shape.iter().zip(&plan.paddings) {
        let limit = match mode {
            MirrorPadMode::Reflect => dim.saturating_sub(1),
            MirrorPadMode::Symmetric => dim,
        };
        if before > limit || after > limit {
            return Err(KernelError::Param(format!(
                "mirror_pad: paddings [{before}, {after}] exceed {limit} for dimension {dim} ({mode:?})"
            )));
        }
    }
    Ok(plan)
}

/// PAD / PADV2: surrounds `input` with `value` as described by `plan`.
pub fn pad<T: Copy>(
    input: &[T],
    input_shape: &[usize],
    plan: &PadPlan,
    value: T,
    output: &mut [T],
) {
    output.fill(value);
    if input.is_empty() {
        return;
    }
    if input_shape.is_empty() {
        output[0] = input[0];
        return;
    }
    let ctx = PadCtx {
        in_shape: input_shape,
        in_strides: row_major_strides(input_shape),
        out_strides: row_major_strides(&plan.output_shape),
        pads: &plan.paddings,
    };
    ctx.place(input, output, 0, 0, 0);
}

/// Shape and stride bookkeeping for the recursive constant-pad copy.
struct PadCtx<'a> {
    in_shape: &'a [usize],
    in_strides: Vec<usize>,
    out_strides: Vec<usize>,
    pads: &'a [[usize; 2]],
}

impl PadCtx<'_> {
    /// Copies the input block at dimension `d` into its padded position.
    fn place<T: Copy>(
        &self,
        input: &[T],
        output: &mut [T],
        d: usize,
        in_off: usize,
        out_off: usize,
    ) {
        let n = self.in_shape[d];
        let out_off = out_off + self.pads[d][0] * self.out_strides[d];
        if d + 1 == self.in_shape.len() {
            output[out_off..out_off + n].copy_from_slice(&input[in_off..in_off + n]);
            return;
        }
        for i in 0..n {
            self.place(
                input,
                output,
                d + 1,
                in_off + i * self.in_strides[d],
                out_off + i * self.out_strides[d],
            );
        }
    }
}

/// For one dimension, the input index each output position reads under `mode`.
fn mirror_map(n: usize, [before, after]: [usize; 2], mode: MirrorPadMode) -> Vec<usize> {
    let shift = usize::from(mode == MirrorPadMode::Symmetric);
    let left = (1..=before).rev().map(|k| k - shift);
    let right = (1..=after).map(|k| n + shift - 1 - k);
    left.chain(0..n).chain(right).collect()
}

/// MIRROR_PAD: pads by mirroring the input at each border (`plan` from [`resolve_mirror_pad`]).
pub fn mirror_pad<T: Copy>(
    input: &[T],
    input_shape: &[usize],
    plan: &PadPlan,
    mode: MirrorPadMode,
    output: &mut [T],
) {
    if output.is_empty() {
        return;
    }
    if input_shape.is_empty() {
        output[0] = input[0];
        return;
    }
    let maps: Vec<Vec<usize>> = input_shape
        .iter()
        .zip(&plan.paddings)
        .map(|(&n, &p)| mirror_map(n, p, mode))
        .collect();
    let in_strides = row_major_strides(input_shape);
    let out_strides = row_major_strides(&plan.output_shape);
    mirror_rec(input, output, &maps, &in_strides, &out_strides, 0, 0, 0);
}

/// Writes output positions of dimension `d` and below, reading through the per-dimension maps.
#[allow(clippy::too_many_arguments)]
fn mirror_rec<T: Copy>(
    input: &[T],
    output: &mut [T],
    maps: &[Vec<usize>],
    in_strides: &[usize],
    out_strides: &[usize],
    d: usize,
    in_off: usize,
    out_off: usize,
) {
    let last = d + 1 == maps.len();
    for (o, &i) in maps[d].iter().enumerate() {
        let (src, dst) = (in_off + i * in_strides[d], out_off + o * out_strides[d]);
        if last {
            output[dst] = input[src];
        } else {
            mirror_rec(
                input,
                output,
                maps,
                in_strides,
                out_strides,
                d + 1,
                src,
                dst,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_pad_2d_by_hand() {
        // [[1,2],[3,4]] padded [[1,0],[0,2]] with 9.
        let plan = resolve_pad(&[2, 2], &[[1, 0], [0, 2]]).unwrap();
        assert_eq!(plan.output_shape, vec![3, 4]);
        let mut out = [0; 12];
        pad(&[1, 2, 3, 4], &[2, 2], &plan, 9, &mut out);
        assert_eq!(out, [9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9]);
    }

    #[test]
    fn constant_pad_matches_naive_3d() {
        let shape = [2, 1, 3];
        let pads = [[1, 1], [2, 0], [0, 1]];
        let plan = resolve_pad(&shape, &pads).unwrap();
        assert_eq!(plan.output_shape, vec![4, 3, 4]);
        let input: Vec<i32> = (1..=6).collect();
        let mut out = vec![0; 48];
        pad(&input, &shape, &plan, -1, &mut out);
        for a in 0..4 {
            for b in 0..3 {
                for c in 0..4 {
                    let (ia, ib, ic) = (a as i64 - 1, b as i64 - 2, c as i64);
                    let inside = (0..2).contains(&ia) && ib == 0 && (0..3).contains(&ic);
                    let expect = if inside {
                        input[(ia * 3 + ic) as usize]
                    } else {
                        -1
                    };
                    assert_eq!(out[a * 12 + b * 4 + c], expect);
                }
            }
        }
        assert!(resolve_pad(&shape, &[[1, 1], [2, 0]]).is_err());
        assert!(resolve_pad(&shape, &[[1, 1], [-1, 0], [0, 0]]).is_err());
    }

    #[test]
    fn mirror_pad_1d_both_modes() {
        let input = [1, 2, 3];
        let plan = resolve_mirror_pad(&[3], &[[2, 2]], MirrorPadMode::Reflect).unwrap();
        let mut out = [0; 7];
        mirror_pad(&input, &[3], &plan, MirrorPadMode::Reflect, &mut out);
        assert_eq!(out, [3, 2, 1, 2, 3, 2, 1]);
        let plan = resolve_mirror_pad(&[3], &[[3, 2]], MirrorPadMode::Symmetric).unwrap();
        let mut out = [0; 8];
        mirror_pad(&input, &[3], &plan, MirrorPadMode::Symmetric, &mut out);
        assert_eq!(out, [3, 2, 1, 1, 2, 3, 3, 2]);
        assert!(resolve_mirror_pad(&[3], &[[3, 0]], MirrorPadMode::Reflect).is_err());
        assert!(resolve_mirror_pad(&[3], &[[0, 4]], MirrorPadMode::Symmetric).is_err());
    }

    #[test]
    fn mirror_pad_2d_both_modes() {
        // [[1,2,3],[4,5,6]] padded [[1,1],[2,2]].
        let input = [1, 2, 3, 4, 5, 6];
        let plan = resolve_mirror_pad(&[2, 3], &[[1, 1], [2, 2]], MirrorPadMode::Reflect).unwrap();
        assert_eq!(plan.output_shape, vec![4, 7]);
        let mut out = [0; 28];
        mirror_pad(&input, &[2, 3], &plan, MirrorPadMode::Reflect, &mut out);
        #[rustfmt::skip]
        assert_eq!(out, [
            6, 5, 4, 5, 6, 5, 4,
            3, 2, 1, 2, 3, 2, 1,
            6, 5, 4, 5, 6, 5, 4,
            3, 2, 1, 2, 3, 2, 1,
        ]);
        let plan =
            resolve_mirror_pad(&[2, 3], &[[1, 1], [2, 2]], MirrorPadMode::Symmetric).unwrap();
        let mut out = [0; 28];
        mirror_pad(&input, &[2, 3], &plan, MirrorPadMode::Symmetric, &mut out);
        #[rustfmt::skip]
        assert_eq!(out, [
            2, 1, 1, 2, 3, 3, 2,
            2, 1, 1, 2, 3, 3, 2,
            5, 4, 4, 5, 6, 6, 5,
            5, 4, 4, 5, 6, 6, 5,
        ]);
    }
}
