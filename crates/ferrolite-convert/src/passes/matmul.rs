//! Folding TRANSPOSEs of the two innermost axes into BATCH_MATMUL, as TF's converter does.
//!
//! * An operand that is `TRANSPOSE(a, [.., -1, -2])` (read by nothing else) is replaced by
//!   `a` with the operand's adjoint flag toggled — how Keras' `batch_dot` transposes end up
//!   as `adj_x` / `adj_y`.
//! * `TRANSPOSE(BATCH_MATMUL(a, b, adj_x = false, adj_y = true))` is
//!   `BATCH_MATMUL(b, a, false, true)`, since `(a · bᵀ)ᵀ = b · aᵀ`. TF applies this rewrite to
//!   a Softmax over axis 1 of a `Dot(axes=2)` result and not to other flag combinations, so
//!   neither do we.

use crate::graph::{const_i32, consumers, is_graph_output, is_op, op_label, producers, signature};
use crate::report::{EventKind, Report};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::Subgraph;

/// The input of the TRANSPOSE at `idx` when it swaps exactly the two innermost axes.
fn inner_transpose_input(sg: &Subgraph, idx: usize) -> Option<usize> {
    let op = sg.operators.get(idx)?;
    if !is_op(op, B::Transpose) {
        return None;
    }
    let x = op.inputs.first().copied().flatten()?;
    let perm = const_i32(sg.tensors.get(op.inputs.get(1).copied().flatten()?)?)?;
    let n = perm.len();
    let swaps_inner = n >= 2
        && signature(&sg.tensors[x]).len() == n
        && perm.iter().enumerate().all(|(i, &p)| {
            let want = if i + 2 == n {
                n - 1
            } else if i + 1 == n {
                n - 2
            } else {
                i
            };
            usize::try_from(p) == Ok(want)
        });
    swaps_inner.then_some(x)
}

fn adjoints(sg: &Subgraph, idx: usize) -> Option<(bool, bool)> {
    match &sg.operators[idx].options {
        Some(BuiltinOptions::BatchMatMulOptions(o)) => Some((o.adj_x, o.adj_y)),
        _ => None,
    }
}

fn set_adjoints(sg: &mut Subgraph, idx: usize, adj: (bool, bool)) {
    if let Some(BuiltinOptions::BatchMatMulOptions(o)) = &mut sg.operators[idx].options {
        o.adj_x = adj.0;
        o.adj_y = adj.1;
    }
}

/// One rewrite, if any applies; returns whether the graph changed.
fn fold_once(sg: &mut Subgraph, report: &mut Report) -> bool {
    let cons = consumers(sg);
    let prods = producers(sg);
    for mi in 0..sg.operators.len() {
        if !is_op(&sg.operators[mi], B::BatchMatmul) {
            continue;
        }
        let Some(adj) = adjoints(sg, mi) else {
            continue;
        };
        // Operand transposes become adjoint flags.
        for k in 0..2 {
            let Some(Some(t)) = sg.operators[mi].inputs.get(k).copied() else {
                continue;
            };
            let Some(ti) = prods[t] else { continue };
            let Some(src) = inner_transpose_input(sg, ti) else {
                continue;
            };
            if cons[t].len() != 1 || is_graph_output(sg, t) {
                continue;
            }
            let message = format!("{} into {}", op_label(sg, ti), op_label(sg, mi));
            sg.operators[mi].inputs[k] = Some(src);
            let flipped = if k == 0 {
                (!adj.0, adj.1)
            } else {
                (adj.0, !adj.1)
            };
            set_adjoints(sg, mi, flipped);
            report.push(EventKind::Folded, message);
            return true;
        }
        // A transposed `a · bᵀ` is `b · aᵀ`.
        let Some(Some(y)) = sg.operators[mi].outputs.first().copied() else {
            continue;
        };
        if adj != (false, true) || cons[y].len() != 1 || is_graph_output(sg, y) {
            continue;
        }
        let ti = cons[y][0];
        if inner_transpose_input(sg, ti) != Some(y) {
            continue;
        }
        let Some(Some(out)) = sg.operators[ti].outputs.first().copied() else {
            continue;
        };
        let message = format!("{} into {}", op_label(sg, ti), op_label(sg, mi));
        sg.operators[mi].inputs.swap(0, 1);
        sg.operators[mi].outputs[0] = Some(out);
        sg.operators.remove(ti);
        report.push(EventKind::Folded, message);
        return true;
    }
    false
}

/// Folds transposes into BATCH_MATMULs until none applies; returns how many were folded.
pub fn fold_transposes(sg: &mut Subgraph, report: &mut Report) -> usize {
    let mut n = 0;
    while fold_once(sg, report) {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;
    use ferrolite_model::tflite;

    fn bmm(b: &mut GraphBuilder, x: usize, y: usize, out: usize, adj: (bool, bool)) {
        let o = tflite::BatchMatMulOptions {
            adj_x: adj.0,
            adj_y: adj.1,
            ..Default::default()
        };
        b.op(
            B::BatchMatmul,
            vec![Some(x), Some(y)],
            vec![out],
            Some(BuiltinOptions::BatchMatMulOptions(Box::new(o))),
        );
    }

    #[test]
    fn operand_and_result_transposes_fold() {
        let mut b = GraphBuilder::new();
        let a = b.activation("a", &[-1, 4, 5]);
        let c = b.activation("c", &[-1, 6, 5]);
        let perm = b.const_i32("perm", &[3], &[0, 2, 1]);
        let ct = b.activation("ct", &[-1, 5, 6]);
        b.op(B::Transpose, vec![Some(c), Some(perm)], vec![ct], None);
        let s = b.activation("s", &[-1, 4, 6]);
        bmm(&mut b, a, ct, s, (false, false));
        let st = b.activation("st", &[-1, 6, 4]);
        b.op(B::Transpose, vec![Some(s), Some(perm)], vec![st], None);
        b.sg.outputs = vec![st];
        let mut rep = Report::default();
        assert_eq!(fold_transposes(&mut b.sg, &mut rep), 2);
        // A transposed operand became adj_y; then (a·cᵀ)ᵀ = c·aᵀ.
        let ops = &b.sg.operators;
        assert!(ops
            .iter()
            .all(|o| !is_op(o, B::Transpose) || o.outputs[0] != Some(st)));
        let m = ops.iter().position(|o| is_op(o, B::BatchMatmul)).unwrap();
        assert_eq!(ops[m].inputs, vec![Some(c), Some(a)]);
        assert_eq!(ops[m].outputs, vec![Some(st)]);
        assert_eq!(adjoints(&b.sg, m), Some((false, true)));
    }
}
