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

/// Reads `tests/fixtures/quant/<name>.tflite` (TF's own quantized files, tools/make_quant_fixtures.py).
pub fn load_quant(name: &str) -> Model {
    let path = fixture(&format!("quant/{name}.tflite"));
    ferrolite_model::read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads `tests/fixtures/quant/<name>`.
pub fn quant_npy(name: &str) -> ferrolite_npy::Array {
    ferrolite_npy::read_npy(fixture(&format!("quant/{name}"))).expect("fixture array")
}

/// TF's representative dataset (`tests/fixtures/calibration_x.npy`).
pub fn calibration() -> ferrolite_quant::CalibrationData {
    let x = ferrolite_npy::read_npy(fixture("calibration_x.npy")).expect("calibration_x.npy");
    ferrolite_quant::CalibrationData::from_array(&x, "calibration_x.npy").expect("valid data")
}

/// Integer values of a constant (int32 or int64 bias, int8/int16 data).
pub fn ints(t: &Tensor) -> Vec<i64> {
    let d = t.data.as_ref().expect("constant");
    match t.dtype {
        ferrolite_model::DType::I32 => d
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        ferrolite_model::DType::I64 => d
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        ferrolite_model::DType::I16 => d
            .chunks_exact(2)
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => d.iter().map(|&b| i64::from(b as i8)).collect(),
    }
}

/// Largest ulp distance between two equally long float lists (lengths must match).
fn worst_ulps(a: &[f32], b: &[f32], what: &str) -> u32 {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| ulps(*x, *y))
        .max()
        .unwrap_or(0)
}

/// Compares every tensor of TF's quantized model with ours (by name): dtype, shape, zero points,
/// axis, identical weights, biases within 1 unit, min/max and activation scales within a few
/// ulp (our float kernels round differently from TF's calibrator in the last bits). Returns the
/// worst activation scale distance in ulp.
pub fn compare_with_tf(m: &str, ours: &Model, tf: &Model) -> u32 {
    let mut worst = 0;
    let mut biases = Vec::new();
    for t in &tf.subgraphs[0].tensors {
        let o = by_name(ours, &t.name).unwrap_or_else(|| panic!("{m}: no tensor {}", t.name));
        assert_eq!(o.dtype, t.dtype, "{m}: dtype of {}", t.name);
        assert_eq!(o.shape, t.shape, "{m}: shape of {}", t.name);
        let empty =
            |q: &Option<ferrolite_model::Quantization>| q.as_ref().is_none_or(|q| q.is_empty());
        let (Some(qt), Some(qo)) = (&t.quantization, &o.quantization) else {
            assert!(
                empty(&t.quantization) && empty(&o.quantization),
                "{m}: {}",
                t.name
            );
            continue;
        };
        assert_eq!(
            qo.zero_point, qt.zero_point,
            "{m}: zero points of {}",
            t.name
        );
        assert_eq!(
            qo.quantized_dimension, qt.quantized_dimension,
            "{m}: {}",
            t.name
        );
        let d = worst_ulps(&qo.scale, &qt.scale, &t.name);
        let mm = worst_ulps(&qo.min, &qt.min, &t.name).max(worst_ulps(&qo.max, &qt.max, &t.name));
        assert!(mm <= 8, "{m}: min/max of {} {mm} ulp from TF's", t.name);
        if t.data.is_none() {
            worst = worst.max(d);
        } else if matches!(
            t.dtype,
            ferrolite_model::DType::I32 | ferrolite_model::DType::I64
        ) {
            biases.push((t.name.clone(), d, ints(o), ints(t)));
        } else {
            assert!(d == 0, "{m}: {} scales differ by {d} ulp", t.name);
            assert_eq!(o.data, t.data, "{m}: {} values differ from TF's", t.name);
        }
    }
    for (name, d, a, b) in biases {
        // Bias scales inherit the input activation's scale, so they follow its distance.
        assert!(
            d <= 2 * worst + 1,
            "{m}: bias {name} scales {d} ulp from TF's"
        );
        let off = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .max()
            .unwrap_or(0);
        if d == 0 {
            assert_eq!(a, b, "{m}: bias {name} values differ from TF's");
        } else {
            assert!(off <= 1, "{m}: bias {name} values {off} away from TF's");
        }
    }
    worst
}

/// Runs a single-input model once on `input` in ferrolite's interpreter; returns output 0.
pub fn run(model: Model, input: &ferrolite_npy::Array) -> ferrolite_npy::Array {
    let mut interp = ferrolite_runtime::Interpreter::from_model(model).expect("loads");
    interp.set_num_threads(1);
    let i = interp.input_details()[0].index;
    interp.resize_input_tensor(i, &input.shape).expect("resize");
    interp.allocate_tensors().expect("allocates");
    interp.set_tensor_bytes(i, &input.data).expect("input");
    interp.invoke().expect("runs");
    let o = interp.output_details()[0].clone();
    let bytes = interp.tensor_bytes(o.index).expect("output").to_vec();
    let dtype = ferrolite_npy::NpyDType::from_name(o.dtype.numpy_name()).expect("dtype");
    ferrolite_npy::Array::new(dtype, o.shape.clone(), bytes).expect("array")
}

/// The model cut before its SOFTMAX: the softmax input becomes the only output (for running
/// int16x8 models in an interpreter without an int16 SOFTMAX).
pub fn cut_before_softmax(mut m: Model) -> Model {
    let sg = &mut m.subgraphs[0];
    let at = sg
        .operators
        .iter()
        .position(|o| o.kind.name() == "SOFTMAX")
        .expect("a SOFTMAX");
    let logits = sg.operators[at].inputs[0].expect("softmax input");
    sg.operators.truncate(at);
    sg.outputs = vec![logits];
    m.signatures.clear();
    m
}

/// Largest absolute difference between two arrays of the same shape.
pub fn max_diff(a: &ferrolite_npy::Array, b: &ferrolite_npy::Array) -> f64 {
    assert_eq!(a.shape, b.shape);
    a.to_f64_vec()
        .iter()
        .zip(b.to_f64_vec())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Index of the first largest value (numpy's `argmax`; quantized outputs tie often).
pub fn argmax(row: &[f64]) -> usize {
    (1..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}
