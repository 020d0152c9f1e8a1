//! LayerNormalization and Normalization.
//!
//! * `LayerNormalization` follows the two formulas TF converts: tf-keras'
//!   `tf.nn.batch_normalization` over `tf.nn.moments` (MEAN, SQUARED_DIFFERENCE, MEAN, ADD,
//!   RSQRT, MUL by gamma, then `x·inv + (beta − mean·inv)`: MUL, MUL, SUB, ADD), and Keras 3's
//!   `x·inv + (−mean·inv + beta)` (NEG, MUL, ADD, MUL, ADD). Both are exact. TF converts the
//!   tf-keras layer with exactly these ops when `epsilon` < 1.001e-5; for larger epsilons
//!   tf-keras takes its fused-batch-norm path, which TF turns into a 23-op reshape / transpose /
//!   FILL graph that computes the same statistics — we keep the 10-op form.
//! * `Normalization`: `(x − mean) / max(sqrt(var), 1e-7)` as SUB and MUL with precomputed
//!   constants (`invert`: MUL and ADD). The constants are per-feature vectors the folding
//!   passes can merge into an adjacent Dense / conv, which TF does not do for this layer.

use super::call::Call;
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};
use serde_json::Value;

/// The normalized axes of `key` (default `[-1]`), sorted, non-batch, for a rank-`rank` input.
fn axes(call: &Call<'_>, key: &str, rank: usize) -> Result<Vec<usize>> {
    let list = call.ints(key)?.unwrap_or_else(|| vec![-1]);
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let n = if a < 0 { a + rank as i64 } else { a };
        if n <= 0 || n >= rank as i64 {
            return Err(call.unsupported(key, a, "non-batch axes of the input"));
        }
        if !out.contains(&(n as usize)) {
            out.push(n as usize);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The static non-batch dims of a signature.
fn static_dims(call: &Call<'_>, sig: &[i32]) -> Result<Vec<usize>> {
    sig.iter()
        .skip(1)
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| call.bad_shape(format!("input shape {sig:?} has dynamic non-batch dims")))
}

/// Parameter shape over `axes` (the weight shape) and the broadcast shape of a constant of it
/// against the input: dims from the first axis on, 1 where not normalized (`[C]` for the last
/// axis).
fn param_shapes(dims: &[usize], axes: &[usize]) -> (Vec<usize>, Vec<i32>) {
    if axes.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let weight: Vec<usize> = axes.iter().map(|&a| dims[a - 1]).collect();
    let first = axes.first().copied().unwrap_or(dims.len());
    let bcast = (first..=dims.len())
        .map(|a| {
            if axes.contains(&a) {
                dims[a - 1] as i32
            } else {
                1
            }
        })
        .collect();
    (weight, bcast)
}

/// `LayerNormalization` (see the module docs for the op lists).
pub fn layer_norm(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let dims = static_dims(call, &sig)?;
    let axes = axes(call, "axis", sig.len())?;
    if call.bool("rms_scaling", false)? {
        return Err(call.unsupported("rms_scaling", true, "false"));
    }
    let eps = call.f32("epsilon", 1e-3)?;
    let (scale, center) = (call.bool("scale", true)?, call.bool("center", true)?);
    let mut roles = Vec::new();
    if scale {
        roles.push(Role::one("gamma"));
    }
    if center {
        roles.push(Role::one("beta"));
    }
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    let (wshape, bshape) = param_shapes(&dims, &axes);
    for (w, r) in ws.iter().zip(&roles) {
        expect_shape(&call.layer.name, r.name, w, &wshape)?;
    }
    let gamma = scale.then(|| ws[0].data.clone());
    let beta = center.then(|| ws[usize::from(scale)].data.clone());
    let name = call.name();
    let n = |s: &str| format!("{name}/{s}");
    let ax: Vec<i32> = axes.iter().map(|&a| a as i32).collect();
    let axes_t = lw.b.const_i32(n("axes"), &[ax.len() as i32], &ax);
    let mut stat_sig = sig.clone();
    for &a in &axes {
        stat_sig[a] = 1;
    }
    let mean_of = |lw: &mut Lowering<'_>, t: usize, out: &str| {
        let y = lw.b.activation(out, &stat_sig);
        let options = tflite::ReducerOptions { keep_dims: true };
        lw.b.op(
            B::Mean,
            vec![Some(t), Some(axes_t)],
            vec![y],
            Some(BuiltinOptions::ReducerOptions(Box::new(options))),
        );
        y
    };
    let mean = mean_of(lw, x, &n("mean"));
    let neg_mean = (lw.keras3 || !center).then(|| lw.unary(B::Neg, mean, &n("neg_mean"), None));
    let sq = lw.binary(B::SquaredDifference, x, mean, &n("squared_difference"));
    let var = mean_of(lw, sq, &n("variance"));
    let e = lw.scalar(&n("epsilon"), eps);
    let ve = lw.binary(B::Add, var, e, &n("add_eps"));
    let mut inv = lw.unary(B::Rsqrt, ve, &n("rsqrt"), None);
    if let Some(g) = gamma {
        let gt = lw.weight_const(call, "gamma", &bshape, &g);
        inv = lw.binary(B::Mul, inv, gt, &n("inv"));
    }
    let beta_t = beta.map(|b| lw.weight_const(call, "beta", &bshape, &b));
    let offset = match (neg_mean, beta_t) {
        (None, Some(bt)) => {
            let mi = lw.binary(B::Mul, mean, inv, &n("mean_inv"));
            lw.binary(B::Sub, bt, mi, &n("offset"))
        }
        (nm, beta_t) => {
            let nm = match nm {
                Some(nm) => nm,
                None => lw.unary(B::Neg, mean, &n("neg_mean"), None),
            };
            let r = lw.binary(B::Mul, nm, inv, &n("neg_mean_inv"));
            match beta_t {
                Some(bt) => lw.binary(B::Add, r, bt, &n("offset")),
                None => r,
            }
        }
    };
    let xs = lw.binary(B::Mul, x, inv, &n("scaled"));
    Ok(vec![lw.binary(B::Add, xs, offset, &name)])
}

