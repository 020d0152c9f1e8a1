//! Constant folding: evaluating a node whose data inputs are all constants, so that shape
//! arithmetic (`Shape` → `StridedSlice` → `Pack` → `Reshape`), splat `Fill`s, casts of float16
//! weights and constant subexpressions never reach the model as operators.
//!
//! [`fold`] returns `Ok(None)` for ops (or dtypes) it does not evaluate; the node is then lowered
//! like any other, with its constant operands materialized. Float arithmetic is done in `f64`
//! and rounded once to the result type, which for `+ - * /` equals the `f32` result TF computes.

use super::graph::Attrs;
use super::shape::{broadcast, norm_axis, plan_slice, slice_indices, SliceSpec};
use super::tensor::{dtype_of, element_count, ConstTensor};
use ferrolite_model::DType;

/// The output shape of a `Reshape` of `input` to `target` (one `-1` allowed): the `-1` is
/// resolved when the input's element count is known.
pub fn resolve_reshape(input: &[i64], target: &[i64]) -> Result<Vec<i64>, String> {
    let unknown = target.iter().filter(|&&d| d == -1).count();
    if unknown > 1 || target.iter().any(|&d| d < -1) {
        return Err(format!("invalid target shape {target:?}"));
    }
    let known_in = input.iter().all(|&d| d >= 0);
    let product = |v: &[i64]| {
        v.iter()
            .filter(|&&d| d >= 0)
            .try_fold(1i64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("target shape {target:?} is too large"))
    };
    let n_known = product(target)?;
    let n_in = if known_in { product(input)? } else { 0 };
    if !known_in {
        return Ok(target.to_vec());
    }
    if unknown == 1 {
        if n_known == 0 || n_in % n_known != 0 {
            return Err(format!("cannot reshape {input:?} to {target:?}"));
        }
        return Ok(target
            .iter()
            .map(|&d| if d == -1 { n_in / n_known } else { d })
            .collect());
    }
    if n_known != n_in {
        return Err(format!("cannot reshape {input:?} to {target:?}"));
    }
    Ok(target.to_vec())
}

/// Largest output, in elements, that a fold which expands its inputs (broadcasting, `Fill`,
/// `Tile`, `Range`, `GatherV2`) evaluates; past it the node is lowered as an operator instead,
/// so a few bytes of shape constants cannot make the converter allocate gigabytes.
pub const MAX_FOLD_ELEMENTS: usize = 1 << 24;

/// The element count of `shape` when a fold may materialize it.
fn foldable(shape: &[usize]) -> Option<usize> {
    element_count(shape).filter(|&n| n <= MAX_FOLD_ELEMENTS)
}

fn dims_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

fn to_usize(shape: &[i64]) -> Option<Vec<usize>> {
    shape.iter().map(|&d| usize::try_from(d).ok()).collect()
}

/// For each element of `out`, the flat index of the element of `input` that broadcasts to it.
pub fn broadcast_map(out: &[usize], input: &[usize]) -> Vec<usize> {
    let n = element_count(out).unwrap_or(0);
    let off = out.len() - input.len();
    let mut res = Vec::with_capacity(n);
    let mut coord = vec![0usize; out.len()];
    for _ in 0..n {
        let mut idx = 0;
        for (k, &d) in input.iter().enumerate() {
            idx = idx * d + if d == 1 { 0 } else { coord[off + k] };
        }
        res.push(idx);
        for k in (0..out.len()).rev() {
            coord[k] += 1;
            if coord[k] < out[k] {
                break;
            }
            coord[k] = 0;
        }
    }
    res
}

fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
}

