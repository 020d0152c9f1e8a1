//! Removing the layout transposes an NCHW importer (ONNX) leaves between NHWC kernels.
//!
//! The ONNX lowering wraps every convolution, pooling and resize in `TRANSPOSE(NCHW→NHWC)` …
//! `TRANSPOSE(NHWC→NCHW)`. [`optimize_transposes`] then, until nothing changes:
//!
//! * cancels `TRANSPOSE(TRANSPOSE(x, p), q)` when `p∘q` is the identity (and merges the two into
//!   one TRANSPOSE otherwise, when the inner result has no other reader);
//! * sinks a TRANSPOSE below a layout-agnostic op that reads it: unary elementwise ops
//!   (activations), binary elementwise ops whose other operand is transposed the same way or a
//!   constant (the constant is permuted, which also turns BatchNormalization's `[C, 1, 1]`
//!   vectors into the `[1, 1, 1, C]` the fold pass recognizes), reductions with kept dims,
//!   CONCATENATION and PAD (axes and paddings permuted), SOFTMAX when the last axis stays;
//! * removes transposes nobody reads.
//!
//! A TRANSPOSE flattened into a FULLY_CONNECTED (NCHW `Flatten` + `Gemm` after NHWC layers)
//! goes into the weights instead: their input columns are permuted. Last, a TRANSPOSE that only
//! moves size-1 dimensions becomes a RESHAPE (which the identity pass merges with neighbouring
//! reshapes). A Conv-BN-Relu-Pool-Dense chain so keeps transposes only where the model's NCHW
//! inputs and outputs are.

use crate::graph::{
    const_i32, consumers, is_graph_output, is_op, producers, replace_tensor, signature,
    static_shape,
};
use crate::report::{EventKind, Report};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::{Bytes, DType, OpKind, Operator, Subgraph, Tensor};

/// The permutation of a TRANSPOSE op with a constant, valid permutation operand.
fn perm_of(sg: &Subgraph, op: &Operator) -> Option<Vec<usize>> {
    if !is_op(op, B::Transpose) || op.inputs.len() != 2 || op.outputs.len() != 1 {
        return None;
    }
    let p = const_i32(sg.tensors.get(op.inputs[1]?)?)?;
    let mut seen = vec![false; p.len()];
    for &a in &p {
        let slot = seen.get_mut(usize::try_from(a).ok()?)?;
        if *slot {
            return None;
        }
        *slot = true;
    }
    Some(p.into_iter().map(|a| a as usize).collect())
}

fn is_identity(p: &[usize]) -> bool {
    p.iter().enumerate().all(|(i, &a)| i == a)
}

fn inverse(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &a) in p.iter().enumerate() {
        inv[a] = i;
    }
    inv
}

/// Appends a tensor and returns its index.
fn push_tensor(sg: &mut Subgraph, t: Tensor) -> usize {
    sg.tensors.push(t);
    sg.tensors.len() - 1
}

fn perm_tensor(sg: &mut Subgraph, name: &str, p: &[usize]) -> usize {
    let mut t = Tensor::new(name, DType::I32, vec![p.len() as i32]);
    t.has_rank = true;
    t.data = Some(Bytes::from_vec(
        p.iter().flat_map(|&a| (a as i32).to_le_bytes()).collect(),
    ));
    push_tensor(sg, t)
}

/// A copy of activation `t` with its dims permuted so that transposing it by `p` gives `t`.
fn pre_transpose_tensor(sg: &mut Subgraph, t: usize, p: &[usize]) -> usize {
    let sig = signature(&sg.tensors[t]);
    let inv = inverse(p);
    let new_sig: Vec<i32> = inv.iter().map(|&i| sig[i]).collect();
    let mut nt = sg.tensors[t].clone();
    nt.name = format!("{}/pre_transpose", nt.name);
    nt.shape = static_shape(&new_sig);
    nt.shape_signature = new_sig.iter().any(|&d| d < 0).then_some(new_sig);
    push_tensor(sg, nt)
}

