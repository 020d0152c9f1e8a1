//! The forward pass of a [`Net`] on burn tensors, and the cross-entropy loss.
//!
//! Images run in burn's NCHW layout; every point where TFLite's NHWC order is observable
//! (RESHAPE, FULLY_CONNECTED on an image, the graph input) converts explicitly, so a flatten
//! produces TFLite's element order. Parameters arrive flat (`Tensor<1>`, TFLite layout) and are
//! reshaped and permuted into burn's filter layouts here:
//!
//! - CONV_2D `[O, kh, kw, I]` → `[O, I, kh, kw]`;
//! - DEPTHWISE_CONV_2D `[1, kh, kw, C*M]` → `[C*M, 1, kh, kw]` with `groups = C` (output channel
//!   `c*M + m` reads input channel `c`, as in TFLite);
//! - FULLY_CONNECTED `[O, I]` → `x · Wᵀ + b`.

use crate::error::{Result, TrainError};
use crate::net::{Activation, BinaryOp, LayerKind, Net, Node, Operand};
use burn::tensor::activation::{log_softmax, relu, sigmoid, softmax, tanh};
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

/// An activation: an image (stored NCHW) or a matrix `[N, C]`.
#[derive(Debug, Clone)]
pub enum Act {
    /// `[N, C, H, W]` (TFLite's `[N, H, W, C]`).
    Image(Tensor<4>),
    /// `[N, C]`.
    Flat(Tensor<2>),
}

impl Act {
    /// Flattens to `[N, features]` in TFLite's NHWC element order.
    pub fn flat(self) -> Tensor<2> {
        match self {
            Act::Flat(t) => t,
            Act::Image(t) => {
                let [n, c, h, w] = t.dims();
                t.permute([0, 2, 3, 1]).reshape([n, h * w * c])
            }
        }
    }

    /// Applies `f` whatever the rank.
    pub fn map(
        self,
        f: impl Fn(Tensor<4>) -> Tensor<4>,
        g: impl Fn(Tensor<2>) -> Tensor<2>,
    ) -> Act {
        match self {
            Act::Image(t) => Act::Image(f(t)),
            Act::Flat(t) => Act::Flat(g(t)),
        }
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        match self {
            Act::Image(t) => t.dims()[0],
            Act::Flat(t) => t.dims()[0],
        }
    }
}

/// Builds the input activation from NHWC (or `[N, F]`) samples.
pub fn input_act(net: &Net, x: Vec<f32>, n: usize, device: &Device) -> Result<Act> {
    let per: usize = net.input_shape.iter().product();
    if x.len() != n * per {
        return Err(TrainError::Data(format!(
            "batch of {} values does not hold {n} samples of {:?}",
            x.len(),
            net.input_shape
        )));
    }
    match net.input_shape.as_slice() {
        [h, w, c] => {
            let t = Tensor::<4>::from_data(TensorData::new(x, [n, *h, *w, *c]), device);
            Ok(Act::Image(t.permute([0, 3, 1, 2])))
        }
        [f] => Ok(Act::Flat(Tensor::<2>::from_data(
            TensorData::new(x, [n, *f]),
            device,
        ))),
        other => Err(TrainError::Unsupported(format!(
            "input of per-sample shape {other:?} (only [H, W, C] and [F])"
        ))),
    }
}

fn activate<const D: usize>(t: Tensor<D>, a: Activation) -> Tensor<D> {
    match a {
        Activation::None => t,
        Activation::Relu => relu(t),
        Activation::Relu6 => t.clamp(0.0, 6.0),
        Activation::ReluN1To1 => t.clamp(-1.0, 1.0),
        Activation::Tanh => tanh(t),
        Activation::Logistic => sigmoid(t),
        Activation::HardSwish => {
            let gate = t.clone().add_scalar(3.0).clamp(0.0, 6.0).div_scalar(6.0);
            t * gate
        }
    }
}

fn act_any(x: Act, a: Activation) -> Act {
    if a == Activation::None {
        return x;
    }
    x.map(|t| activate(t, a), |t| activate(t, a))
}

/// The filter of layer weights in burn's conv layout.
fn conv_filter(kind: LayerKind, shape: &[usize], w: Tensor<1>) -> Tensor<4> {
    match kind {
        LayerKind::DepthwiseConv2d => {
            let (kh, kw, cm) = (shape[1], shape[2], shape[3]);
            w.reshape([kh, kw, cm])
                .permute([2, 0, 1])
                .reshape([cm, 1, kh, kw])
        }
        _ => {
            let (o, kh, kw, i) = (shape[0], shape[1], shape[2], shape[3]);
            w.reshape([o, kh, kw, i]).permute([0, 3, 1, 2])
        }
    }
}

