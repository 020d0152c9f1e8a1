//! `ferrolite inspect` against LiteRT's own view of every reference fixture (tests/fixtures).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// Every (model, variant) entry of the manifest.
fn variants() -> Vec<(String, Value)> {
    let m = manifest();
    let mut out = Vec::new();
    for (model, entry) in m["models"].as_object().expect("models") {
        for (variant, v) in entry["variants"].as_object().expect("variants") {
            out.push((format!("{model}/{variant}"), v.clone()));
        }
    }
    assert!(
        out.len() >= 15,
        "expected at least 15 fixture variants, found {}",
        out.len()
    );
    out
}

fn inspect_json(file: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .args(["inspect", "--json"])
        .arg(file)
        .output()
        .expect("run ferrolite");
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

#[test]
fn operators_match_litert_for_every_fixture() {
    for (name, v) in variants() {
        let report = inspect_json(&fixtures().join(v["file"].as_str().unwrap()));
        let ours: Vec<&str> = report["subgraphs"][0]["operators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["op"].as_str().unwrap())
            .collect();
        let litert: Vec<&str> = v["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(ours, litert, "{name}: operator list differs from LiteRT's");
        assert_eq!(
            report["file_bytes"].as_u64(),
            v["size"].as_u64(),
            "{name}: size"
        );
    }
}

#[test]
fn inputs_and_outputs_match_litert_details() {
    for (name, v) in variants() {
        let report = inspect_json(&fixtures().join(v["file"].as_str().unwrap()));
        for side in ["inputs", "outputs"] {
            let ours = report["subgraphs"][0][side].as_array().unwrap();
            let theirs = v[side].as_array().unwrap();
            assert_eq!(ours.len(), theirs.len(), "{name} {side}");
            for (a, b) in ours.iter().zip(theirs) {
                assert_eq!(a["name"], b["name"], "{name} {side} name");
                assert_eq!(a["index"], b["index"], "{name} {side} index");
                assert_eq!(a["dtype"], b["dtype"], "{name} {side} dtype");
                assert_eq!(
                    a["shape_signature"], b["shape_signature"],
                    "{name} {side} signature"
                );
                let scales = &b["quantization_parameters"]["scales"];
                let zps = &b["quantization_parameters"]["zero_points"];
                if scales.as_array().is_some_and(|s| !s.is_empty()) {
                    let q = &a["quantization"];
                    assert_eq!(
                        q["scales"].as_array().unwrap().len(),
                        scales.as_array().unwrap().len()
                    );
                    for (x, y) in q["scales"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .zip(scales.as_array().unwrap())
                    {
                        let (x, y) = (x.as_f64().unwrap() as f32, y.as_f64().unwrap() as f32);
                        assert_eq!(x, y, "{name} {side} scale");
                    }
                    assert_eq!(&q["zero_points"], zps, "{name} {side} zero points");
                } else {
                    assert!(
                        a["quantization"].is_null(),
                        "{name} {side}: unexpected quantization"
                    );
                }
            }
        }
    }
}

#[test]
fn text_report_lists_operators_and_size() {
    let file = fixtures().join("cnn_bn/cnn_bn_int8.tflite");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("inspect")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "CONV_2D",
        "FULLY_CONNECTED",
        "Op histogram",
        "Size",
        "per-channel",
        "INT8",
    ] {
        assert!(text.contains(needle), "missing '{needle}' in:\n{text}");
    }
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("ferrolite-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.tflite");
    std::fs::write(&bad, b"this is not a flatbuffer at all").unwrap();
    for path in [bad.clone(), dir.join("missing.tflite")] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
            .arg("inspect")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// x[1,5] -> RELU -> UNIDIRECTIONAL_SEQUENCE_LSTM (no ferrolite kernel) -> y, written to `path`.
fn write_unsupported_model(path: &Path) {
    use ferrolite_model::tflite::BuiltinOperator;
    use ferrolite_model::{DType, Model, Operator, Subgraph, Tensor};
    let relu = Operator::new(BuiltinOperator::Relu, vec![Some(0)], vec![Some(1)]);
    let lstm = Operator::new(
        BuiltinOperator::UnidirectionalSequenceLstm,
        vec![Some(1)],
        vec![Some(2)],
    );
    let model = Model {
        version: 3,
        subgraphs: vec![Subgraph {
            tensors: vec![
                Tensor::new("x", DType::F32, vec![1, 5]),
                Tensor::new("Relu", DType::F32, vec![1, 5]),
                Tensor::new("Identity", DType::F32, vec![1, 5]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![relu, lstm],
            ..Default::default()
        }],
        ..Default::default()
    };
    ferrolite_model::write_file(&model, path).unwrap();
}

#[test]
fn run_refuses_an_unsupported_operator_before_invoking() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lstm.tflite");
    write_unsupported_model(&file);
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // The op index, its name and version, and its tensors are named.
    for needle in [
        "operator 1 (UNIDIRECTIONAL_SEQUENCE_LSTM v1) is not supported",
        "Relu: FLOAT32[1, 5]",
        "Identity",
    ] {
        assert!(err.contains(needle), "missing '{needle}' in: {err}");
    }
}