/// A number or list of numbers from the config, or `None` when absent.
fn config_values(call: &Call<'_>, key: &str) -> Result<Option<Vec<f32>>> {
    let bad = || call.bad(key, "expected a number or a list of numbers");
    match call.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            let mut stack: Vec<&Value> = a.iter().rev().collect();
            while let Some(v) = stack.pop() {
                match v {
                    Value::Array(inner) => stack.extend(inner.iter().rev()),
                    v => out.push(v.as_f64().ok_or_else(bad)? as f32),
                }
            }
            Ok(Some(out))
        }
        Some(v) => Ok(Some(vec![v.as_f64().ok_or_else(bad)? as f32])),
    }
}

/// `Normalization` with statistics from the config (`mean`, `variance`) or from its weights
/// (`mean`, `variance`, `count` after `adapt`).
pub fn normalization(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let dims = static_dims(call, &sig)?;
    let axes = match call.get("axis") {
        None if call.layer.config.get("axis").is_some_and(Value::is_null) => Vec::new(),
        _ => axes(call, "axis", sig.len())?,
    };
    let (wshape, bshape) = param_shapes(&dims, &axes);
    let n_params: usize = wshape.iter().product();
    let (mean, var) = match (
        config_values(call, "mean")?,
        config_values(call, "variance")?,
    ) {
        (Some(m), Some(v)) => (m, v),
        (None, None) => {
            let mut roles = vec![Role::one("mean"), Role::one("variance")];
            if lw.weights.layer(&call.layer.name).len() == 3 {
                roles.push(Role::one("count"));
            }
            let ws = lw.weights.take(&call.layer.name, &roles)?;
            (ws[0].data.clone(), ws[1].data.clone())
        }
        _ => return Err(call.bad("variance", "`mean` and `variance` must be given together")),
    };
    let fit = |v: Vec<f32>, key: &str| -> Result<Vec<f32>> {
        match v.len() {
            1 => Ok(vec![v[0]; n_params]),
            l if l == n_params => Ok(v),
            l => Err(call.bad(
                key,
                format!("{l} values for {n_params} normalized features"),
            )),
        }
    };
    let (mean, var) = (fit(mean, "mean")?, fit(var, "variance")?);
    let denom: Vec<f32> = var.iter().map(|v| v.sqrt().max(1e-7)).collect();
    let name = call.name();
    let mut shape: Vec<i32> = vec![1; sig.len() - bshape.len()];
    shape.extend(&bshape);
    if axes.is_empty() {
        shape = vec![1; sig.len()];
    }
    if call.bool("invert", false)? {
        let d = lw.b.const_f32(format!("{name}/stddev"), &shape, &denom);
        let m = lw.b.const_f32(format!("{name}/mean"), &shape, &mean);
        let scaled = lw.binary(B::Mul, x, d, &format!("{name}/scaled"));
        return Ok(vec![lw.binary(B::Add, scaled, m, &name)]);
    }
    let inv: Vec<f32> = denom.iter().map(|d| 1.0 / d).collect();
    let m = lw.b.const_f32(format!("{name}/mean"), &shape, &mean);
    let s = lw.b.const_f32(format!("{name}/inv_stddev"), &shape, &inv);
    let centered = lw.binary(B::Sub, x, m, &format!("{name}/centered"));
    Ok(vec![lw.binary(B::Mul, centered, s, &name)])
}

#[cfg(test)]
mod tests {
    use super::param_shapes;

    #[test]
    fn parameter_shapes_broadcast_from_the_first_axis() {
        assert_eq!(param_shapes(&[5, 6], &[2]), (vec![6], vec![6]));
        assert_eq!(param_shapes(&[5, 6], &[1]), (vec![5], vec![5, 1]));
        assert_eq!(param_shapes(&[5, 6], &[1, 2]), (vec![5, 6], vec![5, 6]));
        assert_eq!(param_shapes(&[4, 4, 3], &[]), (vec![], vec![]));
    }
}
