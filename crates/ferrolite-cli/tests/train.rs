//! `ferrolite prune` and `ferrolite qat` (built with `--features train`): JSON reports, the
//! written models' sparsity and accuracy, and bad options that must leave no output behind.

#![cfg(feature = "train")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn ferrolite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .args(args)
        .output()
        .expect("run ferrolite")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn prune_reports_per_layer_sparsity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pruned.tflite");
    let (model, data, test) = (
        fixtures().join("mlp/mlp_float32.tflite"),
        fixtures().join("digits_train.npz"),
        fixtures().join("digits_test.npz"),
    );
    let o = ferrolite(&[
        "prune",
        path(&model),
        "-o",
        path(&out),
        "--data",
        path(&data),
        "--schedule",
        "polynomial:0.0,0.6",
        "--frequency",
        "10",
        "--eval",
        path(&test),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["epochs"].as_array().unwrap().len(), 2);
    for l in v["layers"].as_array().unwrap() {
        assert_eq!(l["pruned"], true);
        assert!(l["sparsity"].as_f64().unwrap() >= 0.59, "{l}");
    }
    assert!(v["accuracy_after"].as_f64().unwrap() > 0.95);
    assert!(ferrolite_model::read_file(&out).is_ok());
}

#[test]
fn qat_writes_an_int8_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("qat.tflite");
    let (model, data, test) = (
        fixtures().join("cnn_bn/cnn_bn.keras"),
        fixtures().join("digits_train.npz"),
        fixtures().join("digits_test.npz"),
    );
    let o = ferrolite(&[
        "qat",
        path(&model),
        "-o",
        path(&out),
        "--data",
        path(&data),
        "--epochs",
        "1",
        "--eval",
        path(&test),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["accuracy_int8"].as_f64().unwrap() > 0.97, "{v}");
    assert!(!v["ranges"].as_array().unwrap().is_empty());
    let m = ferrolite_model::read_file(&out).unwrap();
    assert!(m.subgraphs[0]
        .tensors
        .iter()
        .any(|t| t.dtype == ferrolite_model::DType::I8));
}

#[test]
fn bad_options_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.tflite");
    let model = fixtures().join("mlp/mlp_float32.tflite");
    let data = fixtures().join("digits_train.npz");
    for extra in [
        vec!["--schedule", "constant:1.5"],
        vec!["--m-by-n", "4:2"],
        vec!["--only", "no_such_layer"],
        vec!["--block", "1x4", "--m-by-n", "2:4"],
    ] {
        let mut args = vec![
            "prune",
            path(&model),
            "-o",
            path(&out),
            "--data",
            path(&data),
        ];
        args.extend(extra.iter().copied());
        let o = ferrolite(&args);
        assert!(!o.status.success(), "{extra:?} succeeded");
        assert!(!out.exists(), "{extra:?} left a file");
    }
}
