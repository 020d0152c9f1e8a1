//! MEAN, SUM, REDUCE_PROD, REDUCE_MAX, REDUCE_MIN, ARG_MAX and ARG_MIN through the interpreter.

mod elementwise_support;

use elementwise_support::*;
use ferrolite_model::tflite::{
    ArgMaxOptions, ArgMinOptions, BuiltinOperator as B, BuiltinOptions as O, ReducerOptions,
    TensorType,
};
use ferrolite_model::DType;

fn keep(keep_dims: bool) -> Option<O> {
    Some(O::ReducerOptions(Box::new(ReducerOptions { keep_dims })))
}

/// x[i, j, k] = 6i + 3j + k over shape [2, 2, 3].
fn cube() -> Vec<f32> {
    (0..12).map(|v| v as f32).collect()
}

#[test]
fn mean_over_two_axes_with_and_without_keep_dims() {
    for (keep_dims, shape) in [(false, vec![2]), (true, vec![2, 1, 1])] {
        let out_shape: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        let r = case(
            B::Mean,
            keep(keep_dims),
            vec![
                var(DType::F32, &[2, 2, 3], &cube()),
                cst(DType::I32, &[2], &[1i32, 2]),
            ],
            vec![out(DType::F32, &out_shape)],
        )
        .run();
        assert_eq!(r.f32(0), [2.5, 8.5]);
        assert_eq!(r.shape(0), shape);
    }
    // Negative axis, int64 axes, absent options (keep_dims = false).
    let r = case(
        B::Mean,
        None,
        vec![
            var(DType::F32, &[2, 2, 3], &cube()),
            cst(DType::I64, &[1], &[-1i64]),
        ],
        vec![out(DType::F32, &[2, 2])],
    )
    .run();
    assert_eq!(r.f32(0), [1.0, 4.0, 7.0, 10.0]);
    assert_eq!(r.shape(0), [2, 2]);
}

#[test]
fn sum_prod_max_min_on_several_dtypes() {
    let m = [1i32, 2, 3, 4, 5, 6];
    let sum0 = case(
        B::Sum,
        keep(false),
        vec![var(DType::I32, &[2, 3], &m), cst(DType::I32, &[1], &[0i32])],
        vec![out(DType::I32, &[3])],
    )
    .run();
    assert_eq!(sum0.i32(0), [5, 7, 9]);
    let prod = case(
        B::ReduceProd,
        keep(true),
        vec![
            var(DType::F32, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]),
            cst(DType::I32, &[1], &[1i32]),
        ],
        vec![out(DType::F32, &[2, 1])],
    )
    .run();
    assert_eq!(prod.f32(0), [6.0, 120.0]);
    assert_eq!(prod.shape(0), [2, 1]);
    let max_all = case(
        B::ReduceMax,
        keep(false),
        vec![
            var(DType::F32, &[2, 3], &[1.0f32, -2.0, 9.0, 4.0, 5.0, -6.0]),
            cst(DType::I32, &[2], &[0i32, 1]),
        ],
        vec![out(DType::F32, &[])],
    )
    .run();
    assert_eq!(max_all.f32(0), [9.0]);
    assert_eq!(max_all.shape(0), Vec::<usize>::new());
    let min64 = case(
        B::ReduceMin,
        keep(false),
        vec![
            var(DType::I64, &[2, 3], &[4i64, -2, 3, 1, 5, -6]),
            cst(DType::I32, &[1], &[0i32]),
        ],
        vec![out(DType::I64, &[3])],
    )
    .run();
    assert_eq!(min64.i64(0), [1, -2, -6]);
    // Integer MEAN truncates toward zero.
    let mean_i = case(
        B::Mean,
        keep(false),
        vec![
            var(DType::I32, &[2, 2], &[1i32, 2, -3, -4]),
            cst(DType::I32, &[1], &[1i32]),
        ],
        vec![out(DType::I32, &[2])],
    )
    .run();
    assert_eq!(mean_i.i32(0), [1, -3]);
    // REDUCE_MAX on int8 sharing one quantization: raw values.
    let max_q = case(
        B::ReduceMax,
        keep(false),
        vec![
            var(DType::I8, &[2, 2], &[-7i8, 3, 100, -128]).quant(0.5, 2),
            cst(DType::I32, &[1], &[1i32]),
        ],
        vec![out(DType::I8, &[2]).quant(0.5, 2)],
    )
    .run();
    assert_eq!(max_q.i8(0), [3, 100]);
}

