//! `ferrolite convert model.onnx -o out.tflite`: ONNX models convert from the command line
//! (NCHW input by default, NHWC with `--nhwc-input`, `--batch-size` fixing the symbolic batch),
//! the quantization flags apply to them as to any model, and a model with unsupported ops fails
//! with the full report.

use ferrolite_model::DType;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/onnx")
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

fn input_shape(path: &std::path::Path) -> (Vec<i32>, Option<Vec<i32>>) {
    let m = ferrolite_model::read_file(path).unwrap();
    let sg = &m.subgraphs[0];
    let t = &sg.tensors[sg.inputs[0]];
    (t.shape.clone(), t.shape_signature.clone())
}

#[test]
fn onnx_models_convert_with_layout_and_batch_options() {
    let dir = tempfile::tempdir().unwrap();
    let cnn = fixture("cnn.onnx");
    let out = dir.path().join("cnn.tflite");
    let (ok, err) = ferrolite(&[
        "convert",
        cnn.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("ONNX model"), "{err}");
    assert_eq!(
        input_shape(&out),
        (vec![1, 3, 8, 8], Some(vec![-1, 3, 8, 8]))
    );

    let nhwc = dir.path().join("cnn_nhwc.tflite");
    let (ok, err) = ferrolite(&[
        "convert",
        cnn.to_str().unwrap(),
        "--nhwc-input",
        "--batch-size",
        "2",
        "-o",
        nhwc.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(input_shape(&nhwc), (vec![2, 8, 8, 3], None));
}

#[test]
fn quantization_flags_apply_to_onnx_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn_int8.tflite");
    let calib = fixture("cnn.in0.npy");
    let (ok, err) = ferrolite(&[
        "convert",
        fixture("cnn.onnx").to_str().unwrap(),
        "--mode",
        "int8",
        "--calibration-data",
        calib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let m = ferrolite_model::read_file(&out).unwrap();
    let sg = &m.subgraphs[0];
    let convs: Vec<_> = sg
        .operators
        .iter()
        .filter(|o| o.kind.name() == "CONV_2D")
        .collect();
    assert_eq!(convs.len(), 2);
    for c in convs {
        let w = c.inputs[1].unwrap();
        assert_eq!(sg.tensors[w].dtype, DType::I8, "{}", sg.tensors[w].name);
    }
}

#[test]
fn unsupported_onnx_ops_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("u.tflite");
    let (ok, err) = ferrolite(&[
        "convert",
        fixture("unsupported.onnx").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    for needle in ["Erf", "×2", "erf_a, erf_b", "Einsum", "com.example.Fancy"] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert!(!out.exists());
}
