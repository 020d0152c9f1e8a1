//! `ferrolite prune`, `qat` and `cluster` (built with `--features train`): JSON reports, the
//! written models' sparsity, clusters and accuracy, the prune → QAT and cluster → QAT flows, and
//! bad options that must leave no output behind.

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

fn kernel_values(path: &Path, name: &str) -> Vec<f32> {
    let m = ferrolite_model::read_file(path).unwrap();
    let t = m.subgraphs[0]
        .tensors
        .iter()
        .find(|t| t.name == name)
        .unwrap();
    t.data
        .as_ref()
        .unwrap()
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn cluster_then_cqat_and_prune_then_pqat() {
    let dir = tempfile::tempdir().unwrap();
    let (model, data, test) = (
        fixtures().join("mlp/mlp_float32.tflite"),
        fixtures().join("digits_train.npz"),
        fixtures().join("digits_test.npz"),
    );
    let clustered = dir.path().join("clustered.tflite");
    let o = ferrolite(&[
        "cluster",
        path(&model),
        "-o",
        path(&clustered),
        "--data",
        path(&data),
        "--clusters",
        "8",
        "--init",
        "linear",
        "--epochs",
        "1",
        "--eval",
        path(&test),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["epochs"].as_array().unwrap().len(), 1);
    assert!(v["accuracy_after"].as_f64().unwrap() > 0.93, "{v}");
    assert!(v["gzip_bytes_after"].as_u64() < v["gzip_bytes_before"].as_u64());
    for l in v["layers"].as_array().unwrap() {
        assert_eq!(l["clustered"], true);
        let mut w = kernel_values(&clustered, l["tensor"].as_str().unwrap());
        w.sort_by(f32::total_cmp);
        w.dedup();
        assert!(w.len() <= 8, "{}: {} values", l["layer"], w.len());
    }
    let cqat = dir.path().join("cqat.tflite");
    let o = ferrolite(&[
        "qat",
        path(&clustered),
        "-o",
        path(&cqat),
        "--data",
        path(&data),
        "--epochs",
        "1",
        "--preserve-clusters",
        "--eval",
        path(&test),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["preserve"], "clusters");
    assert_eq!(v["preserved_kernels"], 3);
    assert!(v["accuracy_int8"].as_f64().unwrap() > 0.93, "{v}");

    let pruned = dir.path().join("pruned.tflite");
    let o = ferrolite(&[
        "prune",
        path(&model),
        "-o",
        path(&pruned),
        "--data",
        path(&data),
        "--schedule",
        "constant:0.5",
        "--frequency",
        "10",
        "--epochs",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pqat = dir.path().join("pqat.tflite");
    let o = ferrolite(&[
        "qat",
        path(&pruned),
        "-o",
        path(&pqat),
        "--data",
        path(&data),
        "--epochs",
        "1",
        "--preserve-sparsity",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["preserve"], "sparsity");
    // The float model has no zeros to keep: refused, and no file is written.
    let bad = dir.path().join("bad.tflite");
    let o = ferrolite(&[
        "qat",
        path(&model),
        "-o",
        path(&bad),
        "--data",
        path(&data),
        "--preserve-sparsity",
    ]);
    assert!(!o.status.success());
    assert!(!bad.exists());
}

#[test]
fn prune_keras_with_unfolded_batch_norm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.tflite");
    let o = ferrolite(&[
        "prune",
        path(&fixtures().join("cnn_bn/cnn_bn.h5")),
        "-o",
        path(&out),
        "--data",
        path(&fixtures().join("digits_train.npz")),
        "--epochs",
        "1",
        "--frequency",
        "10",
        "--unfold-batch-norm",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A .tflite has its batch norms folded already: refused.
    let o = ferrolite(&[
        "prune",
        path(&fixtures().join("cnn_bn/cnn_bn_float32.tflite")),
        "-o",
        path(&dir.path().join("q.tflite")),
        "--data",
        path(&fixtures().join("digits_train.npz")),
        "--unfold-batch-norm",
    ]);
    assert!(!o.status.success());
}

/// Writes `n` digits of `npz` as 8-bit PNGs in class folders (`DIR/<label>/<i>.png`) and returns
/// the same pixels (scaled by 1/255) and labels in the folder reader's order, as an `.npz`.
fn digits_as_images(npz: &Path, n: usize, dir: &Path) -> PathBuf {
    let entries = ferrolite_npy::read_npz(npz).unwrap();
    let get = |k: &str| &entries.iter().find(|(name, _)| name == k).unwrap().1;
    let (x, y) = (get("x").to_f32_vec(), get("y").to_i64_vec());
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); 10];
    for (i, &label) in y.iter().take(n).enumerate() {
        by_class[label as usize].push(i);
    }
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for (label, samples) in by_class.iter().enumerate() {
        let class = dir.join(label.to_string());
        std::fs::create_dir_all(&class).unwrap();
        for (k, &i) in samples.iter().enumerate() {
            let pixels: Vec<u8> = x[i * 64..(i + 1) * 64]
                .iter()
                .map(|v| (v * 255.0).round() as u8)
                .collect();
            xs.extend(pixels.iter().map(|&p| f32::from(p) / 255.0));
            ys.push(label as i64);
            image::GrayImage::from_raw(8, 8, pixels)
                .unwrap()
                .save(class.join(format!("{k:04}.png")))
                .unwrap();
        }
    }
    let same = dir.with_extension("npz");
    let arrays = [
        (
            "x",
            ferrolite_npy::Array::from_f32(&[ys.len(), 8, 8, 1], &xs).unwrap(),
        ),
        (
            "y",
            ferrolite_npy::Array::from_i64(&[ys.len()], &ys).unwrap(),
        ),
    ];
    ferrolite_npy::write_npz(&same, &arrays, Default::default()).unwrap();
    same
}

/// Training and evaluation read class-folder images like Keras' `image_dataset_from_directory`:
/// the same pixels as an `.npz` give the same bytes (with a cosine learning-rate schedule), and a
/// different schedule gives a different model.
#[test]
fn image_folders_and_learning_rate_schedules() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixtures().join("mlp/mlp_float32.tflite");
    let train_dir = dir.path().join("train");
    let train_npz = digits_as_images(&fixtures().join("digits_train.npz"), 300, &train_dir);
    let test_dir = dir.path().join("test");
    digits_as_images(&fixtures().join("digits_test.npz"), 120, &test_dir);
    let run = |data: &Path, schedule: &str, out: &Path| {
        let o = ferrolite(&[
            "prune",
            path(&model),
            "-o",
            path(out),
            "--data",
            path(data),
            "--eval",
            path(&test_dir),
            "--schedule",
            "constant:0.5",
            "--frequency",
            "5",
            "--epochs",
            "1",
            "--lr-schedule",
            schedule,
            "--json",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["accuracy_after"].as_f64().unwrap() > 0.9, "{v}");
        std::fs::read(out).unwrap()
    };
    let from_images = run(&train_dir, "cosine:0.1", &dir.path().join("a.tflite"));
    let from_npz = run(&train_npz, "cosine:0.1", &dir.path().join("b.tflite"));
    assert_eq!(from_images, from_npz);
    let exponential = run(
        &train_dir,
        "exponential:0.5,2,staircase",
        &dir.path().join("c.tflite"),
    );
    assert_ne!(from_images, exponential);
    let o = ferrolite(&[
        "prune",
        path(&model),
        "-o",
        path(&dir.path().join("never.tflite")),
        "--data",
        path(&train_dir),
        "--lr-schedule",
        "linear",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad learning-rate schedule 'linear'"));
}

/// The header names the learning-rate schedule; an unknown `--only` / `--skip` layer fails
/// before anything is printed.
#[test]
fn header_shows_the_schedule_and_unknown_layers_fail_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.tflite");
    let model = fixtures().join("mlp/mlp_float32.tflite");
    let data = fixtures().join("digits_train.npz");
    let base = |cmd: &'static str| vec![cmd, path(&model), "-o", path(&out), "--data", path(&data)];
    for (cmd, flag) in [
        ("prune", "--only"),
        ("cluster", "--skip"),
        ("qat", "--skip"),
    ] {
        let mut args = base(cmd);
        args.extend([flag, "nosuch"]);
        let o = ferrolite(&args);
        assert!(!o.status.success(), "{cmd} {flag} nosuch succeeded");
        assert!(
            o.stdout.is_empty(),
            "{cmd}: printed {:?}",
            String::from_utf8_lossy(&o.stdout)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("no layer matches 'nosuch'"), "{cmd}: {err}");
        assert!(!out.exists());
    }
    let mut args = base("prune");
    args.extend(["--epochs", "1", "--lr-schedule", "cosine:0.1"]);
    let o = ferrolite(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let header = text.lines().next().unwrap();
    assert!(header.contains("lr 0.001 cosine:0.1"), "{header}");
}

/// `qat --init-ranges calibration --keep-best`: the schedule in the header, the kept epoch
/// reported (text and JSON); `--keep-best` without a validation split is refused.
#[test]
fn qat_keep_best_and_calibrated_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q.tflite");
    let model = fixtures().join("mlp/mlp_float32.tflite");
    let data = fixtures().join("digits_train.npz");
    let mut args = vec![
        "qat",
        path(&model),
        "-o",
        path(&out),
        "--data",
        path(&data),
        "--epochs",
        "1",
        "--init-ranges",
        "calibration",
        "--keep-best",
        "val-loss",
        "--lr-schedule",
        "exponential:0.5,10",
    ];
    let o = ferrolite(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("lr 0.0001 exponential:0.5,10"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("kept ")), "{text}");
    args.push("--json");
    let o = ferrolite(&args);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["kept_epoch"].as_u64().unwrap() <= 1, "{v}");
    std::fs::remove_file(&out).unwrap();
    args.extend(["--validation-split", "0"]);
    let o = ferrolite(&args);
    assert!(!o.status.success());
    assert!(!out.exists());
}
