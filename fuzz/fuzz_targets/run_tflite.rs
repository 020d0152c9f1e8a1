//! Fuzz target: a model the reader accepts must never make the interpreter panic — not while
//! preparing (`allocate_tensors`: shapes, options, quantization parameters, constant folding) and
//! not while running (`invoke` on inputs filled from the fuzz data). Errors are fine.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Memory budget for `allocate_tensors` (keeps runs inside libFuzzer's RSS limit); beyond it the
/// interpreter must return `RuntimeError::Memory`, which is what this exercises.
const MEMORY_LIMIT: usize = 256 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(mut interp) = ferrolite_runtime::Interpreter::from_bytes(data.to_vec()) else {
        return;
    };
    interp.set_num_threads(1);
    interp.set_memory_limit(Some(MEMORY_LIMIT));
    if interp.allocate_tensors().is_err() {
        return;
    }
    for (k, d) in interp.input_details().iter().enumerate() {
        let bytes = interp.tensor_bytes(d.index).map(|b| b.len()).unwrap_or(0);
        let fill: Vec<u8> = data.iter().cycle().skip(k).take(bytes).copied().collect();
        let _ = interp.set_tensor_bytes(d.index, &fill);
    }
    let _ = interp.invoke();
});
