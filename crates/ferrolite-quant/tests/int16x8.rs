//! int16x8 mode against TF 2.21's own files (`tests/fixtures/quant/<m>_int16x8.tflite`, made
//! with `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`, which runs TF's legacy
//! quantizer): same operators and versions, `min_runtime_version` left alone, identical int8
//! weights, int64 biases within one unit, int16 activation scales and recorded min/max within a
//! few ulp, the same option flags (`quantized_bias_type`, `pot_scale_int16`), and the same
//! accuracy.
//!
//! In LiteRT our files give the same final outputs as TF's (tools/quant_check.py: max
//! difference 0 on all three models); the int16 logits of `mlp` differ in 2 of 160 values by one
//! unit, from activation scales one ulp apart (our float kernels round the calibration sums
//! differently in the last bit). ferrolite's interpreter runs int16x8 models bit-exactly like
//! LiteRT: `int16x8_interpreter_is_bit_exact_with_litert` runs TF's own files and compares the
//! int16 logits and the SOFTMAX outputs value by value (per-op coverage is in
//! `crates/ferrolite-runtime/tests/ops_int16.rs`).

mod common;

use common::*;
use ferrolite_model::tflite::BuiltinOptions;
use ferrolite_model::{DType, Model};
use ferrolite_quant::{quantize, Io, Mode, QuantError, QuantReport, QuantizeOptions, Role};

fn int16x8(float: &Model, io: Io) -> Result<(Model, QuantReport), QuantError> {
    let mut opts = QuantizeOptions::new(Mode::Int16x8);
    opts.io = io;
    quantize(float, &opts, Some(&calibration()))
}

/// `(quantized_bias_type, pot_scale_int16)` flags of every operator, as comparable strings.
fn flags(m: &Model) -> Vec<String> {
    m.subgraphs[0]
        .operators
        .iter()
        .map(|o| match &o.options {
            Some(BuiltinOptions::Conv2DOptions(c)) => format!("{:?}", c.quantized_bias_type),
            Some(BuiltinOptions::FullyConnectedOptions(f)) => {
                format!("{:?}", f.quantized_bias_type)
            }
            Some(BuiltinOptions::AddOptions(a)) => format!("pot {}", a.pot_scale_int16),
            Some(BuiltinOptions::SubOptions(s)) => format!("pot {}", s.pot_scale_int16),
            _ => String::new(),
        })
        .collect()
}

/// The three fixture models and the ops_mix model: (name, float model).
fn models() -> Vec<(String, Model)> {
    let mut v: Vec<(String, Model)> = MODELS
        .iter()
        .map(|m| (m.to_string(), load(m, "float32")))
        .collect();
    v.push(("ops_mix".into(), load_quant("ops_mix_float32")));
    v
}

#[test]
fn int16x8_matches_tf_legacy_quantizer() {
    for (m, float) in models() {
        let tf = load_quant(&format!("{m}_int16x8"));
        let (ours, report) = int16x8(&float, Io::Float).expect("quantizes");
        assert_eq!(op_versions(&ours), op_versions(&tf), "{m}: operators");
        assert_eq!(min_runtime(&ours), min_runtime(&tf), "{m}: min_runtime");
        assert_eq!(flags(&ours), flags(&tf), "{m}: option flags");
        let worst = compare_with_tf(&m, &ours, &tf);
        assert!(worst <= 8, "{m}: activation scales {worst} ulp from TF's");
        let file = std::fs::metadata(fixture(&format!("quant/{m}_int16x8.tflite")))
            .unwrap()
            .len() as usize;
        let a = size(&ours);
        eprintln!("{m}: ours {a} B, TF {file} B, worst scale {worst} ulp");
        assert!(
            rel_diff(a, file) < 0.02 || a < file,
            "{m}: size {a} vs {file}"
        );
        assert_eq!(report.mode, "int16x8");
        assert!(report
            .tensors
            .iter()
            .any(|t| t.role == Role::Bias && t.dtype == "INT64"));
        let input = ours.subgraphs[0].inputs[0];
        assert_eq!(ours.subgraphs[0].tensors[input].dtype, DType::F32);
    }
}

