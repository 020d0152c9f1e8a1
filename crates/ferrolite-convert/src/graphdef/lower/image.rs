//! Image-shaped ops: Conv2DBackpropInput (transposed convolution), ResizeBilinear,
//! ResizeNearestNeighbor, and NonMaxSuppressionV4/V5 (detection post-processing).
//!
//! A transposed convolution's filter is re-laid out from TF's `[H, W, out, in]` to TFLite's
//! `[out, H, W, in]`, and its `input_sizes` operand becomes TRANSPOSE_CONV's `output_shape`.
//! NMS maps onto TFLite's NON_MAX_SUPPRESSION_V4 / _V5 builtins, which always pad their index
//! outputs to `max_output_size`, so only graphs asking for padded outputs are accepted.

use super::{Lowerer, Node, Val};
use crate::graphdef::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, Padding};
use ferrolite_model::DType;

/// `Conv2DBackpropInput(input_sizes, filter, out_backprop)` → TRANSPOSE_CONV without bias.
pub fn transpose_conv(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let a = node.attrs();
    a.require_nhwc()?;
    let x = node.input(2)?.clone();
    let s = lw.shape(&x).filter(|s| s.len() == 4).ok_or_else(|| {
        node.bad(format!(
            "out_backprop must be rank 4 (NHWC), found {:?}",
            lw.shape(&x)
        ))
    })?;
    let f = node.const_input(1, "the filter")?;
    if f.shape.len() != 4 || f.dtype != DType::F32 || lw.dtype(&x) != DType::F32 {
        return Err(node.bad(format!(
            "needs a rank-4 float32 constant filter and float32 input, found {:?} {:?}",
            f.dtype, f.shape
        )));
    }
    let [kh, kw, co, ci] = [f.shape[0], f.shape[1], f.shape[2], f.shape[3]];
    if s[3] >= 0 && s[3] as usize != ci {
        return Err(node.bad(format!(
            "input has {} channels, the filter expects {ci}",
            s[3]
        )));
    }
    let strides = a.ints("strides", None)?;
    let (sh, sw) = match strides.as_slice() {
        [1, h, w, 1] if *h > 0 && *w > 0 => (*h, *w),
        _ => {
            return Err(a.err(
                "strides",
                format!("expected [1, h, w, 1] with h, w > 0, found {strides:?}"),
            ))
        }
    };
    let dil = a.ints("dilations", Some(&[1, 1, 1, 1]))?;
    if dil.iter().any(|&d| d != 1) {
        return Err(a.err(
            "dilations",
            format!("dilated transposed convolution is not supported ({dil:?})"),
        ));
    }
    let padding = match a.string("padding", None)?.as_str() {
        "SAME" => Padding::Same,
        "VALID" => Padding::Valid,
        other => {
            return Err(a.err(
                "padding",
                format!("`{other}` is not supported (SAME or VALID)"),
            ))
        }
    };
    let name = node.def.name.clone();
    let sizes = node.input(0)?.clone();
    let (shape_t, out) = match sizes.as_const() {
        Some(_) => {
            let v = node.const_ints(0, "input_sizes")?;
            if v.len() != 4 || v.iter().any(|&d| d < 0) || v[3] as usize != co {
                return Err(node.bad(format!(
                    "input_sizes {v:?} is not an NHWC shape with {co} channels"
                )));
            }
            let t = lw.const_i32(format!("{name}/output_shape"), vec![4], &v);
            (t, v)
        }
        None => {
            if lw.dtype(&sizes) != DType::I32 {
                return Err(node.bad("a run-time input_sizes must be int32"));
            }
            (lw.tensor(&sizes), vec![-1, -1, -1, co as i64])
        }
    };
    let w = f.to_f32().unwrap_or_default();
    // [H, W, O, I] → [O, H, W, I].
    let mut ohwi = vec![0f32; w.len()];
    for (src, v) in w.iter().enumerate() {
        let (i, rest) = (src % ci, src / ci);
        let (o, hw) = (rest % co, rest / co);
        ohwi[(o * kh * kw + hw) * ci + i] = *v;
    }
    let wt = lw.const_f32(format!("{name}/filter"), vec![co, kh, kw, ci], &ohwi);
    let xt = lw.tensor(&x);
    let options = tflite::TransposeConvOptions {
        padding,
        stride_w: sw as i32,
        stride_h: sh as i32,
        ..Default::default()
    };
    Ok(lw.emit(
        B::TransposeConv,
        vec![Some(shape_t), Some(wt), Some(xt), None],
        &name,
        DType::F32,
        Some(&out),
        Some(BuiltinOptions::TransposeConvOptions(Box::new(options))),
    ))
}

