//! Fuzz target: the `.tflite` reader must never panic, and whatever it accepts must write and read
//! back to the same model (compared as bytes, so NaN option values compare equal).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = ferrolite_model::read_bytes(data.to_vec()) {
        let written = ferrolite_model::write_bytes(&model).expect("a validated model must serialize");
        let again = ferrolite_model::read_bytes(written.clone()).expect("written model must read back");
        let rewritten = ferrolite_model::write_bytes(&again).expect("re-read model must serialize");
        assert_eq!(written, rewritten);
    }
});
