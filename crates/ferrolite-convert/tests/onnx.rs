//! ONNX importer against onnxruntime: the fixture models (`tools/make_onnx_fixtures.py`, built
//! with `onnx.helper`) convert, run in ferrolite's interpreter within 1e-5 of onnxruntime's
//! outputs (relative to max(1, |y|): float32 kernels differ only in summation order, and the
//! largest accumulations here are ~150 terms), keep only the layout transposes at the graph
//! edges after the transpose pass, and fold BatchNormalization away. The model with
//! unsupported ops yields one report listing all of them; malformed bytes give typed errors.

use ferrolite_convert::onnx::{self, OnnxError, OnnxOptions};
use ferrolite_convert::prost::onnx::ModelProto;
use ferrolite_model::Model;
use ferrolite_runtime::Interpreter;
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const TOL: f32 = 1e-5;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx")
}

fn npy(file: &str) -> (Vec<usize>, Vec<f32>) {
    let a = ferrolite_npy::read_npy(dir().join(file)).unwrap();
    (a.shape.clone(), a.to_f32_vec())
}

fn histogram(m: &Model) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for o in &m.subgraphs[0].operators {
        *h.entry(o.kind.name()).or_insert(0) += 1;
    }
    h
}

fn convert(name: &str, opts: &OnnxOptions) -> onnx::Conversion {
    onnx::convert_file(dir().join(format!("{name}.onnx")), opts)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn run(model: Model, shape: &[usize], x: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let mut it = Interpreter::from_model(model).unwrap();
    it.resize_input_tensor(0, shape).unwrap();
    it.allocate_tensors().unwrap();
    it.set_tensor(0, x).unwrap();
    it.invoke().unwrap();
    let d = it.output_details()[0].clone();
    (d.shape.clone(), it.tensor::<f32>(d.index).unwrap().to_vec())
}

/// Converts `name`, runs its fixture input and compares with onnxruntime's output.
fn check(name: &str) -> Model {
    let conv = convert(name, &OnnxOptions::default());
    let (xs, x) = npy(&format!("{name}.in0.npy"));
    let (ys, want) = npy(&format!("{name}.out0.npy"));
    let (shape, got) = run(conv.model.clone(), &xs, &x);
    assert_eq!(shape, ys, "{name}: output shape");
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
        .fold(0f32, f32::max);
    eprintln!(
        "{name}: max scaled error {worst:e} over {} values",
        got.len()
    );
    assert!(worst <= TOL, "{name}: max scaled error {worst} > {TOL}");
    conv.model
}

#[test]
fn cnn_matches_onnxruntime_with_transposes_only_at_the_edges() {
    let m = check("cnn");
    let h = histogram(&m);
    // Conv+BN+Relu → one CONV_2D each (BN folded, Relu fused). Of the 6 layout transposes
    // around the convs and the pool, only the one after the NCHW input is left: the others
    // cancel in pairs, and the one back to NCHW before Flatten + Gemm goes into the
    // FULLY_CONNECTED weights (their columns permuted to NHWC order).
    assert_eq!(h.get("CONV_2D"), Some(&2), "{h:?}");
    assert_eq!(h.get("TRANSPOSE"), Some(&1), "{h:?}");
    assert_eq!(h.get("RESHAPE"), Some(&1), "{h:?}");
    assert!(
        !h.contains_key("MUL") && !h.contains_key("ADD") && !h.contains_key("RELU"),
        "{h:?}"
    );
    assert_eq!(h.get("MAX_POOL_2D"), Some(&1));
    assert_eq!(h.get("FULLY_CONNECTED"), Some(&1));
    assert_eq!(h.get("SOFTMAX"), Some(&1));
    // The batch dimension stays dynamic: another batch size runs too.
    let (_, x) = npy("cnn.in0.npy");
    let (s1, y1) = run(m.clone(), &[1, 3, 8, 8], &x[..192]);
    assert_eq!(s1, vec![1, 10]);
    let (_, want) = npy("cnn.out0.npy");
    assert!(y1
        .iter()
        .zip(&want[..10])
        .all(|(a, b)| (a - b).abs() <= TOL));
}

#[test]
fn cnn_with_nhwc_input_has_no_transpose_at_all() {
    let conv = convert(
        "cnn",
        &OnnxOptions {
            nhwc_input: true,
            ..Default::default()
        },
    );
    let input = conv.model.subgraphs[0].inputs[0];
    assert_eq!(
        conv.model.subgraphs[0].tensors[input].shape,
        vec![1, 8, 8, 3]
    );
    let h = histogram(&conv.model);
    assert_eq!(h.get("TRANSPOSE"), None, "{h:?}");
    // Same numbers on the NHWC copy of the input.
    let (xs, x) = npy("cnn.in0.npy");
    let (_, want) = npy("cnn.out0.npy");
    let (n, c, hw) = (xs[0], xs[1], xs[2] * xs[3]);
    let mut nhwc = vec![0f32; x.len()];
    for b in 0..n {
        for ch in 0..c {
            for p in 0..hw {
                nhwc[(b * hw + p) * c + ch] = x[(b * c + ch) * hw + p];
            }
        }
    }
    let (_, got) = run(conv.model, &[n, xs[2], xs[3], c], &nhwc);
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() <= TOL));
}

