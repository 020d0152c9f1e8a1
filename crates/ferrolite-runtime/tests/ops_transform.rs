//! TRANSPOSE, CONCATENATION, SPLIT, SPLIT_V, PACK, UNPACK and TILE through the interpreter.

mod movement_support;

use ferrolite_model::tflite::{
    ActivationFunctionType, BuiltinOperator as B, BuiltinOptions as O, ConcatenationOptions,
    PackOptions, SplitOptions, SplitVOptions, UnpackOptions,
};
use ferrolite_model::DType;
use movement_support::*;

fn concat_opts(axis: i32, act: ActivationFunctionType) -> Option<O> {
    Some(O::ConcatenationOptions(Box::new(ConcatenationOptions {
        axis,
        fused_activation_function: act,
    })))
}

#[test]
fn transpose_f32_and_int8() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let p = g.constant(DType::I32, &[2], &[1i32, 0]);
    let y = single(&mut g, B::Transpose, None, &[x, p], DType::F32, &[3, 2]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 2]);
    assert_eq!(get::<f32>(&it, y), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);

    // [2, 2, 2] int8 with perm [2, 0, 1]: out[k, i, j] = in[i, j, k].
    let mut g = Graph::new();
    let data: Vec<i8> = (0..8).collect();
    let x = g.input(DType::I8, &[2, 2, 2], &data);
    g.quant(x, 0.1, 0);
    let p = g.constant(DType::I64, &[3], &[2i64, 0, 1]);
    let y = single(&mut g, B::Transpose, None, &[x, p], DType::I8, &[2, 2, 2]);
    g.quant(y, 0.1, 0);
    let it = g.run();
    assert_eq!(get::<i8>(&it, y), [0, 2, 4, 6, 1, 3, 5, 7]);
}

#[test]
fn transpose_bool_moves_bytes() {
    let mut g = Graph::new();
    let x = g.input(DType::Bool, &[2, 2], &[1u8, 0, 0, 1]);
    let p = g.constant(DType::I32, &[2], &[1i32, 0]);
    let y = single(&mut g, B::Transpose, None, &[x, p], DType::Bool, &[2, 2]);
    let it = g.run();
    assert_eq!(it.tensor_bytes(y).unwrap(), [1, 0, 0, 1]);
}

