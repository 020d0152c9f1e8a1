//! Keras converter against TensorFlow: every fixture model (`.h5` and `.keras`) converts to the
//! op list TF's TFLiteConverter produced, and running it in ferrolite's interpreter reproduces
//! the Keras outputs. Malformed inputs give the right `ConvertError`.

use ferrolite_convert::keras::{self, Options};
use ferrolite_convert::{ConvertError, EventKind};
use ferrolite_model::Model;
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const TOL: f32 = 1e-5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let a = ferrolite_npy::read_npy(path).unwrap();
    (a.shape.clone(), a.to_f32_vec())
}

fn op_names(m: &Model) -> Vec<String> {
    m.subgraphs[0]
        .operators
        .iter()
        .map(|o| o.kind.name())
        .collect()
}

fn histogram(ops: &[String]) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for o in ops {
        *h.entry(o.clone()).or_insert(0) += 1;
    }
    h
}

/// One model input: its signature name, shape and raw little-endian bytes.
struct Input {
    name: String,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// Runs `model` on named inputs and returns the outputs in the order of `names`.
fn run_bytes(model: Model, inputs: &[Input], names: &[String]) -> Vec<Vec<f32>> {
    let sig = model.signatures[0].clone();
    let mut it = Interpreter::from_model(model).unwrap();
    let index = |n: &str, list: &[(String, usize)]| {
        list.iter()
            .find(|(k, _)| k == n)
            .unwrap_or_else(|| panic!("no signature tensor `{n}` in {list:?}"))
            .1
    };
    for i in inputs {
        it.resize_input_tensor(index(&i.name, &sig.inputs), &i.shape)
            .unwrap();
    }
    it.allocate_tensors().unwrap();
    for i in inputs {
        it.set_tensor_bytes(index(&i.name, &sig.inputs), &i.bytes)
            .unwrap();
    }
    it.invoke().unwrap();
    names
        .iter()
        .map(|n| it.tensor::<f32>(index(n, &sig.outputs)).unwrap().to_vec())
        .collect()
}

/// [`run_bytes`] for float inputs given as (name, shape, values).
fn run(model: Model, inputs: &[(String, Vec<usize>, Vec<f32>)], names: &[String]) -> Vec<Vec<f32>> {
    let inputs: Vec<Input> = inputs
        .iter()
        .map(|(name, shape, v)| Input {
            name: name.clone(),
            shape: shape.clone(),
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        })
        .collect();
    run_bytes(model, &inputs, names)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "output sizes differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn convert(path: &Path) -> keras::Conversion {
    keras::convert_file(path, &Options::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn digit_models_match_tf_ops_and_keras_outputs() {
    let fx = fixtures();
    let manifest = json(&fx.join("manifest.json"));
    let (xshape, x) = npy(&fx.join("inputs_f32.npy"));
    for m in ["cnn_bn", "dwsep_res", "mlp"] {
        let entry = &manifest["models"][m];
        let tf_ops: Vec<String> = entry["variants"]["float32"]["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let (_, golden) = npy(&fx.join(m).join("keras_out.npy"));
        for ext in ["h5", "keras"] {
            let path = fx.join(m).join(format!("{m}.{ext}"));
            let conv = convert(&path);
            let model = conv.model;
            assert_eq!(
                op_names(&model),
                tf_ops,
                "{m}.{ext}: op list differs from TF's\n{}",
                conv.report
            );
            // TF's boundary: dynamic batch, serving_default signature with Keras names.
            let sg = &model.subgraphs[0];
            let input = &sg.tensors[sg.inputs[0]];
            assert_eq!(input.name, "serving_default_input:0");
            assert_eq!(input.shape, vec![1, 8, 8, 1]);
            assert_eq!(input.shape_signature, Some(vec![-1, 8, 8, 1]));
            assert_eq!(sg.tensors[sg.outputs[0]].name, "StatefulPartitionedCall:0");
            assert_eq!(model.signatures[0].key, "serving_default");
            assert_eq!(model.signatures[0].outputs[0].0, "probs");
            assert!(sg.operators.iter().all(|o| o.version == 1));
            // The converted model also survives a write/read round trip.
            let bytes = ferrolite_model::write_bytes(&model).unwrap();
            ferrolite_model::read_bytes(bytes).unwrap();

            let out = run(
                model,
                &[("input".into(), xshape.clone(), x.clone())],
                &["probs".into()],
            );
            let d = max_abs_diff(&out[0], &golden);
            println!(
                "{m}.{ext}: ops {:?}, max |ours - keras| = {d:e}",
                tf_ops.len()
            );
            assert!(d <= TOL, "{m}.{ext}: max abs diff vs Keras {d:e}");
            let folded = conv.report.count(EventKind::Folded);
            if m == "cnn_bn" {
                assert!(folded >= 4, "{m}: both BatchNorms fold (MUL + ADD each)");
            }
        }
    }
}

/// Reads a fixture input `.npy` as raw little-endian bytes (float32 or int32 inputs).
fn npy_input(name: &str, path: &Path) -> Input {
    let a = ferrolite_npy::read_npy(path).unwrap();
    Input {
        name: name.to_string(),
        shape: a.shape.clone(),
        bytes: a.data.clone(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The `min_runtime_version` metadata of a converted model, NULs stripped.
fn runtime_version(m: &Model) -> Option<String> {
    let md = m
        .metadata
        .iter()
        .find(|d| d.name == "min_runtime_version")?;
    assert_eq!(md.data.len(), 16, "TF pads the entry to 16 bytes");
    Some(
        String::from_utf8_lossy(&md.data)
            .trim_end_matches('\0')
            .to_string(),
    )
}

/// The extra Keras fixtures (tools/make_keras_fixtures.py): every file converts; its op multiset
/// equals TF's conversion with the documented differences of [`expected_ops`] applied; each
/// operator kind has TF's version and the `min_runtime_version` entry is TF's; the outputs match
/// that file's own Keras outputs within [`TOL`].
#[test]
fn keras_fixture_models_match_keras() {
    let dir = fixtures().join("keras");
    let manifest = json(&dir.join("manifest.json"));
    let mut worst: f32 = 0.0;
    for (m, entry) in manifest["models"].as_object().unwrap() {
        let inputs: Vec<Input> = entry["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                npy_input(
                    i["name"].as_str().unwrap(),
                    &dir.join(i["file"].as_str().unwrap()),
                )
            })
            .collect();
        let outputs: Vec<String> = entry["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect();
        let tf = &entry["tflite"];
        let tf_ops = strings(&tf["ops"]);
        let tf_versions = tf["op_versions"].as_object().unwrap();
        for f in entry["files"].as_array().unwrap() {
            let file = f["file"].as_str().unwrap();
            let keras3 = f["keras"] == "keras3";
            let conv = convert(&dir.join(file));
            let ours = op_names(&conv.model);
            let (expected, exact) = expected_ops(m, keras3, &tf_ops);
            assert_eq!(
                histogram(&ours),
                histogram(&expected),
                "{file}: op multiset differs from TF's (adjusted)\nours: {ours:?}\nTF:   {tf_ops:?}\n{}",
                conv.report
            );
            let mut versions: BTreeMap<String, i32> = BTreeMap::new();
            for o in &conv.model.subgraphs[0].operators {
                let v = versions.entry(o.kind.name()).or_insert(0);
                *v = (*v).max(o.version);
            }
            for (op, v) in &versions {
                if let Some(tf_v) = tf_versions.get(op) {
                    assert_eq!(
                        i64::from(*v),
                        tf_v.as_i64().unwrap(),
                        "{file}: {op} version"
                    );
                }
            }
            let ours_rt = runtime_version(&conv.model);
            if exact {
                assert_eq!(
                    ours_rt.as_deref(),
                    tf["min_runtime_version"].as_str(),
                    "{file}: min_runtime_version"
                );
            }
            let outs = run_bytes(conv.model, &inputs, &outputs);
            for (k, g) in strings(&f["outputs"]).iter().enumerate() {
                let (_, golden) = npy(&dir.join(g));
                let d = max_abs_diff(&outs[k], &golden);
                worst = worst.max(d);
                println!(
                    "{file} output {}: {} ops (TF {}), runtime {ours_rt:?}, max |ours - keras| = {d:e}",
                    outputs[k],
                    ours.len(),
                    tf_ops.len()
                );
                assert!(d <= TOL, "{file} output {}: max abs diff {d:e}", outputs[k]);
            }
        }
    }
    println!("worst max |ours - keras| over all Keras fixtures: {worst:e}");
}

/// TF's op list with the known, intentional differences applied, and whether none applied.
///
/// * A dilated convolution (seq_cnn's Conv2D, seq1d's Conv1D): TF emits SPACE_TO_BATCH_ND +
///   CONV_2D + BATCH_TO_SPACE_ND + ADD (bias); we emit one dilated CONV_2D with the bias.
/// * A Keras `Reshape` layer (res_merge): TF computes the target shape at run time (SHAPE +
///   STRIDED_SLICE + PACK feeding RESHAPE); we emit one RESHAPE with a constant `[-1, ...]`.
/// * seqnorm's `LayerNormalization` with the default epsilon: tf-keras takes its fused batch-norm
///   path, which TF converts to 23 ops (SHAPE, STRIDED_SLICE, REDUCE_PROD, three RESHAPEs, two
///   FILLs, PACK, two TRANSPOSEs around the moments); we emit the 10 ops TF produces for the
///   same layer on its non-fused path (epsilon < 1.001e-5, seqnorm's other LayerNormalization).
/// * Keras 3 files follow Keras 3's formulas: a LayerNormalization is `x·inv + (−mean·inv +
///   beta)` (NEG and ADD instead of SUB: one op more), and `hard_sigmoid` is
///   `relu6(x + 3) / 6` (ADD with a fused RELU6, then MUL) instead of tf-keras'
///   `clip(0.2·x + 0.5, 0, 1)` (MUL, ADD, MINIMUM, RELU).
fn expected_ops(model: &str, keras3: bool, tf_ops: &[String]) -> (Vec<String>, bool) {
    let mut ops = tf_ops.to_vec();
    let before = ops.clone();
    let mut drop = |names: &[&str]| {
        for name in names {
            let i = ops
                .iter()
                .position(|o| o == name)
                .unwrap_or_else(|| panic!("{model}: TF has no {name}"));
            ops.remove(i);
        }
    };
    match model {
        "seq_cnn" | "seq1d" => drop(&["SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "ADD"]),
        "res_merge" => drop(&["SHAPE", "STRIDED_SLICE", "PACK"]),
        "seqnorm" => drop(&[
            "SHAPE",
            "STRIDED_SLICE",
            "REDUCE_PROD",
            "RESHAPE",
            "RESHAPE",
            "RESHAPE",
            "FILL",
            "FILL",
            "PACK",
            "TRANSPOSE",
            "TRANSPOSE",
            "MUL",
            "ADD",
        ]),
        _ => {}
    }
    if keras3 {
        match model {
            "seqnorm" => {
                // Two LayerNormalizations: SUB → NEG + ADD each.
                drop(&["SUB", "SUB"]);
                ops.extend(["NEG", "NEG", "ADD", "ADD"].map(String::from));
            }
            "acts" => drop(&["MINIMUM", "RELU"]),
            _ => {}
        }
    }
    let exact = ops == before;
    (ops, exact)
}

#[test]
fn weights_file_plus_config_json_converts() {
    // A Keras 3 `.weights.h5` is the `model.weights.h5` member of a `.keras` archive.
    let path = fixtures().join("cnn_bn/cnn_bn.keras");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (member, out) in [
        ("config.json", "cnn_bn.json"),
        ("model.weights.h5", "cnn_bn.weights.h5"),
    ] {
        let mut f = zip.by_name(member).unwrap();
        let mut o = std::fs::File::create(dir.path().join(out)).unwrap();
        std::io::copy(&mut f, &mut o).unwrap();
    }
    let a = keras::load_weights_and_config(
        dir.path().join("cnn_bn.weights.h5"),
        dir.path().join("cnn_bn.json"),
        &Options::default(),
    )
    .unwrap();
    let b = convert(&path);
    assert_eq!(op_names(&a.model), op_names(&b.model));
    assert_eq!(a.model.subgraphs[0].tensors, b.model.subgraphs[0].tensors);
}

#[test]
fn legacy_weights_plus_config_json_converts() {
    // A legacy `.h5` used as a weights file, with its `model_config` passed as the JSON.
    let path = fixtures().join("dwsep_res/dwsep_res.h5");
    let bytes = std::fs::read(&path).unwrap();
    let file = hdf5_pure::File::from_bytes(bytes.clone()).unwrap();
    let attrs = file.root().attrs().unwrap();
    let config = attrs["model_config"].as_str().unwrap().to_string();
    let a = keras::convert_parts(&config, "c.json", bytes, "w.h5", &Options::default()).unwrap();
    let b = convert(&path);
    assert_eq!(a.model.subgraphs[0].tensors, b.model.subgraphs[0].tensors);
    assert!(a.report.format.contains("legacy"));
}

#[test]
fn fixed_batch_option_sets_static_shapes() {
    let conv = keras::convert_file(
        fixtures().join("mlp/mlp.h5"),
        &Options {
            batch_size: Some(4),
        },
    )
    .unwrap();
    let sg = &conv.model.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].shape, vec![4, 8, 8, 1]);
    assert_eq!(sg.tensors[sg.inputs[0]].shape_signature, None);
    assert_eq!(sg.tensors[sg.outputs[0]].shape, vec![4, 10]);
}

/// `config.json` and `model.weights.h5` of a `.keras` fixture.
fn keras_parts(path: &Path) -> (Value, Vec<u8>) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut read = |member: &str| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(member).unwrap(), &mut buf).unwrap();
        buf
    };
    let config = serde_json::from_slice(&read("config.json")).unwrap();
    (config, read("model.weights.h5"))
}

/// Converts cnn_bn.keras after `edit` changed the config of layer `layer`.
fn convert_edited(
    layer: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<keras::Conversion, ConvertError> {
    let (mut config, weights) = keras_parts(&fixtures().join("cnn_bn/cnn_bn.keras"));
    let entry = config["config"]["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["name"] == layer)
        .unwrap();
    edit(entry);
    keras::convert_parts(
        &config.to_string(),
        "edited.json",
        weights,
        "w.h5",
        &Options::default(),
    )
}

#[test]
fn h5_without_model_config_is_reported() {
    let mut b = hdf5_pure::FileBuilder::new();
    b.set_attr(
        "keras_version",
        hdf5_pure::AttrValue::String("2.21.0".into()),
    );
    b.create_dataset("x").with_f32_data(&[1.0, 2.0]);
    let err = keras::convert_bytes(b.finish().unwrap(), "weights_only.h5", &Options::default())
        .unwrap_err();
    assert!(
        matches!(err, ConvertError::MissingConfig { ref file } if file == "weights_only.h5"),
        "{err}"
    );
}

#[test]
fn unknown_and_custom_layer_classes_are_named() {
    let err = convert_edited("pool1", |l| l["class_name"] = "FancyPool2D".into()).unwrap_err();
    match &err {
        ConvertError::UnknownLayer {
            layer,
            class_name,
            custom,
            supported,
        } => {
            assert_eq!(
                (layer.as_str(), class_name.as_str(), *custom),
                ("pool1", "FancyPool2D", false)
            );
            assert!(supported.contains("MaxPooling2D"));
        }
        other => panic!("expected UnknownLayer, got {other}"),
    }
    let err = convert_edited("pool1", |l| {
        l["module"] = "my_pkg.layers".into();
        l["class_name"] = "FancyPool2D".into();
        l["registered_name"] = "my_pkg>FancyPool2D".into();
    })
    .unwrap_err();
    assert!(
        matches!(err, ConvertError::UnknownLayer { custom: true, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("custom") && text.contains("my_pkg>FancyPool2D"),
        "{text}"
    );
}

#[test]
fn unsupported_options_missing_weights_and_shape_mismatches() {
    let err = convert_edited("conv1", |l| l["config"]["padding"] = "causal".into()).unwrap_err();
    assert!(
        matches!(&err, ConvertError::Unsupported { layer, option, value, .. }
            if layer == "conv1" && option == "padding" && value == "causal"),
        "{err}"
    );
    // conv2 reads 16 channels: 3 groups do not divide them; 2 groups need a [3, 3, 8, 32] kernel.
    let err = convert_edited("conv2", |l| l["config"]["groups"] = 3.into()).unwrap_err();
    assert!(
        matches!(&err, ConvertError::BadShape { layer, message, .. } if layer == "conv2" && message.contains("groups")),
        "{err}"
    );
    let err = convert_edited("conv2", |l| l["config"]["groups"] = 2.into()).unwrap_err();
    assert!(
        matches!(&err, ConvertError::ShapeMismatch { weight, expected, .. } if weight == "kernel" && expected == &[3, 3, 8, 32]),
        "{err}"
    );
    let err = convert_edited("probs", |l| {
        l["config"]["activation"] = "tanh_shrink".into()
    })
    .unwrap_err();
    assert!(
        matches!(&err, ConvertError::Unsupported { option, .. } if option == "activation"),
        "{err}"
    );
    // conv1 has no bias in the file.
    let err = convert_edited("conv1", |l| l["config"]["use_bias"] = true.into()).unwrap_err();
    assert!(
        matches!(&err, ConvertError::MissingWeight { layer, weight, .. } if layer == "conv1" && weight == "bias"),
        "{err}"
    );
    let err = convert_edited("conv1", |l| l["config"]["filters"] = 8.into()).unwrap_err();
    assert!(
        matches!(&err, ConvertError::ShapeMismatch { layer, weight, expected, found }
            if layer == "conv1" && weight == "kernel" && expected == &[3, 3, 1, 8] && found == &[3, 3, 1, 16]),
        "{err}"
    );
    let err = convert_edited("conv1", |l| l["config"]["kernel_size"] = "big".into()).unwrap_err();
    assert!(
        matches!(&err, ConvertError::BadConfig { field, .. } if field == "kernel_size"),
        "{err}"
    );
}

#[test]
fn truncated_and_foreign_files_give_container_errors() {
    let fx = fixtures();
    let h5 = std::fs::read(fx.join("cnn_bn/cnn_bn.h5")).unwrap();
    for cut in [16, 2000, h5.len() / 2] {
        let err =
            keras::convert_bytes(h5[..cut].to_vec(), "cut.h5", &Options::default()).unwrap_err();
        assert!(
            matches!(err, ConvertError::Hdf5 { .. }),
            "cut at {cut}: {err}"
        );
    }
    let k = std::fs::read(fx.join("mlp/mlp.keras")).unwrap();
    for cut in [10, k.len() / 2, k.len() - 10] {
        let err =
            keras::convert_bytes(k[..cut].to_vec(), "cut.keras", &Options::default()).unwrap_err();
        assert!(
            matches!(err, ConvertError::Zip { .. }),
            "cut at {cut}: {err}"
        );
    }
    let err = keras::convert_bytes(b"hello".to_vec(), "x.bin", &Options::default()).unwrap_err();
    assert!(matches!(err, ConvertError::NotKeras { .. }), "{err}");
    let err = keras::load(fx.join("does_not_exist.h5")).unwrap_err();
    assert!(matches!(err, ConvertError::Io { .. }), "{err}");
}

#[test]
fn bad_json_and_broken_graphs_are_reported() {
    let (_, weights) = keras_parts(&fixtures().join("mlp/mlp.keras"));
    let err = keras::convert_parts(
        "{not json",
        "c.json",
        weights.clone(),
        "w.h5",
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ConvertError::Json { .. }), "{err}");
    let (mut config, _) = keras_parts(&fixtures().join("mlp/mlp.keras"));
    config["config"]["output_layers"] = serde_json::json!([["nowhere", 0, 0]]);
    let err = keras::convert_parts(
        &config.to_string(),
        "c.json",
        weights,
        "w.h5",
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ConvertError::Graph { .. }), "{err}");
}
