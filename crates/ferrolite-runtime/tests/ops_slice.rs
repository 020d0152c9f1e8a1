//! SLICE, STRIDED_SLICE, GATHER and GATHER_ND through the interpreter.

mod movement_support;

use ferrolite_model::tflite::{
    BuiltinOperator as B, BuiltinOptions as O, GatherOptions, StridedSliceOptions,
};
use ferrolite_model::DType;
use ferrolite_runtime::RuntimeError;
use movement_support::*;

/// 0..12 as a [3, 4] f32 input.
fn grid(g: &mut Graph) -> usize {
    let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
    g.input(DType::F32, &[3, 4], &data)
}

fn strided(
    begin: &[i32],
    end: &[i32],
    strides: &[i32],
    opts: StridedSliceOptions,
    out_shape: &[i32],
) -> (Graph, usize) {
    let mut g = Graph::new();
    let x = grid(&mut g);
    let n = begin.len() as i32;
    let b = g.constant(DType::I32, &[n], begin);
    let e = g.constant(DType::I32, &[n], end);
    let s = g.constant(DType::I32, &[n], strides);
    let y = single(
        &mut g,
        B::StridedSlice,
        Some(O::StridedSliceOptions(Box::new(opts))),
        &[x, b, e, s],
        DType::F32,
        out_shape,
    );
    (g, y)
}

#[test]
fn slice_with_size_minus_one() {
    let mut g = Graph::new();
    let x = grid(&mut g);
    let b = g.constant(DType::I32, &[2], &[1i32, 1]);
    let s = g.constant(DType::I32, &[2], &[2i32, -1]);
    let y = single(&mut g, B::Slice, None, &[x, b, s], DType::F32, &[2, 3]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![2, 3]);
    assert_eq!(get::<f32>(&it, y), [5.0, 6.0, 7.0, 9.0, 10.0, 11.0]);

    let mut g = Graph::new();
    let x = grid(&mut g);
    let b = g.constant(DType::I64, &[2], &[2i64, 1]);
    let s = g.constant(DType::I64, &[2], &[2i64, 1]);
    single(&mut g, B::Slice, None, &[x, b, s], DType::F32, &[2, 1]);
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn strided_slice_masks_and_negative_strides() {
    // x[::-1, 1::2]
    let opts = StridedSliceOptions {
        begin_mask: 1,
        end_mask: 3,
        ..Default::default()
    };
    let (g, y) = strided(&[0, 1], &[0, 0], &[-1, 2], opts, &[3, 2]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 2]);
    assert_eq!(get::<f32>(&it, y), [9.0, 11.0, 5.0, 7.0, 1.0, 3.0]);

    // x[1, -3:] (shrink the first axis).
    let opts = StridedSliceOptions {
        shrink_axis_mask: 1,
        end_mask: 2,
        ..Default::default()
    };
    let (g, y) = strided(&[1, -3], &[2, 0], &[1, 1], opts, &[3]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3]);
    assert_eq!(get::<f32>(&it, y), [5.0, 6.0, 7.0]);

    // x[..., None, 2] via ellipsis + new axis + shrink.
    let opts = StridedSliceOptions {
        ellipsis_mask: 1,
        new_axis_mask: 2,
        shrink_axis_mask: 4,
        ..Default::default()
    };
    let (g, y) = strided(&[0, 0, 2], &[0, 0, 3], &[1, 1, 1], opts, &[3, 1]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 1]);
    assert_eq!(get::<f32>(&it, y), [2.0, 6.0, 10.0]);

    // offset: end is relative to begin.
    let opts = StridedSliceOptions {
        offset: true,
        ..Default::default()
    };
    let (g, y) = strided(&[1, 1], &[2, 2], &[1, 1], opts, &[2, 2]);
    let it = g.run();
    assert_eq!(get::<f32>(&it, y), [5.0, 6.0, 9.0, 10.0]);

    // Zero stride is rejected at prepare.
    let (g, _) = strided(
        &[0, 0],
        &[1, 1],
        &[1, 0],
        StridedSliceOptions::default(),
        &[1, 1],
    );
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn gather_axis_and_batch_dims() {
    let mut g = Graph::new();
    let x = grid(&mut g);
    let idx = g.constant(DType::I64, &[2], &[3i64, 0]);
    let opts = GatherOptions {
        axis: 1,
        batch_dims: 0,
    };
    let y = single(
        &mut g,
        B::Gather,
        Some(O::GatherOptions(Box::new(opts))),
        &[x, idx],
        DType::F32,
        &[3, 2],
    );
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 2]);
    assert_eq!(get::<f32>(&it, y), [3.0, 0.0, 7.0, 4.0, 11.0, 8.0]);

    // Default axis 0 on int8 with int32 indices of shape [2, 1].
    let mut g = Graph::new();
    let x = g.input(DType::I8, &[3, 2], &[1i8, 2, 3, 4, 5, 6]);
    let idx = g.input(DType::I32, &[2, 1], &[2i32, 1]);
    let y = single(&mut g, B::Gather, None, &[x, idx], DType::I8, &[2, 1, 2]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![2, 1, 2]);
    assert_eq!(get::<i8>(&it, y), [5, 6, 3, 4]);

    // batch_dims 1: out[b, c] = x[b, idx[b, c]].
    let mut g = Graph::new();
    let x = g.input(DType::I32, &[2, 3], &[10i32, 11, 12, 20, 21, 22]);
    let idx = g.constant(DType::I32, &[2, 2], &[2i32, 0, 1, 1]);
    let opts = GatherOptions {
        axis: 1,
        batch_dims: 1,
    };
    let y = single(
        &mut g,
        B::Gather,
        Some(O::GatherOptions(Box::new(opts))),
        &[x, idx],
        DType::I32,
        &[2, 2],
    );
    let it = g.run();
    assert_eq!(get::<i32>(&it, y), [12, 10, 21, 21]);
}

