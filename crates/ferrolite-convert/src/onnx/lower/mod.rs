//! Lowering ONNX nodes to TFLite builtins on a [`GraphBuilder`].
//!
//! Every ONNX value becomes a [`Val`]: an activation tensor of the subgraph (with its shape, `-1`
//! for a dynamic dimension) or a constant still held in Rust ([`Const`]) so that shape inputs,
//! weights and folded subexpressions never reach the model as operators. Constants are written
//! as tensors only when an operator reads them as data.
//!
//! Activations keep ONNX's layout (NCHW for images). Convolutions, pooling and resizes, whose
//! TFLite kernels are NHWC, are emitted between explicit TRANSPOSE ops; the converter's
//! transpose pass ([`crate::passes::transpose`]) then cancels the inverse pairs this leaves
//! between consecutive layers. Op families live in [`conv`], [`math`] and [`shape`].

pub mod conv;
pub mod math;
pub mod shape;

use super::error::{OnnxError, Result};
use super::tensor::{self, Const, Data};
use crate::graph::GraphBuilder;
use crate::prost::onnx::attribute_proto::AttributeType;
use crate::prost::onnx::{AttributeProto, NodeProto};
use crate::report::{EventKind, Report};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::DType;
use std::collections::HashMap;
use std::rc::Rc;

/// ONNX op types (default domain) the importer lowers.
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Exp",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Identity",
    "LeakyRelu",
    "Log",
    "MatMul",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Pad",
    "Relu",
    "Reshape",
    "Resize",
    "Sigmoid",
    "Softmax",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// An ONNX value during lowering.
#[derive(Debug, Clone)]
pub enum Val {
    /// A tensor of the subgraph and its shape (`-1` = dynamic).
    Act {
        /// Tensor index.
        t: usize,
        /// Shape in ONNX layout.
        shape: Vec<i64>,
    },
    /// A constant known at conversion time.
    Const(Rc<Const>),
}

/// One node being lowered, with attribute access that reports errors against it.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    /// The node.
    pub def: &'a NodeProto,
}

impl<'a> Node<'a> {
    /// The node's name, or its first output's when it has none.
    pub fn name(&self) -> String {
        if !self.def.name.is_empty() {
            return self.def.name.clone();
        }
        self.def.output.first().cloned().unwrap_or_default()
    }

    /// The name of output `i` (empty when absent).
    pub fn output(&self, i: usize) -> &str {
        self.def.output.get(i).map_or("", String::as_str)
    }

    /// A node-level error.
    pub fn bad(&self, message: impl Into<String>) -> OnnxError {
        OnnxError::BadNode {
            node: self.name(),
            op: self.def.op_type.clone(),
            message: message.into(),
        }
    }

    /// An attribute-level error.
    pub fn bad_attr(&self, attr: &str, message: impl Into<String>) -> OnnxError {
        OnnxError::BadAttr {
            node: self.name(),
            op: self.def.op_type.clone(),
            attr: attr.to_string(),
            message: message.into(),
        }
    }

    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.def.attribute.iter().find(|a| a.name == name)
    }

    fn typed(&self, name: &str, want: AttributeType) -> Result<Option<&'a AttributeProto>> {
        match self.attr(name) {
            Some(a) if a.r#type != want as i32 && a.r#type != AttributeType::Undefined as i32 => {
                let found = AttributeType::try_from(a.r#type)
                    .map(|t| t.as_str_name().to_string())
                    .unwrap_or_else(|_| a.r#type.to_string());
                Err(self.bad_attr(
                    name,
                    format!("expected {}, found {found}", want.as_str_name()),
                ))
            }
            a => Ok(a),
        }
    }

    /// An INT attribute, or `default`.
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self
            .typed(name, AttributeType::Int)?
            .map_or(default, |a| a.i))
    }

    /// A FLOAT attribute, or `default`.
    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self
            .typed(name, AttributeType::Float)?
            .map_or(default, |a| a.f))
    }

    /// An INTS attribute, if present.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self
            .typed(name, AttributeType::Ints)?
            .map(|a| a.ints.clone()))
    }

    /// A STRING attribute, or `default`.
    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        Ok(self
            .typed(name, AttributeType::String)?
            .map_or(default.to_string(), |a| {
                String::from_utf8_lossy(&a.s).into_owned()
            }))
    }

    /// The name of input `i`, `None` when absent or empty (an omitted optional input).
    pub fn input_name(&self, i: usize) -> Option<&'a str> {
        self.def
            .input
            .get(i)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// Converts a shape to the `i32` signature the IR stores.
