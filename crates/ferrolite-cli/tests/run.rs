//! `ferrolite run` end to end: outputs against LiteRT's reference outputs (tests/fixtures), input
//! validation errors, `.npz` inputs and random inputs.

use ferrolite_npy::{read_npy, write_npy, write_npz, Array, NpzCompression};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn mlp() -> PathBuf {
    fixtures().join("mlp/mlp_float32.tflite")
}

const INPUT_NAME: &str = "serving_default_input:0";

fn ferrolite(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("run")
        .args(args)
        .output()
        .expect("run ferrolite")
}

fn ok_json(args: &[&std::ffi::OsStr]) -> Value {
    let mut all = args.to_vec();
    all.push("--json".as_ref());
    let out = ferrolite(&all);
    assert!(
        out.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("run --json prints JSON")
}

/// Exit code 1 with a message on stderr; returns the message.
fn fails(args: &[&std::ffi::OsStr]) -> String {
    let out = ferrolite(args);
    assert_eq!(out.status.code(), Some(1), "expected failure for {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// max |a - b| ≤ 1e-5 × max(1, |b|) elementwise.
fn assert_close(got: &Array, want: &Array) {
    assert_eq!(got.shape, want.shape);
    assert_eq!(got.dtype, want.dtype);
    for (i, (g, w)) in got.to_f64_vec().iter().zip(want.to_f64_vec()).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "element {i}: {g} vs {w}"
        );
    }
}

#[test]
fn mlp_float32_matches_litert() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixtures().join("inputs_f32.npy");
    let report = ok_json(&[
        mlp().as_ref(),
        "--input".as_ref(),
        input.as_ref(),
        "--output-dir".as_ref(),
        dir.path().as_ref(),
        "--threads".as_ref(),
        "1".as_ref(),
    ]);
    assert_eq!(report["inputs"][0]["name"], INPUT_NAME);
    assert_eq!(
        report["inputs"][0]["shape"],
        serde_json::json!([16, 8, 8, 1])
    );
    assert_eq!(report["inputs"][0]["dtype"], "float32");
    let out = &report["outputs"][0];
    assert_eq!(out["shape"], serde_json::json!([16, 10]));
    assert_eq!(out["dtype"], "float32");
    assert!(report["invoke_ms"].as_f64().unwrap() >= 0.0);
    let written = dir.path().join("0.npy");
    assert_eq!(out["file"], written.display().to_string());
    let got = read_npy(&written).unwrap();
    let want = read_npy(fixtures().join("mlp/mlp_float32.out.npy")).unwrap();
    assert_close(&got, &want);
}

#[test]
fn npz_inputs_by_tensor_or_signature_name() {
    let dir = tempfile::tempdir().unwrap();
    let x = read_npy(fixtures().join("inputs_f32.npy")).unwrap();
    let want = read_npy(fixtures().join("mlp/mlp_float32.out.npy")).unwrap();
    for (i, key) in [INPUT_NAME, "input"].into_iter().enumerate() {
        let npz = dir.path().join(format!("in{i}.npz"));
        write_npz(&npz, &[(key, &x)], NpzCompression::Deflated).unwrap();
        let out_dir = dir.path().join(format!("out{i}"));
        let report = ok_json(&[
            mlp().as_ref(),
            "--inputs".as_ref(),
            npz.as_ref(),
            "--output-dir".as_ref(),
            out_dir.as_ref(),
        ]);
        assert_eq!(
            report["inputs"][0]["source"],
            format!("{}:{key}", npz.display())
        );
        assert_close(&read_npy(out_dir.join("0.npy")).unwrap(), &want);
    }
}

#[test]
fn wrong_shape_names_the_input() {
    let dir = tempfile::tempdir().unwrap();
    for shape in [vec![16, 8, 8], vec![2, 8, 8, 2], vec![]] {
        let n: usize = shape.iter().product();
        let bad = dir.path().join("bad.npy");
        write_npy(&bad, &Array::from_f32(&shape, &vec![0.5; n]).unwrap()).unwrap();
        let msg = fails(&[mlp().as_ref(), "--input".as_ref(), bad.as_ref()]);
        assert!(msg.contains(INPUT_NAME), "{msg}");
        assert!(msg.contains("expected shape [1, 8, 8, 1]"), "{msg}");
        assert!(msg.contains(&format!("got {shape:?}")), "{msg}");
    }
}

