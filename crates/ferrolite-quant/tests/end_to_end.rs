//! Our quantized models, run by ferrolite's own interpreter on the fixture inputs, against
//! LiteRT's outputs for TF's quantized files (`<m>_<v>.out.npy`). Our files produced
//! bit-identical outputs to TF's in LiteRT (tools/quant_check.py), so matching these goldens
//! checks the quantizer and the runtime's quantized kernels together.

mod common;

use common::*;
use ferrolite_quant::{quantize, CalibrationData, Io, Mode, QuantizeOptions};
use ferrolite_runtime::Interpreter;

fn run(model: ferrolite_model::Model, input: &ferrolite_npy::Array) -> ferrolite_npy::Array {
    let mut interp = Interpreter::from_model(model).expect("loads");
    interp.set_num_threads(1);
    let i = interp.input_details()[0].index;
    interp.resize_input_tensor(i, &input.shape).expect("resize");
    interp.allocate_tensors().expect("allocates");
    interp.set_tensor_bytes(i, &input.data).expect("input");
    interp.invoke().expect("runs");
    let o = interp.output_details()[0].clone();
    let bytes = interp.tensor_bytes(o.index).expect("output").to_vec();
    let dtype = ferrolite_npy::NpyDType::from_name(o.dtype.numpy_name()).expect("dtype");
    ferrolite_npy::Array::new(dtype, o.shape.clone(), bytes).expect("array")
}

#[test]
fn quantized_models_match_litert_goldens() {
    let x = ferrolite_npy::read_npy(fixture("calibration_x.npy")).unwrap();
    let data = CalibrationData::from_array(&x, "calibration_x.npy").unwrap();
    let float_in = ferrolite_npy::read_npy(fixture("inputs_f32.npy")).unwrap();
    for m in MODELS {
        for (mode, io, variant) in [
            (Mode::Float16, Io::Float, "float16"),
            (Mode::Dynamic, Io::Float, "dynamic"),
            (Mode::Int8, Io::Int8, "int8"),
            (Mode::Int8, Io::Float, "int8_float_io"),
        ] {
            let mut opts = QuantizeOptions::new(mode);
            opts.io = io;
            let (q, _) = quantize(&load(m, "float32"), &opts, Some(&data)).unwrap();
            let input = if variant == "int8" {
                ferrolite_npy::read_npy(fixture(&format!("{m}/{m}_int8.in.npy"))).unwrap()
            } else {
                float_in.clone()
            };
            let ours = run(q, &input);
            let golden =
                ferrolite_npy::read_npy(fixture(&format!("{m}/{m}_{variant}.out.npy"))).unwrap();
            assert_eq!(ours.shape, golden.shape, "{m} {variant}");
            let (a, b) = (ours.to_f64_vec(), golden.to_f64_vec());
            let diff = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            // int8 paths must be exact; hybrid kernels differ by up to ~4e-5 between LiteRT's
            // own kernel paths (see the oracle notes), float16 only by float rounding.
            let tol = match mode {
                Mode::Int8 | Mode::Int16x8 => 0.0,
                Mode::Dynamic => 1e-4,
                Mode::Float16 => 1e-5,
            };
            eprintln!("{m} {variant}: max |ours - LiteRT golden| = {diff:e}");
            assert!(diff <= tol, "{m} {variant}: {diff} > {tol}");
        }
    }
}
