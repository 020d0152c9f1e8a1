//! BatchNormalization (MUL + ADD with per-channel constants; the folding pass merges them into
//! a preceding conv or dense op) and the merge layers: Add, Subtract, Multiply, Maximum, Minimum
//! (chains of broadcasting binary ops), Average (ADDs then MUL by 1/n, as TF), Concatenate
//! (CONCATENATION) and Dot (BATCH_MATMUL, as TF lowers `batch_dot`).

use super::activation::mul_options;
use super::call::Call;
use super::emit::broadcast;
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};
use serde_json::Value;

/// `BatchNormalization` at inference: `x * m + a` with `m = gamma / sqrt(var + eps)` and
/// `a = beta - mean * m`, over the last axis.
pub fn batch_norm(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let rank = sig.len() as i64;
    let axis = match call.get("axis") {
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_i64(),
        Some(v) => v.as_i64(),
        None => Some(-1),
    }
    .ok_or_else(|| {
        call.unsupported(
            "axis",
            call.get("axis").cloned().unwrap_or_default(),
            "one axis",
        )
    })?;
    if axis != -1 && axis != rank - 1 {
        return Err(call.unsupported("axis", axis, "-1 (the channel axis, channels_last)"));
    }
    let c = sig
        .last()
        .and_then(|&d| usize::try_from(d).ok())
        .ok_or_else(|| call.bad_shape(format!("needs a static channel dim, input is {sig:?}")))?;
    let eps = call.f32("epsilon", 1e-3)?;
    let (scale, center) = (call.bool("scale", true)?, call.bool("center", true)?);
    let mut roles = Vec::new();
    if scale {
        roles.push(Role::one("gamma"));
    }
    if center {
        roles.push(Role::one("beta"));
    }
    roles.push(Role::one("moving_mean"));
    roles.push(Role::one("moving_variance"));
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    for (w, r) in ws.iter().zip(&roles) {
        expect_shape(&call.layer.name, r.name, w, &[c])?;
    }
    // Roles are [gamma?, beta?, moving_mean, moving_variance]; take() returns one per role.
    let gamma = scale.then(|| &ws[0].data);
    let beta = center.then(|| &ws[usize::from(scale)].data);
    let (mean, var) = (&ws[ws.len() - 2].data, &ws[ws.len() - 1].data);
    let mut mul = vec![0f32; c];
    let mut add = vec![0f32; c];
    for k in 0..c {
        let g = gamma.as_ref().map_or(1.0, |g| g[k]);
        let b = beta.as_ref().map_or(0.0, |b| b[k]);
        mul[k] = g / (var[k] + eps).sqrt();
        add[k] = b - mean[k] * mul[k];
    }
    let name = call.name();
    let mc = lw.b.const_f32(format!("{name}/mul"), &[c as i32], &mul);
    let ac = lw.b.const_f32(format!("{name}/add"), &[c as i32], &add);
    let m = lw.b.activation(format!("{name}/scaled"), &sig);
    lw.b.op(
        B::Mul,
        vec![Some(x), Some(mc)],
        vec![m],
        Some(mul_options()),
    );
    let y = lw.b.activation(name, &sig);
    lw.b.op(
        B::Add,
        vec![Some(m), Some(ac)],
        vec![y],
        Some(BuiltinOptions::AddOptions(Box::default())),
    );
    Ok(vec![y])
}

/// Add / Subtract / Multiply / Maximum / Minimum: a chain of binary ops over the inputs.
pub fn elementwise(lw: &mut Lowering<'_>, call: &Call<'_>, op: B) -> Result<Vec<usize>> {
    Ok(vec![chain(lw, call, op, &call.name())?])
}

/// `Average`: the inputs summed by a chain of ADDs, then MUL by `1/n` (TF's lowering).
pub fn average(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let name = call.name();
    let sum = chain(lw, call, B::Add, &format!("{name}/sum"))?;
    let n = call.inputs.len() as f32;
    let c = lw.scalar(&format!("{name}/inv_n"), 1.0 / n);
    Ok(vec![lw.binary(B::Mul, sum, c, &name)])
}

/// A left-to-right chain of `op` over the call's inputs; the last result is named `name`.
fn chain(lw: &mut Lowering<'_>, call: &Call<'_>, op: B, name: &str) -> Result<usize> {
    let n = call.inputs.len();
    if n < 2 || (op == B::Sub && n != 2) {
        let want = if op == B::Sub {
            "exactly 2"
        } else {
            "at least 2"
        };
        return Err(call.bad_shape(format!("expects {want} inputs, got {n}")));
    }
    let mut acc = call.inputs[0];
    for (k, &rhs) in call.inputs.iter().enumerate().skip(1) {
        let (sa, sb) = (lw.b.sig(acc), lw.b.sig(rhs));
        let sig = broadcast(&sa, &sb).ok_or_else(|| {
            call.bad_shape(format!("input shapes {sa:?} and {sb:?} do not broadcast"))
        })?;
        let out_name = if k == n - 1 {
            name.to_string()
        } else {
            format!("{name}/{k}")
        };
        let y = lw.b.activation(out_name, &sig);
        let options = match op {
            B::Add => Some(BuiltinOptions::AddOptions(Box::default())),
            B::Sub => Some(BuiltinOptions::SubOptions(Box::default())),
            B::Mul => Some(mul_options()),
            _ => None,
        };
        lw.b.op(op, vec![Some(acc), Some(rhs)], vec![y], options);
        acc = y;
    }
    Ok(acc)
}

