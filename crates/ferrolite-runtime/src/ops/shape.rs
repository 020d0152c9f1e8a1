//! Glue for the shape-only ops RESHAPE, SQUEEZE, EXPAND_DIMS and SHAPE, plus the helpers the
//! data-movement families share (element-size dispatch, quantization equality, operand access).
//!
//! RESHAPE, SQUEEZE and EXPAND_DIMS never look at element values: they compute the new shape at
//! prepare time and their kernel is a byte copy, so every fixed-size dtype works. SHAPE writes the
//! input's shape as int32 or int64; it only needs shapes, so the interpreter folds it at prepare
//! time even for activation inputs (which makes dynamic-batch shape arithmetic constant).

use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::{dim_from_i64, normalize_axis, KernelError};
use crate::kernels::fill;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O, TensorType};
use ferrolite_model::{DType, Quantization};

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Reshape, 1, prepare_reshape)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Squeeze, 2, prepare_squeeze)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::ExpandDims, 1, prepare_expand_dims)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Shape, 1, prepare_shape)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
}

/// Bytes per element of `dtype` when it is a fixed-size, whole-byte type (what the generic
/// data-movement kernels can move as plain words).
pub(crate) fn elem_size(dtype: DType) -> Option<usize> {
    dtype.bits().filter(|b| b % 8 == 0).map(|b| b / 8)
}

/// Evaluates `$body` with `$t` bound to the unsigned word type as wide as one element of
/// `$dtype` (1, 2, 4, 8 or 16 bytes); other dtypes yield a [`KernelError::Param`].
macro_rules! by_size {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $crate::ops::shape::elem_size($dtype) {
            Some(1) => {
                type $t = u8;
                $body
            }
            Some(2) => {
                type $t = u16;
                $body
            }
            Some(4) => {
                type $t = u32;
                $body
            }
            Some(8) => {
                type $t = u64;
                $body
            }
            Some(16) => {
                type $t = u128;
                $body
            }
            _ => Err($crate::kernels::common::KernelError::Param(format!(
                "dtype {} cannot be moved element-wise",
                $dtype
            ))),
        }
    };
}
pub(crate) use by_size;

/// Input `i` of a kernel call, which must be present.
pub(crate) fn operand<'v, 'a>(
    inputs: &'v [Option<TensorView<'a>>],
    i: usize,
) -> Result<&'v TensorView<'a>, KernelError> {
    inputs
        .get(i)
        .and_then(Option::as_ref)
        .ok_or_else(|| KernelError::Param(format!("input {i} is missing")))
}

/// Output `i` of a kernel call.
pub(crate) fn result<'v, 'a>(
    outputs: &'v mut [TensorViewMut<'a>],
    i: usize,
) -> Result<&'v mut TensorViewMut<'a>, KernelError> {
    outputs
        .get_mut(i)
        .ok_or_else(|| KernelError::Param(format!("output {i} is missing")))
}

/// Fails (unsupported) unless input `i` has a whole-byte fixed-size dtype; returns it.
pub(crate) fn movable_dtype(ctx: &PrepareCtx<'_>, i: usize) -> Result<DType, RuntimeError> {
    let d = ctx.input(i)?.dtype;
    if elem_size(d).is_some() {
        Ok(d)
    } else {
        Err(ctx.unsupported(format!(
            "input {i} has dtype {d}, which cannot be moved element-wise"
        )))
    }
}

/// Affine parameters (scales, zero points with missing ones as 0) when `q` is set.
fn affine(q: Option<&Quantization>) -> Option<(Vec<f32>, Vec<i64>)> {
    let q = q.filter(|q| !q.scale.is_empty())?;
    let zps = if q.zero_point.is_empty() {
        vec![0; q.scale.len()]
    } else {
        q.zero_point.clone()
    };
    Some((q.scale.clone(), zps))
}

