//! The error report: each quantized activation's RMSE / max-abs error against the float model on
//! the calibration inputs. The same numbers computed in Python on TF's own int8 file with LiteRT
//! (`quant/<m>_int8_float_io.errors.json`, tools/make_quant_fixtures.py) must come out of
//! ferrolite for its own file, and the report must be ordered worst first with the producing
//! operator named.

mod common;

use common::*;
use ferrolite_quant::{measure_errors, quantize, Mode, QuantReport, QuantizeOptions, Role};

fn measured(m: &str, mode: Mode) -> Result<QuantReport, ferrolite_quant::QuantError> {
    let float = load(m, "float32");
    let data = calibration();
    let (q, mut report) = quantize(&float, &QuantizeOptions::new(mode), Some(&data))?;
    measure_errors(&float, &q, &data, &mut report, &mut |_, _| {})?;
    Ok(report)
}

#[test]
fn errors_match_the_same_measurement_on_tf_files_in_litert() {
    for m in MODELS {
        let report = measured(m, Mode::Int8).expect("measures");
        let tf: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(&format!("quant/{m}_int8_float_io.errors.json")))
                .unwrap(),
        )
        .unwrap();
        let rows = tf["tensor_errors"].as_array().unwrap();
        assert!(rows.len() >= 4, "{m}");
        for row in rows {
            let name = row["name"].as_str().unwrap();
            let ours = report
                .tensors
                .iter()
                .find(|t| t.name == name && t.role == Role::Activation)
                .unwrap_or_else(|| panic!("{m}: no activation {name} in the report"));
            let (rmse, max) = (ours.rmse.unwrap(), ours.max_abs_error.unwrap());
            let (tf_rmse, tf_max) = (
                row["rmse"].as_f64().unwrap(),
                row["max_abs"].as_f64().unwrap(),
            );
            eprintln!(
                "{m} {name}: rmse {rmse:.6e} (TF file {tf_rmse:.6e}), max {max:.4e} ({tf_max:.4e})"
            );
            assert!(
                (rmse - tf_rmse).abs() <= 0.01 * tf_rmse + 1e-7,
                "{m} {name}: rmse"
            );
            assert!(
                (max - tf_max).abs() <= 0.02 * tf_max + 1e-6,
                "{m} {name}: max abs"
            );
        }
    }
}

#[test]
fn report_lists_activations_worst_first_with_their_operator() {
    let report = measured("cnn_bn", Mode::Int8).expect("measures");
    let acts = report.activations_by_error();
    assert!(acts.iter().all(|t| t.rmse.is_some()));
    assert!(
        acts.windows(2).all(|w| w[0].rmse >= w[1].rmse),
        "sorted worst first"
    );
    let conv = acts
        .iter()
        .find(|t| t.name.contains("conv1/Conv2D1"))
        .unwrap();
    assert_eq!(conv.op.as_deref(), Some("CONV_2D"));
    assert!(conv.min.is_some() && conv.scales.len() == 1);
    let input = acts.iter().find(|t| t.name == "tfl.quantize").unwrap();
    assert_eq!(input.op.as_deref(), Some("QUANTIZE"));
    // Pure serialization check: the JSON carries the error fields.
    let json = serde_json::to_value(&report).unwrap();
    let first = &json["tensors"][0];
    assert!(
        first.get("rmse").is_some() && first.get("float_tensor").is_some(),
        "{first}"
    );
}
