//! The [`Interpreter`]: load a model, allocate, set inputs, invoke, read outputs.
//!
//! `allocate_tensors` does all the checking up front: every operator is matched to a kernel,
//! its operand dtypes, shapes, options and version are validated, output shapes are inferred,
//! values computable without inputs (shape arithmetic, constants) are folded, and the activation
//! arena is planned. `invoke` then only runs kernels.

use crate::error::{Result, RuntimeError};
use crate::ops::{self, Kernel, OperandInfo, OutputDecl, PrepareCtx};
use crate::planner::{self, Allocation};
use crate::tensor::{cast, cast_mut, AlignedBytes, Element, TensorView, TensorViewMut};
use ferrolite_model::{Bytes, DType, Model, OpKind, Quantization};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

/// Largest folded value (elements) computed at prepare time instead of at `invoke`.
const MAX_FOLD_ELEMENTS: usize = 1 << 16;

/// Options for building an interpreter.
#[derive(Debug, Clone)]
pub struct InterpreterOptions {
    /// Threads kernels may use (kernels are single-threaded today; the value is recorded).
    pub num_threads: usize,
}

impl Default for InterpreterOptions {
    fn default() -> Self {
        InterpreterOptions {
            num_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
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

/// Where a tensor's bytes are.
#[derive(Debug, Clone)]
enum Storage {
    /// Not materialized (omitted or unused).
    None,
    /// Borrowed from the model's constant data (the mapped file).
    Constant(Bytes),
    /// Owned: realigned constants, folded values, variables.
    Owned(AlignedBytes),
    /// A range of the arena.
    Arena(Range<usize>),
}

#[derive(Debug, Clone)]
struct RtTensor {
    shape: Vec<usize>,
    dtype: DType,
    storage: Storage,
}

#[derive(Debug)]
struct Step {
    op_index: usize,
    kernel: Box<dyn Kernel>,
    inputs: Vec<Option<usize>>,
    outputs: Vec<usize>,
}

#[derive(Debug)]
struct Allocated {
    tensors: Vec<RtTensor>,
    steps: Vec<Step>,
    arena: Vec<u128>,
    arena_bytes: usize,
}

/// Runs one `.tflite` model.
///
/// ```no_run
/// use ferrolite_runtime::Interpreter;
/// let mut interp = Interpreter::from_file("model.tflite")?;
/// interp.allocate_tensors()?;
/// let input = interp.input_details()[0].clone();
/// let x = vec![0.5f32; input.shape.iter().product()];
/// interp.set_tensor(input.index, &x)?;
/// interp.invoke()?;
/// let out = interp.output_details()[0].index;
/// let y: &[f32] = interp.tensor(out)?;
/// println!("{y:?}");
/// # Ok::<(), ferrolite_runtime::RuntimeError>(())
/// ```
#[derive(Debug)]
pub struct Interpreter {
    model: Model,
    options: InterpreterOptions,
    resized: HashMap<usize, Vec<usize>>,
    state: Option<Allocated>,
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
        }
    }

    /// Sets the thread count (takes effect at the next `allocate_tensors`).
    pub fn set_num_threads(&mut self, n: usize) {
        self.options.num_threads = n.max(1);
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

    /// Validates every operator, infers shapes, folds constants and plans memory.
    pub fn allocate_tensors(&mut self) -> Result<()> {
        self.state = None;
        let state = Preparer::new(&self.model, &self.resized).run()?;
        self.state = Some(state);
        Ok(())
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
        let op_names: Vec<String> = self
            .main()
            .operators
            .iter()
            .map(|o| o.kind.name())
            .collect();
        let quants: Vec<Option<&Quantization>> = self.model.subgraphs[0]
            .tensors
            .iter()
            .map(|t| t.quantization.as_ref())
            .collect();
        let state = self
            .state
            .as_mut()
            .ok_or_else(|| RuntimeError::State("call allocate_tensors() first".into()))?;
        let Allocated {
            tensors,
            steps,
            arena,
            ..
        } = state;
        let arena: &mut [u8] = bytemuck::cast_slice_mut(arena.as_mut_slice());
        for step in steps.iter() {
            run_step(step, tensors, arena, &quants).map_err(|source| RuntimeError::Kernel {
                op_index: step.op_index,
                op: op_names[step.op_index].clone(),
                source,
            })?;
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

fn storage_bytes<'a>(s: &'a Storage, arena: &'a [u128]) -> &'a [u8] {
    match s {
        Storage::None => &[],
        Storage::Constant(b) => b,
        Storage::Owned(a) => a.as_slice(),
        Storage::Arena(r) => &bytemuck::cast_slice::<u128, u8>(arena)[r.clone()],
    }
}

/// Runs one step: carves disjoint output ranges out of the arena and views inputs in the rest.
fn run_step(
    step: &Step,
    tensors: &[RtTensor],
    arena: &mut [u8],
    quants: &[Option<&Quantization>],
) -> Result<(), crate::kernels::common::KernelError> {
    // Output ranges in ascending order, with their position in the op's output list.
    let mut outs: Vec<(Range<usize>, usize)> = step
        .outputs
        .iter()
        .enumerate()
        .filter_map(|(k, &t)| match &tensors[t].storage {
            Storage::Arena(r) => Some((r.clone(), k)),
            _ => None,
        })
        .collect();
    outs.sort_by_key(|(r, _)| r.start);
    let mut gaps: Vec<(usize, &[u8])> = Vec::new();
    let mut out_slices: Vec<Option<&mut [u8]>> = (0..step.outputs.len()).map(|_| None).collect();
    let mut rest: &mut [u8] = arena;
    let mut pos = 0;
    for (r, k) in outs {
        let (gap, tail) = rest.split_at_mut(r.start - pos);
        let (out, tail) = tail.split_at_mut(r.len());
        gaps.push((pos, gap));
        out_slices[k] = Some(out);
        rest = tail;
        pos = r.end;
    }
    gaps.push((pos, rest));

    let view_in = |t: usize| -> TensorView<'_> {
        let rt = &tensors[t];
        let bytes: &[u8] = match &rt.storage {
            Storage::None => &[],
            Storage::Constant(b) => b,
            Storage::Owned(a) => a.as_slice(),
            Storage::Arena(r) => gaps
                .iter()
                .find(|(start, g)| *start <= r.start && r.end <= start + g.len())
                .map_or(&[][..], |(start, g)| &g[r.start - start..r.end - start]),
        };
        TensorView {
            shape: &rt.shape,
            dtype: rt.dtype,
            bytes,
            quant: quants[t],
        }
    };
    let inputs: Vec<Option<TensorView<'_>>> = step.inputs.iter().map(|i| i.map(view_in)).collect();
    let mut outputs: Vec<TensorViewMut<'_>> = step
        .outputs
        .iter()
        .zip(out_slices)
        .map(|(&t, bytes)| TensorViewMut {
            shape: &tensors[t].shape,
            dtype: tensors[t].dtype,
            bytes: bytes.unwrap_or_default(),
            quant: quants[t],
        })
        .collect();
    step.kernel.eval(&inputs, &mut outputs)
}

/// Builds the allocated state.
struct Preparer<'m> {
    model: &'m Model,
    resized: &'m HashMap<usize, Vec<usize>>,
}

impl<'m> Preparer<'m> {
    fn new(model: &'m Model, resized: &'m HashMap<usize, Vec<usize>>) -> Self {
        Preparer { model, resized }
    }

    fn run(self) -> Result<Allocated> {
        let sg = &self.model.subgraphs[0];
        let mut tensors: Vec<RtTensor> = sg
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let shape = self
                    .resized
                    .get(&i)
                    .cloned()
                    .unwrap_or_else(|| t.shape.iter().map(|&d| d as usize).collect());
                let storage = match &t.data {
                    Some(d) if t.sparsity.is_none() && !t.is_variable => {
                        if (d.as_ptr() as usize) % 16 == 0 {
                            Storage::Constant(d.clone())
                        } else {
                            Storage::Owned(AlignedBytes::copy_from(d))
                        }
                    }
                    _ => Storage::None,
                };
                RtTensor {
                    shape,
                    dtype: t.dtype,
                    storage,
                }
            })
            .collect();
        for (i, t) in sg.tensors.iter().enumerate() {
            if t.sparsity.is_some() {
                return Err(RuntimeError::Tensor {
                    index: i,
                    reason: format!(
                        "'{}' is stored sparse; sparse constants are not supported yet",
                        t.name
                    ),
                });
            }
            if t.is_variable {
                return Err(RuntimeError::Tensor {
                    index: i,
                    reason: format!(
                        "'{}' is a variable tensor; variables are not supported yet",
                        t.name
                    ),
                });
            }
        }

        let mut steps = Vec::new();
        let mut produced_at: HashMap<usize, usize> = HashMap::new();
        for (op_index, op) in sg.operators.iter().enumerate() {
            let builtin = match &op.kind {
                OpKind::Builtin(b) => *b,
                OpKind::Custom(name) => {
                    return Err(unsupported_plain(
                        sg,
                        op_index,
                        format!("custom operator '{name}' has no kernel in ferrolite"),
                    ))
                }
            };
            let reg = ops::lookup(builtin).ok_or_else(|| {
                unsupported_plain(sg, op_index, "no ferrolite kernel for this operator".into())
            })?;
            if op.version > reg.max_version {
                return Err(unsupported_plain(
                    sg,
                    op_index,
                    format!(
                        "version {} is newer than the highest supported ({})",
                        op.version, reg.max_version
                    ),
                ));
            }
            let ctx = PrepareCtx {
                op,
                op_index,
                inputs: op
                    .inputs
                    .iter()
                    .map(|i| {
                        i.map(|i| {
                            let t = &sg.tensors[i];
                            let rt = &tensors[i];
                            OperandInfo {
                                index: i,
                                name: &t.name,
                                shape: rt.shape.clone(),
                                dtype: rt.dtype,
                                quant: t.quantization.as_ref(),
                                value: match &rt.storage {
                                    Storage::Constant(b) => Some(&b[..]),
                                    Storage::Owned(a) => Some(a.as_slice()),
                                    _ => None,
                                },
                            }
                        })
                    })
                    .collect(),
                outputs: op
                    .outputs
                    .iter()
                    .flatten()
                    .map(|&i| {
                        let t = &sg.tensors[i];
                        OutputDecl {
                            index: i,
                            name: &t.name,
                            dtype: t.dtype,
                            shape: &t.shape,
                            quant: t.quantization.as_ref(),
                        }
                    })
                    .collect(),
            };
            let prepared = (reg.prepare)(&ctx)?;
            let outputs: Vec<usize> = op.outputs.iter().flatten().copied().collect();
            if prepared.output_shapes.len() != outputs.len() {
                return Err(ctx.invalid(format!(
                    "kernel produced {} output shapes for {} outputs",
                    prepared.output_shapes.len(),
                    outputs.len()
                )));
            }
            let all_known = prepared.kernel.depends_only_on_shapes()
                || ctx.inputs.iter().flatten().all(|i| i.value.is_some());
            drop(ctx);
            for (&t, shape) in outputs.iter().zip(&prepared.output_shapes) {
                if matches!(tensors[t].storage, Storage::Constant(_) | Storage::Owned(_)) {
                    return Err(RuntimeError::InvalidOp {
                        op_index,
                        op: op.kind.name(),
                        reason: format!("writes tensor {t}, which is a constant"),
                    });
                }
                if produced_at.insert(t, op_index).is_some() || sg.inputs.contains(&t) {
                    return Err(RuntimeError::InvalidOp {
                        op_index,
                        op: op.kind.name(),
                        reason: format!("writes tensor {t}, which another operator or the caller already writes"),
                    });
                }
                tensors[t].shape = shape.clone();
            }
            let out_elems: usize = outputs
                .iter()
                .map(|&t| tensors[t].shape.iter().product::<usize>())
                .sum();
            let step = Step {
                op_index,
                kernel: prepared.kernel,
                inputs: op.inputs.clone(),
                outputs,
            };
            if all_known
                && out_elems <= MAX_FOLD_ELEMENTS
                && !sg.outputs.iter().any(|o| step.outputs.contains(o))
            {
                fold(&step, &mut tensors, sg).map_err(|source| RuntimeError::Kernel {
                    op_index,
                    op: op.kind.name(),
                    source,
                })?;
            } else {
                steps.push(step);
            }
        }

        // Lifetimes in step order; graph inputs live from the start, outputs to the end.
        let mut first: HashMap<usize, usize> = HashMap::new();
        let mut last: HashMap<usize, usize> = HashMap::new();
        for &i in &sg.inputs {
            first.insert(i, 0);
            last.insert(i, 0);
        }
        for (s, step) in steps.iter().enumerate() {
            for &t in step.inputs.iter().flatten() {
                if matches!(tensors[t].storage, Storage::None) {
                    first.entry(t).or_insert(s);
                    last.insert(t, s);
                }
            }
            for &t in &step.outputs {
                first.entry(t).or_insert(s);
                last.entry(t).or_insert(s);
            }
        }
        for &o in &sg.outputs {
            if matches!(tensors[o].storage, Storage::None) {
                first.entry(o).or_insert(0);
                last.insert(o, usize::MAX);
            }
        }
        let mut ids: Vec<usize> = first.keys().copied().collect();
        ids.sort_unstable();
        let mut requests = Vec::new();
        for &t in &ids {
            let rt = &tensors[t];
            let elements: usize = rt.shape.iter().product();
            let size = rt
                .dtype
                .byte_len(elements)
                .ok_or_else(|| RuntimeError::Tensor {
                    index: t,
                    reason: format!("dtype {} cannot live in the arena", rt.dtype),
                })?;
            requests.push(Allocation {
                size,
                first: first[&t],
                last: last[&t],
            });
        }
        let plan = planner::plan(&requests);
        for ((&t, &off), r) in ids.iter().zip(&plan.offsets).zip(&requests) {
            tensors[t].storage = Storage::Arena(off..off + r.size);
        }
        Ok(Allocated {
            tensors,
            steps,
            arena: vec![0u128; plan.arena_bytes.div_ceil(16)],
            arena_bytes: plan.arena_bytes,
        })
    }
}

/// Runs a step whose inputs are all known now and stores its outputs as owned values.
fn fold(
    step: &Step,
    tensors: &mut [RtTensor],
    sg: &ferrolite_model::Subgraph,
) -> Result<(), crate::kernels::common::KernelError> {
    let mut outs: Vec<AlignedBytes> = step
        .outputs
        .iter()
        .map(|&t| {
            let rt = &tensors[t];
            AlignedBytes::zeroed(rt.dtype.byte_len(rt.shape.iter().product()).unwrap_or(0))
        })
        .collect();
    {
        let inputs: Vec<Option<TensorView<'_>>> = step
            .inputs
            .iter()
            .map(|i| {
                i.map(|i| {
                    let rt = &tensors[i];
                    TensorView {
                        shape: &rt.shape,
                        dtype: rt.dtype,
                        bytes: match &rt.storage {
                            Storage::Constant(b) => b,
                            Storage::Owned(a) => a.as_slice(),
                            _ => &[],
                        },
                        quant: sg.tensors[i].quantization.as_ref(),
                    }
                })
            })
            .collect();
        let mut outputs: Vec<TensorViewMut<'_>> = step
            .outputs
            .iter()
            .zip(outs.iter_mut())
            .map(|(&t, buf)| TensorViewMut {
                shape: &tensors[t].shape,
                dtype: tensors[t].dtype,
                bytes: buf.as_mut_slice(),
                quant: sg.tensors[t].quantization.as_ref(),
            })
            .collect();
        step.kernel.eval(&inputs, &mut outputs)?;
    }
    for (&t, buf) in step.outputs.iter().zip(outs) {
        tensors[t].storage = Storage::Owned(buf);
    }
    Ok(())
}

fn unsupported_plain(
    sg: &ferrolite_model::Subgraph,
    op_index: usize,
    reason: String,
) -> RuntimeError {
    let op = &sg.operators[op_index];
    let describe = |i: &Option<usize>| match i {
        Some(i) => {
            let t = &sg.tensors[*i];
            format!("{}: {}{:?}", t.name, t.dtype, t.shape)
        }
        None => "-".into(),
    };
    RuntimeError::UnsupportedOp {
        op_index,
        op: op.kind.name(),
        version: op.version,
        reason,
        inputs: op.inputs.iter().map(describe).collect(),
        outputs: op.outputs.iter().map(describe).collect(),
    }
}

/// Runs a signature with named inputs and outputs.
#[derive(Debug)]
pub struct SignatureRunner<'a> {
    interp: &'a mut Interpreter,
    signature: ferrolite_model::Signature,
}

impl SignatureRunner<'_> {
    fn lookup(list: &[(String, usize)], name: &str, what: &str) -> Result<usize> {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
                RuntimeError::NotFound(format!(
                    "no {what} named '{name}' (signature has {names:?})"
                ))
            })
    }

    /// Input names.
    pub fn input_names(&self) -> Vec<String> {
        self.signature
            .inputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Output names.
    pub fn output_names(&self) -> Vec<String> {
        self.signature
            .outputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Copies data into a named input.
    pub fn set_input<T: Element>(&mut self, name: &str, data: &[T]) -> Result<()> {
        let t = Self::lookup(&self.signature.inputs, name, "input")?;
        self.interp.set_tensor(t, data)
    }

    /// Runs the model.
    pub fn invoke(&mut self) -> Result<()> {
        self.interp.invoke()
    }

    /// A typed view of a named output.
    pub fn output<T: Element>(&self, name: &str) -> Result<&[T]> {
        let t = Self::lookup(&self.signature.outputs, name, "output")?;
        self.interp.tensor(t)
    }
}
