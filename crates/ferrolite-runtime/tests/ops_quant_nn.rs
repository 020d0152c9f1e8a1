//! Quantized and dynamic-range glue for CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and the 2-D
//! pools through the interpreter: results within one code of a float reference computed on the
//! dequantized operands, and the prepare-time checks (weights zero points, per-channel counts and
//! axes, bias scales, dtype combinations).

mod qglue_support;

use ferrolite_model::tflite::{
    ActivationFunctionType as Act, BuiltinOperator as B, BuiltinOptions as O, Conv2DOptions,
    DepthwiseConv2DOptions, FullyConnectedOptions, Padding, Pool2DOptions,
};
use ferrolite_model::DType;
use ferrolite_runtime::kernels::common::{Activation, Padding as KPadding};
use ferrolite_runtime::kernels::conv::{self, Conv2DParams};
use ferrolite_runtime::kernels::matmul::{self, FullyConnectedParams};
use qglue_support::*;

fn conv_opts(padding: Padding, act: Act) -> Option<O> {
    Some(O::Conv2DOptions(Box::new(Conv2DOptions {
        padding,
        stride_h: 1,
        stride_w: 1,
        dilation_h_factor: 1,
        dilation_w_factor: 1,
        fused_activation_function: act,
        ..Default::default()
    })))
}

fn dw_opts() -> Option<O> {
    Some(O::DepthwiseConv2DOptions(Box::new(
        DepthwiseConv2DOptions {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 1,
            depth_multiplier: 2,
            dilation_h_factor: 1,
            dilation_w_factor: 1,
            ..Default::default()
        },
    )))
}

fn fc_opts(act: Act, keep_num_dims: bool, asymmetric: bool) -> Option<O> {
    Some(O::FullyConnectedOptions(Box::new(FullyConnectedOptions {
        fused_activation_function: act,
        keep_num_dims,
        asymmetric_quantize_inputs: asymmetric,
        ..Default::default()
    })))
}

fn geometry(padding: KPadding, activation: Activation) -> Conv2DParams {
    Conv2DParams {
        padding,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        activation,
    }
}

fn i8s(v: &[i32]) -> Vec<i8> {
    v.iter().map(|&x| x as i8).collect()
}

/// Dequantizes per output channel `c = index / per_channel` (OHWI) or `index % channels` (1HWO).
fn deq_filter(w: &[i8], scales: &[f32], channel_of: impl Fn(usize) -> usize) -> Vec<f32> {
    w.iter()
        .enumerate()
        .map(|(i, &v)| f32::from(v) * scales[channel_of(i)])
        .collect()
}

#[test]
fn int8_conv_per_channel_with_bias_and_relu() {
    let (s_in, zp_in, s_out, zp_out) = (0.05f32, -3i64, 0.03f32, 5i64);
    let scales = [0.01f32, 0.02];
    let x = i8s(&codes(18, 1, -128, 127));
    let w = i8s(&codes(16, 2, -127, 127));
    let bias = [100i32, -50];
    let bias_scales: Vec<f32> = scales.iter().map(|s| s * s_in).collect();
    let got: Vec<i8> = single(
        B::Conv2d,
        conv_opts(Padding::Same, Act::Relu),
        vec![
            Some(fed(DType::I8, &[1, 3, 3, 2], &x).q(s_in, zp_in)),
            Some(konst(DType::I8, &[2, 2, 2, 2], &w).qc(&scales, 0)),
            Some(konst(DType::I32, &[2], &bias).qc(&bias_scales, 0)),
        ],
        vec![decl(DType::I8).q(s_out, zp_out)],
    )
    .run();
    let g = geometry(KPadding::Same, Activation::Relu);
    let (is, fs, os) = ([1, 3, 3, 2], [2, 2, 2, 2], [1, 3, 3, 2]);
    let real_b: Vec<f32> = bias
        .iter()
        .zip(&bias_scales)
        .map(|(&b, &s)| b as f32 * s)
        .collect();
    let mut want = vec![0f32; 18];
    conv::conv2d(
        &g,
        &deq(&x, s_in, zp_in),
        is,
        &deq_filter(&w, &scales, |i| i / 8),
        fs,
        Some(&real_b),
        &mut want,
        os,
    );
    assert_within(&got, &quantize(&want, s_out, zp_out, zp_out, 127), 1);
}

