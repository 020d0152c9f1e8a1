//! Lowering GraphDef nodes to TFLite operators.
//!
//! Nodes are visited producers first. Each node output becomes a [`Val`]: a constant held by
//! the importer (`Const` nodes and everything folded from constants) or a tensor of the
//! subgraph under construction. Constants are materialized into the model only when an operator
//! reads them. One module per op family: [`nn`] (convolutions, matmul, batch norm, pooling,
//! activations, elementwise arithmetic), [`math`] (more elementwise math, reductions, batched
//! matmul), [`array`] (shape and layout ops), [`split`] (multi-output splits, slicing,
//! gathering, tiling, padding) and [`image`] (transposed convolution, resizing, NMS).

pub mod array;
pub mod image;
pub mod math;
pub mod nn;
pub mod split;

use super::error::{GraphDefError, Result};
use super::fold;
use super::graph::{Attrs, GraphIndex, Port};
use super::tensor::{dtype_of, ConstTensor};
use crate::graph::GraphBuilder;
use crate::prost::tensorflow::{DataType, NodeDef};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::{Bytes, DType, OpKind, Operator, Tensor};
use std::collections::HashMap;
use std::rc::Rc;

/// TensorFlow op types the importer lowers (or folds, or passes through).
pub const SUPPORTED_OPS: &[&str] = &[
    "Placeholder",
    "PlaceholderWithDefault",
    "Const",
    "Identity",
    "IdentityN",
    "StopGradient",
    "Snapshot",
    "Conv2D",
    "DepthwiseConv2dNative",
    "MatMul",
    "BiasAdd",
    "Add",
    "AddV2",
    "Sub",
    "Mul",
    "RealDiv",
    "FloorDiv",
    "Maximum",
    "Minimum",
    "Relu",
    "Relu6",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "FusedBatchNorm",
    "FusedBatchNormV2",
    "FusedBatchNormV3",
    "MaxPool",
    "AvgPool",
    "Mean",
    "Reshape",
    "Squeeze",
    "ExpandDims",
    "ConcatV2",
    "Pad",
    "Transpose",
    "Shape",
    "StridedSlice",
    "Pack",
    "Cast",
    "Fill",
    "Conv2DBackpropInput",
    "BatchMatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
    "LeakyRelu",
    "Elu",
    "Square",
    "Sqrt",
    "Rsqrt",
    "Exp",
    "Log",
    "SquaredDifference",
    "Sum",
    "Max",
    "ArgMax",
    "Unpack",
    "Split",
    "SplitV",
    "Slice",
    "Tile",
    "GatherV2",
    "PadV2",
    "MirrorPad",
    "Range",
    "ResizeBilinear",
    "ResizeNearestNeighbor",
    "NonMaxSuppressionV4",
    "NonMaxSuppressionV5",
];

/// Supported ops with several outputs, lowered by [`Lowerer::lower_multi`].
const MULTI_OUTPUT: &[&str] = &[
    "Unpack",
    "Split",
    "SplitV",
    "NonMaxSuppressionV4",
    "NonMaxSuppressionV5",
];

/// Ops that forward their inputs unchanged at inference.
const PASS_THROUGH: &[&str] = &["Identity", "IdentityN", "StopGradient", "Snapshot"];

/// The value of one node output.
#[derive(Debug, Clone)]
pub enum Val {
    /// A constant known to the importer, with the tensor name to give it in the model. The name
    /// identifies the constant: a node name, or `node:suffix` for a value derived from a node
    /// (`:` cannot occur in node names), so equal names mean equal constants.
    Const(Rc<ConstTensor>, String),
    /// A tensor of the subgraph.
    Tensor(usize),
}

impl Val {
    /// The constant, if this is one.
    pub fn as_const(&self) -> Option<&ConstTensor> {
        match self {
            Val::Const(c, _) => Some(c),
            Val::Tensor(_) => None,
        }
    }
}

/// One node being lowered: its definition and its input values.
pub struct Node<'a> {
    /// The node.
    pub def: &'a NodeDef,
    /// Its data inputs.
    pub inputs: Vec<Val>,
}

