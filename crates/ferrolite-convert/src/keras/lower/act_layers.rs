//! The activation layers: Activation, ReLU (every max_value / negative_slope / threshold
//! combination), LeakyReLU, PReLU, ELU (any alpha) and Softmax (any single axis), lowered to
//! the op lists TF produces for them.

use super::activation::{activation_name, emit_activation, leaky_options, softmax_options};
use super::call::Call;
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::DType;
use serde_json::Value;

/// The `Activation` layer.
pub fn activation_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let act = activation_name(call, "activation")?;
    let out = call.name();
    let y = emit_activation(lw, call, x, &act, &out)?;
    if y == x {
        // `Activation("linear")`: keep a distinct tensor; the identity pass removes it.
        let y = lw.b.activation(out, &lw.b.sig(x));
        lw.b.identity(x, y, "Activation(linear)");
        return Ok(vec![y]);
    }
    Ok(vec![y])
}

/// The `ReLU` layer, following Keras' `relu(x, negative_slope, max_value, threshold)`:
///
/// * no max and no threshold: RELU, or LEAKY_RELU with a slope;
/// * `negative_part` (with a slope) = RELU(NEG(x)), or `SUB(threshold, x)` + RELU (fused);
/// * `x * (x > threshold)` as GREATER + CAST + MUL when thresholded, else RELU6 when
///   `max_value` is 6, else RELU;
/// * a clip to `max_value` as MINIMUM + RELU;
/// * finally `x - slope * negative_part` as MUL + SUB.
pub fn relu_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let max = call.opt_f32("max_value")?;
    let slope = call.f32("negative_slope", 0.0)?;
    let threshold = call.f32("threshold", 0.0)?;
    let name = call.name();
    let n = |s: &str| format!("{name}/{s}");
    if let Some(m) = max.filter(|m| *m < 0.0) {
        return Err(call.unsupported("max_value", m, "null or a value >= 0"));
    }
    if slope < 0.0 {
        return Err(call.unsupported("negative_slope", slope, "a value >= 0"));
    }
    if slope != 0.0 && max.is_none() && threshold == 0.0 {
        let y = lw.unary(B::LeakyRelu, x, &name, Some(leaky_options(slope)));
        return Ok(vec![y]);
    }
    let last = |what: bool, s: &str| if what { n(s) } else { name.clone() };
    let negative_part = (slope != 0.0).then(|| {
        if threshold != 0.0 {
            let t = lw.scalar(&n("threshold"), threshold);
            let d = lw.binary(B::Sub, t, x, &n("neg_sub"));
            lw.unary(B::Relu, d, &n("negative_part"), None)
        } else {
            let neg = lw.unary(B::Neg, x, &n("neg"), None);
            lw.unary(B::Relu, neg, &n("negative_part"), None)
        }
    });
    let mut clip = max;
    let mut y = if threshold != 0.0 {
        let t = lw.scalar(&n("threshold_c"), threshold);
        let above = lw.compare(B::Greater, x, t, &n("above"));
        let mask = lw.b.tensor(n("mask"), DType::F32, &lw.b.sig(above));
        lw.b.op(B::Cast, vec![Some(above)], vec![mask], None);
        let done = clip.is_none() && slope == 0.0;
        lw.binary(B::Mul, x, mask, &last(!done, "thresholded"))
    } else if max == Some(6.0) {
        clip = None;
        lw.unary(B::Relu6, x, &last(slope != 0.0, "relu6"), None)
    } else {
        let done = clip.is_none() && slope == 0.0;
        lw.unary(B::Relu, x, &last(!done, "relu"), None)
    };
    if let Some(m) = clip {
        let c = lw.scalar(&n("max_value"), m);
        let low = lw.binary(B::Minimum, y, c, &n("clip_max"));
        y = lw.unary(B::Relu, low, &last(slope != 0.0, "clipped"), None);
    }
    if let Some(np) = negative_part {
        let s = lw.scalar(&n("slope"), slope);
        let scaled = lw.binary(B::Mul, np, s, &n("scaled_negative"));
        y = lw.binary(B::Sub, y, scaled, &name);
    }
    Ok(vec![y])
}