/// Where the forward pass offers a value to its hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// Activation tensor `t` as a node produced it (after its fused activation).
    Tensor(usize),
    /// The output of weighted layer `l` before its fused activation (where an unfolded
    /// batch normalization runs).
    PreActivation(usize),
}

/// Runs the network on `input` with the given (effective) parameter values and returns the
/// logits `[N, classes]`. `hook(site, act)` sees every activation a node produces and may
/// replace it (fake quantization), the graph input included, and every conv / dense result
/// before its fused activation.
pub fn forward(
    net: &Net,
    weights: &[Tensor<1>],
    input: Act,
    hook: &mut dyn FnMut(Site, Act) -> Act,
) -> Result<Tensor<2>> {
    let mut values: Vec<Option<Act>> = vec![None; net.tensor_count];
    values[net.input] = Some(hook(Site::Tensor(net.input), input));
    let get = |values: &[Option<Act>], t: usize| {
        values[t].clone().ok_or_else(|| {
            TrainError::InvalidModel(format!("tensor {t} is read before it is computed"))
        })
    };
    for node in &net.nodes {
        let out = match node {
            Node::Conv {
                layer,
                input,
                stride,
                dilation,
                pads,
                groups,
                act,
                ..
            } => {
                let l = &net.layers[*layer];
                let shape = &net.params[l.weight].shape;
                let filter = conv_filter(l.kind, shape, weights[l.weight].clone());
                let bias = l.bias.map(|b| weights[b].clone());
                let Act::Image(x) = get(&values, *input)? else {
                    return Err(TrainError::InvalidModel(format!(
                        "operator {}: convolution input is not an image",
                        l.op
                    )));
                };
                let cin = x.dims()[1];
                let per_group = if l.kind == LayerKind::DepthwiseConv2d {
                    1
                } else {
                    shape[3]
                };
                if cin != per_group * groups {
                    return Err(TrainError::InvalidModel(format!(
                        "operator {}: {cin} input channels for filter {shape:?}",
                        l.op
                    )));
                }
                let opts = ConvOptions::new_with_padding(*stride, *pads, *dilation, *groups);
                let z = hook(
                    Site::PreActivation(*layer),
                    Act::Image(conv2d(x, filter, bias, opts)),
                );
                act_any(z, *act)
            }
            Node::Dense {
                layer, input, act, ..
            } => {
                let l = &net.layers[*layer];
                let shape = &net.params[l.weight].shape;
                let w = weights[l.weight].clone().reshape([shape[0], shape[1]]);
                let x = get(&values, *input)?.flat();
                if x.dims()[1] != shape[1] {
                    return Err(TrainError::InvalidModel(format!(
                        "operator {}: {} input features for weights {:?}",
                        l.op,
                        x.dims()[1],
                        shape
                    )));
                }
                let mut y = x.matmul(w.transpose());
                if let Some(b) = l.bias {
                    y = y + weights[b].clone().reshape([1, shape[0]]);
                }
                act_any(hook(Site::PreActivation(*layer), Act::Flat(y)), *act)
            }
            Node::Binary { op, a, b, act, .. } => {
                let x = get(&values, *a)?;
                let y = match b {
                    Operand::Tensor(t) => get(&values, *t)?,
                    Operand::Param(p) => broadcast(weights[*p].clone(), &x),
                };
                act_any(binary(*op, x, y)?, *act)
            }
            Node::Concat {
                inputs, axis, act, ..
            } => {
                let parts = inputs
                    .iter()
                    .map(|&t| get(&values, t))
                    .collect::<Result<Vec<_>>>()?;
                act_any(concat(parts, *axis)?, *act)
            }
            Node::Pool {
                max,
                input,
                filter,
                stride,
                pads,
                act,
                ..
            } => {
                let Act::Image(x) = get(&values, *input)? else {
                    return Err(TrainError::InvalidModel(
                        "pooling input is not an image".into(),
                    ));
                };
                let y = if *max {
                    let o = MaxPoolOptions::new(*filter)
                        .with_stride(*stride)
                        .with_padding_pairs(*pads);
                    max_pool2d(x, o)
                } else {
                    let o = AvgPoolOptions::new(*filter)
                        .with_stride(*stride)
                        .with_padding_pairs(*pads)
                        .with_count_include_pad(false);
                    avg_pool2d(x, o)
                };
                Act::Image(activate(y, *act))
            }
            Node::GlobalMean {
                input, keep_dims, ..
            } => {
                let Act::Image(x) = get(&values, *input)? else {
                    return Err(TrainError::InvalidModel(
                        "MEAN input is not an image".into(),
                    ));
                };
                let [n, c, _, _] = x.dims();
                let m = x.mean_dim(3).mean_dim(2);
                if *keep_dims {
                    Act::Image(m)
                } else {
                    Act::Flat(m.reshape([n, c]))
                }
            }
            Node::Reshape { input, shape, .. } => {
                let flat = get(&values, *input)?.flat();
                let [n, k] = flat.dims();
                if k != shape.iter().product::<usize>() {
                    return Err(TrainError::InvalidModel(format!(
                        "RESHAPE of {k} values per sample to {shape:?}"
                    )));
                }
                match shape.as_slice() {
                    [h, w, c] => Act::Image(flat.reshape([n, *h, *w, *c]).permute([0, 3, 1, 2])),
                    _ => Act::Flat(flat),
                }
            }
            Node::Softmax { input, beta, .. } => {
                let x = get(&values, *input)?;
                let b = *beta;
                x.map(
                    |t| softmax(t.mul_scalar(b), 1),
                    |t| softmax(t.mul_scalar(b), 1),
                )
            }
            Node::Act { input, act, .. } => act_any(get(&values, *input)?, *act),
        };
        let t = node.output();
        values[t] = Some(hook(Site::Tensor(t), out));
    }
    Ok(get(&values, net.logits)?.flat())
}

