//! Neural-network ops: Conv2D, DepthwiseConv2dNative, MatMul, BiasAdd, FusedBatchNorm,
//! MaxPool/AvgPool, activations, Softmax and elementwise arithmetic.
//!
//! Weights are re-laid out for TFLite (conv filters `HWIO` → `OHWI`, depthwise `HWIM` →
//! `1HW(I·M)`, matmul `[K, N]` → `[N, K]`). BiasAdd and inference-mode FusedBatchNorm become
//! ADD / MUL + ADD with constant operands; the converter's passes then fold them into the conv
//! or FULLY_CONNECTED before them and fuse a following RELU / RELU6, as TF's converter does.

use super::{Lowerer, Node};
use crate::graphdef::error::Result;
use crate::graphdef::graph::Attrs;
use crate::graphdef::shape::{broadcast, window_out};
use crate::graphdef::tensor::ConstTensor;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, Padding};
use ferrolite_model::DType;

/// `[1, h, w, 1]` stride / dilation / ksize attributes as `(h, w)`.
fn hw_list(node: &Node<'_>, attr: &str, default: Option<&[i64]>) -> Result<(i64, i64)> {
    let v = node.attrs().ints(attr, default)?;
    match v.as_slice() {
        [1, h, w, 1] if *h > 0 && *w > 0 => Ok((*h, *w)),
        _ => Err(node.attrs().err(
            attr,
            format!("expected [1, h, w, 1] with h, w > 0 (NHWC), found {v:?}"),
        )),
    }
}

/// Explicit `(top, bottom, left, right)` padding of a conv with `padding = "EXPLICIT"`.
type Explicit = [i64; 4];

fn padding(node: &Node<'_>, allow_explicit: bool) -> Result<(Padding, Option<Explicit>)> {
    let a = node.attrs();
    match a.string("padding", None)?.as_str() {
        "SAME" => Ok((Padding::Same, None)),
        "VALID" => Ok((Padding::Valid, None)),
        "EXPLICIT" if allow_explicit => {
            let p = a.ints("explicit_paddings", None)?;
            match p.as_slice() {
                [0, 0, t, b, l, r, 0, 0] if [t, b, l, r].iter().all(|&&v| v >= 0) => {
                    Ok((Padding::Valid, Some([*t, *b, *l, *r])))
                }
                _ => Err(a.err(
                    "explicit_paddings",
                    format!("expected NHWC [0, 0, t, b, l, r, 0, 0], found {p:?}"),
                )),
            }
        }
        other => Err(a.err(
            "padding",
            format!("`{other}` is not SAME, VALID or EXPLICIT"),
        )),
    }
}

/// The NHWC input of a windowed op: its tensor and shape.
fn nhwc_input(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<(usize, Vec<i64>)> {
    Attrs { node: node.def }.require_nhwc()?;
    let x = node.input(0)?;
    let s = lw.shape(x).filter(|s| s.len() == 4).ok_or_else(|| {
        node.bad(format!(
            "input must be rank 4 (NHWC), found {:?}",
            lw.shape(x)
        ))
    })?;
    if lw.dtype(x) != DType::F32 {
        return Err(node.bad(format!(
            "only float32 inputs are supported, found {:?}",
            lw.dtype(x)
        )));
    }
    Ok((lw.tensor(x), s))
}

/// A constant float32 filter of rank 4.
fn filter<'a>(node: &'a Node<'_>) -> Result<(&'a ConstTensor, Vec<f32>)> {
    let f = node.const_input(1, "the filter")?;
    if f.shape.len() != 4 || f.dtype != DType::F32 {
        return Err(node.bad(format!(
            "the filter must be a rank-4 float32 constant, found {:?} {:?}",
            f.dtype, f.shape
        )));
    }
    let v = f.to_f32().unwrap_or_default();
    Ok((f, v))
}

/// Inserts a PAD for explicit conv padding; returns the padded tensor and shape.
fn explicit_pad(
    lw: &mut Lowerer<'_>,
    node: &Node<'_>,
    x: usize,
    s: &[i64],
    p: Explicit,
) -> (usize, Vec<i64>) {
    let name = &node.def.name;
    let pads = lw.const_i32(
        format!("{name}/paddings"),
        vec![4, 2],
        &[0, 0, p[0], p[1], p[2], p[3], 0, 0],
    );
    let grow = |d: i64, a: i64, b: i64| if d < 0 { -1 } else { d + a + b };
    let shape = vec![s[0], grow(s[1], p[0], p[1]), grow(s[2], p[2], p[3]), s[3]];
    let y = lw.emit(
        B::Pad,
        vec![Some(x), Some(pads)],
        &format!("{name}/pad"),
        DType::F32,
        Some(&shape),
        None,
    );
    (y, shape)
}