fn binary(op: &str, a: &ConstTensor, b: &ConstTensor) -> Result<Option<ConstTensor>, String> {
    if a.dtype != b.dtype {
        return Err(format!(
            "operand types differ: {:?} and {:?}",
            a.dtype, b.dtype
        ));
    }
    let out = broadcast(&dims_i64(&a.shape), &dims_i64(&b.shape))
        .and_then(|s| to_usize(&s))
        .ok_or_else(|| format!("shapes {:?} and {:?} do not broadcast", a.shape, b.shape))?;
    if element_count(&out).is_none_or(|n| n > MAX_FOLD_ELEMENTS.max(a.len()).max(b.len())) {
        return Ok(None);
    }
    let (ia, ib) = (broadcast_map(&out, &a.shape), broadcast_map(&out, &b.shape));
    if is_float(a.dtype) {
        let (Some(x), Some(y)) = (a.to_f64(), b.to_f64()) else {
            return Ok(None);
        };
        let f: fn(f64, f64) -> f64 = match op {
            "Add" | "AddV2" => |p, q| p + q,
            "Sub" => |p, q| p - q,
            "Mul" => |p, q| p * q,
            "RealDiv" | "Div" => |p, q| p / q,
            "Maximum" => f64::max,
            "Minimum" => f64::min,
            "FloorDiv" => |p, q| (p / q).floor(),
            _ => return Ok(None),
        };
        let v: Vec<f64> = ia.iter().zip(&ib).map(|(&i, &j)| f(x[i], y[j])).collect();
        return Ok(ConstTensor::from_f64(a.dtype, out, &v));
    }
    let (Some(x), Some(y)) = (a.to_i64(), b.to_i64()) else {
        return Ok(None);
    };
    if a.dtype == DType::Bool {
        return Ok(None);
    }
    let mut v = Vec::with_capacity(ia.len());
    for (&i, &j) in ia.iter().zip(&ib) {
        let (p, q) = (x[i], y[j]);
        v.push(match op {
            "Add" | "AddV2" => p.wrapping_add(q),
            "Sub" => p.wrapping_sub(q),
            "Mul" => p.wrapping_mul(q),
            "Maximum" => p.max(q),
            "Minimum" => p.min(q),
            "FloorDiv" | "Div" if q == 0 => return Err("integer division by zero".into()),
            "FloorDiv" => p.div_euclid(q) - i64::from(q < 0 && p.rem_euclid(q) != 0),
            _ => return Ok(None),
        });
    }
    Ok(ConstTensor::from_i64_as(a.dtype, out, &v))
}

fn unary(op: &str, a: &ConstTensor) -> Option<ConstTensor> {
    if !is_float(a.dtype) {
        return None;
    }
    let f: fn(f64) -> f64 = match op {
        "Relu" => |x| x.max(0.0),
        "Relu6" => |x| x.clamp(0.0, 6.0),
        "Sigmoid" => |x| 1.0 / (1.0 + (-x).exp()),
        "Tanh" => f64::tanh,
        "Square" => |x| x * x,
        "Sqrt" => f64::sqrt,
        "Rsqrt" => |x| 1.0 / x.sqrt(),
        "Exp" => f64::exp,
        "Log" => f64::ln,
        _ => return None,
    };
    let v: Vec<f64> = a.to_f64()?.into_iter().map(f).collect();
    ConstTensor::from_f64(a.dtype, a.shape.clone(), &v)
}

fn ints(c: &ConstTensor, what: &str) -> Result<Vec<i64>, String> {
    c.to_i64()
        .filter(|_| c.dtype != DType::Bool)
        .ok_or_else(|| format!("{what} must be an integer tensor, found {:?}", c.dtype))
}

/// A tensor of `shape` whose element at each output coordinate comes from `src` via `index`.
fn permute(c: &ConstTensor, perm: &[usize]) -> ConstTensor {
    let out: Vec<usize> = perm.iter().map(|&p| c.shape[p]).collect();
    let n = c.len();
    let mut strides = vec![1usize; c.shape.len()];
    for k in (0..c.shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * c.shape[k + 1];
    }
    let mut coord = vec![0usize; out.len()];
    let mut idx = Vec::with_capacity(n);
    for _ in 0..n {
        idx.push(perm.iter().zip(&coord).map(|(&p, &x)| x * strides[p]).sum());
        for k in (0..out.len()).rev() {
            coord[k] += 1;
            if coord[k] < out[k] {
                break;
            }
            coord[k] = 0;
        }
    }
    c.gather(out, idx)
}

/// Joins `parts` (equal shapes except along `axis`) along `axis`.
pub fn concat(parts: &[&ConstTensor], axis: usize) -> ConstTensor {
    let first = parts[0];
    let outer: usize = first.shape[..axis].iter().product();
    let mut shape = first.shape.clone();
    shape[axis] = parts.iter().map(|p| p.shape[axis]).sum();
    let mut data = Vec::new();
    for o in 0..outer {
        for p in parts {
            let chunk = p.data.len() / outer.max(1);
            data.extend_from_slice(&p.data[o * chunk..(o + 1) * chunk]);
        }
    }
    ConstTensor {
        dtype: first.dtype,
        shape,
        data,
    }
}

