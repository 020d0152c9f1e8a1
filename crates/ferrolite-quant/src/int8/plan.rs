//! Which operators get quantized and with which activation parameters.
//!
//! [`specs`] looks every operator up in the scheme's table. Operators without an integer rule,
//! and those the caller keeps float (`keep_float`: output tensor names or operator types), stay
//! float; without `allow_float_fallback` an operator without a rule is an error naming every
//! such operator. Operators that touch no float32 tensor at all (integer shape arithmetic) are
//! left alone silently.
//!
//! [`plan`] then chooses the parameters of every float activation a quantized operator reads or
//! writes: from its calibrated range (model inputs, outputs of requantizing operators, outputs
//! of float operators that feed quantized ones), fixed by the kernel (softmax, logistic, ...), or
//! shared (pooling, reshape and friends pass their input's parameters on; in int8 mode
//! CONCATENATION-like operators impose their output's parameters backwards on inputs that can
//! take them, TF's MLIR behaviour, while int16x8 follows TF's legacy quantizer and requantizes).

use super::constants;
use super::spec::{OpSpec, Output, Scheme};
use crate::calibration::Ranges;
use crate::error::{QuantError, Result};
use crate::graph::{consumers, producers};
use crate::params::Affine;
use ferrolite_model::{DType, Operator, Subgraph};

/// True for float32 tensors computed at run time (what gets quantized parameters).
pub(crate) fn is_activation(sg: &Subgraph, t: usize) -> bool {
    let tensor = &sg.tensors[t];
    tensor.dtype == DType::F32 && tensor.data.is_none() && !tensor.is_variable
}

/// Parameters from the calibrated range of `t`.
fn calibrated(sg: &Subgraph, ranges: &Ranges, t: usize, scheme: Scheme) -> Result<Affine> {
    let (lo, hi) = ranges.get(t).ok_or_else(|| {
        QuantError::tensor(
            sg,
            t,
            "has no calibrated range (it was never computed while calibrating)",
        )
    })?;
    if !lo.is_finite() || !hi.is_finite() {
        return Err(QuantError::tensor(
            sg,
            t,
            format!("calibrated range [{lo}, {hi}] is not finite; cannot quantize"),
        ));
    }
    Ok(scheme.params(lo, hi))
}

/// True when `op` reads or writes no float32 tensor (nothing to quantize, nothing to keep).
pub(crate) fn touches_no_float(sg: &Subgraph, op: &Operator) -> bool {
    op.inputs
        .iter()
        .chain(&op.outputs)
        .flatten()
        .all(|&t| sg.tensors[t].dtype != DType::F32)
}

/// True when `keep` names `op`: one of its output tensors, or its operator type
/// (case-insensitive).
fn kept(sg: &Subgraph, op: &Operator, keep: &str) -> bool {
    op.kind.name().eq_ignore_ascii_case(keep)
        || op
            .outputs
            .iter()
            .flatten()
            .any(|&t| sg.tensors[t].name == keep)
}

/// Looks up every operator's spec (`None`: the operator stays float). Errors list every
/// operator without a rule unless `allow_float` is set, and every `keep_float` entry that names
/// nothing.
pub(crate) fn specs(
    sg: &Subgraph,
    scheme: Scheme,
    keep_float: &[String],
    allow_float: bool,
) -> Result<Vec<Option<OpSpec>>> {
    for keep in keep_float {
        if !sg.operators.iter().any(|op| kept(sg, op, keep)) {
            return Err(QuantError::Unsupported(format!(
                "keep-float '{keep}' names no operator type and no operator output tensor"
            )));
        }
    }
    let mut out = Vec::with_capacity(sg.operators.len());
    let mut missing = Vec::new();
    for (o, op) in sg.operators.iter().enumerate() {
        if keep_float.iter().any(|k| kept(sg, op, k)) || touches_no_float(sg, op) {
            out.push(None);
            continue;
        }
        let s = scheme.spec(op);
        if s.is_none() {
            missing.push(o);
        }
        out.push(s);
    }
    if let (Some(&first), false) = (missing.first(), allow_float) {
        let others: Vec<String> = missing[1..]
            .iter()
            .map(|&o| format!("{o} ({})", sg.operators[o].kind.name()))
            .collect();
        let mut reason = format!("no {} kernel rule for this operator", scheme.act_name());
        if !others.is_empty() {
            reason += &format!("; also unsupported: {}", others.join(", "));
        }
        reason += " (allow_float_fallback / --allow-float-fallback keeps them float between \
                   DEQUANTIZE and QUANTIZE)";
        return Err(QuantError::op(sg, first, reason));
    }
    Ok(out)
}

/// Float activation inputs of `op` (slots and tensors).
fn activation_inputs<'a>(
    sg: &'a Subgraph,
    op: &'a Operator,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    op.inputs
        .iter()
        .enumerate()
        .filter_map(|(slot, t)| t.map(|t| (slot, t)))
        .filter(|&(_, t)| is_activation(sg, t))
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Parameters per tensor (`None`: not quantized here).
    pub params: Vec<Option<Affine>>,
    /// `(operator, slot)` inputs that need a requantizing QUANTIZE in front.
    pub requant: Vec<(usize, usize)>,
    /// The range behind each tensor's parameters, stretched to contain 0 (what TF's legacy
    /// quantizer records as min/max; pass-through outputs repeat their input's).
    pub minmax: Vec<Option<(f32, f32)>>,
}

