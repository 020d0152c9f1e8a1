//! Fuzz target: the ONNX importer never panics on arbitrary protobuf bytes (bad opsets,
//! malformed initializers, inconsistent shapes and unknown ops must all be typed errors).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ferrolite_convert::onnx::OnnxOptions::default();
    let _ = ferrolite_convert::onnx::convert_bytes(data, "fuzz.onnx", &options);
});