/// Evaluates node `op` on constant inputs; `Ok(None)` when the op is not folded.
pub fn fold(
    op: &str,
    attrs: &Attrs<'_>,
    inputs: &[&ConstTensor],
) -> Result<Option<ConstTensor>, String> {
    let arg = |i: usize| {
        inputs
            .get(i)
            .copied()
            .ok_or_else(|| format!("needs at least {} inputs", i + 1))
    };
    let e = |err: super::error::GraphDefError| err.to_string();
    Ok(Some(match op {
        "Add" | "AddV2" | "Sub" | "Mul" | "RealDiv" | "Maximum" | "Minimum" | "FloorDiv" => {
            return binary(op, arg(0)?, arg(1)?)
        }
        "Relu" | "Relu6" | "Sigmoid" | "Tanh" | "Square" | "Sqrt" | "Rsqrt" | "Exp" | "Log" => {
            return Ok(unary(op, arg(0)?))
        }
        "Range" => return range(arg(0)?, arg(1)?, arg(2)?).map(Some),
        "Tile" => {
            let x = arg(0)?;
            let m = ints(arg(1)?, "multiples")?;
            return tile(x, &m);
        }
        "Slice" => {
            let x = arg(0)?;
            let (b, n) = (ints(arg(1)?, "begin")?, ints(arg(2)?, "size")?);
            return slice(x, &b, &n).map(Some);
        }
        "GatherV2" if attrs.int("batch_dims", Some(0)).map_err(e)? == 0 => {
            let x = arg(0)?;
            let idx = ints(arg(1)?, "indices")?;
            let axis = *ints(arg(2)?, "axis")?.first().ok_or("empty axis")?;
            let a = norm_axis(axis, x.shape.len()).ok_or("axis out of range")?;
            return gather(x, &arg(1)?.shape, &idx, a);
        }
        "Cast" => {
            let to = attrs.dtype("DstT").map_err(e)?.and_then(dtype_of);
            let Some(to) = to else { return Ok(None) };
            return Ok(arg(0)?.cast(to));
        }
        "Fill" => {
            let dims = ints(arg(0)?, "dims")?;
            let v = arg(1)?;
            if !v.is_empty() && v.len() != 1 {
                return Err("value must be a scalar".into());
            }
            let shape = to_usize(&dims).ok_or_else(|| format!("negative dims {dims:?}"))?;
            let Some(n) = foldable(&shape) else {
                return Ok(None);
            };
            v.gather(shape, std::iter::repeat_n(0, n))
        }
        "Reshape" => {
            let x = arg(0)?;
            let target = resolve_reshape(&dims_i64(&x.shape), &ints(arg(1)?, "shape")?)?;
            x.reshaped(to_usize(&target).ok_or("unresolved shape")?)
        }
        "ExpandDims" => {
            let x = arg(0)?;
            let axis = *ints(arg(1)?, "axis")?.first().ok_or("empty axis")?;
            let a = norm_axis(axis, x.shape.len() + 1).ok_or("axis out of range")?;
            let mut shape = x.shape.clone();
            shape.insert(a, 1);
            x.reshaped(shape)
        }
        "Squeeze" => {
            let x = arg(0)?;
            let dims = attrs.ints("squeeze_dims", Some(&[])).map_err(e)?;
            let drop: Vec<usize> = dims
                .iter()
                .map(|&d| norm_axis(d, x.shape.len()).ok_or("axis out of range"))
                .collect::<Result<_, _>>()?;
            let shape = x
                .shape
                .iter()
                .enumerate()
                .filter(|&(k, &d)| !(d == 1 && (drop.is_empty() || drop.contains(&k))))
                .map(|(_, &d)| d)
                .collect();
            x.reshaped(shape)
        }
        "Pack" => {
            let axis = attrs.int("axis", Some(0)).map_err(e)?;
            let first = arg(0)?;
            if inputs
                .iter()
                .any(|t| t.shape != first.shape || t.dtype != first.dtype)
            {
                return Err("Pack inputs differ in shape or type".into());
            }
            let a = norm_axis(axis, first.shape.len() + 1).ok_or("axis out of range")?;
            let mut unit = first.shape.clone();
            unit.insert(a, 1);
            let parts: Vec<ConstTensor> = inputs.iter().map(|t| t.reshaped(unit.clone())).collect();
            concat(&parts.iter().collect::<Vec<_>>(), a)
        }
        "ConcatV2" => {
            let (axis_t, parts) = inputs.split_last().ok_or("no inputs")?;
            let first = parts.first().ok_or("no values")?;
            let axis = *ints(axis_t, "axis")?.first().ok_or("empty axis")?;
            let a = norm_axis(axis, first.shape.len()).ok_or("axis out of range")?;
            let ok = parts.iter().all(|p| {
                p.dtype == first.dtype
                    && p.shape.len() == first.shape.len()
                    && p.shape
                        .iter()
                        .zip(&first.shape)
                        .enumerate()
                        .all(|(k, (x, y))| k == a || x == y)
            });
            if !ok {
                return Err("ConcatV2 inputs differ in type or shape".into());
            }
            concat(parts, a)
        }
        "StridedSlice" => {
            let x = arg(0)?;
            let spec = slice_spec(attrs, arg(1)?, arg(2)?, arg(3)?)?;
            let plan = plan_slice(&dims_i64(&x.shape), &spec)?;
            let shape = to_usize(&plan.out_shape).ok_or("unresolved slice")?;
            x.gather(shape, slice_indices(&x.shape, &plan))
        }
        "Transpose" => {
            let x = arg(0)?;
            let perm = ints(arg(1)?, "perm")?;
            let p = permutation(&perm, x.shape.len())?;
            permute(x, &p)
        }
        _ => return Ok(None),
    }))
}

