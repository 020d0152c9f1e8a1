//! RESHAPE, SQUEEZE, EXPAND_DIMS and SHAPE through the interpreter.

mod movement_support;

use ferrolite_model::tflite::{
    BuiltinOperator as B, BuiltinOptions as O, ReshapeOptions, ShapeOptions, SqueezeOptions,
    StridedSliceOptions, TensorType,
};
use ferrolite_model::DType;
use movement_support::*;

const SIX: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];

fn reshape_opts(shape: &[i32]) -> Option<O> {
    Some(O::ReshapeOptions(Box::new(ReshapeOptions {
        new_shape: Some(shape.to_vec()),
    })))
}

#[test]
fn reshape_from_shape_tensor_with_stretch() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    let s = g.constant(DType::I32, &[2], &[-1i32, 2]);
    let y = single(&mut g, B::Reshape, None, &[x, s], DType::F32, &[3, 2]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 2]);
    assert_eq!(get::<f32>(&it, y), SIX);
}

#[test]
fn reshape_from_options_and_from_declared_shape() {
    let mut g = Graph::new();
    let x = g.input(DType::I32, &[2, 3], &[1i32, 2, 3, 4, 5, 6]);
    let y = single(
        &mut g,
        B::Reshape,
        reshape_opts(&[6, 1]),
        &[x],
        DType::I32,
        &[6, 1],
    );
    let it = g.run();
    assert_eq!(shape(&it, y), vec![6, 1]);
    assert_eq!(get::<i32>(&it, y), [1, 2, 3, 4, 5, 6]);

    // No shape operand and no options: the declared output shape is used.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1, 6], &SIX);
    let y = single(&mut g, B::Reshape, None, &[x], DType::F32, &[3, 1, 2]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 1, 2]);

    // The legacy [0] new_shape means a scalar.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1, 1], &[7.0f32]);
    let y = single(
        &mut g,
        B::Reshape,
        reshape_opts(&[0]),
        &[x],
        DType::F32,
        &[],
    );
    let it = g.run();
    assert_eq!(shape(&it, y), Vec::<usize>::new());
    assert_eq!(get::<f32>(&it, y), [7.0]);
}

#[test]
fn reshape_shape_computed_by_folded_ops() {
    // SHAPE(const) -> STRIDED_SLICE (shrink) -> PACK with -1 -> RESHAPE: all folded at prepare.
    let mut g = Graph::new();
    let c = g.constant(DType::F32, &[2, 3], &SIX);
    let dims = g.tensor(DType::I32, &[2]);
    g.op(B::Shape, None, &[Some(c)], &[dims]);
    let b = g.constant(DType::I32, &[1], &[0i32]);
    let e = g.constant(DType::I32, &[1], &[1i32]);
    let st = g.constant(DType::I32, &[1], &[1i32]);
    let batch = g.tensor(DType::I32, &[]);
    let opts = StridedSliceOptions {
        shrink_axis_mask: 1,
        ..Default::default()
    };
    g.op(
        B::StridedSlice,
        Some(O::StridedSliceOptions(Box::new(opts))),
        &[Some(dims), Some(b), Some(e), Some(st)],
        &[batch],
    );
    let minus1 = g.constant(DType::I32, &[], &[-1i32]);
    let packed = g.tensor(DType::I32, &[2]);
    g.op(B::Pack, None, &[Some(batch), Some(minus1)], &[packed]);
    let x = g.input(DType::F32, &[2, 3], &SIX);
    let y = g.output(DType::F32, &[2, 3]);
    g.op(B::Reshape, None, &[Some(x), Some(packed)], &[y]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![2, 3]);
    assert_eq!(get::<f32>(&it, y), SIX);
}

#[test]
fn reshape_with_dynamic_batch_folds_shape_of_activation() {
    // x: [-1, 2, 3] -> SHAPE -> [:1] -> PACK with -1 -> RESHAPE to [batch, 6], run at batch 2.
    let mut g = Graph::new();
    let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let x = g.input(DType::F32, &[1, 2, 3], &data);
    g.signature(x, &[-1, 2, 3]);
    let dims = g.tensor(DType::I32, &[3]);
    g.op(B::Shape, None, &[Some(x)], &[dims]);
    let b = g.constant(DType::I32, &[1], &[0i32]);
    let e = g.constant(DType::I32, &[1], &[1i32]);
    let st = g.constant(DType::I32, &[1], &[1i32]);
    let batch = g.tensor(DType::I32, &[]);
    let opts = StridedSliceOptions {
        shrink_axis_mask: 1,
        ..Default::default()
    };
    g.op(
        B::StridedSlice,
        Some(O::StridedSliceOptions(Box::new(opts))),
        &[Some(dims), Some(b), Some(e), Some(st)],
        &[batch],
    );
    let minus1 = g.constant(DType::I32, &[], &[-1i32]);
    let packed = g.tensor(DType::I32, &[2]);
    g.op(B::Pack, None, &[Some(batch), Some(minus1)], &[packed]);
    let y = g.output(DType::F32, &[1, 6]);
    g.op(B::Reshape, None, &[Some(x), Some(packed)], &[y]);
    let it = g
        .try_run_resized(&[(x, &[2, 2, 3])])
        .expect("runs at batch 2");
    assert_eq!(shape(&it, y), vec![2, 6]);
    assert_eq!(get::<f32>(&it, y), data);
}

