//! Arithmetic and activations: `Gemm`, `MatMul`, elementwise `Add` / `Sub` / `Mul` / `Div` /
//! `Max` / `Min`, unary activations, `LeakyRelu`, `Clip` and `Softmax`.
//!
//! `Gemm` and `MatMul` by a constant become FULLY_CONNECTED with `[N, K]` weights (`alpha` and
//! `beta` folded into weights and bias); products of two activations become BATCH_MATMUL.
//! `Clip` becomes RELU6 / RELU_N1_TO_1 / RELU when its bounds are those, else MAXIMUM and
//! MINIMUM. `Softmax` over a non-last axis is transposed (opset ≥ 13) or flattened (older
//! opsets' 2-D semantics) around TFLite's last-axis SOFTMAX.

use super::{axis, numel, Lowerer, Node, Val};
use crate::onnx::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};

/// NumPy broadcasting of two shapes (`-1` = dynamic).
pub fn broadcast(node: &Node<'_>, a: &[i64], b: &[i64]) -> Result<Vec<i64>> {
    let r = a.len().max(b.len());
    let get = |s: &[i64], i: usize| -> i64 {
        let off = r - s.len();
        if i < off {
            1
        } else {
            s[i - off]
        }
    };
    (0..r)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (-1, y) => Ok(y),
            (x, -1) => Ok(x),
            (x, y) => Err(node.bad(format!(
                "shapes {a:?} and {b:?} do not broadcast ({x} vs {y})"
            ))),
        })
        .collect()
}

fn options(op: B) -> Option<BuiltinOptions> {
    match op {
        B::Add => Some(BuiltinOptions::AddOptions(Box::default())),
        B::Sub => Some(BuiltinOptions::SubOptions(Box::default())),
        B::Mul => Some(BuiltinOptions::MulOptions(Box::default())),
        B::Div => Some(BuiltinOptions::DivOptions(Box::default())),
        _ => None,
    }
}

/// Elementwise binary ops (`Max` / `Min` with more than two inputs are chained).
pub fn binary(lw: &mut Lowerer, node: &Node<'_>, op: B) -> Result<Val> {
    let n = node.def.input.len();
    if n < 2 {
        return match n {
            1 if matches!(op, B::Maximum | B::Minimum) => lw.val(node, 0),
            _ => Err(node.bad("expected two inputs")),
        };
    }
    let (mut acc, mut shape) = lw.act(node, 0)?;
    for i in 1..n {
        let (b, sb) = lw.act(node, i)?;
        let out = broadcast(node, &shape, &sb)?;
        let name = if i + 1 == n {
            node.output(0).to_string()
        } else {
            format!("{}/{i}", node.name())
        };
        acc = lw.emit(op, vec![Some(acc), Some(b)], &name, &out, options(op));
        shape = out;
    }
    Ok(Val::Act { t: acc, shape })
}

/// Single-input activations and math functions.
pub fn unary(lw: &mut Lowerer, node: &Node<'_>, op: B) -> Result<Val> {
    let (x, s) = lw.act(node, 0)?;
    let t = lw.emit(op, vec![Some(x)], node.output(0), &s, None);
    Ok(Val::Act { t, shape: s })
}

/// `LeakyRelu(alpha)` → LEAKY_RELU.
pub fn leaky_relu(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let alpha = node.float("alpha", 0.01)?;
    let (x, s) = lw.act(node, 0)?;
    let o = tflite::LeakyReluOptions { alpha };
    let t = lw.emit(
        B::LeakyRelu,
        vec![Some(x)],
        node.output(0),
        &s,
        Some(BuiltinOptions::LeakyReluOptions(Box::new(o))),
    );
    Ok(Val::Act { t, shape: s })
}

