//! Convolutions and padding: Conv2D (OHWI weights from Keras' HWIO; `groups` > 1 is one
//! grouped CONV_2D whose filter depth is `C / groups`, as TF emits it), DepthwiseConv2D
//! (`[1, H, W, C*M]` from Keras' `[H, W, C, M]`), ZeroPadding2D (PAD), and the helpers the 1-D,
//! separable and transposed convolutions share.
//!
//! A dilated Conv2D stays one CONV_2D with dilation factors. (TF 2.21 lowers a dilated Conv2D
//! with a dynamic batch to SPACE_TO_BATCH_ND + CONV_2D + BATCH_TO_SPACE_ND + ADD; the single op
//! computes the same thing.)

use super::activation::{activation_name, emit_activation};
use super::call::Call;
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, Padding};
use serde_json::Value;

/// Output size of a windowed op along one axis (TFLite / TF semantics).
pub fn window_out(input: usize, k: usize, s: usize, d: usize, padding: Padding) -> Option<usize> {
    let eff = (k - 1) * d + 1;
    match padding {
        Padding::Same => Some(input.div_ceil(s)),
        _ => (input >= eff).then(|| (input - eff) / s + 1),
    }
}

/// The static `[H, W, C]` of a rank-4 NHWC input.
pub fn hwc(call: &Call<'_>, sig: &[i32]) -> Result<[usize; 3]> {
    let d: Option<Vec<usize>> = sig
        .iter()
        .skip(1)
        .map(|&d| usize::try_from(d).ok())
        .collect();
    match d.as_deref() {
        Some([h, w, c]) if sig.len() == 4 => Ok([*h, *w, *c]),
        _ => Err(call.bad_shape(format!(
            "expects a static NHWC input of rank 4, got shape {sig:?}"
        ))),
    }
}

/// The spatial parameters of a 2-D window op and its output size.
pub struct Window {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides.
    pub strides: [usize; 2],
    /// Dilation factors.
    pub dilation: [usize; 2],
    /// TFLite padding.
    pub padding: Padding,
    /// Output height and width.
    pub out_hw: [usize; 2],
}

/// Reads `kernel_key`, `strides`, `dilation_rate` and `padding` for an `h`×`w` input.
pub fn window(call: &Call<'_>, h: usize, w: usize, kernel_key: &str) -> Result<Window> {
    let kernel = call.pair(kernel_key, None)?;
    let strides = call.pair("strides", Some([1, 1]))?;
    let dilation = call.pair("dilation_rate", Some([1, 1]))?;
    let padding = call.padding()?;
    if dilation != [1, 1] && strides != [1, 1] {
        return Err(call.unsupported(
            "strides",
            format!("{strides:?} with dilation_rate {dilation:?}"),
            "strides 1 when dilated (as Keras)",
        ));
    }
    let oh = window_out(h, kernel[0], strides[0], dilation[0], padding);
    let ow = window_out(w, kernel[1], strides[1], dilation[1], padding);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(call.bad_shape(format!(
            "kernel {kernel:?} (dilation {dilation:?}) does not fit the {h}x{w} input with VALID padding"
        )));
    };
    Ok(Window {
        kernel,
        strides,
        dilation,
        padding,
        out_hw: [oh, ow],
    })
}

/// Keras' HWIO kernel `[kh, kw, i, o]` as TFLite's OHWI `[o, kh, kw, i]`.
pub fn hwio_to_ohwi(src: &[f32], kh: usize, kw: usize, i: usize, o: usize) -> Vec<f32> {
    let mut ohwi = vec![0f32; src.len()];
    for y in 0..kh {
        for xk in 0..kw {
            for c in 0..i {
                for f in 0..o {
                    ohwi[((f * kh + y) * kw + xk) * i + c] = src[((y * kw + xk) * i + c) * o + f];
                }
            }
        }
    }
    ohwi
}

/// The number of `groups` of a convolution, checked against its input and output channels.
pub fn groups(call: &Call<'_>, cin: usize, filters: usize) -> Result<usize> {
    let groups = call.positive("groups", Some(1))?;
    if !cin.is_multiple_of(groups) || !filters.is_multiple_of(groups) {
        return Err(call.bad_shape(format!(
            "groups = {groups} does not divide the {cin} input and {filters} output channels"
        )));
    }
    Ok(groups)
}

/// `Conv2D`, grouped when `groups` > 1.
pub fn conv2d(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, cin] = hwc(call, &sig)?;
    let filters = call.positive("filters", None)?;
    let cin = cin / groups(call, cin, filters)?;
    let win = window(call, h, w, "kernel_size")?;
    let use_bias = call.bool("use_bias", true)?;
    let act = activation_name(call, "activation")?;
    let mut roles = vec![Role::one("kernel")];
    if use_bias {
        roles.push(Role::one("bias"));
    }
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    let [kh, kw] = win.kernel;
    expect_shape(&call.layer.name, "kernel", ws[0], &[kh, kw, cin, filters])?;
    let ohwi = hwio_to_ohwi(&ws[0].data, kh, kw, cin, filters);
    let dims = [filters as i32, kh as i32, kw as i32, cin as i32];
    let wt = lw.weight_const(call, "kernel", &dims, &ohwi);
    let bias = if use_bias {
        expect_shape(&call.layer.name, "bias", ws[1], &[filters])?;
        ws[1].data.clone()
    } else {
        vec![0.0; filters]
    };
    let bt = lw.weight_const(call, "bias", &[filters as i32], &bias);
    let name = call.name();
    let pre = if act == "linear" {
        name.clone()
    } else {
        format!("{name}/Conv2D")
    };
    let out_sig = [
        sig[0],
        win.out_hw[0] as i32,
        win.out_hw[1] as i32,
        filters as i32,
    ];
    let y = lw.b.activation(pre, &out_sig);
    let options = tflite::Conv2DOptions {
        padding: win.padding,
        stride_w: win.strides[1] as i32,
        stride_h: win.strides[0] as i32,
        dilation_w_factor: win.dilation[1] as i32,
        dilation_h_factor: win.dilation[0] as i32,
        ..Default::default()
    };
    lw.b.op(
        B::Conv2d,
        vec![Some(x), Some(wt), Some(bt)],
        vec![y],
        Some(BuiltinOptions::Conv2DOptions(Box::new(options))),
    );
    Ok(vec![emit_activation(lw, call, y, &act, &name)?])
}

