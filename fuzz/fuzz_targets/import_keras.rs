//! Fuzz target: the Keras importer (HDF5 `.h5` and zipped `.keras`) never panics on arbitrary
//! bytes; corrupt containers, configs and weights are typed errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ferrolite_convert::keras::Options::default();
    let name = if data.starts_with(b"PK") { "fuzz.keras" } else { "fuzz.h5" };
    let _ = ferrolite_convert::keras::convert_bytes(data.to_vec(), name, &options);
});
