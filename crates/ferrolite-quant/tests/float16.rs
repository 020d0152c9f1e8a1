//! float16 mode against TF's own float16 files (`tests/fixtures/<m>/<m>_float16.tflite`):
//! same operator list and versions, byte-identical half-precision weights, size within 2%.

mod common;

use common::*;
use ferrolite_model::DType;
use ferrolite_quant::{quantize, Mode, QuantizeOptions, Role};

#[test]
fn float16_matches_tf_converter_output() {
    for m in MODELS {
        let float = load(m, "float32");
        let tf = load(m, "float16");
        let (ours, report) =
            quantize(&float, &QuantizeOptions::new(Mode::Float16), None).expect("quantizes");
        assert_eq!(op_names(&ours), op_names(&tf), "{m}: operator list");
        assert_eq!(
            op_versions(&ours),
            op_versions(&tf),
            "{m}: operator versions"
        );
        assert_eq!(
            min_runtime(&ours),
            min_runtime(&tf),
            "{m}: min_runtime_version"
        );
        let tf_half: Vec<_> = tf.subgraphs[0]
            .tensors
            .iter()
            .filter(|t| t.dtype == DType::F16)
            .collect();
        assert_eq!(
            report.tensors.len(),
            tf_half.len(),
            "{m}: tensors converted"
        );
        assert!(report.tensors.iter().all(|t| t.role == Role::Float16));
        for t in tf_half {
            let o = by_name(&ours, &t.name).unwrap_or_else(|| panic!("{m}: no tensor {}", t.name));
            assert_eq!(o.dtype, DType::F16, "{m}: {}", t.name);
            assert_eq!(o.data, t.data, "{m}: {} bytes differ from TF's", t.name);
        }
        // Same writer on both sides: TF's model re-serialized by ferrolite must be within 2%;
        // and our file must not be more than 2% larger than TF's file on disk (ferrolite's
        // writer shares one empty buffer among activations, so it is usually a bit smaller).
        let (a, b, file) = (size(&ours), size(&tf), file_size(m, "float16"));
        eprintln!(
            "{m} float16: ours {a} B, TF re-serialized {b} B ({:+.2}%), TF file {file} B ({:+.2}%)",
            100.0 * (a as f64 / b as f64 - 1.0),
            100.0 * (a as f64 / file as f64 - 1.0)
        );
        assert!(rel_diff(a, b) < 0.02, "{m}: size {a} vs TF {b}");
        assert!(
            (a as f64) < file as f64 * 1.02,
            "{m}: size {a} vs TF file {file}"
        );
        // Every DEQUANTIZE feeds float32 consumers; the constants themselves are now half.
        let sg = &ours.subgraphs[0];
        for op in sg
            .operators
            .iter()
            .filter(|o| o.kind.name() == "DEQUANTIZE")
        {
            let (i, o) = (op.inputs[0].unwrap(), op.outputs[0].unwrap());
            assert_eq!(sg.tensors[i].dtype, DType::F16);
            assert_eq!(sg.tensors[o].dtype, DType::F32);
            assert_eq!(sg.tensors[i].shape, sg.tensors[o].shape);
        }
    }
}

#[test]
fn float16_keeps_model_inputs_outputs_and_signatures() {
    let float = load("mlp", "float32");
    let (ours, _) = quantize(&float, &QuantizeOptions::new(Mode::Float16), None).unwrap();
    let (f, q) = (&float.subgraphs[0], &ours.subgraphs[0]);
    assert_eq!(f.inputs, q.inputs);
    assert_eq!(f.outputs, q.outputs);
    assert_eq!(float.signatures, ours.signatures);
    assert!(ours
        .metadata
        .iter()
        .any(|e| e.name == "reduced_precision_support" && &*e.data == b"fp16accfp32"));
}
