//! Common-subexpression elimination, as TF's converter does it: constants with identical
//! contents become one tensor, then an operator identical to an earlier one (same kind,
//! options and inputs) is dropped and its results are read from the earlier one. This is how
//! `softplus` and `mish` of the same tensor share their EXP, ADD and LOG, and how a SELU and an
//! ELU of the same tensor share their `x > 0`.

use crate::graph::{is_graph_output, op_label, replace_tensor};
use crate::report::{EventKind, Report};
use ferrolite_model::{Operator, Subgraph};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Merges constants with equal type, shape and bytes; returns how many uses were redirected.
fn merge_constants(sg: &mut Subgraph) -> usize {
    // Buckets by a hash of (type, shape, bytes); equal tensors are then compared exactly.
    let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut remap: Vec<usize> = (0..sg.tensors.len()).collect();
    for (i, t) in sg.tensors.iter().enumerate() {
        let plain = !t.is_variable && t.quantization.is_none() && t.sparsity.is_none();
        let Some(data) = t.data.as_ref().filter(|_| plain) else {
            continue;
        };
        if sg.inputs.contains(&i) || is_graph_output(sg, i) {
            continue;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (t.dtype, &t.shape, &data[..]).hash(&mut h);
        let bucket = buckets.entry(h.finish()).or_default();
        let same = bucket.iter().copied().find(|&j| {
            let u = &sg.tensors[j];
            u.dtype == t.dtype && u.shape == t.shape && u.data.as_deref() == Some(&data[..])
        });
        match same {
            Some(j) => remap[i] = j,
            None => bucket.push(i),
        }
    }
    let mut merged = 0;
    for op in &mut sg.operators {
        for slot in op.inputs.iter_mut().flatten() {
            if remap[*slot] != *slot {
                *slot = remap[*slot];
                merged += 1;
            }
        }
    }
    merged
}

/// True when `a` and `b` compute the same thing (everything but their outputs is equal).
fn same_computation(a: &Operator, b: &Operator) -> bool {
    a.kind == b.kind
        && a.inputs == b.inputs
        && a.options == b.options
        && a.options_2 == b.options_2
        && a.custom_options == b.custom_options
        && a.outputs.len() == b.outputs.len()
        && a.intermediates.is_empty()
        && b.intermediates.is_empty()
        && a.mutating_variable_inputs.iter().all(|m| !m)
}

/// Runs both merges; returns how many operators were removed.
pub fn eliminate_common_subexpressions(sg: &mut Subgraph, report: &mut Report) -> usize {
    merge_constants(sg);
    let mut removed = 0;
    'restart: loop {
        for j in 1..sg.operators.len() {
            let dup = &sg.operators[j];
            let outs: Option<Vec<usize>> = dup.outputs.iter().copied().collect();
            let Some(outs) = outs else { continue };
            if outs.iter().any(|&t| is_graph_output(sg, t)) {
                continue;
            }
            let Some(i) = (0..j).find(|&i| same_computation(&sg.operators[i], dup)) else {
                continue;
            };
            let keep: Option<Vec<usize>> = sg.operators[i].outputs.iter().copied().collect();
            let Some(keep) = keep else { continue };
            let message = format!("{} (same as {})", op_label(sg, j), op_label(sg, i));
            sg.operators.remove(j);
            for (from, to) in outs.into_iter().zip(keep) {
                replace_tensor(sg, from, to);
            }
            report.push(EventKind::Dropped, format!("duplicate {message}"));
            removed += 1;
            continue 'restart;
        }
        return removed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;
    use ferrolite_model::tflite::BuiltinOperator as B;

    #[test]
    fn equal_constants_and_repeated_ops_merge() {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 3]);
        let one_a = b.const_f32("one_a", &[], &[1.0]);
        let one_b = b.const_f32("one_b", &[], &[1.0]);
        let e1 = b.activation("e1", &[-1, 3]);
        let e2 = b.activation("e2", &[-1, 3]);
        b.op(B::Exp, vec![Some(x)], vec![e1], None);
        b.op(B::Exp, vec![Some(x)], vec![e2], None);
        let a1 = b.activation("a1", &[-1, 3]);
        let a2 = b.activation("a2", &[-1, 3]);
        b.op(B::Add, vec![Some(e1), Some(one_a)], vec![a1], None);
        b.op(B::Add, vec![Some(e2), Some(one_b)], vec![a2], None);
        let y = b.activation("y", &[-1, 3]);
        b.op(B::Mul, vec![Some(a1), Some(a2)], vec![y], None);
        b.sg.outputs = vec![y];
        let mut rep = Report::default();
        assert_eq!(eliminate_common_subexpressions(&mut b.sg, &mut rep), 2);
        assert_eq!(b.sg.operators.len(), 3);
        assert_eq!(b.sg.operators[2].inputs, vec![Some(a1), Some(a1)]);
    }
}
