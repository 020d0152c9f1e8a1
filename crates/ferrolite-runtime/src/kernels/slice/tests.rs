//! Tests for SLICE / STRIDED_SLICE: a hand-derived numpy-style table and a randomized comparison
//! against an independent Python-slice reference.

use super::*;

fn iota(n: usize) -> Vec<i32> {
    (0..n as i32).collect()
}

fn run(shape: &[usize], p: &StridedSliceParams<'_>) -> (Vec<usize>, Vec<i32>) {
    let n: usize = shape.iter().product();
    let plan = resolve_strided_slice(shape, p).unwrap();
    let mut out = vec![-1; plan.output_shape.iter().product()];
    slice(&iota(n), shape, &plan, &mut out);
    (plan.output_shape, out)
}

#[test]
fn slice_with_minus_one_size() {
    // x = arange(12).reshape(3, 4); x[1:, 1:3]
    let plan = resolve_slice(&[3, 4], &[1, 1], &[-1, 2]).unwrap();
    assert_eq!(plan.output_shape, vec![2, 2]);
    let mut out = [0; 4];
    slice(&iota(12), &[3, 4], &plan, &mut out);
    assert_eq!(out, [5, 6, 9, 10]);
    assert!(resolve_slice(&[3, 4], &[2, 0], &[2, 4]).is_err());
    assert!(resolve_slice(&[3, 4], &[0, 0], &[-2, 4]).is_err());
    assert!(resolve_slice(&[3, 4], &[-1, 0], &[1, 4]).is_err());
    assert!(resolve_slice(&[3, 4], &[0], &[1]).is_err());
    assert_eq!(
        resolve_slice(&[3, 4], &[3, 0], &[-1, 4])
            .unwrap()
            .output_shape,
        vec![0, 4]
    );
}

/// One numpy-style case: spec, masks, expected shape and values (derived by hand on
/// `arange(prod(shape)).reshape(shape)`).
struct Case {
    what: &'static str,
    shape: &'static [usize],
    begin: &'static [i64],
    end: &'static [i64],
    strides: &'static [i64],
    masks: [u32; 5], // begin, end, ellipsis, new_axis, shrink
    offset: bool,
    out_shape: &'static [usize],
    out: &'static [i32],
}

