//! The layers added for issue #6's full coverage, beyond the fixture comparison of
//! `tests/keras.rs`: a fixed batch turns TRANSPOSE_CONV's run-time output shape into a
//! constant, nested models resolve their weights in every format, and unsupported options of
//! the new layers (and custom layers inside nested models) give errors that name the layer, the
//! option and what is supported.

use ferrolite_convert::keras::{self, Options};
use ferrolite_convert::ConvertError;
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::OpKind;
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/keras")
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

/// The entry of layer `name`, searched through nested models too.
fn find_layer<'a>(v: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    let layers = v.get_mut("config")?.get_mut("layers")?.as_array_mut()?;
    for l in layers {
        if l["name"] == name || l["config"]["name"] == name {
            return Some(l);
        }
        if let Some(found) = find_layer(l, name) {
            return Some(found);
        }
    }
    None
}

/// Converts fixture `<model>.keras` after `edit` changed the entry of layer `layer`.
fn convert_edited(
    model: &str,
    layer: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<keras::Conversion, ConvertError> {
    let (mut config, weights) = keras_parts(&dir().join(format!("{model}.keras")));
    edit(find_layer(&mut config, layer).unwrap_or_else(|| panic!("no layer {layer}")));
    keras::convert_parts(
        &config.to_string(),
        "edited.json",
        weights,
        "w.h5",
        &Options::default(),
    )
}

fn expect_unsupported(
    result: Result<keras::Conversion, ConvertError>,
    want_layer: &str,
    want_option: &str,
) {
    match result {
        Err(ConvertError::Unsupported {
            layer,
            option,
            supported,
            ..
        }) => {
            assert_eq!((layer.as_str(), option.as_str()), (want_layer, want_option));
            assert!(!supported.is_empty());
        }
        Err(other) => panic!("expected Unsupported {want_option}, got {other}"),
        Ok(_) => panic!("expected Unsupported {want_option}, the conversion succeeded"),
    }
}

#[test]
fn a_fixed_batch_gives_transpose_conv_a_constant_output_shape() {
    let path = dir().join("decoder.h5");
    let conv = keras::convert_file(
        &path,
        &Options {
            batch_size: Some(16),
        },
    )
    .unwrap();
    let sg = &conv.model.subgraphs[0];
    let kinds: Vec<&OpKind> = sg.operators.iter().map(|o| &o.kind).collect();
    assert!(!kinds.contains(&&OpKind::Builtin(B::Shape)));
    assert!(!kinds.contains(&&OpKind::Builtin(B::Pack)));
    for op in &sg.operators {
        if op.kind == OpKind::Builtin(B::TransposeConv) {
            let shape = &sg.tensors[op.inputs[0].unwrap()];
            assert!(shape.data.is_some(), "output_shape is a constant");
            assert_eq!(shape.data.as_ref().unwrap()[..4], 16i32.to_le_bytes());
        }
    }
    let x = ferrolite_npy::read_npy(dir().join("../inputs_f32.npy")).unwrap();
    let golden = ferrolite_npy::read_npy(dir().join("decoder.h5.out0.npy"))
        .unwrap()
        .to_f32_vec();
    let (input, output) = (sg.inputs[0], sg.outputs[0]);
    let mut it = Interpreter::from_model(conv.model).unwrap();
    it.allocate_tensors().unwrap();
    it.set_tensor(input, &x.to_f32_vec()).unwrap();
    it.invoke().unwrap();
    let out = it.tensor::<f32>(output).unwrap();
    let d = out
        .iter()
        .zip(&golden)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d <= 1e-5, "max abs diff {d:e}");
}

#[test]
fn nested_models_are_inlined_with_shared_weights() {
    for file in ["nested.h5", "nested.keras", "nested.k3.h5"] {
        let conv = keras::convert_file(dir().join(file), &Options::default()).unwrap();
        let sg = &conv.model.subgraphs[0];
        // inner_fn is called twice: its two FULLY_CONNECTED weights are shared constants.
        let fc_weights: Vec<usize> = sg
            .operators
            .iter()
            .filter(|o| o.kind == OpKind::Builtin(B::FullyConnected))
            .map(|o| o.inputs[1].unwrap())
            .collect();
        assert_eq!(fc_weights.len(), 6, "{file}");
        let mut distinct = fc_weights.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            4,
            "{file}: inner_fn's two kernels are shared"
        );
        assert!(sg
            .tensors
            .iter()
            .any(|t| t.name.contains("inner_fn/deep/dd")));
    }
}

#[test]
fn custom_layers_inside_nested_models_are_named_by_path() {
    let err = convert_edited("nested", "r", |l| {
        l["module"] = "my_pkg.layers".into();
        l["class_name"] = "MyReLU".into();
        l["registered_name"] = "my_pkg>MyReLU".into();
    })
    .unwrap_err();
    match &err {
        ConvertError::UnknownLayer { layer, custom, .. } => {
            assert_eq!(layer, "inner_seq/r");
            assert!(custom);
        }
        other => panic!("expected UnknownLayer, got {other}"),
    }
}

