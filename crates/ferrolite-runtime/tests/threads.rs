//! Multithreaded `invoke` gives byte-identical outputs for every thread count, and weights packed
//! at `allocate_tensors` are reported by `persistent_bytes` (issue #9).
//!
//! The digits fixtures are run at a batch of 48 (their batch dimension is dynamic) so every
//! CONV_2D / FULLY_CONNECTED has enough work to be split across threads.

use ferrolite_model::DType;
use ferrolite_runtime::Interpreter;

const MODELS: [&str; 7] = [
    "cnn_bn/cnn_bn_float32.tflite",
    "cnn_bn/cnn_bn_int8.tflite",
    "cnn_bn/cnn_bn_dynamic.tflite",
    "cnn_bn/cnn_bn_float16.tflite",
    "dwsep_res/dwsep_res_float32.tflite",
    "dwsep_res/dwsep_res_int8.tflite",
    "mlp/mlp_int8.tflite",
];

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Deterministic input bytes for `len` elements of `dtype`.
fn input_bytes(dtype: DType, len: usize) -> Vec<u8> {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    match dtype {
        DType::F32 => (0..len)
            .flat_map(|_| ((next() % 1000) as f32 / 1000.0).to_le_bytes())
            .collect(),
        _ => (0..len).map(|_| next() as u8).collect(),
    }
}

/// Output bytes and persistent bytes of `model` at batch 48 with `threads` threads.
fn run(model: &str, threads: usize) -> (Vec<Vec<u8>>, usize) {
    let mut interp = Interpreter::from_file(fixture(model)).unwrap();
    interp.set_num_threads(threads);
    let input = interp.input_details()[0].clone();
    let mut shape = input.shape.clone();
    shape[0] = 48;
    interp.resize_input_tensor(input.index, &shape).unwrap();
    interp.allocate_tensors().unwrap();
    assert_eq!(interp.num_threads(), threads);
    let len: usize = shape.iter().product();
    interp
        .set_tensor_bytes(input.index, &input_bytes(input.dtype, len))
        .unwrap();
    interp.invoke().unwrap();
    let outputs = interp
        .output_details()
        .iter()
        .map(|o| interp.tensor_bytes(o.index).unwrap().to_vec())
        .collect();
    (outputs, interp.persistent_bytes())
}

#[test]
fn outputs_do_not_depend_on_the_thread_count() {
    for model in MODELS {
        let (want, _) = run(model, 1);
        for threads in [2, 3, 4] {
            let (got, _) = run(model, threads);
            assert_eq!(got, want, "{model}: {threads} threads differ from 1");
        }
    }
}

#[test]
fn packed_weights_are_counted_as_persistent_bytes() {
    let simd = !matches!(
        ferrolite_runtime::kernels::simd::level(),
        ferrolite_runtime::kernels::simd::Level::Scalar
    );
    for model in MODELS {
        let (_, persistent) = run(model, 1);
        if simd {
            assert!(persistent > 0, "{model}: no packed weights reported");
        } else {
            assert_eq!(persistent, 0, "{model}: scalar kernels pack nothing");
        }
    }
    let interp = Interpreter::from_file(fixture(MODELS[0])).unwrap();
    assert_eq!(
        interp.persistent_bytes(),
        0,
        "nothing is packed before allocate_tensors"
    );
}
