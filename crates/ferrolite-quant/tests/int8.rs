//! Full int8 mode against TF's own int8 files (`<m>_int8.tflite` with int8 I/O and
//! `<m>_int8_float_io.tflite`), calibrated on TF's representative dataset
//! (`tests/fixtures/calibration_x.npy`): same operators and versions, identical int8 weights and
//! int32 biases, equal zero points, activation scales within a few ulp (our float kernels and
//! TF's calibrator's round differently in the last bits), size within 2%.

mod common;

use common::*;
use ferrolite_model::{DType, Model};
use ferrolite_quant::{quantize, CalibrationData, Io, Mode, QuantReport, QuantizeOptions, Role};

fn calibration() -> CalibrationData {
    let x = ferrolite_npy::read_npy(fixture("calibration_x.npy")).expect("calibration_x.npy");
    CalibrationData::from_array(&x, "calibration_x.npy").expect("valid data")
}

fn int8(m: &str, io: Io) -> (Model, QuantReport) {
    let mut opts = QuantizeOptions::new(Mode::Int8);
    opts.io = io;
    quantize(&load(m, "float32"), &opts, Some(&calibration())).expect("quantizes")
}

/// Compares every tensor TF quantized with ours (by name); returns the worst activation scale
/// distance in ulp.
fn compare(m: &str, ours: &Model, tf: &Model) -> u32 {
    let mut worst = 0;
    let mut bias = Vec::new();
    for t in &tf.subgraphs[0].tensors {
        let o = by_name(ours, &t.name).unwrap_or_else(|| panic!("{m}: no tensor {}", t.name));
        assert_eq!(o.dtype, t.dtype, "{m}: dtype of {}", t.name);
        assert_eq!(o.shape, t.shape, "{m}: shape of {}", t.name);
        let (Some(qt), Some(qo)) = (&t.quantization, &o.quantization) else {
            assert!(
                t.quantization.as_ref().is_none_or(|q| q.scale.is_empty()),
                "{m}: {}",
                t.name
            );
            assert!(
                o.quantization.as_ref().is_none_or(|q| q.scale.is_empty()),
                "{m}: {}",
                t.name
            );
            continue;
        };
        assert_eq!(
            qo.zero_point, qt.zero_point,
            "{m}: zero points of {}",
            t.name
        );
        assert_eq!(
            qo.quantized_dimension, qt.quantized_dimension,
            "{m}: {}",
            t.name
        );
        assert_eq!(qo.scale.len(), qt.scale.len(), "{m}: {}", t.name);
        let d = qo
            .scale
            .iter()
            .zip(&qt.scale)
            .map(|(a, b)| ulps(*a, *b))
            .max()
            .unwrap_or(0);
        if t.data.is_none() {
            worst = worst.max(d);
            if d > 0 {
                eprintln!(
                    "  {m}: {} scale {} vs TF {} ({d} ulp)",
                    t.name, qo.scale[0], qt.scale[0]
                );
            }
        } else if t.dtype == DType::I32 {
            // Bias scales inherit the input activation's scale, so they follow its distance.
            bias.push((t.name.clone(), d, o.data.clone(), t.data.clone()));
        } else {
            assert!(d == 0, "{m}: {} weight scales differ by {d} ulp", t.name);
            assert_eq!(
                o.data, t.data,
                "{m}: {} int8 values differ from TF's",
                t.name
            );
        }
    }
    for (name, d, a, b) in bias {
        assert!(
            d <= 2 * worst + 1,
            "{m}: bias {name} scales {d} ulp from TF's"
        );
        let ints = |x: Option<ferrolite_model::Bytes>| -> Vec<i32> {
            x.unwrap()
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let (a, b) = (ints(a), ints(b));
        let off = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .max()
            .unwrap_or(0);
        if d == 0 {
            assert_eq!(a, b, "{m}: bias {name} values differ from TF's");
        } else {
            assert!(off <= 1, "{m}: bias {name} values {off} away from TF's");
        }
    }
    worst
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
            let worst = compare(m, &ours, &tf);
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