/// Constant `c` broadcast to rank `r` and transposed by `inv` (4-byte elements only).
fn permuted_const(sg: &mut Subgraph, c: usize, r: usize, inv: &[usize]) -> Option<usize> {
    let t = &sg.tensors[c];
    let data = t.data.as_ref()?;
    if !matches!(t.dtype, DType::F32 | DType::I32) || t.sparsity.is_some() {
        return None;
    }
    let sig = signature(t);
    if sig.len() > r || sig.iter().any(|&d| d < 0) {
        return None;
    }
    let mut dims = vec![1usize; r - sig.len()];
    dims.extend(sig.iter().map(|&d| d as usize));
    let n: usize = dims.iter().product();
    if data.len() != n * 4 {
        return None;
    }
    let mut strides = vec![1usize; r];
    for i in (0..r.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1];
    }
    let out_dims: Vec<usize> = inv.iter().map(|&a| dims[a]).collect();
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; r];
    for _ in 0..n {
        let src: usize = (0..r).map(|i| idx[i] * strides[inv[i]]).sum();
        out.extend_from_slice(&data[src * 4..src * 4 + 4]);
        for i in (0..r).rev() {
            idx[i] += 1;
            if idx[i] < out_dims[i] {
                break;
            }
            idx[i] = 0;
        }
    }
    let mut nt = t.clone();
    nt.name = format!("{}/permuted", t.name);
    nt.shape = out_dims.iter().map(|&d| d as i32).collect();
    nt.shape_signature = None;
    nt.data = Some(Bytes::from_vec(out));
    Some(push_tensor(sg, nt))
}

/// Cancels or merges one pair of chained transposes; returns whether it changed anything.
fn cancel_one(sg: &mut Subgraph) -> bool {
    let cons = consumers(sg);
    let prods = producers(sg);
    for j in 0..sg.operators.len() {
        let Some(q) = perm_of(sg, &sg.operators[j]) else {
            continue;
        };
        let (Some(y), Some(z)) = (sg.operators[j].inputs[0], sg.operators[j].outputs[0]) else {
            continue;
        };
        let Some(i) = prods[y] else { continue };
        let Some(p) = perm_of(sg, &sg.operators[i]) else {
            continue;
        };
        let Some(x) = sg.operators[i].inputs[0] else {
            continue;
        };
        if p.len() != q.len() {
            continue;
        }
        let composed: Vec<usize> = q.iter().map(|&k| p[k]).collect();
        if is_identity(&composed) {
            if is_graph_output(sg, z) && (sg.inputs.contains(&x) || is_graph_output(sg, x)) {
                continue;
            }
            sg.operators.remove(j);
            replace_tensor(sg, z, x);
            return true;
        }
        if cons[y].len() == 1 && !is_graph_output(sg, y) {
            let name = format!("{}/merged_perm", sg.tensors[z].name);
            let pt = perm_tensor(sg, &name, &composed);
            sg.operators[j].inputs = vec![Some(x), Some(pt)];
            sg.operators.remove(i);
            return true;
        }
    }
    false
}

/// How an op may have a transpose moved from its inputs to its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// Elementwise over all operands (any number; constants are permuted).
    Elementwise,
    /// Reduction with an axes operand (input 1) and `keep_dims`.
    Reduce,
    /// CONCATENATION (axis option).
    Concat,
    /// PAD family (paddings operand, input 1).
    Pad,
    /// Works on the last axis (SOFTMAX): only transposes that keep the last axis in place.
    LastAxis,
}