/// A calibrated range stretched to contain 0.
fn stretched(r: (f32, f32)) -> (f32, f32) {
    (r.0.min(0.0), r.1.max(0.0))
}

/// Chooses the parameters of every float activation a quantized operator touches; returns them
/// per tensor and the `(operator, slot)` inputs that need a requantizing QUANTIZE in front.
pub(crate) fn plan(
    sg: &Subgraph,
    specs: &[Option<OpSpec>],
    ranges: &Ranges,
    scheme: Scheme,
) -> Result<Plan> {
    let mut p: Vec<Option<Affine>> = vec![None; sg.tensors.len()];
    let mut minmax: Vec<Option<(f32, f32)>> = vec![None; sg.tensors.len()];
    let producer = producers(sg);
    let uses = consumers(sg);
    let read_quantized = |t: usize| uses[t].iter().any(|&(o, _)| specs[o].is_some());
    // What produces `t`, for propagation: `None` for model inputs and float operators (their
    // tensors get a QUANTIZE, so they take whatever parameters they are given).
    let quantized_producer = |t: usize| producer[t].and_then(|q| specs[q].map(|s| (q, s)));
    // 1. Parameters a tensor owns: model inputs and float outputs that quantized operators
    //    read, free and fixed outputs, shared outputs.
    for t in 0..sg.tensors.len() {
        let boundary = producer[t].is_none_or(|q| specs[q].is_none());
        if boundary && is_activation(sg, t) && read_quantized(t) {
            p[t] = Some(calibrated(sg, ranges, t, scheme)?);
            minmax[t] = ranges.get(t).map(stretched);
        }
    }
    for (op, s) in sg.operators.iter().zip(specs) {
        let Some(s) = s else { continue };
        for t in op.outputs.iter().flatten().copied() {
            if !is_activation(sg, t) {
                continue;
            }
            p[t] = match s.output {
                Output::Free | Output::SharedByAll => {
                    minmax[t] = ranges.get(t).map(stretched);
                    Some(calibrated(sg, ranges, t, scheme)?)
                }
                Output::Fixed(scale, zero_point) => Some(Affine { scale, zero_point }),
                Output::SameAsInput => None,
            };
        }
    }
    // 2. int8: shared operators impose their output's parameters backwards, through
    //    pass-through and shared producers up to the first operators that requantize (or the
    //    boundary tensors), whose outputs then take them (TF drops those tensors' own
    //    statistics). Later shared operators first; fixed-output producers keep theirs.
    if scheme == Scheme::Int8 {
        for (o, op) in sg.operators.iter().enumerate().rev() {
            if specs[o].is_none_or(|s| s.output != Output::SharedByAll) {
                continue;
            }
            let Some(target) = op.outputs.first().copied().flatten().and_then(|t| p[t]) else {
                continue;
            };
            let mut stack: Vec<usize> = activation_inputs(sg, op).map(|(_, t)| t).collect();
            let mut visited = Vec::new();
            while let Some(t) = stack.pop() {
                if visited.contains(&t) {
                    continue;
                }
                visited.push(t);
                match quantized_producer(t).map(|(q, s)| (q, s.output, s.data)) {
                    None | Some((_, Output::Free, _)) => p[t] = Some(target),
                    Some((q, Output::SameAsInput, data)) => {
                        let d = sg.operators[q].inputs.get(data).copied().flatten();
                        stack.extend(d.filter(|&d| is_activation(sg, d)));
                    }
                    Some((q, Output::SharedByAll, _)) => {
                        p[t] = Some(target);
                        stack.extend(activation_inputs(sg, &sg.operators[q]).map(|(_, t)| t));
                    }
                    Some((_, Output::Fixed(..), _)) => {}
                }
            }
        }
    }
    // 3. Pass-through operators take their data input's parameters, in execution order.
    for (op, s) in sg.operators.iter().zip(specs) {
        let Some(s) = s.filter(|s| s.output == Output::SameAsInput) else {
            continue;
        };
        let from = op.inputs.get(s.data).copied().flatten();
        for t in op.outputs.iter().flatten().copied() {
            if !is_activation(sg, t) {
                continue;
            }
            p[t] = match from {
                Some(d) if is_activation(sg, d) => {
                    minmax[t] = minmax[d];
                    p[d]
                }
                Some(d) if sg.tensors[d].dtype == DType::F32 => {
                    Some(constants::own_params(sg, d, scheme)?)
                }
                _ => Some(calibrated(sg, ranges, t, scheme)?),
            };
            if p[t].is_none() {
                return Err(QuantError::tensor(sg, t, "input parameters unknown"));
            }
        }
    }
    // 4. Inputs of shared operators that still disagree get requantized.
    let mut requant = Vec::new();
    for (o, op) in sg.operators.iter().enumerate() {
        if specs[o].is_none_or(|s| s.output != Output::SharedByAll) {
            continue;
        }
        let target = op.outputs.first().copied().flatten().and_then(|t| p[t]);
        for (slot, t) in activation_inputs(sg, op) {
            if p[t] != target {
                requant.push((o, slot));
            }
        }
    }
    Ok(Plan {
        params: p,
        requant,
        minmax,
    })
}
