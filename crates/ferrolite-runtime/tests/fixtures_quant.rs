//! End-to-end check of the quantized fixture models against LiteRT (issue #5).
//!
//! For every model in `tests/fixtures/manifest.json` (repo root) three variants run through the
//! [`Interpreter`] with their dynamic batch resized to 16, as the fixtures were produced
//! (`run_mode: resize`), and are compared with LiteRT's built-in-kernel output (`reference_out`):
//!
//! * `int8` (int8 in and out, input `<m>/<m>_int8.in.npy`) and `int8_float_io` (QUANTIZE …
//!   DEQUANTIZE around the same int8 graph, input `inputs_f32.npy`) must be **bit-exact**;
//! * `dynamic` (float activations, int8 weights quantized on the fly, input `inputs_f32.npy`) must
//!   agree within `1e-4` absolute (the measured maximum is printed).

use ferrolite_npy::{read_npy, Array};
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The repo's `tests/fixtures` directory.
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Reads a `.npy` file under the fixtures directory.
fn npy(rel: &str) -> Array {
    let path = fixtures_dir().join(rel);
    read_npy(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The parsed manifest.
fn manifest() -> Value {
    let path = fixtures_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest.json parses")
}

/// Tensor index of the first entry of a variant's `inputs` / `outputs` list.
fn first_index(desc: &Value, list: &str) -> usize {
    desc[list][0]["index"]
        .as_u64()
        .unwrap_or_else(|| panic!("{list}[0].index missing")) as usize
}

/// Runs one variant on `input` and returns its first output as an array of LiteRT's dtype.
fn run(name: &str, desc: &Value, input: &Array, out_dtype: &Array) -> Array {
    assert_eq!(desc["run_mode"], "resize", "{name}: only run_mode resize");
    let file = desc["file"].as_str().expect("file");
    let mut interp = Interpreter::from_file(fixtures_dir().join(file))
        .unwrap_or_else(|e| panic!("{name}: load: {e}"));
    let in_index = first_index(desc, "inputs");
    interp
        .resize_input_tensor(in_index, &input.shape)
        .unwrap_or_else(|e| panic!("{name}: resize: {e}"));
    interp
        .allocate_tensors()
        .unwrap_or_else(|e| panic!("{name}: allocate: {e}"));
    interp
        .set_tensor_bytes(in_index, &input.data)
        .unwrap_or_else(|e| panic!("{name}: set input: {e}"));
    interp
        .invoke()
        .unwrap_or_else(|e| panic!("{name}: invoke: {e}"));
    let out_index = first_index(desc, "outputs");
    let shape = interp.tensor_shape(out_index).unwrap().to_vec();
    let bytes = interp.tensor_bytes(out_index).unwrap().to_vec();
    Array::new(out_dtype.dtype, shape, bytes).unwrap_or_else(|e| panic!("{name}: output: {e}"))
}

/// `(model, description)` of `variant` for every model in the manifest, sorted by model.
fn cases<'m>(manifest: &'m Value, variant: &str) -> Vec<(String, &'m Value)> {
    let models = manifest["models"].as_object().expect("models object");
    let mut out: Vec<(String, &Value)> = models
        .iter()
        .filter_map(|(m, d)| d["variants"].get(variant).map(|v| (m.clone(), v)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The input a variant runs on: the int8 batch for `int8`, the shared float batch otherwise.
fn input_for(model: &str, variant: &str) -> Array {
    if variant == "int8" {
        npy(&format!("{model}/{model}_int8.in.npy"))
    } else {
        npy("inputs_f32.npy")
    }
}

#[test]
fn int8_variants_are_bit_exact_with_litert() {
    let manifest = manifest();
    let mut failures = Vec::new();
    let mut checked = 0;
    for variant in ["int8", "int8_float_io"] {
        for (model, desc) in cases(&manifest, variant) {
            let name = format!("{model}/{variant}");
            let want = npy(desc["reference_out"].as_str().expect("reference_out"));
            let got = run(&name, desc, &input_for(&model, variant), &want);
            assert_eq!(got.shape, want.shape, "{name}: output shape");
            let mismatches = match got.dtype.item_size() {
                1 => got
                    .data
                    .iter()
                    .zip(&want.data)
                    .filter(|(g, w)| g != w)
                    .count(),
                _ => got
                    .to_f64_vec()
                    .iter()
                    .zip(want.to_f64_vec())
                    .filter(|(g, w)| g.to_bits() != w.to_bits())
                    .count(),
            };
            println!(
                "{name:<24} {mismatches} of {} outputs differ from LiteRT",
                want.len()
            );
            if mismatches != 0 {
                failures.push(format!("{name}: {mismatches} mismatches"));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 6,
        "expected 3 models x 2 int8 variants, ran {checked}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn dynamic_range_variants_match_litert() {
    const TOL: f64 = 1e-4;
    let manifest = manifest();
    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    let all = cases(&manifest, "dynamic");
    assert!(all.len() >= 3, "expected 3 dynamic-range models");
    for (model, desc) in all {
        let name = format!("{model}/dynamic");
        let want = npy(desc["reference_out"].as_str().expect("reference_out"));
        let got = run(&name, desc, &input_for(&model, "dynamic"), &want);
        assert_eq!(got.shape, want.shape, "{name}: output shape");
        let max = got
            .to_f64_vec()
            .iter()
            .zip(want.to_f64_vec())
            .map(|(g, w)| {
                if g.is_nan() {
                    f64::INFINITY
                } else {
                    (g - w).abs()
                }
            })
            .fold(0.0f64, f64::max);
        println!("{name:<24} max abs error {max:.3e}");
        worst = worst.max(max);
        if max > TOL {
            failures.push(format!("{name}: max abs error {max:e} > {TOL:e}"));
        }
    }
    println!("dynamic-range worst max abs error {worst:.3e}");
    assert!(failures.is_empty(), "{failures:#?}");
}
