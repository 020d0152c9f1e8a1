//! Shared helpers of the integration tests: fixture paths and running a model in ferrolite's
//! interpreter.

#![allow(dead_code)]

use ferrolite_model::Model;
use ferrolite_runtime::Interpreter;
use std::path::PathBuf;

/// `tests/fixtures/<rel>` at the repository root.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

/// The float32 `.tflite` of fixture model `m`.
pub fn float_model(m: &str) -> Model {
    ferrolite_model::read_file(fixture(&format!("{m}/{m}_float32.tflite"))).unwrap()
}

/// Runs `model` on `n` samples `x` (batch resized) and returns the float output.
pub fn run(model: &Model, x: &[f32], n: usize) -> Vec<f32> {
    let mut it = Interpreter::from_model(model.clone()).unwrap();
    it.set_num_threads(1);
    let input = model.subgraphs[0].inputs[0];
    let mut shape: Vec<usize> = model.subgraphs[0].tensors[input]
        .shape
        .iter()
        .map(|&d| d as usize)
        .collect();
    shape[0] = n;
    it.resize_input_tensor(input, &shape).unwrap();
    it.allocate_tensors().unwrap();
    it.set_tensor(input, x).unwrap();
    it.invoke().unwrap();
    let out = model.subgraphs[0].outputs[0];
    it.tensor::<f32>(out).unwrap().to_vec()
}

/// Top-1 accuracy of `model` on `x` / `y` in the interpreter.
pub fn accuracy(model: &Model, x: &[f32], y: &[usize]) -> f64 {
    let out = run(model, x, y.len());
    let classes = out.len() / y.len();
    let correct = out
        .chunks(classes)
        .zip(y)
        .filter(|(row, &label)| ferrolite_train::data::argmax(row) == label)
        .count();
    correct as f64 / y.len() as f64
}

/// tfmot's recorded mean test accuracy for run `key` (`cnn_bn/constant80`) in
/// `tests/fixtures/train/tfmot.json` (written by tools/make_train_fixtures.py).
pub fn tfmot_accuracy(key: &str) -> f64 {
    let text = std::fs::read_to_string(fixture("train/tfmot.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["runs"][key]["test_accuracy"]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} not recorded in tfmot.json"))
}

/// tfmot's per-layer kernel sparsity (Keras layer name -> fraction of zeros) for run `key`
/// (`mlp/constant80`) in `tests/fixtures/train/tfmot.json`.
pub fn tfmot_sparsity(key: &str) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(fixture("train/tfmot.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["runs"][key]["sparsity"]
        .as_object()
        .unwrap_or_else(|| panic!("{key} has no sparsity in tfmot.json"))
        .iter()
        .map(|(k, s)| (k.clone(), s.as_f64().unwrap()))
        .collect()
}