/// A constant of one value or one per channel, shaped to broadcast against `like`.
fn broadcast(v: Tensor<1>, like: &Act) -> Act {
    let n = v.dims()[0];
    match like {
        Act::Image(_) => Act::Image(v.reshape([1, n, 1, 1])),
        Act::Flat(_) => Act::Flat(v.reshape([1, n])),
    }
}

fn apply<const D: usize>(op: BinaryOp, x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
    }
}

/// `x op y` with burn's broadcasting (y may be a broadcast constant).
fn binary(op: BinaryOp, x: Act, y: Act) -> Result<Act> {
    Ok(match (x, y) {
        (Act::Image(x), Act::Image(y)) => Act::Image(apply(op, x, y)),
        (Act::Flat(x), Act::Flat(y)) => Act::Flat(apply(op, x, y)),
        (x, y) => {
            let (x, y) = (x.flat(), y.flat());
            if x.dims() != y.dims() {
                return Err(TrainError::InvalidModel(format!(
                    "binary op on shapes {:?} and {:?}",
                    x.dims(),
                    y.dims()
                )));
            }
            Act::Flat(apply(op, x, y))
        }
    })
}

/// Concatenation along per-sample axis `axis` (TFLite order; images are stored NCHW).
fn concat(parts: Vec<Act>, axis: usize) -> Result<Act> {
    if parts.iter().all(|p| matches!(p, Act::Image(_))) {
        let dim = match axis {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let ts = parts
            .into_iter()
            .filter_map(|p| match p {
                Act::Image(t) => Some(t),
                Act::Flat(_) => None,
            })
            .collect();
        return Ok(Act::Image(Tensor::cat(ts, dim)));
    }
    if axis != 0 {
        return Err(TrainError::InvalidModel(format!(
            "CONCATENATION of matrices along per-sample axis {axis}"
        )));
    }
    Ok(Act::Flat(Tensor::cat(
        parts.into_iter().map(Act::flat).collect(),
        1,
    )))
}

/// Mean sparse categorical cross-entropy of `softmax(beta * logits)` against `labels`
/// (`beta` 1 when the model ends in logits).
pub fn cross_entropy(logits: Tensor<2>, beta: f32, labels: &[usize]) -> Tensor<1> {
    let [n, c] = logits.dims();
    let device = logits.device();
    let mut onehot = vec![0.0f32; n * c];
    for (i, &y) in labels.iter().enumerate() {
        if y < c {
            onehot[i * c + y] = 1.0;
        }
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [n, c]), &device);
    let z = if beta == 1.0 {
        logits
    } else {
        logits.mul_scalar(beta)
    };
    log_softmax(z, 1)
        .mul(onehot)
        .sum()
        .neg()
        .div_scalar(n.max(1) as f32)
}

/// Copies a tensor to host memory.
pub fn to_vec<const D: usize>(t: &Tensor<D>) -> Result<Vec<f32>> {
    t.try_to_vec_as::<f32>()
        .map_err(|e| TrainError::Backend(format!("{e:?}")))
}