/// `ResizeBilinear` / `ResizeNearestNeighbor` → RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR with
/// TF's `align_corners` and `half_pixel_centers`.
pub fn resize(lw: &mut Lowerer<'_>, node: &Node<'_>, op: B) -> Result<usize> {
    let x = node.input(0)?.clone();
    let s = lw
        .shape(&x)
        .filter(|s| s.len() == 4)
        .ok_or_else(|| node.bad("images must be rank 4 (NHWC)"))?;
    let a = node.attrs();
    let align_corners = a.bool("align_corners", false)?;
    let half_pixel_centers = a.bool("half_pixel_centers", false)?;
    if align_corners && half_pixel_centers {
        return Err(a.err(
            "half_pixel_centers",
            "cannot be combined with align_corners",
        ));
    }
    let size = node.input(1)?.clone();
    let name = node.def.name.clone();
    let (st, hw) = match size.as_const() {
        Some(_) => {
            let v = node.const_ints(1, "the size")?;
            if v.len() != 2 || v.iter().any(|&d| d <= 0) {
                return Err(node.bad(format!("size {v:?} is not two positive dims")));
            }
            (lw.const_i32(format!("{name}/size"), vec![2], &v), v)
        }
        None => (lw.tensor(&size), vec![-1, -1]),
    };
    let out = [s[0], hw[0], hw[1], s[3]];
    let options = if op == B::ResizeBilinear {
        BuiltinOptions::ResizeBilinearOptions(Box::new(tflite::ResizeBilinearOptions {
            align_corners,
            half_pixel_centers,
        }))
    } else {
        BuiltinOptions::ResizeNearestNeighborOptions(Box::new(
            tflite::ResizeNearestNeighborOptions {
                align_corners,
                half_pixel_centers,
            },
        ))
    };
    let xt = lw.tensor(&x);
    Ok(lw.emit(
        op,
        vec![Some(xt), Some(st)],
        &name,
        lw.dtype(&x),
        Some(&out),
        Some(options),
    ))
}

/// `NonMaxSuppressionV4` (`v5 = false`) / `NonMaxSuppressionV5` → NON_MAX_SUPPRESSION_V4 / _V5.
///
/// Outputs: selected indices `[max_output_size]` (int32), for V5 their scores, and the number of
/// valid entries (int32 scalar).
pub fn nms(lw: &mut Lowerer<'_>, node: &Node<'_>, v5: bool) -> Result<Vec<Val>> {
    let a = node.attrs();
    if !a.bool("pad_to_max_output_size", false)? {
        return Err(a.err(
            "pad_to_max_output_size",
            "TFLite's NON_MAX_SUPPRESSION always pads its outputs; only graphs with \
             pad_to_max_output_size=true convert",
        ));
    }
    let n_in = if v5 { 6 } else { 5 };
    let vals: Vec<Val> = (0..n_in)
        .map(|i| node.input(i).cloned())
        .collect::<Result<_>>()?;
    let boxes = lw.shape(&vals[0]).filter(|s| s.len() == 2 && s[1] == 4);
    if boxes.is_none() || lw.dtype(&vals[0]) != DType::F32 || lw.dtype(&vals[1]) != DType::F32 {
        return Err(node.bad("boxes must be float32 [num_boxes, 4] and scores float32"));
    }
    let max_out = node.const_ints(2, "max_output_size")?;
    let m = match max_out.as_slice() {
        [m] if *m >= 0 => *m,
        _ => return Err(node.bad(format!("max_output_size {max_out:?} is not a scalar >= 0"))),
    };
    let name = node.def.name.clone();
    let mut ins = Vec::with_capacity(n_in);
    for (i, v) in vals.iter().enumerate() {
        ins.push(Some(if i == 2 {
            lw.const_i32(format!("{name}/max_output_size"), vec![], &[m])
        } else {
            lw.tensor(v)
        }));
    }
    let mut outs = vec![lw.new_tensor(&name, DType::I32, Some(&[m]))];
    if v5 {
        outs.push(lw.new_tensor(&format!("{name}:1"), DType::F32, Some(&[m])));
    }
    let k = outs.len();
    outs.push(lw.new_tensor(&format!("{name}:{k}"), DType::I32, Some(&[])));
    let (op, options) = if v5 {
        (
            B::NonMaxSuppressionV5,
            BuiltinOptions::NonMaxSuppressionV5Options(Box::default()),
        )
    } else {
        (
            B::NonMaxSuppressionV4,
            BuiltinOptions::NonMaxSuppressionV4Options(Box::default()),
        )
    };
    lw.b.op(op, ins, outs.clone(), Some(options));
    Ok(outs.into_iter().map(Val::Tensor).collect())
}