/// True when two scales are equal up to float noise.
fn same_scale(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

/// For quantized integer tensors, requires input `i` and output `o` to share scale and zero point
/// (TFLite's data-movement kernels copy raw values); other dtypes pass.
pub(crate) fn check_same_quant(
    ctx: &PrepareCtx<'_>,
    i: usize,
    o: usize,
) -> Result<(), RuntimeError> {
    let input = ctx.input(i)?;
    if !matches!(input.dtype, DType::I8 | DType::U8 | DType::I16) {
        return Ok(());
    }
    let a = affine(input.quant);
    let b = affine(ctx.output(o)?.quant);
    let same = match (&a, &b) {
        (None, None) => true,
        (Some((sa, za)), Some((sb, zb))) => {
            sa.len() == sb.len() && sa.iter().zip(sb).all(|(&x, &y)| same_scale(x, y)) && za == zb
        }
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(ctx.unsupported(format!(
            "input {i} and output {o} have different quantization ({a:?} vs {b:?}); \
             requantizing data movement is not implemented"
        )))
    }
}

/// Copies input 0's bytes to output 0 unchanged (RESHAPE, SQUEEZE, EXPAND_DIMS).
#[derive(Debug)]
struct CopyKernel;

impl Kernel for CopyKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        if out.bytes.len() != input.bytes.len() {
            return Err(KernelError::Shape(format!(
                "copy of {} bytes into {} bytes",
                input.bytes.len(),
                out.bytes.len()
            )));
        }
        out.bytes.copy_from_slice(input.bytes);
        Ok(())
    }
}

/// Checks a shape-only op's operand 0 against its output and returns the dtype.
fn copy_operand(ctx: &PrepareCtx<'_>) -> Result<DType, RuntimeError> {
    let d = ctx.input(0)?.dtype;
    if d.bits().is_none() {
        return Err(ctx.unsupported(format!("dtype {d} is not supported")));
    }
    ctx.expect_output_dtype(0, d)?;
    check_same_quant(ctx, 0, 0)?;
    Ok(d)
}

/// Resolves a requested RESHAPE shape (one entry may be -1) against `elements` input elements.
pub(crate) fn resolve_reshape(elements: usize, requested: &[i64]) -> Result<Vec<usize>, String> {
    let mut stretch = None;
    let mut known = 1usize;
    let mut out = Vec::with_capacity(requested.len());
    for (i, &d) in requested.iter().enumerate() {
        if d == -1 {
            if stretch.replace(i).is_some() {
                return Err(format!("shape {requested:?} has more than one -1"));
            }
            out.push(0);
        } else {
            let d = dim_from_i64(d, "reshape dimension").map_err(|e| e.to_string())?;
            known = known
                .checked_mul(d)
                .ok_or_else(|| format!("shape {requested:?} overflows"))?;
            out.push(d);
        }
    }
    if let Some(i) = stretch {
        if known == 0 || !elements.is_multiple_of(known) {
            return Err(format!(
                "cannot infer the -1 in {requested:?} for {elements} elements"
            ));
        }
        out[i] = elements / known;
    } else if known != elements {
        return Err(format!(
            "shape {requested:?} does not hold {elements} elements"
        ));
    }
    Ok(out)
}

fn prepare_reshape(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 2, 1)?;
    copy_operand(ctx)?;
    let elements = ctx.input(0)?.len();
    let shape_input = ctx.optional_input(1).filter(|s| s.shape.len() == 1);
    if shape_input.is_some_and(|s| s.value.is_some()) {
        let requested = ctx.const_ints(1)?;
        let shape = resolve_reshape(elements, &requested).map_err(|e| ctx.invalid(e))?;
        return Ok(Prepared::single(shape, CopyKernel));
    }
    let from_options = match &ctx.op.options {
        Some(O::ReshapeOptions(o)) => o.new_shape.clone(),
        _ => None,
    };
    if let Some(mut dims) = from_options.filter(|d| shape_input.is_none() || !d.is_empty()) {
        // Legacy converters wrote [0] for a scalar result.
        if dims == [0] {
            dims.clear();
        }
        let requested: Vec<i64> = dims.iter().map(|&d| i64::from(d)).collect();
        let shape = resolve_reshape(elements, &requested).map_err(|e| ctx.invalid(e))?;
        return Ok(Prepared::single(shape, CopyKernel));
    }
    let declared: Vec<i64> = ctx.output(0)?.shape.iter().map(|&d| i64::from(d)).collect();
    match resolve_reshape(elements, &declared) {
        Ok(shape) => Ok(Prepared::single(shape, CopyKernel)),
        // The target shape is in a tensor computed at run time: prepare again at invoke.
        Err(_) if shape_input.is_some() => Err(ctx
            .input_value(1)
            .err()
            .unwrap_or_else(|| ctx.invalid("the shape input is known but was not used"))),
        Err(e) => Err(ctx.invalid(e)),
    }
}