fn sink_kind(op: &Operator) -> Option<Sink> {
    let OpKind::Builtin(b) = op.kind else {
        return None;
    };
    Some(match b {
        B::Relu
        | B::Relu6
        | B::ReluN1To1
        | B::Logistic
        | B::Tanh
        | B::LeakyRelu
        | B::Abs
        | B::Neg
        | B::Exp
        | B::Log
        | B::Sqrt
        | B::Elu
        | B::HardSwish
        | B::Add
        | B::Sub
        | B::Mul
        | B::Div
        | B::Maximum
        | B::Minimum
        | B::SquaredDifference => Sink::Elementwise,
        B::Mean | B::Sum | B::ReduceMax | B::ReduceMin | B::ReduceProd => match &op.options {
            Some(BuiltinOptions::ReducerOptions(o)) if o.keep_dims => Sink::Reduce,
            _ => return None,
        },
        B::Concatenation => Sink::Concat,
        B::Pad | B::Padv2 | B::MirrorPad => Sink::Pad,
        B::Softmax | B::LogSoftmax => Sink::LastAxis,
        _ => return None,
    })
}

/// Moves one transpose below the op reading it; returns whether it changed anything.
fn sink_one(sg: &mut Subgraph) -> bool {
    let cons = consumers(sg);
    let prods = producers(sg);
    'ops: for o in 0..sg.operators.len() {
        let Some(kind) = sink_kind(&sg.operators[o]) else {
            continue;
        };
        let op = &sg.operators[o];
        let (Some(Some(y)), 1) = (op.outputs.first().copied(), op.outputs.len()) else {
            continue;
        };
        let r = signature(&sg.tensors[y]).len();
        // Operands that carry the layout: all for elementwise/concat, the first otherwise.
        let data_inputs = match kind {
            Sink::Elementwise | Sink::Concat => op.inputs.len(),
            Sink::Reduce | Sink::Pad | Sink::LastAxis => 1,
        };
        // The permutation: that of the first operand written by a single-use TRANSPOSE.
        let transposed = |t: usize| -> Option<(Vec<usize>, Option<usize>)> {
            let pi = prods[t]?;
            let p = perm_of(sg, &sg.operators[pi])?;
            let single = cons[t].len() == 1 && !is_graph_output(sg, t);
            (p.len() == r && single).then(|| (p, sg.operators[pi].inputs[0]))
        };
        let inputs: Vec<Option<usize>> = op.inputs.iter().take(data_inputs).copied().collect();
        let Some(p) = inputs
            .iter()
            .flatten()
            .find_map(|&t| transposed(t).map(|(p, _)| p))
        else {
            continue;
        };
        if kind == Sink::LastAxis && p.last() != Some(&(r - 1)) {
            continue;
        }
        let inv = inverse(&p);
        // Per operand: its pre-transpose tensor, or `None` for a constant to permute. An
        // activation not transposed this way may still join when the graph already holds its
        // inverse transpose (a residual branch: ADD(T(conv(T⁻¹(x))), x)).
        let mut plan = Vec::new();
        for (slot, inp) in inputs.iter().enumerate() {
            let Some(t) = *inp else { continue 'ops };
            if sg.tensors[t].data.is_some() {
                plan.push((slot, None));
                continue;
            }
            match transposed(t) {
                Some((q, pre)) if q == p => plan.push((slot, pre)),
                Some(_) => continue 'ops,
                None => {
                    let existing = sg.operators.iter().find(|k| {
                        k.inputs.first() == Some(&Some(t))
                            && perm_of(sg, k).as_deref() == Some(&inv[..])
                    });
                    match existing.and_then(|k| k.outputs[0]) {
                        // Only if that transpose runs before `o` (it is topologically earlier).
                        Some(e) if prods[e].is_some_and(|pe| pe < o) => plan.push((slot, Some(e))),
                        _ => continue 'ops,
                    }
                }
            }
        }
        // Build the new operands before changing anything.
        let mut new_inputs = sg.operators[o].inputs.clone();
        for (slot, pre) in plan {
            match pre {
                Some(x) => new_inputs[slot] = Some(x),
                None => {
                    let Some(c) = new_inputs[slot] else {
                        continue 'ops;
                    };
                    let Some(pc) = permuted_const(sg, c, r, &inv) else {
                        continue 'ops;
                    };
                    new_inputs[slot] = Some(pc);
                }
            }
        }
        let mut new_options = sg.operators[o].options.clone();
        match kind {
            Sink::Elementwise | Sink::LastAxis => {}
            Sink::Reduce => {
                let Some(a) = new_inputs.get(1).copied().flatten() else {
                    continue;
                };
                let Some(axes) = sg.tensors.get(a).and_then(const_i32) else {
                    continue;
                };
                let mapped: Vec<usize> = axes
                    .iter()
                    .map(|&v| if v < 0 { v + r as i32 } else { v })
                    .filter_map(|v| usize::try_from(v).ok().and_then(|v| p.get(v).copied()))
                    .collect();
                if mapped.len() != axes.len() {
                    continue;
                }
                let name = format!("{}/permuted_axes", sg.tensors[a].name);
                new_inputs[1] = Some(perm_tensor(sg, &name, &mapped));
            }
            Sink::Concat => {
                let Some(BuiltinOptions::ConcatenationOptions(mut c)) = new_options else {
                    continue;
                };
                let a = if c.axis < 0 {
                    c.axis + r as i32
                } else {
                    c.axis
                };
                let Some(&pa) = usize::try_from(a).ok().and_then(|a| p.get(a)) else {
                    continue;
                };
                c.axis = pa as i32;
                new_options = Some(BuiltinOptions::ConcatenationOptions(c));
            }
            Sink::Pad => {
                let Some(pt) = new_inputs.get(1).copied().flatten() else {
                    continue;
                };
                let Some(pads) = sg.tensors.get(pt).and_then(const_i32) else {
                    continue;
                };
                if pads.len() != 2 * r {
                    continue;
                }
                let mut np = vec![0i32; 2 * r];
                for i in 0..r {
                    np[2 * p[i]] = pads[2 * i];
                    np[2 * p[i] + 1] = pads[2 * i + 1];
                }
                let mut t = sg.tensors[pt].clone();
                t.name = format!("{}/permuted", t.name);
                t.data = Some(Bytes::from_vec(
                    np.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ));
                new_inputs[1] = Some(push_tensor(sg, t));
            }
        }
        let pre = pre_transpose_tensor(sg, y, &p);
        let pname = format!("{}/perm", sg.tensors[y].name);
        let pt = perm_tensor(sg, &pname, &p);
        let op = &mut sg.operators[o];
        op.inputs = new_inputs;
        op.options = new_options;
        op.outputs[0] = Some(pre);
        let t = Operator::new(B::Transpose, vec![Some(pre), Some(pt)], vec![Some(y)]);
        sg.operators.insert(o + 1, t);
        return true;
    }
    false
}

