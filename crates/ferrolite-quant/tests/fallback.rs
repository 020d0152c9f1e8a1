//! Operators without an integer rule, and layers kept float on request.
//!
//! `quant/sin_mid` has a SIN (float-only in TFLite) between a CONV_2D and a FULLY_CONNECTED.
//! TF 2.21 leaves it float with DEQUANTIZE / QUANTIZE around it even when asked for
//! `TFLITE_BUILTINS_INT8` only (`sin_mid_int8.tflite`), and its 16x8 mode refuses it unless
//! `TFLITE_BUILTINS` is allowed too (`sin_mid_int16x8_fallback.tflite`). ferrolite refuses by
//! default, naming every such operator, and with `allow_float_fallback` produces TF's graph:
//! same operators, versions, tensor names and parameters.

mod common;

use common::*;
use ferrolite_model::{DType, Model};
use ferrolite_quant::{quantize, Mode, QuantError, QuantReport, QuantizeOptions};

fn with(
    mode: Mode,
    fallback: bool,
    keep: &[&str],
    float: &Model,
) -> Result<(Model, QuantReport), QuantError> {
    let mut opts = QuantizeOptions::new(mode);
    opts.allow_float_fallback = fallback;
    opts.keep_float = keep.iter().map(|s| s.to_string()).collect();
    quantize(float, &opts, Some(&calibration()))
}

#[test]
fn unsupported_operators_are_an_error_without_fallback() {
    let float = load_quant("sin_mid_float32");
    for mode in [Mode::Int8, Mode::Int16x8] {
        let err = with(mode, false, &[], &float).unwrap_err().to_string();
        assert!(err.contains("operator 1 (SIN)"), "{err}");
        assert!(err.contains("--allow-float-fallback"), "{err}");
    }
}

#[test]
fn fallback_matches_tf_around_a_float_sin() {
    let float = load_quant("sin_mid_float32");
    let x = ferrolite_npy::read_npy(fixture("inputs_f32.npy")).unwrap();
    for (mode, variant) in [(Mode::Int8, "int8"), (Mode::Int16x8, "int16x8_fallback")] {
        let tf = load_quant(&format!("sin_mid_{variant}"));
        let (ours, report) = with(mode, true, &[], &float).expect("quantizes");
        assert_eq!(op_versions(&ours), op_versions(&tf), "{variant}: operators");
        assert!(compare_with_tf(variant, &ours, &tf) <= 8, "{variant}");
        assert_eq!(report.float_ops, ["1 (SIN)"], "{variant}");
        let sin = by_name(&ours, "sin_mid/sin/Sin").unwrap();
        assert_eq!(sin.dtype, DType::F32);
        if mode == Mode::Int8 {
            // Our interpreter on our file against LiteRT on TF's (float SIN in between).
            let golden = quant_npy("sin_mid_int8.out.npy");
            let d = max_diff(&run(ours, &x), &golden);
            assert!(d <= 1.0 / 256.0, "{variant}: {d}");
        }
    }
}

#[test]
fn keep_float_by_type_or_tensor_name() {
    let float = load("mlp", "float32");
    let softmax_out = "StatefulPartitionedCall:0";
    for keep in ["softmax", softmax_out] {
        let (q, report) = with(Mode::Int8, false, &[keep], &float).expect("quantizes");
        assert_eq!(
            op_names(&q),
            [
                "QUANTIZE",
                "RESHAPE",
                "FULLY_CONNECTED",
                "FULLY_CONNECTED",
                "FULLY_CONNECTED",
                "DEQUANTIZE",
                "SOFTMAX"
            ],
            "{keep}"
        );
        assert_eq!(report.float_ops, ["4 (SOFTMAX)"]);
        let sg = &q.subgraphs[0];
        assert_eq!(sg.tensors[sg.outputs[0]].dtype, DType::F32);
        // Runs, and stays close to the float model.
        let x = ferrolite_npy::read_npy(fixture("inputs_f32.npy")).unwrap();
        let golden = ferrolite_npy::read_npy(fixture("mlp/mlp_float32.out.npy")).unwrap();
        let d = max_diff(&run(q, &x), &golden);
        assert!(d < 0.05, "{keep}: {d}");
    }
    let err = with(Mode::Int8, false, &["no_such_layer"], &float)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no_such_layer"), "{err}");
}

#[test]
fn keeping_a_middle_layer_float_adds_both_conversions() {
    let float = load("cnn_bn", "float32");
    let (q, report) = with(Mode::Int16x8, false, &["MAX_POOL_2D"], &float).expect("quantizes");
    let names = op_names(&q);
    let pool = names.iter().position(|n| n == "MAX_POOL_2D").unwrap();
    assert_eq!(names[pool - 1], "DEQUANTIZE");
    assert_eq!(names[pool + 1], "QUANTIZE");
    assert_eq!(report.float_ops.len(), 1);
    // TF's legacy names for the int16x8 conversions.
    assert!(by_name(&q, "cnn_bn/pool1/MaxPool_int16").is_some());
    let float_in = q.subgraphs[0].operators[pool].inputs[0].unwrap();
    assert!(q.subgraphs[0].tensors[float_in].name.ends_with("_float"));
}