/// Values of `a` and `b` that differ, and the largest difference.
fn differences(a: &ferrolite_npy::Array, b: &ferrolite_npy::Array) -> (usize, f64) {
    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
    let n = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    (
        n,
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max),
    )
}

#[test]
fn int16x8_runs_in_our_interpreter_within_one_unit() {
    let x = ferrolite_npy::read_npy(fixture("inputs_f32.npy")).unwrap();
    for (m, float) in models() {
        let (ours, _) = int16x8(&float, Io::Float).expect("quantizes");
        let logits = run(cut_before_softmax(ours), &x);
        let golden = quant_npy(&format!("{m}_int16x8.logits.npy"));
        let (n, d) = differences(&logits, &golden);
        eprintln!(
            "{m}: int16 logits vs LiteRT: {n} of {} differ, by at most {d}",
            golden.len()
        );
        assert!(
            d <= 1.0 && n * 4 < golden.len(),
            "{m}: {n} values differ, by up to {d}"
        );
    }
}

#[test]
fn int16x8_interpreter_is_bit_exact_with_litert() {
    let x = ferrolite_npy::read_npy(fixture("inputs_f32.npy")).unwrap();
    for (m, _) in models() {
        let tf = load_quant(&format!("{m}_int16x8"));
        let logits = run(cut_before_softmax(tf.clone()), &x);
        assert_eq!(
            differences(&logits, &quant_npy(&format!("{m}_int16x8.logits.npy"))),
            (0, 0.0),
            "{m}: logits"
        );
        let out = run(tf, &x);
        let golden = quant_npy(&format!("{m}_int16x8.out.npy"));
        assert_eq!(differences(&out, &golden), (0, 0.0), "{m}: outputs");
    }
}

#[test]
fn int16x8_accuracy_matches_tf() {
    // Accuracy from the int16 logits (argmax is the same as after SOFTMAX) on digits_test.
    let data = ferrolite_npy::read_npz(fixture("digits_test.npz")).unwrap();
    let x = &data.iter().find(|(k, _)| k == "x").unwrap().1;
    let y = data.iter().find(|(k, _)| k == "y").unwrap().1.to_i64_vec();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("quant/manifest.json")).unwrap())
            .unwrap();
    for m in MODELS {
        let (ours, _) = int16x8(&load(m, "float32"), Io::Float).expect("quantizes");
        let logits = run(cut_before_softmax(ours), x).to_f64_vec();
        let correct = logits
            .chunks(10)
            .zip(&y)
            .filter(|(row, &label)| argmax(row) as i64 == label)
            .count();
        let acc = correct as f64 / y.len() as f64;
        let tf = manifest["models"][m]["int16x8"]["litert_accuracy"]
            .as_f64()
            .unwrap();
        eprintln!("{m}: int16x8 accuracy ours {acc:.4}, TF {tf:.4}");
        assert!((acc - tf).abs() <= 0.005, "{m}: {acc} vs TF {tf}");
    }
}

#[test]
fn int16x8_io_types() {
    let float = load("mlp", "float32");
    let (q, report) = int16x8(&float, Io::Int16).expect("int16 I/O");
    let sg = &q.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].dtype, DType::I16);
    assert_eq!(sg.tensors[sg.outputs[0]].dtype, DType::I16);
    assert_eq!(report.ops_added, 0);
    for io in [Io::Int8, Io::Uint8] {
        let err = int16x8(&float, io).unwrap_err().to_string();
        assert!(err.contains("int16 activations"), "{err}");
    }
    let err = quantize(
        &float,
        &QuantizeOptions {
            io: Io::Int16,
            ..QuantizeOptions::new(Mode::Int8)
        },
        Some(&calibration()),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("int16 model inputs/outputs"), "{err}");
}