#[test]
fn gather_errors() {
    // Out-of-range index: found at invoke, reported as an error.
    let mut g = Graph::new();
    let x = grid(&mut g);
    let idx = g.input(DType::I32, &[1], &[3i32]);
    single(&mut g, B::Gather, None, &[x, idx], DType::F32, &[1, 4]);
    assert!(matches!(g.try_run(), Err(RuntimeError::Kernel { .. })));

    // Float indices are not supported.
    let mut g = Graph::new();
    let x = grid(&mut g);
    let idx = g.input(DType::F32, &[1], &[0.0f32]);
    single(&mut g, B::Gather, None, &[x, idx], DType::F32, &[1, 4]);
    assert!(is_unsupported(&g.prepare_err()));
}

#[test]
fn gather_nd_points_and_rows() {
    let mut g = Graph::new();
    let x = grid(&mut g);
    let idx = g.constant(DType::I32, &[2, 2], &[2i32, 3, 0, 1]);
    let y = single(&mut g, B::GatherNd, None, &[x, idx], DType::F32, &[2]);
    let it = g.run();
    assert_eq!(get::<f32>(&it, y), [11.0, 1.0]);

    let mut g = Graph::new();
    let x = grid(&mut g);
    let idx = g.constant(DType::I64, &[1, 1], &[1i64]);
    let y = single(&mut g, B::GatherNd, None, &[x, idx], DType::F32, &[1, 4]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![1, 4]);
    assert_eq!(get::<f32>(&it, y), [4.0, 5.0, 6.0, 7.0]);

    // Index tuples longer than the params rank.
    let mut g = Graph::new();
    let x = grid(&mut g);
    let idx = g.constant(DType::I32, &[1, 3], &[0i32, 0, 0]);
    single(&mut g, B::GatherNd, None, &[x, idx], DType::F32, &[1]);
    assert!(is_invalid(&g.prepare_err()));
}
