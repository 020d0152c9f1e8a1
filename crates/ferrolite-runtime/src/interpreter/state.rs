//! The allocated state of an interpreter: where each tensor lives, the prepared steps, the arena,
//! and how one step is run against it.

use crate::kernels::common::KernelError;
use crate::ops::Kernel;
use crate::tensor::{AlignedBytes, TensorView, TensorViewMut};
use ferrolite_model::{Bytes, DType, Quantization};
use std::ops::Range;

/// Where a tensor's bytes are.
#[derive(Debug, Clone)]
pub(super) enum Storage {
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
pub(super) struct RtTensor {
    pub(super) shape: Vec<usize>,
    pub(super) dtype: DType,
    pub(super) storage: Storage,
    /// Quantization parameters (copied from the model so steps need no model borrow).
    pub(super) quant: Option<Quantization>,
}

#[derive(Debug)]
pub(super) struct Step {
    pub(super) op_index: usize,
    pub(super) kernel: Box<dyn Kernel>,
    pub(super) inputs: Vec<Option<usize>>,
    pub(super) outputs: Vec<usize>,
}

#[derive(Debug)]
pub(super) struct Allocated {
    pub(super) tensors: Vec<RtTensor>,
    pub(super) steps: Vec<Step>,
    pub(super) arena: Vec<u128>,
    pub(super) arena_bytes: usize,
    /// Bytes of values folded at prepare time (owned for the interpreter's lifetime).
    pub(super) folded_bytes: usize,
}

impl Allocated {
    /// Heap bytes the kernels keep for the model's lifetime (weights pre-packed at prepare).
    pub(super) fn persistent_bytes(&self) -> usize {
        self.steps.iter().map(|s| s.kernel.persistent_bytes()).sum()
    }
}

impl Storage {
    /// The bytes when they are known without the arena (constants and folded values).
    pub(super) fn known(&self) -> Option<&[u8]> {
        match self {
            Storage::Constant(b) => Some(b),
            Storage::Owned(a) => Some(a.as_slice()),
            Storage::None | Storage::Arena(_) => None,
        }
    }
}

pub(super) fn storage_bytes<'a>(s: &'a Storage, arena: &'a [u128]) -> &'a [u8] {
    match s {
        Storage::Arena(r) => &bytemuck::cast_slice::<u128, u8>(arena)[r.clone()],
        other => other.known().unwrap_or_default(),
    }
}

/// Operand counts up to which a step's views live on the stack (no heap allocation per step);
/// operators with more inputs or outputs (CONCATENATION, PACK, custom ops) use the heap.
const INLINE_OPERANDS: usize = 8;

/// A placeholder output view, overwritten before the kernel runs.
fn empty_output<'a>() -> TensorViewMut<'a> {
    TensorViewMut {
        shape: &[],
        dtype: DType::F32,
        bytes: &mut [],
        quant: None,
    }
}

/// Runs one step: carves disjoint output ranges out of the arena and views inputs in the rest.
pub(super) fn run_step(
    step: &Step,
    tensors: &[RtTensor],
    arena: &mut [u8],
) -> Result<(), KernelError> {
    let (n_in, n_out) = (step.inputs.len(), step.outputs.len());
    if n_in <= INLINE_OPERANDS && n_out <= INLINE_OPERANDS {
        let mut order = [(0, 0, 0); INLINE_OPERANDS];
        let mut gaps: [(usize, &[u8]); INLINE_OPERANDS + 1] = [(0, &[]); INLINE_OPERANDS + 1];
        let mut out_bytes: [Option<&mut [u8]>; INLINE_OPERANDS] = Default::default();
        let mut inputs: [Option<TensorView<'_>>; INLINE_OPERANDS] = [None; INLINE_OPERANDS];
        let mut outputs: [TensorViewMut<'_>; INLINE_OPERANDS] =
            std::array::from_fn(|_| empty_output());
        let buffers = StepBuffers {
            order: &mut order[..n_out],
            gaps: &mut gaps[..=n_out],
            out_bytes: &mut out_bytes[..n_out],
            inputs: &mut inputs[..n_in],
            outputs: &mut outputs[..n_out],
        };
        run_step_in(step, tensors, arena, buffers)
    } else {
        let mut order = vec![(0, 0, 0); n_out];
        let mut gaps: Vec<(usize, &[u8])> = vec![(0, &[]); n_out + 1];
        let mut out_bytes: Vec<Option<&mut [u8]>> = (0..n_out).map(|_| None).collect();
        let mut inputs: Vec<Option<TensorView<'_>>> = vec![None; n_in];
        let mut outputs: Vec<TensorViewMut<'_>> = (0..n_out).map(|_| empty_output()).collect();
        let buffers = StepBuffers {
            order: &mut order,
            gaps: &mut gaps,
            out_bytes: &mut out_bytes,
            inputs: &mut inputs,
            outputs: &mut outputs,
        };
        run_step_in(step, tensors, arena, buffers)
    }
}

/// Scratch slots for one step, sized to its operand counts (`gaps` has one more than outputs).
struct StepBuffers<'s, 'a> {
    /// Arena outputs as (start, end, position in the op's output list).
    order: &'s mut [(usize, usize, usize)],
    /// Arena pieces between the outputs, with their start offsets.
    gaps: &'s mut [(usize, &'a [u8])],
    out_bytes: &'s mut [Option<&'a mut [u8]>],
    inputs: &'s mut [Option<TensorView<'a>>],
    outputs: &'s mut [TensorViewMut<'a>],
}