/// `Conv2D` → CONV_2D with `OHWI` weights and a zero bias.
pub fn conv2d(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s) = nhwc_input(lw, node)?;
    let (f, w) = filter(node)?;
    let [kh, kw, ci, co] = [f.shape[0], f.shape[1], f.shape[2], f.shape[3]];
    if s[3] >= 0 && s[3] as usize != ci {
        return Err(node.bad(format!(
            "input has {} channels, the filter expects {ci} (grouped convolution is not supported)",
            s[3]
        )));
    }
    let (sh, sw) = hw_list(node, "strides", None)?;
    let (dh, dw) = hw_list(node, "dilations", Some(&[1, 1, 1, 1]))?;
    let (pad, explicit) = padding(node, true)?;
    let (x, s) = match explicit {
        Some(p) => explicit_pad(lw, node, x, &s, p),
        None => (x, s),
    };
    // HWIO → OHWI.
    let mut ohwi = vec![0f32; w.len()];
    for (i, v) in w.iter().enumerate() {
        let (o, rest) = (i % co, i / co);
        let (c, hw) = (rest % ci, rest / ci);
        ohwi[o * kh * kw * ci + hw * ci + c] = *v;
    }
    let name = &node.def.name;
    let wt = lw.const_f32(format!("{name}/filter"), vec![co, kh, kw, ci], &ohwi);
    let bt = lw.const_f32(format!("{name}/bias"), vec![co], &vec![0.0; co]);
    let same = pad == Padding::Same;
    let shape = [
        s[0],
        window_out(s[1], kh as i64, sh, dh, same),
        window_out(s[2], kw as i64, sw, dw, same),
        co as i64,
    ];
    let options = tflite::Conv2DOptions {
        padding: pad,
        stride_w: sw as i32,
        stride_h: sh as i32,
        dilation_w_factor: dw as i32,
        dilation_h_factor: dh as i32,
        ..Default::default()
    };
    Ok(lw.emit(
        B::Conv2d,
        vec![Some(x), Some(wt), Some(bt)],
        name,
        DType::F32,
        Some(&shape),
        Some(BuiltinOptions::Conv2DOptions(Box::new(options))),
    ))
}

/// `DepthwiseConv2dNative` → DEPTHWISE_CONV_2D with `[1, H, W, I·M]` weights and a zero bias.
pub fn depthwise(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s) = nhwc_input(lw, node)?;
    let (f, w) = filter(node)?;
    let [kh, kw, ci, m] = [f.shape[0], f.shape[1], f.shape[2], f.shape[3]];
    if s[3] >= 0 && s[3] as usize != ci {
        return Err(node.bad(format!(
            "input has {} channels, the filter expects {ci}",
            s[3]
        )));
    }
    let (sh, sw) = hw_list(node, "strides", None)?;
    let (dh, dw) = hw_list(node, "dilations", Some(&[1, 1, 1, 1]))?;
    let (pad, explicit) = padding(node, true)?;
    let (x, s) = match explicit {
        Some(p) => explicit_pad(lw, node, x, &s, p),
        None => (x, s),
    };
    let name = &node.def.name;
    let co = ci * m;
    // [H, W, I, M] flattened is already [1, H, W, I·M] with channel i·M + m.
    let wt = lw.const_f32(format!("{name}/filter"), vec![1, kh, kw, co], &w);
    let bt = lw.const_f32(format!("{name}/bias"), vec![co], &vec![0.0; co]);
    let same = pad == Padding::Same;
    let shape = [
        s[0],
        window_out(s[1], kh as i64, sh, dh, same),
        window_out(s[2], kw as i64, sw, dw, same),
        co as i64,
    ];
    let options = tflite::DepthwiseConv2DOptions {
        padding: pad,
        stride_w: sw as i32,
        stride_h: sh as i32,
        depth_multiplier: m as i32,
        dilation_w_factor: dw as i32,
        dilation_h_factor: dh as i32,
        ..Default::default()
    };
    Ok(lw.emit(
        B::DepthwiseConv2d,
        vec![Some(x), Some(wt), Some(bt)],
        name,
        DType::F32,
        Some(&shape),
        Some(BuiltinOptions::DepthwiseConv2DOptions(Box::new(options))),
    ))
}

