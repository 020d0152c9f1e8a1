//! Structural validation of a [`Model`]: everything another crate may index without checking.
//!
//! The reader calls [`validate`] on every model it decodes and the writer calls it before
//! serializing, so broken graphs are caught at the boundary with an error that names the table,
//! field and index at fault.

use crate::dtype::DType;
use crate::error::{ModelError, Result};
use crate::ir::{Model, Subgraph, Tensor};
use ferrolite_schema::tflite::{BuiltinOptions, BuiltinOptions2};

/// Largest rank accepted (TFLite kernels stop far below this).
pub const MAX_RANK: usize = 16;
/// Largest byte size of one tensor that is not considered absurd (64 GiB).
pub const MAX_TENSOR_BYTES: usize = 1 << 36;

/// Checks every invariant the IR promises.
pub fn validate(model: &Model) -> Result<()> {
    if model.subgraphs.is_empty() {
        return Err(ModelError::invalid(
            "Model.subgraphs",
            "the model has no subgraph",
        ));
    }
    for (s, sg) in model.subgraphs.iter().enumerate() {
        validate_subgraph(model, s, sg)?;
    }
    for (i, sig) in model.signatures.iter().enumerate() {
        let sg = model
            .subgraphs
            .get(sig.subgraph_index)
            .ok_or(ModelError::IndexOutOfRange {
                location: format!("signature_defs[{i}].subgraph_index"),
                index: sig.subgraph_index as i64,
                len: model.subgraphs.len(),
            })?;
        for (field, list) in [("inputs", &sig.inputs), ("outputs", &sig.outputs)] {
            for (k, (_, t)) in list.iter().enumerate() {
                in_range(*t, sg.tensors.len(), || {
                    format!("signature_defs[{i}].{field}[{k}].tensor_index")
                })?;
            }
        }
    }
    Ok(())
}

fn in_range(index: usize, len: usize, location: impl FnOnce() -> String) -> Result<()> {
    if index < len {
        Ok(())
    } else {
        Err(ModelError::IndexOutOfRange {
            location: location(),
            index: index as i64,
            len,
        })
    }
}

fn validate_subgraph(model: &Model, s: usize, sg: &Subgraph) -> Result<()> {
    let n = sg.tensors.len();
    for (t, tensor) in sg.tensors.iter().enumerate() {
        validate_tensor(tensor, &format!("subgraphs[{s}].tensors[{t}]"))?;
    }
    for (field, list) in [("inputs", &sg.inputs), ("outputs", &sg.outputs)] {
        for (k, &t) in list.iter().enumerate() {
            in_range(t, n, || format!("subgraphs[{s}].{field}[{k}]"))?;
        }
    }
    for (o, op) in sg.operators.iter().enumerate() {
        let loc = |field: &str, k: usize| format!("subgraphs[{s}].operators[{o}].{field}[{k}]");
        for (field, list) in [("inputs", &op.inputs), ("outputs", &op.outputs)] {
            for (k, t) in list.iter().enumerate() {
                if let Some(t) = *t {
                    in_range(t, n, || loc(field, k))?;
                }
            }
        }
        for (k, &t) in op.intermediates.iter().enumerate() {
            in_range(t, n, || loc("intermediates", k))?;
        }
        if op.version < 1 {
            return Err(ModelError::invalid(
                format!("subgraphs[{s}].operators[{o}].version"),
                format!("operator version {} is below 1", op.version),
            ));
        }
        for (field, index) in subgraph_references(op.options.as_ref(), op.options_2.as_ref()) {
            let ok = usize::try_from(index).is_ok_and(|i| i < model.subgraphs.len());
            if !ok {
                return Err(ModelError::IndexOutOfRange {
                    location: format!("subgraphs[{s}].operators[{o}].builtin_options.{field}"),
                    index: i64::from(index),
                    len: model.subgraphs.len(),
                });
            }
        }
    }
    Ok(())
}

/// Every subgraph index an operator's options refer to, with the field name.
fn subgraph_references(
    options: Option<&BuiltinOptions>,
    options_2: Option<&BuiltinOptions2>,
) -> Vec<(&'static str, i32)> {
    let mut refs = Vec::new();
    match options {
        Some(BuiltinOptions::IfOptions(o)) => {
            refs.push(("then_subgraph_index", o.then_subgraph_index));
            refs.push(("else_subgraph_index", o.else_subgraph_index));
        }
        Some(BuiltinOptions::WhileOptions(o)) => {
            refs.push(("cond_subgraph_index", o.cond_subgraph_index));
            refs.push(("body_subgraph_index", o.body_subgraph_index));
        }
        Some(BuiltinOptions::CallOnceOptions(o)) => {
            refs.push(("init_subgraph_index", o.init_subgraph_index));
        }
        _ => {}
    }
    match options_2 {
        Some(BuiltinOptions2::StablehloWhileOptions(o)) => {
            refs.push(("cond_subgraph_index", o.cond_subgraph_index));
            refs.push(("body_subgraph_index", o.body_subgraph_index));
        }
        Some(BuiltinOptions2::StablehloReduceOptions(o)) => {
            refs.push(("body_subgraph_index", o.body_subgraph_index));
        }
        Some(BuiltinOptions2::StablehloReduceWindowOptions(o)) => {
            refs.push(("body_subgraph_index", o.body_subgraph_index));
        }
        Some(BuiltinOptions2::StablehloSortOptions(o)) => {
            refs.push(("comparator_subgraph_index", o.comparator_subgraph_index));
        }
        Some(BuiltinOptions2::StablehloScatterOptions(o)) => {
            refs.push((
                "update_computation_subgraph_index",
                o.update_computation_subgraph_index,
            ));
        }
        Some(BuiltinOptions2::StableHloCompositeOptions(o)) => {
            refs.push((
                "decomposition_subgraph_index",
                o.decomposition_subgraph_index,
            ));
        }
        Some(BuiltinOptions2::StablehloCaseOptions(o)) => {
            for &b in o.branch_subgraph_indices.iter().flatten() {
                refs.push(("branch_subgraph_indices", b));
            }
        }
        _ => {}
    }
    refs
}

