//! Comparisons, LOGICAL_AND/OR and SELECT / SELECT_V2 through the interpreter.

mod elementwise_support;

use elementwise_support::*;
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::DType;

#[test]
fn comparisons_broadcast_on_every_numeric_type() {
    // a = [[1, 2], [3, 4]] against b = [2, 3] (broadcast over rows): pairs (1,2) (2,3) (3,2)
    // (4,3), so no pair is equal.
    let want: [(B, [bool; 4]); 6] = [
        (B::Less, [true, true, false, false]),
        (B::LessEqual, [true, true, false, false]),
        (B::Greater, [false, false, true, true]),
        (B::GreaterEqual, [false, false, true, true]),
        (B::Equal, [false, false, false, false]),
        (B::NotEqual, [true, true, true, true]),
    ];
    let want_eq_row: [(B, [bool; 4]); 2] = [
        (B::LessEqual, [true, true, false, false]),
        (B::GreaterEqual, [false, true, true, true]),
    ];
    for (op, expected) in want {
        let f = case(
            op,
            None,
            vec![
                var(DType::F32, &[2, 2], &[1.0f32, 2.0, 3.0, 4.0]),
                var(DType::F32, &[2], &[2.0f32, 3.0]),
            ],
            vec![out(DType::Bool, &[2, 2])],
        )
        .run();
        assert_eq!(f.bools(0), expected, "{op:?} f32");
        let i = case(
            op,
            None,
            vec![
                var(DType::I32, &[2, 2], &[1i32, 2, 3, 4]),
                cst(DType::I32, &[2], &[2i32, 3]),
            ],
            vec![out(DType::Bool, &[2, 2])],
        )
        .run();
        assert_eq!(i.bools(0), expected, "{op:?} i32");
        let l = case(
            op,
            None,
            vec![
                var(DType::I64, &[2, 2], &[1i64, 2, 3, 4]),
                var(DType::I64, &[2], &[2i64, 3]),
            ],
            vec![out(DType::Bool, &[2, 2])],
        )
        .run();
        assert_eq!(l.bools(0), expected, "{op:?} i64");
    }
    // Ties: b = [2, 2] hits equality on the second element of the first row.
    for (op, expected) in want_eq_row {
        let r = case(
            op,
            None,
            vec![
                var(DType::I32, &[2, 2], &[1i32, 2, 3, 4]),
                var(DType::I32, &[], &[2i32]),
            ],
            vec![out(DType::Bool, &[2, 2])],
        )
        .run();
        assert_eq!(r.bools(0), expected, "{op:?} scalar");
    }
}