#[test]
fn depthwise_separable_residual_block_matches() {
    let m = check("dwsep");
    let h = histogram(&m);
    assert_eq!(h.get("DEPTHWISE_CONV_2D"), Some(&1), "{h:?}");
    assert_eq!(h.get("CONV_2D"), Some(&2), "{h:?}");
    // Only the NCHW input's transpose is left: the residual ADD, LEAKY_RELU, the pools and
    // the global mean all run NHWC, and the [N, 1, 1, C] result reshapes straight to [N, C].
    assert_eq!(h.get("TRANSPOSE"), Some(&1), "{h:?}");
    assert_eq!(h.get("ADD"), Some(&1), "{h:?}");
    assert!(!h.contains_key("RELU6") && !h.contains_key("MUL"), "{h:?}");
}

#[test]
fn mlp_matches() {
    let m = check("mlp");
    let h = histogram(&m);
    assert_eq!(h.get("FULLY_CONNECTED"), Some(&2), "{h:?}");
    assert!(
        !h.contains_key("ADD"),
        "bias folded into FULLY_CONNECTED: {h:?}"
    );
    assert_eq!(h.get("MAXIMUM"), Some(&1));
    assert_eq!(h.get("MINIMUM"), Some(&1));
}

#[test]
fn transpose_conv_resize_pad_concat_and_channel_softmax_match() {
    let m = check("misc");
    let h = histogram(&m);
    for op in [
        "TRANSPOSE_CONV",
        "RESIZE_NEAREST_NEIGHBOR",
        "RESIZE_BILINEAR",
        "MIRROR_PAD",
        "PADV2",
        "CONCATENATION",
        "SOFTMAX",
    ] {
        assert_eq!(h.get(op), Some(&1), "{op}: {h:?}");
    }
    // The NCHW input's transpose (shared by the three branches) is all that is left: the
    // channel softmax runs on the NHWC concat, and the model's own NHWC output transpose
    // cancels against the layout one.
    assert_eq!(h.get("TRANSPOSE"), Some(&1), "{h:?}");
}

#[test]
fn opset_11_semantics_and_activation_products_match() {
    let m = check("extra");
    let h = histogram(&m);
    // MatMul of x and xᵀ, and the Gemm of two activations: BATCH_MATMUL; the Gemm by a
    // constant (transA): TRANSPOSE + FULLY_CONNECTED; the opset-11 softmax over axis 1 of a
    // rank-3 tensor flattens to 2-D around SOFTMAX.
    assert_eq!(h.get("BATCH_MATMUL"), Some(&2), "{h:?}");
    assert_eq!(h.get("FULLY_CONNECTED"), Some(&1), "{h:?}");
    assert_eq!(h.get("SOFTMAX"), Some(&1), "{h:?}");
    assert_eq!(h.get("MAXIMUM"), Some(&3), "clip min + 3-input max: {h:?}");
}

#[test]
fn every_unsupported_op_is_reported_at_once() {
    let err = onnx::convert_file(dir().join("unsupported.onnx"), &OnnxOptions::default())
        .expect_err("must fail");
    let OnnxError::Unsupported(ops) = &err else {
        panic!("expected Unsupported, got {err}");
    };
    assert_eq!(ops.ops.len(), 3, "{ops}");
    assert_eq!(ops.ops[0].op, "Erf");
    assert_eq!(ops.ops[0].nodes, vec!["erf_a", "erf_b"]);
    assert_eq!(ops.get("Einsum").unwrap().nodes, vec!["einsum"]);
    assert_eq!(ops.get("com.example.Fancy").unwrap().count(), 1);
    let text = err.to_string();
    assert!(
        text.contains("3 unsupported op type(s) in 4 node(s)"),
        "{text}"
    );
}

