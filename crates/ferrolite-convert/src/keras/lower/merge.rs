//! BatchNormalization (MUL + ADD with per-channel constants; the folding pass merges them into
//! a preceding conv or dense op) and the merge layers: Add, Subtract, Multiply, Maximum, Minimum
//! (chains of broadcasting binary ops) and Concatenate (CONCATENATION).

use super::activation::mul_options;
use super::call::Call;
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

/// Numpy-style broadcast of two shape signatures (`-1` = dynamic batch).
pub fn broadcast(a: &[i32], b: &[i32]) -> Option<Vec<i32>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Add / Subtract / Multiply / Maximum / Minimum: a chain of binary ops over the inputs.
pub fn elementwise(lw: &mut Lowering<'_>, call: &Call<'_>, op: B) -> Result<Vec<usize>> {
    let n = call.inputs.len();
    if n < 2 || (op == B::Sub && n != 2) {
        let want = if op == B::Sub {
            "exactly 2"
        } else {
            "at least 2"
        };
        return Err(call.bad_shape(format!("expects {want} inputs, got {n}")));
    }
    let name = call.name();
    let mut acc = call.inputs[0];
    for (k, &rhs) in call.inputs.iter().enumerate().skip(1) {
        let (sa, sb) = (lw.b.sig(acc), lw.b.sig(rhs));
        let sig = broadcast(&sa, &sb).ok_or_else(|| {
            call.bad_shape(format!("input shapes {sa:?} and {sb:?} do not broadcast"))
        })?;
        let out_name = if k == n - 1 {
            name.clone()
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
    Ok(vec![acc])
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

#[cfg(test)]
mod tests {
    use super::broadcast;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[-1, 4, 4, 3], &[3]), Some(vec![-1, 4, 4, 3]));
        assert_eq!(
            broadcast(&[-1, 1, 1, 3], &[-1, 4, 4, 1]),
            Some(vec![-1, 4, 4, 3])
        );
        assert_eq!(broadcast(&[-1, 2], &[-1, 3]), None);
    }
}