#[test]
fn equal_on_bools_and_quantized_compare() {
    let r = case(
        B::Equal,
        None,
        vec![
            var_bool(&[3], &[true, false, true]),
            var_bool(&[1], &[true]),
        ],
        vec![out(DType::Bool, &[3])],
    )
    .run();
    assert_eq!(r.bools(0), [true, false, true]);
    // int8 with identical quantization: raw order is exact.
    let r = case(
        B::Greater,
        None,
        vec![
            var(DType::I8, &[3], &[-5i8, 0, 7]).quant(0.5, -1),
            var(DType::I8, &[3], &[-6i8, 0, 8]).quant(0.5, -1),
        ],
        vec![out(DType::Bool, &[3])],
    )
    .run();
    assert_eq!(r.bools(0), [true, false, false]);
    // Different scales need rescaling: unsupported.
    let e = case(
        B::Greater,
        None,
        vec![
            var(DType::I8, &[1], &[1i8]).quant(0.5, 0),
            var(DType::I8, &[1], &[1i8]).quant(0.25, 0),
        ],
        vec![out(DType::Bool, &[1])],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
}

#[test]
fn logical_and_or_broadcast() {
    let a = [true, false];
    let b = [true, false];
    let and = case(
        B::LogicalAnd,
        None,
        vec![var_bool(&[2, 1], &a), var_bool(&[2], &b)],
        vec![out(DType::Bool, &[2, 2])],
    )
    .run();
    assert_eq!(and.bools(0), [true, false, false, false]);
    assert_eq!(and.shape(0), [2, 2]);
    let or = case(
        B::LogicalOr,
        None,
        vec![var_bool(&[2, 1], &a), var_bool(&[2], &b)],
        vec![out(DType::Bool, &[2, 2])],
    )
    .run();
    assert_eq!(or.bools(0), [true, true, true, false]);
}

#[test]
fn select_v1_forms() {
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let y = [-1.0f32, -2.0, -3.0, -4.0, -5.0, -6.0];
    // Same-shape condition.
    let r = case(
        B::Select,
        None,
        vec![
            var_bool(&[2, 3], &[true, false, true, false, true, false]),
            var(DType::F32, &[2, 3], &x),
            var(DType::F32, &[2, 3], &y),
        ],
        vec![out(DType::F32, &[2, 3])],
    )
    .run();
    assert_eq!(r.f32(0), [1.0, -2.0, 3.0, -4.0, 5.0, -6.0]);
    // Rank-1 condition over the first dimension picks whole rows.
    let r = case(
        B::Select,
        None,
        vec![
            var_bool(&[2], &[false, true]),
            var(DType::F32, &[2, 3], &x),
            var(DType::F32, &[2, 3], &y),
        ],
        vec![out(DType::F32, &[2, 3])],
    )
    .run();
    assert_eq!(r.f32(0), [-1.0, -2.0, -3.0, 4.0, 5.0, 6.0]);
    // A condition that is neither: invalid at allocate.
    let e = case(
        B::Select,
        None,
        vec![
            var_bool(&[3], &[false, true, true]),
            var(DType::F32, &[2, 3], &x),
            var(DType::F32, &[2, 3], &y),
        ],
        vec![out(DType::F32, &[2, 3])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
}

#[test]
fn select_v2_broadcasts_any_dtype() {
    let r = case(
        B::SelectV2,
        None,
        vec![
            var_bool(&[3], &[true, false, true]),
            var(DType::I64, &[2, 1], &[10i64, 20]),
            cst(DType::I64, &[], &[0i64]),
        ],
        vec![out(DType::I64, &[2, 3])],
    )
    .version(2)
    .run();
    assert_eq!(r.i64(0), [10, 0, 10, 20, 0, 20]);
    assert_eq!(r.shape(0), [2, 3]);
    // Bool payloads are copied byte for byte.
    let r = case(
        B::SelectV2,
        None,
        vec![
            var_bool(&[2], &[true, false]),
            var_bool(&[2], &[true, true]),
            var_bool(&[2], &[false, false]),
        ],
        vec![out(DType::Bool, &[2])],
    )
    .run();
    assert_eq!(r.bools(0), [true, false]);
    // Quantized int8 payloads too.
    let r = case(
        B::SelectV2,
        None,
        vec![
            var_bool(&[2], &[false, true]),
            var(DType::I8, &[2], &[1i8, 2]).quant(0.1, 3),
            var(DType::I8, &[2], &[-1i8, -2]).quant(0.1, 3),
        ],
        vec![out(DType::I8, &[2]).quant(0.1, 3)],
    )
    .run();
    assert_eq!(r.i8(0), [-1, 2]);
}

#[test]
fn bad_models_fail_at_allocate() {
    // Mixed input dtypes: invalid.
    let e = case(
        B::Less,
        None,
        vec![
            var(DType::F32, &[1], &[1.0f32]),
            var(DType::I32, &[1], &[1i32]),
        ],
        vec![out(DType::Bool, &[1])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // Comparison declared as float output: invalid.
    let e = case(
        B::Less,
        None,
        vec![
            var(DType::F32, &[1], &[1.0f32]),
            var(DType::F32, &[1], &[1.0f32]),
        ],
        vec![out(DType::F32, &[1])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // Non-broadcastable shapes: invalid.
    let e = case(
        B::Greater,
        None,
        vec![
            var(DType::F32, &[2], &[1.0f32, 2.0]),
            var(DType::F32, &[3], &[1.0f32, 2.0, 3.0]),
        ],
        vec![out(DType::Bool, &[3])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // LOGICAL_AND on floats: unsupported.
    let e = case(
        B::LogicalAnd,
        None,
        vec![
            var(DType::F32, &[1], &[1.0f32]),
            var(DType::F32, &[1], &[1.0f32]),
        ],
        vec![out(DType::Bool, &[1])],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // SELECT with only two operands: invalid.
    let e = case(
        B::SelectV2,
        None,
        vec![var_bool(&[1], &[true]), var(DType::F32, &[1], &[1.0f32])],
        vec![out(DType::F32, &[1])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // Ordering bools is not a thing: unsupported.
    let e = case(
        B::Less,
        None,
        vec![var_bool(&[1], &[true]), var_bool(&[1], &[false])],
        vec![out(DType::Bool, &[1])],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
}
