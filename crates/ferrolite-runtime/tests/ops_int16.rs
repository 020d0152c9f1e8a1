//! int16x8 single-operator models (`tests/fixtures/int16`, made by `tools/make_int16_fixtures.py`
//! with TFLiteConverter's `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8` mode) run
//! in ferrolite and give exactly LiteRT's outputs.
//!
//! Tolerance: none. Every output value (int16, or float32 after DEQUANTIZE) must be bit-identical
//! to what LiteRT's built-in kernels produced: TFLite's int16 arithmetic is deterministic, and the
//! few places where it goes through floating point (FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D
//! scaling in f64, the SOFTMAX lookup tables built in f64) are reproduced operation for operation.

mod litert_support;
mod qglue_support;

use ferrolite_model::tflite::{
    BuiltinOperator as B, BuiltinOptions as O, FullyConnectedOptions, SoftmaxOptions, TensorType,
};
use ferrolite_model::DType;
use ferrolite_npy::{Array, NpyDType};
use litert_support::{fixtures_dir, invoke_case, manifest, output};
use qglue_support::{assert_invalid, assert_unsupported, decl, fed, konst, single};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    fixtures_dir("int16")
}

/// Outcome of one case: values compared, values that differ, largest difference.
struct Outcome {
    values: usize,
    differ: usize,
    max_diff: f64,
}

fn run_case(case: &Value) -> Result<Outcome, String> {
    let dir = dir();
    let interp = invoke_case(&dir, case)?;
    let mut outcome = Outcome {
        values: 0,
        differ: 0,
        max_diff: 0.0,
    };
    for o in case["outputs"].as_array().unwrap() {
        let (_, expected, ours) = output(&interp, &dir, o)?;
        let ours = Array::new(expected.dtype, expected.shape.clone(), ours.to_vec())
            .map_err(|e| e.to_string())?;
        let (a, b) = (ours.to_f64_vec(), expected.to_f64_vec());
        outcome.values += b.len();
        for (x, y) in a.iter().zip(&b) {
            // Bitwise for floats (DEQUANTIZE output), by value for integers.
            let same = if expected.dtype == NpyDType::F32 {
                (*x as f32).to_bits() == (*y as f32).to_bits()
            } else {
                x == y
            };
            if !same {
                outcome.differ += 1;
                outcome.max_diff = outcome.max_diff.max((x - y).abs());
            }
        }
    }
    Ok(outcome)
}

#[test]
fn every_int16x8_fixture_is_bit_exact_with_litert() {
    let manifest = manifest(&dir());
    let cases = manifest["cases"].as_object().unwrap();
    assert!(cases.len() >= 30, "expected the int16 fixtures");
    let (mut values, mut failures) = (0usize, Vec::new());
    for (name, case) in cases {
        match run_case(case) {
            Ok(o) => {
                values += o.values;
                if o.differ > 0 {
                    failures.push(format!(
                        "{name} ({}): {} of {} values differ, by up to {}",
                        case["ops"], o.differ, o.values, o.max_diff
                    ));
                }
            }
            Err(e) => failures.push(format!("{name} ({}): {e}", case["ops"])),
        }
    }
    eprintln!(
        "{} int16x8 cases, {values} output values, {} failing",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases disagree with LiteRT:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The fixtures cover every operator issue #5 lists for int16x8.
#[test]
fn int16x8_fixtures_cover_the_issue_op_list() {
    let manifest = manifest(&dir());
    let ops: Vec<String> = manifest["cases"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|c| c["ops"].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for op in [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "ADD",
        "SUB",
        "MUL",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "CONCATENATION",
        "RESHAPE",
        "SOFTMAX",
        "LOGISTIC",
        "TANH",
        "QUANTIZE",
        "DEQUANTIZE",
    ] {
        assert!(ops.iter().any(|o| o == op), "no fixture for {op}");
    }
}

/// TFLite's prepare-time checks on int16 SOFTMAX / LOGISTIC / TANH outputs and on the declared
/// bias type of int16x8 FULLY_CONNECTED are enforced at `allocate_tensors`.
#[test]
fn int16_prepare_checks_match_tflite() {
    let x = [0i16; 4];
    let softmax = |out_scale: f32, shape: &[i32]| {
        single(
            B::Softmax,
            Some(O::SoftmaxOptions(Box::new(SoftmaxOptions { beta: 1.0 }))),
            vec![Some(
                fed(
                    DType::I16,
                    shape,
                    &vec![0i16; shape.iter().product::<i32>() as usize],
                )
                .q(1e-3, 0),
            )],
            vec![decl(DType::I16).q(out_scale, 0)],
        )
    };
    assert_invalid(&softmax(1.0 / 256.0, &[1, 4]).err(), "1/32768");
    assert_unsupported(&softmax(1.0 / 32768.0, &[1, 1, 1, 1, 4]).err(), "rank");
    let ok: Vec<i16> = softmax(1.0 / 32768.0, &[1, 4]).run();
    assert!(
        ok.iter().all(|&v| (i32::from(v) - 8192).abs() <= 2),
        "{ok:?}"
    );
    for op in [B::Logistic, B::Tanh] {
        let e = single(
            op,
            None,
            vec![Some(fed(DType::I16, &[1, 4], &x).q(1e-3, 0))],
            vec![decl(DType::I16).q(1.0 / 256.0, 0)],
        )
        .err();
        assert_invalid(&e, "1/32768");
    }
    // A declared quantized_bias_type must match the bias tensor.
    let e = single(
        B::FullyConnected,
        Some(O::FullyConnectedOptions(Box::new(FullyConnectedOptions {
            quantized_bias_type: TensorType::Int64,
            ..Default::default()
        }))),
        vec![
            Some(fed(DType::I16, &[1, 4], &x).q(1e-3, 0)),
            Some(konst(DType::I8, &[2, 4], &[1i8; 8]).q(1e-2, 0)),
            Some(konst(DType::I32, &[2], &[0i32; 2]).q(1e-5, 0)),
        ],
        vec![decl(DType::I16).q(1e-2, 0)],
    )
    .err();
    assert_invalid(&e, "quantized_bias_type");
}
