//! Convolutions, pooling and batch normalization: `Conv` (dense and depthwise), `ConvTranspose`,
//! `MaxPool`, `AveragePool`, `GlobalAveragePool` / `GlobalMaxPool` and `BatchNormalization`.
//!
//! ONNX images are NCHW and filters `[M, C/group, kH, kW]`; TFLite kernels are NHWC with `OHWI`
//! filters (`[1, kH, kW, M]` for depthwise). Each windowed op is emitted as
//! `TRANSPOSE(NCHW→NHWC) → op → TRANSPOSE(NHWC→NCHW)`; the transpose pass removes the pairs
//! between layers. ONNX padding becomes TFLite `SAME` when it equals TFLite's choice (the extra
//! row at the end, as ONNX `SAME_UPPER`), `VALID` when zero, and an explicit PAD otherwise.
//! BatchNormalization becomes MUL + ADD by per-channel constants, which the fold pass merges
//! into the preceding convolution.

use super::{numel, Lowerer, Node, Val};
use crate::onnx::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, Padding};

/// Window parameters of a 2-D conv or pool, `[h, w]` each.
struct Window {
    kernel: [i64; 2],
    strides: [i64; 2],
    dilations: [i64; 2],
    /// `[top, left, bottom, right]` in ONNX's order `[h_begin, w_begin, h_end, w_end]`.
    pads: [i64; 4],
}

/// Largest stride, dilation, kernel size or pad accepted (keeps all arithmetic in range).
const LIMIT: i64 = 1 << 24;

/// A `[h, w]` attribute with values in `min..=LIMIT`, or `[default, default]` when absent.
fn pair(node: &Node<'_>, attr: &str, default: i64, min: i64) -> Result<[i64; 2]> {
    match node.ints(attr)?.as_deref() {
        None => Ok([default, default]),
        Some(&[h, w]) if [h, w].iter().all(|v| (min..=LIMIT).contains(v)) => Ok([h, w]),
        Some(v) => Err(node.bad_attr(attr, format!("expected 2 values ≥ {min}, found {v:?}"))),
    }
}

/// Reads strides, dilations and the padding of a 2-D window op with the given kernel size.
fn window(node: &Node<'_>, kernel: [i64; 2], in_hw: [i64; 2]) -> Result<Window> {
    let strides = pair(node, "strides", 1, 1)?;
    let dilations = pair(node, "dilations", 1, 1)?;
    let explicit = match node.ints("pads")?.as_deref() {
        None => [0; 4],
        Some(&[a, b, c, d]) if [a, b, c, d].iter().all(|p| (0..=LIMIT).contains(p)) => [a, b, c, d],
        Some(p) => return Err(node.bad_attr("pads", format!("expected 4 values ≥ 0, found {p:?}"))),
    };
    let auto_pad = node.string("auto_pad", "NOTSET")?;
    let pads = match auto_pad.as_str() {
        "NOTSET" => explicit,
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut p = [0; 4];
            for i in 0..2 {
                if in_hw[i] < 0 {
                    return Err(node.bad("auto_pad SAME needs static spatial dimensions"));
                }
                let total = same_total(in_hw[i], kernel[i], strides[i], dilations[i]);
                let small = total / 2;
                let (b, e) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                p[i] = b;
                p[i + 2] = e;
            }
            p
        }
        other => return Err(node.bad_attr("auto_pad", format!("unknown value `{other}`"))),
    };
    Ok(Window {
        kernel,
        strides,
        dilations,
        pads,
    })
}

/// TFLite's total SAME padding of one dimension.
fn same_total(input: i64, k: i64, s: i64, d: i64) -> i64 {
    let out = (input + s - 1) / s;
    ((out - 1) * s + (k - 1) * d + 1 - input).max(0)
}

impl Window {
    /// True when the pads are TFLite's SAME pads (static input only).
    fn is_same(&self, in_hw: [i64; 2]) -> bool {
        (0..2).all(|i| {
            if in_hw[i] < 0 {
                return false;
            }
            let total = same_total(in_hw[i], self.kernel[i], self.strides[i], self.dilations[i]);
            self.pads[i] == total / 2 && self.pads[i + 2] == total - total / 2
        })
    }

    fn is_zero(&self) -> bool {
        self.pads.iter().all(|&p| p == 0)
    }

