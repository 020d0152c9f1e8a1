//! QUANTIZE and DEQUANTIZE through the interpreter.

mod movement_support;

use ferrolite_model::tflite::{AddOptions, BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;
use half::f16;
use movement_support::*;

#[test]
fn quantize_float_to_int8_uint8_int16() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[5], &[0.0f32, 0.25, -1.0, 100.0, -100.0]);
    let y = single(&mut g, B::Quantize, None, &[x], DType::I8, &[5]);
    g.quant(y, 0.5, -1);
    // round(x / 0.5) - 1, half away from zero, clamped.
    assert_eq!(get::<i8>(&g.run(), y), [-1, 0, -3, 127, -128]);

    let mut g = Graph::new();
    let x = g.input(DType::F32, &[3], &[0.0f32, 1.0, -1.0]);
    let y = single(&mut g, B::Quantize, None, &[x], DType::U8, &[3]);
    g.quant(y, 0.25, 128);
    assert_eq!(get::<u8>(&g.run(), y), [128, 132, 124]);

    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[0.3f32, -40000.0]);
    let y = single(&mut g, B::Quantize, None, &[x], DType::I16, &[2]);
    g.quant(y, 0.1, 0);
    assert_eq!(get::<i16>(&g.run(), y), [3, -32768]);
}

#[test]
fn quantize_uint8_to_int8_shifts_zero_point() {
    let mut g = Graph::new();
    let x = g.input(DType::U8, &[3], &[0u8, 128, 255]);
    g.quant(x, 0.02, 128);
    let y = single(&mut g, B::Quantize, None, &[x], DType::I8, &[3]);
    g.quant(y, 0.02, 0);
    assert_eq!(get::<i8>(&g.run(), y), [-128, 0, 127]);

    // Different scales: real requantization (-2.56 at scale 0.04 is -64).
    let mut g = Graph::new();
    let x = g.input(DType::U8, &[3], &[0u8, 129, 255]);
    g.quant(x, 0.02, 128);
    let y = single(&mut g, B::Quantize, None, &[x], DType::I8, &[3]);
    g.quant(y, 0.04, 0);
    // 0.02 / 0.04 = 0.5: -128 -> -64, 1 -> 0.5 -> 1 (half away from zero), 127 -> 63.5 -> 64.
    assert_eq!(get::<i8>(&g.run(), y), [-64, 1, 64]);
}

#[test]
fn quantize_errors() {
    // Float output.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1], &[0.0f32]);
    single(&mut g, B::Quantize, None, &[x], DType::F32, &[1]);
    assert!(is_unsupported(&g.prepare_err()));

    // No output parameters.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1], &[0.0f32]);
    single(&mut g, B::Quantize, None, &[x], DType::I8, &[1]);
    assert!(is_invalid(&g.prepare_err()));

    // Zero point outside int8.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1], &[0.0f32]);
    let y = single(&mut g, B::Quantize, None, &[x], DType::I8, &[1]);
    g.quant(y, 0.5, 200);
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn dequantize_per_tensor_and_per_channel() {
    let mut g = Graph::new();
    let x = g.input(DType::I8, &[3], &[-128i8, 0, 127]);
    g.quant(x, 0.5, -1);
    let y = single(&mut g, B::Dequantize, None, &[x], DType::F32, &[3]);
    assert_eq!(get::<f32>(&g.run(), y), [-63.5, 0.5, 64.0]);

    let mut g = Graph::new();
    let x = g.input(DType::U8, &[2], &[0u8, 255]);
    g.quant(x, 0.1, 128);
    let y = single(&mut g, B::Dequantize, None, &[x], DType::F32, &[2]);
    let want = [
        (f64::from(0.1f32) * -128.0) as f32,
        (f64::from(0.1f32) * 127.0) as f32,
    ];
    assert_eq!(get::<f32>(&g.run(), y), want);

    // Per-channel constant weights along axis 0 (folded at prepare).
    let mut g = Graph::new();
    let w = g.constant(DType::I8, &[2, 3], &[-3i8, 0, 5, 7, -8, 1]);
    g.quant_per_channel(w, &[0.5, 2.0], &[0, 1], 0);
    let y = single(&mut g, B::Dequantize, None, &[w], DType::F32, &[2, 3]);
    assert_eq!(get::<f32>(&g.run(), y), [-1.5, 0.0, 2.5, 12.0, -18.0, 0.0]);
}

#[test]
fn float16_weights_feed_a_float_op() {
    // f16 constant -> DEQUANTIZE -> ADD with a float input: TF's float16 model pattern.
    let mut g = Graph::new();
    let w: Vec<u16> = [1.5f32, -0.1, 2.0]
        .iter()
        .map(|&v| f16::from_f32(v).to_bits())
        .collect();
    let c = g.constant(DType::F16, &[3], &w);
    let wf = g.tensor(DType::F32, &[3]);
    g.op(B::Dequantize, None, &[Some(c)], &[wf]);
    let x = g.input(DType::F32, &[3], &[1.0f32, 1.0, 1.0]);
    let y = g.output(DType::F32, &[3]);
    let opts = AddOptions::default();
    g.op(
        B::Add,
        Some(O::AddOptions(Box::new(opts))),
        &[Some(x), Some(wf)],
        &[y],
    );
    let it = g.run();
    let want = [2.5, 1.0 + f16::from_f32(-0.1).to_f32(), 3.0];
    assert_eq!(get::<f32>(&it, y), want);
}

#[test]
fn dequantize_errors() {
    // No parameters on an integer input.
    let mut g = Graph::new();
    let x = g.input(DType::I8, &[1], &[0i8]);
    single(&mut g, B::Dequantize, None, &[x], DType::F32, &[1]);
    assert!(is_invalid(&g.prepare_err()));

    // Output must be float32.
    let mut g = Graph::new();
    let x = g.input(DType::I8, &[1], &[0i8]);
    g.quant(x, 0.5, 0);
    single(&mut g, B::Dequantize, None, &[x], DType::I32, &[1]);
    assert!(is_invalid(&g.prepare_err()));

    // Float input is not dequantizable.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[1], &[0.0f32]);
    single(&mut g, B::Dequantize, None, &[x], DType::F32, &[1]);
    assert!(is_unsupported(&g.prepare_err()));

    // Per-channel parameters that do not match the channel count (the model validator or
    // prepare rejects them; either way nothing runs).
    let mut g = Graph::new();
    let w = g.constant(DType::I8, &[2, 3], &[0i8; 6]);
    g.quant_per_channel(w, &[0.5, 2.0], &[0, 0], 1);
    single(&mut g, B::Dequantize, None, &[w], DType::F32, &[2, 3]);
    assert!(g.try_run().is_err());
}