#[test]
fn int8_depthwise_and_uint8_conv() {
    // Depthwise, multiplier 2, per-channel along dimension 3, no bias.
    let (s_in, zp_in, s_out, zp_out) = (0.1f32, 7i64, 0.2f32, -10i64);
    let scales = [0.01f32, 0.02, 0.03, 0.04];
    let x = i8s(&codes(18, 3, -128, 127));
    let w = i8s(&codes(16, 4, -127, 127));
    let got: Vec<i8> = single(
        B::DepthwiseConv2d,
        dw_opts(),
        vec![
            Some(fed(DType::I8, &[1, 3, 3, 2], &x).q(s_in, zp_in)),
            Some(konst(DType::I8, &[1, 2, 2, 4], &w).qc(&scales, 3)),
        ],
        vec![decl(DType::I8).q(s_out, zp_out)],
    )
    .run();
    let mut want = vec![0f32; 16];
    conv::depthwise_conv2d(
        &geometry(KPadding::Valid, Activation::None),
        &deq(&x, s_in, zp_in),
        [1, 3, 3, 2],
        &deq_filter(&w, &scales, |i| i % 4),
        [1, 2, 2, 4],
        None,
        &mut want,
        [1, 2, 2, 4],
    );
    assert_within(&got, &quantize(&want, s_out, zp_out, -128, 127), 1);

    // Legacy uint8 CONV_2D: per-tensor weights with a zero point.
    let (s_in, zp_in, s_w, zp_w, s_out, zp_out) = (0.02f32, 128i64, 0.01f32, 120i64, 0.05, 100);
    let x: Vec<u8> = codes(9, 5, 0, 255).iter().map(|&v| v as u8).collect();
    let w: Vec<u8> = codes(4, 6, 0, 255).iter().map(|&v| v as u8).collect();
    let got: Vec<u8> = single(
        B::Conv2d,
        conv_opts(Padding::Valid, Act::None),
        vec![
            Some(fed(DType::U8, &[1, 3, 3, 1], &x).q(s_in, zp_in)),
            Some(konst(DType::U8, &[1, 2, 2, 1], &w).q(s_w, zp_w)),
            Some(konst(DType::I32, &[1], &[-300i32]).q(s_in * s_w, 0)),
        ],
        vec![decl(DType::U8).q(s_out, zp_out)],
    )
    .run();
    let mut want = vec![0f32; 4];
    conv::conv2d(
        &geometry(KPadding::Valid, Activation::None),
        &deq(&x, s_in, zp_in),
        [1, 3, 3, 1],
        &deq(&w, s_w, zp_w),
        [1, 2, 2, 1],
        Some(&[-300.0 * s_in * s_w]),
        &mut want,
        [1, 2, 2, 1],
    );
    assert_within(&got, &quantize(&want, s_out, zp_out, 0, 255), 1);
}

#[test]
fn int16x8_conv_with_int64_bias() {
    let (s_in, s_out) = (0.001f32, 0.002f32);
    let scales = [0.01f32, 0.005];
    let x: Vec<i16> = codes(9, 7, -30000, 30000)
        .iter()
        .map(|&v| v as i16)
        .collect();
    let w = i8s(&codes(8, 8, -127, 127));
    let bias = [5_000i64, -7_000];
    let got: Vec<i16> = single(
        B::Conv2d,
        conv_opts(Padding::Valid, Act::None),
        vec![
            Some(fed(DType::I16, &[1, 3, 3, 1], &x).q(s_in, 0)),
            Some(konst(DType::I8, &[2, 2, 2, 1], &w).qc(&scales, 0)),
            Some(konst(DType::I64, &[2], &bias)),
        ],
        vec![decl(DType::I16).q(s_out, 0)],
    )
    .run();
    let real_b: Vec<f32> = bias
        .iter()
        .zip(&scales)
        .map(|(&b, &s)| b as f32 * s * s_in)
        .collect();
    let mut want = vec![0f32; 8];
    conv::conv2d(
        &geometry(KPadding::Valid, Activation::None),
        &deq(&x, s_in, 0),
        [1, 3, 3, 1],
        &deq_filter(&w, &scales, |i| i / 4),
        [2, 2, 2, 1],
        Some(&real_b),
        &mut want,
        [1, 2, 2, 2],
    );
    assert_within(&got, &quantize(&want, s_out, 0, -32768, 32767), 1);
}

