//! [`QuantReport`]: what a quantization run did, tensor by tensor.
//!
//! For every tensor it rewrote, the report gives the new dtype, the scales and zero points it
//! chose and the range they came from (the calibrated `min`/`max` of an activation, `±max|w|`
//! of a weight), so nothing about the result is hidden. After [`measure_errors`] each quantized
//! activation also carries the RMSE and largest absolute error of its dequantized values against
//! the float model's tensor on the calibration inputs (what TF keeps inside its
//! QuantizationDebugger, but accumulated through the network rather than per layer). It
//! serializes to JSON for `ferrolite quantize --json` and `--report`.

use crate::calibration::{CalibrationData, SampleRunner};
use crate::error::{QuantError, Result};
use crate::graph::producers;
use ferrolite_model::{DType, Model, Tensor};
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
    /// The operator writing the tensor (`CONV_2D`, ...), for activations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// Index of the float model's tensor holding the same values, for activations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float_tensor: Option<usize>,
    /// Root-mean-square error of the dequantized tensor against the float model's, over the
    /// calibration inputs (set by [`measure_errors`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Largest absolute error of the dequantized tensor (set by [`measure_errors`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_abs_error: Option<f64>,
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
            op: None,
            float_tensor: None,
            rmse: None,
            max_abs_error: None,
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
            op: None,
            float_tensor: None,
            rmse: None,
            max_abs_error: None,
        }
    }
}

/// The outcome of [`quantize`](crate::quantize).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct QuantReport {
    /// Mode name (`float16`, `dynamic`, `int8`, `int16x8`).
    pub mode: String,
    /// Model input/output type (`float`, `int8`, `uint8`, `int16`); `float` for float16 and
    /// dynamic.
    pub io: String,
    /// Calibration method (`minmax`, `percentile 99.99`, `mse`, `kl`); empty without calibration.
    pub calibration: String,
    /// Number of calibration samples run (0 without calibration).
    pub calibration_samples: usize,
    /// Operators whose computation became quantized (hybrid or integer).
    pub ops_quantized: usize,
    /// Operators left float (`"3 (SIN)"`): without an integer rule, or kept float on request.
    pub float_ops: Vec<String>,
    /// Operators added (DEQUANTIZE / QUANTIZE).
    pub ops_added: usize,
    /// Every tensor rewritten, in the order the passes visited them.
    pub tensors: Vec<TensorReport>,
}

impl QuantReport {
    /// The quantized activations, worst RMSE first (those without a measurement last).
    pub fn activations_by_error(&self) -> Vec<&TensorReport> {
        let mut v: Vec<&TensorReport> = self
            .tensors
            .iter()
            .filter(|t| t.role == Role::Activation)
            .collect();
        v.sort_by(|a, b| {
            let key = |t: &TensorReport| t.rmse.unwrap_or(f64::NEG_INFINITY);
            key(b).total_cmp(&key(a))
        });
        v
    }
}

/// Dequantized values of tensor `t` (per-tensor parameters), or `None` for a non-integer type.
fn dequantized(
    interp: &ferrolite_runtime::Interpreter,
    t: usize,
    scale: f64,
    zp: i64,
) -> Option<Vec<f64>> {
    let bytes = interp.tensor_bytes(t).ok()?;
    let ints: Vec<i64> = match interp.tensor_details(t).ok()?.dtype {
        DType::I8 => bytes.iter().map(|&b| i64::from(b as i8)).collect(),
        DType::U8 => bytes.iter().map(|&b| i64::from(b)).collect(),
        DType::I16 => bytes
            .chunks_exact(2)
            .map(|c| i64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => return None,
    };
    Some(ints.into_iter().map(|q| (q - zp) as f64 * scale).collect())
}

/// Runs the float model and the quantized one on every calibration sample and fills, for each
/// quantized activation of `report`, the RMSE and largest absolute error of its dequantized
/// values against the float tensor it stands for, and the operator that writes it.
/// `progress(done, total)` is called after each sample.
pub fn measure_errors(
    float: &Model,
    quantized: &Model,
    data: &CalibrationData,
    report: &mut QuantReport,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<()> {
    let sg = quantized
        .subgraphs
        .first()
        .ok_or_else(|| QuantError::Unsupported("the model has no subgraph".into()))?;
    let producer = producers(sg);
    for r in report
        .tensors
        .iter_mut()
        .filter(|r| r.role == Role::Activation)
    {
        r.op = producer
            .get(r.index)
            .copied()
            .flatten()
            .map(|o| sg.operators[o].kind.name());
    }
    let shapes = data.check(float)?;
    // The interpreter may not run every quantized kernel yet; say which model failed.
    let quantized_fails = |e: QuantError| match e {
        QuantError::CalibrationRun { source, .. } => QuantError::Unsupported(format!(
            "ferrolite's interpreter cannot run the quantized model yet ({source})"
        )),
        other => other,
    };
    let mut f = SampleRunner::new(float, &shapes)?;
    let mut q = SampleRunner::new(quantized, &shapes).map_err(quantized_fails)?;
    // (report entry, sum of squares, max abs, count)
    let mut acc: Vec<(usize, f64, f64, usize)> = report
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, r)| r.role == Role::Activation && r.subgraph == 0 && r.float_tensor.is_some())
        .map(|(k, _)| (k, 0.0, 0.0, 0))
        .collect();
    let n = data.samples();
    for i in 0..n {
        f.run(data, i)?;
        q.run(data, i).map_err(quantized_fails)?;
        for (k, sum, max, count) in acc.iter_mut() {
            let r = &report.tensors[*k];
            let (Some(o), Some(&scale), Some(&zp)) =
                (r.float_tensor, r.scales.first(), r.zero_points.first())
            else {
                continue;
            };
            let Some(deq) = dequantized(q.interpreter(), r.index, f64::from(scale), zp) else {
                continue;
            };
            let Ok(reference) = f.values(o, i) else {
                continue;
            };
            if reference.len() != deq.len() {
                continue;
            }
            for (a, &b) in deq.iter().zip(reference) {
                let e = (a - f64::from(b)).abs();
                *sum += e * e;
                *max = max.max(e);
            }
            *count += deq.len();
        }
        progress(i + 1, n);
    }
    for (k, sum, max, count) in acc {
        if count > 0 {
            let r = &mut report.tensors[k];
            r.rmse = Some((sum / count as f64).sqrt());
            r.max_abs_error = Some(max);
        }
    }
    Ok(())
}