fn fixture_model(name: &str) -> ModelProto {
    let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).unwrap();
    ModelProto::decode(bytes.as_slice()).unwrap()
}

#[test]
fn truncated_garbage_and_empty_files_give_decode_errors() {
    let bytes = std::fs::read(dir().join("cnn.onnx")).unwrap();
    let opts = OnnxOptions::default();
    for cut in [1, 7, bytes.len() / 3, bytes.len() - 1] {
        let r = onnx::convert_bytes(&bytes[..cut], "cut.onnx", &opts);
        assert!(
            matches!(r, Err(OnnxError::Decode { .. })),
            "cut at {cut}: {:?}",
            r.err()
        );
    }
    for junk in [
        &b""[..],
        b"\xff\xff\xff\xff\xff\xff",
        b"TFL3 not an onnx model at all",
    ] {
        let r = onnx::convert_bytes(junk, "junk.onnx", &opts);
        assert!(matches!(r, Err(OnnxError::Decode { .. })), "{:?}", r.err());
    }
}

#[test]
fn bad_models_give_typed_errors() {
    let opts = OnnxOptions::default();
    // External data.
    let mut m = fixture_model("cnn");
    let g = m.graph.as_mut().unwrap();
    g.initializer[0].raw_data.clear();
    g.initializer[0].data_location = 1;
    let r = onnx::convert_model(&m, "ext.onnx", &opts);
    assert!(
        matches!(r, Err(OnnxError::ExternalData { .. })),
        "{:?}",
        r.err()
    );
    // Opset out of range.
    let mut m = fixture_model("cnn");
    m.opset_import.retain(|o| !o.domain.is_empty());
    let r = onnx::convert_model(&m, "old.onnx", &opts);
    assert!(
        matches!(r, Err(OnnxError::Opset { version: 0, .. })),
        "{:?}",
        r.err()
    );
    // A node reading an undefined value.
    let mut m = fixture_model("cnn");
    m.graph.as_mut().unwrap().node[2].input[0] = "nowhere".into();
    let r = onnx::convert_model(&m, "dangling.onnx", &opts);
    assert!(
        matches!(r, Err(OnnxError::Undefined { .. })),
        "{:?}",
        r.err()
    );
    // An unsupported attribute value.
    let mut m = fixture_model("cnn");
    let conv = &mut m.graph.as_mut().unwrap().node[0];
    conv.attribute.retain(|a| a.name != "pads");
    conv.attribute
        .push(ferrolite_convert::prost::onnx::AttributeProto {
            name: "auto_pad".into(),
            s: b"MIRRORED".to_vec(),
            r#type: 3,
            ..Default::default()
        });
    let r = onnx::convert_model(&m, "attr.onnx", &opts);
    assert!(matches!(r, Err(OnnxError::BadAttr { .. })), "{:?}", r.err());
    // Raw data of the wrong size.
    let mut m = fixture_model("cnn");
    m.graph.as_mut().unwrap().initializer[0].raw_data.pop();
    let r = onnx::convert_model(&m, "short.onnx", &opts);
    assert!(
        matches!(r, Err(OnnxError::BadTensor { .. })),
        "{:?}",
        r.err()
    );
}

#[test]
fn report_names_the_folds() {
    let conv = convert("cnn", &OnnxOptions::default());
    let text = conv.report.to_string();
    assert!(
        text.contains("ONNX model (IR 8, opset 13, producer `ferrolite-fixtures`)"),
        "{text}"
    );
    assert!(
        text.contains("layout transposes: 6 → 1 TRANSPOSE"),
        "{text}"
    );
    assert!(
        text.contains("MUL of `bn1` into CONV_2D of `conv1`"),
        "{text}"
    );
    assert_eq!(
        conv.report.count(ferrolite_convert::EventKind::Fused),
        2,
        "{text}"
    );
}

#[test]
fn corrupted_fixtures_never_panic() {
    // Flip bytes all over each fixture: decoding or conversion may fail (typed errors) or even
    // succeed on a still-valid model, but must never panic.
    let opts = OnnxOptions::default();
    let mut failures = 0;
    for name in ["cnn", "dwsep", "mlp", "misc", "extra", "unsupported"] {
        let bytes = std::fs::read(dir().join(format!("{name}.onnx"))).unwrap();
        let step = (bytes.len() / 200).max(1);
        for pos in (0..bytes.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[pos] ^= flip;
                if onnx::convert_bytes(&b, name, &opts).is_err() {
                    failures += 1;
                }
            }
        }
    }
    assert!(failures > 0);
}
