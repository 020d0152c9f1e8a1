//! Splitting, slicing, gathering, tiling and padding: Unpack, Split, SplitV (several outputs),
//! Slice, GatherV2, Tile, PadV2, MirrorPad and Range.
//!
//! Index operands (axes, sizes, begins, multiples, paddings) must be constants after folding and
//! are written as `int32`, TFLite's index type; a `Range` or `GatherV2` whose operands are all
//! constant has already been folded (see [`crate::graphdef::fold`]). Output shapes follow TF's
//! shape functions, with `-1` kept for dims unknown until run time.

use super::{Lowerer, Node, Val};
use crate::graphdef::error::Result;
use crate::graphdef::shape::norm_axis;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, MirrorPadMode};
use ferrolite_model::DType;

/// The input value, its known shape and its tensor.
fn data(lw: &mut Lowerer<'_>, node: &Node<'_>, i: usize) -> Result<(Val, Vec<i64>, usize)> {
    let x = node.input(i)?.clone();
    let s = lw
        .shape(&x)
        .ok_or_else(|| node.bad("the input's rank is unknown (it comes from a custom op)"))?;
    let t = lw.tensor(&x);
    Ok((x, s, t))
}

/// A constant scalar axis (input `i`) normalized against `rank`.
fn const_axis(node: &Node<'_>, i: usize, rank: usize) -> Result<usize> {
    let axis = *node
        .const_ints(i, "the axis")?
        .first()
        .ok_or_else(|| node.bad("empty axis"))?;
    norm_axis(axis, rank).ok_or_else(|| node.bad(format!("axis {axis} out of range")))
}

/// Emits an operator with several outputs of the given shapes; output `k > 0` is named
/// `node:k`, as TF names it.
fn emit_multi(
    lw: &mut Lowerer<'_>,
    node: &Node<'_>,
    op: B,
    inputs: Vec<Option<usize>>,
    outs: &[(DType, Vec<i64>)],
    options: Option<BuiltinOptions>,
) -> Vec<Val> {
    let ts: Vec<usize> = outs
        .iter()
        .enumerate()
        .map(|(k, (d, s))| {
            let name = if k == 0 {
                node.def.name.clone()
            } else {
                format!("{}:{k}", node.def.name)
            };
            lw.new_tensor(&name, *d, Some(s))
        })
        .collect();
    lw.b.op(op, inputs, ts.clone(), options);
    ts.into_iter().map(Val::Tensor).collect()
}

