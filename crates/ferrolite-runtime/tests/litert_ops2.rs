//! The second batch of single-operator fixtures (`tests/fixtures/ops2`, built by
//! `tools/make_op_fixtures2.py`, outputs from LiteRT's own kernels) runs in ferrolite and agrees
//! with LiteRT: NMS V4/V5, the SSD `TFLite_Detection_PostProcess` custom op, scans, sorting,
//! layout and generator ops, and DEQUANTIZE's position-dependent rounding.
//!
//! Tolerance: float outputs within 1e-5 × max(1, |expected|) (transcendental functions may differ
//! in the last bit between libm builds), except DEQUANTIZE, which must be bit-identical; integer
//! and bool outputs exactly. For the SSD op's fast-NMS cases only the first `valid_rows`
//! detections are compared: LiteRT leaves later rows unwritten (ours are zero).

use ferrolite_npy::{read_npy, Array};
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ops2")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(ops_dir().join("manifest.json")).expect("ops2 manifest");
    serde_json::from_str(&text).unwrap()
}

/// Elements of output `k` to compare: all, or the first `valid_rows` rows of the SSD outputs.
fn compared_len(case: &Value, k: usize, shape: &[usize]) -> usize {
    let all: usize = shape.iter().product();
    match case["valid_rows"].as_u64() {
        Some(rows) if k < 3 => {
            let per_row: usize = shape[2..].iter().product();
            (rows as usize * per_row).min(all)
        }
        _ => all,
    }
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
        if interp.tensor_details(index).unwrap().shape != a.shape {
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
    let exact = name.starts_with("dequant_");
    let mut worst = 0.0f64;
    for (k, o) in case["outputs"].as_array().unwrap().iter().enumerate() {
        let index = o["index"].as_u64().unwrap() as usize;
        let expected = read_npy(dir.join(o["file"].as_str().unwrap())).unwrap();
        let shape = interp.tensor_shape(index).unwrap().to_vec();
        if shape != expected.shape {
            return Err(format!(
                "output {index} shape {shape:?}, LiteRT {:?}",
                expected.shape
            ));
        }
        let n = compared_len(case, k, &shape);
        let ours = interp.tensor_bytes(index).unwrap();
        if expected.dtype.is_float() && !exact {
            let got = Array::new(expected.dtype, shape.clone(), ours.to_vec())
                .map_err(|e| e.to_string())?
                .to_f64_vec();
            for (i, (g, e)) in got.iter().zip(expected.to_f64_vec()).take(n).enumerate() {
                let tol = 1e-5 * e.abs().max(1.0);
                let err = (g - e).abs();
                if !(g.is_nan() && e.is_nan() || err <= tol) {
                    return Err(format!("output {index}[{i}] = {g}, LiteRT {e}"));
                }
                if err.is_finite() {
                    worst = worst.max(err / e.abs().max(1.0));
                }
            }
        } else {
            let bytes = n * ours.len() / shape.iter().product::<usize>().max(1);
            let bad: Vec<usize> = (0..bytes)
                .filter(|&b| ours[b] != expected.data[b])
                .collect();
            if !bad.is_empty() {
                return Err(format!(
                    "output {index} ({}) differs from LiteRT in {} bytes (first at byte {})",
                    expected.dtype.name(),
                    bad.len(),
                    bad[0]
                ));
            }
        }
    }
    Ok(worst)
}

#[test]
fn every_ops2_fixture_matches_litert() {
    let manifest = manifest();
    let cases = manifest["cases"].as_object().unwrap();
    assert!(cases.len() >= 45, "found only {} cases", cases.len());
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

/// The DEQUANTIZE fixtures can tell LiteRT's two formulas apart: the generator counted how many
/// elements each candidate reproduces, and for the 8-bit cases neither formula alone matches
/// every element (so a bit-exact pass above means the position-dependent rule is implemented).
#[test]
fn dequantize_fixtures_distinguish_the_formulas() {
    let manifest = manifest();
    for name in [
        "dequant_int8_formula",
        "dequant_uint8_formula",
        "dequant_int8_short",
        "dequant_uint8_long",
    ] {
        let case = &manifest["cases"][name];
        let n = case["elements"].as_u64().unwrap();
        let f = &case["formulas_matching_litert"];
        let one = f["one_rounding"].as_u64().unwrap();
        let two = f["mul_then_add_zp_times_scale"].as_u64().unwrap();
        assert!(one < n || two < n, "{name}: {f}");
        if n >= 8 {
            assert!(
                one < n,
                "{name}: the one-rounding formula alone would pass: {f}"
            );
        }
    }
}