    /// Output size of one dimension with the explicit pads (`ceil`: ONNX pools' `ceil_mode`).
    fn out(&self, input: i64, i: usize, ceil: bool) -> i64 {
        if input < 0 {
            return -1;
        }
        let span = (self.kernel[i] - 1) * self.dilations[i] + 1;
        let room = input + self.pads[i] + self.pads[i + 2] - span;
        if room < 0 {
            return 0;
        }
        let q = if ceil {
            (room + self.strides[i] - 1) / self.strides[i]
        } else {
            room / self.strides[i]
        };
        q + 1
    }
}

/// The four dimensions of a conv filter, each ≥ 1 (an empty filter would let its declared
/// sizes, unbacked by data, drive allocations) and ≤ [`LIMIT`] for the spatial ones.
fn filter_dims(node: &Node<'_>, dims: &[i64]) -> Result<[i64; 4]> {
    match *dims {
        [a, b, c, d] if [a, b, c, d].iter().all(|&v| v >= 1) && c <= LIMIT && d <= LIMIT => {
            Ok([a, b, c, d])
        }
        _ => Err(node.bad(format!(
            "the filter must be rank 4 with non-empty dimensions, found {dims:?}"
        ))),
    }
}

/// The NHWC input of a windowed op (input 0 transposed) and its NCHW shape.
fn nhwc_input(lw: &mut Lowerer, node: &Node<'_>) -> Result<(usize, Vec<i64>)> {
    let (x, s) = lw.act(node, 0)?;
    if s.len() != 4 {
        return Err(node.bad(format!(
            "only 2-D (rank-4 NCHW) inputs are supported, found shape {s:?}"
        )));
    }
    let (xt, _) = lw.to_nhwc(x, &s, &node.name());
    Ok((xt, s))
}

/// Pads an NHWC tensor explicitly (`value` fills: 0 or -inf); returns it and its NHWC shape.
fn explicit_pad(
    lw: &mut Lowerer,
    node: &Node<'_>,
    x: usize,
    nchw: &[i64],
    p: [i64; 4],
    value: f32,
) -> usize {
    let name = node.name();
    let pads = lw.const_i32(
        &format!("{name}/paddings"),
        &[4, 2],
        &[0, 0, p[0], p[2], p[1], p[3], 0, 0],
    );
    let grow = |d: i64, a: i64, b: i64| if d < 0 { -1 } else { d + a + b };
    let shape = [
        nchw[0],
        grow(nchw[2], p[0], p[2]),
        grow(nchw[3], p[1], p[3]),
        nchw[1],
    ];
    if value == 0.0 {
        lw.emit(
            B::Pad,
            vec![Some(x), Some(pads)],
            &format!("{name}/pad"),
            &shape,
            None,
        )
    } else {
        let v = lw.const_f32(&format!("{name}/pad_value"), &[], &[value]);
        lw.emit(
            B::Padv2,
            vec![Some(x), Some(pads), Some(v)],
            &format!("{name}/pad"),
            &shape,
            None,
        )
    }
}