/// `Clip` → RELU6 / RELU_N1_TO_1 / RELU when the bounds match, else MAXIMUM / MINIMUM.
pub fn clip(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let bound = |lw: &Lowerer, i: usize, attr: &str| -> Result<Option<f32>> {
        if lw.opset < 11 {
            return Ok(node.attr(attr).map(|a| a.f));
        }
        match lw.opt_konst(node, i, attr)? {
            None => Ok(None),
            Some(c) if c.len() == 1 => Ok(Some(c.to_f32()[0])),
            Some(c) => Err(node.bad(format!("{attr} must be a scalar, found {:?}", c.dims))),
        }
    };
    let lo = bound(lw, 1, "min")?.filter(|v| *v > f32::MIN);
    let hi = bound(lw, 2, "max")?.filter(|v| *v < f32::MAX);
    let (x, s) = lw.act(node, 0)?;
    let out = node.output(0);
    let relu = match (lo, hi) {
        (Some(l), Some(h)) if l == 0.0 && h == 6.0 => Some(B::Relu6),
        (Some(l), Some(h)) if l == -1.0 && h == 1.0 => Some(B::ReluN1To1),
        (Some(0.0), None) => Some(B::Relu),
        (None, None) => {
            return Ok(Val::Act { t: x, shape: s });
        }
        _ => None,
    };
    if let Some(op) = relu {
        let t = lw.emit(op, vec![Some(x)], out, &s, None);
        return Ok(Val::Act { t, shape: s });
    }
    let name = node.name();
    let mut y = x;
    if let Some(l) = lo {
        let c = lw.const_f32(&format!("{name}/min"), &[], &[l]);
        let dst = if hi.is_some() {
            format!("{name}/max")
        } else {
            out.to_string()
        };
        y = lw.emit(B::Maximum, vec![Some(y), Some(c)], &dst, &s, None);
    }
    if let Some(h) = hi {
        let c = lw.const_f32(&format!("{name}/max_value"), &[], &[h]);
        y = lw.emit(B::Minimum, vec![Some(y), Some(c)], out, &s, None);
    }
    Ok(Val::Act { t: y, shape: s })
}

/// `Softmax(axis)` → SOFTMAX over the last axis.
pub fn softmax(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let (x, s) = lw.act(node, 0)?;
    let r = s.len();
    if r == 0 {
        return Err(node.bad("softmax of a scalar"));
    }
    let default = if lw.opset >= 13 { -1 } else { 1 };
    let ax = axis(node, node.int("axis", default)?, r)?;
    let name = node.name();
    let out = node.output(0);
    let opts = || {
        Some(BuiltinOptions::SoftmaxOptions(Box::new(
            tflite::SoftmaxOptions { beta: 1.0 },
        )))
    };
    if ax + 1 == r {
        let t = lw.emit(B::Softmax, vec![Some(x)], out, &s, opts());
        return Ok(Val::Act { t, shape: s });
    }
    if lw.opset >= 13 {
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(ax, r - 1);
        let (xt, st) = lw.transpose(x, &s, &perm, &format!("{name}/to_last"));
        let y = lw.emit(
            B::Softmax,
            vec![Some(xt)],
            &format!("{name}/last"),
            &st,
            opts(),
        );
        let (t, shape) = lw.transpose(y, &st, &perm, out);
        return Ok(Val::Act { t, shape });
    }
    // Opsets < 13: softmax of the input flattened to [prod(d[..axis]), prod(d[axis..])].
    let inner = numel(&s[ax..]).ok_or_else(|| node.bad("the softmax dims must be static"))?;
    let outer = numel(&s[..ax]).unwrap_or(-1);
    let flat = [outer, inner];
    let ft = lw.const_i32(&format!("{name}/flat_shape"), &[2], &flat);
    let f = lw.emit(
        B::Reshape,
        vec![Some(x), Some(ft)],
        &format!("{name}/flat"),
        &flat,
        None,
    );
    let y = lw.emit(
        B::Softmax,
        vec![Some(f)],
        &format!("{name}/softmax"),
        &flat,
        opts(),
    );
    let back: Vec<i64> = s.clone();
    let bt = lw.const_i32(&format!("{name}/shape"), &[r as i64], &back);
    let t = lw.emit(B::Reshape, vec![Some(y), Some(bt)], out, &s, None);
    Ok(Val::Act { t, shape: s })
}