fn prepare_squeeze(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    copy_operand(ctx)?;
    let in_shape = &ctx.input(0)?.shape;
    let dims = match &ctx.op.options {
        Some(O::SqueezeOptions(o)) => o.squeeze_dims.clone().unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut drop = vec![false; in_shape.len()];
    if dims.is_empty() {
        for (d, &n) in drop.iter_mut().zip(in_shape) {
            *d = n == 1;
        }
    } else {
        for &d in &dims {
            let axis =
                normalize_axis(i64::from(d), in_shape.len()).map_err(|e| ctx.kernel_err(e))?;
            if in_shape[axis] != 1 {
                return Err(ctx.invalid(format!(
                    "cannot squeeze dimension {axis} of size {}",
                    in_shape[axis]
                )));
            }
            drop[axis] = true;
        }
    }
    let shape = in_shape
        .iter()
        .zip(&drop)
        .filter(|(_, &d)| !d)
        .map(|(&n, _)| n)
        .collect();
    Ok(Prepared::single(shape, CopyKernel))
}

fn prepare_expand_dims(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    copy_operand(ctx)?;
    let axis = ctx.const_ints(1)?;
    let [axis] = axis[..] else {
        return Err(ctx.invalid(format!("axis must have one element, has {}", axis.len())));
    };
    let mut shape = ctx.input(0)?.shape.clone();
    let axis = normalize_axis(axis, shape.len() + 1).map_err(|e| ctx.kernel_err(e))?;
    shape.insert(axis, 1);
    Ok(Prepared::single(shape, CopyKernel))
}

/// Writes input 0's shape as `i32` or `i64`.
#[derive(Debug)]
struct ShapeKernel {
    wide: bool,
}

impl Kernel for ShapeKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        if self.wide {
            fill::shape(input.shape, out.data::<i64>()?)
        } else {
            fill::shape(input.shape, out.data::<i32>()?)
        }
    }

    fn depends_only_on_shapes(&self) -> bool {
        true
    }
}

fn prepare_shape(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let rank = ctx.input(0)?.shape.len();
    let declared = ctx.output(0)?.dtype;
    let out_type = match &ctx.op.options {
        Some(O::ShapeOptions(o)) => match o.out_type {
            TensorType::Int32 => Some(DType::I32),
            TensorType::Int64 => Some(DType::I64),
            _ => None,
        },
        _ => None,
    };
    let dtype = match out_type {
        Some(d) => d,
        None if matches!(declared, DType::I32 | DType::I64) => declared,
        None => {
            return Err(ctx.unsupported(format!("output dtype {declared} (must be int32 or int64)")))
        }
    };
    ctx.expect_output_dtype(0, dtype)?;
    Ok(Prepared::single(
        vec![rank],
        ShapeKernel {
            wide: dtype == DType::I64,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_resolution() {
        assert_eq!(resolve_reshape(6, &[2, -1]).unwrap(), vec![2, 3]);
        assert_eq!(resolve_reshape(6, &[6]).unwrap(), vec![6]);
        assert_eq!(resolve_reshape(1, &[]).unwrap(), Vec::<usize>::new());
        assert_eq!(resolve_reshape(0, &[0, 3]).unwrap(), vec![0, 3]);
        assert!(resolve_reshape(6, &[-1, -1]).is_err());
        assert!(resolve_reshape(6, &[4, -1]).is_err());
        assert!(resolve_reshape(6, &[0, -1]).is_err());
        assert!(resolve_reshape(6, &[2, -2]).is_err());
        assert!(resolve_reshape(6, &[7]).is_err());
    }

    #[test]
    fn element_sizes() {
        assert_eq!(elem_size(DType::F32), Some(4));
        assert_eq!(elem_size(DType::Bool), Some(1));
        assert_eq!(elem_size(DType::F16), Some(2));
        assert_eq!(elem_size(DType::I4), None);
        assert_eq!(elem_size(DType::String), None);
    }
}