/// Removes TRANSPOSE ops whose result nobody reads.
fn remove_dead_transposes(sg: &mut Subgraph) -> bool {
    let cons = consumers(sg);
    let before = sg.operators.len();
    let dead: Vec<bool> = sg
        .operators
        .iter()
        .map(|op| {
            is_op(op, B::Transpose)
                && op
                    .outputs
                    .iter()
                    .flatten()
                    .all(|&t| cons[t].is_empty() && !is_graph_output(sg, t))
        })
        .collect();
    let mut k = 0;
    sg.operators.retain(|_| {
        k += 1;
        !dead[k - 1]
    });
    sg.operators.len() != before
}

/// Folds `FULLY_CONNECTED(RESHAPE(TRANSPOSE(x, p), [N, K]), W)` into
/// `FULLY_CONNECTED(RESHAPE(x, [N, K]), W')` by permuting W's input columns (the flatten of an
/// NCHW tensor after NHWC layers); returns whether it changed anything.
fn fold_into_fully_connected(sg: &mut Subgraph) -> bool {
    let cons = consumers(sg);
    let prods = producers(sg);
    for f in 0..sg.operators.len() {
        let fop = &sg.operators[f];
        let (true, Some(Some(flat)), Some(Some(w))) = (
            is_op(fop, B::FullyConnected),
            fop.inputs.first().copied(),
            fop.inputs.get(1).copied(),
        ) else {
            continue;
        };
        let Some(ri) = prods[flat].filter(|&ri| is_op(&sg.operators[ri], B::Reshape)) else {
            continue;
        };
        let Some(Some(y)) = sg.operators[ri].inputs.first().copied() else {
            continue;
        };
        let Some(ti) = prods[y] else { continue };
        let (Some(p), Some(x)) = (perm_of(sg, &sg.operators[ti]), sg.operators[ti].inputs[0])
        else {
            continue;
        };
        let single = |t: usize| cons[t].len() == 1 && !is_graph_output(sg, t);
        let sx = signature(&sg.tensors[x]);
        let sf = signature(&sg.tensors[flat]);
        let Some(wv) = crate::graph::const_f32(&sg.tensors[w]) else {
            continue;
        };
        let k: i64 = sx.iter().skip(1).map(|&d| i64::from(d)).product();
        if !single(y) || !single(flat) || p.first() != Some(&0) || sf.len() != 2 {
            continue;
        }
        if sx.iter().skip(1).any(|&d| d < 0) || i64::from(sf[1]) != k || k == 0 {
            continue;
        }
        let (k, o) = (k as usize, wv.len() / k as usize);
        // Strides of x's trailing dims; column j of W reads y's element j (row-major in y).
        let dims: Vec<usize> = sx.iter().skip(1).map(|&d| d as usize).collect();
        let mut xstride = vec![1usize; dims.len()];
        for i in (0..dims.len().saturating_sub(1)).rev() {
            xstride[i] = xstride[i + 1] * dims[i + 1];
        }
        let ydims: Vec<usize> = p.iter().skip(1).map(|&a| dims[a - 1]).collect();
        let mut neww = vec![0f32; wv.len()];
        let mut idx = vec![0usize; ydims.len()];
        for j in 0..k {
            let src: usize = (0..idx.len()).map(|i| idx[i] * xstride[p[i + 1] - 1]).sum();
            for r in 0..o {
                neww[r * k + src] = wv[r * k + j];
            }
            for i in (0..idx.len()).rev() {
                idx[i] += 1;
                if idx[i] < ydims[i] {
                    break;
                }
                idx[i] = 0;
            }
        }
        let mut wt = sg.tensors[w].clone();
        wt.name = format!("{}/permuted", wt.name);
        wt.data = Some(crate::graph::f32_bytes(&neww));
        let nw = push_tensor(sg, wt);
        sg.operators[f].inputs[1] = Some(nw);
        sg.operators[ri].inputs[0] = Some(x);
        return true;
    }
    false
}