#[test]
fn quantized_fully_connected_int8_uint8_int16() {
    // int8, per-channel, keep_num_dims on a rank-3 input.
    let (s_in, zp_in, s_out, zp_out) = (0.04f32, 10i64, 0.1f32, -20i64);
    let scales = [0.02f32, 0.01, 0.03];
    let x = i8s(&codes(16, 9, -128, 127));
    let w = i8s(&codes(12, 10, -127, 127));
    let fc = |x: &[f32], w: &[f32], b: Option<&[f32]>, act, rows: usize| {
        let mut out = vec![0f32; rows * 3];
        let p = FullyConnectedParams {
            activation: act,
            keep_num_dims: false,
        };
        matmul::fully_connected(&p, x, w, [3, 4], b, &mut out);
        out
    };
    let got: Vec<i8> = single(
        B::FullyConnected,
        fc_opts(Act::None, true, false),
        vec![
            Some(fed(DType::I8, &[2, 2, 4], &x).q(s_in, zp_in)),
            Some(konst(DType::I8, &[3, 4], &w).qc(&scales, 0)),
            None,
        ],
        vec![decl(DType::I8).q(s_out, zp_out)],
    )
    .run();
    let real_w = deq_filter(&w, &scales, |i| i / 4);
    let want = fc(&deq(&x, s_in, zp_in), &real_w, None, Activation::None, 4);
    assert_within(&got, &quantize(&want, s_out, zp_out, -128, 127), 1);

    // uint8, per-tensor weights with a zero point, RELU6.
    let x: Vec<u8> = codes(8, 11, 0, 255).iter().map(|&v| v as u8).collect();
    let w: Vec<u8> = codes(12, 12, 0, 255).iter().map(|&v| v as u8).collect();
    let got: Vec<u8> = single(
        B::FullyConnected,
        fc_opts(Act::Relu6, false, false),
        vec![
            Some(fed(DType::U8, &[2, 4], &x).q(0.05, 128)),
            Some(konst(DType::U8, &[3, 4], &w).q(0.02, 127)),
            Some(konst(DType::I32, &[3], &[10i32, 0, -10]).q(0.001, 0)),
        ],
        vec![decl(DType::U8).q(0.03, 0)],
    )
    .run();
    let want = fc(
        &deq(&x, 0.05, 128),
        &deq(&w, 0.02, 127),
        Some(&[0.01, 0.0, -0.01]),
        Activation::Relu6,
        2,
    );
    assert_within(&got, &quantize(&want, 0.03, 0, 0, 200), 1);

    // int16x8 with an int32 bias.
    let x: Vec<i16> = codes(8, 13, -32768, 32767)
        .iter()
        .map(|&v| v as i16)
        .collect();
    let w = i8s(&codes(12, 14, -127, 127));
    let got: Vec<i16> = single(
        B::FullyConnected,
        fc_opts(Act::None, false, false),
        vec![
            Some(fed(DType::I16, &[2, 4], &x).q(1e-4, 0)),
            Some(konst(DType::I8, &[3, 4], &w).q(0.01, 0)),
            Some(konst(DType::I32, &[3], &[1000i32, 2000, -3000])),
        ],
        vec![decl(DType::I16).q(2e-4, 0)],
    )
    .run();
    let b = [1000.0 * 1e-6f32, 2000.0 * 1e-6, -3000.0 * 1e-6];
    let want = fc(
        &deq(&x, 1e-4, 0),
        &deq(&w, 0.01, 0),
        Some(&b),
        Activation::None,
        2,
    );
    assert_within(&got, &quantize(&want, 2e-4, 0, -32768, 32767), 1);
}

#[test]
fn dynamic_range_fully_connected_and_conv() {
    let x: Vec<f32> = (0..8).map(|i| (i as f32 - 3.5) * 0.3).collect();
    let w = i8s(&codes(12, 15, -127, 127));
    let scales = [0.01f32, 0.02, 0.005];
    let real_w = deq_filter(&w, &scales, |i| i / 4);
    let bias = [0.5f32, -0.25, 0.0];
    for asymmetric in [false, true] {
        let got: Vec<f32> = single(
            B::FullyConnected,
            fc_opts(Act::Relu, false, asymmetric),
            vec![
                Some(fed(DType::F32, &[2, 4], &x)),
                Some(konst(DType::I8, &[3, 4], &w).qc(&scales, 0)),
                Some(konst(DType::F32, &[3], &bias)),
            ],
            vec![decl(DType::F32)],
        )
        .run();
        let mut want = vec![0f32; 6];
        let p = FullyConnectedParams {
            activation: Activation::Relu,
            keep_num_dims: false,
        };
        matmul::fully_connected(&p, &x, &real_w, [3, 4], Some(&bias), &mut want);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 0.02, "{asymmetric}: {got:?} vs {want:?}");
        }
    }

    // Hybrid CONV_2D: per-channel int8 weights, float bias.
    let x: Vec<f32> = (0..18).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.2).collect();
    let w = i8s(&codes(16, 16, -127, 127));
    let scales = [0.01f32, 0.03];
    let got: Vec<f32> = single(
        B::Conv2d,
        conv_opts(Padding::Same, Act::None),
        vec![
            Some(fed(DType::F32, &[1, 3, 3, 2], &x)),
            Some(konst(DType::I8, &[2, 2, 2, 2], &w).qc(&scales, 0)),
            Some(konst(DType::F32, &[2], &[0.1f32, -0.1])),
        ],
        vec![decl(DType::F32)],
    )
    .run();
    let mut want = vec![0f32; 18];
    conv::conv2d(
        &geometry(KPadding::Same, Activation::None),
        &x,
        [1, 3, 3, 2],
        &deq_filter(&w, &scales, |i| i / 8),
        [2, 2, 2, 2],
        Some(&[0.1, -0.1]),
        &mut want,
        [1, 3, 3, 2],
    );
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 0.05, "{got:?} vs {want:?}");
    }
}

