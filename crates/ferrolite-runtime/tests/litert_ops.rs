//! Every single-operator model in `tests/fixtures/ops` (built by TensorFlow's converter, outputs
//! from LiteRT's own kernels) runs in ferrolite and agrees with LiteRT.
//!
//! Tolerance: float outputs within 1e-5 × max(1, |expected|) (issue #4: LiteRT's optimized kernels
//! sum in a different order than our scalar ones); integer and bool outputs exactly; int8 outputs
//! exactly (TFLite's integer arithmetic is deterministic).

use ferrolite_npy::{read_npy, Array};
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ops")
}

fn run_case(name: &str, case: &Value) -> Result<f64, String> {
    let dir = ops_dir();
    let file = dir.join(case["file"].as_str().unwrap());
    let mut interp = Interpreter::from_file(&file).map_err(|e| format!("load: {e}"))?;
    let inputs = case["inputs"].as_array().unwrap();
    let arrays: Vec<Array> = inputs
        .iter()
        .map(|i| read_npy(dir.join(i["file"].as_str().unwrap())).unwrap())
        .collect();
    for (i, a) in inputs.iter().zip(&arrays) {
        let index = i["index"].as_u64().unwrap() as usize;
        let declared = interp.tensor_details(index).unwrap().shape;
        if declared != a.shape {
            interp
                .resize_input_tensor(index, &a.shape)
                .map_err(|e| format!("resize: {e}"))?;
        }
    }
    interp
        .allocate_tensors()
        .map_err(|e| format!("allocate: {e}"))?;
    for (i, a) in inputs.iter().zip(&arrays) {
        let index = i["index"].as_u64().unwrap() as usize;
        interp
            .set_tensor_bytes(index, &a.data)
            .map_err(|e| format!("set input {index}: {e}"))?;
    }
    interp.invoke().map_err(|e| format!("invoke: {e}"))?;
    let mut worst = 0.0f64;
    for o in case["outputs"].as_array().unwrap() {
        let index = o["index"].as_u64().unwrap() as usize;
        let expected = read_npy(dir.join(o["file"].as_str().unwrap())).unwrap();
        let shape = interp.tensor_shape(index).unwrap().to_vec();
        if shape != expected.shape {
            return Err(format!(
                "{name}: output {index} shape {shape:?}, LiteRT {:?}",
                expected.shape
            ));
        }
        let ours = interp.tensor_bytes(index).unwrap();
        if expected.dtype.is_float() {
            let got = Array::new(expected.dtype, shape.clone(), ours.to_vec())
                .map_err(|e| e.to_string())?
                .to_f64_vec();
            for (k, (g, e)) in got.iter().zip(expected.to_f64_vec()).enumerate() {
                let tol = 1e-5 * e.abs().max(1.0);
                let same_nan = g.is_nan() && e.is_nan();
                let err = (g - e).abs();
                if !(same_nan || err <= tol || g == &e) {
                    return Err(format!(
                        "output {index}[{k}] = {g}, LiteRT {e} (tolerance {tol:e})"
                    ));
                }
                if !same_nan && err.is_finite() {
                    worst = worst.max(err / e.abs().max(1.0));
                }
            }
        } else if ours != &expected.data[..] {
            let bad = ours
                .iter()
                .zip(&expected.data)
                .filter(|(a, b)| a != b)
                .count();
            return Err(format!(
                "output {index} ({}) differs from LiteRT in {bad} bytes",
                expected.dtype.name()
            ));
        }
    }
    Ok(worst)
}

#[test]
fn every_single_op_fixture_matches_litert() {
    let text = std::fs::read_to_string(ops_dir().join("manifest.json")).expect("ops manifest");
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let cases = manifest["cases"].as_object().unwrap();
    assert!(
        cases.len() >= 150,
        "expected the op fixtures, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut worst = (0.0f64, String::new());
    for (name, case) in cases {
        match run_case(name, case) {
            Ok(err) if err > worst.0 => worst = (err, name.clone()),
            Ok(_) => {}
            Err(e) => failures.push(format!("{name} ({}): {e}", case["ops"])),
        }
    }
    eprintln!(
        "{} cases, {} failed; worst relative float error {:e} ({})",
        cases.len(),
        failures.len(),
        worst.0,
        worst.1
    );
    assert!(
        failures.is_empty(),
        "{} cases disagree with LiteRT:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