/// `Range(start, limit, delta)` of scalars, in the type of `start`.
fn range(
    start: &ConstTensor,
    limit: &ConstTensor,
    delta: &ConstTensor,
) -> Result<ConstTensor, String> {
    let one = |c: &ConstTensor| match c.to_f64().as_deref() {
        Some([v]) => Ok(*v),
        _ => Err("start, limit and delta must be scalars".to_string()),
    };
    let (s, l, d) = (one(start)?, one(limit)?, one(delta)?);
    if d == 0.0 || (l - s) * d < 0.0 {
        return Err(format!("empty or infinite range ({s}, {l}, {d})"));
    }
    let n = ((l - s) / d).abs().ceil();
    if n.is_nan() || n > MAX_FOLD_ELEMENTS as f64 {
        return Err(format!(
            "range of {n} elements is larger than the {MAX_FOLD_ELEMENTS} the converter folds"
        ));
    }
    let n = n as usize;
    let v: Vec<f64> = (0..n).map(|i| s + i as f64 * d).collect();
    ConstTensor::from_f64(start.dtype, vec![n], &v).ok_or_else(|| "unsupported type".into())
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1usize; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        st[k] = st[k + 1] * shape[k + 1];
    }
    st
}

/// Flat source indices for each element of `out`, given a per-axis source coordinate map.
fn index_map(out: &[usize], src: &[usize], coord_of: impl Fn(usize, usize) -> usize) -> Vec<usize> {
    let st = strides(src);
    let n = element_count(out).unwrap_or(0);
    let mut coord = vec![0usize; out.len()];
    let mut res = Vec::with_capacity(n);
    for _ in 0..n {
        res.push((0..out.len()).map(|k| coord_of(k, coord[k]) * st[k]).sum());
        for k in (0..out.len()).rev() {
            coord[k] += 1;
            if coord[k] < out[k] {
                break;
            }
            coord[k] = 0;
        }
    }
    res
}

/// `Tile` of a constant.
fn tile(x: &ConstTensor, m: &[i64]) -> Result<Option<ConstTensor>, String> {
    if m.len() != x.shape.len() || m.iter().any(|&v| v < 0) {
        return Err(format!("multiples {m:?} do not fit shape {:?}", x.shape));
    }
    let out: Option<Vec<usize>> = x
        .shape
        .iter()
        .zip(m)
        .map(|(&d, &k)| d.checked_mul(usize::try_from(k).ok()?))
        .collect();
    let Some(out) = out.filter(|o| foldable(o).is_some()) else {
        return Ok(None);
    };
    let idx = index_map(&out, &x.shape, |k, c| c % x.shape[k].max(1));
    Ok(Some(x.gather(out, idx)))
}

