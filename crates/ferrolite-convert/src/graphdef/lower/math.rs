//! Elementwise math, reductions and batched matmul: LeakyRelu, Elu, Square, Sqrt, Rsqrt, Exp,
//! Log, SquaredDifference, Mean/Sum/Max, ArgMax and BatchMatMulV2.
//!
//! The one-input ops map one-to-one onto TFLite builtins of the same meaning. Reductions take
//! their axes as a constant (normalized, deduplicated, written as `int32`). A `BatchMatMulV2`
//! whose right operand is a rank-2 constant becomes FULLY_CONNECTED with `keep_num_dims` (as TF's
//! converter rewrites it); any other becomes BATCH_MATMUL with numpy batch broadcasting.

use super::{Lowerer, Node};
use crate::graphdef::error::Result;
use crate::graphdef::shape::{broadcast, norm_axis};
use crate::graphdef::tensor::dtype_of;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions, TensorType};
use ferrolite_model::DType;

/// `LeakyRelu` → LEAKY_RELU with TF's `alpha` (default 0.2).
pub fn leaky_relu(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let alpha = node.attrs().float("alpha", Some(0.2))?;
    let x = node.input(0)?.clone();
    let (shape, dtype) = (lw.shape(&x), lw.dtype(&x));
    let xt = lw.tensor(&x);
    let options = tflite::LeakyReluOptions { alpha };
    Ok(lw.emit(
        B::LeakyRelu,
        vec![Some(xt)],
        &node.def.name,
        dtype,
        shape.as_deref(),
        Some(BuiltinOptions::LeakyReluOptions(Box::new(options))),
    ))
}

/// The reduction axes of input 1, normalized against `rank`, sorted and deduplicated.
fn axes(node: &Node<'_>, rank: usize) -> Result<Vec<usize>> {
    let raw = node.const_ints(1, "the reduction axes")?;
    let mut norm: Vec<usize> = raw
        .iter()
        .map(|&a| norm_axis(a, rank).ok_or_else(|| node.bad(format!("axis {a} out of range"))))
        .collect::<Result<_>>()?;
    norm.sort_unstable();
    norm.dedup();
    Ok(norm)
}

/// `Mean` / `Sum` / `Max` → MEAN / SUM / REDUCE_MAX with `int32` axes and `keep_dims`.
pub fn reduce(lw: &mut Lowerer<'_>, node: &Node<'_>, op: B) -> Result<usize> {
    let x = node.input(0)?.clone();
    let s = lw
        .shape(&x)
        .ok_or_else(|| node.bad("the input's rank is unknown (it comes from a custom op)"))?;
    let norm = axes(node, s.len())?;
    let keep = node.attrs().bool("keep_dims", false)?;
    let shape: Vec<i64> = s
        .iter()
        .enumerate()
        .filter_map(|(k, &d)| match (norm.contains(&k), keep) {
            (true, true) => Some(1),
            (true, false) => None,
            (false, _) => Some(d),
        })
        .collect();
    let axis_vals: Vec<i64> = norm.iter().map(|&a| a as i64).collect();
    let at = lw.const_i32(
        format!("{}/axes", node.def.name),
        vec![norm.len()],
        &axis_vals,
    );
    let xt = lw.tensor(&x);
    let options = tflite::ReducerOptions { keep_dims: keep };
    Ok(lw.emit(
        op,
        vec![Some(xt), Some(at)],
        &node.def.name,
        lw.dtype(&x),
        Some(&shape),
        Some(BuiltinOptions::ReducerOptions(Box::new(options))),
    ))
}

