//! Full integer (int8) quantization of a calibrated float model.
//!
//! Every operator must be in the int8 table ([`spec`]); the pass then
//!
//! 1. gives each float activation its parameters: from its calibrated range (model inputs,
//!    outputs of requantizing operators such as CONV_2D, ADD, MEAN), fixed by the kernel
//!    (SOFTMAX/LOGISTIC 1/256 and -128, TANH 1/128 and 0, ...), or shared: pooling, reshape,
//!    pad and friends pass their input's parameters on, and CONCATENATION-like operators impose
//!    their output's parameters on inputs that can take them (TF's backward propagation) and
//!    requantize the others with an inserted QUANTIZE;
//! 2. quantizes constants by role: weights int8 symmetric per channel, biases int32 with
//!    `scale = input_scale * weight_scale[c]`, other constant operands like activations;
//! 3. makes the model's inputs and outputs int8, or keeps them float with a QUANTIZE after each
//!    input and a DEQUANTIZE before each output ([`Io::Float`]).

mod constants;
pub(crate) mod spec;

use crate::calibration::Ranges;
use crate::error::{QuantError, Result};
use crate::graph::{activation_like, consumers, names, producers, unique_name};
use crate::params::{int8_activation_params, Affine};
use crate::report::{QuantReport, Role, TensorReport};
use crate::{Io, QuantizeOptions};
use ferrolite_model::tflite::BuiltinOperator;
use ferrolite_model::{DType, Model, Operator, Quantization, Subgraph};
use spec::{op_spec, OpSpec, Output};

/// True for float32 tensors computed at run time (what gets int8 parameters).
fn is_activation(sg: &Subgraph, t: usize) -> bool {
    let tensor = &sg.tensors[t];
    tensor.dtype == DType::F32 && tensor.data.is_none() && !tensor.is_variable
}

/// Parameters from the calibrated range of `t`.
fn calibrated(sg: &Subgraph, ranges: &Ranges, t: usize) -> Result<Affine> {
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
    Ok(int8_activation_params(lo, hi))
}

