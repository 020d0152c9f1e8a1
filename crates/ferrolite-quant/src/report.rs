//! [`QuantReport`]: what a quantization run did, tensor by tensor.
//!
//! For every tensor it rewrote, the report gives the new dtype, the scales and zero points it
//! chose and the range they came from (the calibrated `min`/`max` of an activation, `±max|w|`
//! of a weight), so nothing about the result is hidden. It serializes to JSON for
//! `ferrolite quantize --json`.

use ferrolite_model::Tensor;
use serde::Serialize;

/// What a quantized tensor is to the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A constant weight (filter, matrix) quantized to int8.
    Weight,
    /// A constant bias quantized to int32.
    Bias,
    /// A constant stored as float16 (with a DEQUANTIZE after it).
    Float16,
    /// A calibrated activation (including model inputs and outputs).
    Activation,
    /// Another constant operand quantized like an activation.
    Constant,
}

/// One rewritten tensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorReport {
    /// Subgraph index.
    pub subgraph: usize,
    /// Tensor index in its subgraph.
    pub index: usize,
    /// Tensor name.
    pub name: String,
    /// What the tensor is.
    pub role: Role,
    /// New element type (`INT8`, `INT32`, `FLOAT16`).
    pub dtype: String,
    /// Static shape.
    pub shape: Vec<i32>,
    /// Scales (one per channel when per-channel; empty for float16).
    pub scales: Vec<f32>,
    /// Zero points, parallel to `scales`.
    pub zero_points: Vec<i64>,
    /// Channel axis when per-channel.
    pub quantized_dimension: Option<i32>,
    /// Lower end of the range the parameters were derived from (calibrated minimum of an
    /// activation; `-max|w|` of a weight).
    pub min: Option<f32>,
    /// Upper end of that range.
    pub max: Option<f32>,
}

impl TensorReport {
    /// A quantized tensor, reading dtype, shape and parameters from the tensor itself.
    pub(crate) fn quantized(
        subgraph: usize,
        index: usize,
        t: &Tensor,
        role: Role,
        range: Option<(f32, f32)>,
    ) -> Self {
        let q = t.quantization.clone().unwrap_or_default();
        TensorReport {
            subgraph,
            index,
            name: t.name.clone(),
            role,
            dtype: t.dtype.tflite_name().to_string(),
            shape: t.shape.clone(),
            quantized_dimension: q.is_per_channel().then_some(q.quantized_dimension),
            scales: q.scale,
            zero_points: q.zero_point,
            min: range.map(|r| r.0),
            max: range.map(|r| r.1),
        }
    }

    /// A constant now stored as float16.
    pub(crate) fn float16(subgraph: usize, index: usize, t: &Tensor) -> Self {
        TensorReport {
            subgraph,
            index,
            name: t.name.clone(),
            role: Role::Float16,
            dtype: t.dtype.tflite_name().to_string(),
            shape: t.shape.clone(),
            scales: Vec::new(),
            zero_points: Vec::new(),
            quantized_dimension: None,
            min: None,
            max: None,
        }
    }
}

/// The outcome of [`quantize`](crate::quantize).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct QuantReport {
    /// Mode name (`float16`, `dynamic`, `int8`).
    pub mode: String,
    /// Model input/output type (`float`, `int8`); `float` for float16 and dynamic.
    pub io: String,
    /// Number of calibration samples run (0 without calibration).
    pub calibration_samples: usize,
    /// Operators whose computation became quantized (hybrid or integer).
    pub ops_quantized: usize,
    /// Operators added (DEQUANTIZE / QUANTIZE).
    pub ops_added: usize,
    /// Every tensor rewritten, in the order the passes visited them.
    pub tensors: Vec<TensorReport>,
}
