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

/// Runs one step: carves disjoint output ranges out of the arena and views inputs in the rest.
pub(super) fn run_step(
    step: &Step,
    tensors: &[RtTensor],
    arena: &mut [u8],
) -> Result<(), KernelError> {
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
            quant: tensors[t].quant.as_ref(),
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
            quant: tensors[t].quant.as_ref(),
        })
        .collect();
    step.kernel.eval(&inputs, &mut outputs)
}
