//! Resolution of the model's operators into [`Node`]s: option checks, parameter registration,
//! padding and per-sample shapes.

use super::{Activation, BinaryOp, Layer, LayerKind, Node, Operand, Pads, Param};
use crate::error::{Result, TrainError};
use ferrolite_model::{tflite, DType, OpKind, Subgraph, Tensor};
use tflite::BuiltinOperator as B;
use tflite::BuiltinOptions as O;

/// Accumulates the nodes, parameters and layers of a subgraph, operator by operator.
pub(super) struct Builder<'a> {
    pub(super) sg: &'a Subgraph,
    pub(super) nodes: Vec<Node>,
    pub(super) params: Vec<Param>,
    pub(super) layers: Vec<Layer>,
}

impl Builder<'_> {
    pub(super) fn operand(&self, op: usize, k: usize) -> Result<usize> {
        let o = &self.sg.operators[op];
        let t = o.inputs.get(k).copied().flatten().ok_or_else(|| {
            TrainError::InvalidModel(format!("operator {op} ({}) lacks input {k}", o.kind.name()))
        })?;
        if t >= self.sg.tensors.len() {
            return Err(TrainError::InvalidModel(format!(
                "operator {op} refers to missing tensor {t}"
            )));
        }
        Ok(t)
    }

    fn output(&self, op: usize) -> Result<usize> {
        let o = &self.sg.operators[op];
        o.outputs
            .first()
            .copied()
            .flatten()
            .filter(|&t| t < self.sg.tensors.len())
            .ok_or_else(|| TrainError::InvalidModel(format!("operator {op} has no output")))
    }

    /// An activation operand: float32 and not a constant.
    fn activation(&self, op: usize, k: usize) -> Result<usize> {
        let t = self.operand(op, k)?;
        let tensor = &self.sg.tensors[t];
        if tensor.dtype != DType::F32 {
            return Err(TrainError::Unsupported(format!(
                "operator {op}: tensor '{}' is {}, training needs a float32 model",
                tensor.name,
                tensor.dtype.tflite_name()
            )));
        }
        if tensor.is_constant() {
            return Err(TrainError::Unsupported(format!(
                "operator {op}: constant operand '{}' where an activation was expected",
                tensor.name
            )));
        }
        Ok(t)
    }

    /// A float32 constant operand, registered as a parameter (shared tensors share one).
    fn param(&mut self, op: usize, k: usize) -> Result<usize> {
        let t = self.operand(op, k)?;
        if let Some(p) = self.params.iter().position(|p| p.tensor == t) {
            return Ok(p);
        }
        let tensor = &self.sg.tensors[t];
        let values = constant_f32(tensor).ok_or_else(|| {
            TrainError::Unsupported(format!(
                "operator {op}: weight '{}' must be a dense float32 constant (got {}{})",
                tensor.name,
                tensor.dtype.tflite_name(),
                if tensor.is_constant() {
                    ""
                } else {
                    ", not constant"
                }
            ))
        })?;
        let shape = dims(tensor)?;
        self.params.push(Param {
            tensor: t,
            shape,
            values,
        });
        Ok(self.params.len() - 1)
    }

    fn layer(&mut self, op: usize, kind: LayerKind) -> Result<usize> {
        let weight = self.param(op, 1)?;
        let bias = match self.sg.operators[op].inputs.get(2).copied().flatten() {
            Some(_) => Some(self.param(op, 2)?),
            None => None,
        };
        let tensor_name = self.sg.tensors[self.params[weight].tensor].name.clone();
        let mut name = short_name(&tensor_name, op);
        if self.layers.iter().any(|l| l.name == name) {
            name = format!("{name}_op{op}");
        }
        self.layers.push(Layer {
            op,
            kind,
            name,
            tensor_name,
            weight,
            bias,
        });
        Ok(self.layers.len() - 1)
    }

    pub(super) fn node(&mut self, i: usize) -> Result<()> {
        let op = &self.sg.operators[i];
        let OpKind::Builtin(code) = op.kind else {
            return Err(TrainError::Unsupported(format!(
                "operator {i}: custom op '{}'",
                op.kind.name()
            )));
        };
        let output = self.output(i)?;
        let node = match code {
            B::Conv2d | B::DepthwiseConv2d => self.conv(i, code, output)?,
            B::FullyConnected => {
                let act = match &op.options {
                    Some(O::FullyConnectedOptions(o)) => {
                        if o.keep_num_dims {
                            return Err(TrainError::Unsupported(format!(
                                "operator {i}: FULLY_CONNECTED with keep_num_dims"
                            )));
                        }
                        Activation::from_tflite(o.fused_activation_function, i)?
                    }
                    _ => Activation::None,
                };
                let input = self.activation(i, 0)?;
                let layer = self.layer(i, LayerKind::FullyConnected)?;
                let w = &self.params[self.layers[layer].weight].shape;
                if w.len() != 2 {
                    return Err(TrainError::Unsupported(format!(
                        "operator {i}: FULLY_CONNECTED weights must be [O, I], got {w:?}"
                    )));
                }
                Node::Dense {
                    layer,
                    input,
                    output,
                    act,
                }
            }
            B::Add | B::Sub | B::Mul => self.binary(i, code, output)?,
            B::Concatenation => {
                let (axis, act) = match &op.options {
                    Some(O::ConcatenationOptions(o)) => (
                        o.axis,
                        Activation::from_tflite(o.fused_activation_function, i)?,
                    ),
                    _ => (-1, Activation::None),
                };
                let n_in = op.inputs.len();
                let inputs = (0..n_in)
                    .map(|k| self.activation(i, k))
                    .collect::<Result<Vec<_>>>()?;
                let rank = per_sample(self.sg, output)?.len() as i32 + 1;
                let axis = if axis < 0 { axis + rank } else { axis };
                if inputs.is_empty() || axis < 1 || axis >= rank || !(rank == 2 || rank == 4) {
                    return Err(TrainError::Unsupported(format!(
                        "operator {i}: CONCATENATION along axis {axis} of a rank-{rank} tensor"
                    )));
                }
                Node::Concat {
                    inputs,
                    axis: (axis - 1) as usize,
                    output,
                    act,
                }
            }
            B::MaxPool2d | B::AveragePool2d => {
                let input = self.activation(i, 0)?;
                let o = match &op.options {
                    Some(O::Pool2DOptions(o)) => o.as_ref().clone(),
                    _ => {
                        return Err(TrainError::InvalidModel(format!(
                            "operator {i}: pooling without options"
                        )))
                    }
                };
                let filter = [pos(o.filter_height, i)?, pos(o.filter_width, i)?];
                let stride = [pos(o.stride_h, i)?, pos(o.stride_w, i)?];
                let hw = image_hw(self.sg, input, i)?;
                check_window(hw, filter, [1, 1], o.padding, i)?;
                Node::Pool {
                    max: code == B::MaxPool2d,
                    input,
                    output,
                    filter,
                    stride,
                    pads: pads(o.padding, hw, filter, stride, [1, 1]),
                    act: Activation::from_tflite(o.fused_activation_function, i)?,
                }
            }
            B::Mean => {
                let input = self.activation(i, 0)?;
                let axes_t = &self.sg.tensors[self.operand(i, 1)?];
                let axes = constant_i32(axes_t).ok_or_else(|| {
                    TrainError::Unsupported(format!("operator {i}: MEAN axes must be constant"))
                })?;
                let mut axes: Vec<i32> = axes
                    .iter()
                    .map(|&a| if a < 0 { a + 4 } else { a })
                    .collect();
                axes.sort_unstable();
                if per_sample(self.sg, input)?.len() != 3 || axes != [1, 2] {
                    return Err(TrainError::Unsupported(format!(
                        "operator {i}: MEAN is supported over the spatial axes of an image only"
                    )));
                }
                let keep_dims = matches!(&op.options, Some(O::ReducerOptions(o)) if o.keep_dims);
                Node::GlobalMean {
                    input,
                    output,
                    keep_dims,
                }
            }
            B::Reshape => {
                let input = self.activation(i, 0)?;
                let shape = per_sample(self.sg, output)?;
                let from = per_sample(self.sg, input)?;
                if shape.iter().product::<usize>() != from.iter().product::<usize>() {
                    return Err(TrainError::Unsupported(format!(
                        "operator {i}: RESHAPE must keep the batch dimension ({from:?} -> {shape:?})"
                    )));
                }
                if shape.len() != 1 && shape.len() != 3 {
                    return Err(TrainError::Unsupported(format!(
                        "operator {i}: RESHAPE to rank {} (only [N, C] and [N, H, W, C])",
                        shape.len() + 1
                    )));
                }
                Node::Reshape {
                    input,
                    output,
                    shape,
                }
            }
            B::Softmax => Node::Softmax {
                input: self.activation(i, 0)?,
                output,
                beta: match &op.options {
                    Some(O::SoftmaxOptions(o)) => o.beta,
                    _ => 1.0,
                },
            },
            B::Relu | B::Relu6 | B::ReluN1To1 | B::Tanh | B::Logistic | B::HardSwish => Node::Act {
                input: self.activation(i, 0)?,
                output,
                act: match code {
                    B::Relu => Activation::Relu,
                    B::Relu6 => Activation::Relu6,
                    B::Tanh => Activation::Tanh,
                    B::Logistic => Activation::Logistic,
                    B::HardSwish => Activation::HardSwish,
                    _ => Activation::ReluN1To1,
                },
            },
            other => {
                return Err(TrainError::Unsupported(format!(
                    "operator {i}: {} is not trainable yet",
                    ferrolite_model::names::builtin_name(other)
                )))
            }
        };
        self.nodes.push(node);
        Ok(())
    }

    /// ADD / SUB / MUL: two activations of one shape, or an activation and a float constant
    /// of one value or one per channel (either side for ADD and MUL).
    fn binary(&mut self, i: usize, code: B, output: usize) -> Result<Node> {
        let op = &self.sg.operators[i];
        let act = match &op.options {
            Some(O::AddOptions(o)) => Activation::from_tflite(o.fused_activation_function, i)?,
            Some(O::SubOptions(o)) => Activation::from_tflite(o.fused_activation_function, i)?,
            Some(O::MulOptions(o)) => Activation::from_tflite(o.fused_activation_function, i)?,
            _ => Activation::None,
        };
        let bop = match code {
            B::Add => BinaryOp::Add,
            B::Sub => BinaryOp::Sub,
            _ => BinaryOp::Mul,
        };
        let (t0, t1) = (self.operand(i, 0)?, self.operand(i, 1)?);
        let (c0, c1) = (
            self.sg.tensors[t0].is_constant(),
            self.sg.tensors[t1].is_constant(),
        );
        let (a, k_const) = match (c0, c1) {
            (false, false) => {
                let (a, b) = (self.activation(i, 0)?, self.activation(i, 1)?);
                if self.sg.tensors[a].shape != self.sg.tensors[b].shape {
                    return Err(TrainError::Unsupported(format!(
                        "operator {i}: {} of activations with different shapes (broadcasting)",
                        ferrolite_model::names::builtin_name(code)
                    )));
                }
                return Ok(Node::Binary {
                    op: bop,
                    a,
                    b: Operand::Tensor(b),
                    output,
                    act,
                });
            }
            (false, true) => (self.activation(i, 0)?, 1),
            (true, false) if bop != BinaryOp::Sub => (self.activation(i, 1)?, 0),
            _ => {
                return Err(TrainError::Unsupported(format!(
                    "operator {i}: {} of constants",
                    ferrolite_model::names::builtin_name(code)
                )))
            }
        };
        let p = self.param(i, k_const)?;
        let channels = per_sample(self.sg, a)?.last().copied().unwrap_or(1);
        let n = self.params[p].values.len();
        let shape = &self.params[p].shape;
        let leading_ones = shape.iter().rev().skip(1).all(|&d| d == 1);
        if !(n == 1 || (n == channels && leading_ones)) {
            return Err(TrainError::Unsupported(format!(
                "operator {i}: constant operand of shape {shape:?} (only a scalar or one value \
                 per channel, {channels})"
            )));
        }
        Ok(Node::Binary {
            op: bop,
            a,
            b: Operand::Param(p),
            output,
            act,
        })
    }

    fn conv(&mut self, i: usize, code: B, output: usize) -> Result<Node> {
        let op = &self.sg.operators[i];
        let (padding, stride, dilation, act) = match (&op.options, code) {
            (Some(O::Conv2DOptions(o)), B::Conv2d) => (
                o.padding,
                (o.stride_h, o.stride_w),
                (o.dilation_h_factor, o.dilation_w_factor),
                o.fused_activation_function,
            ),
            (Some(O::DepthwiseConv2DOptions(o)), B::DepthwiseConv2d) => (
                o.padding,
                (o.stride_h, o.stride_w),
                (o.dilation_h_factor, o.dilation_w_factor),
                o.fused_activation_function,
            ),
            _ => {
                return Err(TrainError::InvalidModel(format!(
                    "operator {i}: convolution without its options"
                )))
            }
        };
        let input = self.activation(i, 0)?;
        let depthwise = code == B::DepthwiseConv2d;
        let kind = if depthwise {
            LayerKind::DepthwiseConv2d
        } else {
            LayerKind::Conv2d
        };
        let layer = self.layer(i, kind)?;
        let w = self.params[self.layers[layer].weight].shape.clone();
        let in_shape = per_sample(self.sg, input)?;
        if w.len() != 4 || in_shape.len() != 3 {
            return Err(TrainError::Unsupported(format!(
                "operator {i}: convolution needs a rank-4 filter and an image input"
            )));
        }
        if w.contains(&0) {
            return Err(TrainError::InvalidModel(format!(
                "operator {i}: empty filter {w:?}"
            )));
        }
        let cin = in_shape[2];
        let groups = if depthwise {
            if w[0] != 1 || cin == 0 || !w[3].is_multiple_of(cin) {
                return Err(TrainError::InvalidModel(format!(
                    "operator {i}: depthwise filter {w:?} does not fit {cin} input channels"
                )));
            }
            cin
        } else {
            if w[3] != cin {
                return Err(TrainError::InvalidModel(format!(
                    "operator {i}: filter {w:?} does not fit {cin} input channels"
                )));
            }
            1
        };
        let stride = [pos(stride.0, i)?, pos(stride.1, i)?];
        let dilation = [pos(dilation.0, i)?, pos(dilation.1, i)?];
        let hw = [in_shape[0], in_shape[1]];
        check_window(hw, [w[1], w[2]], dilation, padding, i)?;
        Ok(Node::Conv {
            layer,
            input,
            output,
            stride,
            dilation,
            pads: pads(padding, hw, [w[1], w[2]], stride, dilation),
            groups,
            act: Activation::from_tflite(act, i)?,
        })
    }
}