const CASES: &[Case] = &[
    Case {
        what: "x[1:4] on arange(6)",
        shape: &[6],
        begin: &[1],
        end: &[4],
        strides: &[1],
        masks: [0; 5],
        offset: false,
        out_shape: &[3],
        out: &[1, 2, 3],
    },
    Case {
        what: "x[::-1]",
        shape: &[5],
        begin: &[0],
        end: &[0],
        strides: &[-1],
        masks: [1, 1, 0, 0, 0],
        offset: false,
        out_shape: &[5],
        out: &[4, 3, 2, 1, 0],
    },
    Case {
        what: "x[-2:-6:-2] on arange(6) → 4, 2",
        shape: &[6],
        begin: &[-2],
        end: &[-6],
        strides: &[-2],
        masks: [0; 5],
        offset: false,
        out_shape: &[2],
        out: &[4, 2],
    },
    Case {
        what: "x[10:-10:-3] clamps begin to 5, end to -1 → 5, 2",
        shape: &[6],
        begin: &[10],
        end: &[-10],
        strides: &[-3],
        masks: [0; 5],
        offset: false,
        out_shape: &[2],
        out: &[5, 2],
    },
    Case {
        what: "x[-100:100:2] clamps to the whole axis",
        shape: &[5],
        begin: &[-100],
        end: &[100],
        strides: &[2],
        masks: [0; 5],
        offset: false,
        out_shape: &[3],
        out: &[0, 2, 4],
    },
    Case {
        what: "x[4:1] is empty",
        shape: &[6],
        begin: &[4],
        end: &[1],
        strides: &[1],
        masks: [0; 5],
        offset: false,
        out_shape: &[0],
        out: &[],
    },
    Case {
        what: "x[1, :] on (3,4) shrinks axis 0",
        shape: &[3, 4],
        begin: &[1, 0],
        end: &[2, 0],
        strides: &[1, 1],
        masks: [0b10, 0b10, 0, 0, 0b01],
        offset: false,
        out_shape: &[4],
        out: &[4, 5, 6, 7],
    },
    Case {
        what: "x[:, -1] on (3,4) shrinks axis 1 with a negative index",
        shape: &[3, 4],
        begin: &[0, -1],
        end: &[0, 0],
        strides: &[1, 1],
        masks: [0b01, 0b01, 0, 0, 0b10],
        offset: false,
        out_shape: &[3],
        out: &[3, 7, 11],
    },
    Case {
        what: "x[1, 2] on (3,4) gives a scalar",
        shape: &[3, 4],
        begin: &[1, 2],
        end: &[2, 3],
        strides: &[1, 1],
        masks: [0, 0, 0, 0, 0b11],
        offset: false,
        out_shape: &[],
        out: &[6],
    },
    Case {
        what: "x[..., 1] on (2,2,3) (ellipsis covers two dims)",
        shape: &[2, 2, 3],
        begin: &[0, 1],
        end: &[0, 2],
        strides: &[1, 1],
        masks: [0, 0, 0b01, 0, 0b10],
        offset: false,
        out_shape: &[2, 2],
        out: &[1, 4, 7, 10],
    },
    Case {
        what: "x[1, ..., ::-2] on (2,2,3)",
        shape: &[2, 2, 3],
        begin: &[1, 0, 0],
        end: &[2, 0, 0],
        strides: &[1, 1, -2],
        masks: [0b100, 0b100, 0b010, 0, 0b001],
        offset: false,
        out_shape: &[2, 2],
        out: &[8, 6, 11, 9],
    },
    Case {
        what: "x[:, None, 1:] on (2,3) inserts an axis",
        shape: &[2, 3],
        begin: &[0, 0, 1],
        end: &[0, 0, 3],
        strides: &[1, 1, 1],
        masks: [0b001, 0b001, 0, 0b010, 0],
        offset: false,
        out_shape: &[2, 1, 2],
        out: &[1, 2, 4, 5],
    },
    Case {
        what: "x[None, ..., 0] on (2,3)",
        shape: &[2, 3],
        begin: &[0, 0, 0],
        end: &[0, 0, 1],
        strides: &[1, 1, 1],
        masks: [0, 0, 0b010, 0b001, 0b100],
        offset: false,
        out_shape: &[1, 2],
        out: &[0, 3],
    },
    Case {
        what: "x[1:] on (3,2) leaves trailing dims whole",
        shape: &[3, 2],
        begin: &[1],
        end: &[3],
        strides: &[1],
        masks: [0; 5],
        offset: false,
        out_shape: &[2, 2],
        out: &[2, 3, 4, 5],
    },
    Case {
        what: "x[::-1, 1::2] on (2,4)",
        shape: &[2, 4],
        begin: &[0, 1],
        end: &[0, 0],
        strides: &[-1, 2],
        masks: [0b01, 0b11, 0, 0, 0],
        offset: false,
        out_shape: &[2, 2],
        out: &[5, 7, 1, 3],
    },
    Case {
        what: "offset: begin 1, size 3 on arange(6)",
        shape: &[6],
        begin: &[1],
        end: &[3],
        strides: &[1],
        masks: [0; 5],
        offset: true,
        out_shape: &[3],
        out: &[1, 2, 3],
    },
    Case {
        what: "offset: begin 4, size -3, stride -1 → 4, 3, 2",
        shape: &[6],
        begin: &[4],
        end: &[-3],
        strides: &[-1],
        masks: [0; 5],
        offset: true,
        out_shape: &[3],
        out: &[4, 3, 2],
    },
    Case {
        what: "x[5:2:-1] on arange(6)",
        shape: &[6],
        begin: &[5],
        end: &[2],
        strides: &[-1],
        masks: [0; 5],
        offset: false,
        out_shape: &[3],
        out: &[5, 4, 3],
    },
];

#[test]
fn strided_slice_table() {
    for c in CASES {
        let [begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_axis_mask] = c.masks;
        let p = StridedSliceParams {
            begin: c.begin,
            end: c.end,
            strides: c.strides,
            begin_mask,
            end_mask,
            ellipsis_mask,
            new_axis_mask,
            shrink_axis_mask,
            offset: c.offset,
        };
        let (shape, out) = run(c.shape, &p);
        assert_eq!(shape, c.out_shape, "{}", c.what);
        assert_eq!(out, c.out, "{}", c.what);
    }
}

/// Python's `slice(b, e, s).indices(n)` expansion, written independently as the reference.
fn python_indices(n: i64, b: Option<i64>, e: Option<i64>, s: i64) -> Vec<i64> {
    let fix = |v: i64, lo: i64, hi: i64| (if v < 0 { v + n } else { v }).clamp(lo, hi);
    let (lo, hi) = if s > 0 { (0, n) } else { (-1, n - 1) };
    let b = b.map_or(if s > 0 { 0 } else { n - 1 }, |v| fix(v, lo, hi));
    let e = e.map_or(if s > 0 { n } else { -1 }, |v| fix(v, lo, hi));
    let mut out = Vec::new();
    let mut i = b;
    while (s > 0 && i < e) || (s < 0 && i > e) {
        out.push(i);
        i += s;
    }
    out
}