#[test]
fn concatenation_with_relu_and_negative_axis() {
    let mut g = Graph::new();
    let a = g.input(DType::F32, &[2, 1], &[-1.0f32, 2.0]);
    let b = g.input(DType::F32, &[2, 2], &[3.0f32, -4.0, 5.0, 6.0]);
    let y = single(
        &mut g,
        B::Concatenation,
        concat_opts(-1, ActivationFunctionType::Relu),
        &[a, b],
        DType::F32,
        &[2, 3],
    );
    let it = g.run();
    assert_eq!(shape(&it, y), vec![2, 3]);
    assert_eq!(get::<f32>(&it, y), [0.0, 3.0, 0.0, 2.0, 5.0, 6.0]);

    let mut g = Graph::new();
    let a = g.input(DType::I64, &[1, 2], &[1i64, 2]);
    let b = g.constant(DType::I64, &[2, 2], &[3i64, 4, 5, 6]);
    let y = single(
        &mut g,
        B::Concatenation,
        concat_opts(0, ActivationFunctionType::None),
        &[a, b],
        DType::I64,
        &[3, 2],
    );
    let it = g.run();
    assert_eq!(get::<i64>(&it, y), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn concatenation_errors() {
    // Mixed dtypes.
    let mut g = Graph::new();
    let a = g.input(DType::F32, &[1], &[1.0f32]);
    let b = g.input(DType::I32, &[1], &[1i32]);
    single(&mut g, B::Concatenation, None, &[a, b], DType::F32, &[2]);
    assert!(is_invalid(&g.prepare_err()));

    // Quantized inputs with different scales would need requantization.
    let mut g = Graph::new();
    let a = g.input(DType::I8, &[1], &[1i8]);
    let b = g.input(DType::I8, &[1], &[1i8]);
    g.quant(a, 0.5, 0);
    g.quant(b, 0.25, 0);
    let y = single(&mut g, B::Concatenation, None, &[a, b], DType::I8, &[2]);
    g.quant(y, 0.5, 0);
    assert!(is_unsupported(&g.prepare_err()));

    // Shapes disagree off the axis.
    let mut g = Graph::new();
    let a = g.input(DType::F32, &[2, 1], &[1.0f32, 2.0]);
    let b = g.input(DType::F32, &[3, 1], &[1.0f32, 2.0, 3.0]);
    single(
        &mut g,
        B::Concatenation,
        concat_opts(1, ActivationFunctionType::None),
        &[a, b],
        DType::F32,
        &[2, 2],
    );
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn split_takes_axis_first() {
    let mut g = Graph::new();
    let axis = g.constant(DType::I32, &[], &[1i32]);
    let x = g.input(
        DType::F32,
        &[2, 4],
        &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    );
    let y0 = g.output(DType::F32, &[2, 2]);
    let y1 = g.output(DType::F32, &[2, 2]);
    let opts = SplitOptions { num_splits: 2 };
    g.op(
        B::Split,
        Some(O::SplitOptions(Box::new(opts))),
        &[Some(axis), Some(x)],
        &[y0, y1],
    );
    let it = g.run();
    assert_eq!(get::<f32>(&it, y0), [1.0, 2.0, 5.0, 6.0]);
    assert_eq!(get::<f32>(&it, y1), [3.0, 4.0, 7.0, 8.0]);

    // num_splits must match the outputs.
    let mut g = Graph::new();
    let axis = g.constant(DType::I32, &[], &[1i32]);
    let x = g.input(DType::F32, &[2, 4], &[0.0f32; 8]);
    let y0 = g.output(DType::F32, &[2, 2]);
    let y1 = g.output(DType::F32, &[2, 2]);
    let opts = SplitOptions { num_splits: 4 };
    g.op(
        B::Split,
        Some(O::SplitOptions(Box::new(opts))),
        &[Some(axis), Some(x)],
        &[y0, y1],
    );
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn split_v_with_inferred_size() {
    let mut g = Graph::new();
    let x = g.input(DType::I32, &[3, 2], &[1i32, 2, 3, 4, 5, 6]);
    let sizes = g.constant(DType::I32, &[2], &[1i32, -1]);
    let axis = g.constant(DType::I32, &[1], &[-2i32]);
    let y0 = g.output(DType::I32, &[1, 2]);
    let y1 = g.output(DType::I32, &[2, 2]);
    let opts = SplitVOptions { num_splits: 2 };
    g.op(
        B::SplitV,
        Some(O::SplitVOptions(Box::new(opts))),
        &[Some(x), Some(sizes), Some(axis)],
        &[y0, y1],
    );
    let it = g.run();
    assert_eq!(shape(&it, y1), vec![2, 2]);
    assert_eq!(get::<i32>(&it, y0), [1, 2]);
    assert_eq!(get::<i32>(&it, y1), [3, 4, 5, 6]);
}

#[test]
fn pack_and_unpack() {
    let mut g = Graph::new();
    let a = g.input(DType::F32, &[2], &[1.0f32, 2.0]);
    let b = g.input(DType::F32, &[2], &[3.0f32, 4.0]);
    let opts = PackOptions {
        values_count: 2,
        axis: 1,
    };
    let y = single(
        &mut g,
        B::Pack,
        Some(O::PackOptions(Box::new(opts))),
        &[a, b],
        DType::F32,
        &[2, 2],
    );
    let it = g.run();
    assert_eq!(get::<f32>(&it, y), [1.0, 3.0, 2.0, 4.0]);

    let mut g = Graph::new();
    let x = g.input(DType::I16, &[2, 3], &[1i16, 2, 3, 4, 5, 6]);
    let outs: Vec<usize> = (0..3).map(|_| g.output(DType::I16, &[2])).collect();
    let opts = UnpackOptions { num: 3, axis: -1 };
    g.op(
        B::Unpack,
        Some(O::UnpackOptions(Box::new(opts))),
        &[Some(x)],
        &outs,
    );
    let it = g.run();
    assert_eq!(get::<i16>(&it, outs[0]), [1, 4]);
    assert_eq!(get::<i16>(&it, outs[1]), [2, 5]);
    assert_eq!(get::<i16>(&it, outs[2]), [3, 6]);

    // PACK inputs of different shapes.
    let mut g = Graph::new();
    let a = g.input(DType::F32, &[2], &[1.0f32, 2.0]);
    let b = g.input(DType::F32, &[1], &[3.0f32]);
    single(&mut g, B::Pack, None, &[a, b], DType::F32, &[2, 2]);
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn tile_repeats_rows_and_columns() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 2], &[1.0f32, 2.0, 3.0, 4.0]);
    let m = g.constant(DType::I32, &[2], &[2i32, 1]);
    let y = single(&mut g, B::Tile, None, &[x, m], DType::F32, &[4, 2]);
    let it = g.run();
    assert_eq!(get::<f32>(&it, y), [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);

    let mut g = Graph::new();
    let x = g.input(DType::I64, &[1, 2], &[1i64, 2]);
    let m = g.constant(DType::I64, &[2], &[2i64, 2]);
    let y = single(&mut g, B::Tile, None, &[x, m], DType::I64, &[2, 4]);
    let it = g.run();
    assert_eq!(get::<i64>(&it, y), [1, 2, 1, 2, 1, 2, 1, 2]);

    // Multiples only known at invoke: prepared again once inputs are set.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[1.0f32, 2.0]);
    let m = g.input(DType::I32, &[1], &[2i32]);
    let y = single(&mut g, B::Tile, None, &[x, m], DType::F32, &[4]);
    let it = g.run();
    assert!(it.has_value_dependent_shapes());
    assert_eq!(get::<f32>(&it, y), [1.0, 2.0, 1.0, 2.0]);
}
