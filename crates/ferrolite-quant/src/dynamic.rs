//! Dynamic-range ("hybrid") mode: the constant weights of CONV_2D, DEPTHWISE_CONV_2D,
//! FULLY_CONNECTED and BATCH_MATMUL become int8 while activations stay float32; LiteRT's hybrid
//! kernels quantize the activations on the fly.
//!
//! The rules are TF 2.21's: a weight is quantized when it has at least `min_elements` elements
//! (1024 by default); CONV_2D and FULLY_CONNECTED weights are per-channel along axis 0,
//! DEPTHWISE_CONV_2D along axis 3, BATCH_MATMUL per-tensor; FULLY_CONNECTED and BATCH_MATMUL get
//! `asymmetric_quantize_inputs = true`; biases stay float. Versions follow (hybrid per-channel
//! CONV_2D 5, DEPTHWISE_CONV_2D 6, FULLY_CONNECTED 12, asymmetric BATCH_MATMUL 4).

use crate::error::Result;
use crate::graph::{constant_f32, consumers, dims, i8_bytes, is_f32_constant, names, unique_name};
use crate::params::{symmetric_per_channel, symmetric_per_tensor, SymmetricWeights};
use crate::report::{QuantReport, Role, TensorReport};
use crate::QuantizeOptions;
use ferrolite_model::tflite::{
    BatchMatMulOptions, BuiltinOperator as B, BuiltinOptions, FullyConnectedOptions,
    FullyConnectedOptionsWeightsFormat,
};
use ferrolite_model::{DType, Model, OpKind, Operator, Quantization, Subgraph};
use std::collections::HashMap;

/// How one operator kind is made hybrid.
struct Hybrid {
    /// Input slot of the weight.
    slot: usize,
    /// Per-channel axis of the weight, `None` for per-tensor.
    axis: Option<usize>,
}

fn hybrid_spec(op: &Operator) -> Option<Hybrid> {
    let OpKind::Builtin(kind) = op.kind else {
        return None;
    };
    let (slot, axis) = match kind {
        B::Conv2d | B::FullyConnected => (1, Some(0)),
        B::DepthwiseConv2d => (1, Some(3)),
        B::BatchMatmul => (1, None),
        _ => return None,
    };
    if let Some(BuiltinOptions::FullyConnectedOptions(o)) = &op.options {
        if o.weights_format != FullyConnectedOptionsWeightsFormat::Default {
            return None;
        }
    }
    Some(Hybrid { slot, axis })
}

/// True when the operator's data input and first output are float32 (a float operator).
fn float_io(sg: &Subgraph, op: &Operator) -> bool {
    let is_f32 = |t: Option<&Option<usize>>| {
        t.copied()
            .flatten()
            .is_some_and(|t| sg.tensors[t].dtype == DType::F32)
    };
    is_f32(op.inputs.first()) && is_f32(op.outputs.first())
}

/// Sets the flag that makes LiteRT quantize the float input asymmetrically.
fn set_asymmetric_inputs(op: &mut Operator) {
    match op.kind {
        OpKind::Builtin(B::FullyConnected) => {
            let mut o = match op.options.take() {
                Some(BuiltinOptions::FullyConnectedOptions(o)) => o,
                _ => Box::new(FullyConnectedOptions::default()),
            };
            o.asymmetric_quantize_inputs = true;
            op.options = Some(BuiltinOptions::FullyConnectedOptions(o));
        }
        OpKind::Builtin(B::BatchMatmul) => {
            let mut o = match op.options.take() {
                Some(BuiltinOptions::BatchMatMulOptions(o)) => o,
                _ => Box::new(BatchMatMulOptions::default()),
            };
            o.asymmetric_quantize_inputs = true;
            op.options = Some(BuiltinOptions::BatchMatMulOptions(o));
        }
        _ => {}
    }
}

/// Quantizes the eligible weights of every subgraph.
pub(crate) fn run(
    model: &mut Model,
    opts: &QuantizeOptions,
    report: &mut QuantReport,
) -> Result<()> {
    for (s, sg) in model.subgraphs.iter_mut().enumerate() {
        let uses = consumers(sg);
        let mut taken = names(sg);
        // (float tensor, axis) -> its int8 replacement.
        let mut done: HashMap<(usize, Option<usize>), usize> = HashMap::new();
        for o in 0..sg.operators.len() {
            let op = &sg.operators[o];
            let Some(spec) = hybrid_spec(op) else {
                continue;
            };
            let Some(w) = op.inputs.get(spec.slot).copied().flatten() else {
                continue;
            };
            let wt = &sg.tensors[w];
            if !float_io(sg, op) || !is_f32_constant(wt) {
                continue;
            }
            let shape = dims(wt);
            let count = wt.element_count().unwrap_or(0);
            if count < opts.min_elements || spec.axis.is_some_and(|a| a >= shape.len()) {
                continue;
            }
            let target = if let Some(&t) = done.get(&(w, spec.axis)) {
                t
            } else {
                let values = constant_f32(sg, w)?;
                if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
                    return Err(crate::QuantError::tensor(
                        sg,
                        w,
                        format!("weight holds a non-finite value ({bad}); cannot quantize"),
                    ));
                }
                let q = match spec.axis {
                    Some(axis) => symmetric_per_channel(&values, &shape, axis),
                    None => symmetric_per_tensor(&values),
                };
                // Quantize in place when every reader of the weight takes the int8 version;
                // otherwise add a new tensor and keep the float one for the others.
                let shared = uses[w].iter().any(|&(u, slot)| {
                    let other = &sg.operators[u];
                    hybrid_spec(other).is_none_or(|h| h.slot != slot || h.axis != spec.axis)
                        || !float_io(sg, other)
                }) || sg.outputs.contains(&w);
                let t = if shared {
                    let mut copy = sg.tensors[w].clone();
                    copy.name = unique_name(&mut taken, &copy.name);
                    sg.tensors.push(copy);
                    sg.tensors.len() - 1
                } else {
                    w
                };
                write_int8(sg, t, &q, spec.axis);
                let m = q.max_abs.iter().fold(0f32, |a, &b| a.max(b));
                report.tensors.push(TensorReport::quantized(
                    s,
                    t,
                    &sg.tensors[t],
                    Role::Weight,
                    Some((-m, m)),
                ));
                done.insert((w, spec.axis), t);
                t
            };
            let op = &mut sg.operators[o];
            op.inputs[spec.slot] = Some(target);
            set_asymmetric_inputs(op);
            report.ops_quantized += 1;
        }
    }
    Ok(())
}

/// Stores int8 weights and their symmetric parameters into tensor `t`.
fn write_int8(sg: &mut Subgraph, t: usize, q: &SymmetricWeights, axis: Option<usize>) {
    let tensor = &mut sg.tensors[t];
    tensor.dtype = DType::I8;
    tensor.data = Some(i8_bytes(&q.values));
    tensor.quantization = Some(Quantization {
        scale: q.scales.clone(),
        zero_point: vec![0; q.scales.len()],
        quantized_dimension: axis.unwrap_or(0) as i32,
        ..Default::default()
    });
}
