//! Fuzz target: the frozen-GraphDef importer never panics on arbitrary protobuf bytes (unknown
//! ops, missing attributes, inconsistent shapes, cycles must all be typed errors).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ferrolite_convert::graphdef::GraphDefOptions::default();
    let _ = ferrolite_convert::graphdef::convert_bytes(data, "fuzz.pb", &options);
});
