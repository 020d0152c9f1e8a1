//! Dead-code elimination: operators whose results nobody reads, then tensors nobody references
//! (weights replaced by folding, intermediates of fused ops). Tensor indices are renumbered.

use crate::graph::consumers;
use crate::report::{EventKind, Report};
use ferrolite_model::Subgraph;

/// Removes dead operators and unreferenced tensors; returns `(ops removed, tensors removed)`.
pub fn eliminate_dead_code(sg: &mut Subgraph, report: &mut Report) -> (usize, usize) {
    let mut ops_removed = 0;
    loop {
        let cons = consumers(sg);
        let dead = (0..sg.operators.len()).rev().find(|&i| {
            sg.operators[i]
                .outputs
                .iter()
                .flatten()
                .all(|&t| cons[t].is_empty() && !sg.outputs.contains(&t))
        });
        let Some(i) = dead else { break };
        let op = sg.operators.remove(i);
        report.push(
            EventKind::Dropped,
            format!("unused {} (its result is never read)", op.kind.name()),
        );
        ops_removed += 1;
    }

    let mut used = vec![false; sg.tensors.len()];
    let all_refs = sg.operators.iter().flat_map(|op| {
        op.inputs
            .iter()
            .chain(&op.outputs)
            .flatten()
            .chain(&op.intermediates)
    });
    for &t in all_refs.chain(&sg.inputs).chain(&sg.outputs) {
        if let Some(u) = used.get_mut(t) {
            *u = true;
        }
    }
    let mut remap = vec![usize::MAX; sg.tensors.len()];
    let mut kept = Vec::with_capacity(sg.tensors.len());
    for (i, t) in std::mem::take(&mut sg.tensors).into_iter().enumerate() {
        if used[i] {
            remap[i] = kept.len();
            kept.push(t);
        }
    }
    let tensors_removed = remap.len() - kept.len();
    sg.tensors = kept;
    for op in &mut sg.operators {
        for slot in op.inputs.iter_mut().chain(op.outputs.iter_mut()).flatten() {
            *slot = remap[*slot];
        }
        for t in &mut op.intermediates {
            *t = remap[*t];
        }
    }
    for t in sg.inputs.iter_mut().chain(sg.outputs.iter_mut()) {
        *t = remap[*t];
    }
    (ops_removed, tensors_removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;
    use ferrolite_model::tflite::BuiltinOperator as B;

    #[test]
    fn dead_ops_and_tensors_go_and_indices_are_renumbered() {
        let mut b = GraphBuilder::new();
        let _orphan = b.const_f32("orphan", &[1], &[0.0]);
        let x = b.activation("x", &[-1, 2]);
        let y = b.activation("y", &[-1, 2]);
        let dead = b.activation("dead", &[-1, 2]);
        b.op(B::Relu, vec![Some(x)], vec![y], None);
        b.op(B::Tanh, vec![Some(x)], vec![dead], None);
        b.sg.inputs = vec![x];
        b.sg.outputs = vec![y];
        let mut rep = Report::default();
        assert_eq!(eliminate_dead_code(&mut b.sg, &mut rep), (1, 2));
        assert_eq!(b.sg.tensors.len(), 2);
        assert_eq!(b.sg.inputs, vec![0]);
        assert_eq!(b.sg.outputs, vec![1]);
        assert_eq!(b.sg.operators[0].inputs, vec![Some(0)]);
    }
}
