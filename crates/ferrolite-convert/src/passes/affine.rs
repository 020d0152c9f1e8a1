//! Weight arithmetic shared by the folding passes: CONV_2D, DEPTHWISE_CONV_2D and
//! FULLY_CONNECTED seen as "affine ops" with a constant weight tensor and an optional bias.
//!
//! TFLite layouts: CONV_2D weights are `[O, H, W, I]`, DEPTHWISE_CONV_2D `[1, H, W, I*M]`
//! (output channel `o` reads input channel `o / M`), FULLY_CONNECTED `[O, I]`. Folding a
//! per-channel multiply or add into one of them is arithmetic over these layouts.

use crate::graph::{const_f32, f32_bytes, is_op, signature};
use ferrolite_model::tflite::{
    ActivationFunctionType as Act, BuiltinOperator as B, BuiltinOptions,
};
use ferrolite_model::{Operator, Subgraph, Tensor};

/// Which channel of an affine op's weights an element belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// CONV_2D `[O, H, W, I]`.
    Conv {
        /// Output channels.
        o: usize,
        /// Input channels.
        i: usize,
    },
    /// DEPTHWISE_CONV_2D `[1, H, W, O]` with depth multiplier `m`.
    Depthwise {
        /// Output channels.
        o: usize,
        /// Depth multiplier.
        m: usize,
    },
    /// FULLY_CONNECTED `[O, I]`.
    Fc {
        /// Output channels.
        o: usize,
        /// Input features.
        i: usize,
    },
}

impl Layout {
    /// Output channel of flat weight index `idx` (`len` = number of weights).
    pub fn out_channel(self, idx: usize, len: usize) -> usize {
        match self {
            Layout::Conv { o, .. } => idx / (len / o),
            Layout::Depthwise { o, .. } => idx % o,
            Layout::Fc { i, .. } => idx / i,
        }
    }

    /// Input channel of flat weight index `idx`.
    pub fn in_channel(self, idx: usize) -> usize {
        match self {
            Layout::Conv { i, .. } | Layout::Fc { i, .. } => idx % i,
            Layout::Depthwise { o, m } => (idx % o) / m,
        }
    }

    /// Number of output channels.
    pub fn outputs(self) -> usize {
        match self {
            Layout::Conv { o, .. } | Layout::Depthwise { o, .. } | Layout::Fc { o, .. } => o,
        }
    }

    /// Number of input channels.
    pub fn inputs(self) -> usize {
        match self {
            Layout::Conv { i, .. } | Layout::Fc { i, .. } => i,
            Layout::Depthwise { o, m } => o / m,
        }
    }
}

/// An affine op with constant float weights, decoded.
#[derive(Debug, Clone)]
pub struct Affine {
    /// Weight layout.
    pub layout: Layout,
    /// Weights, flat.
    pub w: Vec<f32>,
    /// Bias (zeros when the op has none).
    pub b: Vec<f32>,
    /// True when the op has a bias operand.
    pub has_bias: bool,
}

/// The fused activation of ops that carry one (`None` for ops without the option).
pub fn fused_activation(op: &Operator) -> Option<Act> {
    match &op.options {
        Some(BuiltinOptions::Conv2DOptions(o)) => Some(o.fused_activation_function),
        Some(BuiltinOptions::DepthwiseConv2DOptions(o)) => Some(o.fused_activation_function),
        Some(BuiltinOptions::FullyConnectedOptions(o)) => Some(o.fused_activation_function),
        Some(BuiltinOptions::AddOptions(o)) => Some(o.fused_activation_function),
        Some(BuiltinOptions::SubOptions(o)) => Some(o.fused_activation_function),
        Some(BuiltinOptions::MulOptions(o)) => Some(o.fused_activation_function),
        Some(BuiltinOptions::TransposeConvOptions(o)) => Some(o.fused_activation_function),
        _ => None,
    }
}

/// Sets the fused activation; false when the op has no such option.
pub fn set_fused_activation(op: &mut Operator, act: Act) -> bool {
    match &mut op.options {
        Some(BuiltinOptions::Conv2DOptions(o)) => o.fused_activation_function = act,
        Some(BuiltinOptions::DepthwiseConv2DOptions(o)) => o.fused_activation_function = act,
        Some(BuiltinOptions::FullyConnectedOptions(o)) => o.fused_activation_function = act,
        Some(BuiltinOptions::AddOptions(o)) => o.fused_activation_function = act,
        Some(BuiltinOptions::SubOptions(o)) => o.fused_activation_function = act,
        Some(BuiltinOptions::MulOptions(o)) => o.fused_activation_function = act,
        Some(BuiltinOptions::TransposeConvOptions(o)) => o.fused_activation_function = act,
        _ => return false,
    }
    true
}

/// True when the op applies no fused activation (ops without options count as none).
pub fn no_activation(op: &Operator) -> bool {
    matches!(fused_activation(op), None | Some(Act::None))
}

/// True for CONV_2D / DEPTHWISE_CONV_2D with VALID padding, and for FULLY_CONNECTED (which
/// has no padding), i.e. the ops where an additive input offset can move into the bias.
pub fn padding_is_valid(op: &Operator) -> bool {
    use ferrolite_model::tflite::Padding;
    match &op.options {
        Some(BuiltinOptions::Conv2DOptions(o)) => o.padding == Padding::Valid,
        Some(BuiltinOptions::DepthwiseConv2DOptions(o)) => o.padding == Padding::Valid,
        _ => is_op(op, B::FullyConnected),
    }
}