impl<'a> Node<'a> {
    /// Attribute access.
    pub fn attrs(&self) -> Attrs<'a> {
        Attrs { node: self.def }
    }

    /// A [`GraphDefError::BadNode`] naming this node.
    pub fn bad(&self, message: impl Into<String>) -> GraphDefError {
        GraphDefError::BadNode {
            node: self.def.name.clone(),
            op: self.def.op.clone(),
            message: message.into(),
        }
    }

    /// Input `i`, or an error when the node has fewer inputs.
    pub fn input(&self, i: usize) -> Result<&Val> {
        self.inputs
            .get(i)
            .ok_or_else(|| self.bad(format!("expected at least {} inputs", i + 1)))
    }

    /// Input `i`, which must be a constant (`what` names it in the error).
    pub fn const_input(&self, i: usize, what: &str) -> Result<&ConstTensor> {
        self.input(i)?.as_const().ok_or_else(|| {
            self.bad(format!(
                "{what} (input {i}) must be a constant in a frozen graph, but it is computed at \
                 run time"
            ))
        })
    }

    /// Input `i` as integers (a constant index operand such as an axis or a shape).
    pub fn const_ints(&self, i: usize, what: &str) -> Result<Vec<i64>> {
        let c = self.const_input(i, what)?;
        c.to_i64()
            .filter(|_| c.dtype != DType::Bool)
            .ok_or_else(|| self.bad(format!("{what} must be integers, found {:?}", c.dtype)))
    }
}

/// The lowering state.
pub struct Lowerer<'g> {
    /// The subgraph under construction.
    pub b: GraphBuilder,
    idx: &'g GraphIndex<'g>,
    values: HashMap<Port, Val>,
    materialized: HashMap<String, usize>,
    /// Custom operators emitted (op type, node name), when custom ops are allowed.
    pub custom: Vec<(String, String)>,
}

impl<'g> Lowerer<'g> {
    /// A lowerer over `idx`.
    pub fn new(idx: &'g GraphIndex<'g>) -> Self {
        Lowerer {
            b: GraphBuilder::new(),
            idx,
            values: HashMap::new(),
            materialized: HashMap::new(),
            custom: Vec::new(),
        }
    }

    /// Binds a node output to a value (graph inputs).
    pub fn bind(&mut self, port: Port, v: Val) {
        self.values.insert(port, v);
    }

    /// The value of a node output that has been lowered.
    pub fn value(&self, port: Port) -> Result<Val> {
        self.values.get(&port).cloned().ok_or_else(|| {
            let n = &self.idx.nodes[port.node];
            GraphDefError::BadInput {
                node: n.name.clone(),
                op: n.op.clone(),
                input: format!("{}:{}", n.name, port.output),
                message: "is read, but the node has no such output".into(),
            }
        })
    }

    /// Appends a tensor of `dtype` and shape (`None` = unknown rank, `-1` = unknown dim).
    pub fn new_tensor(&mut self, name: &str, dtype: DType, shape: Option<&[i64]>) -> usize {
        let mut t = match shape {
            Some(s) => {
                let sig: Vec<i32> = s
                    .iter()
                    .map(|&d| d.clamp(-1, i32::MAX as i64) as i32)
                    .collect();
                let mut t = Tensor::new(name, dtype, crate::graph::static_shape(&sig));
                if sig.iter().any(|&d| d < 0) {
                    t.shape_signature = Some(sig);
                }
                t.has_rank = true;
                t
            }
            None => Tensor::new(name, dtype, Vec::new()),
        };
        t.name = name.to_string();
        self.b.sg.tensors.push(t);
        self.b.sg.tensors.len() - 1
    }

    /// The shape of a value (`None` = unknown rank).
    pub fn shape(&self, v: &Val) -> Option<Vec<i64>> {
        match v {
            Val::Const(c, _) => Some(c.shape.iter().map(|&d| d as i64).collect()),
            Val::Tensor(t) => {
                let t = &self.b.sg.tensors[*t];
                t.has_rank.then(|| {
                    crate::graph::signature(t)
                        .iter()
                        .map(|&d| d as i64)
                        .collect()
                })
            }
        }
    }

    /// The element type of a value.
    pub fn dtype(&self, v: &Val) -> DType {
        match v {
            Val::Const(c, _) => c.dtype,
            Val::Tensor(t) => self.b.sg.tensors[*t].dtype,
        }
    }

    /// The tensor holding `v`, materializing a constant on first use.
    pub fn tensor(&mut self, v: &Val) -> usize {
        match v {
            Val::Tensor(t) => *t,
            Val::Const(c, name) => {
                if let Some(&t) = self.materialized.get(name) {
                    return t;
                }
                let i = self.push_const(name.clone(), c.as_ref().clone());
                self.materialized.insert(name.clone(), i);
                i
            }
        }
    }

    /// Appends a constant tensor (never shared: derived operands get their own).
    fn push_const(&mut self, name: String, c: ConstTensor) -> usize {
        let mut t = Tensor::new(name, c.dtype, c.shape.iter().map(|&d| d as i32).collect());
        t.has_rank = true;
        t.data = Some(Bytes::from_vec(c.data));
        self.b.sg.tensors.push(t);
        self.b.sg.tensors.len() - 1
    }

