//! SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION and PRELU through the interpreter.

mod elementwise_support;

use elementwise_support::*;
use ferrolite_model::tflite::{
    ActivationFunctionType, BuiltinOperator as B, BuiltinOptions as O, L2NormOptions,
    SoftmaxOptions,
};
use ferrolite_model::DType;

fn softmax_options(beta: f32) -> Option<O> {
    Some(O::SoftmaxOptions(Box::new(SoftmaxOptions { beta })))
}

/// Reference softmax of one row with scaling `beta`.
fn reference_softmax(row: &[f32], beta: f32) -> Vec<f32> {
    let e: Vec<f64> = row
        .iter()
        .map(|&x| (f64::from(x) * f64::from(beta)).exp())
        .collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

#[test]
fn softmax_uses_beta_per_row() {
    let x = [1.0f32, 2.0, 3.0, -1.0, 0.0, 1.0];
    for beta in [1.0f32, 2.0] {
        let r = case(
            B::Softmax,
            softmax_options(beta),
            vec![var(DType::F32, &[2, 3], &x)],
            vec![out(DType::F32, &[2, 3])],
        )
        .run();
        let mut want = reference_softmax(&x[..3], beta);
        want.extend(reference_softmax(&x[3..], beta));
        assert_close(&r.f32(0), &want, 1e-6);
        assert_eq!(r.shape(0), [2, 3]);
    }
    // Absent options: TFLite's zero beta gives a uniform distribution.
    let r = case(
        B::Softmax,
        None,
        vec![var(DType::F32, &[1, 4], &[1.0f32, 5.0, -3.0, 0.0])],
        vec![out(DType::F32, &[1, 4])],
    )
    .run();
    assert_close(&r.f32(0), &[0.25; 4], 1e-6);
}

#[test]
fn log_softmax_matches_log_of_softmax() {
    let x = [0.5f32, -1.0, 2.0, 4.0];
    let r = case(
        B::LogSoftmax,
        None,
        vec![var(DType::F32, &[2, 2], &x)],
        vec![out(DType::F32, &[2, 2])],
    )
    .run();
    let mut want: Vec<f32> = reference_softmax(&x[..2], 1.0);
    want.extend(reference_softmax(&x[2..], 1.0));
    let want: Vec<f32> = want.iter().map(|v| v.ln()).collect();
    assert_close(&r.f32(0), &want, 1e-6);
}

#[test]
fn l2_normalization_over_last_axis() {
    let r = case(
        B::L2Normalization,
        Some(O::L2NormOptions(Box::default())),
        vec![var(DType::F32, &[2, 2], &[3.0f32, 4.0, 0.0, 0.0])],
        vec![out(DType::F32, &[2, 2])],
    )
    .run();
    assert_close(&r.f32(0), &[0.6, 0.8, 0.0, 0.0], 1e-6);
}

#[test]
fn prelu_broadcasts_alpha() {
    // input [1, 2, 3], alpha per channel [3] (as the converter emits it, a constant).
    let r = case(
        B::Prelu,
        None,
        vec![
            var(
                DType::F32,
                &[1, 2, 3],
                &[-1.0f32, 2.0, -3.0, 4.0, -5.0, 6.0],
            ),
            cst(DType::F32, &[1, 1, 3], &[0.1f32, 0.2, 0.3]),
        ],
        vec![out(DType::F32, &[1, 2, 3])],
    )
    .run();
    assert_close(&r.f32(0), &[-0.1, 2.0, -0.9, 4.0, -1.0, 6.0], 1e-6);
    assert_eq!(r.shape(0), [1, 2, 3]);
}

#[test]
fn bad_models_fail_at_allocate() {
    // int32 softmax: unsupported.
    let e = case(
        B::Softmax,
        softmax_options(1.0),
        vec![var(DType::I32, &[2], &[1i32, 2])],
        vec![out(DType::I32, &[2])],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // Quantized LOG_SOFTMAX: unsupported.
    let e = case(
        B::LogSoftmax,
        None,
        vec![var(DType::I8, &[2], &[1i8, 2]).quant(0.1, 0)],
        vec![out(DType::I8, &[2]).quant(16.0 / 256.0, 127)],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // Rank-0 input: invalid.
    let e = case(
        B::LogSoftmax,
        None,
        vec![var(DType::F32, &[], &[1.0f32])],
        vec![out(DType::F32, &[])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // L2 normalization with a fused RELU: unsupported, as in TFLite.
    let e = case(
        B::L2Normalization,
        Some(O::L2NormOptions(Box::new(L2NormOptions {
            fused_activation_function: ActivationFunctionType::Relu,
        }))),
        vec![var(DType::F32, &[2], &[1.0f32, 2.0])],
        vec![out(DType::F32, &[2])],
    )
    .prepare_err();
    assert!(is_unsupported(&e), "{e}");
    // PRELU without alpha: invalid.
    let e = case(
        B::Prelu,
        None,
        vec![var(DType::F32, &[2], &[1.0f32, 2.0])],
        vec![out(DType::F32, &[2])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
    // PRELU with an alpha that does not broadcast: invalid.
    let e = case(
        B::Prelu,
        None,
        vec![
            var(DType::F32, &[1, 2], &[1.0f32, 2.0]),
            cst(DType::F32, &[3], &[0.1f32, 0.2, 0.3]),
        ],
        vec![out(DType::F32, &[1, 2])],
    )
    .prepare_err();
    assert!(is_invalid(&e), "{e}");
}