/// `Slice` of a constant (`size` `-1` = to the end).
fn slice(x: &ConstTensor, begin: &[i64], size: &[i64]) -> Result<ConstTensor, String> {
    let r = x.shape.len();
    if begin.len() != r || size.len() != r {
        return Err(format!("begin/size do not fit shape {:?}", x.shape));
    }
    let mut out = Vec::with_capacity(r);
    for k in 0..r {
        let d = x.shape[k] as i64;
        let n = if size[k] == -1 { d - begin[k] } else { size[k] };
        if begin[k] < 0 || n < 0 || begin[k].checked_add(n).is_none_or(|end| end > d) {
            return Err(format!("slice out of range for dim {k} of size {d}"));
        }
        out.push(n as usize);
    }
    let idx = index_map(&out, &x.shape, |k, c| c + begin[k] as usize);
    Ok(x.gather(out, idx))
}

/// `GatherV2` of a constant along axis `a` (no batch dims).
fn gather(
    x: &ConstTensor,
    ishape: &[usize],
    idx: &[i64],
    a: usize,
) -> Result<Option<ConstTensor>, String> {
    let d = x.shape[a];
    if let Some(bad) = idx.iter().find(|&&i| i < 0 || i as usize >= d) {
        return Err(format!(
            "index {bad} is out of range for dim {a} of size {d}"
        ));
    }
    let outer: usize = x.shape[..a].iter().product();
    let inner: usize = x.shape[a + 1..].iter().product();
    let mut shape = x.shape[..a].to_vec();
    shape.extend_from_slice(ishape);
    shape.extend_from_slice(&x.shape[a + 1..]);
    if foldable(&shape).is_none() {
        return Ok(None);
    }
    let mut flat = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in idx {
            let base = (o * d + i as usize) * inner;
            flat.extend(base..base + inner);
        }
    }
    Ok(Some(x.gather(shape, flat)))
}

/// `perm` checked to be a permutation of `0..rank`.
pub fn permutation(perm: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    let p: Vec<usize> = perm
        .iter()
        .map(|&v| norm_axis(v, rank))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("perm {perm:?} is out of range for rank {rank}"))?;
    let mut seen = vec![false; rank];
    if p.len() != rank || p.iter().any(|&k| std::mem::replace(&mut seen[k], true)) {
        return Err(format!("perm {perm:?} is not a permutation of rank {rank}"));
    }
    Ok(p)
}

