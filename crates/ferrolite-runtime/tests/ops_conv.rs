//! CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV through the interpreter, on hand-computed cases.

mod nn_support;

use ferrolite_model::tflite::{
    ActivationFunctionType as Act, BuiltinOperator as B, BuiltinOptions as O, Conv2DOptions,
    DepthwiseConv2DOptions, Padding, TransposeConvOptions,
};
use ferrolite_model::DType;
use nn_support::*;

fn conv_opts(padding: Padding, stride: i32, dilation: i32, act: Act) -> Option<O> {
    Some(O::Conv2DOptions(Box::new(Conv2DOptions {
        padding,
        stride_h: stride,
        stride_w: stride,
        dilation_h_factor: dilation,
        dilation_w_factor: dilation,
        fused_activation_function: act,
        ..Default::default()
    })))
}

/// An f32 CONV_2D case with SAME padding, stride and dilation 1 and no activation.
fn same_conv(operands: Vec<Operand>) -> Case {
    case(
        B::Conv2d,
        conv_opts(Padding::Same, 1, 1, Act::None),
        operands,
        DType::F32,
    )
}

fn one_to(n: usize) -> Vec<f32> {
    (1..=n).map(|v| v as f32).collect()
}

#[test]
fn conv_valid_with_bias() {
    let (got, shape) = case(
        B::Conv2d,
        conv_opts(Padding::Valid, 1, 1, Act::None),
        vec![
            input_f32(&[1, 3, 3, 1], &one_to(9)),
            const_f32(&[1, 2, 2, 1], &[1.0, 2.0, 3.0, 4.0]),
            const_f32(&[1], &[0.5]),
        ],
        DType::F32,
    )
    .run();
    assert_eq!(shape, [1, 2, 2, 1]);
    // Top-left window: 1*1 + 2*2 + 4*3 + 5*4 = 37, plus the bias.
    assert_eq!(got, [37.5, 47.5, 67.5, 77.5]);
}

#[test]
fn conv_same_with_omitted_bias_activation_filter_and_two_operand_form() {
    let filter = [1.0, 2.0, 3.0, 4.0];
    let want_same = [37.0, 47.0, 21.0, 67.0, 77.0, 33.0, 23.0, 26.0, 9.0];
    // Bias omitted as `-1`, filter fed at run time (not a constant).
    let (got, shape) = same_conv(vec![
        input_f32(&[1, 3, 3, 1], &one_to(9)),
        input_f32(&[1, 2, 2, 1], &filter),
        Operand::Omitted,
    ])
    .run();
    assert_eq!(shape, [1, 3, 3, 1]);
    assert_eq!(got, want_same);
    // Only two operands, RELU6 clamps everything above 6.
    let (got, _) = case(
        B::Conv2d,
        conv_opts(Padding::Same, 1, 1, Act::Relu6),
        vec![
            input_f32(&[1, 3, 3, 1], &one_to(9)),
            const_f32(&[1, 2, 2, 1], &filter),
        ],
        DType::F32,
    )
    .run();
    assert_eq!(got, [6.0; 9]);
}

#[test]
fn conv_stride_and_dilation() {
    // Dilation 2 turns the 2x2 filter into a 3x3 footprint: 1*1 + 3*2 + 7*3 + 9*4 = 64.
    let (got, shape) = case(
        B::Conv2d,
        conv_opts(Padding::Valid, 1, 2, Act::None),
        vec![
            input_f32(&[1, 3, 3, 1], &one_to(9)),
            const_f32(&[1, 2, 2, 1], &[1.0, 2.0, 3.0, 4.0]),
        ],
        DType::F32,
    )
    .run();
    assert_eq!((got, shape), (vec![64.0], vec![1, 1, 1, 1]));
    // Stride 2, SAME on 4x4 with a 1x1 filter of 10: picks every other pixel, batch of 2.
    let x = one_to(32);
    let (got, shape) = case(
        B::Conv2d,
        conv_opts(Padding::Same, 2, 1, Act::None),
        vec![
            input_f32(&[2, 4, 4, 1], &x),
            const_f32(&[1, 1, 1, 1], &[10.0]),
        ],
        DType::F32,
    )
    .run();
    assert_eq!(shape, [2, 2, 2, 1]);
    assert_eq!(got, [10.0, 30.0, 90.0, 110.0, 170.0, 190.0, 250.0, 270.0]);
}