/// A constant `[N, K]` FULLY_CONNECTED weight from `b` (`[K, N]`, or `[N, K]` when `trans`).
fn fc_weights(
    node: &Node<'_>,
    b: &super::Const,
    trans: bool,
    alpha: f32,
) -> Result<(Vec<f32>, i64, i64)> {
    let (k, n) = match (b.dims.as_slice(), trans) {
        (&[k, n], false) => (k, n),
        (&[n, k], true) => (k, n),
        (d, _) => return Err(node.bad(format!("the weight must be rank 2, found {d:?}"))),
    };
    let v = b.to_f32();
    let (ku, nu) = (k as usize, n as usize);
    let mut w = vec![0f32; v.len()];
    for i in 0..nu {
        for j in 0..ku {
            w[i * ku + j] = alpha * if trans { v[i * ku + j] } else { v[j * nu + i] };
        }
    }
    Ok((w, k, n))
}

/// Fails unless the last dim of `a` (when known) is the weight's inner size `k`.
fn inner_matches(node: &Node<'_>, a: &[i64], k: i64) -> Result<()> {
    match a.last() {
        Some(&d) if d >= 0 && d != k => Err(node.bad(format!(
            "operand shape {a:?} does not match the weight's inner size {k}"
        ))),
        _ => Ok(()),
    }
}

fn fully_connected(
    lw: &mut Lowerer,
    name: &str,
    out: &str,
    x: usize,
    w: (Vec<f32>, i64, i64),
    bias: Option<Vec<f32>>,
    out_shape: &[i64],
) -> usize {
    let (wv, k, n) = w;
    let wt = lw.const_f32(&format!("{name}/weights"), &[n, k], &wv);
    let bt = bias.map(|b| lw.const_f32(&format!("{name}/bias"), &[n], &b));
    let o = tflite::FullyConnectedOptions {
        keep_num_dims: out_shape.len() > 2,
        ..Default::default()
    };
    lw.emit(
        B::FullyConnected,
        vec![Some(x), Some(wt), bt],
        out,
        out_shape,
        Some(BuiltinOptions::FullyConnectedOptions(Box::new(o))),
    )
}

fn batch_matmul(
    lw: &mut Lowerer,
    node: &Node<'_>,
    a: (usize, &[i64]),
    b: (usize, &[i64]),
    adj: (bool, bool),
    out: &str,
) -> Result<(usize, Vec<i64>)> {
    let (sa, sb) = (a.1, b.1);
    if sa.len() < 2 || sb.len() < 2 {
        return Err(node.bad("matrix products of rank-1 operands are not supported"));
    }
    let (ra, rb) = (sa.len(), sb.len());
    let m = if adj.0 { sa[ra - 1] } else { sa[ra - 2] };
    let n = if adj.1 { sb[rb - 2] } else { sb[rb - 1] };
    let mut shape = broadcast(node, &sa[..ra - 2], &sb[..rb - 2])?;
    shape.extend([m, n]);
    let o = tflite::BatchMatMulOptions {
        adj_x: adj.0,
        adj_y: adj.1,
        ..Default::default()
    };
    let t = lw.emit(
        B::BatchMatmul,
        vec![Some(a.0), Some(b.0)],
        out,
        &shape,
        Some(BuiltinOptions::BatchMatMulOptions(Box::new(o))),
    );
    Ok((t, shape))
}

/// `MatMul` → FULLY_CONNECTED (constant right operand) or BATCH_MATMUL.
pub fn matmul(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let (a, sa) = lw.act(node, 0)?;
    let name = node.name();
    let out = node.output(0);
    if let Val::Const(b) = lw.val(node, 1)? {
        if b.dims.len() == 2 && sa.len() >= 2 {
            let w = fc_weights(node, &b, false, 1.0)?;
            inner_matches(node, &sa, w.1)?;
            let mut shape = sa[..sa.len() - 1].to_vec();
            shape.push(w.2);
            let t = fully_connected(lw, &name, out, a, w, None, &shape);
            return Ok(Val::Act { t, shape });
        }
    }
    let (b, sb) = lw.act(node, 1)?;
    let (t, shape) = batch_matmul(lw, node, (a, &sa), (b, &sb), (false, false), out)?;
    Ok(Val::Act { t, shape })
}

