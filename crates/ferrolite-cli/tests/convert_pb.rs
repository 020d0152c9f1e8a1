//! `ferrolite convert model.pb --inputs NAME[:shape] --outputs NAME`: TensorFlow frozen graphs
//! convert from the command line, and a graph with unsupported ops fails with the full report
//! unless `--allow-custom-ops` is given. SavedModel directories convert by signature
//! (`--signature`), and the quantization flags work on `.pb` input as on Keras files.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/graphdef")
        .join(name)
}

fn ferrolite(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn frozen_graphs_convert_and_report_unsupported_ops() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mlp.tflite");
    let pb = fixture("mlp.pb");
    let (ok, err) = ferrolite(&[
        "convert",
        pb.to_str().unwrap(),
        "--inputs",
        "features:2,16",
        "--outputs",
        "Identity",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let model = ferrolite_model::read_file(&out).unwrap();
    let sg = &model.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].shape, vec![2, 16]);
    assert_eq!(sg.operators.len(), 5, "{err}");

    let pb = fixture("unsupported.pb");
    let bad = dir.path().join("u.tflite");
    let (ok, err) = ferrolite(&[
        "convert",
        pb.to_str().unwrap(),
        "--inputs",
        "seq",
        "--outputs",
        "Identity",
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert!(!ok);
    for op in [
        "Cumsum",
        "TensorListReserve",
        "Merge",
        "LoopCond",
        "allow-custom-ops",
    ] {
        assert!(err.contains(op), "{op} missing from:\n{err}");
    }
    assert!(!bad.exists());
    let (ok, err) = ferrolite(&[
        "convert",
        pb.to_str().unwrap(),
        "--inputs",
        "seq",
        "--outputs",
        "Cumsum",
        "--allow-custom-ops",
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("will NOT run"), "{err}");
}

#[test]
fn saved_model_directories_convert_by_signature() {
    let dir = tempfile::tempdir().unwrap();
    let saved = fixture("saved");
    let out = dir.path().join("sm.tflite");
    let o = out.to_str().unwrap();
    let (ok, err) = ferrolite(&["convert", saved.to_str().unwrap(), "-o", o]);
    assert!(ok, "{err}");
    assert!(err.contains("SavedModel"), "{err}");
    let m = ferrolite_model::read_file(&out).unwrap();
    assert_eq!(m.signatures[0].key, "serving_default");
    let keys: Vec<&str> = m.signatures[0]
        .outputs
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["hidden", "probs"]);
    assert_eq!(m.subgraphs[0].operators.len(), 2);

    let (ok, err) = ferrolite(&[
        "convert",
        saved.to_str().unwrap(),
        "--signature",
        "scaled",
        "--inputs",
        "features:3,6",
        "-o",
        o,
    ]);
    assert!(ok, "{err}");
    let m = ferrolite_model::read_file(&out).unwrap();
    assert_eq!(m.signatures[0].key, "scaled");
    let sg = &m.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].shape, vec![3, 6]);
    assert_eq!(sg.tensors[sg.inputs[0]].shape_signature, None);
    // The model runs and matches TF's output of the same signature.
    let x = ferrolite_npy::read_npy(fixture("saved.in0.npy")).unwrap();
    let golden = ferrolite_npy::read_npy(fixture("saved.scaled.y.npy")).unwrap();
    let mut it = ferrolite_runtime::Interpreter::from_model(m).unwrap();
    it.resize_input_tensor(0, &x.shape).unwrap();
    it.allocate_tensors().unwrap();
    it.set_tensor(0, &x.to_f32_vec()).unwrap();
    it.invoke().unwrap();
    let y = it.tensor::<f32>(it.output_details()[0].index).unwrap();
    let d = y
        .iter()
        .zip(golden.to_f32_vec())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d <= 1e-5, "{d:e}");

    let (ok, err) = ferrolite(&[
        "convert",
        saved.to_str().unwrap(),
        "--signature",
        "nope",
        "-o",
        o,
    ]);
    assert!(!ok);
    assert!(err.contains("scaled, serving_default"), "{err}");
    let pb = fixture("mlp.pb");
    let (ok, err) = ferrolite(&["convert", pb.to_str().unwrap(), "--signature", "x", "-o", o]);
    assert!(!ok);
    assert!(err.contains("SavedModel directories only"), "{err}");
    let (ok, err) = ferrolite(&["convert", dir.path().to_str().unwrap(), "-o", o]);
    assert!(!ok);
    assert!(err.contains("not a SavedModel"), "{err}");
}

/// Top-1 classes of the digits CNN converted to `path` on the fixture's 8 test digits.
fn digits_top1(path: &std::path::Path) -> Vec<usize> {
    let x = ferrolite_npy::read_npy(fixture("digits_cnn.in0.npy")).unwrap();
    let m = ferrolite_model::read_file(path).unwrap();
    let mut it = ferrolite_runtime::Interpreter::from_model(m).unwrap();
    it.resize_input_tensor(0, &x.shape).unwrap();
    it.allocate_tensors().unwrap();
    it.set_tensor(0, &x.to_f32_vec()).unwrap();
    it.invoke().unwrap();
    let y = it.tensor::<f32>(it.output_details()[0].index).unwrap();
    y.chunks(10)
        .map(|r| (0..10).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
        .collect()
}

#[test]
fn quantization_flags_work_on_frozen_graphs() {
    let dir = tempfile::tempdir().unwrap();
    let pb = fixture("digits_cnn.pb");
    let calib =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/calibration_x.npy");
    let convert = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "convert",
            pb.to_str().unwrap(),
            "--inputs",
            "digits",
            "--outputs",
            "Identity",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (ok, err) = ferrolite(&args);
        assert!(ok, "{name}: {err}");
        let size = std::fs::metadata(&out).unwrap().len();
        (out, size)
    };
    let (f32_path, f32_size) = convert("f32.tflite", &[]);
    let (f16_path, f16_size) = convert("f16.tflite", &["--mode", "float16"]);
    let ratio = f16_size as f64 / f32_size as f64;
    println!("float32 {f32_size} B, float16 {f16_size} B (ratio {ratio:.3})");
    // The weights (~10k floats) dominate the file, so float16 roughly halves it, as the seeds
    // check with TF's converter.
    assert!((0.4..0.6).contains(&ratio), "ratio {ratio}");
    let m = ferrolite_model::read_file(&f16_path).unwrap();
    assert!(m.subgraphs[0]
        .tensors
        .iter()
        .any(|t| t.dtype == ferrolite_model::DType::F16));
    let (dyn_path, dyn_size) = convert("dyn.tflite", &["--mode", "dynamic"]);
    assert!(dyn_size < f16_size, "{dyn_size} vs {f16_size}");
    let (i8_path, _) = convert(
        "int8.tflite",
        &[
            "--mode",
            "int8",
            "--calibration-data",
            calib.to_str().unwrap(),
        ],
    );
    // Every variant runs; the quantized ones predict the same digits as float32 on (almost)
    // all 8 samples (quantization may flip a near tie).
    let want = digits_top1(&f32_path);
    for p in [&f16_path, &dyn_path, &i8_path] {
        let got = digits_top1(p);
        let same = got.iter().zip(&want).filter(|(a, b)| a == b).count();
        println!("{}: top-1 {got:?} vs float {want:?}", p.display());
        assert!(same >= 7, "{}: {got:?} vs {want:?}", p.display());
    }
}
