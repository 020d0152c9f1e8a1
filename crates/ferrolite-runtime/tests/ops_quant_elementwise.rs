//! Quantized glue for the elementwise, reduction, softmax / activation and concatenation ops
//! through the interpreter: results within one code of a float reference on the dequantized
//! operands (exact where the arithmetic is exact), plus the prepare-time rejections.

mod qglue_support;

use ferrolite_model::tflite::{
    ActivationFunctionType as Act, AddOptions, BuiltinOperator as B, BuiltinOptions as O,
    ConcatenationOptions, ReducerOptions, SoftmaxOptions,
};
use ferrolite_model::DType;
use qglue_support::*;

fn add_opts(act: Act, pot: bool) -> Option<O> {
    Some(O::AddOptions(Box::new(AddOptions {
        fused_activation_function: act,
        pot_scale_int16: pot,
    })))
}

fn i8s(v: &[i32]) -> Vec<i8> {
    v.iter().map(|&x| x as i8).collect()
}

#[test]
fn add_sub_mul_broadcast_within_one_code() {
    let (qa, qb, qo) = ((0.031f32, -7i64), (0.047f32, 12i64), (0.06f32, 3i64));
    let a = i8s(&codes(12, 21, -128, 127));
    let b = i8s(&codes(4, 22, -128, 127));
    let (ra, rb) = (deq(&a, qa.0, qa.1), deq(&b, qb.0, qb.1));
    for (op, f) in [
        (B::Add, (|x, y| x + y) as fn(f32, f32) -> f32),
        (B::Sub, |x, y| x - y),
        (B::Mul, |x, y| x * y),
    ] {
        let out_scale = if op == B::Mul { 0.02 } else { qo.0 };
        let got: Vec<i8> = single(
            op,
            None,
            vec![
                Some(fed(DType::I8, &[3, 4], &a).q(qa.0, qa.1)),
                Some(fed(DType::I8, &[4], &b).q(qb.0, qb.1)),
            ],
            vec![decl(DType::I8).q(out_scale, qo.1)],
        )
        .run();
        let want: Vec<f32> = (0..12).map(|i| f(ra[i], rb[i % 4])).collect();
        assert_within(&got, &quantize(&want, out_scale, qo.1, -128, 127), 1);
    }

    // int16 ADD (general scales) and uint8 ADD with a fused RELU.
    let a: Vec<i16> = codes(6, 23, -20000, 20000)
        .iter()
        .map(|&v| v as i16)
        .collect();
    let got: Vec<i16> = single(
        B::Add,
        add_opts(Act::None, false),
        vec![
            Some(fed(DType::I16, &[6], &a).q(0.001, 0)),
            Some(fed(DType::I16, &[6], &a).q(0.0005, 0)),
        ],
        vec![decl(DType::I16).q(0.002, 0)],
    )
    .run();
    let want: Vec<f32> = a.iter().map(|&v| f32::from(v) * 0.0015).collect();
    assert_within(&got, &quantize(&want, 0.002, 0, -32768, 32767), 1);
    let u = [0u8, 100, 128, 255];
    let got: Vec<u8> = single(
        B::Add,
        add_opts(Act::Relu, false),
        vec![
            Some(fed(DType::U8, &[4], &u).q(0.1, 128)),
            Some(fed(DType::U8, &[4], &u).q(0.1, 128)),
        ],
        vec![decl(DType::U8).q(0.2, 128)],
    )
    .run();
    assert_eq!(got, [128, 128, 128, 255]);

    // int16 ADD with power-of-two scales under pot_scale_int16: TFLite's other path, no kernel.
    let e = single(
        B::Add,
        add_opts(Act::None, true),
        vec![
            Some(fed(DType::I16, &[1], &[0i16]).q(0.5, 0)),
            Some(fed(DType::I16, &[1], &[0i16]).q(0.25, 0)),
        ],
        vec![decl(DType::I16).q(1.0, 0)],
    )
    .err();
    assert_unsupported(&e, "pot_scale_int16");
}

#[test]
fn maximum_minimum_compare_raw_codes() {
    let (a, b) = ([-5i8, 7, 100], [3i8, -9, 100]);
    let run = |op, out_zp| {
        single(
            op,
            None,
            vec![
                Some(fed(DType::I8, &[3], &a).q(0.1, 1)),
                Some(fed(DType::I8, &[3], &b).q(0.1, 1)),
            ],
            vec![decl(DType::I8).q(0.1, out_zp)],
        )
    };
    assert_eq!(run(B::Maximum, 1).run::<i8>(), [3, 7, 100]);
    assert_eq!(run(B::Minimum, 1).run::<i8>(), [-5, -9, 100]);
    assert_unsupported(&run(B::Maximum, 2).err(), "differing");
}

fn reducer(keep_dims: bool) -> Option<O> {
    Some(O::ReducerOptions(Box::new(ReducerOptions { keep_dims })))
}

