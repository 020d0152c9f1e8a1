//! Shape arithmetic shared by constant folding and lowering: numpy broadcasting, TF's
//! `StridedSlice` semantics (masks, ellipsis, negative indices, clamping), axis normalization
//! and windowed-op output sizes. Dims are `i64` with `-1` for "unknown until run time".

/// The broadcast of two shapes, `None` when they are incompatible.
pub fn broadcast(a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let n = a.len().max(b.len());
    let at = |s: &[i64], i: usize| {
        let off = n - s.len();
        if i < off {
            1
        } else {
            s[i - off]
        }
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            (-1, y) | (y, -1) => Some(y),
            _ => None,
        })
        .collect()
}

/// `axis` (possibly negative) as an index into `rank` dims.
pub fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize)
}

/// Output extent of a windowed op (conv, pool) along one axis: `-1` stays unknown.
pub fn window_out(input: i64, kernel: i64, stride: i64, dilation: i64, same: bool) -> i64 {
    if input < 0 {
        return -1;
    }
    let eff = (kernel - 1) * dilation + 1;
    if same {
        (input + stride - 1) / stride
    } else {
        ((input - eff) / stride + 1).max(0)
    }
}

/// The operands and masks of a `StridedSlice`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SliceSpec {
    /// Begin indices.
    pub begin: Vec<i64>,
    /// End indices.
    pub end: Vec<i64>,
    /// Strides.
    pub strides: Vec<i64>,
    /// Bit i: ignore `begin[i]` (start at the first element in stride direction).
    pub begin_mask: i64,
    /// Bit i: ignore `end[i]` (run to the last element in stride direction).
    pub end_mask: i64,
    /// Bit i: entry i stands for as many full dims as needed.
    pub ellipsis_mask: i64,
    /// Bit i: entry i inserts a new dim of size 1.
    pub new_axis_mask: i64,
    /// Bit i: entry i takes the single index `begin[i]` and drops the dim.
    pub shrink_axis_mask: i64,
}

/// How one input dim is sliced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimSlice {
    /// First index (meaningful when the dim is known).
    pub start: i64,
    /// Step.
    pub step: i64,
    /// Number of elements taken; `-1` when the input dim is unknown.
    pub len: i64,
    /// True when the dim is dropped from the output (shrink).
    pub shrink: bool,
}

/// A `StridedSlice` resolved against an input shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlicePlan {
    /// One entry per input dim.
    pub dims: Vec<DimSlice>,
    /// Output shape, new axes included, shrunk dims dropped.
    pub out_shape: Vec<i64>,
    /// The equivalent spec with the ellipsis expanded and the new axes removed (one entry per
    /// input dim), which every TFLite STRIDED_SLICE kernel understands.
    pub dense: SliceSpec,
}

fn bit(mask: i64, i: usize) -> bool {
    i < 63 && (mask >> i) & 1 == 1
}

/// Resolves `spec` against `input` (dims may be `-1`); the error says what is wrong.
pub fn plan_slice(input: &[i64], spec: &SliceSpec) -> Result<SlicePlan, String> {
    let n = spec.begin.len();
    if spec.end.len() != n || spec.strides.len() != n {
        return Err(format!(
            "begin, end and strides have {}, {} and {} entries",
            n,
            spec.end.len(),
            spec.strides.len()
        ));
    }
    if (0..n).filter(|&i| bit(spec.ellipsis_mask, i)).count() > 1 {
        return Err("more than one ellipsis".into());
    }
    let real = (0..n)
        .filter(|&i| !bit(spec.ellipsis_mask, i) && !bit(spec.new_axis_mask, i))
        .count();
    if real > input.len() {
        return Err(format!(
            "{real} sliced dims for a rank-{} input",
            input.len()
        ));
    }
    let full = |d: i64| DimSlice {
        start: 0,
        step: 1,
        len: d,
        shrink: false,
    };
    let mut dims = Vec::with_capacity(input.len());
    let mut out_shape = Vec::new();
    let mut dense = SliceSpec::default();
    let push_dense =
        |dense: &mut SliceSpec, b: i64, e: i64, s: i64, bm: bool, em: bool, sh: bool| {
            let k = dense.begin.len();
            dense.begin.push(b);
            dense.end.push(e);
            dense.strides.push(s);
            dense.begin_mask |= i64::from(bm) << k;
            dense.end_mask |= i64::from(em) << k;
            dense.shrink_axis_mask |= i64::from(sh) << k;
        };
    for i in 0..n {
        if bit(spec.ellipsis_mask, i) {
            let cover = input.len() - real;
            for _ in 0..cover {
                let d = input[dims.len()];
                dims.push(full(d));
                out_shape.push(d);
                push_dense(&mut dense, 0, 0, 1, true, true, false);
            }
            continue;
        }
        if bit(spec.new_axis_mask, i) {
            out_shape.push(1);
            continue;
        }
        let d = input[dims.len()];
        let (b, e, s) = (spec.begin[i], spec.end[i], spec.strides[i]);
        if s == 0 {
            return Err(format!("stride {i} is zero"));
        }
        if bit(spec.shrink_axis_mask, i) {
            let idx = if b < 0 && d >= 0 { b + d } else { b };
            if idx < 0 || (d >= 0 && idx >= d) {
                return Err(format!("index {b} is out of range for a dim of size {d}"));
            }
            dims.push(DimSlice {
                start: idx,
                step: 1,
                len: 1,
                shrink: true,
            });
            push_dense(&mut dense, b, b.wrapping_add(1), 1, false, false, true);
            continue;
        }
        let (bm, em) = (bit(spec.begin_mask, i), bit(spec.end_mask, i));
        push_dense(&mut dense, b, e, s, bm, em, false);
        if d < 0 {
            dims.push(DimSlice {
                start: 0,
                step: s,
                len: -1,
                shrink: false,
            });
            out_shape.push(-1);
            continue;
        }
        let (lo, hi) = if s > 0 { (0, d) } else { (-1, d - 1) };
        let resolve = |v: i64| (if v < 0 { v + d } else { v }).clamp(lo, hi);
        let start = if bm {
            if s > 0 {
                0
            } else {
                d - 1
            }
        } else {
            resolve(b)
        };
        let stop = if em {
            if s > 0 {
                d
            } else {
                -1
            }
        } else {
            resolve(e)
        };
        let len = if s > 0 {
            ((stop - start + s - 1) / s).max(0)
        } else {
            ((start - stop + (-s) - 1) / (-s)).max(0)
        };
        dims.push(DimSlice {
            start,
            step: s,
            len,
            shrink: false,
        });
        out_shape.push(len);
    }
    // Implicit ellipsis at the end: remaining dims are taken whole.
    while dims.len() < input.len() {
        let d = input[dims.len()];
        dims.push(full(d));
        out_shape.push(d);
        push_dense(&mut dense, 0, 0, 1, true, true, false);
    }
    Ok(SlicePlan {
        dims,
        out_shape,
        dense,
    })
}

