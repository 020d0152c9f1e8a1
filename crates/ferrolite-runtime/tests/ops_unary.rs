//! Elementwise unary operators through the interpreter: math functions, activations, LOGICAL_NOT.

mod elementwise_support;

use elementwise_support::*;
use ferrolite_model::tflite::{
    BuiltinOperator as B, BuiltinOptions as O, GeluOptions, LeakyReluOptions,
};
use ferrolite_model::DType;

/// Runs a float32 unary op on a rank-1 input.
fn unary_f32(op: B, options: Option<O>, x: &[f32]) -> Vec<f32> {
    let n = x.len() as i32;
    case(
        op,
        options,
        vec![var(DType::F32, &[n], x)],
        vec![out(DType::F32, &[n])],
    )
    .run()
    .f32(0)
}

#[test]
fn float_math_functions() {
    let e = std::f32::consts::E;
    let pi = std::f32::consts::PI;
    let cases: [(B, &[f32], &[f32]); 12] = [
        (B::Exp, &[0.0, 1.0], &[1.0, e]),
        (B::Log, &[1.0, e], &[0.0, 1.0]),
        (B::Sqrt, &[4.0, 9.0], &[2.0, 3.0]),
        (B::Rsqrt, &[4.0, 0.25], &[0.5, 2.0]),
        (B::Square, &[-3.0, 1.5], &[9.0, 2.25]),
        (B::Abs, &[-2.0, 3.0], &[2.0, 3.0]),
        (B::Neg, &[2.0, -3.0], &[-2.0, 3.0]),
        (B::Floor, &[-1.5, 1.5], &[-2.0, 1.0]),
        (B::Ceil, &[-1.5, 1.5], &[-1.0, 2.0]),
        (B::Round, &[2.5, -0.5, 1.5, 0.6], &[2.0, -0.0, 2.0, 1.0]),
        (B::Sin, &[0.0, pi / 2.0], &[0.0, 1.0]),
        (B::Cos, &[0.0, pi], &[1.0, -1.0]),
    ];
    for (op, x, want) in cases {
        let got = unary_f32(op, None, x);
        assert_close(&got, want, 1e-6);
    }
}

#[test]
fn float_activations() {
    let cases: [(B, &[f32], &[f32]); 9] = [
        (B::Relu, &[-1.0, 2.0], &[0.0, 2.0]),
        (B::Relu6, &[-1.0, 7.0, 3.0], &[0.0, 6.0, 3.0]),
        (B::ReluN1To1, &[-2.0, 0.5, 2.0], &[-1.0, 0.5, 1.0]),
        (B::Relu0To1, &[-2.0, 0.5, 2.0], &[0.0, 0.5, 1.0]),
        (B::Elu, &[-1.0, 2.0], &[(-1.0f32).exp() - 1.0, 2.0]),
        (B::HardSwish, &[-4.0, 1.0, 4.0], &[0.0, 4.0 / 6.0, 4.0]),
        (
            B::Logistic,
            &[0.0, 20.0, -2.0],
            &[0.5, 1.0, 1.0 / (1.0 + 2.0f32.exp())],
        ),
        (B::Tanh, &[0.0, 1.0], &[0.0, 1.0f32.tanh()]),
        (B::Gelu, &[1.0, -1.0], &[0.841_344_7, -0.158_655_26]),
    ];
    for (op, x, want) in cases {
        let got = unary_f32(op, None, x);
        assert_close(&got, want, 1e-6);
    }
}

#[test]
fn leaky_relu_and_gelu_read_their_options() {
    let alpha = Some(O::LeakyReluOptions(Box::new(LeakyReluOptions {
        alpha: 0.2,
    })));
    let got = unary_f32(B::LeakyRelu, alpha, &[-5.0, 3.0]);
    assert_close(&got, &[-1.0, 3.0], 1e-6);
    // Absent options: TFLite's zero alpha.
    assert_eq!(unary_f32(B::LeakyRelu, None, &[-5.0, 3.0]), [0.0, 3.0]);
    let approx = Some(O::GeluOptions(Box::new(GeluOptions { approximate: true })));
    let got = unary_f32(B::Gelu, approx, &[1.0]);
    assert_close(&got, &[0.841_192], 1e-5);
}

#[test]
fn integer_abs_neg_square() {
    let run_i32 = |op: B, x: &[i32]| {
        case(
            op,
            None,
            vec![var(DType::I32, &[x.len() as i32], x)],
            vec![out(DType::I32, &[x.len() as i32])],
        )
        .run()
        .i32(0)
    };
    assert_eq!(run_i32(B::Abs, &[-3, 4, i32::MIN]), [3, 4, i32::MIN]);
    assert_eq!(run_i32(B::Neg, &[-3, 4]), [3, -4]);
    assert_eq!(run_i32(B::Square, &[-3, 4]), [9, 16]);
    let neg64 = case(
        B::Neg,
        None,
        vec![var(DType::I64, &[2], &[5i64, -(1 << 40)])],
        vec![out(DType::I64, &[2])],
    )
    .run()
    .i64(0);
    assert_eq!(neg64, [-5, 1 << 40]);
}

#[test]
fn logical_not_on_bool_bytes() {
    let r = case(
        B::LogicalNot,
        None,
        vec![var_bool(&[2, 2], &[true, false, false, true])],
        vec![out(DType::Bool, &[2, 2])],
    )
    .run();
    assert_eq!(r.bools(0), [false, true, true, false]);
    assert_eq!(r.shape(0), [2, 2]);
}

#[test]
fn shapes_pass_through_and_constants_fold() {
    // A rank-3 input keeps its shape; a constant input is folded at allocate time and still
    // readable from the output (graph outputs are computed at invoke).
    let r = case(
        B::Relu,
        None,
        vec![cst(DType::F32, &[1, 2, 2], &[-1.0f32, 1.0, -2.0, 2.0])],
        vec![out(DType::F32, &[1, 2, 2])],
    )
    .run();
    assert_eq!(r.shape(0), [1, 2, 2]);
    assert_eq!(r.f32(0), [0.0, 1.0, 0.0, 2.0]);
}

#[test]
fn bad_models_fail_at_allocate() {
    // A float-only op on int32: unsupported.
    let e = case(
        B::Exp,
        None,
        vec![var(DType::I32, &[2], &[1i32, 2])],
        vec![out(DType::I32, &[2])],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // Quantized int8 EXP: unsupported.
    let e = case(
        B::Exp,
        None,
        vec![var(DType::I8, &[2], &[1i8, 2]).quant(0.1, 0)],
        vec![out(DType::I8, &[2]).quant(1.0 / 128.0, 0)],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // Two inputs: invalid.
    let e = case(
        B::Relu,
        None,
        vec![
            var(DType::F32, &[1], &[1.0f32]),
            var(DType::F32, &[1], &[1.0f32]),
        ],
        vec![out(DType::F32, &[1])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // Output declared with another dtype: invalid.
    let e = case(
        B::Sqrt,
        None,
        vec![var(DType::F32, &[1], &[1.0f32])],
        vec![out(DType::I32, &[1])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // LOGICAL_NOT on float: unsupported.
    let e = case(
        B::LogicalNot,
        None,
        vec![var(DType::F32, &[1], &[1.0f32])],
        vec![out(DType::F32, &[1])],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // A version newer than TFLite registers: unsupported.
    let e = case(
        B::Exp,
        None,
        vec![var(DType::F32, &[1], &[1.0f32])],
        vec![out(DType::F32, &[1])],
    )
    .version(3)
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
}