/// `MatMul` → FULLY_CONNECTED when `b` is a constant (weights `[N, K]`), else BATCH_MATMUL.
pub fn matmul(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let a_attrs = node.attrs();
    let (ta, tb) = (
        a_attrs.bool("transpose_a", false)?,
        a_attrs.bool("transpose_b", false)?,
    );
    let (a, b) = (node.input(0)?.clone(), node.input(1)?.clone());
    let sa = lw.shape(&a).filter(|s| s.len() == 2);
    let sb = lw.shape(&b).filter(|s| s.len() == 2);
    let (Some(sa), Some(sb)) = (sa, sb) else {
        return Err(node.bad("MatMul operands must be rank 2"));
    };
    if lw.dtype(&a) != DType::F32 || lw.dtype(&b) != DType::F32 {
        return Err(node.bad("only float32 MatMul is supported"));
    }
    let (m, ka) = if ta { (sa[1], sa[0]) } else { (sa[0], sa[1]) };
    let (kb, n) = if tb { (sb[1], sb[0]) } else { (sb[0], sb[1]) };
    if ka >= 0 && kb >= 0 && ka != kb {
        return Err(node.bad(format!("inner dimensions differ: {ka} and {kb}")));
    }
    let name = node.def.name.clone();
    let shape = [m, n];
    let Some(bc) = b.as_const() else {
        let (at, bt) = (lw.tensor(&a), lw.tensor(&b));
        let options = tflite::BatchMatMulOptions {
            adj_x: ta,
            adj_y: tb,
            ..Default::default()
        };
        return Ok(lw.emit(
            B::BatchMatmul,
            vec![Some(at), Some(bt)],
            &name,
            DType::F32,
            Some(&shape),
            Some(BuiltinOptions::BatchMatMulOptions(Box::new(options))),
        ));
    };
    let bv = bc.to_f32().unwrap_or_default();
    let (k, nn) = (kb as usize, n as usize);
    let weights: Vec<f32> = if tb {
        bv
    } else {
        (0..nn * k).map(|i| bv[(i % k) * nn + i / k]).collect()
    };
    let mut at = lw.tensor(&a);
    if ta {
        let perm = lw.const_i32(format!("{name}/perm"), vec![2], &[1, 0]);
        at = lw.emit(
            B::Transpose,
            vec![Some(at), Some(perm)],
            &format!("{name}/transpose_a"),
            DType::F32,
            Some(&[sa[1], sa[0]]),
            None,
        );
    }
    let wt = lw.const_f32(format!("{name}/weights"), vec![nn, k], &weights);
    Ok(lw.emit(
        B::FullyConnected,
        vec![Some(at), Some(wt), None],
        &name,
        DType::F32,
        Some(&shape),
        Some(BuiltinOptions::FullyConnectedOptions(Box::default())),
    ))
}

/// `BiasAdd` → ADD of the bias vector along the channel axis.
pub fn bias_add(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    node.attrs().require_nhwc()?;
    binary(lw, node, B::Add)
}

/// Inference-mode `FusedBatchNorm*` → `x * s + o` with `s = γ / √(σ² + ε)`, `o = β − μ·s`.
pub fn batch_norm(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let a = node.attrs();
    a.require_nhwc()?;
    if a.bool("is_training", true)? {
        return Err(a.err(
            "is_training",
            "training-mode batch norm (batch statistics) cannot be converted; freeze the graph \
             for inference",
        ));
    }
    let eps = a.float("epsilon", Some(1e-4))?;
    let x = node.input(0)?.clone();
    let get = |i: usize, what: &str| -> Result<Vec<f32>> {
        let c = node.const_input(i, what)?;
        c.to_f32()
            .filter(|_| c.shape.len() == 1)
            .ok_or_else(|| node.bad(format!("{what} must be a float vector")))
    };
    let (g, beta, mean, var) = (
        get(1, "scale")?,
        get(2, "offset")?,
        get(3, "mean")?,
        get(4, "variance")?,
    );
    let c = g.len();
    if [beta.len(), mean.len(), var.len()] != [c, c, c] {
        return Err(node.bad("scale, offset, mean and variance differ in length"));
    }
    let shape = lw.shape(&x).unwrap_or_default();
    if shape.last().is_some_and(|&d| d >= 0 && d as usize != c) {
        return Err(node.bad(format!(
            "input has {:?} channels, the statistics {c}",
            shape.last()
        )));
    }
    let scale: Vec<f32> = (0..c).map(|i| g[i] / (var[i] + eps).sqrt()).collect();
    let offset: Vec<f32> = (0..c).map(|i| beta[i] - mean[i] * scale[i]).collect();
    let name = node.def.name.clone();
    let xt = lw.tensor(&x);
    let st = lw.const_f32(format!("{name}/scale"), vec![c], &scale);
    let ot = lw.const_f32(format!("{name}/offset"), vec![c], &offset);
    let mul_opts = BuiltinOptions::MulOptions(Box::default());
    let y = lw.emit(
        B::Mul,
        vec![Some(xt), Some(st)],
        &format!("{name}/mul"),
        DType::F32,
        Some(&shape),
        Some(mul_opts),
    );
    Ok(lw.emit(
        B::Add,
        vec![Some(y), Some(ot)],
        &name,
        DType::F32,
        Some(&shape),
        Some(BuiltinOptions::AddOptions(Box::default())),
    ))
}