/// Row-major flat indices of the elements a plan selects from a tensor of shape `input`
/// (all dims known).
pub fn slice_indices(input: &[usize], plan: &SlicePlan) -> Vec<usize> {
    let mut idx = vec![0usize];
    for (d, s) in input.iter().zip(&plan.dims) {
        let picks: Vec<usize> = (0..s.len.max(0))
            .map(|k| (s.start + k * s.step) as usize)
            .collect();
        idx = idx
            .iter()
            .flat_map(|&base| picks.iter().map(move |&p| base * d + p))
            .collect();
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(b: &[i64], e: &[i64], s: &[i64]) -> SliceSpec {
        SliceSpec {
            begin: b.to_vec(),
            end: e.to_vec(),
            strides: s.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn broadcasting_and_windows() {
        assert_eq!(broadcast(&[-1, 4, 1], &[3]), Some(vec![-1, 4, 3]));
        assert_eq!(broadcast(&[2, 3], &[4, 3]), None);
        assert_eq!(window_out(8, 3, 2, 1, true), 4);
        assert_eq!(window_out(10, 3, 2, 1, false), 4);
        assert_eq!(window_out(-1, 3, 1, 1, false), -1);
        assert_eq!(norm_axis(-1, 4), Some(3));
        assert_eq!(norm_axis(4, 4), None);
    }

    #[test]
    fn strided_slice_follows_tf() {
        // x[0] of a shape vector: shrink.
        let mut s = spec(&[0], &[1], &[1]);
        s.shrink_axis_mask = 1;
        let p = plan_slice(&[4], &s).unwrap();
        assert_eq!(p.out_shape, Vec::<i64>::new());
        assert_eq!(slice_indices(&[4], &p), vec![0]);
        // x[1:] with unknown batch, then x[::-2].
        let mut s = spec(&[0, 1], &[0, 0], &[1, 1]);
        s.end_mask = 0b11;
        let p = plan_slice(&[-1, 6], &s).unwrap();
        assert_eq!(p.out_shape, vec![-1, 5]);
        let mut s = spec(&[0], &[0], &[-2]);
        s.begin_mask = 1;
        s.end_mask = 1;
        let p = plan_slice(&[5], &s).unwrap();
        assert_eq!(p.out_shape, vec![3]);
        assert_eq!(slice_indices(&[5], &p), vec![4, 2, 0]);
        // x[..., 1:3, tf.newaxis] on [2, 3, 4].
        let mut s = spec(&[0, 1, 0], &[0, 3, 0], &[1, 1, 1]);
        s.ellipsis_mask = 1;
        s.new_axis_mask = 4;
        let p = plan_slice(&[2, 3, 4], &s).unwrap();
        assert_eq!(p.out_shape, vec![2, 3, 2, 1]);
        assert_eq!(p.dense.begin.len(), 3);
        assert_eq!(p.dense.begin_mask, 0b011);
        // Negative and clamped bounds.
        let p = plan_slice(&[5], &spec(&[-3], &[100], &[1])).unwrap();
        assert_eq!(slice_indices(&[5], &p), vec![2, 3, 4]);
        let mut s = spec(&[7], &[8], &[1]);
        s.shrink_axis_mask = 1;
        assert!(plan_slice(&[5], &s).is_err());
        assert!(plan_slice(&[5], &spec(&[0], &[1], &[0])).is_err());
    }
}
