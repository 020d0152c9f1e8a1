//! Graph plumbing shared by the quantization passes: who consumes a tensor, reading constant
//! data as `f32`, fresh tensor names, rewiring operands.

use crate::error::{QuantError, Result};
use ferrolite_model::{Bytes, DType, Subgraph, Tensor};
use std::collections::HashSet;

/// For every tensor, the `(operator, input slot)` pairs that read it.
pub(crate) fn consumers(sg: &Subgraph) -> Vec<Vec<(usize, usize)>> {
    let mut uses = vec![Vec::new(); sg.tensors.len()];
    for (o, op) in sg.operators.iter().enumerate() {
        for (slot, t) in op.inputs.iter().enumerate() {
            if let Some(t) = *t {
                uses[t].push((o, slot));
            }
        }
    }
    uses
}

/// For every tensor, the operator that writes it (if any).
pub(crate) fn producers(sg: &Subgraph) -> Vec<Option<usize>> {
    let mut by = vec![None; sg.tensors.len()];
    for (o, op) in sg.operators.iter().enumerate() {
        for t in op.outputs.iter().flatten() {
            by[*t] = Some(o);
        }
    }
    by
}

/// True when `t` is a dense float32 constant (the only kind the passes rewrite).
pub(crate) fn is_f32_constant(t: &Tensor) -> bool {
    t.dtype == DType::F32 && t.data.is_some() && t.sparsity.is_none() && !t.is_variable
}

/// The values of a dense float32 constant; errors name the tensor.
pub(crate) fn constant_f32(sg: &Subgraph, index: usize) -> Result<Vec<f32>> {
    let t = &sg.tensors[index];
    let data = match (&t.data, t.dtype, &t.sparsity) {
        (Some(d), DType::F32, None) => d,
        _ => {
            return Err(QuantError::tensor(
                sg,
                index,
                format!("expected a dense float32 constant, found {}", t.dtype),
            ))
        }
    };
    let n = t
        .element_count()
        .ok_or_else(|| QuantError::tensor(sg, index, format!("invalid shape {:?}", t.shape)))?;
    if data.len() != n * 4 {
        return Err(QuantError::tensor(
            sg,
            index,
            format!(
                "holds {} bytes but shape {:?} needs {}",
                data.len(),
                t.shape,
                n * 4
            ),
        ));
    }
    Ok(data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Shape as `usize` dims (the IR guarantees non-negative static dims).
pub(crate) fn dims(t: &Tensor) -> Vec<usize> {
    t.shape.iter().map(|&d| d.max(0) as usize).collect()
}

/// Little-endian bytes of `i8` values.
pub(crate) fn i8_bytes(v: &[i8]) -> Bytes {
    Bytes::from_vec(v.iter().map(|&x| x as u8).collect())
}

/// Little-endian bytes of `i32` values.
pub(crate) fn i32_bytes(v: &[i32]) -> Bytes {
    Bytes::from_vec(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Names already used in a subgraph, for [`unique_name`].
pub(crate) fn names(sg: &Subgraph) -> HashSet<String> {
    sg.tensors.iter().map(|t| t.name.clone()).collect()
}

/// `base` followed by the smallest positive number that makes it unused (TF's converter names
/// the tensors it adds the same way: `conv/kernel` → `conv/kernel1`), then records it.
pub(crate) fn unique_name(taken: &mut HashSet<String>, base: &str) -> String {
    let mut n = 1usize;
    loop {
        let candidate = format!("{base}{n}");
        if !taken.contains(&candidate) {
            taken.insert(candidate.clone());
            return candidate;
        }
        n += 1;
    }
}

/// An activation tensor shaped like `like` (same shape and signature) with another dtype.
pub(crate) fn activation_like(like: &Tensor, name: String, dtype: DType) -> Tensor {
    let mut t = Tensor::new(name, dtype, like.shape.clone());
    t.shape_signature = like.shape_signature.clone();
    t.has_rank = like.has_rank;
    t
}

/// Makes every operator input that reads `from` (at the listed uses) read `to` instead.
pub(crate) fn rewire(sg: &mut Subgraph, uses: &[(usize, usize)], to: usize) {
    for &(o, slot) in uses {
        sg.operators[o].inputs[slot] = Some(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_append_the_smallest_free_number() {
        let mut taken: HashSet<String> = ["w".to_string(), "w1".to_string()].into();
        assert_eq!(unique_name(&mut taken, "w"), "w2");
        assert_eq!(unique_name(&mut taken, "w"), "w3");
        assert_eq!(unique_name(&mut taken, "b"), "b1");
    }
}
