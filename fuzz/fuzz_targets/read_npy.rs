//! Fuzz target: `.npy` and `.npz` readers never panic; an accepted `.npy` writes back and reads
//! to the same array.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = ferrolite_npy::read_npy_bytes(data) {
        let bytes = ferrolite_npy::to_npy_bytes(&a).expect("an accepted array must serialize");
        let b = ferrolite_npy::read_npy_bytes(&bytes).expect("a written array must read back");
        assert_eq!(a.shape, b.shape);
    }
    let _ = ferrolite_npy::read_npz_bytes(data);
});