/// `Unpack` → UNPACK into `num` tensors without the axis.
pub fn unpack(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<Vec<Val>> {
    let (x, s, xt) = data(lw, node, 0)?;
    let a = node.attrs();
    let axis = a.int("axis", Some(0))?;
    let ax =
        norm_axis(axis, s.len()).ok_or_else(|| node.bad(format!("axis {axis} out of range")))?;
    let num = a.int("num", Some(s[ax]))?;
    if num < 0 || (s[ax] >= 0 && s[ax] != num) {
        return Err(a.err("num", format!("{num} does not match dim {ax} of {s:?}")));
    }
    let mut piece = s.clone();
    piece.remove(ax);
    let dtype = lw.dtype(&x);
    let outs = vec![(dtype, piece); num as usize];
    let options = tflite::UnpackOptions {
        num: num as i32,
        axis: ax as i32,
    };
    Ok(emit_multi(
        lw,
        node,
        B::Unpack,
        vec![Some(xt)],
        &outs,
        Some(BuiltinOptions::UnpackOptions(Box::new(options))),
    ))
}

/// The output shapes of cutting `s` along `ax` into pieces of `sizes`.
fn pieces(dtype: DType, s: &[i64], ax: usize, sizes: &[i64]) -> Vec<(DType, Vec<i64>)> {
    sizes
        .iter()
        .map(|&n| {
            let mut p = s.to_vec();
            p[ax] = n;
            (dtype, p)
        })
        .collect()
}

/// `Split(axis, value)` → SPLIT (operands in the same order) into `num_split` equal pieces.
pub fn split(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<Vec<Val>> {
    let (x, s, xt) = data(lw, node, 1)?;
    let ax = const_axis(node, 0, s.len())?;
    let a = node.attrs();
    let num = a.int("num_split", None)?;
    if num <= 0 || (s[ax] >= 0 && s[ax] % num != 0) {
        return Err(a.err(
            "num_split",
            format!("{num} does not divide dim {ax} of {s:?}"),
        ));
    }
    let each = if s[ax] < 0 { -1 } else { s[ax] / num };
    let outs = pieces(lw.dtype(&x), &s, ax, &vec![each; num as usize]);
    let at = lw.const_i32(format!("{}/axis", node.def.name), vec![], &[ax as i64]);
    let options = tflite::SplitOptions {
        num_splits: num as i32,
    };
    Ok(emit_multi(
        lw,
        node,
        B::Split,
        vec![Some(at), Some(xt)],
        &outs,
        Some(BuiltinOptions::SplitOptions(Box::new(options))),
    ))
}

/// `SplitV(value, size_splits, axis)` → SPLIT_V; one size may be `-1` (the rest).
pub fn split_v(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<Vec<Val>> {
    let (x, s, xt) = data(lw, node, 0)?;
    let mut sizes = node.const_ints(1, "size_splits")?;
    let ax = const_axis(node, 2, s.len())?;
    let unknown: Vec<usize> = (0..sizes.len()).filter(|&k| sizes[k] == -1).collect();
    let known: i64 = sizes.iter().filter(|&&v| v >= 0).sum();
    if sizes.is_empty() || unknown.len() > 1 || sizes.iter().any(|&v| v < -1) {
        return Err(node.bad(format!("invalid size_splits {sizes:?}")));
    }
    if s[ax] >= 0 {
        match unknown.first() {
            Some(&k) if known <= s[ax] => sizes[k] = s[ax] - known,
            None if known == s[ax] => {}
            _ => {
                return Err(node.bad(format!(
                    "size_splits {sizes:?} do not add up to dim {ax} of {s:?}"
                )))
            }
        }
    }
    let outs = pieces(lw.dtype(&x), &s, ax, &sizes);
    let name = &node.def.name;
    let st = lw.const_i32(format!("{name}/size_splits"), vec![sizes.len()], &sizes);
    let at = lw.const_i32(format!("{name}/axis"), vec![], &[ax as i64]);
    let options = tflite::SplitVOptions {
        num_splits: sizes.len() as i32,
    };
    Ok(emit_multi(
        lw,
        node,
        B::SplitV,
        vec![Some(xt), Some(st), Some(at)],
        &outs,
        Some(BuiltinOptions::SplitVOptions(Box::new(options))),
    ))
}

/// `Slice(x, begin, size)` → SLICE; a size of `-1` means "to the end".
pub fn slice(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s, xt) = data(lw, node, 0)?;
    let begin = node.const_ints(1, "begin")?;
    let size = node.const_ints(2, "size")?;
    if begin.len() != s.len() || size.len() != s.len() {
        return Err(node.bad(format!(
            "begin {begin:?} and size {size:?} do not fit a rank-{} input",
            s.len()
        )));
    }
    let mut out = Vec::with_capacity(s.len());
    for k in 0..s.len() {
        let (b, n, d) = (begin[k], size[k], s[k]);
        let bad = b < 0 || n < -1 || (d >= 0 && (b > d || (n >= 0 && b + n > d)));
        if bad {
            return Err(node.bad(format!(
                "slice [{b}, +{n}) is out of range for dim {k} of size {d}"
            )));
        }
        out.push(match (n, d) {
            (-1, d) if d >= 0 => d - b,
            (-1, _) => -1,
            (n, _) => n,
        });
    }
    let name = &node.def.name;
    let bt = lw.const_i32(format!("{name}/begin"), vec![s.len()], &begin);
    let zt = lw.const_i32(format!("{name}/size"), vec![s.len()], &size);
    Ok(lw.emit(
        B::Slice,
        vec![Some(xt), Some(bt), Some(zt)],
        name,
        lw.dtype(&x),
        Some(&out),
        None,
    ))
}

/// `Tile(x, multiples)` → TILE with `int32` multiples.
pub fn tile(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s, xt) = data(lw, node, 0)?;
    let m = node.const_ints(1, "the multiples")?;
    if m.len() != s.len() || m.iter().any(|&v| v < 0) {
        return Err(node.bad(format!(
            "multiples {m:?} do not fit a rank-{} input",
            s.len()
        )));
    }
    let limit = i64::from(i32::MAX);
    let out: Option<Vec<i64>> = s
        .iter()
        .zip(&m)
        .map(|(&d, &k)| match d {
            _ if k > limit => None,
            d if d < 0 => Some(-1),
            d => d.checked_mul(k).filter(|&n| n <= limit),
        })
        .collect();
    let out = out.ok_or_else(|| {
        node.bad(format!(
            "tiling {s:?} by {m:?} gives a dimension above TFLite's 2^31-1"
        ))
    })?;
    let mt = lw.const_i32(format!("{}/multiples", node.def.name), vec![m.len()], &m);
    Ok(lw.emit(
        B::Tile,
        vec![Some(xt), Some(mt)],
        &node.def.name,
        lw.dtype(&x),
        Some(&out),
        None,
    ))
}

/// `GatherV2(params, indices, axis)` → GATHER with `axis` and `batch_dims` options.
pub fn gather(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (p, ps, pt) = data(lw, node, 0)?;
    let idx = node.input(1)?.clone();
    let is = lw
        .shape(&idx)
        .ok_or_else(|| node.bad("the indices' rank is unknown"))?;
    let ax = const_axis(node, 2, ps.len())?;
    let bd = node.attrs().int("batch_dims", Some(0))?;
    let bd = if bd < 0 { bd + is.len() as i64 } else { bd };
    if bd < 0 || bd as usize > ax || bd as usize > is.len() {
        return Err(node.bad(format!("batch_dims {bd} is out of range")));
    }
    let it = match idx.as_const() {
        Some(c) => {
            let v = node.const_ints(1, "the indices")?;
            if let Some(bad) = v.iter().find(|&&i| i < 0 || (ps[ax] >= 0 && i >= ps[ax])) {
                return Err(node.bad(format!(
                    "index {bad} is out of range for dim {ax} of {ps:?}"
                )));
            }
            lw.const_i32(format!("{}/indices", node.def.name), c.shape.clone(), &v)
        }
        None => {
            if !matches!(lw.dtype(&idx), DType::I32 | DType::I64) {
                return Err(node.bad("indices must be int32 or int64"));
            }
            lw.tensor(&idx)
        }
    };
    let mut out = ps[..ax].to_vec();
    out.extend_from_slice(&is[bd as usize..]);
    out.extend_from_slice(&ps[ax + 1..]);
    let options = tflite::GatherOptions {
        axis: ax as i32,
        batch_dims: bd as i32,
    };
    Ok(lw.emit(
        B::Gather,
        vec![Some(pt), Some(it)],
        &node.def.name,
        lw.dtype(&p),
        Some(&out),
        Some(BuiltinOptions::GatherOptions(Box::new(options))),
    ))
}

/// Constant `[rank, 2]` paddings and the padded shape.
fn paddings(node: &Node<'_>, s: &[i64]) -> Result<(Vec<i64>, Vec<i64>)> {
    let p = node.const_ints(1, "the paddings")?;
    if p.len() != 2 * s.len() || p.iter().any(|&v| v < 0) {
        return Err(node.bad(format!(
            "paddings {p:?} do not fit a rank-{} input",
            s.len()
        )));
    }
    let out = s
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
    Ok((p, out))
}

/// `PadV2(x, paddings, constant_values)` → PADV2.
pub fn pad_v2(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s, xt) = data(lw, node, 0)?;
    let (p, out) = paddings(node, &s)?;
    let cv = node.input(2)?.clone();
    if lw.dtype(&cv) != lw.dtype(&x) || lw.shape(&cv).is_some_and(|c| !c.is_empty()) {
        return Err(node.bad("constant_values must be a scalar of the input's type"));
    }
    let pt = lw.const_i32(format!("{}/paddings", node.def.name), vec![s.len(), 2], &p);
    let ct = lw.tensor(&cv);
    Ok(lw.emit(
        B::Padv2,
        vec![Some(xt), Some(pt), Some(ct)],
        &node.def.name,
        lw.dtype(&x),
        Some(&out),
        None,
    ))
}