#[test]
fn arg_max_and_arg_min_index_types() {
    let x = [1.0f32, 5.0, 3.0, 7.0, 2.0, 7.0];
    // ARG_MAX along the last axis, int64 indices from the options; ties keep the first index.
    let r = case(
        B::ArgMax,
        Some(O::ArgMaxOptions(Box::new(ArgMaxOptions {
            output_type: TensorType::Int64,
        }))),
        vec![
            var(DType::F32, &[2, 3], &x),
            cst(DType::I32, &[1], &[-1i32]),
        ],
        vec![out(DType::I64, &[2])],
    )
    .run();
    assert_eq!(r.i64(0), [1, 0]);
    // ARG_MIN along axis 0 with an int64 axis; no options: the declared output type (int32).
    let r = case(
        B::ArgMin,
        None,
        vec![var(DType::F32, &[2, 3], &x), cst(DType::I64, &[], &[0i64])],
        vec![out(DType::I32, &[3])],
    )
    .run();
    assert_eq!(r.i32(0), [0, 1, 0]);
    assert_eq!(r.shape(0), [3]);
    // int32 input, ArgMinOptions naming int32.
    let r = case(
        B::ArgMin,
        Some(O::ArgMinOptions(Box::new(ArgMinOptions {
            output_type: TensorType::Int32,
        }))),
        vec![
            var(DType::I32, &[4], &[3i32, -1, 8, -1]),
            cst(DType::I32, &[1], &[0i32]),
        ],
        vec![out(DType::I32, &[])],
    )
    .run();
    assert_eq!(r.i32(0), [1]);
}

#[test]
fn bad_models_fail_at_allocate() {
    // Axes only known at invoke: the model is prepared again once inputs are set.
    let r = case(
        B::Sum,
        keep(false),
        vec![
            var(DType::F32, &[2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]),
            var(DType::I32, &[1], &[0i32]),
        ],
        vec![out(DType::F32, &[3])],
    )
    .run();
    assert_eq!(r.f32(0), [5.0, 7.0, 9.0]);
    // Axis out of range: invalid.
    let e = case(
        B::Mean,
        keep(false),
        vec![
            var(DType::F32, &[2, 3], &[0.0f32; 6]),
            cst(DType::I32, &[1], &[2i32]),
        ],
        vec![out(DType::F32, &[2])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // Quantized REDUCE_PROD: unsupported.
    let e = case(
        B::ReduceProd,
        keep(false),
        vec![
            var(DType::I8, &[2, 2], &[0i8; 4]).quant(0.5, 0),
            cst(DType::I32, &[1], &[1i32]),
        ],
        vec![out(DType::I8, &[2]).quant(0.25, 0)],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // Output dtype differing from the input: invalid.
    let e = case(
        B::ReduceMax,
        keep(false),
        vec![
            var(DType::F32, &[2], &[0.0f32; 2]),
            cst(DType::I32, &[1], &[0i32]),
        ],
        vec![out(DType::I32, &[])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // ARG_MAX with two axes: invalid.
    let e = case(
        B::ArgMax,
        None,
        vec![
            var(DType::F32, &[2, 3], &[0.0f32; 6]),
            cst(DType::I32, &[2], &[0i32, 1]),
        ],
        vec![out(DType::I64, &[])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // ARG_MAX writing floats: invalid.
    let e = case(
        B::ArgMax,
        None,
        vec![
            var(DType::F32, &[2], &[0.0f32; 2]),
            cst(DType::I32, &[1], &[0i32]),
        ],
        vec![out(DType::F32, &[])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // Options asking for int64 while the output is declared int32: invalid.
    let e = case(
        B::ArgMax,
        Some(O::ArgMaxOptions(Box::new(ArgMaxOptions {
            output_type: TensorType::Int64,
        }))),
        vec![
            var(DType::F32, &[2], &[0.0f32; 2]),
            cst(DType::I32, &[1], &[0i32]),
        ],
        vec![out(DType::I32, &[])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // Missing axis operand: invalid.
    let e = case(
        B::ReduceMin,
        keep(false),
        vec![var(DType::F32, &[2], &[0.0f32; 2])],
        vec![out(DType::F32, &[])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
}
