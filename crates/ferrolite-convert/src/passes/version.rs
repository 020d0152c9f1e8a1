//! Operator versions as TF's converter stamps them for float graphs.
//!
//! The rules follow TFLite's `op_version.cc` for float32 operands: version 1 nearly everywhere,
//! FULLY_CONNECTED with `keep_num_dims` is version 5, a dilated DEPTHWISE_CONV_2D version 2,
//! PAD above rank 4 version 4, broadcasting SUB / MAXIMUM / MINIMUM above rank 4 version 3.

use crate::graph::signature;
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::{OpKind, Operator, Subgraph};

fn input_sig(sg: &Subgraph, op: &Operator, i: usize) -> Option<Vec<i32>> {
    let t = op.inputs.get(i).copied().flatten()?;
    sg.tensors.get(t).map(signature)
}

fn broadcast_above_4d(sg: &Subgraph, op: &Operator) -> bool {
    match (input_sig(sg, op, 0), input_sig(sg, op, 1)) {
        (Some(a), Some(b)) => a != b && a.len().max(b.len()) > 4,
        _ => false,
    }
}

/// The version TF would give a float op.
pub fn float_op_version(sg: &Subgraph, op: &Operator) -> i32 {
    let OpKind::Builtin(b) = op.kind else {
        return 1;
    };
    match (b, &op.options) {
        (B::FullyConnected, Some(BuiltinOptions::FullyConnectedOptions(o))) if o.keep_num_dims => 5,
        (B::DepthwiseConv2d, Some(BuiltinOptions::DepthwiseConv2DOptions(o)))
            if o.dilation_w_factor != 1 || o.dilation_h_factor != 1 =>
        {
            2
        }
        (B::Pad, _) if input_sig(sg, op, 0).is_some_and(|s| s.len() > 4) => 4,
        (B::Sub | B::Maximum | B::Minimum, _) if broadcast_above_4d(sg, op) => 3,
        _ => 1,
    }
}

/// Sets every operator's version.
pub fn stamp_versions(sg: &mut Subgraph) {
    let versions: Vec<i32> = sg
        .operators
        .iter()
        .map(|op| float_op_version(sg, op))
        .collect();
    for (op, v) in sg.operators.iter_mut().zip(versions) {
        op.version = v;
    }
}