#[test]
fn grouped_conv_and_multiple_output_channels() {
    // Input depth 4, filter depth 2: two groups with one filter each.
    let (got, shape) = case(
        B::Conv2d,
        conv_opts(Padding::Valid, 1, 1, Act::None),
        vec![
            input_f32(&[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]),
            const_f32(&[2, 1, 1, 2], &[1.0, 1.0, 1.0, -1.0]),
            const_f32(&[2], &[0.0, 10.0]),
        ],
        DType::F32,
    )
    .run();
    assert_eq!(shape, [1, 1, 1, 2]);
    assert_eq!(got, [3.0, 9.0]);
}

fn dw_opts(multiplier: i32) -> Option<O> {
    Some(O::DepthwiseConv2DOptions(Box::new(
        DepthwiseConv2DOptions {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 1,
            depth_multiplier: multiplier,
            ..Default::default()
        },
    )))
}

#[test]
fn depthwise_multiplier_two() {
    let want = [11.0, 21.0, 61.0, 81.0, 31.0, 61.0, 121.0, 161.0];
    // depth_multiplier 2 matches the shapes; 0 (absent) and a stale 1 are tolerated like TFLite,
    // which derives the multiplier from filter depth / input depth.
    for multiplier in [2, 0, 1] {
        let (got, shape) = case(
            B::DepthwiseConv2d,
            dw_opts(multiplier),
            vec![
                input_f32(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]),
                const_f32(&[1, 1, 1, 4], &[10.0, 20.0, 30.0, 40.0]),
                const_f32(&[4], &[1.0; 4]),
            ],
            DType::F32,
        )
        .version(2)
        .run();
        assert_eq!(shape, [1, 1, 2, 4]);
        assert_eq!(got, want);
    }
}

