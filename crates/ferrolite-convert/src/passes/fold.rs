//! Folding constant MUL / ADD / SUB into neighbouring CONV_2D, DEPTHWISE_CONV_2D and
//! FULLY_CONNECTED ops, as TF's converter does.
//!
//! * [`fold_into_producer`]: `affine(x) * c + d` becomes `affine'(x)` (scaled weights and bias).
//!   This is how BatchNormalization after a conv or dense layer disappears.
//! * [`fold_into_consumer`]: `affine(x * c + d)` becomes `affine'(x)` (TF's
//!   `FuseBinaryOpToFollowingAffineOp`). A multiply always folds; an add only into a
//!   FULLY_CONNECTED or a VALID-padded conv, where every output sees the offset at every tap.
//!   This is how a `Rescaling` in front of a VALID conv disappears.
//!
//! Both require the intermediate tensor to have exactly one consumer and the constant to
//! broadcast along the channel (last) axis only.

use super::affine::{
    affine_of, channel_vector, no_activation, padding_is_valid, replace_weights, Affine,
};
use crate::graph::{
    const_f32, consumers, is_graph_output, is_op, op_label, producers, signature, take_over_output,
};
use crate::report::{EventKind, Report};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{OpKind, Subgraph};

/// The constant-binary-op shapes the folds understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binary {
    Mul,
    Add,
    Sub,
}

/// `(kind, x, c)` when the op at `idx` is MUL/ADD/SUB without fused activation, with exactly one
/// float-constant operand `c` (second operand for SUB) and a non-constant `x`.
fn const_binary(sg: &Subgraph, idx: usize) -> Option<(Binary, usize, usize)> {
    let op = &sg.operators[idx];
    let kind = match op.kind {
        OpKind::Builtin(B::Mul) => Binary::Mul,
        OpKind::Builtin(B::Add) => Binary::Add,
        OpKind::Builtin(B::Sub) => Binary::Sub,
        _ => return None,
    };
    if !no_activation(op) || op.inputs.len() != 2 || op.outputs.len() != 1 {
        return None;
    }
    let (a, b) = (op.inputs[0]?, op.inputs[1]?);
    let is_const = |t: usize| sg.tensors.get(t).and_then(const_f32).is_some();
    match (is_const(a), is_const(b)) {
        (false, true) => Some((kind, a, b)),
        (true, false) if kind != Binary::Sub => Some((kind, b, a)),
        _ => None,
    }
}

/// Folds constant MUL/ADD/SUB that follow an affine op into its weights and bias; returns how
/// many ops were folded.
pub fn fold_into_producer(sg: &mut Subgraph, report: &mut Report) -> usize {
    let mut folded = 0;
    'restart: loop {
        let cons = consumers(sg);
        let prods = producers(sg);
        for bi in 0..sg.operators.len() {
            let Some((kind, x, c)) = const_binary(sg, bi) else {
                continue;
            };
            let Some(pi) = prods[x] else { continue };
            if cons[x].len() != 1 || is_graph_output(sg, x) || !no_activation(&sg.operators[pi]) {
                continue;
            }
            let Some(mut a) = affine_of(sg, pi) else {
                continue;
            };
            let x_rank = signature(&sg.tensors[x]).len();
            let Some(cv) = channel_vector(&sg.tensors[c], a.layout.outputs(), x_rank) else {
                continue;
            };
            apply_output_affine(&mut a, kind, &cv);
            let message = format!("{} into {}", op_label(sg, bi), op_label(sg, pi));
            let y = sg.operators[bi].outputs[0].unwrap_or(x);
            let tag = sg.tensors[y].name.clone();
            replace_weights(sg, pi, &a, &tag);
            take_over_output(sg, pi, y);
            sg.operators.remove(bi);
            report.push(EventKind::Folded, message);
            folded += 1;
            continue 'restart;
        }
        return folded;
    }
}

