//! Calibration: run the float model on a representative dataset and record the range of every
//! float activation, as TF's calibrator does before full-integer quantization.
//!
//! [`CalibrationData`] holds one float32 batch per model input (`[N, ...]`, one sample per row,
//! like TF's `representative_dataset` yielding `x[i:i+1]`). [`calibrate`] checks it against the
//! model (count, shape, dtype, finiteness), runs the samples one at a time in the ferrolite
//! interpreter with every intermediate kept, and returns the [`Ranges`]: the overall min and max
//! of each float tensor an operator reads or writes.
//!
//! [`CalibrationMethod`] chooses what becomes of the values seen: TF's overall min/max (the
//! default, TF-compatible), or a clipped range from a second pass that fills a 2048-bin histogram
//! per tensor (percentile, MSE-optimal or KL/entropy; the `histogram` module states each rule).
//!
//! One TFLite detail is reproduced on purpose: TF's calibrator logs an operator's inputs again
//! after the kernel ran, and LiteRT lets ADD, SUB, MUL and DIV write their output over an input
//! that nothing else reads (the first such input of the output's size). That input's recorded
//! range therefore also covers the output's values, and TF's scales reflect it; so do ours.

use crate::error::{QuantError, Result};
use crate::graph::consumers;
use crate::histogram::{self, Histogram, BINS};
use crate::params::{int16_activation_params, int8_activation_params};
pub(crate) use crate::runner::SampleRunner;
use crate::Mode;
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{DType, Model, OpKind};
use std::fmt;

/// How a tensor's quantization range is chosen from the calibration samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum CalibrationMethod {
    /// The overall minimum and maximum (TF's calibrator; the default).
    #[default]
    MinMax,
    /// The range between the `(100 - p)`-th and `p`-th percentiles (`p` in `(0, 100]`).
    Percentile(f64),
    /// The clipping range minimizing the quantization MSE of the value histogram.
    Mse,
    /// TensorRT-style entropy calibration: minimal KL divergence, 2048-bin `|x|` histogram.
    Kl,
}

impl CalibrationMethod {
    /// True when the method needs the histogram pass.
    fn needs_histograms(self) -> bool {
        self != CalibrationMethod::MinMax
    }
}

impl fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationMethod::MinMax => f.write_str("minmax"),
            CalibrationMethod::Percentile(p) => write!(f, "percentile {p}"),
            CalibrationMethod::Mse => f.write_str("mse"),
            CalibrationMethod::Kl => f.write_str("kl"),
        }
    }
}

/// One model input's calibration samples: a float32 array `[N, ...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationInput {
    /// Label used in error messages (file and key, or `input 0`).
    pub label: String,
    /// Shape of the whole batch; dimension 0 counts the samples.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

impl CalibrationInput {
    /// Number of samples (dimension 0).
    pub fn samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Elements in one sample.
    fn sample_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// The values of sample `i`.
    fn sample(&self, i: usize) -> &[f32] {
        let n = self.sample_len();
        &self.values[i * n..(i + 1) * n]
    }
}

/// A representative dataset: one [`CalibrationInput`] per model input, all with the same
/// number of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationData {
    inputs: Vec<CalibrationInput>,
}

fn bad(input: usize, name: &str, reason: impl Into<String>) -> QuantError {
    QuantError::BadCalibration {
        input,
        name: name.to_string(),
        reason: reason.into(),
    }
}

impl CalibrationData {
    /// Data for a single-input model: `values` laid out as `shape` (`[N, ...]`).
    pub fn new(shape: Vec<usize>, values: Vec<f32>) -> Result<Self> {
        Self::from_inputs(vec![CalibrationInput {
            label: "input 0".into(),
            shape,
            values,
        }])
    }