#[test]
fn depthwise_same_padding_without_bias() {
    // 3x3 box filter on a 3x3 image of ones, SAME: counts the in-bounds taps.
    let mut opts = dw_opts(1);
    if let Some(O::DepthwiseConv2DOptions(o)) = &mut opts {
        o.padding = Padding::Same;
    }
    let (got, _) = case(
        B::DepthwiseConv2d,
        opts,
        vec![
            input_f32(&[1, 3, 3, 1], &[1.0; 9]),
            const_f32(&[1, 3, 3, 1], &[1.0; 9]),
            Operand::Omitted,
        ],
        DType::F32,
    )
    .run();
    assert_eq!(got, [4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
}

fn tconv_opts(padding: Padding, stride_h: i32, stride_w: i32, act: Act) -> Option<O> {
    Some(O::TransposeConvOptions(Box::new(TransposeConvOptions {
        padding,
        stride_h,
        stride_w,
        fused_activation_function: act,
        ..Default::default()
    })))
}

#[test]
fn transpose_conv_valid_and_same() {
    // Each input pixel writes two output columns: [1*10, 1*1, 2*10, 2*1] + bias.
    let (got, shape) = case(
        B::TransposeConv,
        tconv_opts(Padding::Valid, 1, 2, Act::None),
        vec![
            const_i32(&[4], &[1, 1, 4, 1]),
            const_f32(&[1, 1, 2, 1], &[10.0, 1.0]),
            input_f32(&[1, 1, 2, 1], &[1.0, 2.0]),
            const_f32(&[1], &[0.5]),
        ],
        DType::F32,
    )
    .version(4)
    .run();
    assert_eq!(shape, [1, 1, 4, 1]);
    assert_eq!(got, [10.5, 1.5, 20.5, 2.5]);
    // SAME, output width 3, stride 2: pad 1, contributions overlap at x = 1; no bias operand.
    let (got, _) = case(
        B::TransposeConv,
        tconv_opts(Padding::Same, 1, 2, Act::None),
        vec![
            const_i32(&[4], &[1, 1, 3, 1]),
            const_f32(&[1, 1, 3, 1], &[1.0, 10.0, 100.0]),
            input_f32(&[1, 1, 2, 1], &[1.0, 2.0]),
        ],
        DType::F32,
    )
    .run();
    assert_eq!(got, [10.0, 102.0, 20.0]);
    // Fused RELU clamps the negative outputs; bias omitted as `-1`.
    let (got, _) = case(
        B::TransposeConv,
        tconv_opts(Padding::Valid, 1, 2, Act::Relu),
        vec![
            const_i32(&[4], &[1, 1, 4, 1]),
            const_f32(&[1, 1, 2, 1], &[10.0, -1.0]),
            input_f32(&[1, 1, 2, 1], &[1.0, -2.0]),
            Operand::Omitted,
        ],
        DType::F32,
    )
    .run();
    assert_eq!(got, [10.0, 0.0, 0.0, 2.0]);
}

#[test]
fn quantized_and_hybrid_convs_need_weight_parameters() {
    let e = case(
        B::Conv2d,
        conv_opts(Padding::Valid, 1, 1, Act::None),
        vec![
            input_raw(DType::I8, &[1, 2, 2, 1], vec![0; 4]),
            constant(DType::I8, &[1, 1, 1, 1], &[1i8]),
        ],
        DType::I8,
    )
    .prepare_err();
    // int8 operands without quantization parameters.
    assert_invalid(&e);
    let e = case(
        B::DepthwiseConv2d,
        dw_opts(1),
        vec![
            input_f32(&[1, 2, 2, 1], &[0.0; 4]),
            constant(DType::I8, &[1, 1, 1, 1], &[1i8]),
        ],
        DType::F32,
    )
    .prepare_err();
    // Hybrid depthwise (tests/hybrid.rs) with int8 weights lacking quantization parameters.
    assert_invalid(&e);
}

#[test]
fn bad_convs_fail_at_allocate() {
    let x = || input_f32(&[1, 3, 3, 1], &one_to(9));
    let w = || const_f32(&[1, 2, 2, 1], &[1.0; 4]);
    // One operand only.
    assert_invalid(&same_conv(vec![x()]).prepare_err());
    // Absent options: stride 0.
    assert_invalid(&case(B::Conv2d, None, vec![x(), w()], DType::F32).prepare_err());
    // Filter depth 2 does not divide input depth 1.
    assert_invalid(&same_conv(vec![x(), const_f32(&[1, 1, 1, 2], &[1.0; 2])]).prepare_err());
    // Bias of the wrong length; 3-D input.
    assert_invalid(&same_conv(vec![x(), w(), const_f32(&[2], &[0.0; 2])]).prepare_err());
    assert_invalid(&same_conv(vec![input_f32(&[3, 3, 1], &one_to(9)), w()]).prepare_err());
    // Depthwise filter channels not a multiple of the input depth.
    let e = case(
        B::DepthwiseConv2d,
        dw_opts(1),
        vec![
            input_f32(&[1, 1, 1, 2], &[1.0; 2]),
            const_f32(&[1, 1, 1, 3], &[1.0; 3]),
        ],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // Too new a version.
    let e = same_conv(vec![x(), w()]).version(9).prepare_err();
    assert_unsupported(&e, "version 9");
}

#[test]
fn transpose_conv_needs_a_known_output_shape() {
    // An output shape fed at run time is resolved at invoke.
    let (out, shape) = case(
        B::TransposeConv,
        tconv_opts(Padding::Valid, 1, 2, Act::None),
        vec![
            input_raw(
                DType::I32,
                &[4],
                bytemuck::cast_slice(&[1i32, 1, 4, 1]).to_vec(),
            ),
            const_f32(&[1, 1, 2, 1], &[10.0, 1.0]),
            input_f32(&[1, 1, 2, 1], &[1.0, 2.0]),
        ],
        DType::F32,
    )
    .run();
    assert_eq!(shape, [1, 1, 4, 1]);
    assert_eq!(out, [10.0, 1.0, 20.0, 2.0]);
    // Output depth 2 disagrees with the filter's 1 output channel.
    let e = case(
        B::TransposeConv,
        tconv_opts(Padding::Valid, 1, 2, Act::None),
        vec![
            const_i32(&[4], &[1, 1, 4, 2]),
            const_f32(&[1, 1, 2, 1], &[10.0, 1.0]),
            input_f32(&[1, 1, 2, 1], &[1.0, 2.0]),
        ],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
}