/// `Conv` → CONV_2D (group 1) or DEPTHWISE_CONV_2D (group = channels).
pub fn conv(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let (x, s) = nhwc_input(lw, node)?;
    let w = lw.konst(node, 1, "the filter")?;
    let bias = lw.opt_konst(node, 2, "the bias")?;
    let [m, cg, kh, kw] = filter_dims(node, &w.dims)?;
    let c = s[1];
    if c < 1 {
        return Err(node.bad("the input's channel dimension must be static and non-zero"));
    }
    let group = node.int("group", 1)?;
    let depthwise = group != 1 && group == c && cg == 1 && m % c == 0;
    if !(depthwise || group == 1 && cg == c) {
        return Err(node.bad(format!(
            "group {group} with {c} input channels and filter {:?} is not supported \
             (group 1, or depthwise with group = channels)",
            w.dims
        )));
    }
    if let Some(k) = node.ints("kernel_shape")? {
        if k != [kh, kw] {
            return Err(node.bad_attr("kernel_shape", format!("{k:?} != filter's {:?}", [kh, kw])));
        }
    }
    let bias = match bias {
        Some(b) if b.len() == m as usize => b.to_f32(),
        Some(b) => return Err(node.bad(format!("bias has shape {:?}, expected [{m}]", b.dims))),
        None => vec![0.0; m as usize],
    };
    let win = window(node, [kh, kw], [s[2], s[3]])?;
    let (pad, x, in_hw) = if win.is_zero() {
        (Padding::Valid, x, [s[2], s[3]])
    } else if win.is_same([s[2], s[3]]) {
        (Padding::Same, x, [s[2], s[3]])
    } else {
        let xp = explicit_pad(lw, node, x, &s, win.pads, 0.0);
        let hw = [
            s[2] + win.pads[0] + win.pads[2],
            s[3] + win.pads[1] + win.pads[3],
        ];
        (Padding::Valid, xp, hw)
    };
    let zero = Window {
        pads: [0; 4],
        ..win
    };
    let (oh, ow) = if pad == Padding::Same {
        let up = |d: i64, st: i64| if d < 0 { -1 } else { (d + st - 1) / st };
        (up(in_hw[0], zero.strides[0]), up(in_hw[1], zero.strides[1]))
    } else {
        (zero.out(in_hw[0], 0, false), zero.out(in_hw[1], 1, false))
    };
    let name = node.name();
    let wv = w.to_f32();
    let (kh_, kw_, m_, cg_) = (kh as usize, kw as usize, m as usize, cg as usize);
    let (op, filter, options) = if depthwise {
        // [M, 1, kH, kW] → [1, kH, kW, M]; output channel o reads input channel o / (M / C).
        let mut f = vec![0f32; wv.len()];
        for o in 0..m_ {
            for hw in 0..kh_ * kw_ {
                f[hw * m_ + o] = wv[o * kh_ * kw_ + hw];
            }
        }
        let t = lw.const_f32(&format!("{name}/filter"), &[1, kh, kw, m], &f);
        let o = tflite::DepthwiseConv2DOptions {
            padding: pad,
            stride_w: zero.strides[1] as i32,
            stride_h: zero.strides[0] as i32,
            depth_multiplier: (m / c) as i32,
            dilation_w_factor: zero.dilations[1] as i32,
            dilation_h_factor: zero.dilations[0] as i32,
            ..Default::default()
        };
        let opts = BuiltinOptions::DepthwiseConv2DOptions(Box::new(o));
        (B::DepthwiseConv2d, t, opts)
    } else {
        // OIHW → OHWI.
        let mut f = vec![0f32; wv.len()];
        for o in 0..m_ {
            for i in 0..cg_ {
                for hw in 0..kh_ * kw_ {
                    f[(o * kh_ * kw_ + hw) * cg_ + i] = wv[(o * cg_ + i) * kh_ * kw_ + hw];
                }
            }
        }
        let t = lw.const_f32(&format!("{name}/filter"), &[m, kh, kw, cg], &f);
        let o = tflite::Conv2DOptions {
            padding: pad,
            stride_w: zero.strides[1] as i32,
            stride_h: zero.strides[0] as i32,
            dilation_w_factor: zero.dilations[1] as i32,
            dilation_h_factor: zero.dilations[0] as i32,
            ..Default::default()
        };
        (B::Conv2d, t, BuiltinOptions::Conv2DOptions(Box::new(o)))
    };
    let bt = lw.const_f32(&format!("{name}/bias"), &[m], &bias);
    let nhwc = [s[0], oh, ow, m];
    let y = lw.emit(
        op,
        vec![Some(x), Some(filter), Some(bt)],
        &format!("{name}/nhwc"),
        &nhwc,
        Some(options),
    );
    let (t, shape) = lw.to_nchw(y, &nhwc, node.output(0));
    Ok(Val::Act { t, shape })
}

