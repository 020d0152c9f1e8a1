//! `ferrolite demo` end to end: five variants, each as accurate as TensorFlow's own conversion of
//! the same model (LiteRT accuracies from tests/fixtures/manifest.json), and smaller where it should be.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[test]
fn demo_builds_evaluates_and_benchmarks_every_variant() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .args(["demo", "--runs", "5", "--json", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let tf = &manifest["models"]["cnn_bn"]["variants"];
    let variants = r["variants"].as_array().unwrap();
    let names: Vec<&str> = variants
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["float32", "dynamic", "int8", "int8 (float I/O)", "float16"]
    );
    for (v, key) in variants
        .iter()
        .zip(["float32", "dynamic", "int8", "int8_float_io", "float16"])
    {
        // Same number of correct answers out of 450 as LiteRT on TF's file for that variant.
        let ours = (v["accuracy"].as_f64().unwrap() * 450.0).round();
        let litert = (tf[key]["litert_accuracy"].as_f64().unwrap() * 450.0).round();
        assert_eq!(ours, litert, "{key}");
        assert!(v["median_latency_ms"].as_f64().unwrap() > 0.0);
        assert!(Path::new(v["file"].as_str().unwrap()).exists());
        // No more than 2% above TF's file for the same variant (ours is smaller: TF gives every
        // activation its own empty buffer and writes conversion metadata).
        let size = v["size_bytes"].as_f64().unwrap();
        let tf_size = tf[key]["size"].as_f64().unwrap();
        assert!(size <= tf_size * 1.02, "{key}: {size} vs TF {tf_size}");
    }
    let size = |i: usize| variants[i]["size_vs_float"].as_f64().unwrap();
    assert!(
        size(1) < 0.4 && size(2) < 0.4 && size(4) < 0.6,
        "quantized files must shrink"
    );
}