/// `DepthwiseConv2D` with `depth_multiplier`.
pub fn depthwise_conv2d(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, cin] = hwc(call, &sig)?;
    let mult = call.positive("depth_multiplier", Some(1))?;
    let groups = call.positive("groups", Some(1))?;
    if groups != 1 {
        return Err(call.unsupported("groups", groups, "1"));
    }
    let win = window(call, h, w, "kernel_size")?;
    let use_bias = call.bool("use_bias", true)?;
    let act = activation_name(call, "activation")?;
    let mut roles = vec![Role {
        name: "depthwise_kernel",
        aliases: &["kernel"],
    }];
    if use_bias {
        roles.push(Role::one("bias"));
    }
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    let [kh, kw] = win.kernel;
    let cout = cin * mult;
    expect_shape(
        &call.layer.name,
        "depthwise_kernel",
        ws[0],
        &[kh, kw, cin, mult],
    )?;
    // [H, W, C, M] flattened row-major is already [1, H, W, C*M] with channel c*M + m.
    let kernel = ws[0].data.clone();
    let wt = lw.weight_const(
        call,
        "kernel",
        &[1, kh as i32, kw as i32, cout as i32],
        &kernel,
    );
    let bias = if use_bias {
        expect_shape(&call.layer.name, "bias", ws[1], &[cout])?;
        ws[1].data.clone()
    } else {
        vec![0.0; cout]
    };
    let bt = lw.weight_const(call, "bias", &[cout as i32], &bias);
    let name = call.name();
    let pre = if act == "linear" {
        name.clone()
    } else {
        format!("{name}/depthwise")
    };
    let out_sig = [
        sig[0],
        win.out_hw[0] as i32,
        win.out_hw[1] as i32,
        cout as i32,
    ];
    let y = lw.b.activation(pre, &out_sig);
    let options = tflite::DepthwiseConv2DOptions {
        padding: win.padding,
        stride_w: win.strides[1] as i32,
        stride_h: win.strides[0] as i32,
        depth_multiplier: mult as i32,
        dilation_w_factor: win.dilation[1] as i32,
        dilation_h_factor: win.dilation[0] as i32,
        ..Default::default()
    };
    lw.b.op(
        B::DepthwiseConv2d,
        vec![Some(x), Some(wt), Some(bt)],
        vec![y],
        Some(BuiltinOptions::DepthwiseConv2DOptions(Box::new(options))),
    );
    Ok(vec![emit_activation(lw, call, y, &act, &name)?])
}

/// A two-sided 2-D amount (ZeroPadding2D's `padding`, Cropping2D's `cropping`): `n`,
/// `[h, w]` or `[[top, bottom], [left, right]]`.
pub fn two_sided(call: &Call<'_>, key: &str) -> Result<[[usize; 2]; 2]> {
    let bad = || call.bad(key, "expected n, [h, w] or [[top, bottom], [left, right]]");
    let num = |v: &Value| v.as_u64().and_then(|u| usize::try_from(u).ok());
    let v = call.get(key).ok_or_else(bad)?;
    if let Some(n) = num(v) {
        return Ok([[n, n], [n, n]]);
    }
    let a = v.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
    let side = |v: &Value| -> Result<[usize; 2]> {
        if let Some(n) = num(v) {
            return Ok([n, n]);
        }
        match v.as_array().map(Vec::as_slice) {
            Some([x, y]) => Ok([num(x).ok_or_else(bad)?, num(y).ok_or_else(bad)?]),
            _ => Err(bad()),
        }
    };
    Ok([side(&a[0])?, side(&a[1])?])
}

/// `ZeroPadding2D`: PAD with an int32 `[4, 2]` paddings constant.
pub fn zero_padding2d(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, c] = hwc(call, &sig)?;
    let [[t, b], [l, r]] = two_sided(call, "padding")?;
    let pads = [0, 0, t as i32, b as i32, l as i32, r as i32, 0, 0];
    let p =
        lw.b.const_i32(format!("{}/paddings", call.name()), &[4, 2], &pads);
    let out_sig = [sig[0], (h + t + b) as i32, (w + l + r) as i32, c as i32];
    let y = lw.b.activation(call.name(), &out_sig);
    lw.b.op(
        B::Pad,
        vec![Some(x), Some(p)],
        vec![y],
        Some(BuiltinOptions::PadOptions(Box::new(tflite::PadOptions {}))),
    );
    Ok(vec![y])
}
