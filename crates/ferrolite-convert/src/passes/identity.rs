//! Removing ops that do nothing at inference: the identity placeholders lowering emits for
//! Dropout-like layers, RESHAPEs to the shape their input already has, and the first of two
//! chained RESHAPEs (TF merges `Reshape` + `Flatten` into one RESHAPE the same way).

use crate::graph::{
    consumers, is_graph_output, is_op, producers, replace_tensor, signature, IDENTITY_OP,
};
use crate::report::{EventKind, Report};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{OpKind, Subgraph};

fn is_identity(sg: &Subgraph, idx: usize) -> bool {
    let op = &sg.operators[idx];
    if matches!(&op.kind, OpKind::Custom(c) if c == IDENTITY_OP) {
        return true;
    }
    // A RESHAPE whose output signature equals its input's, with at most one dynamic dim.
    if is_op(op, B::Reshape) {
        if let (Some(Some(x)), Some(Some(y))) = (op.inputs.first(), op.outputs.first()) {
            let (sx, sy) = (signature(&sg.tensors[*x]), signature(&sg.tensors[*y]));
            return sx == sy && sx.iter().filter(|&&d| d < 0).count() <= 1;
        }
    }
    false
}

/// Removes identity ops, rewiring their consumers; returns how many were removed.
pub fn remove_identities(sg: &mut Subgraph, report: &mut Report) -> usize {
    let mut removed = 0;
    while let Some(idx) = (0..sg.operators.len()).find(|&i| is_identity(sg, i)) {
        let op = &sg.operators[idx];
        let (Some(Some(x)), Some(Some(y))) =
            (op.inputs.first().copied(), op.outputs.first().copied())
        else {
            sg.operators.remove(idx);
            continue;
        };
        let what = match (&op.kind, &op.custom_options) {
            (OpKind::Custom(_), Some(c)) => String::from_utf8_lossy(c).into_owned(),
            (OpKind::Custom(_), None) => "identity".to_string(),
            (k, _) => format!("no-op {}", k.name()),
        };
        let name = sg.tensors[y].name.clone();
        sg.operators.remove(idx);
        let produced = producers(sg)[x].is_some();
        if is_graph_output(sg, y) && produced && !is_graph_output(sg, x) {
            // Keep the output tensor: its producer now writes it directly.
            replace_tensor(sg, x, y);
        } else {
            replace_tensor(sg, y, x);
        }
        report.push(EventKind::Dropped, format!("{what} `{name}`"));
        removed += 1;
    }
    removed
}

/// Merges `RESHAPE(RESHAPE(x, s1), s2)` into `RESHAPE(x, s2)` when the inner result has no other
/// use; returns how many RESHAPEs were removed.
pub fn merge_reshapes(sg: &mut Subgraph, report: &mut Report) -> usize {
    let mut merged = 0;
    'restart: loop {
        let cons = consumers(sg);
        let prods = producers(sg);
        for outer in 0..sg.operators.len() {
            let op = &sg.operators[outer];
            if !is_op(op, B::Reshape) {
                continue;
            }
            let Some(Some(mid)) = op.inputs.first().copied() else {
                continue;
            };
            let Some(inner) = prods[mid] else { continue };
            let iop = &sg.operators[inner];
            if !is_op(iop, B::Reshape) || cons[mid].len() != 1 || is_graph_output(sg, mid) {
                continue;
            }
            let Some(Some(x)) = iop.inputs.first().copied() else {
                continue;
            };
            let name = sg.tensors[mid].name.clone();
            sg.operators[outer].inputs[0] = Some(x);
            sg.operators.remove(inner);
            report.push(
                EventKind::Folded,
                format!("RESHAPE `{name}` into the RESHAPE that follows it"),
            );
            merged += 1;
            continue 'restart;
        }
        return merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;

    #[test]
    fn identities_and_chained_reshapes_disappear() {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 2, 3]);
        let r1 = b.activation("r1", &[-1, 3, 2]);
        let r2 = b.activation("r2", &[-1, 6]);
        let out = b.activation("out", &[-1, 6]);
        let s1 = b.const_i32("s1", &[3], &[-1, 3, 2]);
        let s2 = b.const_i32("s2", &[2], &[-1, 6]);
        b.op(B::Reshape, vec![Some(x), Some(s1)], vec![r1], None);
        b.op(B::Reshape, vec![Some(r1), Some(s2)], vec![r2], None);
        b.identity(r2, out, "Dropout");
        b.sg.inputs = vec![x];
        b.sg.outputs = vec![out];
        let mut rep = Report::default();
        assert_eq!(remove_identities(&mut b.sg, &mut rep), 1);
        assert_eq!(merge_reshapes(&mut b.sg, &mut rep), 1);
        assert_eq!(b.sg.operators.len(), 1);
        let op = &b.sg.operators[0];
        assert_eq!(op.inputs, vec![Some(x), Some(s2)]);
        // The graph output tensor survived: the RESHAPE writes it directly.
        assert_eq!(op.outputs, vec![Some(out)]);
        assert_eq!(b.sg.outputs, vec![out]);
    }
}