/// `ConvTranspose` (group 1, no dilation) → TRANSPOSE_CONV.
pub fn conv_transpose(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let (x, s) = nhwc_input(lw, node)?;
    let w = lw.konst(node, 1, "the filter")?;
    let bias = lw.opt_konst(node, 2, "the bias")?;
    let [ci, m, kh, kw] = filter_dims(node, &w.dims)?;
    if node.int("group", 1)? != 1 || s[1] != ci {
        return Err(node.bad("only group 1 with matching input channels is supported"));
    }
    if s[2] < 0 || s[3] < 0 {
        return Err(node.bad("the input's spatial dimensions must be static"));
    }
    let win = window(node, [kh, kw], [-1, -1])?;
    if win.dilations != [1, 1] {
        return Err(node.bad_attr("dilations", "only dilation 1 is supported"));
    }
    let extra = pair(node, "output_padding", 0, 0)?;
    let mut out = [0i64; 2];
    for i in 0..2 {
        let full = win.strides[i] * (s[2 + i] - 1) + [kh, kw][i];
        out[i] = full + extra[i] - win.pads[i] - win.pads[i + 2];
        if out[i] <= 0 {
            return Err(node.bad(format!("pads {:?} leave an empty output", win.pads)));
        }
    }
    // TFLite crops `offset` rows at the start: 0 for VALID; for SAME, half of the padding a
    // forward conv from `out` to the input would use.
    let same_offset = |i: usize| same_total(out[i], [kh, kw][i], win.strides[i], 1) / 2;
    let pad = if win.pads[0] == 0 && win.pads[1] == 0 {
        Padding::Valid
    } else if (0..2).all(|i| win.pads[i] == same_offset(i)) {
        Padding::Same
    } else {
        return Err(node.bad_attr(
            "pads",
            format!(
                "{:?} is neither TFLite's VALID nor SAME placement",
                win.pads
            ),
        ));
    };
    let name = node.name();
    let wv = w.to_f32();
    let (ci_, m_, khw) = (ci as usize, m as usize, (kh * kw) as usize);
    // [I, O, kH, kW] → [O, kH, kW, I].
    let mut f = vec![0f32; wv.len()];
    for i in 0..ci_ {
        for o in 0..m_ {
            for hw in 0..khw {
                f[(o * khw + hw) * ci_ + i] = wv[(i * m_ + o) * khw + hw];
            }
        }
    }
    let ft = lw.const_f32(&format!("{name}/filter"), &[m, kh, kw, ci], &f);
    let nhwc = [s[0], out[0], out[1], m];
    let batch = if s[0] < 0 { 1 } else { s[0] };
    let ost = lw.const_i32(
        &format!("{name}/output_shape"),
        &[4],
        &[batch, out[0], out[1], m],
    );
    let bt = match bias {
        Some(b) if b.len() == m_ => Some(lw.const_f32(&format!("{name}/bias"), &[m], &b.to_f32())),
        Some(b) => return Err(node.bad(format!("bias has shape {:?}, expected [{m}]", b.dims))),
        None => None,
    };
    let o = tflite::TransposeConvOptions {
        padding: pad,
        stride_w: win.strides[1] as i32,
        stride_h: win.strides[0] as i32,
        ..Default::default()
    };
    let y = lw.emit(
        B::TransposeConv,
        vec![Some(ost), Some(ft), Some(x), bt],
        &format!("{name}/nhwc"),
        &nhwc,
        Some(BuiltinOptions::TransposeConvOptions(Box::new(o))),
    );
    let (t, shape) = lw.to_nchw(y, &nhwc, node.output(0));
    Ok(Val::Act { t, shape })
}

/// `MaxPool` / `AveragePool` → MAX_POOL_2D / AVERAGE_POOL_2D.
pub fn pool(lw: &mut Lowerer, node: &Node<'_>, op: B) -> Result<Val> {
    if !node.output(1).is_empty() {
        return Err(node.bad("the Indices output of MaxPool is not supported"));
    }
    let (x, s) = nhwc_input(lw, node)?;
    let kernel = match node.ints("kernel_shape")?.as_deref() {
        Some(&[h, w]) if (1..=LIMIT).contains(&h) && (1..=LIMIT).contains(&w) => [h, w],
        k => return Err(node.bad_attr("kernel_shape", format!("expected [kH, kW], found {k:?}"))),
    };
    let win = window(node, kernel, [s[2], s[3]])?;
    if win.dilations != [1, 1] {
        return Err(node.bad_attr("dilations", "only dilation 1 is supported"));
    }
    let ceil = node.int("ceil_mode", 0)? != 0;
    let (oh, ow) = (win.out(s[2], 0, false), win.out(s[3], 1, false));
    if ceil && (oh, ow) != (win.out(s[2], 0, true), win.out(s[3], 1, true)) {
        return Err(node.bad_attr("ceil_mode", "ceil_mode 1 changes the output size here"));
    }
    let include_pad = node.int("count_include_pad", 0)? != 0;
    let is_max = op == B::MaxPool2d;
    let (pad, x) = if win.is_zero() {
        (Padding::Valid, x)
    } else if win.is_same([s[2], s[3]]) && (is_max || !include_pad) {
        (Padding::Same, x)
    } else if is_max || include_pad {
        let fill = if is_max { f32::MIN } else { 0.0 };
        (
            Padding::Valid,
            explicit_pad(lw, node, x, &s, win.pads, fill),
        )
    } else {
        return Err(node.bad(format!(
            "pads {:?} with count_include_pad 0 are not TFLite's SAME padding",
            win.pads
        )));
    };
    let o = tflite::Pool2DOptions {
        padding: pad,
        stride_w: win.strides[1] as i32,
        stride_h: win.strides[0] as i32,
        filter_width: kernel[1] as i32,
        filter_height: kernel[0] as i32,
        ..Default::default()
    };
    let name = node.name();
    let nhwc = [s[0], oh, ow, s[1]];
    let y = lw.emit(
        op,
        vec![Some(x)],
        &format!("{name}/nhwc"),
        &nhwc,
        Some(BuiltinOptions::Pool2DOptions(Box::new(o))),
    );
    let (t, shape) = lw.to_nchw(y, &nhwc, node.output(0));
    Ok(Val::Act { t, shape })
}

