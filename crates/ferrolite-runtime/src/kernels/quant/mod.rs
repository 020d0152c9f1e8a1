//! Integer (quantized) kernels that reproduce TFLite's own CPU kernels bit for bit.
//!
//! "Bit-exact" here means equal to LiteRT with `BUILTIN_WITHOUT_DEFAULT_DELEGATES`, i.e. TFLite's
//! optimized kernels as built for x86 (no XNNPACK). Each op family has a `*_params` function that
//! turns float scales and zero points into the integer multipliers, shifts and clamps TFLite
//! computes at prepare time, and kernels over plain slices that use only those. Kernels never
//! allocate their output and assume the caller validated shapes (as the float kernels do).
//!
//! * [`fixed_point`] — multiplier decomposition and the gemmlowp / ruy rounding primitives.
//! * [`transcendental`] — gemmlowp's fixed-point exp, 1/(1+x) and TFLite's inverse sqrt.
//! * [`conv`] — per-channel CONV_2D and DEPTHWISE_CONV_2D.
//! * [`conv16x8`] — their int16x8 variants (int16 activations, int64 bias).
//! * [`fully_connected`] — FULLY_CONNECTED, full-integer and hybrid (dynamic-range).
//! * [`fc16x8`] — its int16x8 variants (LiteRT's f64-scaled reference kernel and ruy path).
//! * [`hybrid_conv`] — dynamic-range CONV_2D (float activations quantized per image).
//! * [`hybrid_depthwise`] — dynamic-range DEPTHWISE_CONV_2D (per-image asymmetric input).
//! * [`batch_matmul`] — BATCH_MATMUL, full-integer int8 and hybrid.
//! * [`elementwise`] — ADD, SUB, MUL and requantization (QUANTIZE between integer types).
//! * [`pool`] — AVERAGE_POOL_2D and MAX_POOL_2D.
//! * [`reduce`] — MEAN and quantized SUM.
//! * [`softmax`] — SOFTMAX and the LUT-based LOGISTIC / TANH.
//! * [`activation`] — HARD_SWISH, LEAKY_RELU and PRELU.
//! * [`resize`] — RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR.
//! * [`transpose_conv`] — TRANSPOSE_CONV (int8 per-channel, legacy uint8).
//! * [`dequantize`] — per-tensor 8-bit DEQUANTIZE with LiteRT's x86 block rounding.
//! * [`softmax16`] — int16 SOFTMAX (TFLite's interpolating 513-entry tables).
//! * [`activation16`] — int16 LOGISTIC / TANH (sigmoid-table interpolation or 16-bit gemmlowp).

pub mod activation;
pub mod activation16;
pub mod batch_matmul;
pub mod conv;
pub mod conv16x8;
pub mod dequantize;
pub mod elementwise;
pub mod fc16x8;
pub mod fixed_point;
pub mod fully_connected;
pub mod hybrid_conv;
pub mod hybrid_depthwise;
pub mod pool;
pub mod reduce;
pub mod resize;
pub mod softmax;
pub mod softmax16;
pub mod transcendental;
pub mod transpose_conv;

use super::common::{Activation, KernelError};
pub use super::quantize::QuantElem;

/// Per-tensor affine quantization of one operand: `real = (q - zero_point) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    /// Scale (finite, positive).
    pub scale: f32,
    /// Zero point (inside the storage type's range).
    pub zero_point: i32,
}

impl QuantParams {
    /// Convenience constructor.
    pub fn new(scale: f32, zero_point: i32) -> Self {
        QuantParams { scale, zero_point }
    }
}

/// TFLite's `CalculateActivationRangeQuantized`: the fused activation as an integer clamp in the
/// output's quantized domain, intersected with `[qmin, qmax]`.
///
/// Bounds are quantized as `zero_point + (int)round(bound / scale)` with the division and the
/// rounding (half away from zero) in f32. Activations other than the ReLU family do not clamp.
pub fn quantized_activation_range(
    activation: Activation,
    output: QuantParams,
    qmin: i32,
    qmax: i32,
) -> (i32, i32) {
    let quantize = |f: f32| -> i32 {
        let q = (f / output.scale).round();
        // Saturate like a float->int cast in Rust; C++ would be UB here anyway.
        output.zero_point.saturating_add(q as i32)
    };
    match activation {
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        Activation::ReluN1To1 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
        Activation::None | Activation::Tanh | Activation::SignBit => (qmin, qmax),
    }
}

/// Checks a per-tensor scale / zero point for storage type `Q` (finite positive scale, zero point
/// in range).
pub fn check_quant<Q: QuantElem>(what: &str, q: QuantParams) -> Result<(), KernelError> {
    if !(q.scale.is_finite() && q.scale > 0.0) {
        return Err(KernelError::Param(format!(
            "{what}: quantization scale {} invalid",
            q.scale
        )));
    }
    if !(Q::MIN..=Q::MAX).contains(&q.zero_point) {
        return Err(KernelError::Param(format!(
            "{what}: zero point {} outside {}..={}",
            q.zero_point,
            Q::MIN,
            Q::MAX
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_ranges() {
        let out = QuantParams::new(0.05, -10);
        assert_eq!(
            quantized_activation_range(Activation::None, out, -128, 127),
            (-128, 127)
        );
        assert_eq!(
            quantized_activation_range(Activation::Relu, out, -128, 127),
            (-10, 127)
        );
        // 6 / 0.05 = 120 -> 110
        assert_eq!(
            quantized_activation_range(Activation::Relu6, out, -128, 127),
            (-10, 110)
        );
        assert_eq!(
            quantized_activation_range(Activation::ReluN1To1, out, -128, 127),
            (-30, 10)
        );
        let wide = QuantParams::new(0.01, 0);
        assert_eq!(
            quantized_activation_range(Activation::Relu6, wide, -128, 127),
            (0, 127)
        );
    }

    #[test]
    fn check_quant_rejects_bad_params() {
        assert!(check_quant::<i8>("x", QuantParams::new(0.1, 3)).is_ok());
        assert!(check_quant::<i8>("x", QuantParams::new(0.0, 3)).is_err());
        assert!(check_quant::<i8>("x", QuantParams::new(0.1, 200)).is_err());
        assert!(check_quant::<u8>("x", QuantParams::new(0.1, 200)).is_ok());
    }
}
