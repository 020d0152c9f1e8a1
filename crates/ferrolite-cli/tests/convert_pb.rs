//! `ferrolite convert model.pb --inputs NAME[:shape] --outputs NAME`: TensorFlow frozen graphs
//! convert from the command line, and a graph with unsupported ops fails with the full report
//! unless `--allow-custom-ops` is given.

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