    /// An `i32` constant tensor named `name` (index operands: axes, shapes, permutations).
    pub fn const_i32(&mut self, name: String, shape: Vec<usize>, v: &[i64]) -> usize {
        let vals: Vec<i32> = v.iter().map(|&x| x as i32).collect();
        self.push_const(name, ConstTensor::from_i32(shape, &vals))
    }

    /// An `f32` constant tensor named `name`.
    pub fn const_f32(&mut self, name: String, shape: Vec<usize>, v: &[f32]) -> usize {
        self.push_const(name, ConstTensor::from_f32(shape, v))
    }

    /// Appends a builtin operator with one output of `dtype` and `shape`; returns the output.
    pub fn emit(
        &mut self,
        op: B,
        inputs: Vec<Option<usize>>,
        name: &str,
        dtype: DType,
        shape: Option<&[i64]>,
        options: Option<BuiltinOptions>,
    ) -> usize {
        let y = self.new_tensor(name, dtype, shape);
        self.b.op(op, inputs, vec![y], options);
        y
    }

    /// Lowers node `i` (its inputs already lowered) and records its output values.
    pub fn lower_node(&mut self, i: usize, outputs: usize, allow_custom: bool) -> Result<()> {
        let def = &self.idx.nodes[i];
        let inputs = self
            .idx
            .data_inputs(i)?
            .into_iter()
            .map(|p| self.value(p))
            .collect::<Result<Vec<_>>>()?;
        let node = Node { def, inputs };
        let op = def.op.as_str();
        let vals: Vec<Val> = if PASS_THROUGH.contains(&op) {
            node.inputs.clone()
        } else if op == "Const" {
            let t = node.attrs().tensor("value")?;
            let c = ConstTensor::from_proto(t).map_err(|m| node.bad(m))?;
            vec![Val::Const(Rc::new(c), def.name.clone())]
        } else if op == "PlaceholderWithDefault" {
            vec![node.input(0)?.clone()]
        } else if op == "Placeholder" {
            return Err(GraphDefError::UnfedPlaceholder {
                node: def.name.clone(),
                inputs: "the placeholder was not bound".into(),
            });
        } else if let Some(v) = self.try_fold(&node)? {
            vec![v]
        } else if MULTI_OUTPUT.contains(&op) {
            self.lower_multi(&node)?
        } else if SUPPORTED_OPS.contains(&op) {
            vec![self.lower_builtin(&node)?]
        } else if allow_custom {
            self.lower_custom(&node, outputs)
        } else {
            return Err(node.bad("unsupported op (internal: missed by the unsupported-op scan)"));
        };
        for (k, v) in vals.into_iter().enumerate() {
            self.values.insert(Port { node: i, output: k }, v);
        }
        Ok(())
    }

    /// Folds a node whose data inputs are all constants (and `Shape` of a static shape).
    fn try_fold(&self, node: &Node<'_>) -> Result<Option<Val>> {
        let name = node.def.name.clone();
        if node.def.op == "Shape" {
            return array::fold_shape(self, node).map(|c| c.map(|c| Val::Const(Rc::new(c), name)));
        }
        let consts: Option<Vec<&ConstTensor>> = node.inputs.iter().map(Val::as_const).collect();
        let Some(consts) = consts.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let folded = fold::fold(&node.def.op, &node.attrs(), &consts).map_err(|m| node.bad(m))?;
        Ok(folded.map(|c| Val::Const(Rc::new(c), name)))
    }

