//! Full integer (int8) quantization.

use crate::calibration::Ranges;
use crate::error::{QuantError, Result};
use crate::report::QuantReport;
use crate::QuantizeOptions;
use ferrolite_model::Model;

/// Quantizes `model` to int8 using calibrated `ranges`.
pub(crate) fn run(_model: &mut Model, _opts: &QuantizeOptions, _ranges: &Ranges) -> Result<QuantReport> {
    Err(QuantError::Unsupported("int8 mode is not implemented yet".into()))
}