/// `Gemm(A, B, C)` = `alpha · A' · B' + beta · C` → FULLY_CONNECTED (constant B) or
/// BATCH_MATMUL, with MUL / ADD for what cannot be folded.
pub fn gemm(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let alpha = node.float("alpha", 1.0)?;
    let beta = node.float("beta", 1.0)?;
    let (ta, tb) = (node.int("transA", 0)? != 0, node.int("transB", 0)? != 0);
    let (mut a, mut sa) = lw.act(node, 0)?;
    if sa.len() != 2 {
        return Err(node.bad(format!("A must be rank 2, found {sa:?}")));
    }
    let name = node.name();
    let out = node.output(0).to_string();
    if ta {
        (a, sa) = lw.transpose(a, &sa, &[1, 0], &format!("{name}/transpose_a"));
    }
    let c = lw.opt_val(node, 2)?;
    let bval = lw.val(node, 1)?;
    if let Val::Const(b) = &bval {
        let w = fc_weights(node, b, tb, alpha)?;
        inner_matches(node, &sa, w.1)?;
        let n = w.2;
        let bias = match &c {
            Some(Val::Const(c)) if c.len() == 1 => Some(vec![beta * c.to_f32()[0]; n as usize]),
            Some(Val::Const(c)) if c.len() == n as usize && c.dims.last() == Some(&n) => {
                Some(c.to_f32().iter().map(|v| beta * v).collect())
            }
            _ => None,
        };
        let folded = bias.is_some() || c.is_none();
        let shape = vec![sa[0], n];
        let dst = if folded {
            out.clone()
        } else {
            format!("{name}/matmul")
        };
        let t = fully_connected(lw, &name, &dst, a, w, bias, &shape);
        if folded {
            return Ok(Val::Act { t, shape });
        }
        return add_c(lw, node, t, shape, beta, &out);
    }
    let (b, sb) = lw.act(node, 1)?;
    let plain = alpha == 1.0 && c.is_none();
    let dst = if plain {
        out.clone()
    } else {
        format!("{name}/matmul")
    };
    let (mut t, shape) = batch_matmul(lw, node, (a, &sa), (b, &sb), (false, tb), &dst)?;
    if alpha != 1.0 {
        let k = lw.const_f32(&format!("{name}/alpha"), &[], &[alpha]);
        let dst = if c.is_none() {
            out.clone()
        } else {
            format!("{name}/scaled")
        };
        t = lw.emit(
            B::Mul,
            vec![Some(t), Some(k)],
            &dst,
            &shape,
            options(B::Mul),
        );
    }
    if c.is_none() {
        return Ok(Val::Act { t, shape });
    }
    add_c(lw, node, t, shape, beta, &out)
}

/// `y + beta · C` for a Gemm whose C could not become a bias.
fn add_c(
    lw: &mut Lowerer,
    node: &Node<'_>,
    y: usize,
    shape: Vec<i64>,
    beta: f32,
    out: &str,
) -> Result<Val> {
    let name = node.name();
    let (c, sc) = lw.act(node, 2)?;
    let c = if beta == 1.0 {
        c
    } else {
        let k = lw.const_f32(&format!("{name}/beta"), &[], &[beta]);
        lw.emit(
            B::Mul,
            vec![Some(c), Some(k)],
            &format!("{name}/beta_c"),
            &sc,
            options(B::Mul),
        )
    };
    let s = broadcast(node, &shape, &sc)?;
    let t = lw.emit(B::Add, vec![Some(y), Some(c)], out, &s, options(B::Add));
    Ok(Val::Act { t, shape: s })
}
