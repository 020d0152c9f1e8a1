//! `allocate_tensors`: match kernels, validate, infer shapes, fold known values, plan the arena.
//!
//! Folding runs an operator whose inputs are all known at prepare time and stores its outputs as
//! owned values, as long as they stay small ([`MAX_FOLD_ELEMENTS`]): folding is meant for shape
//! arithmetic and tiny constants, and a large folded value (a TILE or BROADCAST_TO of a constant)
//! would be memory held for the interpreter's lifetime instead of arena space shared with other
//! tensors. DEQUANTIZE of a model constant is the exception and is folded at any size: that is
//! the float16-weights pattern `f16 constant -> DEQUANTIZE -> float op` (and int8 weights kept
//! float by a fallback). LiteRT does the same in effect: its DEQUANTIZE of a constant keeps a
//! persistent output and converts only on the first invoke. Decision measured on
//! `target/bench-models/mobilenetv2_035_96_float16.tflite` (105 constant DEQUANTIZEs, 1.67 M fp16
//! weights, two of them — 1.42 M weights — above the cap; `ferrolite bench --threads 1 --runs
//! 200`, 2-core machine shared with other jobs, two rounds each):
//!
//! | large DEQUANTIZEs | median latency | arena | peak RSS | folded f32 copies |
//! |---|---|---|---|---|
//! | run at every invoke | 7.22 / 6.47 ms | 6,246,400 B | 22.1 / 21.8 MB | 0.98 MB |
//! | folded at allocate | 0.81 / 0.71 ms | 552,960 B | 22.6 / 22.4 MB | 6.68 MB |
//! | (float32 model, for reference) | 0.82 ms | 552,960 B | 22.1 MB | — |
//!
//! Folding makes the float16 model as fast as the float32 one (the per-invoke conversion of 1.4 M
//! weights cost ~6 ms) at +0.5 MB peak RSS: the unfolded f32 copies live in the arena anyway
//! (hence its 5.7 MB), so the memory difference is only that the folded copies are not shared
//! with other activations. The f32 copy is what a float model of the same network holds
//! anyway, and it is reported by `Interpreter::folded_bytes`, next to `arena_bytes`.

use super::state::{Allocated, RtTensor, Step, Storage};
use crate::error::{Result, RuntimeError};
use crate::kernels::common::KernelError;
use crate::ops::{self, OperandInfo, OutputDecl, PrepareCtx};
use crate::planner::{self, Allocation};
use crate::tensor::{AlignedBytes, TensorView, TensorViewMut};
use ferrolite_model::tflite::BuiltinOperator;
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
    /// Most bytes the arena plus folded values may take.
    memory_limit: Option<usize>,
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
            memory_limit: None,
        }
    }

    /// Caps the arena plus folded values at `limit` bytes ([`RuntimeError::Memory`] beyond).
    pub(super) fn with_memory_limit(mut self, limit: Option<usize>) -> Self {
        self.memory_limit = limit;
        self
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
        let mut folded_bytes = 0usize;
        let mut produced_at: HashMap<usize, usize> = HashMap::new();
        for (op_index, op) in sg.operators.iter().enumerate() {
            let builtin = op.kind.builtin();
            let reg = match &op.kind {
                OpKind::Builtin(b) => ops::lookup(*b).ok_or_else(|| {
                    unsupported_plain(sg, op_index, "no ferrolite kernel for this operator".into())
                })?,
                OpKind::Custom(name) => ops::lookup_custom(name).ok_or_else(|| {
                    unsupported_plain(
                        sg,
                        op_index,
                        format!("custom operator '{name}' has no kernel in ferrolite"),
                    )
                })?,
            };
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
            let expands_constant = builtin == BuiltinOperator::Dequantize
                && op
                    .inputs
                    .iter()
                    .flatten()
                    .all(|&i| sg.tensors[i].data.is_some());
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
                if shape
                    .iter()
                    .try_fold(1usize, |a, &d| a.checked_mul(d))
                    .and_then(|n| tensors[t].dtype.byte_len(n))
                    .is_none_or(|b| b > isize::MAX as usize)
                {
                    return Err(RuntimeError::InvalidOp {
                        op_index,
                        op: op.kind.name(),
                        reason: format!("output shape {shape:?} is too large to address"),
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
                && (out_elems <= MAX_FOLD_ELEMENTS || expands_constant)
                && !sg.outputs.iter().any(|o| step.outputs.contains(o))
            {
                let out_bytes: usize = step
                    .outputs
                    .iter()
                    .map(|&t| {
                        let n = tensors[t].shape.iter().product();
                        tensors[t].dtype.byte_len(n).unwrap_or(0)
                    })
                    .sum();
                let needed = folded_bytes.saturating_add(out_bytes);
                if self.memory_limit.is_some_and(|l| needed > l) {
                    return Err(RuntimeError::Memory {
                        what: format!(
                            "folding operator {op_index} ({}) at allocate_tensors",
                            op.kind.name()
                        ),
                        needed,
                        limit: self.memory_limit,
                    });
                }
                folded_bytes +=
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
        let arena_error = |limit| {
            let largest = ids
                .iter()
                .zip(&requests)
                .max_by_key(|(_, r)| r.size)
                .map(|(&t, r)| {
                    format!(
                        " (largest: tensor {t} '{}', {} bytes)",
                        sg.tensors[t].name, r.size
                    )
                })
                .unwrap_or_default();
            RuntimeError::Memory {
                what: format!("the arena{largest} plus {folded_bytes} folded bytes"),
                needed: plan.arena_bytes.saturating_add(folded_bytes),
                limit,
            }
        };
        if self
            .memory_limit
            .is_some_and(|l| plan.arena_bytes.saturating_add(folded_bytes) > l)
        {
            return Err(arena_error(self.memory_limit));
        }
        let arena = AlignedBytes::try_zeroed(plan.arena_bytes).ok_or_else(|| arena_error(None))?;
        for ((&t, &off), r) in ids.iter().zip(&plan.offsets).zip(&requests) {
            tensors[t].storage = Storage::Arena(off..off + r.size);
        }
        Ok(Allocated {
            tensors,
            steps,
            arena: arena.into_words(),
            arena_bytes: plan.arena_bytes,
            folded_bytes,
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

/// Runs a step whose inputs are all known now and stores its outputs as owned values; returns
/// their size in bytes.
fn fold(
    step: &Step,
    tensors: &mut [RtTensor],
    sg: &ferrolite_model::Subgraph,
    input_values: Option<&HashMap<usize, AlignedBytes>>,
) -> Result<usize, KernelError> {
    let mut outs: Vec<AlignedBytes> = step
        .outputs
        .iter()
        .map(|&t| {
            let rt = &tensors[t];
            AlignedBytes::try_zeroed(rt.dtype.byte_len(rt.shape.iter().product()).unwrap_or(0))
                .ok_or_else(|| KernelError::Shape(format!("cannot allocate output tensor {t}")))
        })
        .collect::<Result<_, _>>()?;
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
    let mut bytes = 0;
    for (&t, buf) in step.outputs.iter().zip(outs) {
        bytes += buf.as_slice().len();
        tensors[t].storage = Storage::Owned(buf);
    }
    Ok(bytes)
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