/// Turns transposes that only move size-1 dims into RESHAPEs; returns how many.
fn unit_transposes_to_reshapes(sg: &mut Subgraph) -> usize {
    let mut n = 0;
    for o in 0..sg.operators.len() {
        let Some(p) = perm_of(sg, &sg.operators[o]) else {
            continue;
        };
        let (Some(x), Some(y)) = (sg.operators[o].inputs[0], sg.operators[o].outputs[0]) else {
            continue;
        };
        let sx = signature(&sg.tensors[x]);
        let sy = signature(&sg.tensors[y]);
        let moved: Vec<usize> = p.iter().copied().filter(|&a| sx[a] != 1).collect();
        if moved.windows(2).any(|w| w[0] > w[1]) || sy.iter().filter(|&&d| d < 0).count() > 1 {
            continue;
        }
        let name = format!("{}/shape", sg.tensors[y].name);
        let mut t = Tensor::new(name, DType::I32, vec![sy.len() as i32]);
        t.has_rank = true;
        t.data = Some(Bytes::from_vec(
            sy.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ));
        let st = push_tensor(sg, t);
        sg.operators[o] = Operator::new(B::Reshape, vec![Some(x), Some(st)], vec![Some(y)]);
        n += 1;
    }
    n
}

/// Runs the transpose rewrites to a fixed point; returns `(transposes before, after)`.
pub fn optimize_transposes(sg: &mut Subgraph, report: &mut Report) -> (usize, usize) {
    let count = |sg: &Subgraph| {
        sg.operators
            .iter()
            .filter(|o| is_op(o, B::Transpose))
            .count()
    };
    let before = count(sg);
    // Each rewrite removes a transpose or moves one strictly towards the outputs, so this ends;
    // the bound only guards against a bug.
    for _ in 0..10_000 {
        let changed = cancel_one(sg)
            || sink_one(sg)
            || fold_into_fully_connected(sg)
            || remove_dead_transposes(sg);
        if !changed {
            break;
        }
    }
    let reshaped = unit_transposes_to_reshapes(sg);
    let after = count(sg);
    if before > 0 {
        report.push(
            EventKind::Folded,
            format!(
                "layout transposes: {before} → {after} TRANSPOSE ops ({reshaped} became RESHAPE)"
            ),
        );
    }
    (before, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphBuilder;

    fn transpose(b: &mut GraphBuilder, x: usize, perm: &[i32], out_sig: &[i32]) -> usize {
        let p = b.const_i32("perm", &[perm.len() as i32], perm);
        let y = b.activation("t", out_sig);
        b.op(B::Transpose, vec![Some(x), Some(p)], vec![y], None);
        y
    }

    #[test]
    fn inverse_pairs_cancel_through_activations_and_constants() {
        // x (NHWC) → T(NCHW) → MUL [C,1,1] → RELU → T(NHWC) → y
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[1, 2, 2, 3]);
        let t1 = transpose(&mut b, x, &[0, 3, 1, 2], &[1, 3, 2, 2]);
        let c = b.const_f32("c", &[3, 1, 1], &[1.0, 2.0, 3.0]);
        let m = b.activation("m", &[1, 3, 2, 2]);
        b.op(B::Mul, vec![Some(t1), Some(c)], vec![m], None);
        let r = b.activation("r", &[1, 3, 2, 2]);
        b.op(B::Relu, vec![Some(m)], vec![r], None);
        let y = transpose(&mut b, r, &[0, 2, 3, 1], &[1, 2, 2, 3]);
        b.sg.inputs = vec![x];
        b.sg.outputs = vec![y];
        let mut rep = Report::default();
        assert_eq!(optimize_transposes(&mut b.sg, &mut rep), (2, 0));
        let kinds: Vec<String> = b.sg.operators.iter().map(|o| o.kind.name()).collect();
        assert_eq!(kinds, vec!["MUL", "RELU"]);
        let c2 = b.sg.operators[0].inputs[1].unwrap();
        assert_eq!(b.sg.tensors[c2].shape, vec![1, 1, 1, 3]);
        assert_eq!(
            crate::graph::const_f32(&b.sg.tensors[c2]),
            Some(vec![1.0, 2.0, 3.0])
        );
        let out = b.sg.outputs[0];
        assert_eq!(b.sg.operators[1].outputs[0], Some(out));
        assert_eq!(b.sg.operators[0].inputs[0], Some(x));
    }

    #[test]
    fn unit_dim_transposes_become_reshapes() {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 1, 1, 8]);
        let y = transpose(&mut b, x, &[0, 3, 1, 2], &[-1, 8, 1, 1]);
        b.sg.inputs = vec![x];
        b.sg.outputs = vec![y];
        let mut rep = Report::default();
        assert_eq!(optimize_transposes(&mut b.sg, &mut rep), (1, 0));
        assert!(is_op(&b.sg.operators[0], B::Reshape));
        let s = b.sg.operators[0].inputs[1].unwrap();
        assert_eq!(const_i32(&b.sg.tensors[s]), Some(vec![-1, 8, 1, 1]));
    }

    #[test]
    fn a_transpose_with_other_readers_stays() {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[1, 2, 3]);
        let t = transpose(&mut b, x, &[0, 2, 1], &[1, 3, 2]);
        let r = b.activation("r", &[1, 3, 2]);
        b.op(B::Relu, vec![Some(t)], vec![r], None);
        b.sg.inputs = vec![x];
        b.sg.outputs = vec![r, t];
        let mut rep = Report::default();
        assert_eq!(optimize_transposes(&mut b.sg, &mut rep), (1, 1));
        assert_eq!(b.sg.operators.len(), 2);
    }
}
