//! The [`Interpreter`]: load a model, allocate, set inputs, invoke, read outputs.
//!
//! `allocate_tensors` does all the checking up front: every operator is matched to a kernel,
//! its operand dtypes, shapes, options and version are validated, output shapes are inferred,
//! values computable without inputs (shape arithmetic, constants) are folded, and the activation
//! arena is planned. `invoke` then only runs kernels.

mod prepare;
mod signature;
mod state;

pub use signature::SignatureRunner;

use crate::error::{Result, RuntimeError};
use crate::kernels::simd::parallel;
use crate::tensor::{cast, cast_mut, AlignedBytes, Element};
use ferrolite_model::{Bytes, DType, Model};
use prepare::Preparer;
use state::{run_step, storage_bytes, Allocated, Storage};
use std::collections::HashMap;
use std::path::Path;

/// Options for building an interpreter.
#[derive(Debug, Clone)]
pub struct InterpreterOptions {
    /// Threads the conv / depthwise / fully-connected kernels may split their output tiles
    /// across during `invoke` (results are identical for every value).
    pub num_threads: usize,
    /// Keep every intermediate tensor readable after `invoke` (no arena reuse), as TFLite's
    /// `experimental_preserve_all_tensors`; calibration and per-layer error reports need it.
    pub preserve_all_tensors: bool,
    /// Most bytes `allocate_tensors` may take for the arena plus values folded at prepare time
    /// (`None`: no limit); beyond it, [`RuntimeError::Memory`] instead of an allocation.
    /// Allocation failures are errors whatever this says.
    pub max_memory_bytes: Option<usize>,
}

impl Default for InterpreterOptions {
    fn default() -> Self {
        InterpreterOptions {
            num_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            preserve_all_tensors: false,
            max_memory_bytes: None,
        }
    }
}

/// Time spent in one operator during [`Interpreter::invoke_profiled`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpTiming {
    /// Position of the operator in the model's execution order.
    pub op_index: usize,
    /// Operator name.
    pub op: String,
    /// Wall time of its kernel.
    pub duration: std::time::Duration,
}

/// Quantization of a tensor as `input_details()` reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantizationDetails {
    /// Per-tensor scale (the first scale; 0 when unquantized).
    pub scale: f32,
    /// Per-tensor zero point.
    pub zero_point: i64,
    /// All scales (one per channel when per-channel).
    pub scales: Vec<f32>,
    /// All zero points.
    pub zero_points: Vec<i64>,
    /// Channel dimension when per-channel.
    pub quantized_dimension: i32,
}

/// What `input_details()` / `output_details()` report for one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDetails {
    /// Tensor name.
    pub name: String,
    /// Tensor index in the subgraph.
    pub index: usize,
    /// Current shape (after any resize).
    pub shape: Vec<usize>,
    /// Shape with -1 for dynamic dims.
    pub shape_signature: Vec<i32>,
    /// Element type.
    pub dtype: DType,
    /// Quantization parameters.
    pub quantization: QuantizationDetails,
}

/// Runs one `.tflite` model.
///
/// ```
/// use ferrolite_runtime::Interpreter;
/// // A digits classifier from the repository's fixtures (input [-1, 8, 8, 1], 10 classes).
/// let mut interp = Interpreter::from_file("../../tests/fixtures/mlp/mlp_float32.tflite")?;
/// let input = interp.input_details()[0].clone();
/// interp.resize_input_tensor(input.index, &[2, 8, 8, 1])?; // the batch is dynamic
/// interp.allocate_tensors()?;
/// interp.set_tensor(input.index, &vec![0.5f32; 2 * 64])?;
/// interp.invoke()?;
/// let out = interp.output_details()[0].clone();
/// assert_eq!(out.shape, [2, 10]);
/// let probs: &[f32] = interp.tensor(out.index)?; // a view into the arena, no copy
/// assert!((probs[..10].iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// # Ok::<(), ferrolite_runtime::RuntimeError>(())
/// ```
#[derive(Debug)]
pub struct Interpreter {
    model: Model,
    options: InterpreterOptions,
    resized: HashMap<usize, Vec<usize>>,
    state: Option<Allocated>,
    /// Set when output shapes depend on input *values*: inputs are staged here and the model is
    /// prepared again at every `invoke`.
    staged_inputs: Option<HashMap<usize, AlignedBytes>>,
}

