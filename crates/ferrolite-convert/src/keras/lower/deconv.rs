//! SeparableConv2D and Conv2DTranspose, as TF lowers them.
//!
//! * `SeparableConv2D`: DEPTHWISE_CONV_2D (the layer's window, a zero bias) then a 1×1 VALID
//!   CONV_2D carrying the pointwise kernel, the bias and the activation.
//! * `Conv2DTranspose`: TRANSPOSE_CONV with weights `[O, H, W, I]` (Keras stores
//!   `[H, W, O, I]`), the bias as its fourth operand (TF 2.21 folds the bias add into the op,
//!   version 3) and an `output_shape` operand: a constant when the batch is fixed, else
//!   `PACK(STRIDED_SLICE(SHAPE(x), 0), H', W', O)` exactly as TF computes it at run time. The
//!   output size follows Keras' `deconv_output_length`, `output_padding` included. A relu-family
//!   activation fuses into the op when it has a bias (version 4), as in TF.

use super::activation::{activation_name, emit_activation};
use super::call::Call;
use super::conv::{hwc, hwio_to_ohwi, window};
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, Padding};
use ferrolite_model::DType;
use serde_json::Value;

/// `SeparableConv2D`: DEPTHWISE_CONV_2D + 1×1 CONV_2D.
pub fn separable_conv2d(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, cin] = hwc(call, &sig)?;
    let filters = call.positive("filters", None)?;
    let mult = call.positive("depth_multiplier", Some(1))?;
    let win = window(call, h, w, "kernel_size")?;
    let use_bias = call.bool("use_bias", true)?;
    let act = activation_name(call, "activation")?;
    let mut roles = vec![Role::one("depthwise_kernel"), Role::one("pointwise_kernel")];
    if use_bias {
        roles.push(Role::one("bias"));
    }
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    let [kh, kw] = win.kernel;
    let mid = cin * mult;
    let layer = &call.layer.name;
    expect_shape(layer, "depthwise_kernel", ws[0], &[kh, kw, cin, mult])?;
    expect_shape(layer, "pointwise_kernel", ws[1], &[1, 1, mid, filters])?;
    let dw = ws[0].data.clone();
    let dwt = lw.weight_const(
        call,
        "depthwise_kernel",
        &[1, kh as i32, kw as i32, mid as i32],
        &dw,
    );
    let dwb = lw.weight_const(call, "depthwise_bias", &[mid as i32], &vec![0.0; mid]);
    let pw = hwio_to_ohwi(&ws[1].data, 1, 1, mid, filters);
    let pwt = lw.weight_const(
        call,
        "pointwise_kernel",
        &[filters as i32, 1, 1, mid as i32],
        &pw,
    );
    let bias = if use_bias {
        expect_shape(layer, "bias", ws[2], &[filters])?;
        ws[2].data.clone()
    } else {
        vec![0.0; filters]
    };
    let bt = lw.weight_const(call, "bias", &[filters as i32], &bias);
    let name = call.name();
    let [oh, ow] = win.out_hw.map(|d| d as i32);
    let d = lw.b.activation(
        format!("{name}/separable_conv2d/depthwise"),
        &[sig[0], oh, ow, mid as i32],
    );
    let dw_options = tflite::DepthwiseConv2DOptions {
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
        vec![Some(x), Some(dwt), Some(dwb)],
        vec![d],
        Some(BuiltinOptions::DepthwiseConv2DOptions(Box::new(dw_options))),
    );
    let pre = if act == "linear" {
        name.clone()
    } else {
        format!("{name}/separable_conv2d")
    };
    let y = lw.b.activation(pre, &[sig[0], oh, ow, filters as i32]);
    let options = tflite::Conv2DOptions {
        padding: Padding::Valid,
        stride_w: 1,
        stride_h: 1,
        dilation_w_factor: 1,
        dilation_h_factor: 1,
        ..Default::default()
    };
    lw.b.op(
        B::Conv2d,
        vec![Some(d), Some(pwt), Some(bt)],
        vec![y],
        Some(BuiltinOptions::Conv2DOptions(Box::new(options))),
    );
    Ok(vec![emit_activation(lw, call, y, &act, &name)?])
}

/// Keras' `deconv_output_length` for one axis.
fn deconv_len(input: usize, k: usize, s: usize, padding: Padding, out_pad: Option<usize>) -> usize {
    match (out_pad, padding) {
        (None, Padding::Valid) => input * s + k.saturating_sub(s),
        (None, _) => input * s,
        (Some(op), Padding::Valid) => (input - 1) * s + k + op,
        (Some(op), _) => ((input - 1) * s + k + op).saturating_sub(2 * (k / 2)),
    }
}

/// `output_padding`: null, one integer or a pair.
fn output_padding(call: &Call<'_>) -> Result<Option<[usize; 2]>> {
    let bad = || call.bad("output_padding", "expected null, an integer or a pair");
    let num = |v: &Value| v.as_u64().and_then(|u| usize::try_from(u).ok());
    match call.get("output_padding") {
        None => Ok(None),
        Some(v) => match (num(v), v.as_array().map(Vec::as_slice)) {
            (Some(n), _) => Ok(Some([n, n])),
            (None, Some([a, b])) => Ok(Some([num(a).ok_or_else(bad)?, num(b).ok_or_else(bad)?])),
            _ => Err(bad()),
        },
    }
}