#[test]
fn mean_and_sum() {
    let (qi, qo) = ((0.07f32, 3i64), (0.05f32, -4i64));
    let x = i8s(&codes(24, 31, -128, 127));
    let rx = deq(&x, qi.0, qi.1);
    // [1, 2, 3, 4] over {1, 2} with keep_dims: LiteRT's height/width kernel.
    let got: Vec<i8> = single(
        B::Mean,
        reducer(true),
        vec![
            Some(fed(DType::I8, &[1, 2, 3, 4], &x).q(qi.0, qi.1)),
            Some(konst(DType::I32, &[2], &[1i32, 2])),
        ],
        vec![decl(DType::I8).q(qo.0, qo.1)],
    )
    .run();
    let want: Vec<f32> = (0..4)
        .map(|c| (0..6).map(|p| rx[p * 4 + c]).sum::<f32>() / 6.0)
        .collect();
    assert_within(&got, &quantize(&want, qo.0, qo.1, -128, 127), 1);
    // The general path: axis -1 without keep_dims.
    let got: Vec<i8> = single(
        B::Mean,
        reducer(false),
        vec![
            Some(fed(DType::I8, &[6, 4], &x).q(qi.0, qi.1)),
            Some(konst(DType::I32, &[1], &[-1i32])),
        ],
        vec![decl(DType::I8).q(qo.0, qo.1)],
    )
    .run();
    let want: Vec<f32> = (0..6)
        .map(|r| rx[r * 4..r * 4 + 4].iter().sum::<f32>() / 4.0)
        .collect();
    assert_within(&got, &quantize(&want, qo.0, qo.1, -128, 127), 1);
    // SUM: (6 - 3·2) · 0.5 / 1 + 1 -> 1 ; (150 - 6) · 0.5 + 1 = 73.
    let got: Vec<i8> = single(
        B::Sum,
        reducer(false),
        vec![
            Some(fed(DType::I8, &[2, 3], &[1i8, 2, 3, 40, 50, 60]).q(0.5, 2)),
            Some(konst(DType::I32, &[1], &[1i32])),
        ],
        vec![decl(DType::I8).q(1.0, 1)],
    )
    .run();
    assert_eq!(got, [1, 73]);
}

#[test]
fn softmax_logistic_tanh_relu6() {
    let x = i8s(&codes(12, 41, -128, 127));
    let rx = deq(&x, 0.05, 10);
    let got: Vec<i8> = single(
        B::Softmax,
        Some(O::SoftmaxOptions(Box::new(SoftmaxOptions { beta: 1.0 }))),
        vec![Some(fed(DType::I8, &[3, 4], &x).q(0.05, 10))],
        vec![decl(DType::I8).q(1.0 / 256.0, -128)],
    )
    .run();
    let mut want = Vec::new();
    for row in rx.chunks(4) {
        let m = row.iter().cloned().fold(f32::MIN, f32::max);
        let sum: f32 = row.iter().map(|v| (v - m).exp()).sum();
        want.extend(row.iter().map(|v| (v - m).exp() / sum));
    }
    assert_within(&got, &quantize(&want, 1.0 / 256.0, -128, -128, 127), 1);

    let unary = |op, scale, zp| {
        single(
            op,
            None,
            vec![Some(fed(DType::I8, &[12], &x).q(0.05, 10))],
            vec![decl(DType::I8).q(scale, zp)],
        )
    };
    let logistic: Vec<f32> = rx.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
    let got: Vec<i8> = unary(B::Logistic, 1.0 / 256.0, -128).run();
    assert_within(&got, &quantize(&logistic, 1.0 / 256.0, -128, -128, 127), 1);
    let tanh: Vec<f32> = rx.iter().map(|v| v.tanh()).collect();
    let got: Vec<i8> = unary(B::Tanh, 1.0 / 128.0, 0).run();
    assert_within(&got, &quantize(&tanh, 1.0 / 128.0, 0, -128, 127), 1);
    let relu6: Vec<f32> = rx.iter().map(|v| v.clamp(0.0, 6.0)).collect();
    let got: Vec<i8> = unary(B::Relu6, 0.03, -128).run();
    assert_within(&got, &quantize(&relu6, 0.03, -128, -128, 72), 1);
    // LOGISTIC's output scale is fixed.
    assert_invalid(&unary(B::Logistic, 1.0 / 128.0, 0).err(), "1/256");
}

fn concat_opts(axis: i32) -> Option<O> {
    Some(O::ConcatenationOptions(Box::new(ConcatenationOptions {
        axis,
        fused_activation_function: Act::None,
    })))
}

#[test]
fn concatenation_rescales_uint8_only() {
    let got: Vec<u8> = single(
        B::Concatenation,
        concat_opts(0),
        vec![
            Some(fed(DType::U8, &[2], &[10u8, 20]).q(0.25, 3)),
            Some(fed(DType::U8, &[3], &[0u8, 10, 200]).q(0.5, 10)),
        ],
        vec![decl(DType::U8).q(0.25, 3)],
    )
    .run();
    // The second input: (q - 10) · 2 + 3, clamped.
    assert_eq!(got, [10, 20, 0, 3, 255]);
    let e = single(
        B::Concatenation,
        concat_opts(0),
        vec![
            Some(fed(DType::I8, &[2], &[10i8, 20]).q(0.25, 3)),
            Some(fed(DType::I8, &[2], &[1i8, 2]).q(0.5, 3)),
        ],
        vec![decl(DType::I8).q(0.25, 3)],
    )
    .err();
    assert_unsupported(&e, "different quantization");
}
