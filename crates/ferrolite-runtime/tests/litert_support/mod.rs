//! Shared driver of the LiteRT fixture suites (`litert_ops`, `litert_ops2`, `ops_int16`): each
//! fixture directory holds a `manifest.json` whose `cases` name a `.tflite` model, its `.npy`
//! inputs (with tensor indices) and the `.npy` outputs LiteRT's own kernels produced. This module
//! runs a case in ferrolite and compares outputs; each suite states its own tolerance.

#![allow(dead_code)] // each suite uses a subset

use ferrolite_npy::{read_npy, Array};
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `tests/fixtures/<name>` of the workspace.
pub fn fixtures_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

/// The parsed `manifest.json` of a fixture directory.
pub fn manifest(dir: &Path) -> Value {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Loads a case's model, resizes inputs whose fed array has another shape than declared,
/// allocates, feeds the inputs and invokes.
pub fn invoke_case(dir: &Path, case: &Value) -> Result<Interpreter, String> {
    let file = dir.join(case["file"].as_str().unwrap());
    let mut interp = Interpreter::from_file(&file).map_err(|e| format!("load: {e}"))?;
    let inputs = case["inputs"].as_array().unwrap();
    let arrays: Vec<(usize, Array)> = inputs
        .iter()
        .map(|i| {
            let index = i["index"].as_u64().unwrap() as usize;
            (
                index,
                read_npy(dir.join(i["file"].as_str().unwrap())).unwrap(),
            )
        })
        .collect();
    for (index, a) in &arrays {
        if interp.tensor_details(*index).unwrap().shape != a.shape {
            interp
                .resize_input_tensor(*index, &a.shape)
                .map_err(|e| format!("resize: {e}"))?;
        }
    }
    interp
        .allocate_tensors()
        .map_err(|e| format!("allocate: {e}"))?;
    for (index, a) in &arrays {
        interp
            .set_tensor_bytes(*index, &a.data)
            .map_err(|e| format!("set input {index}: {e}"))?;
    }
    interp.invoke().map_err(|e| format!("invoke: {e}"))?;
    Ok(interp)
}

/// Output entry `o` of a case: its tensor index, LiteRT's array and our raw bytes (after checking
/// that the shapes agree).
pub fn output<'i>(
    interp: &'i Interpreter,
    dir: &Path,
    o: &Value,
) -> Result<(usize, Array, &'i [u8]), String> {
    let index = o["index"].as_u64().unwrap() as usize;
    let expected = read_npy(dir.join(o["file"].as_str().unwrap())).unwrap();
    let shape = interp.tensor_shape(index).unwrap();
    if shape != expected.shape {
        return Err(format!(
            "output {index} shape {shape:?}, LiteRT {:?}",
            expected.shape
        ));
    }
    Ok((index, expected, interp.tensor_bytes(index).unwrap()))
}

/// Compares the first `n` elements of output `index`: floats (unless `exact`) within
/// `1e-5 · max(1, |expected|)` (equal values and NaN against NaN pass), everything else byte for
/// byte. Returns the largest relative float error.
pub fn compare(
    index: usize,
    expected: &Array,
    ours: &[u8],
    n: usize,
    exact: bool,
) -> Result<f64, String> {
    let mut worst = 0.0f64;
    if expected.dtype.is_float() && !exact {
        let got = Array::new(expected.dtype, expected.shape.clone(), ours.to_vec())
            .map_err(|e| e.to_string())?
            .to_f64_vec();
        for (k, (g, e)) in got.iter().zip(expected.to_f64_vec()).take(n).enumerate() {
            let tol = 1e-5 * e.abs().max(1.0);
            let same_nan = g.is_nan() && e.is_nan();
            let err = (g - e).abs();
            if !(same_nan || err <= tol || *g == e) {
                return Err(format!(
                    "output {index}[{k}] = {g}, LiteRT {e} (tolerance {tol:e})"
                ));
            }
            if !same_nan && err.is_finite() {
                worst = worst.max(err / e.abs().max(1.0));
            }
        }
    } else {
        let bytes = n * ours.len() / expected.shape.iter().product::<usize>().max(1);
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
    Ok(worst)
}

/// Runs every case of a manifest (at least `min_cases` of them) through `run`, which returns the
/// case's largest relative float error; reports the worst one and fails listing every case that
/// errs.
pub fn check_every_case(
    manifest: &Value,
    min_cases: usize,
    run: impl Fn(&str, &Value) -> Result<f64, String>,
) {
    let cases = manifest["cases"].as_object().unwrap();
    assert!(
        cases.len() >= min_cases,
        "expected at least {min_cases} fixture cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut worst = (0.0f64, String::new());
    for (name, case) in cases {
        match run(name, case) {
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