    /// Data for a model with several inputs, in the model's input order.
    pub fn from_inputs(inputs: Vec<CalibrationInput>) -> Result<Self> {
        if inputs.is_empty() {
            return Err(bad(0, "", "no calibration arrays given"));
        }
        for (k, x) in inputs.iter().enumerate() {
            if x.shape.is_empty() {
                return Err(bad(
                    k,
                    &x.label,
                    "a 0-d array holds no samples; expected [N, ...]",
                ));
            }
            let n = ferrolite_npy::element_count(&x.shape);
            if n != Some(x.values.len()) {
                return Err(bad(
                    k,
                    &x.label,
                    format!(
                        "shape {:?} does not match {} values",
                        x.shape,
                        x.values.len()
                    ),
                ));
            }
            if x.samples() == 0 {
                return Err(bad(
                    k,
                    &x.label,
                    format!("no samples (shape {:?})", x.shape),
                ));
            }
            if x.samples() != inputs[0].samples() {
                return Err(bad(
                    k,
                    &x.label,
                    format!(
                        "{} samples, but input 0 has {}",
                        x.samples(),
                        inputs[0].samples()
                    ),
                ));
            }
            if let Some(i) = x.values.iter().position(|v| !v.is_finite()) {
                let per = x.sample_len().max(1);
                return Err(bad(
                    k,
                    &x.label,
                    format!(
                        "sample {} holds a non-finite value ({}) at flat index {i}",
                        i / per,
                        x.values[i]
                    ),
                ));
            }
        }
        Ok(CalibrationData { inputs })
    }

    /// Data from a NumPy array (read from `.npy` or an `.npz` member); it must be float32.
    pub fn from_array(array: &ferrolite_npy::Array, label: &str) -> Result<Self> {
        if array.dtype != ferrolite_npy::NpyDType::F32 {
            return Err(bad(
                0,
                label,
                format!(
                    "dtype is {}, expected float32 (convert with x.astype(np.float32))",
                    array.dtype.name()
                ),
            ));
        }
        let values = array
            .values::<f32>()
            .map_err(|e| bad(0, label, e.to_string()))?;
        Self::from_inputs(vec![CalibrationInput {
            label: label.to_string(),
            shape: array.shape.clone(),
            values,
        }])
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.inputs[0].samples()
    }

    /// The per-input arrays.
    pub fn inputs(&self) -> &[CalibrationInput] {
        &self.inputs
    }

    /// Keeps only the first `n` samples (TF's examples use 100).
    pub fn truncate(&mut self, n: usize) {
        let n = n.max(1);
        for x in &mut self.inputs {
            if x.samples() > n {
                let per = x.sample_len();
                x.values.truncate(n * per);
                x.shape[0] = n;
            }
        }
    }

    /// The values of sample `i` of input `k`.
    pub(crate) fn sample(&self, k: usize, i: usize) -> &[f32] {
        self.inputs[k].sample(i)
    }

    /// Checks the data against the model's inputs; returns each input's per-sample shape.
    pub(crate) fn check(&self, model: &Model) -> Result<Vec<Vec<usize>>> {
        let sg = &model.subgraphs[0];
        if self.inputs.len() != sg.inputs.len() {
            return Err(bad(
                0,
                &self.inputs[0].label,
                format!(
                    "the model has {} inputs but {} calibration arrays were given",
                    sg.inputs.len(),
                    self.inputs.len()
                ),
            ));
        }
        let mut shapes = Vec::new();
        for (k, (x, &t)) in self.inputs.iter().zip(&sg.inputs).enumerate() {
            let tensor = &sg.tensors[t];
            let name = &tensor.name;
            if tensor.dtype != DType::F32 {
                return Err(bad(
                    k,
                    name,
                    format!(
                        "the model input is {}; only float32 inputs can be calibrated",
                        tensor.dtype
                    ),
                ));
            }
            let sig = tensor
                .shape_signature
                .clone()
                .unwrap_or_else(|| tensor.shape.clone());
            let fits = |want: &[i32], got: &[usize]| {
                want.len() == got.len()
                    && want
                        .iter()
                        .zip(got)
                        .all(|(&w, &g)| w == -1 || w as usize == g)
            };
            let rest = &x.shape[1..];
            let sample = if fits(&sig, rest) {
                rest.to_vec()
            } else if matches!(sig.first(), Some(1) | Some(-1)) && fits(&sig[1..], rest) {
                [&[1usize][..], rest].concat()
            } else {
                return Err(bad(
                    k,
                    name,
                    format!(
                        "data shape {:?} does not fit the model input {:?} (signature {:?}); \
                         expected [N, ...] with one sample per row",
                        x.shape, tensor.shape, sig
                    ),
                ));
            };
            shapes.push(sample);
        }
        Ok(shapes)
    }
}

/// Recorded activation ranges of the main subgraph, indexed by tensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ranges {
    /// `(min, max)` per tensor index; `None` when the tensor was not observed.
    pub ranges: Vec<Option<(f32, f32)>>,
    /// Number of calibration samples behind the ranges (0 when read from a model).
    pub samples: usize,
}