    fn lower_builtin(&mut self, node: &Node<'_>) -> Result<Val> {
        let t = match node.def.op.as_str() {
            "Conv2D" => nn::conv2d(self, node)?,
            "DepthwiseConv2dNative" => nn::depthwise(self, node)?,
            "MatMul" => nn::matmul(self, node)?,
            "BiasAdd" => nn::bias_add(self, node)?,
            "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => {
                nn::batch_norm(self, node)?
            }
            "MaxPool" => nn::pool(self, node, B::MaxPool2d)?,
            "AvgPool" => nn::pool(self, node, B::AveragePool2d)?,
            "Relu" => nn::unary(self, node, B::Relu)?,
            "Relu6" => nn::unary(self, node, B::Relu6)?,
            "Sigmoid" => nn::unary(self, node, B::Logistic)?,
            "Tanh" => nn::unary(self, node, B::Tanh)?,
            "Softmax" => nn::softmax(self, node)?,
            "Add" | "AddV2" => nn::binary(self, node, B::Add)?,
            "Sub" => nn::binary(self, node, B::Sub)?,
            "Mul" => nn::binary(self, node, B::Mul)?,
            "RealDiv" => nn::real_div(self, node)?,
            "FloorDiv" => nn::binary(self, node, B::FloorDiv)?,
            "Maximum" => nn::binary(self, node, B::Maximum)?,
            "Minimum" => nn::binary(self, node, B::Minimum)?,
            "Mean" => math::reduce(self, node, B::Mean)?,
            "Sum" => math::reduce(self, node, B::Sum)?,
            "Max" => math::reduce(self, node, B::ReduceMax)?,
            "ArgMax" => math::arg_max(self, node)?,
            "LeakyRelu" => math::leaky_relu(self, node)?,
            "Elu" => nn::unary(self, node, B::Elu)?,
            "Square" => nn::unary(self, node, B::Square)?,
            "Sqrt" => nn::unary(self, node, B::Sqrt)?,
            "Rsqrt" => nn::unary(self, node, B::Rsqrt)?,
            "Exp" => nn::unary(self, node, B::Exp)?,
            "Log" => nn::unary(self, node, B::Log)?,
            "SquaredDifference" => nn::binary(self, node, B::SquaredDifference)?,
            "BatchMatMul" | "BatchMatMulV2" | "BatchMatMulV3" => math::batch_matmul(self, node)?,
            "Conv2DBackpropInput" => image::transpose_conv(self, node)?,
            "ResizeBilinear" => image::resize(self, node, B::ResizeBilinear)?,
            "ResizeNearestNeighbor" => image::resize(self, node, B::ResizeNearestNeighbor)?,
            "Slice" => split::slice(self, node)?,
            "Tile" => split::tile(self, node)?,
            "GatherV2" => split::gather(self, node)?,
            "PadV2" => split::pad_v2(self, node)?,
            "MirrorPad" => split::mirror_pad(self, node)?,
            "Range" => split::range(self, node)?,
            "Reshape" => array::reshape(self, node)?,
            "Squeeze" => array::squeeze(self, node)?,
            "ExpandDims" => array::expand_dims(self, node)?,
            "ConcatV2" => array::concat(self, node)?,
            "Pad" => array::pad(self, node)?,
            "Transpose" => array::transpose(self, node)?,
            "Shape" => array::shape(self, node)?,
            "StridedSlice" => array::strided_slice(self, node)?,
            "Pack" => array::pack(self, node)?,
            "Cast" => array::cast(self, node)?,
            "Fill" => array::fill(self, node)?,
            other => return Err(node.bad(format!("no lowering for {other}"))),
        };
        Ok(Val::Tensor(t))
    }

    fn lower_multi(&mut self, node: &Node<'_>) -> Result<Vec<Val>> {
        match node.def.op.as_str() {
            "Unpack" => split::unpack(self, node),
            "Split" => split::split(self, node),
            "SplitV" => split::split_v(self, node),
            "NonMaxSuppressionV4" => image::nms(self, node, false),
            "NonMaxSuppressionV5" => image::nms(self, node, true),
            other => Err(node.bad(format!("no lowering for {other}"))),
        }
    }

    /// Emits an unsupported node as a custom operator named after its op type, with empty
    /// custom options and outputs of unknown shape.
    fn lower_custom(&mut self, node: &Node<'_>, outputs: usize) -> Vec<Val> {
        let ins: Vec<Option<usize>> = node.inputs.iter().map(|v| Some(self.tensor(v))).collect();
        let attrs = node.attrs();
        let tf_type = ["T", "dtype", "out_type", "output_type", "element_dtype"]
            .iter()
            .find_map(|a| attrs.dtype(a).ok().flatten());
        let dtype = match tf_type {
            Some(t) if t == DataType::DtVariant as i32 => DType::Variant,
            Some(t) if t == DataType::DtResource as i32 => DType::Resource,
            Some(t) => dtype_of(t).unwrap_or(DType::F32),
            None => DType::F32,
        };
        let outs: Vec<usize> = (0..outputs.max(1))
            .map(|k| {
                let name = if k == 0 {
                    node.def.name.clone()
                } else {
                    format!("{}:{k}", node.def.name)
                };
                self.new_tensor(&name, dtype, None)
            })
            .collect();
        let mut op = Operator::new(B::Custom, ins, outs.iter().map(|&t| Some(t)).collect());
        op.kind = OpKind::Custom(node.def.op.clone());
        self.b.sg.operators.push(op);
        self.custom
            .push((node.def.op.clone(), node.def.name.clone()));
        outs.into_iter().map(Val::Tensor).collect()
    }
}