#[test]
fn unsupported_options_of_the_new_layers_are_named() {
    expect_unsupported(
        convert_edited("decoder", "resize_nn", |l| {
            l["config"]["interpolation"] = "bicubic".into()
        }),
        "resize_nn",
        "interpolation",
    );
    expect_unsupported(
        convert_edited("decoder", "up_bl", |l| {
            l["config"]["interpolation"] = "lanczos3".into()
        }),
        "up_bl",
        "interpolation",
    );
    expect_unsupported(
        convert_edited("decoder", "resize_crop", |l| {
            l["config"]["pad_to_aspect_ratio"] = true.into()
        }),
        "resize_crop",
        "pad_to_aspect_ratio",
    );
    expect_unsupported(
        convert_edited("decoder", "deconv", |l| {
            l["config"]["dilation_rate"] = serde_json::json!([2, 2])
        }),
        "deconv",
        "dilation_rate",
    );
    expect_unsupported(
        convert_edited("decoder", "enc", |l| {
            l["config"]["dtype"]["config"]["name"] = "mixed_float16".into()
        }),
        "enc",
        "dtype",
    );
    expect_unsupported(
        convert_edited("seqnorm", "ln", |l| {
            l["config"]["rms_scaling"] = true.into()
        }),
        "ln",
        "rms_scaling",
    );
    expect_unsupported(
        convert_edited("seqnorm", "softmax_ax1", |l| {
            l["config"]["axis"] = serde_json::json!([1, 2])
        }),
        "softmax_ax1",
        "axis",
    );
    expect_unsupported(
        convert_edited("seq1d", "causal", |l| {
            l["config"]["padding"] = "full".into()
        }),
        "causal",
        "padding",
    );
    expect_unsupported(
        convert_edited("seqnorm", "fc_selu", |l| {
            l["config"]["activation"] = "celu".into()
        }),
        "fc_selu",
        "activation",
    );
}

#[test]
fn bad_configs_of_the_new_layers_are_reported() {
    let err = convert_edited("seqnorm", "permute", |l| {
        l["config"]["dims"] = serde_json::json!([1, 1])
    })
    .unwrap_err();
    assert!(
        matches!(&err, ConvertError::BadConfig { layer, field, .. } if layer == "permute" && field == "dims"),
        "{err}"
    );
    let err = convert_edited("decoder", "crop", |l| {
        l["config"]["cropping"] = serde_json::json!([[9, 9], [0, 0]])
    })
    .unwrap_err();
    assert!(
        matches!(&err, ConvertError::BadShape { layer, .. } if layer == "crop"),
        "{err}"
    );
    let err =
        convert_edited("seqnorm", "embed", |l| l["config"]["output_dim"] = 4.into()).unwrap_err();
    assert!(
        matches!(&err, ConvertError::ShapeMismatch { layer, weight, .. } if layer == "embed" && weight == "embeddings"),
        "{err}"
    );
}

#[test]
fn the_keras_version_picks_the_hard_sigmoid_formula() {
    let count = |file: &str, op: B| {
        let conv = keras::convert_file(dir().join(file), &Options::default()).unwrap();
        let n = conv.model.subgraphs[0]
            .operators
            .iter()
            .filter(|o| o.kind == OpKind::Builtin(op))
            .count();
        (conv.report.keras_version.unwrap_or_default(), n)
    };
    // tf-keras: clip(0.2 x + 0.5, 0, 1) has a MINIMUM; Keras 3: relu6(x + 3) / 6 has none
    // (acts' other MINIMUMs come from its two clipped ReLUs).
    assert_eq!(count("acts.h5", B::Minimum), ("2.21.0".into(), 3));
    assert_eq!(count("acts.keras", B::Minimum), ("3.15.1".into(), 2));
}

#[test]
fn an_approximate_gelu_object_selects_the_tanh_form() {
    let gelu_flags = |conv: &keras::Conversion| -> Vec<bool> {
        conv.model.subgraphs[0]
            .operators
            .iter()
            .filter_map(|o| match &o.options {
                Some(ferrolite_model::tflite::BuiltinOptions::GeluOptions(g)) => {
                    Some(g.approximate)
                }
                _ => None,
            })
            .collect()
    };
    let plain = keras::convert_file(dir().join("k3_acts.keras"), &Options::default()).unwrap();
    assert_eq!(gelu_flags(&plain), vec![false]);
    let edited = convert_edited("k3_acts", "fc_gelu", |l| {
        l["config"]["activation"] =
            serde_json::json!({"class_name": "function", "config": {"name": "gelu", "approximate": true}})
    })
    .unwrap();
    assert_eq!(gelu_flags(&edited), vec![true]);
}
