//! Shape and layout ops: `Flatten`, `Reshape`, `Squeeze` / `Unsqueeze`, `Transpose`, `Concat`,
//! `Pad`, `Resize` and `Constant`.
//!
//! Applied to constants these are evaluated at conversion time (shape tensors, reshaped
//! weights); applied to activations they become RESHAPE, TRANSPOSE, CONCATENATION, PAD / PADV2 /
//! MIRROR_PAD and RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR (the resizes between NHWC
//! transposes). A `Resize` whose ONNX coordinate mapping has no TFLite equivalent is refused
//! rather than approximated.

use super::{attr_tensor, axis, numel, Const, Data, Lowerer, Node, Val, MAX_DIM};
use crate::onnx::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, MirrorPadMode};
use std::rc::Rc;

/// `x` reshaped to `out` (a constant is re-dimensioned; an activation gets a RESHAPE).
fn reshape_to(lw: &mut Lowerer, node: &Node<'_>, x: Val, out: Vec<i64>) -> Result<Val> {
    match x {
        Val::Const(c) => {
            if numel(&out) != Some(c.len() as i64) {
                return Err(node.bad(format!("cannot reshape {:?} to {out:?}", c.dims)));
            }
            Ok(Val::Const(Rc::new(Const {
                dims: out,
                data: c.data.clone(),
            })))
        }
        Val::Act { t, shape } => {
            if let (Some(a), Some(b)) = (numel(&shape), numel(&out)) {
                if a != b {
                    return Err(node.bad(format!("cannot reshape {shape:?} to {out:?}")));
                }
            }
            if out.iter().filter(|&&d| d < 0).count() > 1 {
                return Err(node.bad(format!(
                    "reshaping {shape:?} to {out:?} leaves more than one dimension unknown"
                )));
            }
            let name = node.name();
            let st = lw.const_i32(&format!("{name}/shape"), &[out.len() as i64], &out);
            let t = lw.emit(
                B::Reshape,
                vec![Some(t), Some(st)],
                node.output(0),
                &out,
                None,
            );
            Ok(Val::Act { t, shape: out })
        }
    }
}

/// `Flatten(axis)`: `[prod(d[..axis]), prod(d[axis..])]`.
pub fn flatten(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let x = lw.val(node, 0)?;
    let s = Lowerer::shape(&x);
    let a = node.int("axis", 1)?;
    let a = if a < 0 { a + s.len() as i64 } else { a };
    if a < 0 || a > s.len() as i64 {
        return Err(node.bad_attr("axis", format!("{a} is out of range for rank {}", s.len())));
    }
    let (lead, rest) = s.split_at(a as usize);
    let out = vec![numel(lead).unwrap_or(-1), numel(rest).unwrap_or(-1)];
    reshape_to(lw, node, x, out)
}

/// `Reshape` by a constant shape (`0` copies a dimension unless `allowzero`, `-1` is inferred).
pub fn reshape(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let x = lw.val(node, 0)?;
    let s = Lowerer::shape(&x);
    let target = lw.konst(node, 1, "the shape")?;
    let spec = target
        .ints()
        .ok_or_else(|| node.bad("the shape must be an integer tensor"))?
        .to_vec();
    let allow_zero = node.int("allowzero", 0)? != 0;
    let mut out = Vec::with_capacity(spec.len());
    let mut copied = vec![false; s.len()];
    for (i, &d) in spec.iter().enumerate() {
        match d {
            0 if !allow_zero => {
                let v = *s
                    .get(i)
                    .ok_or_else(|| node.bad(format!("shape {spec:?}: 0 at {i}")))?;
                copied[i] = true;
                out.push(v);
            }
            -1 => out.push(-2),
            d if (0..=MAX_DIM).contains(&d) => out.push(d),
            d => return Err(node.bad(format!("shape {spec:?} has dimension {d}"))),
        }
    }
    if let Some(pos) = out.iter().position(|&d| d == -2) {
        if out.iter().filter(|&&d| d == -2).count() > 1 {
            return Err(node.bad(format!("shape {spec:?} has more than one -1")));
        }
        // Dynamic input dims copied by `0` cancel out; any other makes the inferred dim dynamic.
        let dyn_uncopied = s.iter().zip(&copied).any(|(&d, &c)| d < 0 && !c);
        let product = |v: &[i64]| -> Result<i64> {
            v.iter()
                .filter(|&&d| d >= 0)
                .try_fold(1i64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| node.bad(format!("shape {v:?} is too large")))
        };
        let (static_in, static_out) = (product(&s)?, product(&out)?);
        out[pos] = if dyn_uncopied {
            -1
        } else if static_out == 0 || static_in % static_out != 0 {
            return Err(node.bad(format!("cannot reshape {s:?} to {spec:?}")));
        } else {
            static_in / static_out
        };
    }
    reshape_to(lw, node, x, out)
}

