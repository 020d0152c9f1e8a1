//! Helpers shared by the fixture comparison tests: fixture paths, operator lists, ulp distance.

#![allow(dead_code)]

use ferrolite_model::{Model, Tensor};
use std::path::PathBuf;

/// The three reference models of `tests/fixtures`.
pub const MODELS: [&str; 3] = ["cnn_bn", "dwsep_res", "mlp"];

/// Path of a file under the repository's `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

/// Reads `tests/fixtures/<model>/<model>_<variant>.tflite`.
pub fn load(model: &str, variant: &str) -> Model {
    let path = fixture(&format!("{model}/{model}_{variant}.tflite"));
    ferrolite_model::read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Operator names in execution order.
pub fn op_names(m: &Model) -> Vec<String> {
    m.subgraphs[0]
        .operators
        .iter()
        .map(|o| o.kind.name())
        .collect()
}

/// `(name, version)` of each operator in execution order.
pub fn op_versions(m: &Model) -> Vec<(String, i32)> {
    m.subgraphs[0]
        .operators
        .iter()
        .map(|o| (o.kind.name(), o.version))
        .collect()
}

/// The main-subgraph tensor called `name`.
pub fn by_name<'a>(m: &'a Model, name: &str) -> Option<&'a Tensor> {
    m.subgraphs[0].tensors.iter().find(|t| t.name == name)
}

/// Distance in units in the last place between two finite floats of the same sign.
pub fn ulps(a: f32, b: f32) -> u32 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
}

/// Serialized size of a model in bytes.
pub fn size(m: &Model) -> usize {
    ferrolite_model::write_bytes(m)
        .expect("model serializes")
        .len()
}

/// The `min_runtime_version` metadata as a string.
pub fn min_runtime(m: &Model) -> String {
    m.metadata
        .iter()
        .find(|e| e.name == "min_runtime_version")
        .map(|e| {
            String::from_utf8_lossy(&e.data)
                .trim_end_matches('\0')
                .to_string()
        })
        .unwrap_or_default()
}

/// Size on disk of `tests/fixtures/<model>/<model>_<variant>.tflite`.
pub fn file_size(model: &str, variant: &str) -> usize {
    let path = fixture(&format!("{model}/{model}_{variant}.tflite"));
    std::fs::metadata(&path).expect("fixture exists").len() as usize
}

/// Relative size difference `|a - b| / b`.
pub fn rel_diff(a: usize, b: usize) -> f64 {
    (a as f64 - b as f64).abs() / b as f64
}