fn run_step_in<'a>(
    step: &Step,
    tensors: &'a [RtTensor],
    arena: &'a mut [u8],
    buf: StepBuffers<'_, 'a>,
) -> Result<(), KernelError> {
    // Output ranges in ascending order, with their position in the op's output list.
    let mut n = 0;
    for (k, &t) in step.outputs.iter().enumerate() {
        if let Storage::Arena(r) = &tensors[t].storage {
            buf.order[n] = (r.start, r.end, k);
            n += 1;
        }
    }
    let order = &mut buf.order[..n];
    order.sort_unstable_by_key(|&(start, _, _)| start);
    let mut rest: &mut [u8] = arena;
    let mut pos = 0;
    for (gap_slot, &(start, end, k)) in buf.gaps.iter_mut().zip(order.iter()) {
        let (gap, tail) = rest.split_at_mut(start - pos);
        let (out, tail) = tail.split_at_mut(end - start);
        *gap_slot = (pos, gap);
        buf.out_bytes[k] = Some(out);
        rest = tail;
        pos = end;
    }
    buf.gaps[n] = (pos, rest);
    let gaps = &buf.gaps[..=n];

    let view_in = |t: usize| -> TensorView<'a> {
        let rt = &tensors[t];
        let bytes: &[u8] = match &rt.storage {
            Storage::Arena(r) => gaps
                .iter()
                .find(|(start, g)| *start <= r.start && r.end <= start + g.len())
                .map_or(&[][..], |(start, g)| &g[r.start - start..r.end - start]),
            other => other.known().unwrap_or_default(),
        };
        TensorView {
            shape: &rt.shape,
            dtype: rt.dtype,
            bytes,
            quant: rt.quant.as_ref(),
        }
    };
    for (slot, i) in buf.inputs.iter_mut().zip(&step.inputs) {
        *slot = i.map(view_in);
    }
    for ((slot, &t), bytes) in buf
        .outputs
        .iter_mut()
        .zip(&step.outputs)
        .zip(buf.out_bytes.iter_mut())
    {
        let rt = &tensors[t];
        *slot = TensorViewMut {
            shape: &rt.shape,
            dtype: rt.dtype,
            bytes: bytes.take().unwrap_or_default(),
            quant: rt.quant.as_ref(),
        };
    }
    step.kernel.eval(buf.inputs, buf.outputs)
}
