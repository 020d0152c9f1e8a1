//! The trainable view of a float model: which operators run, which constants are parameters.
//!
//! [`Net::from_model`] walks the main subgraph of a float32 [`Model`] and resolves every
//! operator into a [`Node`] with its options already checked. Float32 constants that feed the
//! filter or bias operand of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED become trainable
//! [`Param`]s (kept in their TFLite layout, so exporting is a byte copy). A SOFTMAX producing the
//! graph output is not run during training: its input is the logits of the cross-entropy loss.
//!
//! Supported operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL (two
//! activations of one shape, or an activation and a per-channel or scalar float constant, which
//! is trained too), CONCATENATION, MAX_POOL_2D,
//! AVERAGE_POOL_2D, MEAN over the spatial axes, RESHAPE, SOFTMAX, RELU, RELU6, RELU_N1_TO_1,
//! TANH, LOGISTIC, HARD_SWISH, with fused NONE/RELU/RELU6/RELU_N1_TO_1/TANH activations. Activations must be rank 2 (`[N, C]`) or rank 4
//! (`[N, H, W, C]`) with the batch first.

mod build;

use crate::error::{Result, TrainError};
use build::{per_sample, Builder};
use ferrolite_model::{tflite, Model, OpKind};
use tflite::BuiltinOperator as B;
use tflite::BuiltinOptions as O;

/// A fused (or standalone) activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `min(max(x, -1), 1)`.
    ReluN1To1,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + exp(-x))` (LOGISTIC).
    Logistic,
    /// `x * relu6(x + 3) / 6`.
    HardSwish,
}

impl Activation {
    fn from_tflite(a: tflite::ActivationFunctionType, op: usize) -> Result<Self> {
        use tflite::ActivationFunctionType as A;
        match a {
            A::None => Ok(Activation::None),
            A::Relu => Ok(Activation::Relu),
            A::Relu6 => Ok(Activation::Relu6),
            A::ReluN1To1 => Ok(Activation::ReluN1To1),
            A::Tanh => Ok(Activation::Tanh),
            other => Err(TrainError::Unsupported(format!(
                "operator {op}: fused activation {other:?}"
            ))),
        }
    }
}

/// Spatial padding of a convolution or pooling window, `(before, after)` per dimension.
pub type Pads = [(usize, usize); 2];

/// Which kind of weighted layer a [`Layer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// CONV_2D: filter `[O, kh, kw, I]`.
    Conv2d,
    /// DEPTHWISE_CONV_2D: filter `[1, kh, kw, C * multiplier]`.
    DepthwiseConv2d,
    /// FULLY_CONNECTED: weights `[O, I]`.
    FullyConnected,
}

impl LayerKind {
    /// The TFLite operator name.
    pub fn op_name(self) -> &'static str {
        match self {
            LayerKind::Conv2d => "CONV_2D",
            LayerKind::DepthwiseConv2d => "DEPTHWISE_CONV_2D",
            LayerKind::FullyConnected => "FULLY_CONNECTED",
        }
    }
}

/// A trainable float32 constant of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Index of the tensor in the main subgraph.
    pub tensor: usize,
    /// Its TFLite shape.
    pub shape: Vec<usize>,
    /// Its initial values (row-major, TFLite layout).
    pub values: Vec<f32>,
}

/// A weighted operator (conv, depthwise conv, dense): the unit pruning and QAT work on.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Index of the operator in the main subgraph.
    pub op: usize,
    /// What it is.
    pub kind: LayerKind,
    /// Short name derived from the weight tensor (`conv1` for `model/conv1/Conv2D`).
    pub name: String,
    /// Full name of the weight tensor.
    pub tensor_name: String,
    /// Parameter index of the weights.
    pub weight: usize,
    /// Parameter index of the bias, when present.
    pub bias: Option<usize>,
}

impl Layer {
    /// True when `selector` names this layer: its short name, its weight tensor's full name,
    /// `op<index>`, or any `/`- or `;`-separated part of the tensor name.
    pub fn matches(&self, selector: &str) -> bool {
        selector == self.name
            || selector == self.tensor_name
            || selector == format!("op{}", self.op)
            || self
                .tensor_name
                .split([';', '/'])
                .any(|part| part == selector)
    }
}

/// An element-wise binary operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// ADD.
    Add,
    /// SUB.
    Sub,
    /// MUL.
    Mul,
}

