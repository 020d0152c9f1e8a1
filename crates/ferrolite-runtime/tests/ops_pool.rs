//! AVERAGE_POOL_2D, MAX_POOL_2D and L2_POOL_2D through the interpreter, on hand-computed cases.

mod nn_support;

use ferrolite_model::tflite::{
    ActivationFunctionType as Act, BuiltinOperator as B, BuiltinOptions as O, Padding,
    Pool2DOptions,
};
use ferrolite_model::DType;
use nn_support::*;

fn opts(padding: Padding, filter: i32, stride: i32, act: Act) -> Option<O> {
    Some(O::Pool2DOptions(Box::new(Pool2DOptions {
        padding,
        stride_h: stride,
        stride_w: stride,
        filter_height: filter,
        filter_width: filter,
        fused_activation_function: act,
    })))
}

fn pool(op: B, options: Option<O>, shape: &[i32], x: &[f32]) -> (Vec<f32>, Vec<usize>) {
    case(op, options, vec![input_f32(shape, x)], DType::F32).run()
}

fn one_to(n: usize) -> Vec<f32> {
    (1..=n).map(|v| v as f32).collect()
}

#[test]
fn two_by_two_valid_windows() {
    let x = one_to(16);
    let o = || opts(Padding::Valid, 2, 2, Act::None);
    let (got, shape) = pool(B::MaxPool2d, o(), &[1, 4, 4, 1], &x);
    assert_eq!(shape, [1, 2, 2, 1]);
    assert_eq!(got, [6.0, 8.0, 14.0, 16.0]);
    let (got, _) = pool(B::AveragePool2d, o(), &[1, 4, 4, 1], &x);
    assert_eq!(got, [3.5, 5.5, 11.5, 13.5]);
    let (got, _) = pool(B::L2Pool2d, o(), &[1, 4, 4, 1], &x);
    let l2 = |v: [f32; 4]| (v.iter().map(|a| a * a).sum::<f32>() / 4.0).sqrt();
    assert_close(
        &got,
        &[
            l2([1.0, 2.0, 5.0, 6.0]),
            l2([3.0, 4.0, 7.0, 8.0]),
            l2([9.0, 10.0, 13.0, 14.0]),
            l2([11.0, 12.0, 15.0, 16.0]),
        ],
        1e-6,
    );
}

#[test]
fn same_padding_averages_only_in_bounds_cells() {
    // 2x2 window, stride 1, SAME on 2x2: the padding goes after, so edge windows are clipped.
    let (got, shape) = pool(
        B::AveragePool2d,
        opts(Padding::Same, 2, 1, Act::None),
        &[1, 2, 2, 1],
        &[1.0, 2.0, 3.0, 4.0],
    );
    assert_eq!(shape, [1, 2, 2, 1]);
    assert_eq!(got, [2.5, 3.0, 3.5, 4.0]);
}

#[test]
fn channels_batches_and_fused_activation() {
    // Two batches of a 2x2 image with two channels; a global 2x2 max, then RELU6 / RELU_N1_TO_1.
    let x = [
        1.0, -1.0, 7.0, -2.0, 3.0, -3.0, 2.0, -4.0, // batch 0
        -5.0, 0.5, -6.0, 0.25, -7.0, 0.0, -8.0, 0.75, // batch 1
    ];
    let (got, shape) = pool(
        B::MaxPool2d,
        opts(Padding::Valid, 2, 2, Act::Relu6),
        &[2, 2, 2, 2],
        &x,
    );
    assert_eq!(shape, [2, 1, 1, 2]);
    assert_eq!(got, [6.0, 0.0, 0.0, 0.75]);
    let (got, _) = pool(
        B::AveragePool2d,
        opts(Padding::Valid, 2, 2, Act::ReluN1To1),
        &[2, 2, 2, 2],
        &x,
    );
    assert_eq!(got, [1.0, -1.0, -1.0, 0.375]);
}

#[test]
fn bad_pools_fail_at_allocate() {
    let x = || input_f32(&[1, 2, 2, 1], &[1.0; 4]);
    // Absent options: zero strides and filter sizes.
    assert_invalid(&case(B::MaxPool2d, None, vec![x()], DType::F32).prepare_err());
    // Window larger than a VALID input.
    let e = case(
        B::AveragePool2d,
        opts(Padding::Valid, 3, 1, Act::None),
        vec![x()],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // Two inputs; 3-D input.
    let e = case(
        B::MaxPool2d,
        opts(Padding::Valid, 1, 1, Act::None),
        vec![x(), x()],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    let e = case(
        B::MaxPool2d,
        opts(Padding::Valid, 1, 1, Act::None),
        vec![input_f32(&[2, 2, 1], &[1.0; 4])],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // Quantized input without quantization parameters.
    let e = case(
        B::MaxPool2d,
        opts(Padding::Valid, 1, 1, Act::None),
        vec![input_raw(DType::I8, &[1, 2, 2, 1], vec![0; 4])],
        DType::I8,
    )
    .prepare_err();
    assert_invalid(&e);
    // Quantized L2_POOL_2D has no kernel.
    let e = case(
        B::L2Pool2d,
        opts(Padding::Valid, 1, 1, Act::None),
        vec![input_raw(DType::I8, &[1, 2, 2, 1], vec![0; 4])],
        DType::I8,
    )
    .prepare_err();
    assert_unsupported(&e, "L2_POOL_2D");
}