impl Ranges {
    /// The range of tensor `t`.
    pub fn get(&self, t: usize) -> Option<(f32, f32)> {
        self.ranges.get(t).copied().flatten()
    }

    /// Ranges already stored in a model's tensors (`quantization.min/max`, as TF's calibrator
    /// or quantization-aware training leave them).
    pub fn from_model(model: &Model) -> Self {
        let ranges = model.subgraphs[0]
            .tensors
            .iter()
            .map(|t| {
                let q = t.quantization.as_ref()?;
                Some((*q.min.first()?, *q.max.first()?))
            })
            .collect();
        Ranges { ranges, samples: 0 }
    }

    fn widen(&mut self, t: usize, other: (f32, f32)) {
        if let Some(r) = self.ranges[t].as_mut() {
            r.0 = r.0.min(other.0);
            r.1 = r.1.max(other.1);
        }
    }
}

/// Runs `model` on every sample of `data` and records the range of each float activation.
pub fn calibrate(model: &Model, data: &CalibrationData) -> Result<Ranges> {
    calibrate_with_progress(model, data, &mut |_, _| {})
}

/// [`calibrate`], calling `progress(done, total)` after each sample (for progress bars).
pub fn calibrate_with_progress(
    model: &Model,
    data: &CalibrationData,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Ranges> {
    calibrate_with(model, data, CalibrationMethod::MinMax, Mode::Int8, progress)
}

/// Runs `model` on every sample of `data` once (twice for the histogram methods) and returns
/// each float activation's range as `method` chooses it for quantization `mode` (int8 or
/// int16x8 parameters); `progress(done, total)` is called after each run.
pub fn calibrate_with(
    model: &Model,
    data: &CalibrationData,
    method: CalibrationMethod,
    mode: Mode,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Ranges> {
    if let CalibrationMethod::Percentile(p) = method {
        if !(p > 0.0 && p <= 100.0) {
            return Err(QuantError::Unsupported(format!(
                "percentile {p} is outside (0, 100]"
            )));
        }
    }
    let sg = model
        .subgraphs
        .first()
        .ok_or_else(|| QuantError::Unsupported("the model has no subgraph".into()))?;
    let shapes = data.check(model)?;
    let mut interp = SampleRunner::new(model, &shapes)?;
    // What TF's calibrator logs: float32 non-constant operands of some operator.
    let mut logged = vec![false; sg.tensors.len()];
    for op in &sg.operators {
        for t in op.inputs.iter().chain(&op.outputs).flatten() {
            let tensor = &sg.tensors[*t];
            logged[*t] |= tensor.dtype == DType::F32 && tensor.data.is_none();
        }
    }
    let logged: Vec<usize> = (0..sg.tensors.len()).filter(|&t| logged[t]).collect();
    let n = data.samples();
    let passes = if method.needs_histograms() { 2 } else { 1 };
    let mut ranges = Ranges {
        ranges: vec![None; sg.tensors.len()],
        samples: n,
    };
    for i in 0..n {
        interp.run(data, i)?;
        for &t in &logged {
            let values = interp.values(t, i)?;
            if values.iter().any(|v| v.is_nan()) {
                return Err(QuantError::tensor(
                    sg,
                    t,
                    format!("became NaN on calibration sample {i}"),
                ));
            }
            if values.is_empty() {
                continue;
            }
            let (lo, hi) = values
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let r = ranges.ranges[t].get_or_insert((lo, hi));
            r.0 = r.0.min(lo);
            r.1 = r.1.max(hi);
        }
        progress(i + 1, passes * n);
    }
    if method.needs_histograms() {
        let mut hists: Vec<(usize, Histogram, Histogram)> = logged
            .iter()
            .filter_map(|&t| ranges.get(t).map(|r| (t, r)))
            .filter(|(_, (lo, hi))| lo.is_finite() && hi.is_finite())
            .map(|(t, (lo, hi))| {
                let amax = lo.abs().max(hi.abs());
                (
                    t,
                    Histogram::new(lo, hi, BINS),
                    Histogram::new(0.0, amax, BINS),
                )
            })
            .collect();
        for i in 0..n {
            interp.run(data, i)?;
            for (t, values, abs) in hists.iter_mut() {
                let v = interp.values(*t, i)?;
                values.add(v.iter().copied());
                if method == CalibrationMethod::Kl {
                    abs.add(v.iter().map(|x| x.abs()));
                }
            }
            progress(n + i + 1, passes * n);
        }
        for (t, values, abs) in &hists {
            ranges.ranges[*t] = Some(clipped(method, mode, values, abs));
        }
    }
    apply_in_place_sharing(model, &mut ranges);
    Ok(ranges)
}

/// The range `method` picks from a tensor's value and `|value|` histograms.
fn clipped(
    method: CalibrationMethod,
    mode: Mode,
    values: &Histogram,
    abs: &Histogram,
) -> (f32, f32) {
    let int16 = mode == Mode::Int16x8;
    match method {
        CalibrationMethod::MinMax => (values.lo, values.hi),
        CalibrationMethod::Percentile(p) => histogram::percentile_range(values, p),
        CalibrationMethod::Mse if int16 => {
            histogram::mse_range(values, &int16_activation_params, -32767, 32767)
        }
        CalibrationMethod::Mse => histogram::mse_range(values, &int8_activation_params, -128, 127),
        CalibrationMethod::Kl => {
            // Levels available on the tensor's side(s) of zero: int8 spends all 256 on a
            // one-signed tensor, 128 per side otherwise; int16 has more than the bins.
            let one_sided = values.lo >= 0.0 || values.hi <= 0.0;
            let levels = match (int16, one_sided) {
                (true, _) => usize::MAX,
                (false, true) => 255,
                (false, false) => 128,
            };
            let t = histogram::kl_threshold(abs, levels);
            (values.lo.max(-t), values.hi.min(t))
        }
    }
}

/// Widens the range of each input LiteRT would overwrite in place with an ADD/SUB/MUL/DIV
/// output (see the module docs).
fn apply_in_place_sharing(model: &Model, ranges: &mut Ranges) {
    let sg = &model.subgraphs[0];
    let uses = consumers(sg);
    // The input is logged right after its own operator ran, so it sees that operator's output,
    // not what later in-place operators write over the same memory.
    let recorded = ranges.clone();
    for op in &sg.operators {
        if !matches!(op.kind, OpKind::Builtin(B::Add | B::Sub | B::Mul | B::Div)) {
            continue;
        }
        let Some(out) = op.outputs.first().copied().flatten() else {
            continue;
        };
        let out_len = sg.tensors[out].element_count();
        let Some(out_range) = recorded.get(out) else {
            continue;
        };
        let shared = op.inputs.iter().take(2).flatten().copied().find(|&t| {
            let tensor = &sg.tensors[t];
            tensor.dtype == DType::F32
                && tensor.data.is_none()
                && !tensor.is_variable
                && uses[t].len() == 1
                && !sg.inputs.contains(&t)
                && !sg.outputs.contains(&t)
                && tensor.element_count() == out_len
        });
        if let Some(t) = shared {
            ranges.widen(t, out_range);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolite_model::{Operator, Subgraph, Tensor};

    #[test]
    fn in_place_add_widens_its_only_use_input() {
        // 0 (input) → RELU → 1; 1 and 2 = RELU(1) feed ADD → 3; 1 is also read by ADD's
        // neighbour, so only 2 (one reader, same size) can be overwritten in place.
        let t = |n: &str| Tensor::new(n, DType::F32, vec![1, 4]);
        let op = |k, i: &[usize], o: usize| {
            Operator::new(k, i.iter().map(|&t| Some(t)).collect(), vec![Some(o)])
        };
        let sg = Subgraph {
            tensors: vec![t("in"), t("a"), t("b"), t("sum")],
            inputs: vec![0],
            outputs: vec![3],
            operators: vec![
                op(B::Relu, &[0], 1),
                op(B::Relu, &[1], 2),
                op(B::Add, &[1, 2], 3),
            ],
            ..Default::default()
        };
        let model = Model {
            subgraphs: vec![sg],
            ..Default::default()
        };
        let mut ranges = Ranges {
            ranges: vec![
                Some((0.0, 1.0)),
                Some((0.0, 1.0)),
                Some((0.0, 0.5)),
                Some((0.0, 1.5)),
            ],
            samples: 1,
        };
        apply_in_place_sharing(&model, &mut ranges);
        assert_eq!(ranges.get(1), Some((0.0, 1.0)), "read twice: never shared");
        assert_eq!(ranges.get(2), Some((0.0, 1.5)), "overwritten by the sum");
        assert_eq!(ranges.get(3), Some((0.0, 1.5)));
    }
}