/// Decodes the op at `idx` as an affine op, or `None` when it is not one (or its weights or
/// bias are not float constants, or the shapes are inconsistent).
pub fn affine_of(sg: &Subgraph, idx: usize) -> Option<Affine> {
    let op = sg.operators.get(idx)?;
    let wt = sg.tensors.get((*op.inputs.get(1)?)?)?;
    let w = const_f32(wt)?;
    let shape: Vec<usize> = wt
        .shape
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let layout = if is_op(op, B::Conv2d) && shape.len() == 4 {
        Layout::Conv {
            o: shape[0],
            i: shape[3],
        }
    } else if is_op(op, B::DepthwiseConv2d) && shape.len() == 4 {
        let m = match &op.options {
            Some(BuiltinOptions::DepthwiseConv2DOptions(o)) => usize::try_from(o.depth_multiplier)
                .ok()
                .filter(|&m| m > 0)?,
            _ => return None,
        };
        if !shape[3].is_multiple_of(m) {
            return None;
        }
        Layout::Depthwise { o: shape[3], m }
    } else if is_op(op, B::FullyConnected) && shape.len() == 2 {
        Layout::Fc {
            o: shape[0],
            i: shape[1],
        }
    } else {
        return None;
    };
    if layout.outputs() == 0 || layout.inputs() == 0 || w.is_empty() {
        return None;
    }
    let (b, has_bias) = match op.inputs.get(2).copied().flatten() {
        Some(t) => (const_f32(sg.tensors.get(t)?)?, true),
        None => (vec![0.0; layout.outputs()], false),
    };
    (b.len() == layout.outputs()).then_some(Affine {
        layout,
        w,
        b,
        has_bias,
    })
}

/// Expands a constant operand to one value per channel when it broadcasts along the last axis
/// only (a scalar, `[C]`, `[1, .., 1, C]`) and does not raise the rank of `x_rank`-D operands.
pub fn channel_vector(c: &Tensor, channels: usize, x_rank: usize) -> Option<Vec<f32>> {
    let v = const_f32(c)?;
    let sig = signature(c);
    if sig.len() > x_rank {
        return None;
    }
    let (last, lead) = match sig.split_last() {
        None => (1, &[][..]),
        Some((l, lead)) => (*l, lead),
    };
    if lead.iter().any(|&d| d != 1) {
        return None;
    }
    match (last, v.len()) {
        (1, 1) => Some(vec![v[0]; channels]),
        (n, len) if n as usize == channels && len == channels => Some(v),
        _ => None,
    }
}

/// Replaces the weights (and bias) of the affine op at `idx` by new constants named after the
/// old ones plus `tag`, creating a bias operand when the op had none.
pub fn replace_weights(sg: &mut Subgraph, idx: usize, a: &Affine, tag: &str) {
    let Some(op) = sg.operators.get(idx) else {
        return;
    };
    let (Some(Some(wi)), bi) = (
        op.inputs.get(1).copied(),
        op.inputs.get(2).copied().flatten(),
    ) else {
        return;
    };
    let mut wt = sg.tensors[wi].clone();
    wt.name = format!("{};{tag}", wt.name);
    wt.data = Some(f32_bytes(&a.w));
    sg.tensors.push(wt);
    let nw = sg.tensors.len() - 1;
    let nb = if bi.is_some() || a.has_bias {
        let mut bt = match bi {
            Some(bi) => sg.tensors[bi].clone(),
            None => {
                let mut t =
                    Tensor::new("bias", ferrolite_model::DType::F32, vec![a.b.len() as i32]);
                t.has_rank = true;
                t
            }
        };
        bt.name = format!("{};{tag}", bt.name);
        bt.data = Some(f32_bytes(&a.b));
        sg.tensors.push(bt);
        Some(sg.tensors.len() - 1)
    } else {
        None
    };
    let op = &mut sg.operators[idx];
    op.inputs[1] = Some(nw);
    if op.inputs.len() < 3 {
        op.inputs.resize(3, None);
    }
    op.inputs[2] = nb;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_map_indices_to_channels() {
        // CONV [O=2, H=1, W=2, I=3]: 12 weights.
        let c = Layout::Conv { o: 2, i: 3 };
        assert_eq!(c.out_channel(5, 12), 0);
        assert_eq!(c.out_channel(6, 12), 1);
        assert_eq!(c.in_channel(7), 1);
        // DEPTHWISE [1, 1, 2, O=4] with M=2: input channel = (idx % 4) / 2.
        let d = Layout::Depthwise { o: 4, m: 2 };
        assert_eq!(d.out_channel(5, 8), 1);
        assert_eq!(d.in_channel(7), 1);
        assert_eq!(d.inputs(), 2);
        let f = Layout::Fc { o: 3, i: 4 };
        assert_eq!(f.out_channel(9, 12), 2);
        assert_eq!(f.in_channel(9), 1);
    }

    #[test]
    fn channel_vectors_broadcast_only_along_the_last_axis() {
        let mut b = crate::graph::GraphBuilder::new();
        let s = b.const_f32("s", &[], &[2.0]);
        let v = b.const_f32("v", &[1, 1, 3], &[1.0, 2.0, 3.0]);
        let bad = b.const_f32("bad", &[3, 1], &[1.0, 2.0, 3.0]);
        assert_eq!(channel_vector(&b.sg.tensors[s], 3, 4), Some(vec![2.0; 3]));
        assert_eq!(
            channel_vector(&b.sg.tensors[v], 3, 4),
            Some(vec![1.0, 2.0, 3.0])
        );
        assert_eq!(channel_vector(&b.sg.tensors[v], 3, 2), None);
        assert_eq!(channel_vector(&b.sg.tensors[bad], 3, 4), None);
    }
}
