//! Dynamic-range (hybrid), int8 BATCH_MATMUL and float16 single-op models against LiteRT
//! (`tests/fixtures/hybrid/`, written by `tools/make_hybrid_fixtures.py`).
//!
//! * `hybrid_*` (DEPTHWISE_CONV_2D and BATCH_MATMUL with float activations and int8 weights):
//!   within `1e-4` of LiteRT relative to the output's largest magnitude, the tolerance.
//!   The kernels reproduce TFLite's arithmetic (same int8 rows, same int32 sums, same f32 scaling
//!   order), so the measured difference is far smaller (it is printed); the bound stays at the
//!   issue's value because the only inexact step, the per-row asymmetric quantization, divides by
//!   a scale TFLite computes in double and could round a value at a .5 boundary differently
//!   should `1/scale` differ in the last bit.
//! * `int8_bmm_*`: the int8 output of BATCH_MATMUL (read with preserve-all-tensors) is
//!   **bit-exact** with LiteRT's; the dequantized model output is within one ulp (see below).
//! * `f16_*`: within `1e-3` relative (the float16 tolerance); in practice identical,
//!   since the f16 → f32 expansion is exact and the float kernels then see the same weights. Also
//!   checks that the constant DEQUANTIZEs were folded at `allocate_tensors` (no DEQUANTIZE step
//!   runs at `invoke`) and that the folded f32 copies are counted in `folded_bytes`.

use ferrolite_model::tflite::BuiltinOperator;
use ferrolite_model::OpKind;
use ferrolite_npy::{read_npy, Array};
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/hybrid")
}

fn npy(name: &str) -> Array {
    let p = dir().join(name);
    read_npy(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn cases(prefix: &str) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    let m: Value = serde_json::from_str(&text).expect("manifest parses");
    let mut out: Vec<(String, Value)> = m["cases"]
        .as_object()
        .expect("cases")
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no {prefix}* cases in the manifest");
    out
}

/// Loads `<name>.tflite`, feeds `<name>.in<k>.npy` and invokes.
fn run(name: &str, preserve: bool) -> Interpreter {
    let mut interp = Interpreter::from_file(dir().join(format!("{name}.tflite")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    interp.set_preserve_all_tensors(preserve);
    interp
        .allocate_tensors()
        .unwrap_or_else(|e| panic!("{name}: allocate: {e}"));
    for (k, d) in interp.input_details().iter().enumerate() {
        let x = npy(&format!("{name}.in{k}.npy"));
        assert_eq!(x.shape, d.shape, "{name}: input {k} shape");
        interp
            .set_tensor_bytes(d.index, &x.data)
            .unwrap_or_else(|e| panic!("{name}: set input {k}: {e}"));
    }
    interp
        .invoke()
        .unwrap_or_else(|e| panic!("{name}: invoke: {e}"));
    interp
}

/// The model output as f32, checked against LiteRT's shape.
fn output(name: &str, interp: &Interpreter, want: &Array) -> Vec<f32> {
    let out = interp.output_details()[0].index;
    assert_eq!(interp.tensor_shape(out).unwrap(), &want.shape[..], "{name}");
    interp.tensor::<f32>(out).unwrap().to_vec()
}

/// Largest `|got - want|` divided by the largest `|want|`.
fn relative_error(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let peak = want.iter().fold(0f64, |m, &w| m.max(f64::from(w).abs()));
    let worst = got.iter().zip(want).fold(0f64, |m, (&g, &w)| {
        m.max((f64::from(g) - f64::from(w)).abs())
    });
    worst / peak.max(f64::MIN_POSITIVE)
}

#[test]
fn hybrid_models_match_litert() {
    let mut seen = Vec::new();
    for (name, desc) in cases("hybrid_") {
        let interp = run(&name, false);
        let want = npy(&format!("{name}.out0.npy"));
        let got = output(&name, &interp, &want);
        let rel = relative_error(&got, &want.to_f32_vec());
        let exact = got == want.to_f32_vec();
        println!("{name}: max relative error {rel:.3e} (bit-identical: {exact})");
        assert!(rel <= 1e-4, "{name}: relative error {rel:.3e} > 1e-4");
        for op in desc["ops"].as_array().unwrap() {
            seen.push(op["op"].as_str().unwrap().to_owned());
        }
    }
    for op in ["DEPTHWISE_CONV_2D", "BATCH_MATMUL"] {
        assert!(seen.iter().any(|s| s == op), "no hybrid {op} fixture");
    }
}

#[test]
fn int8_batch_matmul_is_bit_exact() {
    for (name, _) in cases("int8_bmm_") {
        let interp = run(&name, true);
        let sg = &interp.model().subgraphs[0];
        let bmm = sg
            .operators
            .iter()
            .find(|op| op.kind == OpKind::Builtin(BuiltinOperator::BatchMatmul))
            .unwrap_or_else(|| panic!("{name}: no BATCH_MATMUL"));
        let q_index = bmm.outputs[0].expect("output");
        let want_q = npy(&format!("{name}.q.npy"));
        assert_eq!(
            interp.tensor_bytes(q_index).unwrap(),
            &want_q.data[..],
            "{name}: int8 BATCH_MATMUL output differs from LiteRT"
        );
        // The float output is that int8 tensor through DEQUANTIZE. LiteRT's x86 DEQUANTIZE
        // computes `q·s - zp·s` in f32, ours the correctly rounded `(q - zp)·s`; with a non-zero
        // zero point the two differ by the rounding of the partial products, a few ulp of the
        // tensor's largest value (a DEQUANTIZE-kernel matter, not BATCH_MATMUL's).
        let want = npy(&format!("{name}.out0.npy"));
        let got = output(&name, &interp, &want);
        let rel = relative_error(&got, &want.to_f32_vec());
        assert!(rel <= 4.0 * f64::from(f32::EPSILON), "{name}: {rel:.3e}");
        println!("{name}: {} int8 values bit-exact", want_q.data.len());
    }
}

#[test]
fn float16_models_match_litert_and_fold_dequantize() {
    for (name, _) in cases("f16_") {
        let interp = run(&name, false);
        let want = npy(&format!("{name}.out0.npy"));
        let got = output(&name, &interp, &want);
        let rel = relative_error(&got, &want.to_f32_vec());
        println!("{name}: max relative error {rel:.3e}");
        assert!(rel <= 1e-3, "{name}: relative error {rel:.3e} > 1e-3");

        let sg = &interp.model().subgraphs[0];
        let f16_elements: usize = sg
            .operators
            .iter()
            .filter(|op| op.kind == OpKind::Builtin(BuiltinOperator::Dequantize))
            .map(|op| {
                let t = &sg.tensors[op.inputs[0].expect("input")];
                t.shape.iter().map(|&d| d as usize).product::<usize>()
            })
            .sum();
        assert!(
            f16_elements > 65_536,
            "{name}: weights should exceed the fold cap"
        );
        assert!(
            interp.folded_bytes() >= 4 * f16_elements,
            "{name}: folded_bytes {} < f32 copy of {f16_elements} weights",
            interp.folded_bytes()
        );
        let mut interp = interp;
        let steps = interp.invoke_profiled().unwrap();
        assert!(
            steps.iter().all(|s| s.op != "DEQUANTIZE"),
            "{name}: DEQUANTIZE still runs at invoke: {steps:?}"
        );
    }
}