#[test]
fn strided_slice_matches_python_slices() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = |m: i64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m as u64) as i64
    };
    let shape = [4usize, 5, 3];
    let input = iota(60);
    for _ in 0..500 {
        let mut begin = [0i64; 3];
        let mut end = [0i64; 3];
        let mut strides = [0i64; 3];
        let (mut bm, mut em) = (0u32, 0u32);
        let mut lists = Vec::new();
        for d in 0..3 {
            begin[d] = next(15) - 7;
            end[d] = next(15) - 7;
            strides[d] = [-3, -2, -1, 1, 2, 3][next(6) as usize];
            bm |= (next(4) == 0) as u32 * (1 << d);
            em |= (next(4) == 0) as u32 * (1 << d);
            let b = (bm >> d & 1 == 0).then_some(begin[d]);
            let e = (em >> d & 1 == 0).then_some(end[d]);
            lists.push(python_indices(shape[d] as i64, b, e, strides[d]));
        }
        let p = StridedSliceParams {
            begin: &begin,
            end: &end,
            strides: &strides,
            begin_mask: bm,
            end_mask: em,
            ..Default::default()
        };
        let (out_shape, out) = run(&shape, &p);
        let lens: Vec<usize> = lists.iter().map(Vec::len).collect();
        assert_eq!(out_shape, lens, "{p:?}");
        let mut expect = Vec::new();
        for &i in &lists[0] {
            for &j in &lists[1] {
                for &k in &lists[2] {
                    expect.push(input[(i * 15 + j * 3 + k) as usize]);
                }
            }
        }
        assert_eq!(out, expect, "{p:?}");
    }
}

#[test]
fn strided_slice_errors() {
    let base = StridedSliceParams {
        begin: &[0],
        end: &[1],
        strides: &[1],
        ..Default::default()
    };
    let zero_stride = StridedSliceParams {
        strides: &[0],
        ..base
    };
    assert!(resolve_strided_slice(&[4], &zero_stride).is_err());
    let shrink_oob = StridedSliceParams {
        begin: &[4],
        shrink_axis_mask: 1,
        ..base
    };
    assert!(resolve_strided_slice(&[4], &shrink_oob).is_err());
    let shrink_neg_stride = StridedSliceParams {
        strides: &[-1],
        shrink_axis_mask: 1,
        ..base
    };
    assert!(resolve_strided_slice(&[4], &shrink_neg_stride).is_err());
    let too_many = StridedSliceParams {
        begin: &[0, 0],
        end: &[1, 1],
        strides: &[1, 1],
        ..base
    };
    assert!(resolve_strided_slice(&[4], &too_many).is_err());
    let two_ellipses = StridedSliceParams {
        ellipsis_mask: 0b11,
        ..too_many
    };
    assert!(resolve_strided_slice(&[4, 4], &two_ellipses).is_err());
    let ragged = StridedSliceParams {
        end: &[1, 1],
        ..base
    };
    assert!(resolve_strided_slice(&[4], &ragged).is_err());
    let offset_past_end = StridedSliceParams {
        begin: &[2],
        end: &[3],
        offset: true,
        ..base
    };
    assert!(resolve_strided_slice(&[4], &offset_past_end).is_err());
}

#[test]
fn zero_sized_dims_resolve_to_empty() {
    let p = StridedSliceParams {
        begin: &[0, 0],
        end: &[0, 2],
        strides: &[-1, 1],
        begin_mask: 1,
        end_mask: 1,
        ..Default::default()
    };
    let plan = resolve_strided_slice(&[0, 3], &p).unwrap();
    assert_eq!(plan.output_shape, vec![0, 2]);
    let mut out: [i32; 0] = [];
    slice(&[], &[0, 3], &plan, &mut out);
}

#[test]
fn empty_ellipsis_covers_nothing() {
    // x[..., 1, 2] on (3, 4): the ellipsis expands to zero dimensions, as in TensorFlow.
    let p = StridedSliceParams {
        begin: &[0, 1, 2],
        end: &[0, 2, 3],
        strides: &[1, 1, 1],
        ellipsis_mask: 1,
        shrink_axis_mask: 0b110,
        ..Default::default()
    };
    let (shape, out) = run(&[3, 4], &p);
    assert_eq!(shape, Vec::<usize>::new());
    assert_eq!(out, vec![6]);
}