impl Interpreter {
    /// Loads a model from a file (memory-mapped; weights are not copied).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::new(ferrolite_model::read_file(path)?))
    }

    /// Loads a model from bytes.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Result<Self> {
        Ok(Self::new(ferrolite_model::read_bytes(bytes)?))
    }

    /// Wraps an in-memory model (validated again here).
    pub fn from_model(model: Model) -> Result<Self> {
        ferrolite_model::validate(&model)?;
        Ok(Self::new(model))
    }

    fn new(model: Model) -> Self {
        Interpreter {
            model,
            options: InterpreterOptions::default(),
            resized: HashMap::new(),
            state: None,
            staged_inputs: None,
        }
    }

    /// Caps the memory `allocate_tensors` may take (arena plus values folded at prepare time);
    /// a model needing more gets [`RuntimeError::Memory`] naming its largest tensor. Takes effect
    /// at the next `allocate_tensors`.
    pub fn set_memory_limit(&mut self, max_bytes: Option<usize>) {
        self.options.max_memory_bytes = max_bytes;
        self.state = None;
    }

    /// Sets the thread count (at least 1; takes effect at the next `allocate_tensors`). Outputs
    /// do not depend on it.
    pub fn set_num_threads(&mut self, n: usize) {
        self.options.num_threads = n.max(1);
        self.state = None;
    }

    /// Keeps every intermediate tensor readable after `invoke` (takes effect at the next
    /// `allocate_tensors`; the arena then holds all tensors at once).
    pub fn set_preserve_all_tensors(&mut self, keep: bool) {
        self.options.preserve_all_tensors = keep;
        self.state = None;
    }

    /// The thread count.
    pub fn num_threads(&self) -> usize {
        self.options.num_threads
    }

    /// The model being run.
    pub fn model(&self) -> &Model {
        &self.model
    }

    fn main(&self) -> &ferrolite_model::Subgraph {
        &self.model.subgraphs[0]
    }

    /// Changes the shape of input `index` (a tensor index); call `allocate_tensors` again after.
    pub fn resize_input_tensor(&mut self, index: usize, shape: &[usize]) -> Result<()> {
        let sg = self.main();
        if !sg.inputs.contains(&index) {
            return Err(RuntimeError::Tensor {
                index,
                reason: "is not an input of the model".into(),
            });
        }
        let t = &sg.tensors[index];
        let sig = t.shape_signature.clone().unwrap_or_else(|| t.shape.clone());
        let fits = sig.len() == shape.len()
            && sig
                .iter()
                .zip(shape)
                .all(|(&s, &d)| s == -1 || s as usize == d);
        if !fits {
            return Err(RuntimeError::Mismatch {
                name: t.name.clone(),
                index,
                expected: format!("a shape matching signature {sig:?}"),
                got: format!("{shape:?}"),
            });
        }
        self.resized.insert(index, shape.to_vec());
        self.state = None;
        Ok(())
    }

    fn details(&self, index: usize) -> TensorDetails {
        let t = &self.main().tensors[index];
        let shape = match &self.state {
            Some(s) => s.tensors[index].shape.clone(),
            None => self
                .resized
                .get(&index)
                .cloned()
                .unwrap_or_else(|| t.shape.iter().map(|&d| d as usize).collect()),
        };
        let quantization = t
            .quantization
            .as_ref()
            .map(|q| QuantizationDetails {
                scale: q.scale.first().copied().unwrap_or(0.0),
                zero_point: q.zero_point.first().copied().unwrap_or(0),
                scales: q.scale.clone(),
                zero_points: q.zero_point.clone(),
                quantized_dimension: q.quantized_dimension,
            })
            .unwrap_or_default();
        TensorDetails {
            name: t.name.clone(),
            index,
            shape,
            shape_signature: t.shape_signature.clone().unwrap_or_else(|| t.shape.clone()),
            dtype: t.dtype,
            quantization,
        }
    }

    /// Details of the model's inputs, in order.
    pub fn input_details(&self) -> Vec<TensorDetails> {
        self.main()
            .inputs
            .iter()
            .map(|&i| self.details(i))
            .collect()
    }

    /// Details of the model's outputs, in order.
    pub fn output_details(&self) -> Vec<TensorDetails> {
        self.main()
            .outputs
            .iter()
            .map(|&i| self.details(i))
            .collect()
    }

    /// Details of any tensor of the main subgraph.
    pub fn tensor_details(&self, index: usize) -> Result<TensorDetails> {
        if index >= self.main().tensors.len() {
            return Err(RuntimeError::Tensor {
                index,
                reason: "does not exist".into(),
            });
        }
        Ok(self.details(index))
    }

    /// Bytes of the activation arena (0 before `allocate_tensors`).
    pub fn arena_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.arena_bytes)
    }

    /// Bytes of values computed once at `allocate_tensors` and kept outside the arena: folded
    /// constants, notably the f32 copies of float16 (or int8) weights behind a constant
    /// DEQUANTIZE (0 before `allocate_tensors`).
    pub fn folded_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, |s| s.folded_bytes)
    }

    /// Bytes of weights the kernels packed at `allocate_tensors` (CONV_2D / FULLY_CONNECTED
    /// panels for the SIMD GEMMs), held for the interpreter's lifetime next to the arena and
    /// [`Interpreter::folded_bytes`] (0 before `allocate_tensors`).
    pub fn persistent_bytes(&self) -> usize {
        self.state.as_ref().map_or(0, Allocated::persistent_bytes)
    }

    /// Validates every operator, infers shapes, folds constants and plans memory.
    ///
    /// When an operator's output shape depends on an input's *value* (FILL with runtime dims,
    /// RANGE with runtime limits), the model is prepared again at each `invoke` instead, once the
    /// inputs are known; [`Interpreter::has_value_dependent_shapes`] then returns true.
    pub fn allocate_tensors(&mut self) -> Result<()> {
        self.state = None;
        self.staged_inputs = None;
        let prepared = Preparer::new(
            &self.model,
            &self.resized,
            self.options.preserve_all_tensors,
        )
        .with_memory_limit(self.options.max_memory_bytes)
        .run();
        match prepared {
            Ok(state) => self.state = Some(state),
            Err(RuntimeError::NeedsValue { .. }) => {
                let mut staged = HashMap::new();
                for d in self.input_details() {
                    let elements = d.shape.iter().product();
                    let bytes = d
                        .dtype
                        .byte_len(elements)
                        .ok_or_else(|| RuntimeError::Tensor {
                            index: d.index,
                            reason: format!("dtype {} cannot be an input", d.dtype),
                        })?;
                    staged.insert(d.index, AlignedBytes::zeroed(bytes));
                }
                self.staged_inputs = Some(staged);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// True when output shapes depend on input values, so each `invoke` prepares the model again.
    pub fn has_value_dependent_shapes(&self) -> bool {
        self.staged_inputs.is_some()
    }

    fn allocated(&self) -> Result<&Allocated> {
        self.state
            .as_ref()
            .ok_or_else(|| RuntimeError::State("call allocate_tensors() first".into()))
    }

    fn allocated_mut(&mut self) -> Result<&mut Allocated> {
        self.state
            .as_mut()
            .ok_or_else(|| RuntimeError::State("call allocate_tensors() first".into()))
    }

    /// Copies `data` into input tensor `index`; dtype and element count must match.
    pub fn set_tensor<T: Element>(&mut self, index: usize, data: &[T]) -> Result<()> {
        let dst = self.input_mut::<T>(index)?;
        if dst.len() != data.len() {
            let name = self.main().tensors[index].name.clone();
            let shape = self.allocated()?.tensors[index].shape.clone();
            return Err(RuntimeError::Mismatch {
                name,
                index,
                expected: format!(
                    "{} elements (shape {shape:?})",
                    shape.iter().product::<usize>()
                ),
                got: format!("{} elements", data.len()),
            });
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    /// Copies raw little-endian bytes into input tensor `index`.
    pub fn set_tensor_bytes(&mut self, index: usize, data: &[u8]) -> Result<()> {
        let name = self
            .main()
            .tensors
            .get(index)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let dst = self.input_bytes_mut(index)?;
        if dst.len() != data.len() {
            return Err(RuntimeError::Mismatch {
                name,
                index,
                expected: format!("{} bytes", dst.len()),
                got: format!("{} bytes", data.len()),
            });
        }
        dst.copy_from_slice(data);
        Ok(())
    }

    fn input_bytes_mut(&mut self, index: usize) -> Result<&mut [u8]> {
        if !self.main().inputs.contains(&index) {
            return Err(RuntimeError::Tensor {
                index,
                reason: "is not an input of the model".into(),
            });
        }
        if self.staged_inputs.is_some() {
            return self
                .staged_inputs
                .iter_mut()
                .find_map(|staged| staged.get_mut(&index))
                .map(AlignedBytes::as_mut_slice)
                .ok_or_else(|| RuntimeError::State("input was not staged".into()));
        }
        let state = self.allocated_mut()?;
        let Allocated { tensors, arena, .. } = state;
        match &tensors[index].storage {
            Storage::Arena(r) => Ok(&mut bytemuck::cast_slice_mut::<u128, u8>(arena)[r.clone()]),
            Storage::None => Ok(&mut []),
            _ => Err(RuntimeError::Tensor {
                index,
                reason: "is constant and cannot be written".into(),
            }),
        }
    }

    /// A writable typed view of input tensor `index` (no copy).
    pub fn input_mut<T: Element>(&mut self, index: usize) -> Result<&mut [T]> {
        let (name, dtype) = match self.main().tensors.get(index) {
            Some(t) => (t.name.clone(), t.dtype),
            None => {
                return Err(RuntimeError::Tensor {
                    index,
                    reason: "does not exist".into(),
                })
            }
        };
        if dtype != T::DTYPE {
            return Err(RuntimeError::Mismatch {
                name,
                index,
                expected: format!("dtype {}", dtype.numpy_name()),
                got: format!("dtype {}", T::DTYPE.numpy_name()),
            });
        }
        let bytes = self.input_bytes_mut(index)?;
        cast_mut(bytes).map_err(|e| RuntimeError::Tensor {
            index,
            reason: e.to_string(),
        })
    }

    /// Raw bytes of any tensor after `allocate_tensors` (inputs, outputs, constants, folded).
    pub fn tensor_bytes(&self, index: usize) -> Result<&[u8]> {
        let state = self.allocated()?;
        let t = state.tensors.get(index).ok_or(RuntimeError::Tensor {
            index,
            reason: "does not exist".into(),
        })?;
        Ok(storage_bytes(&t.storage, &state.arena))
    }

    /// A typed view of any tensor (no copy); the dtype must match.
    pub fn tensor<T: Element>(&self, index: usize) -> Result<&[T]> {
        let state = self.allocated()?;
        let t = state.tensors.get(index).ok_or(RuntimeError::Tensor {
            index,
            reason: "does not exist".into(),
        })?;
        if t.dtype != T::DTYPE {
            return Err(RuntimeError::Tensor {
                index,
                reason: format!(
                    "has dtype {}, not {}",
                    t.dtype.numpy_name(),
                    T::DTYPE.numpy_name()
                ),
            });
        }
        cast(storage_bytes(&t.storage, &state.arena)).map_err(|e| RuntimeError::Tensor {
            index,
            reason: e.to_string(),
        })
    }

    /// Current shape of any tensor after `allocate_tensors`.
    pub fn tensor_shape(&self, index: usize) -> Result<&[usize]> {
        let state = self.allocated()?;
        state
            .tensors
            .get(index)
            .map(|t| t.shape.as_slice())
            .ok_or(RuntimeError::Tensor {
                index,
                reason: "does not exist".into(),
            })
    }

    /// Runs the model once.
    pub fn invoke(&mut self) -> Result<()> {
        self.invoke_prepare_if_staged()?;
        self.run_steps(None)
    }

    /// Runs the model once and returns the wall time of every executed operator, in execution
    /// order (operators folded at `allocate_tensors` do not appear).
    pub fn invoke_profiled(&mut self) -> Result<Vec<OpTiming>> {
        let mut timings = Vec::new();
        self.invoke_prepare_if_staged()?;
        self.run_steps(Some(&mut timings))?;
        Ok(timings)
    }

    fn run_steps(&mut self, mut timings: Option<&mut Vec<OpTiming>>) -> Result<()> {
        let Interpreter {
            model,
            state,
            options,
            ..
        } = self;
        let state = state
            .as_mut()
            .ok_or_else(|| RuntimeError::State("call allocate_tensors() first".into()))?;
        let Allocated {
            tensors,
            steps,
            arena,
            ..
        } = state;
        let arena: &mut [u8] = bytemuck::cast_slice_mut(arena.as_mut_slice());
        parallel::with_threads(options.num_threads, || {
            for step in steps.iter() {
                let start = timings.as_ref().map(|_| std::time::Instant::now());
                run_step(step, tensors, arena).map_err(|source| RuntimeError::Kernel {
                    op_index: step.op_index,
                    op: model.subgraphs[0].operators[step.op_index].kind.name(),
                    source,
                })?;
                if let (Some(t), Some(start)) = (timings.as_deref_mut(), start) {
                    t.push(OpTiming {
                        op_index: step.op_index,
                        op: model.subgraphs[0].operators[step.op_index].kind.name(),
                        duration: start.elapsed(),
                    });
                }
            }
            Ok(())
        })
    }

    /// For models with value-dependent shapes: prepare again with the staged input values.
    fn invoke_prepare_if_staged(&mut self) -> Result<()> {
        if let Some(staged) = &self.staged_inputs {
            let mut state = Preparer::new(
                &self.model,
                &self.resized,
                self.options.preserve_all_tensors,
            )
            .with_input_values(staged)
            .with_memory_limit(self.options.max_memory_bytes)
            .run()?;
            let arena: &mut [u8] = bytemuck::cast_slice_mut(state.arena.as_mut_slice());
            for (&index, value) in staged {
                if let Storage::Arena(r) = &state.tensors[index].storage {
                    arena[r.clone()].copy_from_slice(value.as_slice());
                }
            }
            self.state = Some(state);
        }
        Ok(())
    }

    /// A runner for a named signature (`serving_default`).
    pub fn signature_runner(&mut self, key: &str) -> Result<SignatureRunner<'_>> {
        let sig = self
            .model
            .signatures
            .iter()
            .find(|s| s.key == key)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .model
                    .signatures
                    .iter()
                    .map(|s| s.key.as_str())
                    .collect();
                RuntimeError::NotFound(format!("no signature '{key}' (model has {known:?})"))
            })?;
        if sig.subgraph_index != 0 {
            return Err(RuntimeError::NotFound(format!(
                "signature '{key}' runs subgraph {}; only subgraph 0 can be run so far",
                sig.subgraph_index
            )));
        }
        if self.state.is_none() {
            self.allocate_tensors()?;
        }
        Ok(SignatureRunner {
            interp: self,
            signature: sig,
        })
    }

    /// Keys of the model's signatures.
    pub fn signature_keys(&self) -> Vec<String> {
        self.model
            .signatures
            .iter()
            .map(|s| s.key.clone())
            .collect()
    }
}
