//! `ferrolite quantize`: every mode on a fixture model, the JSON report, and failures that must
//! leave no output file behind (bad calibration data, missing data, unsupported I/O).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn quantize(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("quantize")
        .arg(fixtures().join("mlp/mlp_float32.tflite"))
        .args(args)
        .output()
        .expect("run ferrolite")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn every_mode_writes_a_loadable_model_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let calib = fixtures().join("calibration_x.npy");
    for (mode, extra) in [
        ("float16", vec![]),
        ("dynamic", vec![]),
        ("int8", vec!["--io", "int8"]),
    ] {
        let out_path = dir.path().join(format!("{mode}.tflite"));
        let mut args = vec!["-o", out_path.to_str().unwrap(), "--mode", mode, "--json"];
        args.extend(extra);
        args.extend(["--calibration-data", calib.to_str().unwrap()]);
        let out = quantize(&args);
        assert!(out.status.success(), "{mode}: {}", text(&out.stderr));
        let json: Value = serde_json::from_str(&text(&out.stdout)).expect("JSON report");
        assert_eq!(json["mode"], mode);
        assert!(
            json["tensors"].as_array().is_some_and(|t| !t.is_empty()),
            "{mode}"
        );
        assert!(json["output_bytes"].as_u64().unwrap() < json["input_bytes"].as_u64().unwrap());
        ferrolite_model::read_file(&out_path).expect("output reads back");
    }
}

#[test]
fn int8_table_lists_scales_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("q.tflite");
    let calib = fixtures().join("digits_test.npz");
    let out = quantize(&[
        "-o",
        out_path.to_str().unwrap(),
        "--mode",
        "int8",
        "--calibration-data",
        calib.to_str().unwrap(),
        "--calibration-samples",
        "20",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("calibrated on 20 samples"), "{stdout}");
    assert!(stdout.contains("tfl.quantize"), "{stdout}");
    assert!(stdout.contains("mlp/fc1/MatMul"), "{stdout}");
    assert!(stdout.contains("weight") && stdout.contains("bias") && stdout.contains("activation"));
}

#[test]
fn failures_leave_no_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("never.tflite");
    let o = out_path.to_str().unwrap();
    // int64 labels instead of float32 images.
    let wrong = dir.path().join("labels.npy");
    let labels = ferrolite_npy::Array::from_values(&[4], &[1i64, 2, 3, 4]).unwrap();
    ferrolite_npy::write_npy(&wrong, &labels).unwrap();
    let shape = dir.path().join("shape.npy");
    let bad_shape = ferrolite_npy::Array::from_f32(&[2, 4, 4, 1], &[0.5; 32]).unwrap();
    ferrolite_npy::write_npy(&shape, &bad_shape).unwrap();
    let nan = dir.path().join("nan.npy");
    let mut v = vec![0.5f32; 128];
    v[70] = f32::NAN;
    ferrolite_npy::write_npy(
        &nan,
        &ferrolite_npy::Array::from_f32(&[2, 8, 8, 1], &v).unwrap(),
    )
    .unwrap();
    let empty = dir.path().join("empty.npy");
    ferrolite_npy::write_npy(
        &empty,
        &ferrolite_npy::Array::from_f32(&[0, 8, 8, 1], &[]).unwrap(),
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--mode", "int8"], "needs --calibration-data"),
        (
            vec![
                "--mode",
                "int8",
                "--calibration-data",
                wrong.to_str().unwrap(),
            ],
            "expected float32",
        ),
        (
            vec![
                "--mode",
                "int8",
                "--calibration-data",
                shape.to_str().unwrap(),
            ],
            "does not fit the model input",
        ),
        (
            vec![
                "--mode",
                "int8",
                "--calibration-data",
                nan.to_str().unwrap(),
            ],
            "sample 1",
        ),
        (
            vec![
                "--mode",
                "int8",
                "--calibration-data",
                empty.to_str().unwrap(),
            ],
            "no samples",
        ),
        (
            vec![
                "--mode",
                "int8",
                "--io",
                "uint8",
                "--calibration-data",
                nan.to_str().unwrap(),
            ],
            "sample 1",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["-o", o];
        all.extend(args.iter().copied());
        let out = quantize(&all);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!out_path.exists(), "{args:?} left {}", out_path.display());
    }
    let calib = fixtures().join("calibration_x.npy");
    let out = quantize(&[
        "-o",
        o,
        "--mode",
        "int8",
        "--io",
        "uint8",
        "--calibration-data",
        calib.to_str().unwrap(),
    ]);
    assert!(text(&out.stderr).contains("uint8"));
    assert!(!out_path.exists());
}
