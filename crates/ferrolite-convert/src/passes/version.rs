//! Operator versions as TF's converter stamps them for float graphs.
//!
//! The rules follow TFLite's `op_version.cc` for float32 operands: version 1 nearly everywhere;
//! FULLY_CONNECTED with `keep_num_dims` is version 5, a grouped CONV_2D version 6, a dilated
//! DEPTHWISE_CONV_2D version 2, TRANSPOSE_CONV with a bias 3 (4 with a fused activation),
//! RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR with half-pixel centers 3, and the rank-dependent
//! versions of PAD, SLICE, STRIDED_SLICE, TRANSPOSE and the broadcasting binary ops.

use crate::graph::signature;
use ferrolite_model::tflite::{
    ActivationFunctionType as Act, BuiltinOperator as B, BuiltinOptions,
};
use ferrolite_model::{OpKind, Operator, Subgraph};

fn input_sig(sg: &Subgraph, op: &Operator, i: usize) -> Option<Vec<i32>> {
    let t = op.inputs.get(i).copied().flatten()?;
    sg.tensors.get(t).map(signature)
}

fn rank(sg: &Subgraph, op: &Operator, i: usize) -> usize {
    input_sig(sg, op, i).map_or(0, |s| s.len())
}

fn broadcast_above_4d(sg: &Subgraph, op: &Operator) -> bool {
    match (input_sig(sg, op, 0), input_sig(sg, op, 1)) {
        (Some(a), Some(b)) => a != b && a.len().max(b.len()) > 4,
        _ => false,
    }
}

/// True for a CONV_2D whose filter depth is smaller than its input depth (grouped).
fn grouped(sg: &Subgraph, op: &Operator) -> bool {
    match (input_sig(sg, op, 0), input_sig(sg, op, 1)) {
        (Some(x), Some(w)) => x.len() == 4 && w.len() == 4 && x[3] > 0 && x[3] != w[3],
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
        (B::Conv2d, _) if grouped(sg, op) => 6,
        (B::DepthwiseConv2d, Some(BuiltinOptions::DepthwiseConv2DOptions(o)))
            if o.dilation_w_factor != 1 || o.dilation_h_factor != 1 =>
        {
            2
        }
        (B::TransposeConv, Some(BuiltinOptions::TransposeConvOptions(o)))
            if o.fused_activation_function != Act::None =>
        {
            4
        }
        (B::TransposeConv, _) if op.inputs.get(3).copied().flatten().is_some() => 3,
        (B::ResizeBilinear, Some(BuiltinOptions::ResizeBilinearOptions(o)))
            if o.half_pixel_centers =>
        {
            3
        }
        (B::ResizeNearestNeighbor, Some(BuiltinOptions::ResizeNearestNeighborOptions(o)))
            if o.half_pixel_centers || o.align_corners =>
        {
            3
        }
        (B::StridedSlice, Some(BuiltinOptions::StridedSliceOptions(o))) if o.offset => 8,
        (B::StridedSlice, Some(BuiltinOptions::StridedSliceOptions(o)))
            if o.ellipsis_mask != 0 || o.new_axis_mask != 0 =>
        {
            6
        }
        (B::StridedSlice, _) if rank(sg, op, 0) > 4 => 4,
        (B::Slice, _) if rank(sg, op, 0) > 4 => 5,
        (B::Transpose, _) if rank(sg, op, 0) > 5 => 6,
        (B::Transpose, _) if rank(sg, op, 0) > 4 => 4,
        (B::SpaceToBatchNd | B::BatchToSpaceNd, _) if rank(sg, op, 0) != 4 => 3,
        (B::Gather, Some(BuiltinOptions::GatherOptions(o))) if o.batch_dims != 0 => 5,
        (B::Pad | B::Padv2, _) if rank(sg, op, 0) > 4 => 4,
        (B::Sub | B::Maximum | B::Minimum, _) if broadcast_above_4d(sg, op) => 3,
        (B::Div, _) if broadcast_above_4d(sg, op) => 2,
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