/// The int32 `output_shape` operand: a constant for a fixed batch, else TF's
/// SHAPE → STRIDED_SLICE → PACK chain over the input's batch.
fn output_shape_operand(lw: &mut Lowering<'_>, x: usize, out: [i32; 4], name: &str) -> usize {
    if out[0] > 0 {
        return lw.b.const_i32(format!("{name}/output_shape"), &[4], &out);
    }
    let rank = lw.b.sig(x).len() as i32;
    let shape = lw.b.tensor(format!("{name}/Shape"), DType::I32, &[rank]);
    let shape_options = tflite::ShapeOptions {
        out_type: tflite::TensorType::Int32,
    };
    lw.b.op(
        B::Shape,
        vec![Some(x)],
        vec![shape],
        Some(BuiltinOptions::ShapeOptions(Box::new(shape_options))),
    );
    let begin =
        lw.b.const_i32(format!("{name}/strided_slice/begin"), &[1], &[0]);
    let end =
        lw.b.const_i32(format!("{name}/strided_slice/end"), &[1], &[1]);
    let strides =
        lw.b.const_i32(format!("{name}/strided_slice/strides"), &[1], &[1]);
    let batch =
        lw.b.tensor(format!("{name}/strided_slice"), DType::I32, &[]);
    let slice_options = tflite::StridedSliceOptions {
        shrink_axis_mask: 1,
        ..Default::default()
    };
    lw.b.op(
        B::StridedSlice,
        vec![Some(shape), Some(begin), Some(end), Some(strides)],
        vec![batch],
        Some(BuiltinOptions::StridedSliceOptions(Box::new(slice_options))),
    );
    let mut values = vec![Some(batch)];
    for (i, &d) in out.iter().enumerate().skip(1) {
        values.push(Some(lw.b.const_i32(format!("{name}/stack/{i}"), &[], &[d])));
    }
    let packed = lw.b.tensor(format!("{name}/stack"), DType::I32, &[4]);
    let pack_options = tflite::PackOptions {
        values_count: 4,
        axis: 0,
    };
    lw.b.op(
        B::Pack,
        values,
        vec![packed],
        Some(BuiltinOptions::PackOptions(Box::new(pack_options))),
    );
    packed
}

/// `Conv2DTranspose` (no dilation: TRANSPOSE_CONV has none).
pub fn conv2d_transpose(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, cin] = hwc(call, &sig)?;
    let filters = call.positive("filters", None)?;
    let kernel = call.pair("kernel_size", None)?;
    let strides = call.pair("strides", Some([1, 1]))?;
    let dilation = call.pair("dilation_rate", Some([1, 1]))?;
    if dilation != [1, 1] {
        return Err(call.unsupported(
            "dilation_rate",
            format!("{dilation:?}"),
            "[1, 1] (TFLite's TRANSPOSE_CONV has no dilation)",
        ));
    }
    let padding = call.padding()?;
    let out_pad = output_padding(call)?;
    if let Some(p) = out_pad {
        if p[0] >= strides[0] || p[1] >= strides[1] {
            return Err(call.bad(
                "output_padding",
                format!("{p:?} must be smaller than the strides {strides:?}"),
            ));
        }
    }
    let oh = deconv_len(h, kernel[0], strides[0], padding, out_pad.map(|p| p[0]));
    let ow = deconv_len(w, kernel[1], strides[1], padding, out_pad.map(|p| p[1]));
    if oh == 0 || ow == 0 {
        return Err(call.bad_shape(format!("the {h}x{w} input gives an empty output")));
    }
    let use_bias = call.bool("use_bias", true)?;
    let act = activation_name(call, "activation")?;
    let mut roles = vec![Role::one("kernel")];
    if use_bias {
        roles.push(Role::one("bias"));
    }
    let ws = lw.weights.take(&call.layer.name, &roles)?;
    let [kh, kw] = kernel;
    expect_shape(&call.layer.name, "kernel", ws[0], &[kh, kw, filters, cin])?;
    // [H, W, O, I] -> [O, H, W, I].
    let src = &ws[0].data;
    let mut ohwi = vec![0f32; src.len()];
    for y in 0..kh {
        for xk in 0..kw {
            for o in 0..filters {
                for i in 0..cin {
                    ohwi[((o * kh + y) * kw + xk) * cin + i] =
                        src[((y * kw + xk) * filters + o) * cin + i];
                }
            }
        }
    }
    let wt = lw.weight_const(
        call,
        "kernel",
        &[filters as i32, kh as i32, kw as i32, cin as i32],
        &ohwi,
    );
    let bt = if use_bias {
        expect_shape(&call.layer.name, "bias", ws[1], &[filters])?;
        let bias = ws[1].data.clone();
        Some(lw.weight_const(call, "bias", &[filters as i32], &bias))
    } else {
        None
    };
    let name = call.name();
    let out = [sig[0], oh as i32, ow as i32, filters as i32];
    let shape = output_shape_operand(lw, x, out, &name);
    let pre = if act == "linear" {
        name.clone()
    } else {
        format!("{name}/conv2d_transpose")
    };
    let y = lw.b.activation(pre, &out);
    let options = tflite::TransposeConvOptions {
        padding,
        stride_w: strides[1] as i32,
        stride_h: strides[0] as i32,
        ..Default::default()
    };
    let mut inputs = vec![Some(shape), Some(wt), Some(x)];
    if bt.is_some() {
        inputs.push(bt);
    }
    lw.b.op(
        B::TransposeConv,
        inputs,
        vec![y],
        Some(BuiltinOptions::TransposeConvOptions(Box::new(options))),
    );
    Ok(vec![emit_activation(lw, call, y, &act, &name)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_output_lengths_follow_keras() {
        assert_eq!(deconv_len(4, 3, 1, Padding::Valid, None), 6);
        assert_eq!(deconv_len(4, 3, 2, Padding::Same, None), 8);
        assert_eq!(deconv_len(4, 3, 2, Padding::Valid, None), 9);
        assert_eq!(deconv_len(4, 3, 2, Padding::Same, Some(1)), 8);
        assert_eq!(deconv_len(4, 2, 3, Padding::Valid, None), 12);
    }
}