pub fn sig(shape: &[i64]) -> Vec<i32> {
    shape
        .iter()
        .map(|&d| d.clamp(-1, i32::MAX as i64) as i32)
        .collect()
}

/// Largest dimension a tensor may have: TFLite stores shapes as `i32`. Every value the lowering
/// binds stays within it, which keeps the shape arithmetic of each op far from `i64` overflow.
pub const MAX_DIM: i64 = i32::MAX as i64;

/// The element count of a fully static shape.
pub fn numel(shape: &[i64]) -> Option<i64> {
    shape.iter().try_fold(
        1i64,
        |acc, &d| if d < 0 { None } else { acc.checked_mul(d) },
    )
}

/// Normalizes a possibly negative axis against `rank`.
pub fn axis(node: &Node<'_>, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(node.bad(format!("axis {a} is out of range for rank {rank}")))
    }
}

/// The state of one conversion: the subgraph under construction and every ONNX value so far.
#[derive(Debug)]
pub struct Lowerer {
    /// The subgraph being built.
    pub b: GraphBuilder,
    /// Version of the default-domain opset the model imports.
    pub opset: i64,
    /// Events of the lowering (dropped nodes, approximations).
    pub report: Report,
    values: HashMap<String, Val>,
    written: HashMap<String, usize>,
}

impl Lowerer {
    /// A lowerer for a model importing `opset`.
    pub fn new(opset: i64) -> Self {
        Lowerer {
            b: GraphBuilder::new(),
            opset,
            report: Report::default(),
            values: HashMap::new(),
            written: HashMap::new(),
        }
    }

    /// Binds an ONNX value name.
    pub fn bind(&mut self, name: &str, v: Val) {
        self.values.insert(name.to_string(), v);
    }

    /// The value called `name`, if defined.
    pub fn lookup(&self, name: &str) -> Option<&Val> {
        self.values.get(name)
    }

