//! Dynamic-range mode against TF's own files (`tests/fixtures/<m>/<m>_dynamic.tflite`): same
//! operators and versions, identical int8 weights, scales within 1 ulp, same hybrid flags, size
//! within 2%.

mod common;

use common::*;
use ferrolite_model::tflite::BuiltinOptions;
use ferrolite_model::DType;
use ferrolite_quant::{quantize, Mode, QuantizeOptions, Role};

fn asymmetric_flags(m: &ferrolite_model::Model) -> Vec<bool> {
    m.subgraphs[0]
        .operators
        .iter()
        .map(|o| match &o.options {
            Some(BuiltinOptions::FullyConnectedOptions(f)) => f.asymmetric_quantize_inputs,
            Some(BuiltinOptions::BatchMatMulOptions(b)) => b.asymmetric_quantize_inputs,
            _ => false,
        })
        .collect()
}

#[test]
fn dynamic_matches_tf_converter_output() {
    for m in MODELS {
        let float = load(m, "float32");
        let tf = load(m, "dynamic");
        let (ours, report) =
            quantize(&float, &QuantizeOptions::new(Mode::Dynamic), None).expect("quantizes");
        assert_eq!(
            op_versions(&ours),
            op_versions(&tf),
            "{m}: operators and versions"
        );
        assert_eq!(
            min_runtime(&ours),
            min_runtime(&tf),
            "{m}: min_runtime_version"
        );
        assert_eq!(
            asymmetric_flags(&ours),
            asymmetric_flags(&tf),
            "{m}: hybrid flags"
        );
        let tf_int8: Vec<_> = tf.subgraphs[0]
            .tensors
            .iter()
            .filter(|t| t.dtype == DType::I8)
            .collect();
        assert_eq!(
            report.tensors.len(),
            tf_int8.len(),
            "{m}: weights quantized"
        );
        assert!(report.tensors.iter().all(|t| t.role == Role::Weight));
        let mut worst = 0;
        for t in tf_int8 {
            let o = by_name(&ours, &t.name).unwrap_or_else(|| panic!("{m}: no tensor {}", t.name));
            assert_eq!(o.dtype, DType::I8, "{m}: {}", t.name);
            assert_eq!(
                o.data, t.data,
                "{m}: {} int8 values differ from TF's",
                t.name
            );
            let (qo, qt) = (
                o.quantization.as_ref().unwrap(),
                t.quantization.as_ref().unwrap(),
            );
            assert_eq!(qo.zero_point, qt.zero_point, "{m}: {}", t.name);
            assert_eq!(
                qo.quantized_dimension, qt.quantized_dimension,
                "{m}: {}",
                t.name
            );
            assert_eq!(qo.scale.len(), qt.scale.len(), "{m}: {}", t.name);
            for (a, b) in qo.scale.iter().zip(&qt.scale) {
                worst = worst.max(ulps(*a, *b));
            }
        }
        assert!(worst <= 1, "{m}: scales differ by {worst} ulp");
        // Same writer on both sides: TF's model re-serialized by ferrolite must be within 2%;
        // and our file must not be more than 2% larger than TF's file on disk (ferrolite's
        // writer shares one empty buffer among activations, so it is usually a bit smaller).
        let (a, b, file) = (size(&ours), size(&tf), file_size(m, "dynamic"));
        eprintln!(
            "{m} dynamic: ours {a} B, TF re-serialized {b} B ({:+.2}%), TF file {file} B ({:+.2}%), worst scale diff {worst} ulp",
            100.0 * (a as f64 / b as f64 - 1.0),
            100.0 * (a as f64 / file as f64 - 1.0)
        );
        assert!(rel_diff(a, b) < 0.02, "{m}: size {a} vs TF {b}");
        assert!(
            (a as f64) < file as f64 * 1.02,
            "{m}: size {a} vs TF file {file}"
        );
    }
}

#[test]
fn min_elements_threshold_is_inclusive_and_configurable() {
    let float = load("mlp", "float32");
    // fc2 has exactly 2048 elements: kept float above the threshold, quantized at it.
    let mut opts = QuantizeOptions::new(Mode::Dynamic);
    opts.min_elements = 2049;
    let (q, r) = quantize(&float, &opts, None).unwrap();
    assert_eq!(
        r.tensors
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["mlp/fc1/MatMul"]
    );
    assert_eq!(by_name(&q, "mlp/fc2/MatMul").unwrap().dtype, DType::F32);
    opts.min_elements = 2048;
    let (_, r) = quantize(&float, &opts, None).unwrap();
    assert_eq!(r.tensors.len(), 2);
    opts.min_elements = 0;
    let (q, r) = quantize(&float, &opts, None).unwrap();
    assert_eq!(
        r.tensors.len(),
        3,
        "every FC weight when the threshold is 0"
    );
    assert_eq!(by_name(&q, "mlp/probs/MatMul").unwrap().dtype, DType::I8);
}