fn pos(v: i32, op: usize) -> Result<usize> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| TrainError::InvalidModel(format!("operator {op}: non-positive size {v}")))
}

/// Errors unless a VALID window fits the input (burn would panic on an empty output).
fn check_window(
    hw: [usize; 2],
    filter: [usize; 2],
    dilation: [usize; 2],
    padding: tflite::Padding,
    op: usize,
) -> Result<()> {
    for d in 0..2 {
        let eff = (filter[d] - 1) * dilation[d] + 1;
        if hw[d] == 0 || (padding == tflite::Padding::Valid && eff > hw[d]) {
            return Err(TrainError::Unsupported(format!(
                "operator {op}: window {filter:?} does not fit the input {hw:?}"
            )));
        }
    }
    Ok(())
}

/// TFLite's padding: SAME puts the smaller half of the total padding before.
pub(super) fn pads(
    padding: tflite::Padding,
    hw: [usize; 2],
    filter: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> Pads {
    let mut p = [(0, 0); 2];
    if padding == tflite::Padding::Same {
        for d in 0..2 {
            let eff = (filter[d] - 1) * dilation[d] + 1;
            let out = hw[d].div_ceil(stride[d]);
            let total = (out.saturating_sub(1) * stride[d] + eff).saturating_sub(hw[d]);
            p[d] = (total / 2, total - total / 2);
        }
    }
    p
}

fn dims(t: &Tensor) -> Result<Vec<usize>> {
    t.shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| TrainError::InvalidModel(format!("tensor '{}' has a negative dim", t.name)))
}