fn pool_opts(k: i32, act: Act) -> Option<O> {
    Some(O::Pool2DOptions(Box::new(Pool2DOptions {
        padding: Padding::Valid,
        stride_h: k,
        stride_w: k,
        filter_height: k,
        filter_width: k,
        fused_activation_function: act,
    })))
}

#[test]
fn quantized_pools() {
    // Windows [1,2,3,4] -> 2.5 -> 3 ; [-1,-2,-3,-4] -> -3 ; [1,1,1,0] -> 1 (away from zero).
    let x = [1i8, 2, -1, -2, 1, 1, 3, 4, -3, -4, 1, 0];
    let avg: Vec<i8> = single(
        B::AveragePool2d,
        pool_opts(2, Act::None),
        vec![Some(fed(DType::I8, &[1, 2, 6, 1], &x).q(0.5, 0))],
        vec![decl(DType::I8).q(0.5, 0)],
    )
    .run();
    assert_eq!(avg, [3, -3, 1]);
    let max: Vec<i8> = single(
        B::MaxPool2d,
        pool_opts(2, Act::Relu),
        vec![Some(fed(DType::I8, &[1, 2, 6, 1], &x).q(0.5, 2))],
        vec![decl(DType::I8).q(0.5, 2)],
    )
    .run();
    // RELU clamps at the zero point 2.
    assert_eq!(max, [4, 2, 2]);
    // Input and output must share quantization.
    let e = single(
        B::MaxPool2d,
        pool_opts(2, Act::None),
        vec![Some(fed(DType::I8, &[1, 2, 6, 1], &x).q(0.5, 0))],
        vec![decl(DType::I8).q(0.25, 0)],
    )
    .err();
    assert_invalid(&e, "share scale and zero point");
}

#[test]
fn prepare_rejects_inconsistent_quantization() {
    let x = || Some(fed(DType::I8, &[1, 2, 2, 1], &[0i8; 4]).q(0.1, 0));
    let w =
        |scales: &[f32], axis| Some(konst(DType::I8, &[2, 1, 1, 1], &[1i8, 2]).qc(scales, axis));
    let run = |filter, bias: Option<_>| {
        single(
            B::Conv2d,
            conv_opts(Padding::Valid, Act::None),
            vec![x(), filter, bias],
            vec![decl(DType::I8).q(0.1, 0)],
        )
        .err()
    };
    // Per-channel along the input-depth axis instead of the output channels.
    let e = single(
        B::Conv2d,
        conv_opts(Padding::Valid, Act::None),
        vec![
            Some(fed(DType::I8, &[1, 1, 1, 2], &[0i8; 2]).q(0.1, 0)),
            Some(konst(DType::I8, &[2, 1, 1, 2], &[1i8; 4]).qc(&[0.1, 0.2], 3)),
        ],
        vec![decl(DType::I8).q(0.1, 0)],
    )
    .err();
    assert_invalid(&e, "dimension 3");
    // Three scales (along the depth axis) for two units.
    let e = single(
        B::FullyConnected,
        fc_opts(Act::None, false, false),
        vec![
            Some(fed(DType::I8, &[1, 3], &[0i8; 3]).q(0.1, 0)),
            Some(konst(DType::I8, &[2, 3], &[1i8; 6]).qc(&[0.1, 0.2, 0.3], 1)),
        ],
        vec![decl(DType::I8).q(0.1, 0)],
    )
    .err();
    assert_invalid(&e, "3 scales for 2");
    // Asymmetric int8 weights.
    let asym = Some(konst(DType::I8, &[2, 1, 1, 1], &[1i8, 2]).q(0.1, 3));
    assert_invalid(&run(asym, None), "symmetric");
    // Bias scale far from input × weight scale.
    let bias = Some(konst(DType::I32, &[2], &[1i32, 2]).qc(&[0.5, 0.5], 0));
    assert_invalid(&run(w(&[0.1, 0.2], 0), bias), "bias scale");
    // int8 input with uint8 weights.
    let u8w = Some(konst(DType::U8, &[2, 1, 1, 1], &[1u8, 2]).q(0.1, 0));
    assert_unsupported(&run(u8w, None), "uint8 weights");
    // int16 activations must be symmetric.
    let e = single(
        B::FullyConnected,
        fc_opts(Act::None, false, false),
        vec![
            Some(fed(DType::I16, &[1, 2], &[0i16; 2]).q(0.1, 5)),
            Some(konst(DType::I8, &[1, 2], &[1i8, 1]).q(0.1, 0)),
        ],
        vec![decl(DType::I16).q(0.1, 0)],
    )
    .err();
    assert_invalid(&e, "symmetric");
}