fn apply_output_affine(a: &mut Affine, kind: Binary, cv: &[f32]) {
    let len = a.w.len();
    match kind {
        Binary::Mul => {
            for (idx, w) in a.w.iter_mut().enumerate() {
                *w *= cv[a.layout.out_channel(idx, len)];
            }
            for (b, s) in a.b.iter_mut().zip(cv) {
                *b *= s;
            }
        }
        Binary::Add | Binary::Sub => {
            let sign = if kind == Binary::Sub { -1.0 } else { 1.0 };
            for (b, d) in a.b.iter_mut().zip(cv) {
                *b += sign * d;
            }
            a.has_bias = true;
        }
    }
}

/// Folds constant MUL/ADD/SUB whose only consumer is an affine op (as its data input) into that
/// op's weights and bias; returns how many ops were folded.
pub fn fold_into_consumer(sg: &mut Subgraph, report: &mut Report) -> usize {
    let mut folded = 0;
    'restart: loop {
        let cons = consumers(sg);
        for bi in 0..sg.operators.len() {
            let Some((kind, x, c)) = const_binary(sg, bi) else {
                continue;
            };
            let Some(y) = sg.operators[bi].outputs[0] else {
                continue;
            };
            if cons[y].len() != 1 || is_graph_output(sg, y) {
                continue;
            }
            let ci = cons[y][0];
            let cop = &sg.operators[ci];
            let affine_kind = [B::Conv2d, B::DepthwiseConv2d, B::FullyConnected]
                .iter()
                .any(|&k| is_op(cop, k));
            let data_only = cop.inputs.first() == Some(&Some(y))
                && cop.inputs.iter().skip(1).all(|t| *t != Some(y));
            if !affine_kind || !data_only || (kind != Binary::Mul && !padding_is_valid(cop)) {
                continue;
            }
            let Some(mut a) = affine_of(sg, ci) else {
                continue;
            };
            let x_sig = signature(&sg.tensors[x]);
            if x_sig.last().map(|&d| d as usize) != Some(a.layout.inputs()) {
                continue;
            }
            let Some(cv) = channel_vector(&sg.tensors[c], a.layout.inputs(), x_sig.len()) else {
                continue;
            };
            apply_input_affine(&mut a, kind, &cv);
            let message = format!("{} into {}", op_label(sg, bi), op_label(sg, ci));
            let tag = sg.tensors[y].name.clone();
            replace_weights(sg, ci, &a, &tag);
            sg.operators[ci].inputs[0] = Some(x);
            sg.operators.remove(bi);
            report.push(EventKind::Folded, message);
            folded += 1;
            continue 'restart;
        }
        return folded;
    }
}

