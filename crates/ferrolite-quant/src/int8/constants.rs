//! The constant operands of quantized operators, quantized by role. Weights are int8 symmetric
//! (per channel along the operator's axis), biases int32 (int64 in int16x8 mode) with
//! `scale = data_scale * weight_scale[c]`, and any other float constant like an activation:
//! with the parameters the operator imposes (pass-through and shared operators) or from its own
//! value range. A constant read in two different roles is duplicated so each reader gets its own
//! encoding; a constant also read by an operator that stays float keeps its float original.
//! In int16x8 mode the tensors also carry the min/max TF's legacy quantizer records.

use super::spec::{OpSpec, Output, Scheme};
use crate::error::{QuantError, Result};
use crate::graph::{constant_f32, dims, i32_bytes, i8_bytes, is_f32_constant, names, unique_name};
use crate::params::{
    bias_scales, constant_params, int16_constant, quantize_affine, quantize_bias,
    quantize_bias_i64, symmetric_per_channel, symmetric_per_channel_legacy, symmetric_per_tensor,
    Affine, SymmetricWeights,
};
use crate::report::{Role, TensorReport};
use ferrolite_model::{Bytes, DType, Quantization, Subgraph};

/// The encoding one reader wants for a constant.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// Symmetric int8, per channel along the axis (per tensor when `None`).
    Weight(Option<usize>),
    /// int32 with these scales (zero points 0).
    Bias(Vec<f32>),
    /// Asymmetric int8 with these parameters.
    Act(Affine),
}

/// A constant tensor, one encoding of it, and the `(operator, slot)` readers wanting it.
type Group = (usize, Want, Vec<(usize, usize)>);

/// Parameters of a float constant quantized from its own value range.
pub(crate) fn own_params(sg: &Subgraph, t: usize, scheme: Scheme) -> Result<Affine> {
    let values = finite_values(sg, t)?;
    Ok(match scheme {
        Scheme::Int8 => constant_params(&values),
        Scheme::Int16x8 => int16_constant(&values).0,
    })
}

fn finite_values(sg: &Subgraph, t: usize) -> Result<Vec<f32>> {
    let values = constant_f32(sg, t)?;
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(QuantError::tensor(
            sg,
            t,
            format!("holds a non-finite value ({bad}); cannot quantize"),
        ));
    }
    Ok(values)
}

fn weights(
    sg: &Subgraph,
    t: usize,
    axis: Option<usize>,
    scheme: Scheme,
) -> Result<(SymmetricWeights, Option<usize>)> {
    let values = finite_values(sg, t)?;
    let shape = dims(&sg.tensors[t]);
    Ok(match (axis, scheme) {
        (Some(a), Scheme::Int8) if a < shape.len() => {
            (symmetric_per_channel(&values, &shape, a), Some(a))
        }
        (Some(a), Scheme::Int16x8) if a < shape.len() => {
            (symmetric_per_channel_legacy(&values, &shape, a), Some(a))
        }
        _ => (symmetric_per_tensor(&values), None),
    })
}

/// What reader `(op, slot)` of constant `t` needs.
fn want(
    sg: &Subgraph,
    spec: &OpSpec,
    op: usize,
    slot: usize,
    params: &[Option<Affine>],
    scheme: Scheme,
) -> Result<Want> {
    let inputs = &sg.operators[op].inputs;
    if let Some((w, axis)) = spec.weight {
        if slot == w {
            return Ok(Want::Weight(axis));
        }
    }
    if spec.bias == Some(slot) {
        let (w, axis) = spec.weight.expect("a bias comes with a weight");
        let data = inputs
            .get(spec.data)
            .copied()
            .flatten()
            .and_then(|d| params[d]);
        let weight = inputs.get(w).copied().flatten();
        let (Some(data), Some(weight)) = (data, weight) else {
            return Err(QuantError::op(
                sg,
                op,
                "the bias needs a quantized input and weight",
            ));
        };
        if !is_f32_constant(&sg.tensors[weight]) {
            return Err(QuantError::op(
                sg,
                op,
                "the weight is not a float32 constant",
            ));
        }
        let (q, _) = weights(sg, weight, axis, scheme)?;
        return Ok(Want::Bias(bias_scales(data.scale, &q.scales)));
    }
    let out = sg.operators[op].outputs.first().copied().flatten();
    let own = || own_params(sg, inputs[slot].expect("slot holds a tensor"), scheme);
    Ok(match (spec.output, out.and_then(|o| params[o]), scheme) {
        (Output::SameAsInput | Output::SharedByAll, Some(p), Scheme::Int8) => Want::Act(p),
        // The legacy quantizer only requantizes constants of shared-scale operators.
        (Output::SharedByAll, Some(p), Scheme::Int16x8) => Want::Act(p),
        _ => Want::Act(own()?),
    })
}

