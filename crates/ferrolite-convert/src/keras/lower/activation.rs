//! Activations: the `activation=` option of Dense / Conv layers and the activation layers
//! (Activation, ReLU, LeakyReLU, ELU, Softmax), lowered the way TF lowers them.
//!
//! `swish` / `silu` become LOGISTIC + MUL (TF has no fused swish kernel); `gelu` is the exact
//! (erf) form, GELU with `approximate = false`, which is what both tf-keras and Keras 3 use for
//! the string `"gelu"`. Relu-family ops are emitted standalone and fused later by the passes.

use super::call::Call;
use super::Lowering;
use crate::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};
use serde_json::Value;

/// Activation names accepted in `activation=` and by the Activation layer.
pub const SUPPORTED_ACTIVATIONS: &str =
    "linear, relu, relu6, sigmoid, tanh, softmax, elu, swish, silu, gelu, leaky_relu";

/// The activation named by a config value: a string, or a serialized function object.
pub fn activation_name(call: &Call<'_>, key: &str) -> Result<String> {
    let Some(v) = call.get(key) else {
        return Ok("linear".into());
    };
    let name = match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => v
            .get("config")
            .and_then(Value::as_str)
            .or_else(|| v.get("config")?.get("name")?.as_str())
            .or_else(|| v.get("class_name")?.as_str())
            .map(str::to_string),
        _ => None,
    };
    let name = name.ok_or_else(|| call.bad(key, format!("cannot read activation {v}")))?;
    // `keras.activations.relu` style paths.
    Ok(name
        .rsplit('.')
        .next()
        .unwrap_or(&name)
        .to_ascii_lowercase())
}

/// Emits `activation(x)` into a new tensor named `out`, or returns `x` for `linear`.
pub fn emit_activation(
    lw: &mut Lowering<'_>,
    call: &Call<'_>,
    x: usize,
    act: &str,
    out: &str,
) -> Result<usize> {
    let sig = lw.b.sig(x);
    let unary = |lw: &mut Lowering<'_>, op: B, options: Option<BuiltinOptions>| {
        let y = lw.b.activation(out, &sig);
        lw.b.op(op, vec![Some(x)], vec![y], options);
        y
    };
    Ok(match act {
        "linear" | "identity" => x,
        "relu" => unary(lw, B::Relu, None),
        "relu6" => unary(lw, B::Relu6, None),
        "sigmoid" => unary(lw, B::Logistic, None),
        "tanh" => unary(lw, B::Tanh, None),
        "elu" => unary(lw, B::Elu, None),
        "softmax" => unary(lw, B::Softmax, Some(softmax_options())),
        "gelu" => unary(
            lw,
            B::Gelu,
            Some(BuiltinOptions::GeluOptions(Box::new(tflite::GeluOptions {
                approximate: false,
            }))),
        ),
        "leaky_relu" => unary(lw, B::LeakyRelu, Some(leaky_options(0.2))),
        "swish" | "silu" => {
            let s = lw.b.activation(format!("{out}/sigmoid"), &sig);
            lw.b.op(B::Logistic, vec![Some(x)], vec![s], None);
            let y = lw.b.activation(out, &sig);
            lw.b.op(B::Mul, vec![Some(x), Some(s)], vec![y], Some(mul_options()));
            y
        }
        other => return Err(call.unsupported("activation", other, SUPPORTED_ACTIVATIONS)),
    })
}

/// SOFTMAX options with beta 1.
pub fn softmax_options() -> BuiltinOptions {
    BuiltinOptions::SoftmaxOptions(Box::new(tflite::SoftmaxOptions { beta: 1.0 }))
}

/// LEAKY_RELU options.
pub fn leaky_options(alpha: f32) -> BuiltinOptions {
    BuiltinOptions::LeakyReluOptions(Box::new(tflite::LeakyReluOptions { alpha }))
}

/// MUL options without fused activation.
pub fn mul_options() -> BuiltinOptions {
    BuiltinOptions::MulOptions(Box::default())
}

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

/// The `ReLU` layer: RELU, RELU6 (max_value 6) or LEAKY_RELU (negative_slope).
pub fn relu_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let max = call.opt_f32("max_value")?;
    let slope = call.f32("negative_slope", 0.0)?;
    let threshold = call.f32("threshold", 0.0)?;
    if threshold != 0.0 {
        return Err(call.unsupported("threshold", threshold, "0"));
    }
    let act = match max {
        None if slope == 0.0 => "relu",
        Some(m) if m == 6.0 && slope == 0.0 => "relu6",
        None if slope > 0.0 => {
            let y = lw.b.activation(call.name(), &lw.b.sig(x));
            lw.b.op(
                B::LeakyRelu,
                vec![Some(x)],
                vec![y],
                Some(leaky_options(slope)),
            );
            return Ok(vec![y]);
        }
        Some(m) => {
            return Err(call.unsupported("max_value", m, "null, or 6 with negative_slope 0"))
        }
        None => return Err(call.unsupported("negative_slope", slope, "a value >= 0")),
    };
    Ok(vec![emit_activation(lw, call, x, act, &call.name())?])
}

/// The `LeakyReLU` layer (`alpha` in tf-keras, `negative_slope` in Keras 3; default 0.3).
pub fn leaky_relu_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let alpha = match call.opt_f32("negative_slope")? {
        Some(a) => a,
        None => call.f32("alpha", 0.3)?,
    };
    let y = lw.b.activation(call.name(), &lw.b.sig(x));
    lw.b.op(
        B::LeakyRelu,
        vec![Some(x)],
        vec![y],
        Some(leaky_options(alpha)),
    );
    Ok(vec![y])
}

/// The `ELU` layer (alpha 1 only: TFLite's ELU has no alpha).
pub fn elu_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let alpha = call.f32("alpha", 1.0)?;
    if alpha != 1.0 {
        return Err(call.unsupported("alpha", alpha, "1.0"));
    }
    Ok(vec![emit_activation(lw, call, x, "elu", &call.name())?])
}

/// The `Softmax` layer over the last axis.
pub fn softmax_layer(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let rank = lw.b.sig(x).len() as i64;
    let axis = match call.get("axis") {
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_i64(),
        Some(v) => v.as_i64(),
        None => Some(-1),
    }
    .ok_or_else(|| call.bad("axis", "expected an integer"))?;
    if axis != -1 && axis != rank - 1 {
        return Err(call.unsupported("axis", axis, "-1 (the last axis)"));
    }
    Ok(vec![emit_activation(lw, call, x, "softmax", &call.name())?])
}