/// `Squeeze` / `Unsqueeze` as a reshape (axes from the attribute before opset 13, else input 1).
pub fn squeeze(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let x = lw.val(node, 0)?;
    let s = Lowerer::shape(&x);
    let axes = if lw.opset < 13 {
        node.ints("axes")?
    } else {
        match lw.opt_konst(node, 1, "axes")? {
            None => None,
            Some(c) => Some(
                c.ints()
                    .ok_or_else(|| node.bad("axes must be integers"))?
                    .to_vec(),
            ),
        }
    };
    let out = if node.def.op_type == "Squeeze" {
        let drop: Vec<usize> = match axes {
            Some(a) => a
                .iter()
                .map(|&v| axis(node, v, s.len()))
                .collect::<Result<_>>()?,
            None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
        };
        if let Some(&i) = drop.iter().find(|&&i| s[i] != 1) {
            return Err(node.bad(format!("cannot squeeze axis {i} of shape {s:?}")));
        }
        (0..s.len())
            .filter(|i| !drop.contains(i))
            .map(|i| s[i])
            .collect()
    } else {
        let a = axes.ok_or_else(|| node.bad_attr("axes", "required"))?;
        let r = s.len() + a.len();
        let ins: Vec<usize> = a.iter().map(|&v| axis(node, v, r)).collect::<Result<_>>()?;
        let mut it = s.iter();
        (0..r)
            .map(|i| {
                if ins.contains(&i) {
                    1
                } else {
                    *it.next().unwrap_or(&1)
                }
            })
            .collect()
    };
    reshape_to(lw, node, x, out)
}

/// Transposes constant data (row-major) by `perm`.
fn transpose_data<T: Copy>(v: &[T], dims: &[i64], perm: &[usize]) -> Vec<T> {
    let r = dims.len();
    let mut strides = vec![1usize; r];
    for i in (0..r.saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * dims[i + 1] as usize;
    }
    let out_dims: Vec<usize> = perm.iter().map(|&p| dims[p] as usize).collect();
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0usize; r];
    for _ in 0..v.len() {
        let src: usize = (0..r).map(|i| idx[i] * strides[perm[i]]).sum();
        out.push(v[src]);
        for i in (0..r).rev() {
            idx[i] += 1;
            if idx[i] < out_dims[i] {
                break;
            }
            idx[i] = 0;
        }
    }
    out
}

/// `Transpose(perm)` (default: reversed axes).
pub fn transpose(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let x = lw.val(node, 0)?;
    let s = Lowerer::shape(&x);
    let r = s.len();
    let perm: Vec<usize> = match node.ints("perm")? {
        Some(p) => p.iter().map(|&v| axis(node, v, r)).collect::<Result<_>>()?,
        None => (0..r).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..r).collect::<Vec<_>>() {
        return Err(node.bad_attr("perm", format!("{perm:?} is not a permutation of 0..{r}")));
    }
    match x {
        Val::Const(c) => {
            let dims: Vec<i64> = perm.iter().map(|&p| c.dims[p]).collect();
            let data = match &c.data {
                Data::F32(v) => Data::F32(transpose_data(v, &c.dims, &perm)),
                Data::I64(v) => Data::I64(transpose_data(v, &c.dims, &perm)),
            };
            Ok(Val::Const(Rc::new(Const { dims, data })))
        }
        Val::Act { t, shape } => {
            let (t, shape) = lw.transpose(t, &shape, &perm, node.output(0));
            Ok(Val::Act { t, shape })
        }
    }
}

/// `Concat(axis)` → CONCATENATION (evaluated when every input is an integer constant).
pub fn concat(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let vals: Vec<Val> = (0..node.def.input.len())
        .map(|i| lw.val(node, i))
        .collect::<Result<_>>()?;
    let first = vals.first().ok_or_else(|| node.bad("no inputs"))?;
    let r = Lowerer::shape(first).len();
    let ax = axis(node, node.int("axis", 0)?, r)?;
    let shapes: Vec<Vec<i64>> = vals.iter().map(Lowerer::shape).collect();
    let mut out = shapes[0].clone();
    for s in &shapes[1..] {
        if s.len() != r {
            return Err(node.bad(format!("inputs of ranks {r} and {}", s.len())));
        }
        out[ax] = if out[ax] < 0 || s[ax] < 0 {
            -1
        } else {
            out[ax]
                .checked_add(s[ax])
                .filter(|&d| d <= MAX_DIM)
                .ok_or_else(|| {
                    node.bad(format!("the concatenated axis of {shapes:?} is too long"))
                })?
        };
    }
    let consts: Option<Vec<&[i64]>> = vals
        .iter()
        .map(|v| match v {
            Val::Const(c) if r == 1 => c.ints(),
            _ => None,
        })
        .collect();
    if let Some(parts) = consts {
        return Ok(Val::Const(Rc::new(Const::i64(out, parts.concat()))));
    }
    let mut ins = Vec::new();
    for i in 0..vals.len() {
        ins.push(Some(lw.act(node, i)?.0));
    }
    let o = tflite::ConcatenationOptions {
        axis: ax as i32,
        ..Default::default()
    };
    let t = lw.emit(
        B::Concatenation,
        ins,
        node.output(0),
        &out,
        Some(BuiltinOptions::ConcatenationOptions(Box::new(o))),
    );
    Ok(Val::Act { t, shape: out })
}

