//! Building and inspecting a ferrolite [`Subgraph`] while converting.
//!
//! [`GraphBuilder`] appends tensors and operators to a subgraph and remembers each activation's
//! *shape signature* (`-1` for the dynamic batch dimension). Constants are little-endian `f32` or
//! `i32` [`Bytes`]. The free functions read constants back and answer the questions every pass
//! asks (who produces a tensor, who consumes it, is it a graph output).

use ferrolite_model::tflite::{BuiltinOperator, BuiltinOptions};
use ferrolite_model::{Bytes, DType, OpKind, Operator, Subgraph, Tensor};

/// Custom code of the placeholder op the lowering emits for layers that are the identity at
/// inference (Dropout, GaussianNoise, a rank-2 Flatten, ...); the identity pass removes it.
pub const IDENTITY_OP: &str = "ferrolite.Identity";

/// Replaces dynamic dims (`-1`) by 1: the static `shape` TFLite stores beside `shape_signature`.
pub fn static_shape(sig: &[i32]) -> Vec<i32> {
    sig.iter().map(|&d| if d < 0 { 1 } else { d }).collect()
}

/// Encodes `f32` values as little-endian bytes.
pub fn f32_bytes(values: &[f32]) -> Bytes {
    Bytes::from_vec(values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// Encodes `i32` values as little-endian bytes.
pub fn i32_bytes(values: &[i32]) -> Bytes {
    Bytes::from_vec(values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// The values of an `f32` constant tensor, `None` for activations and other types.
pub fn const_f32(t: &Tensor) -> Option<Vec<f32>> {
    if t.dtype != DType::F32 || t.sparsity.is_some() {
        return None;
    }
    let data = t.data.as_ref()?;
    if data.len() % 4 != 0 || Some(data.len() / 4) != t.element_count() {
        return None;
    }
    Some(
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// The values of an `i32` constant tensor, `None` for activations and other types.
pub fn const_i32(t: &Tensor) -> Option<Vec<i32>> {
    if t.dtype != DType::I32 || t.sparsity.is_some() {
        return None;
    }
    let data = t.data.as_ref()?;
    if data.len() % 4 != 0 || Some(data.len() / 4) != t.element_count() {
        return None;
    }
    Some(
        data.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// The shape signature of a tensor: `shape_signature` when recorded, else `shape`.
pub fn signature(t: &Tensor) -> Vec<i32> {
    t.shape_signature.clone().unwrap_or_else(|| t.shape.clone())
}

/// The Keras layer a tensor name comes from: the last `;`-joined component, up to its first `/`
/// (`relu1;bn1;conv1/Conv2D` → `conv1`).
pub fn origin(name: &str) -> &str {
    let last = name.rsplit(';').next().unwrap_or(name);
    last.split('/').next().unwrap_or(last)
}

/// Describes the op at `idx` as `KIND of `layer`` (the layer its output tensor comes from).
pub fn op_label(sg: &Subgraph, idx: usize) -> String {
    let op = &sg.operators[idx];
    let out = op
        .outputs
        .first()
        .copied()
        .flatten()
        .and_then(|t| sg.tensors.get(t))
        .map(|t| origin(&t.name))
        .unwrap_or("?");
    format!("{} of `{out}`", op.kind.name())
}

/// Makes op `idx` write `new_out` instead of its first output, naming the tensor TF-style as
/// `new;old` (so the name keeps the layers that were merged into the op).
pub fn take_over_output(sg: &mut Subgraph, idx: usize, new_out: usize) {
    if let Some(Some(old)) = sg.operators[idx].outputs.first().copied() {
        let name = format!("{};{}", sg.tensors[new_out].name, sg.tensors[old].name);
        sg.tensors[new_out].name = name;
    }
    sg.operators[idx].outputs[0] = Some(new_out);
}

/// True when `op` is the given builtin.
pub fn is_op(op: &Operator, b: BuiltinOperator) -> bool {
    op.kind == OpKind::Builtin(b)
}

/// For each tensor, the indices of the operators reading it.
pub fn consumers(sg: &Subgraph) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); sg.tensors.len()];
    for (i, op) in sg.operators.iter().enumerate() {
        for t in op.inputs.iter().flatten() {
            if let Some(list) = out.get_mut(*t) {
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
    }
    out
}

/// For each tensor, the index of the operator writing it.
pub fn producers(sg: &Subgraph) -> Vec<Option<usize>> {
    let mut out = vec![None; sg.tensors.len()];
    for (i, op) in sg.operators.iter().enumerate() {
        for t in op.outputs.iter().flatten() {
            if let Some(slot) = out.get_mut(*t) {
                *slot = Some(i);
            }
        }
    }
    out
}

/// True when the tensor is one of the subgraph's outputs.
pub fn is_graph_output(sg: &Subgraph, t: usize) -> bool {
    sg.outputs.contains(&t)
}

/// Rewrites every reference to tensor `from` (op inputs and outputs, graph outputs) to `to`.
pub fn replace_tensor(sg: &mut Subgraph, from: usize, to: usize) {
    for op in &mut sg.operators {
        for slot in op.inputs.iter_mut().chain(op.outputs.iter_mut()) {
            if *slot == Some(from) {
                *slot = Some(to);
            }
        }
    }
    for o in &mut sg.outputs {
        if *o == from {
            *o = to;
        }
    }
}

/// Appends tensors and operators to a subgraph under construction.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    /// The subgraph being built.
    pub sg: Subgraph,
}

impl GraphBuilder {
    /// An empty builder for the main subgraph.
    pub fn new() -> Self {
        GraphBuilder {
            sg: Subgraph {
                name: Some("main".into()),
                debug_metadata_index: -1,
                ..Default::default()
            },
        }
    }

    fn push(&mut self, mut t: Tensor) -> usize {
        t.has_rank = true;
        self.sg.tensors.push(t);
        self.sg.tensors.len() - 1
    }

    /// A float activation tensor with shape signature `sig` (`-1` = dynamic).
    pub fn activation(&mut self, name: impl Into<String>, sig: &[i32]) -> usize {
        self.tensor(name, DType::F32, sig)
    }

    /// A non-constant tensor of any element type (int32 indices, bool masks, shape vectors).
    pub fn tensor(&mut self, name: impl Into<String>, dtype: DType, sig: &[i32]) -> usize {
        let mut t = Tensor::new(name, dtype, static_shape(sig));
        if sig.iter().any(|&d| d < 0) {
            t.shape_signature = Some(sig.to_vec());
        }
        self.push(t)
    }

    /// The element type of tensor `t` (`F32` for an out-of-range index).
    pub fn dtype(&self, t: usize) -> DType {
        self.sg.tensors.get(t).map_or(DType::F32, |t| t.dtype)
    }

    /// An `f32` constant of the given shape (the caller guarantees `values` fits `shape`).
    pub fn const_f32(&mut self, name: impl Into<String>, shape: &[i32], values: &[f32]) -> usize {
        let mut t = Tensor::new(name, DType::F32, shape.to_vec());
        t.data = Some(f32_bytes(values));
        self.push(t)
    }

    /// An `i32` constant of the given shape.
    pub fn const_i32(&mut self, name: impl Into<String>, shape: &[i32], values: &[i32]) -> usize {
        let mut t = Tensor::new(name, DType::I32, shape.to_vec());
        t.data = Some(i32_bytes(values));
        self.push(t)
    }

    /// The shape signature of tensor `t`.
    pub fn sig(&self, t: usize) -> Vec<i32> {
        self.sg.tensors.get(t).map(signature).unwrap_or_default()
    }

    /// Appends a builtin operator (version 1; the version pass stamps the final one).
    pub fn op(
        &mut self,
        op: BuiltinOperator,
        inputs: Vec<Option<usize>>,
        outputs: Vec<usize>,
        options: Option<BuiltinOptions>,
    ) {
        let mut o = Operator::new(op, inputs, outputs.into_iter().map(Some).collect());
        o.options = options;
        self.sg.operators.push(o);
    }

    /// Appends an identity placeholder `output = input` (removed by the identity pass);
    /// `what` (the Keras class) is kept in its custom options for the report.
    pub fn identity(&mut self, input: usize, output: usize, what: &str) {
        let mut o = Operator::new(
            BuiltinOperator::Custom,
            vec![Some(input)],
            vec![Some(output)],
        );
        o.kind = OpKind::Custom(IDENTITY_OP.into());
        o.custom_options = Some(Bytes::from_vec(what.as_bytes().to_vec()));
        self.sg.operators.push(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_round_trip_and_shapes_are_static() {
        let mut b = GraphBuilder::new();
        let c = b.const_f32("c", &[2], &[1.5, -2.0]);
        let a = b.activation("a", &[-1, 4]);
        assert_eq!(const_f32(&b.sg.tensors[c]), Some(vec![1.5, -2.0]));
        assert_eq!(const_f32(&b.sg.tensors[a]), None);
        assert_eq!(b.sg.tensors[a].shape, vec![1, 4]);
        assert_eq!(b.sig(a), vec![-1, 4]);
        assert_eq!(b.sig(c), vec![2]);
    }

    #[test]
    fn consumers_producers_and_replace() {
        let mut b = GraphBuilder::new();
        let x = b.activation("x", &[-1, 2]);
        let y = b.activation("y", &[-1, 2]);
        let z = b.activation("z", &[-1, 2]);
        b.op(BuiltinOperator::Relu, vec![Some(x)], vec![y], None);
        b.op(BuiltinOperator::Add, vec![Some(y), Some(y)], vec![z], None);
        b.sg.outputs = vec![z];
        assert_eq!(consumers(&b.sg)[y], vec![1]);
        assert_eq!(producers(&b.sg)[z], Some(1));
        assert_eq!(origin("relu1;bn1;conv1/Conv2D"), "conv1");
        replace_tensor(&mut b.sg, z, x);
        assert_eq!(b.sg.outputs, vec![x]);
        assert!(is_graph_output(&b.sg, x));
    }
}
