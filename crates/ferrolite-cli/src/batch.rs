//! Running a model over a float dataset in batches, as a user of the Python API would: float
//! inputs quantized with the model's input parameters (TFLite's QUANTIZE rounding), a dynamic
//! batch resized once, and outputs dequantized to float.

use anyhow::{bail, Context, Result};
use ferrolite_model::DType;
use ferrolite_runtime::kernels::quantize::quantize;
use ferrolite_runtime::{Interpreter, TensorDetails};
use std::path::Path;

/// A loaded model ready to run float batches.
pub struct BatchRunner {
    interp: Interpreter,
    input: TensorDetails,
    outputs: Vec<TensorDetails>,
    batch: usize,
}

/// Outputs of a whole dataset: one flat float vector per model output, samples in order.
pub struct BatchOutputs {
    /// Per output: `n × per_sample[k]` values.
    pub values: Vec<Vec<f32>>,
    /// Per output: values per sample.
    pub per_sample: Vec<usize>,
}

impl BatchRunner {
    /// Loads `path` for batches of up to `preferred_batch` samples of shape `sample_shape`.
    ///
    /// A model whose input batch dimension is dynamic (-1 in the signature) is resized to the
    /// preferred batch; otherwise its own batch size is used.
    pub fn new(
        path: &Path,
        threads: Option<usize>,
        preferred_batch: usize,
        sample_shape: &[usize],
    ) -> Result<Self> {
        let mut interp = crate::source::interpreter(path)?;
        if let Some(t) = threads {
            interp.set_num_threads(t);
        }
        let inputs = interp.input_details();
        let [input] = inputs.as_slice() else {
            bail!(
                "{} has {} inputs; batch evaluation needs exactly one",
                path.display(),
                inputs.len()
            );
        };
        let expected = &input.shape[1..];
        if input.shape.is_empty() || expected != sample_shape {
            bail!(
                "{}: input '{}' takes samples of shape {:?}, the data has {:?}",
                path.display(),
                input.name,
                expected,
                sample_shape
            );
        }
        let dynamic = input.shape_signature.first() == Some(&-1);
        let batch = if dynamic {
            preferred_batch.max(1)
        } else {
            input.shape[0].max(1)
        };
        if dynamic {
            let mut shape = input.shape.clone();
            shape[0] = batch;
            interp.resize_input_tensor(input.index, &shape)?;
        }
        interp
            .allocate_tensors()
            .with_context(|| format!("cannot prepare {}", path.display()))?;
        let input = interp.input_details().remove(0);
        let outputs = interp.output_details();
        Ok(BatchRunner {
            interp,
            input,
            outputs,
            batch,
        })
    }

    /// The interpreter (for arena size and details).
    pub fn interpreter(&self) -> &Interpreter {
        &self.interp
    }

    /// Samples per invoke.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Runs `n` samples stored contiguously in `x`; `progress` is told how many are done.
    pub fn run(
        &mut self,
        x: &[f32],
        n: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<BatchOutputs> {
        let per_in = self.input.shape[1..].iter().product::<usize>();
        let per_sample: Vec<usize> = self
            .outputs
            .iter()
            .map(|o| o.shape.iter().skip(1).product::<usize>())
            .collect();
        let mut values: Vec<Vec<f32>> = per_sample
            .iter()
            .map(|p| Vec::with_capacity(p * n))
            .collect();
        let mut chunk = vec![0.0f32; per_in * self.batch];
        let mut start = 0;
        while start < n {
            let take = (n - start).min(self.batch);
            chunk.fill(0.0);
            chunk[..take * per_in].copy_from_slice(&x[start * per_in..(start + take) * per_in]);
            let bytes = quantize_input(&chunk, &self.input)?;
            self.interp.set_tensor_bytes(self.input.index, &bytes)?;
            self.interp.invoke()?;
            for (k, o) in self.outputs.iter().enumerate() {
                let raw = self.interp.tensor_bytes(o.index)?;
                let floats = dequantize_output(raw, o)?;
                values[k].extend_from_slice(&floats[..take * per_sample[k]]);
            }
            start += take;
            progress(start);
        }
        Ok(BatchOutputs { values, per_sample })
    }
}

/// Converts float samples to the input tensor's bytes: float32 as is, int8/uint8 quantized with
/// `round(x / scale) + zero_point` (f32 division, halves away from zero, clamped), as TFLite's
/// QUANTIZE kernel and the usual Python recipe do.
pub fn quantize_input(x: &[f32], input: &TensorDetails) -> Result<Vec<u8>> {
    let q = &input.quantization;
    let zero_point = i32::try_from(q.zero_point)?;
    match input.dtype {
        DType::F32 => Ok(x.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::I8 | DType::U8 if q.scale <= 0.0 => {
            bail!("input '{}' is {} but has no quantization scale", input.name, input.dtype)
        }
        // The runtime's QUANTIZE kernel: the same rounding LiteRT applies.
        DType::I8 => {
            let mut out = vec![0i8; x.len()];
            quantize(x, q.scale, zero_point, &mut out);
            Ok(out.iter().map(|&v| v as u8).collect())
        }
        DType::U8 => {
            let mut out = vec![0u8; x.len()];
            quantize(x, q.scale, zero_point, &mut out);
            Ok(out)
        }
        d => bail!(
            "input '{}' has dtype {d}; only float32, int8 and uint8 inputs can be fed from float data",
            input.name
        ),
    }
}

/// Converts an output tensor's bytes to floats (dequantizing int8/uint8 outputs).
pub fn dequantize_output(raw: &[u8], output: &TensorDetails) -> Result<Vec<f32>> {
    let q = &output.quantization;
    let deq = |v: i32| (v as f32 - q.zero_point as f32) * q.scale;
    match output.dtype {
        DType::F32 => Ok(raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        DType::I8 => Ok(raw.iter().map(|&b| deq(i32::from(b as i8))).collect()),
        DType::U8 => Ok(raw.iter().map(|&b| deq(i32::from(b))).collect()),
        d => bail!(
            "output '{}' has dtype {d}; only float32, int8 and uint8 outputs can be compared",
            output.name
        ),
    }
}

/// Index of the largest value (first on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolite_runtime::QuantizationDetails;

    fn details(dtype: DType, scale: f32, zero_point: i64) -> TensorDetails {
        TensorDetails {
            name: "x".into(),
            index: 0,
            shape: vec![1, 4],
            shape_signature: vec![-1, 4],
            dtype,
            quantization: QuantizationDetails {
                scale,
                zero_point,
                ..Default::default()
            },
        }
    }

    #[test]
    fn int8_inputs_round_half_away_from_zero_and_clamp() {
        let d = details(DType::I8, 0.5, -1);
        let q = quantize_input(&[0.25, -0.25, 100.0, -100.0], &d).unwrap();
        let q: Vec<i8> = q.iter().map(|&b| b as i8).collect();
        assert_eq!(q, [0, -2, 127, -128]);
        let back = dequantize_output(&[2u8, 0xfe], &details(DType::I8, 0.5, -1)).unwrap();
        assert_eq!(back, [1.5, -0.5]);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
    }
}
