//! FILL, RANGE and CAST through the interpreter.

mod movement_support;

use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::DType;
use movement_support::*;

#[test]
fn fill_float_int64_and_bool() {
    let mut g = Graph::new();
    let dims = g.constant(DType::I32, &[2], &[2i32, 3]);
    let v = g.input(DType::F32, &[], &[1.5f32]);
    let y = single(&mut g, B::Fill, None, &[dims, v], DType::F32, &[2, 3]);
    let it = g.run();
    assert_eq!(shape(&it, y), vec![2, 3]);
    assert_eq!(get::<f32>(&it, y), [1.5; 6]);

    let mut g = Graph::new();
    let dims = g.constant(DType::I64, &[1], &[3i64]);
    let v = g.input(DType::I64, &[], &[-7i64]);
    let y = single(&mut g, B::Fill, None, &[dims, v], DType::I64, &[3]);
    assert_eq!(get::<i64>(&g.run(), y), [-7; 3]);

    let mut g = Graph::new();
    let dims = g.constant(DType::I32, &[1], &[2i32]);
    let v = g.input(DType::Bool, &[], &[1u8]);
    let y = single(&mut g, B::Fill, None, &[dims, v], DType::Bool, &[2]);
    assert_eq!(g.run().tensor_bytes(y).unwrap(), [1, 1]);
}

#[test]
fn fill_errors() {
    // Output dtype differs from the value's.
    let mut g = Graph::new();
    let dims = g.constant(DType::I32, &[1], &[2i32]);
    let v = g.input(DType::F32, &[], &[1.0f32]);
    single(&mut g, B::Fill, None, &[dims, v], DType::I32, &[2]);
    assert!(is_invalid(&g.prepare_err()));

    // Negative dimension.
    let mut g = Graph::new();
    let dims = g.constant(DType::I32, &[1], &[-2i32]);
    let v = g.input(DType::F32, &[], &[1.0f32]);
    single(&mut g, B::Fill, None, &[dims, v], DType::F32, &[2]);
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn range_int_and_float() {
    let mut g = Graph::new();
    let s = g.constant(DType::I32, &[], &[0i32]);
    let l = g.constant(DType::I32, &[], &[10i32]);
    let d = g.constant(DType::I32, &[], &[3i32]);
    let y = single(&mut g, B::Range, None, &[s, l, d], DType::I32, &[4]);
    let it = g.run();
    assert_eq!(get::<i32>(&it, y), [0, 3, 6, 9]);

    let mut g = Graph::new();
    let s = g.constant(DType::I64, &[], &[5i64]);
    let l = g.constant(DType::I64, &[], &[1i64]);
    let d = g.constant(DType::I64, &[], &[-2i64]);
    let y = single(&mut g, B::Range, None, &[s, l, d], DType::I64, &[2]);
    assert_eq!(get::<i64>(&g.run(), y), [5, 3]);

    let mut g = Graph::new();
    let s = g.constant(DType::F32, &[], &[1.0f32]);
    let l = g.constant(DType::F32, &[], &[2.0f32]);
    let d = g.constant(DType::F32, &[], &[0.25f32]);
    let y = single(&mut g, B::Range, None, &[s, l, d], DType::F32, &[4]);
    assert_eq!(get::<f32>(&g.run(), y), [1.0, 1.25, 1.5, 1.75]);
}

#[test]
fn range_errors() {
    // A limit only known at invoke: the output shape is resolved then.
    let mut g = Graph::new();
    let s = g.constant(DType::I32, &[], &[0i32]);
    let l = g.input(DType::I32, &[], &[4i32]);
    let d = g.constant(DType::I32, &[], &[1i32]);
    let y = single(&mut g, B::Range, None, &[s, l, d], DType::I32, &[10]);
    let it = g.run();
    assert_eq!(get::<i32>(&it, y), [0, 1, 2, 3]);

    // Mixed dtypes.
    let mut g = Graph::new();
    let s = g.constant(DType::I32, &[], &[0i32]);
    let l = g.constant(DType::I64, &[], &[10i64]);
    let d = g.constant(DType::I32, &[], &[1i32]);
    single(&mut g, B::Range, None, &[s, l, d], DType::I32, &[10]);
    assert!(is_invalid(&g.prepare_err()));

    // Zero delta.
    let mut g = Graph::new();
    let s = g.constant(DType::I32, &[], &[0i32]);
    let l = g.constant(DType::I32, &[], &[10i32]);
    let d = g.constant(DType::I32, &[], &[0i32]);
    single(&mut g, B::Range, None, &[s, l, d], DType::I32, &[10]);
    assert!(is_invalid(&g.prepare_err()));
}

#[test]
fn cast_between_types() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[4], &[1.9f32, -1.9, 0.0, 300.5]);
    let y = single(&mut g, B::Cast, None, &[x], DType::I32, &[4]);
    assert_eq!(get::<i32>(&g.run(), y), [1, -1, 0, 300]);

    let mut g = Graph::new();
    let x = g.input(DType::I32, &[3], &[0i32, 5, -1]);
    let y = single(&mut g, B::Cast, None, &[x], DType::Bool, &[3]);
    assert_eq!(g.run().tensor_bytes(y).unwrap(), [0, 1, 1]);

    let mut g = Graph::new();
    let x = g.input(DType::Bool, &[2], &[1u8, 0]);
    let y = single(&mut g, B::Cast, None, &[x], DType::F32, &[2]);
    assert_eq!(get::<f32>(&g.run(), y), [1.0, 0.0]);

    // f32 -> f16 -> f32 round-trips through half precision.
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[0.1f32, 65504.0]);
    let h = g.tensor(DType::F16, &[2]);
    g.op(B::Cast, None, &[Some(x)], &[h]);
    let y = g.output(DType::F32, &[2]);
    g.op(B::Cast, None, &[Some(h)], &[y]);
    let want = [half::f16::from_f32(0.1).to_f32(), 65504.0];
    assert_eq!(get::<f32>(&g.run(), y), want);

    let mut g = Graph::new();
    let x = g.input(DType::I64, &[2], &[258i64, -1]);
    let y = single(&mut g, B::Cast, None, &[x], DType::U8, &[2]);
    assert_eq!(get::<u8>(&g.run(), y), [2, 255]);
}

#[test]
fn cast_errors() {
    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[1.0f32, 2.0]);
    single(&mut g, B::Cast, None, &[x], DType::F64, &[2]);
    assert!(is_unsupported(&g.prepare_err()));

    let mut g = Graph::new();
    let x = g.input(DType::F32, &[2], &[1.0f32, 2.0]);
    let y = g.output(DType::I32, &[2]);
    g.op(B::Cast, None, &[Some(x), Some(x)], &[y]);
    assert!(is_invalid(&g.prepare_err()));
}