/// `GlobalAveragePool` / `GlobalMaxPool` → MEAN / REDUCE_MAX over H, W with kept dims.
pub fn global_pool(lw: &mut Lowerer, node: &Node<'_>, op: B) -> Result<Val> {
    let (x, s) = nhwc_input(lw, node)?;
    let name = node.name();
    let axes = lw.const_i32(&format!("{name}/axes"), &[2], &[1, 2]);
    let nhwc = [s[0], 1, 1, s[1]];
    let o = tflite::ReducerOptions { keep_dims: true };
    let y = lw.emit(
        op,
        vec![Some(x), Some(axes)],
        &format!("{name}/nhwc"),
        &nhwc,
        Some(BuiltinOptions::ReducerOptions(Box::new(o))),
    );
    let (t, shape) = lw.to_nchw(y, &nhwc, node.output(0));
    Ok(Val::Act { t, shape })
}

/// Inference `BatchNormalization` → MUL + ADD by per-channel constants.
pub fn batch_norm(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    if node.int("training_mode", 0)? != 0 || !node.output(1).is_empty() {
        return Err(node.bad("training-mode batch normalization is not supported"));
    }
    let (x, s) = lw.act(node, 0)?;
    let c = *s
        .get(1)
        .ok_or_else(|| node.bad("input must have rank ≥ 2"))?;
    let eps = node.float("epsilon", 1e-5)?;
    let mut p = Vec::new();
    for (i, what) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
        let v = lw.konst(node, i, what)?;
        if c < 0 || v.len() != c as usize {
            return Err(node.bad(format!("{what} has shape {:?}, expected [{c}]", v.dims)));
        }
        p.push(v.to_f32());
    }
    let scale: Vec<f32> = (0..c as usize)
        .map(|k| p[0][k] / (p[3][k] + eps).sqrt())
        .collect();
    let shift: Vec<f32> = (0..c as usize)
        .map(|k| p[1][k] - p[2][k] * scale[k])
        .collect();
    let mut dims = vec![c];
    dims.extend(std::iter::repeat_n(1, s.len() - 2));
    let name = node.name();
    let st = lw.const_f32(&format!("{name}/scale"), &dims, &scale);
    let bt = lw.const_f32(&format!("{name}/shift"), &dims, &shift);
    let m = lw.emit(
        B::Mul,
        vec![Some(x), Some(st)],
        &format!("{name}/mul"),
        &s,
        Some(BuiltinOptions::MulOptions(Box::default())),
    );
    let t = lw.emit(
        B::Add,
        vec![Some(m), Some(bt)],
        node.output(0),
        &s,
        Some(BuiltinOptions::AddOptions(Box::default())),
    );
    debug_assert!(numel(&dims).is_some());
    Ok(Val::Act { t, shape: s })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(k: i64, s: i64, pads: [i64; 4]) -> Window {
        Window {
            kernel: [k, k],
            strides: [s, s],
            dilations: [1, 1],
            pads,
        }
    }

    #[test]
    fn same_padding_is_recognized_only_when_it_is_tflites() {
        // 3x3 stride 1 on 8: TFLite pads 1 / 1.
        assert_eq!(same_total(8, 3, 1, 1), 2);
        assert!(win(3, 1, [1, 1, 1, 1]).is_same([8, 8]));
        // 3x3 stride 2 on 8: TFLite pads 0 before, 1 after; ONNX's symmetric 1 / 1 is not SAME.
        assert_eq!(same_total(8, 3, 2, 1), 1);
        assert!(win(3, 2, [0, 0, 1, 1]).is_same([8, 8]));
        assert!(!win(3, 2, [1, 1, 1, 1]).is_same([8, 8]));
        assert!(!win(3, 1, [1, 1, 1, 1]).is_same([-1, 8]));
        // Output sizes with explicit pads, floor and ceil.
        let w = win(3, 2, [1, 1, 1, 1]);
        assert_eq!(w.out(8, 0, false), 4);
        assert_eq!(win(2, 2, [0; 4]).out(7, 0, false), 3);
        assert_eq!(win(2, 2, [0; 4]).out(7, 0, true), 4);
        assert_eq!(w.out(-1, 0, false), -1);
    }
}
