//! Shape and layout ops: Reshape, Squeeze, ExpandDims, ConcatV2, Pad, Transpose, Shape,
//! StridedSlice, Pack, Cast and Fill.
//!
//! Index operands (shapes, axes, permutations, paddings, slice bounds) must be constants after
//! folding, except a Reshape's target shape, which may be computed at run time (a dynamic batch
//! flattened as `Shape → StridedSlice → Pack → Reshape`, kept as TF's converter keeps it). They
//! are written as `int32` tensors, the type every TFLite kernel takes.

use super::{Lowerer, Node, Val};
use crate::graphdef::error::Result;
use crate::graphdef::fold::{permutation, resolve_reshape, slice_spec};
use crate::graphdef::shape::{norm_axis, plan_slice};
use crate::graphdef::tensor::{dtype_of, ConstTensor};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, TensorType};
use ferrolite_model::DType;

/// The input value, its shape and its tensor.
fn data(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<(Val, Option<Vec<i64>>, usize)> {
    let x = node.input(0)?.clone();
    let s = lw.shape(&x);
    let t = lw.tensor(&x);
    Ok((x, s, t))
}

fn known_rank(node: &Node<'_>, s: &Option<Vec<i64>>) -> Result<Vec<i64>> {
    s.clone()
        .ok_or_else(|| node.bad("the input's rank is unknown (it comes from a custom op)"))
}

/// Emits `RESHAPE(x, shape)` with a constant `int32` shape.
fn reshape_const(lw: &mut Lowerer<'_>, node: &Node<'_>, x: &Val, target: &[i64]) -> Result<usize> {
    let s = lw.shape(x);
    let out = match &s {
        Some(s) => resolve_reshape(s, target).map_err(|m| node.bad(m))?,
        None => target.to_vec(),
    };
    let xt = lw.tensor(x);
    let st = lw.const_i32(
        format!("{}/shape", node.def.name),
        vec![target.len()],
        target,
    );
    Ok(lw.emit(
        B::Reshape,
        vec![Some(xt), Some(st)],
        &node.def.name,
        lw.dtype(x),
        Some(&out),
        None,
    ))
}

/// `Reshape` → RESHAPE; the target shape may be a run-time tensor.
pub fn reshape(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let x = node.input(0)?.clone();
    let target = node.input(1)?.clone();
    if target.as_const().is_some() {
        let t = node.const_ints(1, "the shape")?;
        return reshape_const(lw, node, &x, &t);
    }
    let rank = lw
        .shape(&target)
        .filter(|s| s.len() == 1 && s[0] >= 0)
        .map(|s| s[0] as usize);
    let out = rank.map(|r| vec![-1i64; r]);
    let (xt, tt) = (lw.tensor(&x), lw.tensor(&target));
    if lw.dtype(&target) != DType::I32 {
        return Err(node.bad("a run-time shape must be int32"));
    }
    Ok(lw.emit(
        B::Reshape,
        vec![Some(xt), Some(tt)],
        &node.def.name,
        lw.dtype(&x),
        out.as_deref(),
        None,
    ))
}

/// `Squeeze` → RESHAPE when the result has at most one unknown dim (as TF's converter emits it),
/// else SQUEEZE.
pub fn squeeze(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let x = node.input(0)?.clone();
    let s = known_rank(node, &lw.shape(&x))?;
    let dims = node.attrs().ints("squeeze_dims", Some(&[]))?;
    let drop: Vec<usize> = dims
        .iter()
        .map(|&d| norm_axis(d, s.len()).ok_or_else(|| node.bad(format!("axis {d} out of range"))))
        .collect::<Result<_>>()?;
    if drop.is_empty() && s.contains(&-1) {
        return Err(node.bad("squeezing all size-1 dims needs a fully known input shape"));
    }
    if let Some(&k) = drop.iter().find(|&&k| s[k] != 1 && s[k] != -1) {
        return Err(node.bad(format!("dim {k} has size {}, not 1", s[k])));
    }
    let out: Vec<i64> = s
        .iter()
        .enumerate()
        .filter(|&(k, &d)| {
            !(if drop.is_empty() {
                d == 1
            } else {
                drop.contains(&k)
            })
        })
        .map(|(_, &d)| d)
        .collect();
    if out.iter().filter(|&&d| d < 0).count() <= 1 {
        return reshape_const(lw, node, &x, &out);
    }
    let xt = lw.tensor(&x);
    let options = tflite::SqueezeOptions {
        squeeze_dims: Some(drop.iter().map(|&k| k as i32).collect()),
    };
    Ok(lw.emit(
        B::Squeeze,
        vec![Some(xt)],
        &node.def.name,
        lw.dtype(&x),
        Some(&out),
        Some(BuiltinOptions::SqueezeOptions(Box::new(options))),
    ))
}

/// `ExpandDims` → EXPAND_DIMS with a normalized `int32` axis.
pub fn expand_dims(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s, xt) = data(lw, node)?;
    let s = known_rank(node, &s)?;
    let axis = *node
        .const_ints(1, "the axis")?
        .first()
        .ok_or_else(|| node.bad("empty axis"))?;
    let a = norm_axis(axis, s.len() + 1)
        .ok_or_else(|| node.bad(format!("axis {axis} out of range")))?;
    let mut out = s.clone();
    out.insert(a, 1);
    let at = lw.const_i32(format!("{}/axis", node.def.name), vec![], &[a as i64]);
    Ok(lw.emit(
        B::ExpandDims,
        vec![Some(xt), Some(at)],
        &node.def.name,
        lw.dtype(&x),
        Some(&out),
        None,
    ))
}