/// Quantizes every float constant operand of the quantized operators (`specs[o]` is `None` for
/// an operator that stays float); returns their report entries.
pub(crate) fn quantize(
    sg: &mut Subgraph,
    specs: &[Option<OpSpec>],
    params: &[Option<Affine>],
    scheme: Scheme,
) -> Result<Vec<TensorReport>> {
    // (tensor, wanted encoding, readers)
    let mut groups: Vec<Group> = Vec::new();
    // Constants a float operator (or the model's outputs) also read keep their float original.
    let mut seen: Vec<usize> = sg.outputs.clone();
    for (o, spec) in specs.iter().enumerate() {
        for (slot, t) in sg.operators[o].inputs.iter().enumerate() {
            let Some(t) = *t else { continue };
            if !is_f32_constant(&sg.tensors[t]) {
                continue;
            }
            let Some(spec) = spec else {
                seen.push(t);
                continue;
            };
            let w = want(sg, spec, o, slot, params, scheme)?;
            match groups.iter_mut().find(|g| g.0 == t && g.1 == w) {
                Some(g) => g.2.push((o, slot)),
                None => groups.push((t, w, vec![(o, slot)])),
            }
        }
    }
    // The first encoding of a tensor is written in place, the others into copies; all copies
    // are made before anything is encoded so each starts from the float values.
    let mut taken = names(sg);
    let mut targets = Vec::with_capacity(groups.len());
    for (t, _, readers) in &groups {
        if seen.contains(t) {
            let mut copy = sg.tensors[*t].clone();
            copy.name = unique_name(&mut taken, &copy.name);
            sg.tensors.push(copy);
            let c = sg.tensors.len() - 1;
            for &(o, slot) in readers {
                sg.operators[o].inputs[slot] = Some(c);
            }
            targets.push(c);
        } else {
            seen.push(*t);
            targets.push(*t);
        }
    }
    let mut reports = Vec::new();
    for ((_, w, _), target) in groups.iter().zip(targets) {
        reports.push(encode(sg, target, w, scheme)?);
    }
    Ok(reports)
}

/// Little-endian bytes of `i64` values.
fn i64_bytes(v: &[i64]) -> Bytes {
    Bytes::from_vec(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Little-endian bytes of `i16` values.
fn i16_bytes(v: &[i16]) -> Bytes {
    Bytes::from_vec(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// Writes encoding `w` into constant `t` and describes it.
fn encode(sg: &mut Subgraph, t: usize, w: &Want, scheme: Scheme) -> Result<TensorReport> {
    let values = finite_values(sg, t)?;
    let (lo, hi) = values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let (dtype, data, q, role, range) = match w {
        Want::Weight(axis) => {
            let (q, axis) = weights(sg, t, *axis, scheme)?;
            let m = q.max_abs.iter().fold(0f32, |a, &b| a.max(b));
            let legacy = scheme == Scheme::Int16x8;
            let quant = Quantization {
                zero_point: vec![0; q.scales.len()],
                scale: q.scales,
                quantized_dimension: axis.unwrap_or(0) as i32,
                min: if legacy { q.min } else { Vec::new() },
                max: if legacy { q.max } else { Vec::new() },
                ..Default::default()
            };
            (DType::I8, i8_bytes(&q.values), quant, Role::Weight, (-m, m))
        }
        Want::Bias(scales) => {
            if scales.len() > 1 && scales.len() != values.len() {
                return Err(QuantError::tensor(
                    sg,
                    t,
                    format!(
                        "bias has {} values but the weight has {} channels",
                        values.len(),
                        scales.len()
                    ),
                ));
            }
            let quant = Quantization {
                scale: scales.clone(),
                zero_point: vec![0; scales.len()],
                ..Default::default()
            };
            let data = match scheme {
                Scheme::Int8 => i32_bytes(&quantize_bias(&values, scales)),
                Scheme::Int16x8 => i64_bytes(&quantize_bias_i64(&values, scales)),
            };
            (scheme.bias_dtype(), data, quant, Role::Bias, (lo, hi))
        }
        Want::Act(p) => match scheme {
            Scheme::Int8 => {
                let q: Vec<i8> = quantize_affine(&values, *p, -128, 127)
                    .into_iter()
                    .map(|v| v as i8)
                    .collect();
                let quant = Quantization::per_tensor(p.scale, p.zero_point);
                (DType::I8, i8_bytes(&q), quant, Role::Constant, (lo, hi))
            }
            Scheme::Int16x8 => {
                let inverse = (1.0 / f64::from(p.scale)) as f32;
                let q: Vec<i16> = values
                    .iter()
                    .map(|&v| (v * inverse).round().clamp(-32767.0, 32767.0) as i16)
                    .collect();
                let mut quant = Quantization::per_tensor(p.scale, 0);
                quant.min = vec![lo];
                quant.max = vec![hi];
                (DType::I16, i16_bytes(&q), quant, Role::Constant, (lo, hi))
            }
        },
    };
    let tensor = &mut sg.tensors[t];
    tensor.dtype = dtype;
    tensor.data = Some(data);
    tensor.quantization = Some(q);
    Ok(TensorReport::quantized(0, t, tensor, role, Some(range)))
}
