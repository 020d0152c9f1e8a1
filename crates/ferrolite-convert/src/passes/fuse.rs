//! Fusing RELU, RELU6 and RELU_N1_TO_1 into the op that produces their input.
//!
//! TFLite's CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB and MUL apply a
//! `fused_activation_function`; TF's converter moves a following relu-family op into it when
//! the producer's result has no other use. TRANSPOSE_CONV takes one too, and TF fuses into it
//! only when it has a bias operand. TANH, LOGISTIC and the rest stay separate ops, as in TF's
//! output. A FULLY_CONNECTED whose result has other uses gets a copy carrying the activation
//! (TF's pattern does not require a single use there; it does for the convolutions).

use super::affine::{no_activation, set_fused_activation};
use crate::graph::{consumers, is_graph_output, is_op, op_label, producers, take_over_output};
use crate::report::{EventKind, Report};
use ferrolite_model::tflite::{ActivationFunctionType as Act, BuiltinOperator as B};
use ferrolite_model::{OpKind, Operator, Subgraph};

fn fusable_activation(kind: &OpKind) -> Option<Act> {
    match kind {
        OpKind::Builtin(B::Relu) => Some(Act::Relu),
        OpKind::Builtin(B::Relu6) => Some(Act::Relu6),
        OpKind::Builtin(B::ReluN1To1) => Some(Act::ReluN1To1),
        _ => None,
    }
}

fn accepts_activation(op: &Operator) -> bool {
    match op.kind {
        OpKind::Builtin(
            B::Conv2d | B::DepthwiseConv2d | B::FullyConnected | B::Add | B::Sub | B::Mul,
        ) => true,
        OpKind::Builtin(B::TransposeConv) => op.inputs.get(3).copied().flatten().is_some(),
        _ => false,
    }
}

/// Fuses activations into their producers; returns how many were fused.
pub fn fuse_activations(sg: &mut Subgraph, report: &mut Report) -> usize {
    let mut fused = 0;
    'restart: loop {
        let cons = consumers(sg);
        let prods = producers(sg);
        for ai in 0..sg.operators.len() {
            let aop = &sg.operators[ai];
            let Some(act) = fusable_activation(&aop.kind) else {
                continue;
            };
            let (Some(Some(x)), Some(Some(y))) =
                (aop.inputs.first().copied(), aop.outputs.first().copied())
            else {
                continue;
            };
            let Some(pi) = prods[x] else { continue };
            let pop = &sg.operators[pi];
            if !accepts_activation(pop)
                || !no_activation(pop)
                || pop.options.is_none()
                || pop.outputs.len() != 1
            {
                continue;
            }
            if cons[x].len() != 1 || is_graph_output(sg, x) {
                // TF fuses into a FULLY_CONNECTED with other uses too, by giving the activation
                // its own copy of the op (the weights stay shared).
                if !is_op(pop, B::FullyConnected) {
                    continue;
                }
                let mut copy = pop.clone();
                if !set_fused_activation(&mut copy, act) {
                    continue;
                }
                let message = format!("{} into a copy of {}", op_label(sg, ai), op_label(sg, pi));
                copy.outputs[0] = Some(y);
                sg.operators[ai] = copy;
                report.push(EventKind::Fused, message);
                fused += 1;
                continue 'restart;
            }
            let message = format!("{} into {}", op_label(sg, ai), op_label(sg, pi));
            if !set_fused_activation(&mut sg.operators[pi], act) {
                continue;
            }
            take_over_output(sg, pi, y);
            sg.operators.remove(ai);
            report.push(EventKind::Fused, message);
            fused += 1;
            continue 'restart;
        }
        return fused;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;
    use ferrolite_model::tflite::BuiltinOptions;

    fn graph(extra_use: bool) -> (GraphBuilder, usize) {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 2]);
        let w = b.const_f32("w", &[2, 2], &[1.0; 4]);
        let y = b.activation("fc", &[-1, 2]);
        let fc = Some(BuiltinOptions::FullyConnectedOptions(Box::default()));
        b.op(B::FullyConnected, vec![Some(x), Some(w), None], vec![y], fc);
        let r = b.activation("relu6", &[-1, 2]);
        b.op(B::Relu6, vec![Some(y)], vec![r], None);
        b.sg.outputs = vec![r];
        if extra_use {
            let t = b.activation("tanh", &[-1, 2]);
            b.op(B::Tanh, vec![Some(y)], vec![t], None);
            b.sg.outputs.push(t);
        }
        (b, r)
    }

    #[test]
    fn relu6_fuses_into_its_producer() {
        let (mut b, r) = graph(false);
        assert_eq!(fuse_activations(&mut b.sg, &mut Report::default()), 1);
        assert_eq!(b.sg.operators.len(), 1);
        assert_eq!(b.sg.operators[0].outputs, vec![Some(r)]);
        assert_eq!(
            super::super::affine::fused_activation(&b.sg.operators[0]),
            Some(Act::Relu6)
        );
        // With another use of its result, the FULLY_CONNECTED is copied (TF's behaviour).
        let (mut b, r) = graph(true);
        assert_eq!(fuse_activations(&mut b.sg, &mut Report::default()), 1);
        assert_eq!(b.sg.operators.len(), 3);
        assert_eq!(b.sg.operators[1].outputs, vec![Some(r)]);
        assert!(is_op(&b.sg.operators[1], B::FullyConnected));
        assert_eq!(
            super::super::affine::fused_activation(&b.sg.operators[0]),
            Some(Act::None)
        );
    }
}