/// `MaxPool` / `AvgPool` → MAX_POOL_2D / AVERAGE_POOL_2D.
pub fn pool(lw: &mut Lowerer<'_>, node: &Node<'_>, op: B) -> Result<usize> {
    let (x, s) = nhwc_input(lw, node)?;
    let (kh, kw) = hw_list(node, "ksize", None)?;
    let (sh, sw) = hw_list(node, "strides", None)?;
    let (pad, _) = padding(node, false)?;
    let same = pad == Padding::Same;
    let shape = [
        s[0],
        window_out(s[1], kh, sh, 1, same),
        window_out(s[2], kw, sw, 1, same),
        s[3],
    ];
    let options = tflite::Pool2DOptions {
        padding: pad,
        stride_w: sw as i32,
        stride_h: sh as i32,
        filter_width: kw as i32,
        filter_height: kh as i32,
        ..Default::default()
    };
    Ok(lw.emit(
        op,
        vec![Some(x)],
        &node.def.name,
        DType::F32,
        Some(&shape),
        Some(BuiltinOptions::Pool2DOptions(Box::new(options))),
    ))
}

/// A one-input op keeping shape and type (RELU, RELU6, LOGISTIC, TANH).
pub fn unary(lw: &mut Lowerer<'_>, node: &Node<'_>, op: B) -> Result<usize> {
    let x = node.input(0)?.clone();
    let (shape, dtype) = (lw.shape(&x), lw.dtype(&x));
    let xt = lw.tensor(&x);
    Ok(lw.emit(
        op,
        vec![Some(xt)],
        &node.def.name,
        dtype,
        shape.as_deref(),
        None,
    ))
}

/// `Softmax` over the last axis → SOFTMAX with beta 1.
pub fn softmax(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let x = node.input(0)?.clone();
    let shape = lw.shape(&x);
    let xt = lw.tensor(&x);
    let options = tflite::SoftmaxOptions { beta: 1.0 };
    Ok(lw.emit(
        B::Softmax,
        vec![Some(xt)],
        &node.def.name,
        DType::F32,
        shape.as_deref(),
        Some(BuiltinOptions::SoftmaxOptions(Box::new(options))),
    ))
}

fn binary_options(op: B) -> Option<BuiltinOptions> {
    match op {
        B::Add => Some(BuiltinOptions::AddOptions(Box::default())),
        B::Sub => Some(BuiltinOptions::SubOptions(Box::default())),
        B::Mul => Some(BuiltinOptions::MulOptions(Box::default())),
        B::Div => Some(BuiltinOptions::DivOptions(Box::default())),
        _ => None,
    }
}

/// An elementwise binary op with numpy broadcasting.
pub fn binary(lw: &mut Lowerer<'_>, node: &Node<'_>, op: B) -> Result<usize> {
    let (a, b) = (node.input(0)?.clone(), node.input(1)?.clone());
    emit_binary(lw, node, op, &a, &b)
}

fn emit_binary(
    lw: &mut Lowerer<'_>,
    node: &Node<'_>,
    op: B,
    a: &super::Val,
    b: &super::Val,
) -> Result<usize> {
    let (da, db) = (lw.dtype(a), lw.dtype(b));
    if da != db {
        return Err(node.bad(format!("operand types differ: {da:?} and {db:?}")));
    }
    let shape = match (lw.shape(a), lw.shape(b)) {
        (Some(x), Some(y)) => Some(
            broadcast(&x, &y)
                .ok_or_else(|| node.bad(format!("shapes {x:?} and {y:?} do not broadcast")))?,
        ),
        _ => None,
    };
    let (at, bt) = (lw.tensor(a), lw.tensor(b));
    Ok(lw.emit(
        op,
        vec![Some(at), Some(bt)],
        &node.def.name,
        da,
        shape.as_deref(),
        binary_options(op),
    ))
}

/// `RealDiv` → MUL by the reciprocal when the divisor is a finite non-zero float constant (as
/// TF's converter does), else DIV.
pub fn real_div(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (a, b) = (node.input(0)?.clone(), node.input(1)?.clone());
    let recip = b
        .as_const()
        .filter(|c| c.dtype == DType::F32)
        .and_then(|c| {
            let v = c.to_f32()?;
            v.iter().all(|x| x.is_finite() && *x != 0.0).then(|| {
                ConstTensor::from_f32(
                    c.shape.clone(),
                    &v.iter().map(|x| 1.0 / x).collect::<Vec<_>>(),
                )
            })
        });
    match recip {
        Some(r) => {
            let name = format!("{}:reciprocal", node.def.name);
            let rv = super::Val::Const(std::rc::Rc::new(r), name);
            emit_binary(lw, node, B::Mul, &a, &rv)
        }
        None => emit_binary(lw, node, B::Div, &a, &b),
    }
}