#[test]
fn wrong_dtype_names_the_input() {
    // The int8 model's input, fed to the float model: no silent conversion.
    let int8 = fixtures().join("cnn_bn/cnn_bn_int8.in.npy");
    let msg = fails(&[mlp().as_ref(), "--input".as_ref(), int8.as_ref()]);
    assert!(msg.contains(INPUT_NAME), "{msg}");
    assert!(msg.contains("expected dtype float32, got int8"), "{msg}");
}

#[test]
fn wrong_npz_keys_list_the_expected_names() {
    let dir = tempfile::tempdir().unwrap();
    let x = read_npy(fixtures().join("inputs_f32.npy")).unwrap();
    let npz = dir.path().join("bad.npz");
    write_npz(&npz, &[("images", &x)], NpzCompression::Stored).unwrap();
    let msg = fails(&[mlp().as_ref(), "--inputs".as_ref(), npz.as_ref()]);
    assert!(msg.contains(&format!("'{INPUT_NAME}'")), "{msg}");
    assert!(msg.contains("unknown key 'images'"), "{msg}");
    assert!(
        msg.contains("'input'"),
        "signature names are offered too: {msg}"
    );

    let extra = dir.path().join("extra.npz");
    write_npz(
        &extra,
        &[("input", &x), ("other", &x)],
        NpzCompression::Stored,
    )
    .unwrap();
    let msg = fails(&[mlp().as_ref(), "--inputs".as_ref(), extra.as_ref()]);
    assert!(msg.contains("unknown key 'other'"), "{msg}");
}

#[test]
fn input_count_and_conflicts() {
    let x = fixtures().join("inputs_f32.npy");
    let msg = fails(&[
        mlp().as_ref(),
        "--input".as_ref(),
        x.as_ref(),
        "--input".as_ref(),
        x.as_ref(),
    ]);
    assert!(
        msg.contains("1 input(s)") && msg.contains(INPUT_NAME),
        "{msg}"
    );
    let out = ferrolite(&[
        mlp().as_ref(),
        "--input".as_ref(),
        x.as_ref(),
        "--inputs".as_ref(),
        "a.npz".as_ref(),
    ]);
    assert!(!out.status.success());
    let missing = fails(&[mlp().as_ref(), "--input".as_ref(), "no/such.npy".as_ref()]);
    assert!(missing.contains("no/such.npy"), "{missing}");
}

#[test]
fn random_inputs_run_and_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for run in 0..2 {
        let out_dir = dir.path().join(format!("r{run}"));
        let report = ok_json(&[mlp().as_ref(), "--output-dir".as_ref(), out_dir.as_ref()]);
        assert_eq!(report["inputs"][0]["source"], "random(seed=0)");
        assert_eq!(
            report["inputs"][0]["shape"],
            serde_json::json!([1, 8, 8, 1])
        );
        assert_eq!(report["outputs"][0]["shape"], serde_json::json!([1, 10]));
        let y = read_npy(out_dir.join("0.npy")).unwrap();
        let sum: f32 = y.to_f32_vec().iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "softmax sums to 1, got {sum}");
        outputs.push(y);
    }
    assert_eq!(outputs[0], outputs[1]);
    let text = ferrolite(&[mlp().as_ref(), "--seed".as_ref(), "5".as_ref()]);
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("random(seed=5)") && stdout.contains("invoke"),
        "{stdout}"
    );
}

/// The int8 models with their int8 inputs: outputs bit-exact with LiteRT.
#[test]
fn int8_models_match_litert_exactly() {
    for name in ["mlp", "cnn_bn"] {
        let dir = tempfile::tempdir().unwrap();
        let model = fixtures().join(format!("{name}/{name}_int8.tflite"));
        let input = fixtures().join(format!("{name}/{name}_int8.in.npy"));
        let out = ferrolite(&[
            model.as_ref(),
            "--input".as_ref(),
            input.as_ref(),
            "--output-dir".as_ref(),
            dir.path().as_ref(),
        ]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = read_npy(dir.path().join("0.npy")).unwrap();
        let want = read_npy(fixtures().join(format!("{name}/{name}_int8.out.npy"))).unwrap();
        assert_eq!(got, want, "{name}");
    }
}