/// `ArgMax` → ARG_MAX with a constant axis and TF's `output_type` (default int64).
pub fn arg_max(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let x = node.input(0)?.clone();
    let s = lw
        .shape(&x)
        .ok_or_else(|| node.bad("the input's rank is unknown (it comes from a custom op)"))?;
    let axis = *node
        .const_ints(1, "the dimension")?
        .first()
        .ok_or_else(|| node.bad("empty dimension"))?;
    let a =
        norm_axis(axis, s.len()).ok_or_else(|| node.bad(format!("axis {axis} out of range")))?;
    let attrs = node.attrs();
    let out = match attrs.dtype("output_type")?.map(dtype_of) {
        None | Some(Some(DType::I64)) => DType::I64,
        Some(Some(DType::I32)) => DType::I32,
        Some(other) => {
            return Err(attrs.err(
                "output_type",
                format!("expected int32 or int64, found {other:?}"),
            ))
        }
    };
    let mut shape = s.clone();
    shape.remove(a);
    let at = lw.const_i32(format!("{}/axis", node.def.name), vec![1], &[a as i64]);
    let xt = lw.tensor(&x);
    let options = tflite::ArgMaxOptions {
        output_type: if out == DType::I64 {
            TensorType::Int64
        } else {
            TensorType::Int32
        },
    };
    Ok(lw.emit(
        B::ArgMax,
        vec![Some(xt), Some(at)],
        &node.def.name,
        out,
        Some(&shape),
        Some(BuiltinOptions::ArgMaxOptions(Box::new(options))),
    ))
}

/// `BatchMatMulV2` → FULLY_CONNECTED (`keep_num_dims`) for a rank-2 constant right operand and an
/// untransposed left one, else BATCH_MATMUL.
pub fn batch_matmul(lw: &mut Lowerer<'_>, node: &Node<'_>) -> Result<usize> {
    let attrs = node.attrs();
    let (adj_x, adj_y) = (attrs.bool("adj_x", false)?, attrs.bool("adj_y", false)?);
    let (a, b) = (node.input(0)?.clone(), node.input(1)?.clone());
    let (Some(sa), Some(sb)) = (
        lw.shape(&a).filter(|s| s.len() >= 2),
        lw.shape(&b).filter(|s| s.len() >= 2),
    ) else {
        return Err(node.bad("BatchMatMul operands must have known rank >= 2"));
    };
    if lw.dtype(&a) != DType::F32 || lw.dtype(&b) != DType::F32 {
        return Err(node.bad("only float32 BatchMatMul is supported"));
    }
    let (ra, rb) = (sa.len(), sb.len());
    let (m, ka) = if adj_x {
        (sa[ra - 1], sa[ra - 2])
    } else {
        (sa[ra - 2], sa[ra - 1])
    };
    let (kb, n) = if adj_y {
        (sb[rb - 1], sb[rb - 2])
    } else {
        (sb[rb - 2], sb[rb - 1])
    };
    if ka >= 0 && kb >= 0 && ka != kb {
        return Err(node.bad(format!("inner dimensions differ: {ka} and {kb}")));
    }
    let batch = broadcast(&sa[..ra - 2], &sb[..rb - 2])
        .ok_or_else(|| node.bad(format!("batch dims of {sa:?} and {sb:?} do not broadcast")))?;
    let mut shape = batch;
    shape.extend([m, n]);
    let name = node.def.name.clone();
    if let Some(c) = b.as_const().filter(|_| rb == 2 && !adj_x) {
        let v = c.to_f32().unwrap_or_default();
        let (k, nn) = (kb as usize, n as usize);
        let weights: Vec<f32> = if adj_y {
            v
        } else {
            (0..nn * k).map(|i| v[(i % k) * nn + i / k]).collect()
        };
        let at = lw.tensor(&a);
        let wt = lw.const_f32(format!("{name}/weights"), vec![nn, k], &weights);
        let options = tflite::FullyConnectedOptions {
            keep_num_dims: true,
            ..Default::default()
        };
        let mut out = sa[..ra - 1].to_vec();
        out.push(n);
        return Ok(lw.emit(
            B::FullyConnected,
            vec![Some(at), Some(wt), None],
            &name,
            DType::F32,
            Some(&out),
            Some(BuiltinOptions::FullyConnectedOptions(Box::new(options))),
        ));
    }
    let (at, bt) = (lw.tensor(&a), lw.tensor(&b));
    let options = tflite::BatchMatMulOptions {
        adj_x,
        adj_y,
        ..Default::default()
    };
    Ok(lw.emit(
        B::BatchMatmul,
        vec![Some(at), Some(bt)],
        &name,
        DType::F32,
        Some(&shape),
        Some(BuiltinOptions::BatchMatMulOptions(Box::new(options))),
    ))
}