/// The right operand of a [`Node::Binary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// An activation tensor of the same shape.
    Tensor(usize),
    /// A float constant (parameter index) of one value or one value per channel.
    Param(usize),
}

/// One executable step of the network. Operand fields are tensor indices of the main subgraph.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// CONV_2D or DEPTHWISE_CONV_2D (`groups` > 1 for depthwise).
    Conv {
        /// Layer index (into [`Net::layers`]).
        layer: usize,
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// `[h, w]` stride.
        stride: [usize; 2],
        /// `[h, w]` dilation.
        dilation: [usize; 2],
        /// Padding per spatial dimension.
        pads: Pads,
        /// 1 for CONV_2D, the input channel count for depthwise.
        groups: usize,
        /// Fused activation.
        act: Activation,
    },
    /// FULLY_CONNECTED (input flattened to `[N, I]`).
    Dense {
        /// Layer index.
        layer: usize,
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// Fused activation.
        act: Activation,
    },
    /// Element-wise ADD / SUB / MUL of an activation and another activation of the same shape
    /// or a (trainable) constant broadcast over the channels.
    Binary {
        /// Which operation.
        op: BinaryOp,
        /// Left operand (an activation).
        a: usize,
        /// Right operand.
        b: Operand,
        /// Output activation.
        output: usize,
        /// Fused activation.
        act: Activation,
    },
    /// CONCATENATION of activations along one per-sample axis.
    Concat {
        /// The inputs, in order.
        inputs: Vec<usize>,
        /// The axis among the per-sample dims (0-based, TFLite order: H, W, C for images).
        axis: usize,
        /// Output activation.
        output: usize,
        /// Fused activation.
        act: Activation,
    },
    /// MAX_POOL_2D / AVERAGE_POOL_2D.
    Pool {
        /// True for max pooling.
        max: bool,
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// `[h, w]` window.
        filter: [usize; 2],
        /// `[h, w]` stride.
        stride: [usize; 2],
        /// Padding per spatial dimension.
        pads: Pads,
        /// Fused activation.
        act: Activation,
    },
    /// MEAN over H and W of an image.
    GlobalMean {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// Keep `[N, 1, 1, C]` instead of `[N, C]`.
        keep_dims: bool,
    },
    /// RESHAPE to the output tensor's per-sample shape.
    Reshape {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// Per-sample output shape (rank 1 or 3).
        shape: Vec<usize>,
    },
    /// SOFTMAX inside the graph (not the final one).
    Softmax {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// Logit scale.
        beta: f32,
    },
    /// Standalone RELU / RELU6.
    Act {
        /// Input activation.
        input: usize,
        /// Output activation.
        output: usize,
        /// The function.
        act: Activation,
    },
}

impl Node {
    /// The activation tensor this node writes.
    pub fn output(&self) -> usize {
        match *self {
            Node::Conv { output, .. }
            | Node::Dense { output, .. }
            | Node::Binary { output, .. }
            | Node::Concat { output, .. }
            | Node::Pool { output, .. }
            | Node::GlobalMean { output, .. }
            | Node::Reshape { output, .. }
            | Node::Softmax { output, .. }
            | Node::Act { output, .. } => output,
        }
    }
}

/// A float model resolved for training.
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    /// Executable nodes in order.
    pub nodes: Vec<Node>,
    /// Trainable constants.
    pub params: Vec<Param>,
    /// Weighted layers in execution order.
    pub layers: Vec<Layer>,
    /// The graph input tensor.
    pub input: usize,
    /// Per-sample input shape (without the batch dimension).
    pub input_shape: Vec<usize>,
    /// The tensor holding the logits.
    pub logits: usize,
    /// Number of classes (last dim of the logits).
    pub classes: usize,
    /// `Some(beta)` when the graph output is SOFTMAX(beta * logits), `None` when it is the
    /// logits themselves.
    pub softmax_beta: Option<f32>,
    /// Number of tensors of the subgraph (size of the activation table).
    pub tensor_count: usize,
}