/// `Pad` (constant or reflect mode) → PAD / PADV2 / MIRROR_PAD.
pub fn pad(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let (x, s) = lw.act(node, 0)?;
    let r = s.len();
    let (pads, value) = if lw.opset < 11 {
        let p = node
            .ints("pads")?
            .ok_or_else(|| node.bad_attr("pads", "required"))?;
        (p, node.float("value", 0.0)?)
    } else {
        if node.input_name(3).is_some() {
            return Err(node.bad("the axes input of Pad is not supported"));
        }
        let p = lw.konst(node, 1, "pads")?;
        let p = p
            .ints()
            .ok_or_else(|| node.bad("pads must be integers"))?
            .to_vec();
        let v = match lw.opt_konst(node, 2, "constant_value")? {
            Some(c) if c.len() == 1 => c.to_f32()[0],
            Some(c) => return Err(node.bad(format!("constant_value has shape {:?}", c.dims))),
            None => 0.0,
        };
        (p, v)
    };
    if pads.len() != 2 * r || pads.iter().any(|&p| !(0..=MAX_DIM).contains(&p)) {
        return Err(node.bad(format!(
            "pads {pads:?}: expected {} values in 0..={MAX_DIM}",
            2 * r
        )));
    }
    let mut flat = Vec::with_capacity(2 * r);
    let mut out = s.clone();
    for i in 0..r {
        flat.extend([pads[i], pads[i + r]]);
        if out[i] >= 0 {
            out[i] += pads[i] + pads[i + r];
            if out[i] > MAX_DIM {
                return Err(node.bad(format!("pads {pads:?} make {s:?} too large")));
            }
        }
    }
    let name = node.name();
    let pt = lw.const_i32(&format!("{name}/paddings"), &[r as i64, 2], &flat);
    let dst = node.output(0);
    let t = match node.string("mode", "constant")?.as_str() {
        "constant" if value == 0.0 => lw.emit(B::Pad, vec![Some(x), Some(pt)], dst, &out, None),
        "constant" => {
            let vt = lw.const_f32(&format!("{name}/value"), &[], &[value]);
            lw.emit(B::Padv2, vec![Some(x), Some(pt), Some(vt)], dst, &out, None)
        }
        "reflect" => {
            let o = tflite::MirrorPadOptions {
                mode: MirrorPadMode::Reflect,
            };
            let opts = Some(BuiltinOptions::MirrorPadOptions(Box::new(o)));
            lw.emit(B::MirrorPad, vec![Some(x), Some(pt)], dst, &out, opts)
        }
        m => return Err(node.bad_attr("mode", format!("`{m}` padding is not supported"))),
    };
    Ok(Val::Act { t, shape: out })
}

