//! [`SampleRunner`]: ferrolite's interpreter set up to run a model one calibration sample at a
//! time with every intermediate tensor kept, for calibration and for the error report. Float
//! inputs take the samples as they are; integer inputs (int8, uint8, int16 models) get them
//! quantized exactly like TFLite's QUANTIZE kernel would.

use crate::calibration::CalibrationData;
use crate::error::{QuantError, Result};
use ferrolite_model::{DType, Model};
use ferrolite_runtime::Interpreter;

/// An interpreter set up to run one calibration sample at a time, keeping every tensor.
pub(crate) struct SampleRunner {
    interp: Interpreter,
    inputs: Vec<usize>,
}

impl SampleRunner {
    /// Loads `model` with inputs resized to the per-sample `shapes`.
    pub(crate) fn new(model: &Model, shapes: &[Vec<usize>]) -> Result<Self> {
        let run_err = |e| QuantError::CalibrationRun {
            sample: 0,
            source: Box::new(e),
        };
        let mut interp = Interpreter::from_model(model.clone()).map_err(run_err)?;
        interp.set_num_threads(1);
        interp.set_preserve_all_tensors(true);
        let inputs = model.subgraphs[0].inputs.clone();
        for (&t, shape) in inputs.iter().zip(shapes) {
            interp.resize_input_tensor(t, shape).map_err(run_err)?;
        }
        interp.allocate_tensors().map_err(run_err)?;
        Ok(SampleRunner { interp, inputs })
    }

    /// Runs sample `i` (float inputs; integer inputs are quantized with their parameters).
    pub(crate) fn run(&mut self, data: &CalibrationData, i: usize) -> Result<()> {
        let err = |e| QuantError::CalibrationRun {
            sample: i,
            source: Box::new(e),
        };
        for (k, &t) in self.inputs.clone().iter().enumerate() {
            let x = data.sample(k, i);
            let d = self.interp.tensor_details(t).map_err(err)?;
            match d.dtype {
                DType::F32 => self.interp.set_tensor(t, x).map_err(err)?,
                DType::I8 | DType::U8 | DType::I16 => {
                    let q = &d.quantization;
                    let bytes = quantize_input(x, d.dtype, q.scale, q.zero_point);
                    self.interp.set_tensor_bytes(t, &bytes).map_err(err)?
                }
                other => {
                    return Err(QuantError::BadCalibration {
                        input: k,
                        name: d.name.clone(),
                        reason: format!("cannot feed float samples to a {other} input"),
                    })
                }
            }
        }
        self.interp.invoke().map_err(err)
    }

    /// The float32 values of tensor `t` after the last run.
    pub(crate) fn values(&self, t: usize, i: usize) -> Result<&[f32]> {
        self.interp
            .tensor::<f32>(t)
            .map_err(|e| QuantError::CalibrationRun {
                sample: i,
                source: Box::new(e),
            })
    }

    /// The interpreter (for reading integer tensors).
    pub(crate) fn interpreter(&self) -> &Interpreter {
        &self.interp
    }
}

/// Float samples quantized like TFLite's QUANTIZE kernel for an integer model input.
fn quantize_input(x: &[f32], dtype: DType, scale: f32, zero_point: i64) -> Vec<u8> {
    let p = crate::params::Affine { scale, zero_point };
    match dtype {
        DType::I8 => crate::params::quantize_affine(x, p, -128, 127)
            .into_iter()
            .map(|v| v as i8 as u8)
            .collect(),
        DType::U8 => crate::params::quantize_affine(x, p, 0, 255)
            .into_iter()
            .map(|v| v as u8)
            .collect(),
        _ => crate::params::quantize_affine(x, p, -32768, 32767)
            .into_iter()
            .flat_map(|v| (v as i16).to_le_bytes())
            .collect(),
    }
}
