//! Post-training quantization (in progress).