/// `Resize` of an NCHW image → RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR where the coordinate
/// mapping is TFLite's.
pub fn resize(lw: &mut Lowerer, node: &Node<'_>) -> Result<Val> {
    let (x, s) = lw.act(node, 0)?;
    if s.len() != 4 || s[2] < 0 || s[3] < 0 {
        return Err(node.bad(format!("only rank-4 NCHW inputs with static H, W: {s:?}")));
    }
    let (scales_i, sizes_i) = if lw.opset < 11 { (1, 99) } else { (2, 3) };
    let sizes = lw
        .opt_konst(node, sizes_i, "sizes")?
        .filter(|c| !c.is_empty());
    let scales = lw
        .opt_konst(node, scales_i, "scales")?
        .filter(|c| !c.is_empty());
    let (oh, ow) = match (sizes, scales) {
        (Some(z), _) => match z.ints() {
            Some(&[n, c, h, w]) if n == s[0] && c == s[1] => (h, w),
            _ => return Err(node.bad(format!("sizes {:?} must be [N, C, H', W']", z.dims))),
        },
        (None, Some(sc)) => {
            let v = sc.to_f32();
            if v.len() != 4 || v[0] != 1.0 || v[1] != 1.0 {
                return Err(node.bad(format!("scales {v:?} must be [1, 1, sH, sW]")));
            }
            let dim = |d: i64, f: f32| -> Result<i64> {
                let o = (d as f64 * f as f64).floor();
                if (o / d as f64 - f as f64).abs() > 1e-6 {
                    return Err(node.bad(format!(
                        "scale {f} of size {d} is not exact; TFLite maps coordinates by the size ratio"
                    )));
                }
                Ok(o as i64)
            };
            (dim(s[2], v[2])?, dim(s[3], v[3])?)
        }
        (None, None) => return Err(node.bad("neither scales nor sizes is given")),
    };
    if !(1..=MAX_DIM).contains(&oh) || !(1..=MAX_DIM).contains(&ow) {
        return Err(node.bad(format!("output size {oh}×{ow} is outside 1..={MAX_DIM}")));
    }
    let mode = node.string("mode", "nearest")?;
    let default_ct = if lw.opset < 11 {
        "asymmetric"
    } else {
        "half_pixel"
    };
    let ct = node.string("coordinate_transformation_mode", default_ct)?;
    let nearest = node.string("nearest_mode", "round_prefer_floor")?;
    if node.int("antialias", 0)? != 0 {
        return Err(node.bad_attr("antialias", "antialiased resizing is not supported"));
    }
    if node.attr("axes").is_some()
        || node.string("keep_aspect_ratio_policy", "stretch")? != "stretch"
    {
        return Err(node.bad("the axes / keep_aspect_ratio_policy attributes are not supported"));
    }
    let half = matches!(ct.as_str(), "half_pixel" | "pytorch_half_pixel");
    let (op, align, hp) = match (mode.as_str(), ct.as_str(), nearest.as_str()) {
        ("nearest", "asymmetric", "floor") => (B::ResizeNearestNeighbor, false, false),
        ("nearest", "tf_half_pixel_for_nn", "floor") => (B::ResizeNearestNeighbor, false, true),
        ("nearest", _, "round_prefer_ceil") if half => (B::ResizeNearestNeighbor, false, true),
        ("nearest", "align_corners", "round_prefer_ceil") => {
            (B::ResizeNearestNeighbor, true, false)
        }
        ("linear" | "bilinear", "asymmetric", _) => (B::ResizeBilinear, false, false),
        ("linear" | "bilinear", "align_corners", _) => (B::ResizeBilinear, true, false),
        ("linear" | "bilinear", _, _) if half && (oh > 1 && ow > 1) => {
            (B::ResizeBilinear, false, true)
        }
        _ => {
            return Err(node.bad(format!(
                "mode `{mode}` with coordinate_transformation_mode `{ct}` and nearest_mode \
                 `{nearest}` has no TFLite resize equivalent"
            )))
        }
    };
    let name = node.name();
    let (xt, _) = lw.to_nhwc(x, &s, &name);
    let size = lw.const_i32(&format!("{name}/size"), &[2], &[oh, ow]);
    let options = if op == B::ResizeBilinear {
        BuiltinOptions::ResizeBilinearOptions(Box::new(tflite::ResizeBilinearOptions {
            align_corners: align,
            half_pixel_centers: hp,
        }))
    } else {
        BuiltinOptions::ResizeNearestNeighborOptions(Box::new(
            tflite::ResizeNearestNeighborOptions {
                align_corners: align,
                half_pixel_centers: hp,
            },
        ))
    };
    let nhwc = [s[0], oh, ow, s[1]];
    let y = lw.emit(
        op,
        vec![Some(xt), Some(size)],
        &format!("{name}/nhwc"),
        &nhwc,
        Some(options),
    );
    let (t, shape) = lw.to_nchw(y, &nhwc, node.output(0));
    Ok(Val::Act { t, shape })
}

/// `Constant` → a constant value (tensor, float(s) or int(s) attribute).
pub fn constant(node: &Node<'_>) -> Result<Val> {
    let a = node
        .def
        .attribute
        .first()
        .ok_or_else(|| node.bad("no value attribute"))?;
    let c = match a.name.as_str() {
        "value" => attr_tensor(node, a)?,
        "value_float" => Const::f32(vec![], vec![a.f]),
        "value_floats" => Const::f32(vec![a.floats.len() as i64], a.floats.clone()),
        "value_int" => Const::i64(vec![], vec![a.i]),
        "value_ints" => Const::i64(vec![a.ints.len() as i64], a.ints.clone()),
        other => return Err(node.bad_attr(other, "this kind of constant is not supported")),
    };
    Ok(Val::Const(Rc::new(c)))
}

#[cfg(test)]
mod tests {
    use super::transpose_data;

    #[test]
    fn constant_transpose_moves_elements() {
        // [[0, 1, 2], [3, 4, 5]]ᵀ
        let v = transpose_data(&[0, 1, 2, 3, 4, 5], &[2, 3], &[1, 0]);
        assert_eq!(v, vec![0, 3, 1, 4, 2, 5]);
    }
}
