//! Every quantized single-operator model in `tests/fixtures/quant_ops` (TensorFlow's full-integer
//! quantizer with awkward scales and zero points, plus legacy uint8 models built the TF1 way; see
//! `tools/make_quant_op_fixtures.py`) runs in ferrolite and gives *bit-identical* outputs to
//! LiteRT's built-in kernels, and so does every intermediate tensor the generator recorded (the
//! requantizing QUANTIZE ops TF inserts).
//!
//! Tolerance: none. TFLite's integer arithmetic is deterministic, so any difference is a bug (or a
//! deliberately different rounding, which would have to be listed here with its reason).
//!
//! Operators another change is still adding are listed in [`PENDING`]: such a case may fail with an
//! "unsupported operator" error (and only that); once it runs it must be bit-exact like the others.

use ferrolite_npy::read_npy;
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Operators whose quantized kernels are being added separately (BATCH_MATMUL, issue #5).
const PENDING: &[&str] = &["BATCH_MATMUL"];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/quant_ops")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("quant_ops manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// Why a case did not match.
enum Failure {
    /// The interpreter refused an operator it has no kernel for.
    Unsupported(String),
    /// Anything else (load error, wrong bytes, ...).
    Wrong(String),
}

fn idx(v: &Value) -> usize {
    v["index"].as_u64().expect("tensor index") as usize
}

/// Runs one case; `Ok(n)` = number of tensors compared bit-exactly.
fn run_case(case: &Value) -> Result<usize, Failure> {
    let d = dir();
    let wrong = Failure::Wrong;
    let file = d.join(case["file"].as_str().unwrap());
    let mut interp =
        Interpreter::from_file(&file).map_err(|e| Failure::Wrong(format!("load: {e}")))?;
    let intermediates = case["intermediates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !intermediates.is_empty() {
        interp.set_preserve_all_tensors(true);
    }
    interp.allocate_tensors().map_err(|e| {
        let msg = format!("allocate: {e}");
        if msg.contains("not supported") {
            Failure::Unsupported(msg)
        } else {
            Failure::Wrong(msg)
        }
    })?;
    for i in case["inputs"].as_array().unwrap() {
        let a = read_npy(d.join(i["file"].as_str().unwrap())).unwrap();
        interp
            .set_tensor_bytes(idx(i), &a.data)
            .map_err(|e| wrong(format!("set input {}: {e}", idx(i))))?;
    }
    interp.invoke().map_err(|e| wrong(format!("invoke: {e}")))?;
    let expected = case["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (idx(o), o["file"].as_str().unwrap(), "output"))
        .chain(
            intermediates
                .iter()
                .map(|t| (idx(t), t["file"].as_str().unwrap(), "intermediate")),
        )
        .collect::<Vec<_>>();
    for &(index, f, what) in &expected {
        let want = read_npy(d.join(f)).unwrap();
        let shape = interp
            .tensor_shape(index)
            .map_err(|e| wrong(e.to_string()))?;
        if shape != want.shape {
            return Err(wrong(format!(
                "{what} tensor {index}: shape {shape:?}, LiteRT {:?}",
                want.shape
            )));
        }
        let ours = interp
            .tensor_bytes(index)
            .map_err(|e| wrong(e.to_string()))?;
        if ours != &want.data[..] {
            let width = want.data.len() / want.shape.iter().product::<usize>().max(1);
            let diffs = ours
                .chunks(width.max(1))
                .zip(want.data.chunks(width.max(1)))
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .collect::<Vec<_>>();
            let (k, (a, b)) = diffs[0];
            return Err(wrong(format!(
                "{what} tensor {index} ({}): {} of {} elements differ, first at {k}: ours {a:?}, \
                 LiteRT {b:?}",
                want.dtype.name(),
                diffs.len(),
                want.shape.iter().product::<usize>()
            )));
        }
    }
    Ok(expected.len())
}

/// Runs every case matching `filter`; returns (cases run, tensors compared); panics listing
/// every disagreement.
fn run_all(filter: impl Fn(&str, &Value) -> bool) -> (usize, usize) {
    let m = manifest();
    let cases = m["cases"].as_object().unwrap();
    let (mut ran, mut tensors, mut pending) = (0, 0, Vec::new());
    let mut failures = Vec::new();
    for (name, case) in cases.iter().filter(|(n, c)| filter(n, c)) {
        let is_pending = case["for_ops"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| PENDING.contains(&o.as_str().unwrap()));
        match run_case(case) {
            Ok(n) => {
                ran += 1;
                tensors += n;
            }
            Err(Failure::Unsupported(e)) if is_pending => pending.push(format!("{name}: {e}")),
            Err(Failure::Unsupported(e) | Failure::Wrong(e)) => {
                failures.push(format!("{name} ({}): {e}", case["ops"]))
            }
        }
    }
    eprintln!(
        "{ran} cases bit-exact ({tensors} tensors), {} failed, {} pending:\n  {}",
        failures.len(),
        pending.len(),
        pending.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "{} quantized cases disagree with LiteRT:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (ran, tensors)
}

#[test]
fn every_quantized_single_op_fixture_is_bit_exact() {
    let m = manifest();
    let total = m["cases"].as_object().unwrap().len();
    assert!(
        total >= 100,
        "expected the quant_ops fixtures, found {total}"
    );
    // Every operator of issue #5 has at least one case.
    let covered: Vec<&str> = m["ops_covered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for op in [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "TRANSPOSE_CONV",
        "FULLY_CONNECTED",
        "BATCH_MATMUL",
        "ADD",
        "SUB",
        "MUL",
        "MAXIMUM",
        "MINIMUM",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "MEAN",
        "SUM",
        "CONCATENATION",
        "RESHAPE",
        "SQUEEZE",
        "TRANSPOSE",
        "PAD",
        "PADV2",
        "STRIDED_SLICE",
        "SLICE",
        "GATHER",
        "SPLIT",
        "PACK",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "SOFTMAX",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
        "LEAKY_RELU",
        "PRELU",
        "RELU",
        "RELU6",
        "ARG_MAX",
        "QUANTIZE",
        "DEQUANTIZE",
    ] {
        assert!(covered.contains(&op), "no fixture for {op}");
    }
    let (ran, _) = run_all(|_, _| true);
    assert!(ran + 2 >= total, "only {ran} of {total} cases ran");
}

/// Legacy full-integer uint8 models (uint8 activations *and* weights inside, uint8 I/O), the
/// pre-TF2 quantization scheme: each one must run and match bit for bit.
#[test]
fn legacy_uint8_models_are_bit_exact() {
    let (ran, _) = run_all(|_, c| c["build"] == "uint8");
    assert!(ran >= 15, "expected the legacy uint8 cases, ran {ran}");
}

/// int8 models with uint8 I/O (QUANTIZE uint8 -> int8 in front, int8 -> uint8 behind).
#[test]
fn uint8_io_models_are_bit_exact() {
    let (ran, tensors) = run_all(|_, c| c["build"] == "int8_u8io");
    assert!(ran >= 20, "expected the uint8-I/O cases, ran {ran}");
    assert!(tensors > ran, "intermediate tensors should be compared too");
}

/// The three digits models converted by TF with full-integer int8 inside and uint8 I/O
/// (`tests/fixtures/quant/<m>_int8_uint8_io.*`): the whole batch of 16 is bit-identical to LiteRT.
#[test]
fn full_integer_models_with_uint8_io_are_bit_exact() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/quant");
    for m in ["cnn_bn", "dwsep_res", "mlp"] {
        let mut interp = Interpreter::from_file(dir.join(format!("{m}_int8_uint8_io.tflite")))
            .expect("model loads");
        let input = read_npy(dir.join(format!("{m}_int8_uint8_io.in.npy"))).unwrap();
        let want = read_npy(dir.join(format!("{m}_int8_uint8_io.out.npy"))).unwrap();
        let (i, o) = (
            interp.input_details()[0].clone(),
            interp.output_details()[0].clone(),
        );
        assert_eq!(i.dtype.to_string().to_lowercase(), "uint8", "{m} input");
        assert_eq!(o.dtype.to_string().to_lowercase(), "uint8", "{m} output");
        interp.resize_input_tensor(i.index, &input.shape).unwrap();
        interp.allocate_tensors().unwrap();
        interp.set_tensor_bytes(i.index, &input.data).unwrap();
        interp.invoke().unwrap();
        assert_eq!(
            interp.tensor_shape(o.index).unwrap(),
            &want.shape[..],
            "{m}"
        );
        assert_eq!(interp.tensor_bytes(o.index).unwrap(), &want.data[..], "{m}");
    }
}