#[test]
fn reshape_quantized_needs_equal_params() {
    let mut g = Graph::new();
    let x = g.input(DType::I8, &[4], &[1i8, -2, 3, -4]);
    g.quant(x, 0.5, 3);
    let s = g.constant(DType::I64, &[2], &[2i64, 2]);
    let y = single(&mut g, B::Reshape, None, &[x, s], DType::I8, &[2, 2]);
    g.quant(y, 0.5, 3);
    let it = g.run();
    assert_eq!(get::<i8>(&it, y), [1, -2, 3, -4]);

    let mut g = Graph::new();
    let x = g.input(DType::I8, &[4], &[1i8, -2, 3, -4]);
    g.quant(x, 0.5, 3);
    let y = single(
        &mut g,
        B::Reshape,
        reshape_opts(&[2, 2]),
        &[x],
        DType::I8,
        &[2, 2],
    );
    g.quant(y, 0.25, 3);
    assert!(is_unsupported(&g.prepare_err()));
}

#[test]
fn reshape_errors() {
    // Element count mismatch.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    let s = g.constant(DType::I32, &[2], &[4i32, 2]);
    single(&mut g, B::Reshape, None, &[x, s], DType::F32, &[4, 2]);
    assert!(is_invalid(&g.prepare_err()));

    // Three inputs.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    let s = g.constant(DType::I32, &[1], &[6i32]);
    single(&mut g, B::Reshape, None, &[x, s, s], DType::F32, &[6]);
    assert!(is_invalid(&g.prepare_err()));

    // Output dtype differs from the input's.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    single(
        &mut g,
        B::Reshape,
        reshape_opts(&[6]),
        &[x],
        DType::I32,
        &[6],
    );
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn squeeze_all_and_selected() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1, 3, 1, 2], &SIX);
    let y = single(&mut g, B::Squeeze, None, &[x], DType::F32, &[3, 2]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 2]);
    assert_eq!(get::<f32>(&it, y), SIX);

    let mut g = Graph::new();
    let x = g.input(DType::U8, &[1, 3, 1, 2], &[1u8, 2, 3, 4, 5, 6]);
    let opts = SqueezeOptions {
        squeeze_dims: Some(vec![-2]),
    };
    let y = single(
        &mut g,
        B::Squeeze,
        Some(O::SqueezeOptions(Box::new(opts))),
        &[x],
        DType::U8,
        &[1, 3, 2],
    );
    let it = g.run();
    assert_eq!(shape(&it, y), vec![1, 3, 2]);

    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1, 3, 1, 2], &SIX);
    let opts = SqueezeOptions {
        squeeze_dims: Some(vec![1]),
    };
    single(
        &mut g,
        B::Squeeze,
        Some(O::SqueezeOptions(Box::new(opts))),
        &[x],
        DType::F32,
        &[1, 1, 2],
    );
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn expand_dims_with_negative_axis() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    let a = g.constant(DType::I64, &[], &[-1i64]);
    let y = single(&mut g, B::ExpandDims, None, &[x, a], DType::F32, &[2, 3, 1]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![2, 3, 1]);
    assert_eq!(get::<f32>(&it, y), SIX);

    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    let a = g.constant(DType::I32, &[1], &[0i32]);
    let y = single(&mut g, B::ExpandDims, None, &[x, a], DType::F32, &[1, 2, 3]);
    assert_eq!(shape(&g.run(), y), vec![1, 2, 3]);

    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    let a = g.constant(DType::I32, &[1], &[4i32]);
    single(&mut g, B::ExpandDims, None, &[x, a], DType::F32, &[2, 3, 1]);
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn shape_int32_and_int64() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3, 1], &SIX);
    let y = single(&mut g, B::Shape, None, &[x], DType::I32, &[3]);
    let it = g.run();
    assert_eq!(get::<i32>(&it, y), [2, 3, 1]);

    let mut g = Graph::new();
    let x = g.input(DType::I8, &[6], &[0i8; 6]);
    let opts = ShapeOptions {
        out_type: TensorType::Int64,
    };
    let y = single(
        &mut g,
        B::Shape,
        Some(O::ShapeOptions(Box::new(opts))),
        &[x],
        DType::I64,
        &[1],
    );
    let it = g.run();
    assert_eq!(get::<i64>(&it, y), [6]);

    // A float output is not something SHAPE produces.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &SIX);
    single(&mut g, B::Shape, None, &[x], DType::F32, &[2]);
    assert!(is_unsupported(&g.prepare_err()));
}