/// The shape of one sample of activation `t` (its static shape without the leading batch dim).
pub(super) fn per_sample(sg: &Subgraph, t: usize) -> Result<Vec<usize>> {
    let tensor = &sg.tensors[t];
    let d = dims(tensor)?;
    if d.is_empty() {
        return Err(TrainError::Unsupported(format!(
            "activation '{}' has no batch dimension",
            tensor.name
        )));
    }
    Ok(d[1..].to_vec())
}

fn image_hw(sg: &Subgraph, t: usize, op: usize) -> Result<[usize; 2]> {
    let s = per_sample(sg, t)?;
    if s.len() != 3 {
        return Err(TrainError::Unsupported(format!(
            "operator {op}: expects an [N, H, W, C] input"
        )));
    }
    Ok([s[0], s[1]])
}

/// The values of a dense float32 constant.
pub(crate) fn constant_f32(t: &Tensor) -> Option<Vec<f32>> {
    if t.dtype != DType::F32 || t.sparsity.is_some() {
        return None;
    }
    let data = t.data.as_ref()?;
    if data.len() != t.element_count()? * 4 {
        return None;
    }
    Some(
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn constant_i32(t: &Tensor) -> Option<Vec<i32>> {
    let data = t.data.as_ref()?;
    match t.dtype {
        DType::I32 => Some(
            data.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        DType::I64 => Some(
            data.chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    i64::from_le_bytes(b) as i32
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Names of the op or variable that ends a weight tensor's name in TF's and ferrolite's
/// converters (`model/conv1/Conv2D`, `conv1/kernel`).
const WEIGHT_SUFFIXES: [&str; 6] = [
    "kernel",
    "depthwise_kernel",
    "Conv2D",
    "depthwise",
    "MatMul",
    "weights",
];

/// The layer a weight tensor belongs to: `model/conv1/Conv2D` (TF) and `conv1/kernel;bn1/scaled`
/// (ferrolite's Keras converter) → `conv1`. Fused names (`;`-separated) use the part that ends
/// in a weight suffix, else the last part; the layer is the component before the suffix.
pub(super) fn short_name(tensor_name: &str, op: usize) -> String {
    let segments: Vec<&str> = tensor_name.split(';').collect();
    let seg = segments
        .iter()
        .find(|s| {
            s.rsplit('/')
                .next()
                .is_some_and(|last| WEIGHT_SUFFIXES.contains(&last))
        })
        .or(segments.last())
        .copied()
        .unwrap_or(tensor_name);
    let parts: Vec<&str> = seg.split('/').filter(|p| !p.is_empty()).collect();
    match parts.len() {
        0 => format!("op{op}"),
        1 => parts[0].to_string(),
        n => parts[n - 2].to_string(),
    }
}