/// The `StridedSlice` spec of a node from its attributes and constant begin/end/strides.
pub fn slice_spec(
    attrs: &Attrs<'_>,
    begin: &ConstTensor,
    end: &ConstTensor,
    strides: &ConstTensor,
) -> Result<SliceSpec, String> {
    let e = |err: super::error::GraphDefError| err.to_string();
    Ok(SliceSpec {
        begin: ints(begin, "begin")?,
        end: ints(end, "end")?,
        strides: ints(strides, "strides")?,
        begin_mask: attrs.int("begin_mask", Some(0)).map_err(e)?,
        end_mask: attrs.int("end_mask", Some(0)).map_err(e)?,
        ellipsis_mask: attrs.int("ellipsis_mask", Some(0)).map_err(e)?,
        new_axis_mask: attrs.int("new_axis_mask", Some(0)).map_err(e)?,
        shrink_axis_mask: attrs.int("shrink_axis_mask", Some(0)).map_err(e)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prost::tensorflow::NodeDef;

    fn node(op: &str) -> NodeDef {
        NodeDef {
            name: "n".into(),
            op: op.into(),
            ..Default::default()
        }
    }

    fn run(op: &str, inputs: &[&ConstTensor]) -> ConstTensor {
        let n = node(op);
        fold(op, &Attrs { node: &n }, inputs).unwrap().unwrap()
    }

    #[test]
    fn arithmetic_broadcasts() {
        let a = ConstTensor::from_f32(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = ConstTensor::from_f32(vec![2], &[10.0, 20.0]);
        assert_eq!(
            run("AddV2", &[&a, &b]).to_f32().unwrap(),
            vec![11.0, 22.0, 13.0, 24.0]
        );
        assert_eq!(run("RealDiv", &[&a, &b]).shape, vec![2, 2]);
        let i = ConstTensor::from_i32(vec![2], &[-7, 7]);
        let d = ConstTensor::from_i32(vec![], &[2]);
        assert_eq!(run("FloorDiv", &[&i, &d]).to_i64().unwrap(), vec![-4, 3]);
        assert_eq!(run("Mul", &[&i, &d]).dtype, DType::I32);
    }

    #[test]
    fn layout_ops_fold() {
        let x = ConstTensor::from_i32(vec![2, 3], &[0, 1, 2, 3, 4, 5]);
        let perm = ConstTensor::from_i32(vec![2], &[1, 0]);
        assert_eq!(
            run("Transpose", &[&x, &perm]).to_i64().unwrap(),
            vec![0, 3, 1, 4, 2, 5]
        );
        let ax = ConstTensor::from_i32(vec![], &[1]);
        let c = run("ConcatV2", &[&x, &x, &ax]);
        assert_eq!(c.shape, vec![2, 6]);
        assert_eq!(c.to_i64().unwrap()[..6], [0, 1, 2, 0, 1, 2]);
        let s = ConstTensor::from_i32(vec![], &[4]);
        let m = ConstTensor::from_i32(vec![], &[-1]);
        let p = run("Pack", &[&s, &m]);
        assert_eq!(
            (p.shape.clone(), p.to_i64().unwrap()),
            (vec![2], vec![4, -1])
        );
        let r = run("Reshape", &[&x, &ConstTensor::from_i32(vec![1], &[-1])]);
        assert_eq!(r.shape, vec![6]);
        let f = run(
            "Fill",
            &[
                &ConstTensor::from_i32(vec![1], &[3]),
                &ConstTensor::from_f32(vec![], &[0.5]),
            ],
        );
        assert_eq!(f.to_f32().unwrap(), vec![0.5; 3]);
        let b = ConstTensor::from_i32(vec![1], &[1]);
        let e = ConstTensor::from_i32(vec![1], &[2]);
        let st = ConstTensor::from_i32(vec![1], &[1]);
        let sl = run(
            "StridedSlice",
            &[&ConstTensor::from_i32(vec![3], &[7, 8, 9]), &b, &e, &st],
        );
        assert_eq!(sl.to_i64().unwrap(), vec![8]);
        assert!(resolve_reshape(&[2, 3], &[4, -1]).is_err());
        assert_eq!(resolve_reshape(&[-1, 3], &[-1, 3]).unwrap(), vec![-1, 3]);
    }

    #[test]
    fn range_tile_slice_and_gather_fold() {
        let i = |v: &[i32]| ConstTensor::from_i32(vec![v.len()], v);
        let sc = |v: i32| ConstTensor::from_i32(vec![], &[v]);
        let r = run("Range", &[&sc(1), &sc(8), &sc(3)]);
        assert_eq!(r.to_i64().unwrap(), vec![1, 4, 7]);
        let x = ConstTensor::from_i32(vec![2, 3], &[0, 1, 2, 3, 4, 5]);
        let t = run("Tile", &[&x, &i(&[1, 2])]);
        assert_eq!(t.shape, vec![2, 6]);
        assert_eq!(t.to_i64().unwrap()[..6], [0, 1, 2, 0, 1, 2]);
        let sl = run("Slice", &[&x, &i(&[1, 1]), &i(&[1, -1])]);
        assert_eq!(
            (sl.shape.clone(), sl.to_i64().unwrap()),
            (vec![1, 2], vec![4, 5])
        );
        let g = run("GatherV2", &[&x, &i(&[2, 0]), &sc(1)]);
        assert_eq!(g.to_i64().unwrap(), vec![2, 0, 5, 3]);
        let n = node("Slice");
        assert!(fold(
            "Slice",
            &Attrs { node: &n },
            &[&x, &i(&[1, 1]), &i(&[2, 1])]
        )
        .is_err());
        let sq = run("Rsqrt", &[&ConstTensor::from_f32(vec![1], &[4.0])]);
        assert_eq!(sq.to_f32().unwrap(), vec![0.5]);
    }

    #[test]
    fn unfoldable_ops_are_left_alone() {
        let a = ConstTensor::from_f32(vec![1], &[1.0]);
        let n = node("Conv2D");
        assert_eq!(
            fold("Conv2D", &Attrs { node: &n }, &[&a, &a]).unwrap(),
            None
        );
    }
}