fn validate_tensor(t: &Tensor, loc: &str) -> Result<()> {
    let bad_shape = |reason: String| ModelError::BadShape {
        location: loc.to_owned(),
        reason,
    };
    if t.shape.len() > MAX_RANK {
        return Err(bad_shape(format!(
            "rank {} exceeds {MAX_RANK}",
            t.shape.len()
        )));
    }
    if let Some(&d) = t.shape.iter().find(|&&d| d < 0) {
        return Err(bad_shape(format!(
            "negative dimension {d} in {:?}",
            t.shape
        )));
    }
    let elements = t
        .element_count()
        .ok_or_else(|| bad_shape(format!("element count of {:?} overflows", t.shape)))?;
    if let Some(bytes) = t.dtype.byte_len(elements) {
        if bytes > MAX_TENSOR_BYTES {
            return Err(bad_shape(format!(
                "{:?} of {} needs {bytes} bytes, more than the {MAX_TENSOR_BYTES}-byte limit",
                t.shape, t.dtype
            )));
        }
    }
    if let Some(sig) = &t.shape_signature {
        if sig.len() != t.shape.len() {
            return Err(bad_shape(format!(
                "shape_signature {sig:?} has rank {} but shape {:?} has rank {}",
                sig.len(),
                t.shape,
                t.shape.len()
            )));
        }
        for (k, (&s, &d)) in sig.iter().zip(&t.shape).enumerate() {
            if s < -1 || (s != -1 && s != d) {
                return Err(bad_shape(format!(
                    "shape_signature[{k}] = {s} disagrees with shape[{k}] = {d}"
                )));
            }
        }
    }
    if let (Some(data), None) = (&t.data, &t.sparsity) {
        check_data_len(t, elements, data.len(), loc)?;
    }
    if let Some(q) = &t.quantization {
        if q.details.is_none() {
            let bad = |reason: String| ModelError::BadQuantization {
                location: format!("{loc}.quantization"),
                reason,
            };
            if q.min.len() != q.max.len() {
                return Err(bad(format!(
                    "{} min values but {} max values",
                    q.min.len(),
                    q.max.len()
                )));
            }
            if !q.zero_point.is_empty() && q.zero_point.len() != q.scale.len() {
                return Err(bad(format!(
                    "{} scales but {} zero points",
                    q.scale.len(),
                    q.zero_point.len()
                )));
            }
            if let Some(s) = q.scale.iter().find(|s| !s.is_finite() || **s < 0.0) {
                return Err(bad(format!(
                    "scale {s} is not a finite non-negative number"
                )));
            }
            if q.scale.len() > 1 {
                let dim = usize::try_from(q.quantized_dimension)
                    .ok()
                    .filter(|&d| d < t.shape.len())
                    .ok_or_else(|| {
                        bad(format!(
                            "quantized_dimension {} is outside rank {}",
                            q.quantized_dimension,
                            t.shape.len()
                        ))
                    })?;
                if t.shape[dim] as usize != q.scale.len() {
                    return Err(bad(format!(
                        "{} per-channel scales but dimension {dim} has size {}",
                        q.scale.len(),
                        t.shape[dim]
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Checks that a constant buffer holds exactly what its shape and type need.
fn check_data_len(t: &Tensor, elements: usize, actual: usize, loc: &str) -> Result<()> {
    let expected = match t.dtype {
        DType::String => return check_string_buffer(t, elements, actual, loc),
        DType::Resource | DType::Variant => return Ok(()),
        d => d.byte_len(elements).unwrap_or(0),
    };
    // Sub-byte types may be stored packed or one value per byte (older converters).
    let unpacked_ok = t.dtype.bits().is_some_and(|b| b < 8) && actual == elements;
    if actual == expected || unpacked_ok {
        return Ok(());
    }
    Err(ModelError::BufferSize {
        location: loc.to_owned(),
        shape: t.shape.clone(),
        dtype: t.dtype.to_string(),
        expected,
        actual,
    })
}

/// TFLite's string tensor layout: `[count:i32][offsets:i32 × (count+1)][bytes]`.
fn check_string_buffer(t: &Tensor, elements: usize, actual: usize, loc: &str) -> Result<()> {
    let data = t.data.as_deref().unwrap_or_default();
    let read = |k: usize| -> Option<usize> {
        let b = data.get(4 * k..4 * k + 4)?;
        usize::try_from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok()
    };
    let ok = (|| {
        let count = read(0)?;
        if count != elements {
            return None;
        }
        let mut prev = 4 * (count + 2);
        for k in 0..=count {
            let off = read(k + 1)?;
            if off < prev || off > actual {
                return None;
            }
            prev = off;
        }
        (prev == actual).then_some(())
    })();
    ok.ok_or_else(|| {
        ModelError::invalid(
            format!("{loc}.buffer"),
            format!("string buffer of {actual} bytes does not hold {elements} strings"),
        )
    })
}
