//! Post-training quantization of ferrolite models, in the open.
//!
//! [`quantize`] rewrites a float [`Model`] in one of four modes and returns the new model with a
//! [`QuantReport`] listing every tensor it changed and the parameters it chose:
//!
//! - [`Mode::Float16`]: float32 constants stored as float16, expanded by DEQUANTIZE at run time.
//! - [`Mode::Dynamic`]: weights of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and BATCH_MATMUL
//!   stored as int8; the operators run LiteRT's hybrid kernels (float activations).
//! - [`Mode::Int8`]: full integer quantization calibrated on a representative dataset
//!   ([`CalibrationData`]); int8 activations and weights, int32 biases.
//! - [`Mode::Int16x8`]: int16 symmetric activations, int8 weights, int64 biases (TF's
//!   `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`).
//!
//! Each mode follows TensorFlow 2.21's converter rule for rule (thresholds, per-channel axes,
//! rounding, operator versions), so a model quantized here matches TF's own output for the same
//! float model; the module docs of each pass list the rules. Beyond TF: the calibration range
//! can be clipped ([`CalibrationMethod`]: percentile, MSE, KL), operators without an integer
//! rule can stay float between DEQUANTIZE / QUANTIZE ([`QuantizeOptions::allow_float_fallback`]),
//! chosen layers can be kept float ([`QuantizeOptions::keep_float`]), and [`measure_errors`]
//! puts each quantized tensor's error against the float model in the report.
//!
//! ```no_run
//! use ferrolite_quant::{quantize, Mode, QuantizeOptions};
//! let model = ferrolite_model::read_file("model.tflite")?;
//! let (q, report) = quantize(&model, &QuantizeOptions::new(Mode::Dynamic), None)?;
//! ferrolite_model::write_file(&q, "model_dynamic.tflite")?;
//! println!("{} weights quantized", report.tensors.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod calibration;
mod dynamic;
pub mod error;
mod float16;
mod graph;
mod histogram;
mod int8;
pub mod params;
pub mod report;
mod runner;
mod sample_dir;
mod versions;

pub use calibration::{
    calibrate, calibrate_with, calibrate_with_progress, CalibrationData, CalibrationInput,
    CalibrationMethod, Ranges,
};
pub use error::{QuantError, Result};
pub use report::{measure_errors, QuantReport, Role, TensorReport};

use ferrolite_model::{DType, Model};
use std::fmt;

/// Which quantization to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// float32 constants → float16 + DEQUANTIZE.
    Float16,
    /// Dynamic-range: int8 weights, float activations (hybrid kernels).
    Dynamic,
    /// Full integer: int8 weights and activations, calibrated.
    Int8,
    /// int16 activations, int8 weights, int64 biases, calibrated.
    Int16x8,
}

impl Mode {
    /// Lower-case name (`float16`, `dynamic`, `int8`, `int16x8`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Float16 => "float16",
            Mode::Dynamic => "dynamic",
            Mode::Int8 => "int8",
            Mode::Int16x8 => "int16x8",
        }
    }

    /// True for the calibrated integer modes (int8, int16x8).
    pub fn is_integer(self) -> bool {
        matches!(self, Mode::Int8 | Mode::Int16x8)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Element type of the model's inputs and outputs in the integer modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// Keep float32 inputs/outputs: QUANTIZE after each input, DEQUANTIZE before each output.
    Float,
    /// int8 inputs and outputs (int8 mode; the caller quantizes with the input's parameters).
    Int8,
    /// uint8 inputs and outputs (int8 mode): QUANTIZE uint8→int8 after each input and
    /// int8→uint8 before each output, zero points shifted by 128, as TF's
    /// `inference_input_type=tf.uint8`.
    Uint8,
    /// int16 inputs and outputs (int16x8 mode).
    Int16,
}

impl Io {
    /// Lower-case name (`float`, `int8`, `uint8`, `int16`).
    pub fn name(self) -> &'static str {
        match self {
            Io::Float => "float",
            Io::Int8 => "int8",
            Io::Uint8 => "uint8",
            Io::Int16 => "int16",
        }
    }
}

