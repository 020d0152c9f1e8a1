//! `ferrolite quantize` (and `ferrolite convert --mode`): every mode on a fixture model, the
//! error table and the JSON report, calibration methods, float fallback and kept layers, uint8
//! I/O, calibration samples from a directory, and failures that must leave no output file behind
//! (bad calibration data, missing data, unquantizable operators).

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
        ("int16x8", vec!["--io", "int16"]),
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
    assert!(
        stdout.contains("calibrated (minmax) on 20 samples"),
        "{stdout}"
    );
    assert!(stdout.contains("tfl.quantize"), "{stdout}");
    assert!(
        stdout.contains("mlp/fc1/MatMul;mlp/fc1/Relu;mlp/fc1/BiasAdd"),
        "{stdout}"
    );
    assert!(stdout.contains("(3 weights, 3 biases)"), "{stdout}");
    assert!(
        stdout.contains("FULLY_CONNECTED") && stdout.contains("rmse"),
        "{stdout}"
    );
    // Worst first: the logits (largest scale) come before the quantized input.
    let logits = stdout.find("mlp/probs/MatMul;mlp/probs/BiasAdd").unwrap();
    assert!(logits < stdout.find("tfl.quantize").unwrap(), "{stdout}");
}

#[test]
fn report_file_holds_every_tensor_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("q.tflite");
    let report = dir.path().join("report.json");
    let calib = fixtures().join("calibration_x.npy");
    let out = quantize(&[
        "-o",
        out_path.to_str().unwrap(),
        "--mode",
        "int8",
        "--calibration-data",
        calib.to_str().unwrap(),
        "--calibration",
        "percentile",
        "--percentile",
        "99.9",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("calibrated (percentile 99.9)"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["calibration"], "percentile 99.9");
    let tensors = json["tensors"].as_array().unwrap();
    let acts: Vec<&Value> = tensors
        .iter()
        .filter(|t| t["role"] == "activation")
        .collect();
    assert!(acts.len() >= 5);
    assert!(acts
        .iter()
        .all(|t| t["rmse"].as_f64().is_some() && t["max_abs_error"].as_f64().is_some()));
    assert!(tensors.iter().any(|t| t["role"] == "weight"));
}

#[test]
fn calibration_methods_and_uint8_io() {
    let dir = tempfile::tempdir().unwrap();
    let calib = fixtures().join("calibration_x.npy");
    for (method, io) in [("mse", "uint8"), ("kl", "float"), ("minmax", "uint8")] {
        let out_path = dir.path().join(format!("{method}.tflite"));
        let out = quantize(&[
            "-o",
            out_path.to_str().unwrap(),
            "--mode",
            "int8",
            "--io",
            io,
            "--calibration",
            method,
            "--calibration-data",
            calib.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{method}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(&format!("calibrated ({method})")));
        let m = ferrolite_model::read_file(&out_path).unwrap();
        let sg = &m.subgraphs[0];
        let want = if io == "uint8" { "UINT8" } else { "FLOAT32" };
        assert_eq!(sg.tensors[sg.inputs[0]].dtype.tflite_name(), want);
    }
}

#[test]
fn float_fallback_and_kept_layers() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("q.tflite");
    let o = out_path.to_str().unwrap();
    let calib = fixtures().join("calibration_x.npy");
    let sin = fixtures().join("quant/sin_mid_float32.tflite");
    let run = |model: &Path, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ferrolite"))
            .arg("quantize")
            .arg(model)
            .args(["-o", o, "--mode", "int8", "--calibration-data"])
            .arg(&calib)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&sin, &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("(SIN)"), "{}", text(&out.stderr));
    assert!(!out_path.exists());
    let out = run(&sin, &["--allow-float-fallback"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("kept float: 1 (SIN)"),
        "{}",
        text(&out.stdout)
    );
    let mlp = fixtures().join("mlp/mlp_float32.tflite");
    let out = run(&mlp, &["--keep-float", "SOFTMAX"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("kept float: 4 (SOFTMAX)"));
    let out = run(&mlp, &["--keep-float", "nothing/named/so"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("nothing/named/so"));
}

#[test]
fn calibration_samples_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("samples");
    std::fs::create_dir(&samples).unwrap();
    let x = ferrolite_npy::read_npy(fixtures().join("calibration_x.npy")).unwrap();
    let values = x.to_f32_vec();
    for i in 0..3 {
        let one =
            ferrolite_npy::Array::from_f32(&[8, 8, 1], &values[i * 64..(i + 1) * 64]).unwrap();
        ferrolite_npy::write_npy(samples.join(format!("s{i}.npy")), &one).unwrap();
    }
    // An 8x8 grey image, scaled to [0, 1] like the digits.
    let mut pgm = b"P5\n8 8\n255\n".to_vec();
    pgm.extend((0..64).map(|i| (i * 4) as u8));
    std::fs::write(samples.join("s3.pgm"), pgm).unwrap();
    std::fs::write(samples.join("notes.txt"), "ignored").unwrap();
    let out_path = dir.path().join("q.tflite");
    let out = quantize(&[
        "-o",
        out_path.to_str().unwrap(),
        "--mode",
        "int8",
        "--calibration-data",
        samples.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("on 4 samples"),
        "{}",
        text(&out.stdout)
    );
    std::fs::write(samples.join("photo.png"), [0u8; 8]).unwrap();
    let out = quantize(&[
        "-o",
        dir.path().join("never.tflite").to_str().unwrap(),
        "--mode",
        "int8",
        "--calibration-data",
        samples.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("mixes PNG/JPEG images"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("never.tflite").exists());
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    std::fs::write(images.join("photo.png"), [0u8; 8]).unwrap();
    let out = quantize(&[
        "-o",
        dir.path().join("never.tflite").to_str().unwrap(),
        "--mode",
        "int8",
        "--calibration-data",
        images.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot decode") && text(&out.stderr).contains("photo.png"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("never.tflite").exists());
}

/// A folder of PNG images calibrates exactly like the same pixels given as a `.npy` of
/// `pixel / 255` (the default --pixel-scale), and JPEG folders in class sub-folders decode too.
#[test]
fn calibration_from_png_and_jpeg_folders() {
    let dir = tempfile::tempdir().unwrap();
    let x = ferrolite_npy::read_npy(fixtures().join("calibration_x.npy")).unwrap();
    let values = x.to_f32_vec();
    let n = 12;
    let pngs = dir.path().join("png");
    std::fs::create_dir(&pngs).unwrap();
    let mut as_unit = Vec::new();
    for i in 0..n {
        let pixels: Vec<u8> = values[i * 64..(i + 1) * 64]
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        as_unit.extend(pixels.iter().map(|&p| f32::from(p) / 255.0));
        image::GrayImage::from_raw(8, 8, pixels)
            .unwrap()
            .save(pngs.join(format!("{i:02}.png")))
            .unwrap();
    }
    let npy = dir.path().join("same.npy");
    let arr = ferrolite_npy::Array::from_f32(&[n, 8, 8, 1], &as_unit).unwrap();
    ferrolite_npy::write_npy(&npy, &arr).unwrap();
    let from_png = dir.path().join("png.tflite");
    let from_npy = dir.path().join("npy.tflite");
    for (data, out_path) in [(&pngs, &from_png), (&npy, &from_npy)] {
        let out = quantize(&[
            "-o",
            out_path.to_str().unwrap(),
            "--mode",
            "int8",
            "--calibration-data",
            data.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&format!("on {n} samples")),
            "{}",
            text(&out.stdout)
        );
    }
    assert_eq!(
        std::fs::read(&from_png).unwrap(),
        std::fs::read(&from_npy).unwrap(),
        "PNG calibration must equal the .npy of the same pixels"
    );

    // RGB JPEGs in class folders, converted to the model's one grey channel; --pixel-scale byte
    // gives 255x larger ranges, so a different file.
    let jpgs = dir.path().join("jpg");
    for class in ["a", "b"] {
        std::fs::create_dir_all(jpgs.join(class)).unwrap();
        for i in 0..3u8 {
            image::RgbImage::from_fn(16, 16, |px, py| {
                image::Rgb([px as u8 * 16, py as u8 * 8, i * 40])
            })
            .save(jpgs.join(class).join(format!("{i}.jpg")))
            .unwrap();
        }
    }
    let mut outputs = Vec::new();
    for scale in ["unit", "byte"] {
        let out_path = dir.path().join(format!("jpg-{scale}.tflite"));
        let out = quantize(&[
            "-o",
            out_path.to_str().unwrap(),
            "--mode",
            "int8",
            "--pixel-scale",
            scale,
            "--calibration-data",
            jpgs.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("on 6 samples"),
            "{}",
            text(&out.stdout)
        );
        outputs.push(std::fs::read(&out_path).unwrap());
    }
    assert_ne!(outputs[0], outputs[1]);
}

#[test]
fn convert_quantizes_a_keras_file_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("mlp_int8.tflite");
    let report = dir.path().join("r.json");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("convert")
        .arg(fixtures().join("mlp/mlp.h5"))
        .args([
            "-o",
            out_path.to_str().unwrap(),
            "--mode",
            "int8",
            "--calibration-data",
        ])
        .arg(fixtures().join("calibration_x.npy"))
        .args(["--report", report.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("mode int8"),
        "{}",
        text(&out.stdout)
    );
    let m = ferrolite_model::read_file(&out_path).unwrap();
    let ops: Vec<String> = m.subgraphs[0]
        .operators
        .iter()
        .map(|o| o.kind.name())
        .collect();
    assert_eq!(ops.first().map(String::as_str), Some("QUANTIZE"));
    assert!(report.exists());
    // Without --mode, convert stays float.
    let float_path = dir.path().join("mlp.tflite");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("convert")
        .arg(fixtures().join("mlp/mlp.h5"))
        .args(["-o", float_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let m = ferrolite_model::read_file(&float_path).unwrap();
    assert!(m.subgraphs[0]
        .operators
        .iter()
        .all(|o| o.kind.name() != "QUANTIZE"));
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
                "int16",
                "--calibration-data",
                nan.to_str().unwrap(),
            ],
            "sample 1",
        ),
        (
            vec![
                "--mode",
                "int16x8",
                "--calibration-data",
                empty.to_str().unwrap(),
            ],
            "no samples",
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
        "int16x8",
        "--io",
        "uint8",
        "--calibration-data",
        calib.to_str().unwrap(),
    ]);
    assert!(
        text(&out.stderr).contains("uint8 model inputs/outputs"),
        "{}",
        text(&out.stderr)
    );
    assert!(!out_path.exists());
    let out = quantize(&["-o", o]);
    assert!(text(&out.stderr).contains("--mode is required"));
}