/// Looks up every operator's spec; the error lists the unsupported ones.
fn specs(sg: &Subgraph) -> Result<Vec<OpSpec>> {
    let mut out = Vec::with_capacity(sg.operators.len());
    let mut missing = Vec::new();
    for (o, op) in sg.operators.iter().enumerate() {
        match op_spec(op) {
            Some(s) => out.push(s),
            None => missing.push(o),
        }
    }
    if let Some(&first) = missing.first() {
        let others: Vec<String> = missing[1..]
            .iter()
            .map(|&o| format!("{o} ({})", sg.operators[o].kind.name()))
            .collect();
        let mut reason = "no int8 kernel rule for this operator".to_string();
        if !others.is_empty() {
            reason += &format!("; also unsupported: {}", others.join(", "));
        }
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

/// Per-tensor parameters, and the `(operator, slot)` inputs to requantize.
type Plan = (Vec<Option<Affine>>, Vec<(usize, usize)>);

/// Chooses the parameters of every float activation; returns them per tensor and the
/// `(operator, slot)` inputs that need a requantizing QUANTIZE in front.
fn plan(sg: &Subgraph, specs: &[OpSpec], ranges: &Ranges) -> Result<Plan> {
    let mut p: Vec<Option<Affine>> = vec![None; sg.tensors.len()];
    let producer = producers(sg);
    // 1. Parameters a tensor owns: model inputs, free and fixed outputs, shared outputs.
    for &t in &sg.inputs {
        if is_activation(sg, t) {
            p[t] = Some(calibrated(sg, ranges, t)?);
        }
    }
    for (op, s) in sg.operators.iter().zip(specs) {
        for t in op.outputs.iter().flatten().copied() {
            if !is_activation(sg, t) {
                continue;
            }
            p[t] = match s.output {
                Output::Free | Output::SharedByAll => Some(calibrated(sg, ranges, t)?),
                Output::Fixed(scale, zero_point) => Some(Affine { scale, zero_point }),
                Output::SameAsInput => None,
            };
        }
    }
    // 2. Shared operators impose their output's parameters backwards: through pass-through
    //    and shared producers up to the first operators that requantize (or the model inputs),
    //    whose outputs then take them (TF drops those tensors' own statistics). Later shared
    //    operators first; fixed-output producers keep theirs (step 4 requantizes).
    for (o, op) in sg.operators.iter().enumerate().rev() {
        if specs[o].output != Output::SharedByAll {
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
            match producer[t].map(|q| (q, specs[q].output)) {
                None | Some((_, Output::Free)) => p[t] = Some(target),
                Some((q, Output::SameAsInput)) => {
                    let data = sg.operators[q].inputs.get(specs[q].data).copied().flatten();
                    stack.extend(data.filter(|&d| is_activation(sg, d)));
                }
                Some((q, Output::SharedByAll)) => {
                    p[t] = Some(target);
                    stack.extend(activation_inputs(sg, &sg.operators[q]).map(|(_, t)| t));
                }
                Some((_, Output::Fixed(..))) => {}
            }
        }
    }
    // 3. Pass-through operators take their data input's parameters, in execution order.
    for (op, s) in sg.operators.iter().zip(specs) {
        if s.output != Output::SameAsInput {
            continue;
        }
        let from = op.inputs.get(s.data).copied().flatten();
        for t in op.outputs.iter().flatten().copied() {
            if !is_activation(sg, t) {
                continue;
            }
            p[t] = match from {
                Some(d) if is_activation(sg, d) => p[d],
                Some(d) if sg.tensors[d].dtype == DType::F32 => Some(constants::own_params(sg, d)?),
                _ => Some(calibrated(sg, ranges, t)?),
            };
            if p[t].is_none() {
                return Err(QuantError::tensor(sg, t, "input parameters unknown"));
            }
        }
    }
    // 4. Inputs of shared operators that still disagree get requantized.
    let mut requant = Vec::new();
    for (o, op) in sg.operators.iter().enumerate() {
        if specs[o].output != Output::SharedByAll {
            continue;
        }
        let target = op.outputs.first().copied().flatten().and_then(|t| p[t]);
        for (slot, t) in activation_inputs(sg, op) {
            if p[t] != target {
                requant.push((o, slot));
            }
        }
    }
    Ok((p, requant))
}

/// Quantizes `model` to int8 using calibrated `ranges`.
pub(crate) fn run(
    model: &mut Model,
    opts: &QuantizeOptions,
    ranges: &Ranges,
) -> Result<QuantReport> {
    if opts.io == Io::Uint8 {
        return Err(QuantError::Unsupported(
            "uint8 model inputs/outputs are not supported yet; use int8 or float I/O".into(),
        ));
    }
    if model.subgraphs.len() != 1 {
        return Err(QuantError::Unsupported(format!(
            "int8 mode handles single-subgraph models; this one has {} subgraphs",
            model.subgraphs.len()
        )));
    }
    let sg = &mut model.subgraphs[0];
    let specs = specs(sg)?;
    let (params, requant) = plan(sg, &specs, ranges)?;
    let mut report = QuantReport {
        mode: "int8".into(),
        io: opts.io.name().into(),
        ops_quantized: sg.operators.len(),
        ..Default::default()
    };
    let mut constant_reports = constants::quantize(sg, &specs, &params)?;
    // Activations become int8 in place.
    let original_len = sg.tensors.len();
    for (t, p) in params.iter().enumerate() {
        if let (Some(p), true) = (p, is_activation(sg, t)) {
            let tensor = &mut sg.tensors[t];
            tensor.dtype = DType::I8;
            tensor.quantization = Some(Quantization::per_tensor(p.scale, p.zero_point));
        }
    }
    // Where a tensor came from, for the report's calibrated ranges.
    let mut origin: Vec<usize> = (0..original_len).collect();
    report.ops_added += insert_requantize(sg, &requant, &params, &mut origin);
    if opts.io == Io::Float {
        report.ops_added += float_io(sg, &mut origin);
    }
    for (t, tensor) in sg.tensors.iter().enumerate() {
        if tensor.dtype == DType::I8 && tensor.data.is_none() {
            let range = origin.get(t).and_then(|&o| ranges.get(o));
            report.tensors.push(TensorReport::quantized(
                0,
                t,
                tensor,
                Role::Activation,
                range,
            ));
        }
    }
    report.tensors.append(&mut constant_reports);
    Ok(report)
}

/// Inserts a QUANTIZE (int8 → int8) in front of each listed operator input, converting it to
/// the operator's output parameters. Returns the number of operators added.
fn insert_requantize(
    sg: &mut Subgraph,
    requant: &[(usize, usize)],
    params: &[Option<Affine>],
    origin: &mut Vec<usize>,
) -> usize {
    let mut taken = names(sg);
    let mut inserted: Vec<(usize, Operator)> = Vec::new();
    for &(o, slot) in requant {
        let Some(src) = sg.operators[o].inputs[slot] else {
            continue;
        };
        let Some(target) = sg.operators[o].outputs[0].and_then(|t| params[t]) else {
            continue;
        };
        let name = unique_name(&mut taken, &sg.tensors[src].name);
        let mut t = activation_like(&sg.tensors[src], name, DType::I8);
        t.quantization = Some(Quantization::per_tensor(target.scale, target.zero_point));
        sg.tensors.push(t);
        let new = sg.tensors.len() - 1;
        origin.push(origin[src]);
        sg.operators[o].inputs[slot] = Some(new);
        inserted.push((
            o,
            Operator::new(BuiltinOperator::Quantize, vec![Some(src)], vec![Some(new)]),
        ));
    }
    let count = inserted.len();
    // Insert from the back so earlier positions stay valid.
    for (o, op) in inserted.into_iter().rev() {
        sg.operators.insert(o, op);
    }
    count
}

/// Keeps the model's inputs and outputs float: QUANTIZE after each input, DEQUANTIZE before
/// each output (TF names the first quantized input `tfl.quantize`). Returns operators added.
fn float_io(sg: &mut Subgraph, origin: &mut Vec<usize>) -> usize {
    let mut taken = names(sg);
    let uses = consumers(sg);
    let mut front = Vec::new();
    for &t in &sg.inputs.clone() {
        if sg.tensors[t].dtype != DType::I8 || sg.tensors[t].data.is_some() {
            continue;
        }
        let name = unique_name_or(&mut taken, "tfl.quantize");
        let mut q = sg.tensors[t].clone();
        q.name = name;
        sg.tensors.push(q);
        let new = sg.tensors.len() - 1;
        origin.push(origin[t]);
        let input = &mut sg.tensors[t];
        input.dtype = DType::F32;
        input.quantization = None;
        for &(o, slot) in &uses[t] {
            sg.operators[o].inputs[slot] = Some(new);
        }
        front.push(Operator::new(
            BuiltinOperator::Quantize,
            vec![Some(t)],
            vec![Some(new)],
        ));
    }
    let mut back = Vec::new();
    let producer = producers(sg);
    let uses = consumers(sg);
    for &t in &sg.outputs.clone() {
        if sg.tensors[t].dtype != DType::I8 || sg.tensors[t].data.is_some() {
            continue;
        }
        let name = unique_name(&mut taken, &sg.tensors[t].name);
        let mut q = sg.tensors[t].clone();
        q.name = name;
        sg.tensors.push(q);
        let new = sg.tensors.len() - 1;
        origin.push(origin[t]);
        let output = &mut sg.tensors[t];
        output.dtype = DType::F32;
        output.quantization = None;
        if let Some(o) = producer[t] {
            for slot in sg.operators[o].outputs.iter_mut() {
                if *slot == Some(t) {
                    *slot = Some(new);
                }
            }
        }
        for &(o, slot) in &uses[t] {
            sg.operators[o].inputs[slot] = Some(new);
        }
        let mut dq = Operator::new(BuiltinOperator::Dequantize, vec![Some(new)], vec![Some(t)]);
        dq.version = 2;
        back.push(dq);
    }
    let added = front.len() + back.len();
    sg.operators.splice(0..0, front);
    sg.operators.extend(back);
    added
}

/// `base` itself when unused, else `base` with a number appended.
fn unique_name_or(taken: &mut std::collections::HashSet<String>, base: &str) -> String {
    if taken.insert(base.to_string()) {
        base.to_string()
    } else {
        unique_name(taken, base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolite_model::tflite::BuiltinOperator as B;
    use ferrolite_model::{Bytes, Tensor};

    fn act(name: &str) -> Tensor {
        Tensor::new(name, DType::F32, vec![1, 4])
    }

    fn constant(name: &str, dtype: DType, shape: Vec<i32>, bytes: Vec<u8>) -> Tensor {
        let mut t = Tensor::new(name, dtype, shape);
        t.data = Some(Bytes::from_vec(bytes));
        t
    }

    /// input(0) → FC(1 weight, 2 bias) → 3 → RESHAPE(5) → 4 ┐
    /// input(0) ───────────────── LOGISTIC → 8 ─────────────┤→ CONCAT → 6 → SOFTMAX → 7
    fn graph() -> (Subgraph, Ranges) {
        let w: Vec<u8> = (0..16)
            .flat_map(|i| (i as f32 / 8.0 - 1.0).to_le_bytes())
            .collect();
        let b: Vec<u8> = [0.5f32, -0.5, 0.25, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let shape: Vec<u8> = [1i32, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensors = vec![
            act("in"),
            constant("w", DType::F32, vec![4, 4], w),
            constant("b", DType::F32, vec![4], b),
            act("fc"),
            act("reshape"),
            constant("shape", DType::I32, vec![2], shape),
            act("concat"),
            act("softmax"),
            act("sigmoid"),
        ];
        let op = |k, i: &[usize], o: usize| {
            Operator::new(k, i.iter().map(|&t| Some(t)).collect(), vec![Some(o)])
        };
        let sg = Subgraph {
            tensors,
            inputs: vec![0],
            outputs: vec![7],
            operators: vec![
                op(B::FullyConnected, &[0, 1, 2], 3),
                op(B::Reshape, &[3, 5], 4),
                op(B::Logistic, &[0], 8),
                op(B::Concatenation, &[4, 8], 6),
                op(B::Softmax, &[6], 7),
            ],
            ..Default::default()
        };
        let mut ranges = vec![None; 9];
        for (t, r) in [
            (0, (0.0, 1.0)),
            (3, (-2.0, 2.0)),
            (4, (-2.0, 2.0)),
            (6, (-3.0, 3.0)),
            (7, (0.0, 1.0)),
            (8, (0.5, 0.7)),
        ] {
            ranges[t] = Some(r);
        }
        (sg, Ranges { ranges, samples: 1 })
    }

    #[test]
    fn shared_output_params_flow_back_through_pass_through_ops() {
        let (sg, ranges) = graph();
        let specs = specs(&sg).unwrap();
        let (p, requant) = plan(&sg, &specs, &ranges).unwrap();
        let shared = int8_activation_params(-3.0, 3.0);
        // FC output takes the concat's parameters (through the RESHAPE), as in TF.
        assert_eq!(p[3], Some(shared));
        assert_eq!(p[4], Some(shared));
        assert_eq!(p[6], Some(shared));
        assert_eq!(p[0], Some(int8_activation_params(0.0, 1.0)));
        assert_eq!(
            p[7],
            Some(Affine {
                scale: 1.0 / 256.0,
                zero_point: -128
            })
        );
        // LOGISTIC's output is fixed, so it is requantized in front of the concat.
        assert_eq!(
            p[8],
            Some(Affine {
                scale: 1.0 / 256.0,
                zero_point: -128
            })
        );
        assert_eq!(requant, vec![(3, 1)]);
    }

    #[test]
    fn rewrite_inserts_requantize_and_float_io() {
        let (sg, ranges) = graph();
        let mut model = Model {
            version: 3,
            subgraphs: vec![sg],
            ..Default::default()
        };
        let mut opts = QuantizeOptions::new(crate::Mode::Int8);
        opts.io = Io::Float;
        let report = run(&mut model, &opts, &ranges).unwrap();
        let sg = &model.subgraphs[0];
        let names: Vec<String> = sg.operators.iter().map(|o| o.kind.name()).collect();
        assert_eq!(
            names,
            [
                "QUANTIZE",
                "FULLY_CONNECTED",
                "RESHAPE",
                "LOGISTIC",
                "QUANTIZE",
                "CONCATENATION",
                "SOFTMAX",
                "DEQUANTIZE"
            ]
        );
        assert_eq!(report.ops_added, 3);
        assert_eq!(sg.tensors[0].dtype, DType::F32);
        assert_eq!(sg.tensors[7].dtype, DType::F32);
        assert_eq!(sg.tensors[1].dtype, DType::I8);
        assert_eq!(sg.tensors[2].dtype, DType::I32);
        // The bias scale is the FC input's scale times each weight channel's scale.
        let input = sg.tensors[sg.operators[1].inputs[0].unwrap()]
            .quantization
            .clone()
            .unwrap();
        let w = sg.tensors[1].quantization.clone().unwrap();
        let b = sg.tensors[2].quantization.clone().unwrap();
        assert_eq!(
            b.scale,
            crate::params::bias_scales(input.scale[0], &w.scale)
        );
        assert!(report.tensors.iter().any(|t| t.role == Role::Bias));
    }

    #[test]
    fn unsupported_operators_are_named() {
        let (mut sg, ranges) = graph();
        sg.operators[2].kind = ferrolite_model::OpKind::Builtin(B::Lstm);
        sg.operators[4].kind = ferrolite_model::OpKind::Custom("MyOp".into());
        let err = specs(&sg).unwrap_err().to_string();
        assert!(err.contains("operator 2 (LSTM)"), "{err}");
        assert!(err.contains("4 (MyOp)"), "{err}");
        let _ = ranges;
    }
}