/// `MirrorPad` (`REFLECT` or `SYMMETRIC`) → MIRROR_PAD.
pub fn mirror_pad(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let (x, s, xt) = data(lw, node, 0)?;
    let (p, out) = paddings(node, &s)?;
    let a = node.attrs();
    let (mode, extra) = match a.string("mode", None)?.as_str() {
        "REFLECT" => (MirrorPadMode::Reflect, 1),
        "SYMMETRIC" => (MirrorPadMode::Symmetric, 0),
        other => return Err(a.err("mode", format!("`{other}` is not REFLECT or SYMMETRIC"))),
    };
    // TF requires each padding to be at most the dim (minus one when reflecting).
    for (k, &d) in s.iter().enumerate() {
        if d >= 0 && (p[2 * k] > d - extra || p[2 * k + 1] > d - extra) {
            return Err(node.bad(format!(
                "paddings {p:?} are too large for dim {k} of size {d}"
            )));
        }
    }
    let pt = lw.const_i32(format!("{}/paddings", node.def.name), vec![s.len(), 2], &p);
    let options = tflite::MirrorPadOptions { mode };
    Ok(lw.emit(
        B::MirrorPad,
        vec![Some(xt), Some(pt)],
        &node.def.name,
        lw.dtype(&x),
        Some(&out),
        Some(BuiltinOptions::MirrorPadOptions(Box::new(options))),
    ))
}

/// `Range(start, limit, delta)` with run-time operands → RANGE (constant ones are folded).
pub fn range(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let vals: Vec<Val> = (0..3)
        .map(|i| node.input(i).cloned())
        .collect::<Result<_>>()?;
    let dtype = lw.dtype(&vals[0]);
    if vals.iter().any(|v| lw.dtype(v) != dtype) {
        return Err(node.bad("start, limit and delta differ in type"));
    }
    let ins: Vec<Option<usize>> = vals.iter().map(|v| Some(lw.tensor(v))).collect();
    Ok(lw.emit(B::Range, ins, &node.def.name, dtype, Some(&[-1]), None))
}
