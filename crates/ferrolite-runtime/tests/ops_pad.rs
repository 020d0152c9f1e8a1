//! PAD, PADV2 and MIRROR_PAD through the interpreter.

mod movement_support;

use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions as O, MirrorPadOptions};
use ferrolite_model::DType;
use movement_support::*;

#[test]
fn pad_float_with_zeros() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 2], &[1.0f32, 2.0, 3.0, 4.0]);
    let p = g.constant(DType::I32, &[2, 2], &[1i32, 0, 0, 2]);
    let y = single(&mut g, B::Pad, None, &[x, p], DType::F32, &[3, 4]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![3, 4]);
    #[rustfmt::skip]
    let want = [
        0.0, 0.0, 0.0, 0.0,
        1.0, 2.0, 0.0, 0.0,
        3.0, 4.0, 0.0, 0.0,
    ];
    assert_eq!(get::<f32>(&it, y), want);
}

#[test]
fn pad_quantized_uses_zero_point() {
    let mut g = Graph::new();
    let x = g.input(DType::I8, &[2], &[5i8, 6]);
    g.quant(x, 0.5, -3);
    let p = g.constant(DType::I64, &[1, 2], &[1i64, 1]);
    let y = single(&mut g, B::Pad, None, &[x, p], DType::I8, &[4]);
    g.quant(y, 0.5, -3);
    let it = g.run();
    assert_eq!(get::<i8>(&it, y), [-3, 5, 6, -3]);
}

#[test]
fn padv2_with_constant_value() {
    let mut g = Graph::new();
    let x = g.input(DType::I32, &[1, 2], &[1i32, 2]);
    let p = g.constant(DType::I32, &[2, 2], &[0i32, 1, 1, 0]);
    let v = g.constant(DType::I32, &[], &[9i32]);
    let y = single(&mut g, B::Padv2, None, &[x, p, v], DType::I32, &[2, 3]);
    let it = g.run();
    assert_eq!(get::<i32>(&it, y), [9, 1, 2, 9, 9, 9]);

    // The value must have the input's dtype.
    let mut g = Graph::new();
    let x = g.input(DType::I32, &[2], &[1i32, 2]);
    let p = g.constant(DType::I32, &[1, 2], &[1i32, 1]);
    let v = g.constant(DType::F32, &[], &[9.0f32]);
    single(&mut g, B::Padv2, None, &[x, p, v], DType::I32, &[4]);
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn pad_errors() {
    // Paddings of the wrong shape.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2, 2], &[0.0f32; 4]);
    let p = g.constant(DType::I32, &[1, 2], &[1i32, 1]);
    single(&mut g, B::Pad, None, &[x, p], DType::F32, &[4, 2]);
    assert!(is_invalid(&g.prepare_err()));

    // Negative padding.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[0.0f32; 2]);
    let p = g.constant(DType::I32, &[1, 2], &[-1i32, 1]);
    single(&mut g, B::Pad, None, &[x, p], DType::F32, &[2]);
    assert!(is_invalid(&g.prepare_err()));

    // PAD takes two inputs.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[0.0f32; 2]);
    let p = g.constant(DType::I32, &[1, 2], &[1i32, 1]);
    let v = g.constant(DType::F32, &[], &[1.0f32]);
    single(&mut g, B::Pad, None, &[x, p, v], DType::F32, &[4]);
    assert!(is_invalid(&g.prepare_err()));
}

fn mirror(mode: tflite::MirrorPadMode) -> Vec<f32> {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[3], &[1.0f32, 2.0, 3.0]);
    let p = g.constant(DType::I32, &[1, 2], &[2i32, 2]);
    let opts = MirrorPadOptions { mode };
    let y = single(
        &mut g,
        B::MirrorPad,
        Some(O::MirrorPadOptions(Box::new(opts))),
        &[x, p],
        DType::F32,
        &[7],
    );
    get::<f32>(&g.run(), y)
}

#[test]
fn mirror_pad_reflect_and_symmetric() {
    assert_eq!(
        mirror(tflite::MirrorPadMode::Reflect),
        [3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
    );
    assert_eq!(
        mirror(tflite::MirrorPadMode::Symmetric),
        [2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0]
    );

    // REFLECT cannot pad by the full dimension.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[1.0f32, 2.0]);
    let p = g.constant(DType::I32, &[1, 2], &[2i32, 0]);
    single(&mut g, B::MirrorPad, None, &[x, p], DType::F32, &[4]);
    assert!(is_invalid(&g.prepare_err()));
}
