//! Bad calibration data is refused with an error naming the input and the problem, before any
//! model is produced; the other API misuse cases fail cleanly too.

mod common;

use common::*;
use ferrolite_npy::{Array, NpyDType};
use ferrolite_quant::{
    calibrate, quantize, CalibrationData, CalibrationInput, Io, Mode, QuantError, QuantizeOptions,
};

fn int8() -> QuantizeOptions {
    QuantizeOptions::new(Mode::Int8)
}

fn message<T>(r: Result<T, QuantError>) -> String {
    match r {
        Ok(_) => panic!("must fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn wrong_shape_is_refused() {
    let model = load("mlp", "float32");
    let data = CalibrationData::new(vec![4, 8, 8, 3], vec![0.5; 4 * 8 * 8 * 3]).unwrap();
    let msg = message(quantize(&model, &int8(), Some(&data)));
    assert!(msg.contains("does not fit the model input"), "{msg}");
    assert!(msg.contains("serving_default_input:0"), "{msg}");
}

#[test]
fn per_sample_arrays_with_or_without_batch_axis_are_accepted() {
    let model = load("mlp", "float32");
    let a = CalibrationData::new(vec![3, 8, 8, 1], vec![0.25; 3 * 64]).unwrap();
    let b = CalibrationData::new(vec![3, 1, 8, 8, 1], vec![0.25; 3 * 64]).unwrap();
    let (ra, rb) = (
        calibrate(&model, &a).unwrap(),
        calibrate(&model, &b).unwrap(),
    );
    assert_eq!(ra, rb);
    assert_eq!(ra.samples, 3);
}

#[test]
fn wrong_dtype_is_refused() {
    let x = Array::from_values(&[2, 8, 8, 1], &vec![1i64; 128]).unwrap();
    let msg = message(CalibrationData::from_array(&x, "x.npy"));
    assert!(msg.contains("dtype is int64, expected float32"), "{msg}");
    let x = Array::zeros(NpyDType::F64, &[2, 8, 8, 1]).unwrap();
    assert!(message(CalibrationData::from_array(&x, "x.npy")).contains("float64"));
}

#[test]
fn empty_data_is_refused() {
    let msg = message(CalibrationData::new(vec![0, 8, 8, 1], vec![]));
    assert!(msg.contains("no samples"), "{msg}");
    let msg = message(CalibrationData::from_inputs(vec![]));
    assert!(msg.contains("no calibration arrays"), "{msg}");
    let scalar = Array::from_f32(&[], &[1.0]).unwrap();
    assert!(message(CalibrationData::from_array(&scalar, "s.npy")).contains("0-d"));
}

#[test]
fn nan_and_inf_are_refused_with_the_sample_number() {
    let mut v = vec![0.5f32; 3 * 64];
    v[2 * 64 + 5] = f32::NAN;
    let msg = message(CalibrationData::new(vec![3, 8, 8, 1], v));
    assert!(msg.contains("sample 2"), "{msg}");
    let mut v = vec![0.5f32; 64];
    v[0] = f32::INFINITY;
    assert!(message(CalibrationData::new(vec![1, 8, 8, 1], v)).contains("non-finite"));
}

#[test]
fn inconsistent_inputs_are_refused() {
    let msg = message(CalibrationData::new(vec![2, 8], vec![0.0; 15]));
    assert!(msg.contains("does not match 15 values"), "{msg}");
    let two = CalibrationData::from_inputs(vec![
        CalibrationInput {
            label: "a".into(),
            shape: vec![2, 8, 8, 1],
            values: vec![0.0; 128],
        },
        CalibrationInput {
            label: "b".into(),
            shape: vec![3, 8, 8, 1],
            values: vec![0.0; 192],
        },
    ]);
    assert!(message(two).contains("3 samples, but input 0 has 2"));
    let two = CalibrationData::from_inputs(vec![
        CalibrationInput {
            label: "a".into(),
            shape: vec![2, 8, 8, 1],
            values: vec![0.0; 128],
        },
        CalibrationInput {
            label: "b".into(),
            shape: vec![2, 8, 8, 1],
            values: vec![0.0; 128],
        },
    ])
    .unwrap();
    let msg = message(quantize(&load("mlp", "float32"), &int8(), Some(&two)));
    assert!(
        msg.contains("the model has 1 inputs but 2 calibration arrays"),
        "{msg}"
    );
}

#[test]
fn integer_modes_without_data_and_mismatched_io_fail_cleanly() {
    let model = load("mlp", "float32");
    for mode in [Mode::Int8, Mode::Int16x8] {
        let msg = message(quantize(&model, &QuantizeOptions::new(mode), None));
        assert!(
            msg.contains(&format!("{mode} quantization needs calibration data")),
            "{msg}"
        );
    }
    let mut opts = int8();
    opts.io = Io::Int16;
    let data = CalibrationData::new(vec![1, 8, 8, 1], vec![0.5; 64]).unwrap();
    assert!(message(quantize(&model, &opts, Some(&data))).contains("int16"));
}

#[test]
fn quantizing_twice_is_refused() {
    let q = load("mlp", "int8");
    let msg = message(quantize(&q, &QuantizeOptions::new(Mode::Dynamic), None));
    assert!(msg.contains("already a quantized activation"), "{msg}");
}

#[test]
fn truncate_keeps_the_first_samples() {
    let mut d = CalibrationData::new(vec![5, 2], (0..10).map(|v| v as f32).collect()).unwrap();
    d.truncate(2);
    assert_eq!(d.samples(), 2);
    assert_eq!(d.inputs()[0].values, [0.0, 1.0, 2.0, 3.0]);
}