/// `ConcatV2` → CONCATENATION along a normalized axis.
pub fn concat(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let n = node.inputs.len();
    if n < 2 {
        return Err(node.bad("ConcatV2 needs values and an axis"));
    }
    let axis = *node
        .const_ints(n - 1, "the axis")?
        .first()
        .ok_or_else(|| node.bad("empty axis"))?;
    let parts = &node.inputs[..n - 1];
    let first = known_rank(node, &lw.shape(&parts[0]))?;
    let a = norm_axis(axis, first.len())
        .ok_or_else(|| node.bad(format!("axis {axis} out of range")))?;
    let mut out = first.clone();
    for p in &parts[1..] {
        let s = known_rank(node, &lw.shape(p))?;
        if s.len() != first.len() {
            return Err(node.bad("ConcatV2 inputs differ in rank"));
        }
        out[a] = if out[a] < 0 || s[a] < 0 {
            -1
        } else {
            out[a] + s[a]
        };
        for k in (0..s.len()).filter(|&k| k != a) {
            if out[k] < 0 {
                out[k] = s[k];
            }
        }
    }
    let dtype = lw.dtype(&parts[0]);
    let ins: Vec<Option<usize>> = parts.iter().map(|p| Some(lw.tensor(p))).collect();
    let options = tflite::ConcatenationOptions {
        axis: a as i32,
        ..Default::default()
    };
    Ok(lw.emit(
        B::Concatenation,
        ins,
        &node.def.name,
        dtype,
        Some(&out),
        Some(BuiltinOptions::ConcatenationOptions(Box::new(options))),
    ))
}

/// `Pad` → PAD with `int32` paddings `[rank, 2]`.
pub fn pad(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s, xt) = data(lw, node)?;
    let s = known_rank(node, &s)?;
    let p = node.const_ints(1, "the paddings")?;
    if p.len() != 2 * s.len() || p.iter().any(|&v| v < 0) {
        return Err(node.bad(format!(
            "paddings {p:?} do not fit a rank-{} input",
            s.len()
        )));
    }
    let out: Vec<i64> = s
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            if d < 0 {
                -1
            } else {
                d + p[2 * k] + p[2 * k + 1]
            }
        })
        .collect();
    let pt = lw.const_i32(format!("{}/paddings", node.def.name), vec![s.len(), 2], &p);
    Ok(lw.emit(
        B::Pad,
        vec![Some(xt), Some(pt)],
        &node.def.name,
        lw.dtype(&x),
        Some(&out),
        None,
    ))
}

/// `Transpose` → TRANSPOSE with an `int32` permutation.
pub fn transpose(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s, xt) = data(lw, node)?;
    let s = known_rank(node, &s)?;
    let perm = node.const_ints(1, "the permutation")?;
    let p = permutation(&perm, s.len()).map_err(|m| node.bad(m))?;
    let out: Vec<i64> = p.iter().map(|&k| s[k]).collect();
    let pv: Vec<i64> = p.iter().map(|&k| k as i64).collect();
    let pt = lw.const_i32(format!("{}/perm", node.def.name), vec![p.len()], &pv);
    Ok(lw.emit(
        B::Transpose,
        vec![Some(xt), Some(pt)],
        &node.def.name,
        lw.dtype(&x),
        Some(&out),
        None,
    ))
}

/// The `out_type` of a Shape node (int32 or int64).
fn shape_out_type(node: &Node<'_>) -> Result<DType> {
    let a = node.attrs();
    match a.dtype("out_type")?.map(dtype_of) {
        None | Some(Some(DType::I32)) => Ok(DType::I32),
        Some(Some(DType::I64)) => Ok(DType::I64),
        Some(other) => Err(a.err(
            "out_type",
            format!("expected int32 or int64, found {other:?}"),
        )),
    }
}

/// `Shape` of an input whose shape is fully known, as a constant.
pub fn fold_shape(lw: &Lowerer<'_>, node: &Node<'_>) -> Result<Option<ConstTensor>> {
    let Some(s) = lw.shape(node.input(0)?) else {
        return Ok(None);
    };
    if s.iter().any(|&d| d < 0) {
        return Ok(None);
    }
    let t = ConstTensor::from_i64(vec![s.len()], &s);
    Ok(t.cast(shape_out_type(node)?))
}

