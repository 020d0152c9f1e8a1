//! The `activation=` option of Dense / Conv layers and of the Activation layer, lowered the way
//! TF lowers each Keras activation function.
//!
//! * relu / relu6 / sigmoid / tanh / elu / softmax / gelu map to one builtin (relu-family ops
//!   are fused into the producer later by the passes). `gelu` is the exact (erf) form, which is
//!   what both tf-keras and Keras 3 mean by the string `"gelu"`; an activation object whose
//!   config says `approximate: true` gets the tanh form.
//! * swish / silu: LOGISTIC + MUL (TF has no fused swish kernel); hard_swish / hard_silu: the
//!   HARD_SWISH builtin TF's pattern matcher produces.
//! * hard_sigmoid differs between versions: tf-keras computes `clip(0.2 x + 0.5, 0, 1)` (MUL,
//!   ADD, MINIMUM, RELU), Keras 3 `relu6(x + 3) / 6` (ADD, RELU6, MUL; the RELU6 fuses into the
//!   ADD). The file's Keras version picks the formula.
//! * selu: GREATER, MUL, EXP, SUB, MUL, SELECT_V2; softplus: EXP, ADD, LOG; softsign: ABS, ADD,
//!   DIV; exponential: EXP; mish: EXP, ADD, LOG, TANH, MUL — TF's op lists for each.

use super::call::Call;
use super::Lowering;
use crate::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};
use serde_json::Value;

/// Activation names accepted in `activation=` and by the Activation layer.
pub const SUPPORTED_ACTIVATIONS: &str = "linear, relu, relu6, sigmoid, hard_sigmoid, tanh, \
     softmax, elu, selu, softplus, softsign, exponential, swish, silu, hard_swish, hard_silu, \
     gelu, mish, leaky_relu";

/// SELU's constants (Klambauer et al.), as TF's kernel uses them.
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;

/// Internal name of the tanh-approximated GELU.
const GELU_APPROX: &str = "gelu(approximate)";

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
    let name = name
        .rsplit('.')
        .next()
        .unwrap_or(&name)
        .to_ascii_lowercase();
    let approximate = v
        .get("config")
        .and_then(|c| c.get("approximate"))
        .or_else(|| v.get("approximate"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(if name == "gelu" && approximate {
        GELU_APPROX.to_string()
    } else {
        name
    })
}

/// Emits `activation(x)` into a new tensor named `out`, or returns `x` for `linear`.
pub fn emit_activation(
    lw: &mut Lowering<'_>,
    call: &Call<'_>,
    x: usize,
    act: &str,
    out: &str,
) -> Result<usize> {
    let n = |s: &str| format!("{out}/{s}");
    Ok(match act {
        "linear" | "identity" => x,
        "relu" => lw.unary(B::Relu, x, out, None),
        "relu6" => lw.unary(B::Relu6, x, out, None),
        "sigmoid" => lw.unary(B::Logistic, x, out, None),
        "tanh" => lw.unary(B::Tanh, x, out, None),
        "elu" => lw.unary(B::Elu, x, out, None),
        "exponential" => lw.unary(B::Exp, x, out, None),
        "softmax" => lw.unary(B::Softmax, x, out, Some(softmax_options())),
        "hard_swish" | "hard_silu" => lw.unary(B::HardSwish, x, out, None),
        "gelu" | GELU_APPROX => {
            let options = tflite::GeluOptions {
                approximate: act == GELU_APPROX,
            };
            let options = BuiltinOptions::GeluOptions(Box::new(options));
            lw.unary(B::Gelu, x, out, Some(options))
        }
        "leaky_relu" => lw.unary(B::LeakyRelu, x, out, Some(leaky_options(0.2))),
        "swish" | "silu" => {
            let s = lw.unary(B::Logistic, x, &n("sigmoid"), None);
            lw.binary(B::Mul, x, s, out)
        }
        "hard_sigmoid" if lw.keras3 => {
            let three = lw.scalar(&n("three"), 3.0);
            let shifted = lw.binary(B::Add, x, three, &n("add"));
            let r = lw.unary(B::Relu6, shifted, &n("relu6"), None);
            let sixth = lw.scalar(&n("one_sixth"), 1.0 / 6.0);
            lw.binary(B::Mul, r, sixth, out)
        }
        "hard_sigmoid" => {
            let slope = lw.scalar(&n("slope"), 0.2);
            let m = lw.binary(B::Mul, x, slope, &n("mul"));
            let half = lw.scalar(&n("half"), 0.5);
            let a = lw.binary(B::Add, m, half, &n("add"));
            let one = lw.scalar(&n("one"), 1.0);
            let c = lw.binary(B::Minimum, a, one, &n("min"));
            lw.unary(B::Relu, c, out, None)
        }
        "selu" => {
            let zero = lw.scalar(&n("zero"), 0.0);
            let positive = lw.compare(B::Greater, x, zero, &n("positive"));
            let scale = lw.scalar(&n("scale"), SELU_SCALE as f32);
            let pos = lw.binary(B::Mul, x, scale, &n("pos"));
            let e = lw.unary(B::Exp, x, &n("exp"), None);
            let one = lw.scalar(&n("one"), 1.0);
            let em1 = lw.binary(B::Sub, e, one, &n("expm1"));
            let sa = lw.scalar(&n("scale_alpha"), (SELU_SCALE * SELU_ALPHA) as f32);
            let neg = lw.binary(B::Mul, em1, sa, &n("neg"));
            lw.select(positive, pos, neg, out)
        }
        "softplus" => softplus(lw, x, out),
        "softsign" => {
            let a = lw.unary(B::Abs, x, &n("abs"), None);
            let one = lw.scalar(&n("one"), 1.0);
            let d = lw.binary(B::Add, a, one, &n("add"));
            lw.binary(B::Div, x, d, out)
        }
        "mish" => {
            let sp = softplus(lw, x, &n("softplus"));
            let t = lw.unary(B::Tanh, sp, &n("tanh"), None);
            lw.binary(B::Mul, x, t, out)
        }
        other => return Err(call.unsupported("activation", other, SUPPORTED_ACTIVATIONS)),
    })
}

/// `log(exp(x) + 1)` as EXP, ADD, LOG (TF's lowering of `softplus`).
fn softplus(lw: &mut Lowering<'_>, x: usize, out: &str) -> usize {
    let e = lw.unary(B::Exp, x, &format!("{out}/exp"), None);
    let one = lw.scalar(&format!("{out}/one"), 1.0);
    let a = lw.binary(B::Add, e, one, &format!("{out}/add"));
    lw.unary(B::Log, a, out, None)
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