/// `Concatenate` along `axis` (default -1; the batch axis is not supported).
pub fn concatenate(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    if call.inputs.is_empty() {
        return Err(call.bad_shape("expects at least 1 input"));
    }
    let sigs: Vec<Vec<i32>> = call.inputs.iter().map(|&t| lw.b.sig(t)).collect();
    let rank = sigs[0].len();
    let axis = call.int("axis", -1)?;
    let norm = if axis < 0 { axis + rank as i64 } else { axis };
    if norm <= 0 || norm >= rank as i64 {
        return Err(call.unsupported("axis", axis, "a non-batch axis of the inputs"));
    }
    let ax = norm as usize;
    let mut out = sigs[0].clone();
    out[ax] = 0;
    for s in &sigs {
        let same = s.len() == rank
            && s.iter()
                .zip(&sigs[0])
                .enumerate()
                .all(|(i, (a, b))| i == ax || a == b);
        if !same || s[ax] < 0 {
            return Err(call.bad_shape(format!("input shapes {sigs:?} differ outside axis {axis}")));
        }
        out[ax] += s[ax];
    }
    let y = lw.b.activation(call.name(), &out);
    let options = tflite::ConcatenationOptions {
        axis: ax as i32,
        ..Default::default()
    };
    lw.b.op(
        B::Concatenation,
        call.inputs.iter().map(|&t| Some(t)).collect(),
        vec![y],
        Some(BuiltinOptions::ConcatenationOptions(Box::new(options))),
    );
    Ok(vec![y])
}

/// Dot's `axes`: one axis for both inputs or a pair, normalized to non-negative indices.
fn dot_axes(call: &Call<'_>, ranks: [usize; 2]) -> Result<[usize; 2]> {
    let bad = || call.bad("axes", "expected an integer or a pair of integers");
    let v = call.get("axes").ok_or_else(bad)?;
    let pair = match v {
        Value::Array(a) if a.len() == 2 => [
            a[0].as_i64().ok_or_else(bad)?,
            a[1].as_i64().ok_or_else(bad)?,
        ],
        v => {
            let a = v.as_i64().ok_or_else(bad)?;
            [a, a]
        }
    };
    let mut out = [0; 2];
    for k in 0..2 {
        let r = ranks[k] as i64;
        let a = if pair[k] < 0 { pair[k] + r } else { pair[k] };
        if a <= 0 || a >= r {
            return Err(call.unsupported("axes", v, "non-batch axes of the inputs"));
        }
        out[k] = a as usize;
    }
    Ok(out)
}

/// `Dot`: rank-3 inputs become one BATCH_MATMUL whose adjoint flags move the contracted axes
/// into place; rank-2 inputs become EXPAND_DIMS ×2 + BATCH_MATMUL + RESHAPE `[-1, 1]` (TF's
/// lowering of `batch_dot` on vectors). `normalize` adds an L2_NORMALIZATION per input, over
/// the contracted axis, which must then be the last one.
pub fn dot(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let [a, b] = match call.inputs.as_slice() {
        [a, b] => [*a, *b],
        other => return Err(call.bad_shape(format!("expects 2 inputs, got {}", other.len()))),
    };
    let (sa, sb) = (lw.b.sig(a), lw.b.sig(b));
    if sa.len() != sb.len() || !(2..=3).contains(&sa.len()) {
        return Err(call.unsupported(
            "input ranks",
            format!("{} and {}", sa.len(), sb.len()),
            "two rank-2 or two rank-3 inputs",
        ));
    }
    let [xa, xb] = dot_axes(call, [sa.len(), sb.len()])?;
    if sa[xa] != sb[xb] || sa[xa] < 0 {
        return Err(call.bad_shape(format!(
            "cannot contract axis {xa} of {sa:?} with axis {xb} of {sb:?}"
        )));
    }
    let name = call.name();
    let (mut a, mut b) = (a, b);
    if call.bool("normalize", false)? {
        if xa != sa.len() - 1 || xb != sb.len() - 1 {
            return Err(call.unsupported(
                "normalize",
                "true with a contracted axis that is not the last",
                "normalize over the last axis",
            ));
        }
        let options = || Some(BuiltinOptions::L2NormOptions(Box::default()));
        a = lw.unary(
            B::L2Normalization,
            a,
            &format!("{name}/l2norm_a"),
            options(),
        );
        b = lw.unary(
            B::L2Normalization,
            b,
            &format!("{name}/l2norm_b"),
            options(),
        );
    }
    let rank2 = sa.len() == 2;
    let (adj_x, adj_y) = if rank2 {
        a = lw.expand_dims(a, 1, &format!("{name}/expand_a"));
        b = lw.expand_dims(b, 2, &format!("{name}/expand_b"));
        (false, false)
    } else {
        (xa == 1, xb == 2)
    };
    let (ra, rb) = (lw.b.sig(a), lw.b.sig(b));
    let rows = if adj_x { ra[2] } else { ra[1] };
    let cols = if adj_y { rb[1] } else { rb[2] };
    let batch = sa[0];
    let out_name = if rank2 {
        format!("{name}/MatMul")
    } else {
        name.clone()
    };
    let y = lw.b.activation(out_name, &[batch, rows, cols]);
    let options = tflite::BatchMatMulOptions {
        adj_x,
        adj_y,
        ..Default::default()
    };
    lw.b.op(
        B::BatchMatmul,
        vec![Some(a), Some(b)],
        vec![y],
        Some(BuiltinOptions::BatchMatMulOptions(Box::new(options))),
    );
    if rank2 {
        let shape = [if batch < 0 { -1 } else { batch }, 1];
        return Ok(vec![lw.reshape_to(y, &shape, &name)]);
    }
    Ok(vec![y])
}
