//! Core layers: Dense, Flatten, Reshape, Rescaling, and the layers that are the identity at
//! inference (Dropout and friends).

use super::activation::{activation_name, emit_activation, mul_options};
use super::call::Call;
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};
use serde_json::Value;

/// Keras classes lowered to nothing (an identity the passes remove).
pub const IDENTITY_CLASSES: &[&str] = &[
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
];

/// A layer that does nothing at inference.
pub fn identity_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let y = lw.b.activation(call.name(), &lw.b.sig(x));
    lw.b.identity(x, y, &call.layer.class_name);
    Ok(vec![y])
}

fn dims(call: &Call<'_>, sig: &[i32]) -> Result<Vec<usize>> {
    sig.iter()
        .skip(1)
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| call.bad_shape(format!("input shape {sig:?} has dynamic non-batch dims")))
}

/// `Dense`: FULLY_CONNECTED with weights `[units, in]` (Keras stores `[in, units]`), then the
/// activation.
pub fn dense(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let units = call.positive("units", None)?;
    let use_bias = call.bool("use_bias", true)?;
    let act = activation_name(call, "activation")?;
    if sig.len() < 2 {
        return Err(call.bad_shape(format!("input must have rank >= 2, has shape {sig:?}")));
    }
    let cin = *dims(call, &sig)?.last().unwrap_or(&0);
    let mut roles = vec![Role::one("kernel")];
    if use_bias {
        roles.push(Role::one("bias"));
    }
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    expect_shape(&call.layer.name, "kernel", ws[0], &[cin, units])?;
    let mut wt = vec![0f32; cin * units];
    for i in 0..cin {
        for o in 0..units {
            wt[o * cin + i] = ws[0].data[i * units + o];
        }
    }
    let w = lw.weight_const(call, "kernel", &[units as i32, cin as i32], &wt);
    let b = if use_bias {
        expect_shape(&call.layer.name, "bias", ws[1], &[units])?;
        let bias = ws[1].data.clone();
        Some(lw.weight_const(call, "bias", &[units as i32], &bias))
    } else {
        None
    };
    let mut out_sig = sig.clone();
    *out_sig.last_mut().unwrap_or(&mut 0) = units as i32;
    let name = call.name();
    let pre = if act == "linear" {
        name.clone()
    } else {
        format!("{name}/MatMul")
    };
    let y = lw.b.activation(pre, &out_sig);
    let options = tflite::FullyConnectedOptions {
        keep_num_dims: sig.len() > 2,
        ..Default::default()
    };
    lw.b.op(
        B::FullyConnected,
        vec![Some(x), Some(w), b],
        vec![y],
        Some(BuiltinOptions::FullyConnectedOptions(Box::new(options))),
    );
    Ok(vec![emit_activation(lw, call, y, &act, &name)?])
}

/// Emits `RESHAPE(x, [batch, ...dims])` with a constant int32 shape.
fn reshape_to(lw: &mut Lowering<'_>, call: &Call<'_>, x: usize, dims: &[usize]) -> usize {
    let batch = lw.b.sig(x).first().copied().unwrap_or(-1);
    let mut sig = vec![batch];
    sig.extend(dims.iter().map(|&d| d as i32));
    let shape_vals: Vec<i32> = std::iter::once(if batch < 0 { -1 } else { batch })
        .chain(dims.iter().map(|&d| d as i32))
        .collect();
    let s = lw.b.const_i32(
        format!("{}/shape", call.name()),
        &[shape_vals.len() as i32],
        &shape_vals,
    );
    let y = lw.b.activation(call.name(), &sig);
    lw.b.op(B::Reshape, vec![Some(x), Some(s)], vec![y], None);
    y
}

/// `Flatten`: RESHAPE to `[-1, N]` (the identity on rank-2 inputs).
pub fn flatten(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let d = dims(call, &lw.b.sig(x))?;
    if d.len() <= 1 {
        return identity_layer(lw, call);
    }
    let n = d.iter().product();
    Ok(vec![reshape_to(lw, call, x, &[n])])
}

/// `Reshape`: RESHAPE to `[-1, *target_shape]` (one `-1` in the target is resolved statically).
pub fn reshape(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let total: usize = dims(call, &lw.b.sig(x))?.iter().product();
    let target = call
        .get("target_shape")
        .and_then(Value::as_array)
        .ok_or_else(|| call.bad("target_shape", "expected a list of integers"))?;
    let target: Vec<i64> = target
        .iter()
        .map(Value::as_i64)
        .collect::<Option<_>>()
        .ok_or_else(|| call.bad("target_shape", "expected a list of integers"))?;
    let known: i64 = target.iter().filter(|&&d| d != -1).product();
    let holes = target.iter().filter(|&&d| d == -1).count();
    let fits = target.iter().all(|&d| d == -1 || d > 0)
        && holes <= 1
        && known > 0
        && if holes == 1 {
            total as i64 % known == 0
        } else {
            known == total as i64
        };
    if !fits {
        return Err(call.bad_shape(format!(
            "cannot reshape {total} elements per sample to {target:?}"
        )));
    }
    let resolved: Vec<usize> = target
        .iter()
        .map(|&d| {
            if d == -1 {
                total / known as usize
            } else {
                d as usize
            }
        })
        .collect();
    Ok(vec![reshape_to(lw, call, x, &resolved)])
}

fn scalar_or_list(call: &Call<'_>, key: &str, default: f32) -> Result<Vec<f32>> {
    match call.get(key) {
        None => Ok(vec![default]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| call.bad(key, "expected a number or a list of numbers")),
        Some(v) => v
            .as_f64()
            .map(|f| vec![f as f32])
            .ok_or_else(|| call.bad(key, "expected a number or a list of numbers")),
    }
}

/// `Rescaling`: `x * scale + offset` as MUL and ADD with constants (skipped when 1 / 0).
pub fn rescaling(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let scale = scalar_or_list(call, "scale", 1.0)?;
    let offset = scalar_or_list(call, "offset", 0.0)?;
    let channels = sig.last().copied().unwrap_or(1);
    for (k, v) in [("scale", &scale), ("offset", &offset)] {
        if v.len() != 1 && v.len() as i32 != channels {
            return Err(call.unsupported(k, format!("{v:?}"), "a scalar or one value per channel"));
        }
    }
    let do_mul = scale.iter().any(|&s| s != 1.0);
    let do_add = offset.iter().any(|&o| o != 0.0);
    if !do_mul && !do_add {
        return identity_layer(lw, call);
    }
    let name = call.name();
    let shape_of = |v: &Vec<f32>| {
        if v.len() == 1 {
            vec![]
        } else {
            vec![v.len() as i32]
        }
    };
    let mut y = x;
    if do_mul {
        let c =
            lw.b.const_f32(format!("{name}/scale"), &shape_of(&scale), &scale);
        let out = lw.b.activation(
            if do_add {
                format!("{name}/mul")
            } else {
                name.clone()
            },
            &sig,
        );
        lw.b.op(
            B::Mul,
            vec![Some(y), Some(c)],
            vec![out],
            Some(mul_options()),
        );
        y = out;
    }
    if do_add {
        let c =
            lw.b.const_f32(format!("{name}/offset"), &shape_of(&offset), &offset);
        let out = lw.b.activation(name, &sig);
        let options = BuiltinOptions::AddOptions(Box::new(tflite::AddOptions {
            pot_scale_int16: true,
            ..Default::default()
        }));
        lw.b.op(B::Add, vec![Some(y), Some(c)], vec![out], Some(options));
        y = out;
    }
    Ok(vec![y])
}