/// The `LeakyReLU` layer (`alpha` in tf-keras, `negative_slope` in Keras 3; default 0.3).
pub fn leaky_relu_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let alpha = match call.opt_f32("negative_slope")? {
        Some(a) => a,
        None => call.f32("alpha", 0.3)?,
    };
    Ok(vec![lw.unary(
        B::LeakyRelu,
        x,
        &call.name(),
        Some(leaky_options(alpha)),
    )])
}

/// The `PReLU` layer: PRELU with the learned `alpha` (shaped like the input without its batch
/// dim, 1 along `shared_axes`), which TFLite broadcasts.
pub fn prelu_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let rank = sig.len() as i64;
    let shared: Vec<i64> = match call.get("shared_axes") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(Value::as_i64)
            .collect::<Option<_>>()
            .ok_or_else(|| call.bad("shared_axes", "expected a list of integers"))?,
        Some(v) => vec![v
            .as_i64()
            .ok_or_else(|| call.bad("shared_axes", "expected a list of integers"))?],
    };
    let mut shape = Vec::with_capacity(sig.len().saturating_sub(1));
    for (i, &d) in sig.iter().enumerate().skip(1) {
        if d < 0 {
            return Err(call.bad_shape(format!("input shape {sig:?} has dynamic non-batch dims")));
        }
        let i = i as i64;
        shape.push(if shared.iter().any(|&a| a == i || a + rank == i) {
            1
        } else {
            d as usize
        });
    }
    let ws = lw.weights.take(&call.layer.name, &[Role::one("alpha")])?;
    expect_shape(&call.layer.name, "alpha", ws[0], &shape)?;
    let dims: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
    let alpha = ws[0].data.clone();
    let a = lw.weight_const(call, "alpha", &dims, &alpha);
    let y = lw.b.activation(call.name(), &sig);
    lw.b.op(B::Prelu, vec![Some(x), Some(a)], vec![y], None);
    Ok(vec![y])
}

/// The `ELU` layer: ELU, and for `alpha != 1` TF's `where(x > 0, elu(x), alpha * elu(x))`
/// (ELU, GREATER, MUL, SELECT_V2).
pub fn elu_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let alpha = call.f32("alpha", 1.0)?;
    let name = call.name();
    if alpha == 1.0 {
        return Ok(vec![lw.unary(B::Elu, x, &name, None)]);
    }
    let e = lw.unary(B::Elu, x, &format!("{name}/elu"), None);
    let zero = lw.scalar(&format!("{name}/zero"), 0.0);
    let positive = lw.compare(B::Greater, x, zero, &format!("{name}/positive"));
    let a = lw.scalar(&format!("{name}/alpha"), alpha);
    let scaled = lw.binary(B::Mul, e, a, &format!("{name}/scaled"));
    Ok(vec![lw.select(positive, e, scaled, &name)])
}

/// The `Softmax` layer: SOFTMAX over the last axis; another axis is swapped with the last one
/// around it by two TRANSPOSEs (TF's lowering).
pub fn softmax_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let rank = lw.b.sig(x).len() as i64;
    let axis = match call.get("axis") {
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_i64(),
        Some(Value::Array(a)) => {
            return Err(call.unsupported("axis", Value::Array(a.clone()), "a single axis"))
        }
        Some(v) => v.as_i64(),
        None => Some(-1),
    }
    .ok_or_else(|| call.bad("axis", "expected an integer"))?;
    let ax = if axis < 0 { axis + rank } else { axis };
    if ax <= 0 || ax >= rank {
        return Err(call.unsupported("axis", axis, "a non-batch axis of the input"));
    }
    let name = call.name();
    if ax == rank - 1 {
        return Ok(vec![lw.unary(
            B::Softmax,
            x,
            &name,
            Some(softmax_options()),
        )]);
    }
    let mut perm: Vec<i32> = (0..rank as i32).collect();
    perm.swap(ax as usize, rank as usize - 1);
    let t = lw.transpose(x, &perm, &format!("{name}/transpose_in"));
    let s = lw.unary(
        B::Softmax,
        t,
        &format!("{name}/softmax"),
        Some(softmax_options()),
    );
    Ok(vec![lw.transpose(s, &perm, &name)])
}
