//! `allocate_tensors`: match kernels, validate, infer shapes, fold known values, plan the arena.

use super::state::{Allocated, RtTensor, Step, Storage};
use crate::error::{Result, RuntimeError};
use crate::kernels::common::KernelError;
use crate::ops::{self, OperandInfo, OutputDecl, PrepareCtx};
use crate::planner::{self, Allocation};
use crate::tensor::{AlignedBytes, TensorView, TensorViewMut};
use ferrolite_model::{Model, OpKind};
use std::collections::HashMap;

/// Largest folded value (elements) computed at prepare time instead of at `invoke`.
const MAX_FOLD_ELEMENTS: usize = 1 << 16;

/// Builds the allocated state.
pub(super) struct Preparer<'m> {
    model: &'m Model,
    resized: &'m HashMap<usize, Vec<usize>>,
    preserve_all: bool,
    /// Values of graph inputs, when preparing at `invoke` for value-dependent shapes.
    input_values: Option<&'m HashMap<usize, AlignedBytes>>,
}

impl<'m> Preparer<'m> {
    pub(super) fn new(
        model: &'m Model,
        resized: &'m HashMap<usize, Vec<usize>>,
        preserve_all: bool,
    ) -> Self {
        Preparer {
            model,
            resized,
            preserve_all,
            input_values: None,
        }
    }

    /// Makes the graph inputs' values known to prepare functions (value-dependent shapes).
    pub(super) fn with_input_values(mut self, values: &'m HashMap<usize, AlignedBytes>) -> Self {
        self.input_values = Some(values);
        self
    }

    pub(super) fn run(self) -> Result<Allocated> {
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
                        if (d.as_ptr() as usize).is_multiple_of(16) {
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
                    quant: t.quantization.clone(),
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
                                value: known_value(rt, i, self.input_values),
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
                fold(&step, &mut tensors, sg, self.input_values).map_err(|source| {
                    RuntimeError::Kernel {
                        op_index,
                        op: op.kind.name(),
                        source,
                    }
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
                last: if self.preserve_all {
                    usize::MAX
                } else {
                    last[&t]
                },
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

/// Tensor `i`'s value if it is known before `invoke`: a constant, a folded result, or a graph
/// input staged for value-dependent shapes.
fn known_value<'a>(
    rt: &'a RtTensor,
    i: usize,
    input_values: Option<&'a HashMap<usize, AlignedBytes>>,
) -> Option<&'a [u8]> {
    rt.storage.known().or_else(|| {
        input_values
            .and_then(|v| v.get(&i))
            .map(AlignedBytes::as_slice)
    })
}

/// Runs a step whose inputs are all known now and stores its outputs as owned values.
fn fold(
    step: &Step,
    tensors: &mut [RtTensor],
    sg: &ferrolite_model::Subgraph,
    input_values: Option<&HashMap<usize, AlignedBytes>>,
) -> Result<(), KernelError> {
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
                        bytes: known_value(rt, i, input_values).unwrap_or_default(),
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