/// `Shape` of an input with unknown dims → SHAPE.
pub fn shape(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (_, s, xt) = data(lw, node)?;
    let s = known_rank(node, &s)?;
    let dtype = shape_out_type(node)?;
    let options = tflite::ShapeOptions {
        out_type: if dtype == DType::I64 {
            TensorType::Int64
        } else {
            TensorType::Int32
        },
    };
    Ok(lw.emit(
        B::Shape,
        vec![Some(xt)],
        &node.def.name,
        dtype,
        Some(&[s.len() as i64]),
        Some(BuiltinOptions::ShapeOptions(Box::new(options))),
    ))
}

/// `StridedSlice` → STRIDED_SLICE with the ellipsis expanded; new axes are added by a RESHAPE.
pub fn strided_slice(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let x = node.input(0)?.clone();
    let s = known_rank(node, &lw.shape(&x))?;
    let spec = slice_spec(
        &node.attrs(),
        node.const_input(1, "begin")?,
        node.const_input(2, "end")?,
        node.const_input(3, "strides")?,
    )
    .map_err(|m| node.bad(m))?;
    let plan = plan_slice(&s, &spec).map_err(|m| node.bad(m))?;
    let d = &plan.dense;
    let name = node.def.name.clone();
    let n = d.begin.len();
    let bt = lw.const_i32(format!("{name}/begin"), vec![n], &d.begin);
    let et = lw.const_i32(format!("{name}/end"), vec![n], &d.end);
    let st = lw.const_i32(format!("{name}/strides"), vec![n], &d.strides);
    let sliced: Vec<i64> = plan
        .dims
        .iter()
        .filter(|p| !p.shrink)
        .map(|p| p.len)
        .collect();
    let options = tflite::StridedSliceOptions {
        begin_mask: d.begin_mask as i32,
        end_mask: d.end_mask as i32,
        shrink_axis_mask: d.shrink_axis_mask as i32,
        ..Default::default()
    };
    let has_new_axes = spec.new_axis_mask != 0;
    let xt = lw.tensor(&x);
    let dtype = lw.dtype(&x);
    let y = lw.emit(
        B::StridedSlice,
        vec![Some(xt), Some(bt), Some(et), Some(st)],
        &if has_new_axes {
            format!("{name}/slice")
        } else {
            name.clone()
        },
        dtype,
        Some(&sliced),
        Some(BuiltinOptions::StridedSliceOptions(Box::new(options))),
    );
    if !has_new_axes {
        return Ok(y);
    }
    if plan.out_shape.iter().filter(|&&d| d < 0).count() > 1 {
        return Err(node.bad("new axes on a slice with several unknown dims are not supported"));
    }
    reshape_const(lw, node, &Val::Tensor(y), &plan.out_shape)
}

/// `Pack` → PACK along a normalized axis.
pub fn pack(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let first = node.input(0)?;
    let s = known_rank(node, &lw.shape(first))?;
    let dtype = lw.dtype(first);
    let axis = node.attrs().int("axis", Some(0))?;
    let a = norm_axis(axis, s.len() + 1)
        .ok_or_else(|| node.bad(format!("axis {axis} out of range")))?;
    let mut out = s.clone();
    out.insert(a, node.inputs.len() as i64);
    let ins: Vec<Option<usize>> = node.inputs.iter().map(|v| Some(lw.tensor(v))).collect();
    let options = tflite::PackOptions {
        values_count: ins.len() as i32,
        axis: a as i32,
    };
    Ok(lw.emit(
        B::Pack,
        ins,
        &node.def.name,
        dtype,
        Some(&out),
        Some(BuiltinOptions::PackOptions(Box::new(options))),
    ))
}

/// `Cast` of a run-time tensor → CAST.
pub fn cast(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (_, s, xt) = data(lw, node)?;
    let a = node.attrs();
    let to = a
        .dtype("DstT")?
        .and_then(dtype_of)
        .ok_or_else(|| a.err("DstT", "missing or not a TFLite type"))?;
    Ok(lw.emit(
        B::Cast,
        vec![Some(xt)],
        &node.def.name,
        to,
        s.as_deref(),
        None,
    ))
}

/// `Fill` with run-time dims or value → FILL.
pub fn fill(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let dims = node.input(0)?.clone();
    let value = node.input(1)?.clone();
    let out: Option<Vec<i64>> = match dims.as_const() {
        Some(c) => c.to_i64(),
        None => lw
            .shape(&dims)
            .filter(|s| s.len() == 1 && s[0] >= 0)
            .map(|s| vec![-1; s[0] as usize]),
    };
    let dtype = lw.dtype(&value);
    let (dt, vt) = (lw.tensor(&dims), lw.tensor(&value));
    Ok(lw.emit(
        B::Fill,
        vec![Some(dt), Some(vt)],
        &node.def.name,
        dtype,
        out.as_deref(),
        None,
    ))
}