/// Options of [`quantize`].
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeOptions {
    /// The quantization mode.
    pub mode: Mode,
    /// Input/output type for the integer modes (ignored by the others).
    pub io: Io,
    /// Dynamic mode: weights with fewer elements stay float (TF's default is 1024).
    pub min_elements: usize,
    /// Integer modes: how activation ranges are chosen (min/max by default, as TF).
    pub calibration: CalibrationMethod,
    /// Integer modes: operators without an integer rule stay float, with DEQUANTIZE / QUANTIZE
    /// around them, instead of failing (TF's "not all integer" conversion).
    pub allow_float_fallback: bool,
    /// Integer modes: operators to keep float, named by an output tensor name or an operator
    /// type (`SOFTMAX`, case-insensitive).
    pub keep_float: Vec<String>,
}

impl QuantizeOptions {
    /// Options for `mode` with TF's defaults (float I/O, `min_elements` 1024, min/max
    /// calibration, no float fallback).
    pub fn new(mode: Mode) -> Self {
        QuantizeOptions {
            mode,
            io: Io::Float,
            min_elements: 1024,
            calibration: CalibrationMethod::MinMax,
            allow_float_fallback: false,
            keep_float: Vec::new(),
        }
    }
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions::new(Mode::Int8)
    }
}

/// Refuses models that already hold quantized activations (quantizing twice is a mistake).
fn check_float_model(model: &Model) -> Result<()> {
    let sg = model
        .subgraphs
        .first()
        .ok_or_else(|| QuantError::Unsupported("the model has no subgraph".into()))?;
    for (i, t) in sg.tensors.iter().enumerate() {
        let quantized_type = matches!(t.dtype, DType::I8 | DType::U8 | DType::I16);
        if t.data.is_none()
            && quantized_type
            && t.quantization.as_ref().is_some_and(|q| !q.scale.is_empty())
        {
            return Err(QuantError::tensor(
                sg,
                i,
                "is already a quantized activation; quantize the float model instead",
            ));
        }
    }
    Ok(())
}

/// Quantizes `model` as `opts` says. [`Mode::Int8`] needs `calibration` (a representative
/// dataset for the model's inputs); the other modes ignore it.
pub fn quantize(
    model: &Model,
    opts: &QuantizeOptions,
    calibration: Option<&CalibrationData>,
) -> Result<(Model, QuantReport)> {
    quantize_with_progress(model, opts, calibration, &mut |_, _| {})
}

/// [`quantize`], calling `progress(done, total)` after each calibration sample.
pub fn quantize_with_progress(
    model: &Model,
    opts: &QuantizeOptions,
    calibration: Option<&CalibrationData>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(Model, QuantReport)> {
    check_float_model(model)?;
    match opts.mode {
        Mode::Int8 | Mode::Int16x8 => {
            let data = calibration.ok_or(QuantError::CalibrationRequired {
                mode: opts.mode.name(),
            })?;
            let ranges = calibrate_with(model, data, opts.calibration, opts.mode, progress)?;
            quantize_calibrated(model, opts, &ranges)
        }
        Mode::Float16 | Mode::Dynamic => {
            let mut out = model.clone();
            let mut report = QuantReport {
                mode: opts.mode.name().into(),
                io: Io::Float.name().into(),
                ..Default::default()
            };
            if opts.mode == Mode::Float16 {
                float16::run(&mut out, &mut report)?;
            } else {
                dynamic::run(&mut out, opts, &mut report)?;
            }
            finish(&mut out)?;
            Ok((out, report))
        }
    }
}

/// Full integer quantization (int8 or int16x8) from activation ranges already measured (by
/// [`calibrate_with`], or read from a model whose tensors carry min/max with
/// [`Ranges::from_model`]).
pub fn quantize_calibrated(
    model: &Model,
    opts: &QuantizeOptions,
    ranges: &Ranges,
) -> Result<(Model, QuantReport)> {
    check_float_model(model)?;
    if !opts.mode.is_integer() {
        return Err(QuantError::Unsupported(format!(
            "quantize_calibrated is for int8 and int16x8 modes, not {}",
            opts.mode
        )));
    }
    let mut out = model.clone();
    let mut report = int8::run(&mut out, opts, ranges)?;
    report.calibration_samples = ranges.samples;
    report.calibration = opts.calibration.to_string();
    if opts.mode == Mode::Int16x8 {
        // TF's legacy quantizer leaves min_runtime_version alone.
        int8::stamp_legacy_versions(&mut out);
        ferrolite_model::validate(&out)?;
    } else {
        finish(&mut out)?;
    }
    Ok((out, report))
}

/// Stamps operator versions and the runtime-version metadata, then validates the result.
fn finish(model: &mut Model) -> Result<()> {
    versions::stamp_versions(model);
    versions::update_min_runtime_version(model);
    ferrolite_model::validate(model)?;
    Ok(())
}