fn apply_input_affine(a: &mut Affine, kind: Binary, cv: &[f32]) {
    let len = a.w.len();
    match kind {
        Binary::Mul => {
            for (idx, w) in a.w.iter_mut().enumerate() {
                *w *= cv[a.layout.in_channel(idx)];
            }
        }
        Binary::Add | Binary::Sub => {
            let sign = if kind == Binary::Sub { -1.0 } else { 1.0 };
            let mut acc = vec![0f64; a.b.len()];
            for (idx, w) in a.w.iter().enumerate() {
                acc[a.layout.out_channel(idx, len)] +=
                    f64::from(*w) * f64::from(cv[a.layout.in_channel(idx)]);
            }
            for (b, s) in a.b.iter_mut().zip(acc) {
                *b += sign * s as f32;
            }
            a.has_bias = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;
    use ferrolite_model::tflite::{self, BuiltinOptions, Padding};

    fn conv_options(padding: Padding) -> Option<BuiltinOptions> {
        Some(BuiltinOptions::Conv2DOptions(Box::new(
            tflite::Conv2DOptions {
                padding,
                stride_w: 1,
                stride_h: 1,
                ..Default::default()
            },
        )))
    }

    fn weights_and_bias(sg: &Subgraph, op: usize) -> (Vec<f32>, Vec<f32>) {
        let o = &sg.operators[op];
        let get = |i: usize| const_f32(&sg.tensors[o.inputs[i].unwrap()]).unwrap();
        (get(1), get(2))
    }

    #[test]
    fn batchnorm_style_mul_add_fold_into_the_conv_before() {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 3, 3, 1]);
        let w = b.const_f32("w", &[2, 1, 1, 1], &[1.0, 2.0]);
        let bias = b.const_f32("b", &[2], &[0.5, -1.0]);
        let y = b.activation("conv", &[-1, 3, 3, 2]);
        b.op(
            B::Conv2d,
            vec![Some(x), Some(w), Some(bias)],
            vec![y],
            conv_options(Padding::Same),
        );
        let m = b.const_f32("m", &[2], &[2.0, 3.0]);
        let ym = b.activation("bn/mul", &[-1, 3, 3, 2]);
        b.op(B::Mul, vec![Some(y), Some(m)], vec![ym], None);
        let a = b.const_f32("a", &[], &[1.0]);
        let out = b.activation("bn", &[-1, 3, 3, 2]);
        b.op(B::Add, vec![Some(ym), Some(a)], vec![out], None);
        b.sg.inputs = vec![x];
        b.sg.outputs = vec![out];
        let mut rep = Report::default();
        assert_eq!(fold_into_producer(&mut b.sg, &mut rep), 2);
        assert_eq!(b.sg.operators.len(), 1);
        assert_eq!(b.sg.operators[0].outputs, vec![Some(out)]);
        assert_eq!(
            weights_and_bias(&b.sg, 0),
            (vec![2.0, 6.0], vec![2.0, -2.0])
        );
        assert_eq!(rep.count(EventKind::Folded), 2);
    }

    #[test]
    fn input_scaling_folds_into_the_affine_op_after_when_legal() {
        // FC: W = [[1, 2], [3, 4]], no bias; x * [2, 1] + [1, 1] in front of it.
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 2]);
        let s = b.const_f32("s", &[2], &[2.0, 1.0]);
        let xs = b.activation("rescale/mul", &[-1, 2]);
        b.op(B::Mul, vec![Some(x), Some(s)], vec![xs], None);
        let o = b.const_f32("o", &[], &[1.0]);
        let xo = b.activation("rescale", &[-1, 2]);
        b.op(B::Add, vec![Some(xs), Some(o)], vec![xo], None);
        let w = b.const_f32("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = b.activation("fc", &[-1, 2]);
        let fc = Some(BuiltinOptions::FullyConnectedOptions(Box::default()));
        b.op(
            B::FullyConnected,
            vec![Some(xo), Some(w), None],
            vec![y],
            fc,
        );
        b.sg.inputs = vec![x];
        b.sg.outputs = vec![y];
        let mut rep = Report::default();
        assert_eq!(fold_into_consumer(&mut b.sg, &mut rep), 2);
        assert_eq!(b.sg.operators.len(), 1);
        assert_eq!(b.sg.operators[0].inputs[0], Some(x));
        // bias = W·[1, 1] = [3, 7]; then W scaled by column: [[2, 2], [6, 4]].
        assert_eq!(
            weights_and_bias(&b.sg, 0),
            (vec![2.0, 2.0, 6.0, 4.0], vec![3.0, 7.0])
        );
    }

    #[test]
    fn an_offset_does_not_fold_into_a_same_padded_conv() {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 3, 3, 1]);
        let o = b.const_f32("o", &[], &[1.0]);
        let xo = b.activation("shift", &[-1, 3, 3, 1]);
        b.op(B::Add, vec![Some(x), Some(o)], vec![xo], None);
        let w = b.const_f32("w", &[1, 3, 3, 1], &[1.0; 9]);
        let bias = b.const_f32("b", &[1], &[0.0]);
        let y = b.activation("conv", &[-1, 3, 3, 1]);
        b.op(
            B::Conv2d,
            vec![Some(xo), Some(w), Some(bias)],
            vec![y],
            conv_options(Padding::Same),
        );
        b.sg.outputs = vec![y];
        assert_eq!(fold_into_consumer(&mut b.sg, &mut Report::default()), 0);
        b.sg.operators[1].options = conv_options(Padding::Valid);
        assert_eq!(fold_into_consumer(&mut b.sg, &mut Report::default()), 1);
        assert_eq!(weights_and_bias(&b.sg, 0).1, vec![9.0]);
    }
}
