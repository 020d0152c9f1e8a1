//! `eval`, `bench` and `compare` against LiteRT's numbers and known answers.

use ferrolite_model::tflite::BuiltinOperator;
use ferrolite_model::{Bytes, DType, Model, Operator, Subgraph, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn ferrolite(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> Value {
    let (ok, stdout, stderr) = ferrolite(args);
    assert!(ok, "ferrolite {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).expect("JSON output")
}

#[test]
fn eval_accuracy_equals_litert_on_every_fixture() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("manifest.json")).unwrap())
            .unwrap();
    let data = fixtures().join("digits_test.npz");
    for (name, model) in manifest["models"].as_object().unwrap() {
        for variant in ["float32", "float16", "dynamic", "int8", "int8_float_io"] {
            let v = &model["variants"][variant];
            let file = fixtures().join(v["file"].as_str().unwrap());
            let r = json(&[
                "eval",
                file.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--json",
            ]);
            let ours = r["top1"].as_f64().unwrap();
            let litert = v["litert_accuracy"].as_f64().unwrap();
            // Same 450 samples: the same count of correct predictions.
            assert_eq!(
                (ours * 450.0).round(),
                (litert * 450.0).round(),
                "{name}/{variant}"
            );
            assert_eq!(r["samples"], 450);
            assert!(r["top5"].as_f64().unwrap() >= ours);
        }
    }
}

#[test]
fn eval_rejects_data_of_the_wrong_shape() {
    let model = fixtures().join("mlp/mlp_float32.tflite");
    let wrong = fixtures().join("inputs_f32.npy"); // samples but no labels
    let (ok, _, err) = ferrolite(&[
        "eval",
        model.to_str().unwrap(),
        "--data",
        wrong.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("no labels"), "{err}");
}

#[test]
fn bench_reports_latency_arena_and_profile() {
    let model = fixtures().join("cnn_bn/cnn_bn_float32.tflite");
    let r = json(&[
        "bench",
        model.to_str().unwrap(),
        "--runs",
        "5",
        "--warmup",
        "1",
        "--profile",
        "--threads",
        "1",
        "--json",
    ]);
    let l = &r["latency_ms"];
    let (min, med, p90, max) = (
        l["min"].as_f64().unwrap(),
        l["median"].as_f64().unwrap(),
        l["p90"].as_f64().unwrap(),
        l["max"].as_f64().unwrap(),
    );
    assert!(min > 0.0 && min <= med && med <= p90 && p90 <= max);
    assert!(r["arena_bytes"].as_u64().unwrap() > 0);
    assert!(r["persistent_bytes"].as_u64().is_some());
    let ops: Vec<&str> = r["profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops.len(), 6, "{ops:?}");
    let share: f64 = r["profile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-9);
}

/// y = x + c with x of shape [-1, 4].
fn add_const_model(c: &[f32]) -> Model {
    let mut x = Tensor::new("x", DType::F32, vec![1, 4]);
    x.shape_signature = Some(vec![-1, 4]);
    let mut k = Tensor::new("c", DType::F32, vec![4]);
    k.data = Some(Bytes::from_vec(
        c.iter().flat_map(|v| v.to_le_bytes()).collect(),
    ));
    let mut y = Tensor::new("y", DType::F32, vec![1, 4]);
    y.shape_signature = Some(vec![-1, 4]);
    Model {
        version: 3,
        subgraphs: vec![Subgraph {
            tensors: vec![x, k, y],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(
                BuiltinOperator::Add,
                vec![Some(0), Some(1)],
                vec![Some(2)],
            )],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn compare_gives_zero_for_itself_and_the_known_rmse_for_perturbed_weights() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.tflite");
    let b = dir.path().join("b.tflite");
    ferrolite_model::write_file(&add_const_model(&[0.0, 1.0, 2.0, 3.0]), &a).unwrap();
    // Every output moves by exactly 0.25 (exact in binary), so RMSE = max-abs = 0.25.
    ferrolite_model::write_file(&add_const_model(&[0.25, 1.25, 2.25, 3.25]), &b).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let same = json(&["compare", a, a, "--json"]);
    assert_eq!(same["outputs"][0]["rmse"].as_f64(), Some(0.0));
    assert_eq!(same["outputs"][0]["top1_agreement"].as_f64(), Some(1.0));
    let r = json(&["compare", a, b, "--samples", "7", "--json"]);
    assert_eq!(r["samples"], 7);
    let rmse = r["outputs"][0]["rmse"].as_f64().unwrap();
    assert!((rmse - 0.25).abs() < 1e-6, "{rmse}");
    assert!((r["outputs"][0]["max_abs"].as_f64().unwrap() - 0.25).abs() < 1e-6);
    // --max-rmse turns it into a failing exit for CI scripts.
    let (ok, _, err) = ferrolite(&["compare", a, b, "--max-rmse", "0.1"]);
    assert!(!ok && err.contains("exceeds --max-rmse"), "{err}");
    let (ok, _, _) = ferrolite(&["compare", a, b, "--max-rmse", "0.3"]);
    assert!(ok);
}

#[test]
fn eval_reads_a_folder_of_class_images() {
    // 60 test digits written as 8x8 grayscale PNGs in one folder per class.
    let data = ferrolite_npy::read_npz(fixtures().join("digits_test.npz")).unwrap();
    let x = data.iter().find(|(k, _)| k == "x").unwrap().1.to_f32_vec();
    let y = data.iter().find(|(k, _)| k == "y").unwrap().1.to_i64_vec();
    let dir = tempfile::tempdir().unwrap();
    let n = 60;
    for i in 0..n {
        let class = dir.path().join(format!("{}", y[i]));
        std::fs::create_dir_all(&class).unwrap();
        let pixels: Vec<u8> = x[i * 64..(i + 1) * 64]
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        image::GrayImage::from_raw(8, 8, pixels)
            .unwrap()
            .save(class.join(format!("{i:03}.png")))
            .unwrap();
    }
    let model = fixtures().join("cnn_bn/cnn_bn_float32.tflite");
    let r = json(&[
        "eval",
        model.to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["samples"], n);
    // Class folders are 0..9 in sorted order, so labels line up with the digits'.
    let npz = json(&[
        "eval",
        model.to_str().unwrap(),
        "--data",
        fixtures().join("digits_test.npz").to_str().unwrap(),
        "--limit",
        "60",
        "--json",
    ]);
    let (a, b) = (r["top1"].as_f64().unwrap(), npz["top1"].as_f64().unwrap());
    // 8-bit pixels round the 0..16 digit values slightly: allow one sample of difference.
    assert!((a - b).abs() <= 1.0 / 60.0 + 1e-9, "folder {a} vs npz {b}");
}

#[test]
fn convert_json_reports_what_the_converter_did() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn.tflite");
    let keras = fixtures().join("cnn_bn/cnn_bn.h5");
    let r = json(&[
        "convert",
        keras.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    // TF's conversion of the same model has 6 operators (manifest: cnn_bn float32).
    assert_eq!(r["operators"], 6);
    assert_eq!(
        r["bytes"].as_u64().unwrap(),
        std::fs::metadata(&out).unwrap().len()
    );
    let events = r["conversion"]["events"].as_array().unwrap();
    let count = |k: &str| events.iter().filter(|e| e["kind"] == k).count();
    // Two BatchNorms folded as MUL + ADD each, two ReLUs fused, one Dropout dropped.
    assert_eq!(
        (count("folded"), count("fused"), count("dropped")),
        (4, 2, 1)
    );
}