impl Net {
    /// Checks that every layer selector (`--only` / `--skip`) names a layer of the network.
    pub fn check_selectors<'a>(
        &self,
        selectors: impl IntoIterator<Item = &'a String>,
    ) -> Result<()> {
        for sel in selectors {
            if !self.layers.iter().any(|l| l.matches(sel)) {
                let names: Vec<&str> = self.layers.iter().map(|l| l.name.as_str()).collect();
                return Err(TrainError::Options(format!(
                    "no layer matches '{sel}' (layers: {})",
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Resolves the main subgraph of `model` (float32, one input, one output).
    pub fn from_model(model: &Model) -> Result<Self> {
        let sg = model
            .subgraphs
            .first()
            .ok_or_else(|| TrainError::InvalidModel("the model has no subgraph".into()))?;
        if sg.inputs.len() != 1 || sg.outputs.len() != 1 {
            return Err(TrainError::Unsupported(format!(
                "training needs one input and one output, the model has {} and {}",
                sg.inputs.len(),
                sg.outputs.len()
            )));
        }
        let mut b = Builder {
            sg,
            nodes: Vec::new(),
            params: Vec::new(),
            layers: Vec::new(),
        };
        let input = sg.inputs[0];
        let input_shape = per_sample(sg, input)?;
        let graph_output = sg.outputs[0];
        let mut logits = graph_output;
        let mut softmax_beta = None;
        for (i, op) in sg.operators.iter().enumerate() {
            let out0 = op.outputs.first().copied().flatten();
            if op.kind == OpKind::Builtin(B::Softmax) && out0 == Some(graph_output) {
                softmax_beta = Some(match &op.options {
                    Some(O::SoftmaxOptions(o)) => o.beta,
                    _ => 1.0,
                });
                logits = b.operand(i, 0)?;
                continue;
            }
            b.node(i)?;
        }
        let logit_shape = per_sample(sg, logits)?;
        if logit_shape.len() != 1 {
            return Err(TrainError::Unsupported(format!(
                "the logits '{}' must be [N, classes], got per-sample shape {:?}",
                sg.tensors[logits].name, logit_shape
            )));
        }
        Ok(Net {
            nodes: b.nodes,
            params: b.params,
            layers: b.layers,
            input,
            input_shape,
            logits,
            classes: logit_shape[0],
            softmax_beta,
            tensor_count: sg.tensors.len(),
        })
    }

    /// The layer whose weights are parameter `p`, if any.
    pub fn layer_of_weight(&self, p: usize) -> Option<&Layer> {
        self.layers.iter().find(|l| l.weight == p)
    }
}

#[cfg(test)]
mod tests {
    use super::build::{pads, short_name};
    use super::*;

    #[test]
    fn short_names() {
        assert_eq!(short_name("cnn_bn/conv1/Conv2D", 0), "conv1");
        assert_eq!(
            short_name("dwsep_res/dw_bn/FusedBatchNormV3;dwsep_res/dw/depthwise", 1),
            "dw"
        );
        assert_eq!(short_name("conv2/kernel;bn2/scaled", 2), "conv2");
        assert_eq!(short_name("dw/kernel;dw_bn/scaled", 1), "dw");
        assert_eq!(short_name("probs/kernel", 4), "probs");
        assert_eq!(short_name("dense_kernel", 3), "dense_kernel");
        assert_eq!(short_name("", 3), "op3");
    }

    #[test]
    fn same_padding_puts_the_extra_cell_after() {
        let p = pads(tflite::Padding::Same, [8, 8], [3, 3], [2, 2], [1, 1]);
        assert_eq!(p, [(0, 1), (0, 1)]);
        let p = pads(tflite::Padding::Same, [8, 8], [3, 3], [1, 1], [1, 1]);
        assert_eq!(p, [(1, 1), (1, 1)]);
        let p = pads(tflite::Padding::Valid, [8, 8], [3, 3], [1, 1], [1, 1]);
        assert_eq!(p, [(0, 0), (0, 0)]);
    }

    #[test]
    fn resolves_the_fixtures() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
        for (m, layers, nodes) in [("cnn_bn", 3, 5), ("dwsep_res", 4, 6), ("mlp", 3, 4)] {
            let model =
                ferrolite_model::read_file(format!("{dir}/{m}/{m}_float32.tflite")).unwrap();
            let net = Net::from_model(&model).unwrap();
            assert_eq!(net.layers.len(), layers, "{m}");
            assert_eq!(net.nodes.len(), nodes, "{m}");
            assert_eq!(net.classes, 10);
            assert_eq!(net.softmax_beta, Some(1.0));
            assert_eq!(net.input_shape, vec![8, 8, 1]);
        }
    }

    #[test]
    fn refuses_quantized_models() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
        let model = ferrolite_model::read_file(format!("{dir}/mlp/mlp_int8.tflite")).unwrap();
        assert!(matches!(
            Net::from_model(&model),
            Err(TrainError::Unsupported(_))
        ));
    }
}
