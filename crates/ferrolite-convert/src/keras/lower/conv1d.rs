//! `Conv1D` as TF lowers it: EXPAND_DIMS at axis -3 (`[N, L, C]` → `[N, 1, L, C]`), one
//! CONV_2D with a `[O, 1, K, C / groups]` filter (bias and activation applied on the 4-D
//! result, where relu-family activations fuse), then RESHAPE back to `[-1, L', O]`.
//! `padding="causal"` is a PAD of `(K - 1) · dilation` steps in front, then a VALID conv.
//!
//! A dilated Conv1D is one dilated CONV_2D; TF emits SPACE_TO_BATCH_ND + CONV_2D +
//! BATCH_TO_SPACE_ND + ADD (bias) instead, computing the same values.

use super::activation::{activation_name, emit_activation};
use super::call::Call;
use super::conv::{groups, hwio_to_ohwi, window_out};
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, Padding};

/// The static `[L, C]` of a rank-3 `[N, L, C]` input.
pub fn lc(call: &Call<'_>, sig: &[i32]) -> Result<[usize; 2]> {
    match sig {
        [_, l, c] if *l > 0 && *c > 0 => Ok([*l as usize, *c as usize]),
        _ => Err(call.bad_shape(format!(
            "expects a static [batch, steps, channels] input, got shape {sig:?}"
        ))),
    }
}

/// Pads `x` (`[N, L, C]`) with `before` zero steps in front (causal padding).
fn causal_pad(lw: &mut Lowering<'_>, x: usize, before: usize, name: &str) -> usize {
    let sig = lw.b.sig(x);
    let pads = [0, 0, before as i32, 0, 0, 0];
    let p = lw.b.const_i32(format!("{name}/paddings"), &[3, 2], &pads);
    let y =
        lw.b.activation(name, &[sig[0], sig[1] + before as i32, sig[2]]);
    lw.b.op(
        B::Pad,
        vec![Some(x), Some(p)],
        vec![y],
        Some(BuiltinOptions::PadOptions(Box::default())),
    );
    y
}

/// `Conv1D` (any padding, strides, dilation, groups).
pub fn conv1d(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let mut x = call.one_input()?;
    let [mut len, cin] = lc(call, &lw.b.sig(x))?;
    let filters = call.positive("filters", None)?;
    let cin_g = cin / groups(call, cin, filters)?;
    let k = call.single("kernel_size", None)?;
    let stride = call.single("strides", Some(1))?;
    let dilation = call.single("dilation_rate", Some(1))?;
    if dilation != 1 && stride != 1 {
        return Err(call.unsupported(
            "strides",
            format!("{stride} with dilation_rate {dilation}"),
            "strides 1 when dilated (as Keras)",
        ));
    }
    let name = call.name();
    let padding = match call.str("padding", "valid")?.to_ascii_lowercase().as_str() {
        "same" => Padding::Same,
        "valid" => Padding::Valid,
        "causal" => {
            let before = (k - 1) * dilation;
            if before > 0 {
                x = causal_pad(lw, x, before, &format!("{name}/causal_pad"));
                len += before;
            }
            Padding::Valid
        }
        other => return Err(call.unsupported("padding", other, "\"same\", \"valid\", \"causal\"")),
    };
    let out_len = window_out(len, k, stride, dilation, padding).ok_or_else(|| {
        call.bad_shape(format!(
            "kernel {k} (dilation {dilation}) does not fit {len} steps with VALID padding"
        ))
    })?;
    let use_bias = call.bool("use_bias", true)?;
    let act = activation_name(call, "activation")?;
    let mut roles = vec![Role::one("kernel")];
    if use_bias {
        roles.push(Role::one("bias"));
    }
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    expect_shape(&call.layer.name, "kernel", ws[0], &[k, cin_g, filters])?;
    // [K, I, O] is HWIO with H = 1.
    let ohwi = hwio_to_ohwi(&ws[0].data, 1, k, cin_g, filters);
    let dims = [filters as i32, 1, k as i32, cin_g as i32];
    let wt = lw.weight_const(call, "kernel", &dims, &ohwi);
    let bias = if use_bias {
        expect_shape(&call.layer.name, "bias", ws[1], &[filters])?;
        ws[1].data.clone()
    } else {
        vec![0.0; filters]
    };
    let bt = lw.weight_const(call, "bias", &[filters as i32], &bias);
    let x4 = lw.expand_dims(x, -3, &format!("{name}/ExpandDims"));
    let batch = lw.b.sig(x)[0];
    let y4 = lw.b.activation(
        format!("{name}/Conv2D"),
        &[batch, 1, out_len as i32, filters as i32],
    );
    let options = tflite::Conv2DOptions {
        padding,
        stride_w: stride as i32,
        stride_h: 1,
        dilation_w_factor: dilation as i32,
        dilation_h_factor: 1,
        ..Default::default()
    };
    lw.b.op(
        B::Conv2d,
        vec![Some(x4), Some(wt), Some(bt)],
        vec![y4],
        Some(BuiltinOptions::Conv2DOptions(Box::new(options))),
    );
    let a4 = emit_activation(lw, call, y4, &act, &format!("{name}/activation"))?;
    let out = [batch, out_len as i32, filters as i32];
    Ok(vec![lw.reshape_to(a4, &out, &name)])
}