    /// Input `i` of `node` (required).
    pub fn val(&self, node: &Node<'_>, i: usize) -> Result<Val> {
        let name = node
            .input_name(i)
            .ok_or_else(|| node.bad(format!("input {i} is missing")))?;
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| OnnxError::Undefined {
                node: node.name(),
                op: node.def.op_type.clone(),
                value: name.to_string(),
            })
    }

    /// Input `i` of `node`, `None` when omitted.
    pub fn opt_val(&self, node: &Node<'_>, i: usize) -> Result<Option<Val>> {
        match node.input_name(i) {
            None => Ok(None),
            Some(_) => self.val(node, i).map(Some),
        }
    }

    /// Input `i` of `node`, which must be a constant (`what` names it in the error).
    pub fn konst(&self, node: &Node<'_>, i: usize, what: &str) -> Result<Rc<Const>> {
        match self.val(node, i)? {
            Val::Const(c) => Ok(c),
            Val::Act { .. } => Err(node.bad(format!(
                "{what} (input {i}) must be a constant (an initializer or Constant); \
                 computed {what}s are not supported"
            ))),
        }
    }

    /// Optional constant input `i`.
    pub fn opt_konst(&self, node: &Node<'_>, i: usize, what: &str) -> Result<Option<Rc<Const>>> {
        match node.input_name(i) {
            None => Ok(None),
            Some(_) => self.konst(node, i, what).map(Some),
        }
    }

    /// The shape of a value.
    pub fn shape(v: &Val) -> Vec<i64> {
        match v {
            Val::Act { shape, .. } => shape.clone(),
            Val::Const(c) => c.dims.clone(),
        }
    }

    /// Input `i` as a float tensor of the subgraph (writing a constant if needed) and its shape.
    pub fn act(&mut self, node: &Node<'_>, i: usize) -> Result<(usize, Vec<i64>)> {
        let v = self.val(node, i)?;
        let name = node.input_name(i).unwrap_or_default().to_string();
        match v {
            Val::Act { t, shape } => {
                if self.b.dtype(t) != DType::F32 {
                    return Err(node.bad(format!("input `{name}` must be float32")));
                }
                Ok((t, shape))
            }
            Val::Const(c) => Ok((self.write_const(&name, &c, true), c.dims.clone())),
        }
    }

    /// Writes a constant as a tensor once per name (`float`: as f32 even when integer).
    pub fn write_const(&mut self, name: &str, c: &Const, float: bool) -> usize {
        let key = format!("{name}#{}", u8::from(float));
        if let Some(&t) = self.written.get(&key) {
            return t;
        }
        let dims = sig(&c.dims);
        let t = match (&c.data, float) {
            (Data::I64(v), false) => {
                let v: Vec<i32> = v
                    .iter()
                    .map(|&x| x.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
                    .collect();
                self.b.const_i32(name, &dims, &v)
            }
            _ => self.b.const_f32(name, &dims, &c.to_f32()),
        };
        self.written.insert(key, t);
        t
    }

    /// Appends `op` writing a new float tensor `name` of `shape`; returns the tensor.
    pub fn emit(
        &mut self,
        op: B,
        inputs: Vec<Option<usize>>,
        name: &str,
        shape: &[i64],
        options: Option<BuiltinOptions>,
    ) -> usize {
        let y = self.b.activation(name, &sig(shape));
        self.b.op(op, inputs, vec![y], options);
        y
    }

    /// An int32 constant tensor.
    pub fn const_i32(&mut self, name: &str, dims: &[i64], v: &[i64]) -> usize {
        let v: Vec<i32> = v.iter().map(|&x| x as i32).collect();
        self.b.const_i32(name, &sig(dims), &v)
    }

    /// A float constant tensor.
    pub fn const_f32(&mut self, name: &str, dims: &[i64], v: &[f32]) -> usize {
        self.b.const_f32(name, &sig(dims), v)
    }

    /// Emits `TRANSPOSE(x, perm)`; returns the result and its shape.
    pub fn transpose(
        &mut self,
        x: usize,
        shape: &[i64],
        perm: &[usize],
        name: &str,
    ) -> (usize, Vec<i64>) {
        let p: Vec<i64> = perm.iter().map(|&a| a as i64).collect();
        let pt = self.const_i32(&format!("{name}/perm"), &[p.len() as i64], &p);
        let out: Vec<i64> = perm.iter().map(|&a| shape[a]).collect();
        let y = self.emit(B::Transpose, vec![Some(x), Some(pt)], name, &out, None);
        (y, out)
    }

    /// NCHW → NHWC (any rank ≥ 3: channels moved last).
    pub fn to_nhwc(&mut self, x: usize, shape: &[i64], name: &str) -> (usize, Vec<i64>) {
        let r = shape.len();
        let perm: Vec<usize> = std::iter::once(0).chain(2..r).chain([1]).collect();
        self.transpose(x, shape, &perm, &format!("{name}/to_nhwc"))
    }

    /// NHWC → NCHW (any rank ≥ 3: channels moved second); writes the tensor `name`.
    pub fn to_nchw(&mut self, x: usize, shape: &[i64], name: &str) -> (usize, Vec<i64>) {
        let r = shape.len();
        let perm: Vec<usize> = [0, r - 1].into_iter().chain(1..r - 1).collect();
        self.transpose(x, shape, &perm, name)
    }

    /// Lowers one node and binds its outputs.
    pub fn lower_node(&mut self, def: &NodeProto) -> Result<()> {
        let node = Node { def };
        let outs: Vec<Val> = match def.op_type.as_str() {
            "Conv" => vec![conv::conv(self, &node)?],
            "ConvTranspose" => vec![conv::conv_transpose(self, &node)?],
            "MaxPool" => vec![conv::pool(self, &node, B::MaxPool2d)?],
            "AveragePool" => vec![conv::pool(self, &node, B::AveragePool2d)?],
            "GlobalAveragePool" => vec![conv::global_pool(self, &node, B::Mean)?],
            "GlobalMaxPool" => vec![conv::global_pool(self, &node, B::ReduceMax)?],
            "BatchNormalization" => vec![conv::batch_norm(self, &node)?],
            "Gemm" => vec![math::gemm(self, &node)?],
            "MatMul" => vec![math::matmul(self, &node)?],
            "Add" => vec![math::binary(self, &node, B::Add)?],
            "Sub" => vec![math::binary(self, &node, B::Sub)?],
            "Mul" => vec![math::binary(self, &node, B::Mul)?],
            "Div" => vec![math::binary(self, &node, B::Div)?],
            "Max" => vec![math::binary(self, &node, B::Maximum)?],
            "Min" => vec![math::binary(self, &node, B::Minimum)?],
            "Relu" => vec![math::unary(self, &node, B::Relu)?],
            "Sigmoid" => vec![math::unary(self, &node, B::Logistic)?],
            "Tanh" => vec![math::unary(self, &node, B::Tanh)?],
            "Abs" => vec![math::unary(self, &node, B::Abs)?],
            "Neg" => vec![math::unary(self, &node, B::Neg)?],
            "Exp" => vec![math::unary(self, &node, B::Exp)?],
            "Log" => vec![math::unary(self, &node, B::Log)?],
            "Sqrt" => vec![math::unary(self, &node, B::Sqrt)?],
            "LeakyRelu" => vec![math::leaky_relu(self, &node)?],
            "Clip" => vec![math::clip(self, &node)?],
            "Softmax" => vec![math::softmax(self, &node)?],
            "Flatten" => vec![shape::flatten(self, &node)?],
            "Reshape" => vec![shape::reshape(self, &node)?],
            "Squeeze" | "Unsqueeze" => vec![shape::squeeze(self, &node)?],
            "Transpose" => vec![shape::transpose(self, &node)?],
            "Concat" => vec![shape::concat(self, &node)?],
            "Pad" => vec![shape::pad(self, &node)?],
            "Resize" => vec![shape::resize(self, &node)?],
            "Constant" => vec![shape::constant(&node)?],
            "Identity" => vec![self.val(&node, 0)?],
            "Dropout" => {
                if !node.output(1).is_empty() {
                    return Err(node.bad("the dropout mask output is not supported"));
                }
                self.report.push(
                    EventKind::Dropped,
                    format!("Dropout `{}` (identity at inference)", node.name()),
                );
                vec![self.val(&node, 0)?]
            }
            other => return Err(node.bad(format!("op `{other}` has no lowering"))),
        };
        for (i, v) in outs.into_iter().enumerate() {
            let shape = Self::shape(&v);
            if shape.iter().any(|&d| d > MAX_DIM) {
                return Err(node.bad(format!(
                    "output shape {shape:?} has a dimension above {MAX_DIM} (TFLite's limit)"
                )));
            }
            let out = node.output(i);
            if !out.is_empty() {
                self.bind(out, v);
            }
        }
        Ok(())
    }
}

/// Decodes a tensor attribute (`Constant`'s `value`).
pub fn attr_tensor(node: &Node<'_>, a: &AttributeProto) -> Result<Const> {
    let t =
        a.t.as_ref()
            .ok_or_else(|| node.bad_attr(&a.name, "expected a tensor"))?;
    tensor::decode(t)
}
