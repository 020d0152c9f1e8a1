//! Full int8 mode against TF's own int8 files (`<m>_int8.tflite` with int8 I/O,
//! `<m>_int8_float_io.tflite`, `quant/<m>_int8_uint8_io.tflite` and the `quant/ops_mix` model
//! with pooling, concatenation, SUB, MUL and a constant ADD), calibrated on TF's representative
//! dataset
//! (`tests/fixtures/calibration_x.npy`): same operators and versions, identical int8 weights and
//! int32 biases, equal zero points, activation scales within a few ulp (our float kernels and
//! TF's calibrator's round differently in the last bits), size within 2%.

mod common;

use common::*;
use ferrolite_model::{DType, Model};

use ferrolite_quant::{quantize, Io, Mode, QuantReport, QuantizeOptions, Role};

fn int8(m: &str, io: Io) -> (Model, QuantReport) {
    let mut opts = QuantizeOptions::new(Mode::Int8);
    opts.io = io;
    quantize(&load(m, "float32"), &opts, Some(&calibration())).expect("quantizes")
}

#[test]
fn int8_matches_tf_converter_output() {
    for m in MODELS {
        for (io, variant) in [(Io::Int8, "int8"), (Io::Float, "int8_float_io")] {
            let tf = load(m, variant);
            let (ours, report) = int8(m, io);
            assert_eq!(
                op_versions(&ours),
                op_versions(&tf),
                "{m} {variant}: operators"
            );
            assert_eq!(
                min_runtime(&ours),
                min_runtime(&tf),
                "{m} {variant}: min_runtime"
            );
            let worst = compare_with_tf(m, &ours, &tf);
            let (a, file) = (size(&ours), file_size(m, variant));
            eprintln!(
                "{m} {variant}: ours {a} B, TF file {file} B ({:+.2}%), worst activation scale diff {worst} ulp",
                100.0 * (a as f64 / file as f64 - 1.0)
            );
            assert!(
                worst <= 8,
                "{m} {variant}: activation scales {worst} ulp from TF's"
            );
            assert!(
                rel_diff(a, file) < 0.02 || a < file,
                "{m}: size {a} vs TF {file}"
            );
            assert_eq!(report.calibration_samples, 100);
            assert!(report.tensors.iter().any(|t| t.role == Role::Bias));
            let acts = report.tensors.iter().filter(|t| t.role == Role::Activation);
            assert!(
                acts.clone().all(|t| t.min.is_some() && t.max.is_some()),
                "{m}: ranges reported"
            );
        }
    }
}

#[test]
fn int8_io_types() {
    let (q, _) = int8("mlp", Io::Int8);
    let sg = &q.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].dtype, DType::I8);
    assert_eq!(sg.tensors[sg.outputs[0]].dtype, DType::I8);
    let (q, _) = int8("mlp", Io::Float);
    let sg = &q.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].dtype, DType::F32);
    assert_eq!(sg.tensors[sg.outputs[0]].dtype, DType::F32);
    assert_eq!(op_names(&q).first().map(String::as_str), Some("QUANTIZE"));
    assert_eq!(op_names(&q).last().map(String::as_str), Some("DEQUANTIZE"));
}

#[test]
fn uint8_io_matches_tf_and_runs_bit_exact() {
    for m in MODELS {
        let tf = load_quant(&format!("{m}_int8_uint8_io"));
        let (ours, report) = int8(m, Io::Uint8);
        assert_eq!(op_versions(&ours), op_versions(&tf), "{m}: operators");
        assert_eq!(min_runtime(&ours), min_runtime(&tf), "{m}: min_runtime");
        assert!(compare_with_tf(m, &ours, &tf) <= 8, "{m}");
        let sg = &ours.subgraphs[0];
        assert_eq!(sg.tensors[sg.inputs[0]].dtype, DType::U8);
        assert_eq!(sg.tensors[sg.outputs[0]].dtype, DType::U8);
        assert_eq!(report.io, "uint8");
        // uint8 in, uint8 out: our interpreter on our file equals LiteRT on TF's file.
        let input = quant_npy(&format!("{m}_int8_uint8_io.in.npy"));
        let golden = quant_npy(&format!("{m}_int8_uint8_io.out.npy"));
        assert_eq!(max_diff(&run(ours, &input), &golden), 0.0, "{m}");
    }
}

#[test]
fn shared_scales_and_elementwise_ops_match_tf() {
    let float = load_quant("ops_mix_float32");
    let tf = load_quant("ops_mix_int8_float_io");
    let (ours, _) = quantize(
        &float,
        &QuantizeOptions::new(Mode::Int8),
        Some(&calibration()),
    )
    .expect("quantizes");
    assert_eq!(op_versions(&ours), op_versions(&tf));
    assert!(compare_with_tf("ops_mix", &ours, &tf) <= 8);
    let x = ferrolite_npy::read_npy(fixture("inputs_f32.npy")).unwrap();
    let golden = quant_npy("ops_mix_int8_float_io.out.npy");
    assert_eq!(max_diff(&run(ours, &x), &golden), 0.0);
}
