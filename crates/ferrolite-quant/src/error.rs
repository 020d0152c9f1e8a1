//! [`QuantError`], the one error type of `ferrolite-quant`.
//!
//! Every variant names what is at fault (the operator, the tensor, the calibration input) so a
//! user can tell which layer or which file to look at without a debugger.

use ferrolite_model::ModelError;
use ferrolite_runtime::RuntimeError;

/// Result alias for this crate.
pub type Result<T, E = QuantError> = std::result::Result<T, E>;

/// Why a model could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The input model is invalid (or the quantized model failed validation).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The requested mode needs a representative dataset and none was given.
    #[error(
        "{mode} quantization needs calibration data (a representative dataset of model inputs)"
    )]
    CalibrationRequired {
        /// The mode that needs it.
        mode: &'static str,
    },
    /// The calibration data does not fit the model (shape, dtype, count) or holds NaN/Inf.
    #[error("bad calibration data for input {input} ('{name}'): {reason}")]
    BadCalibration {
        /// Which model input (position in the input list).
        input: usize,
        /// The input tensor's name (or the data's own label when no model is involved).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Running the float model on a calibration sample failed.
    #[error("calibration run failed on sample {sample}: {source}")]
    CalibrationRun {
        /// Index of the sample being run.
        sample: usize,
        /// The interpreter's error.
        #[source]
        source: Box<RuntimeError>,
    },
    /// An operator cannot be quantized in the requested mode.
    #[error("operator {op_index} ({op}) cannot be quantized: {reason}")]
    UnsupportedOp {
        /// Position of the operator in execution order.
        op_index: usize,
        /// Operator name (`CONV_2D`, or the custom code).
        op: String,
        /// Why.
        reason: String,
    },
    /// A tensor's contents or description prevent quantization (non-finite weights, bad data
    /// length, sparse encoding, missing calibration range).
    #[error("tensor {index} ('{name}'): {reason}")]
    Tensor {
        /// Tensor index in the main subgraph.
        index: usize,
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The model or the options ask for something this crate does not do (yet).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl QuantError {
    /// A [`QuantError::Tensor`] for tensor `index` of `sg`.
    pub(crate) fn tensor(
        sg: &ferrolite_model::Subgraph,
        index: usize,
        reason: impl Into<String>,
    ) -> Self {
        QuantError::Tensor {
            index,
            name: sg
                .tensors
                .get(index)
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            reason: reason.into(),
        }
    }

    /// A [`QuantError::UnsupportedOp`] for operator `op_index` of `sg`.
    pub(crate) fn op(
        sg: &ferrolite_model::Subgraph,
        op_index: usize,
        reason: impl Into<String>,
    ) -> Self {
        QuantError::UnsupportedOp {
            op_index,
            op: sg
                .operators
                .get(op_index)
                .map(|o| o.kind.name())
                .unwrap_or_default(),
            reason: reason.into(),
        }
    }
}
