//! Glue for comparisons (LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL), logical
//! operators (LOGICAL_AND, LOGICAL_OR) and SELECT / SELECT_V2.
//!
//! Comparisons broadcast two float32/int32/int64 operands to a bool result; EQUAL and NOT_EQUAL
//! also compare bools. int8/uint8/int16 operands are compared raw when both carry the same
//! quantization (or none), which is exact because the affine map is monotonic; differing scales
//! would need TFLite's rescaling and are reported as unsupported. Bool tensors are stored one byte
//! per element and handled as `u8`. SELECT copies elements of any fixed-size dtype, dispatching
//! on the element width only, so quantized and bool operands are copied bit-exactly.

use super::arith::NUMERIC_DTYPES;
use super::quant::quant_key;
use super::shape::{operand, result};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::binary;
use crate::kernels::broadcast::{broadcast_shape, broadcast_shapes};
use crate::kernels::common::KernelError;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::DType;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Less, 3, prepare_compare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: both inputs must share one scale and zero point");
    r.add(B::LessEqual, 2, prepare_compare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: both inputs must share one scale and zero point");
    r.add(B::Greater, 2, prepare_compare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: both inputs must share one scale and zero point");
    r.add(B::GreaterEqual, 3, prepare_compare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: both inputs must share one scale and zero point");
    r.add(B::Equal, 5, prepare_compare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: both inputs must share one scale and zero point");
    r.add(B::NotEqual, 4, prepare_compare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: both inputs must share one scale and zero point");
    r.add(B::LogicalAnd, 1, prepare_logical)
        .note("bool operands only");
    r.add(B::LogicalOr, 1, prepare_logical)
        .note("bool operands only");
    r.add(B::Select, 4, prepare_select)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::SelectV2, 2, prepare_select)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
}

/// Which comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Equal,
    NotEqual,
}

fn prepare_compare(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let op = match ctx.op.kind.builtin() {
        B::Less => CompareOp::Less,
        B::LessEqual => CompareOp::LessEqual,
        B::Greater => CompareOp::Greater,
        B::GreaterEqual => CompareOp::GreaterEqual,
        B::Equal => CompareOp::Equal,
        _ => CompareOp::NotEqual,
    };
    let mut dtypes = NUMERIC_DTYPES.to_vec();
    if matches!(op, CompareOp::Equal | CompareOp::NotEqual) {
        dtypes.push(DType::Bool);
    }
    let dtype = ctx.expect_input_dtype(0, &dtypes)?;
    let (a, b) = (ctx.input(0)?, ctx.input(1)?);
    if b.dtype != dtype {
        return Err(ctx.invalid(format!(
            "inputs have different dtypes ({dtype} and {})",
            b.dtype
        )));
    }
    if matches!(dtype, DType::I8 | DType::U8 | DType::I16)
        && quant_key(a.quant) != quant_key(b.quant)
    {
        return Err(
            ctx.unsupported("comparing quantized inputs with different scales is not implemented")
        );
    }
    ctx.expect_output_dtype(0, DType::Bool)?;
    let shape = broadcast_shape(&a.shape, &b.shape).map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(shape, CompareKernel { op }))
}

/// Runs one comparison.
#[derive(Debug)]
struct CompareKernel {
    op: CompareOp,
}

fn compare_typed<T: PartialOrd + bytemuck::Pod>(
    op: CompareOp,
    a: &TensorView<'_>,
    b: &TensorView<'_>,
    out: &mut TensorViewMut<'_>,
) -> Result<(), KernelError> {
    let (x, y) = (a.data::<T>()?, b.data::<T>()?);
    let (xs, ys) = (a.shape, b.shape);
    let o = out.data::<u8>()?;
    match op {
        CompareOp::Less => binary::less(x, xs, y, ys, o),
        CompareOp::LessEqual => binary::less_equal(x, xs, y, ys, o),
        CompareOp::Greater => binary::greater(x, xs, y, ys, o),
        CompareOp::GreaterEqual => binary::greater_equal(x, xs, y, ys, o),
        CompareOp::Equal => binary::equal(x, xs, y, ys, o),
        CompareOp::NotEqual => binary::not_equal(x, xs, y, ys, o),
    }
}

/// Normalises bool bytes to 0/1 so EQUAL/NOT_EQUAL compare truth values, not raw bytes.
fn truth_bytes(t: &TensorView<'_>) -> Result<Vec<u8>, KernelError> {
    Ok(t.data::<u8>()?.iter().map(|&v| u8::from(v != 0)).collect())
}

impl Kernel for CompareKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (a, b) = (operand(inputs, 0)?, operand(inputs, 1)?);
        let out = result(outputs, 0)?;
        match a.dtype {
            DType::F32 => compare_typed::<f32>(self.op, a, b, out),
            DType::I32 => compare_typed::<i32>(self.op, a, b, out),
            DType::I64 => compare_typed::<i64>(self.op, a, b, out),
            DType::I16 => compare_typed::<i16>(self.op, a, b, out),
            DType::I8 => compare_typed::<i8>(self.op, a, b, out),
            DType::U8 => compare_typed::<u8>(self.op, a, b, out),
            DType::Bool => {
                let (x, y) = (truth_bytes(a)?, truth_bytes(b)?);
                let o = out.data::<u8>()?;
                if self.op == CompareOp::Equal {
                    binary::equal(&x, a.shape, &y, b.shape, o)
                } else {
                    binary::not_equal(&x, a.shape, &y, b.shape, o)
                }
            }
            d => Err(KernelError::Param(format!("unsupported dtype {d}"))),
        }
    }
}

fn prepare_logical(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    ctx.expect_input_dtype(0, &[DType::Bool])?;
    ctx.expect_input_dtype(1, &[DType::Bool])?;
    ctx.expect_output_dtype(0, DType::Bool)?;
    let shape = broadcast_shape(&ctx.input(0)?.shape, &ctx.input(1)?.shape)
        .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(
        shape,
        LogicalKernel {
            or: ctx.op.kind.builtin() == B::LogicalOr,
        },
    ))
}

/// Runs LOGICAL_AND (`or == false`) or LOGICAL_OR.
#[derive(Debug)]
struct LogicalKernel {
    or: bool,
}

impl Kernel for LogicalKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (a, b) = (operand(inputs, 0)?, operand(inputs, 1)?);
        let out = result(outputs, 0)?;
        let (x, y, o) = (a.data::<u8>()?, b.data::<u8>()?, out.data::<u8>()?);
        if self.or {
            binary::logical_or(x, a.shape, y, b.shape, o)
        } else {
            binary::logical_and(x, a.shape, y, b.shape, o)
        }
    }
}

/// Output shape of SELECT (v1), whose accepted forms are narrower than broadcasting: `x` and `y`
/// agree, and the condition has their shape, is a scalar, or is rank 1 over their first dimension.
fn select_v1_shape(cond: &[usize], x: &[usize], y: &[usize]) -> Result<Vec<usize>, String> {
    if x != y {
        return Err(format!("x {x:?} and y {y:?} must have the same shape"));
    }
    let single = |s: &[usize]| s.iter().product::<usize>() == 1;
    let ok = cond == x
        || (single(cond) && single(x))
        || cond.is_empty()
        || (cond.len() == 1 && x.first() == cond.first());
    if ok {
        Ok(x.to_vec())
    } else {
        Err(format!(
            "condition {cond:?} must match x {x:?}, be a scalar, or be rank 1 over x's first dimension"
        ))
    }
}

fn prepare_select(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 3, 1)?;
    let v2 = ctx.op.kind.builtin() == B::SelectV2;
    ctx.expect_input_dtype(0, &[DType::Bool])?;
    let (cond, x, y) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
    if x.dtype != y.dtype {
        return Err(ctx.invalid(format!(
            "x and y have different dtypes ({} and {})",
            x.dtype, y.dtype
        )));
    }
    if !matches!(x.dtype.bits(), Some(8 | 16 | 32 | 64 | 128)) {
        return Err(ctx.unsupported(format!("selecting {} elements is not implemented", x.dtype)));
    }
    ctx.expect_output_dtype(0, x.dtype)?;
    let shape = if v2 {
        broadcast_shapes(&[&cond.shape, &x.shape, &y.shape]).map_err(|e| ctx.kernel_err(e))?
    } else {
        select_v1_shape(&cond.shape, &x.shape, &y.shape).map_err(|e| ctx.invalid(e))?
    };
    Ok(Prepared::single(shape, SelectKernel { v2 }))
}

/// Runs SELECT (`v2 == false`) or SELECT_V2.
#[derive(Debug)]
struct SelectKernel {
    v2: bool,
}

impl SelectKernel {
    fn eval_typed<T: bytemuck::Pod>(
        &self,
        c: &TensorView<'_>,
        x: &TensorView<'_>,
        y: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (cd, xd, yd) = (c.data::<u8>()?, x.data::<T>()?, y.data::<T>()?);
        let o = out.data::<T>()?;
        if self.v2 {
            binary::select_v2(cd, c.shape, xd, x.shape, yd, y.shape, o)
        } else {
            binary::select(cd, c.shape, xd, x.shape, yd, y.shape, o)
        }
    }
}

impl Kernel for SelectKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let ([Some(c), Some(x), Some(y)], [out]) = (inputs, outputs) else {
            return Err(KernelError::Param(
                "SELECT needs three inputs and one output".into(),
            ));
        };
        match x.dtype.bits() {
            Some(8) => self.eval_typed::<u8>(c, x, y, out),
            Some(16) => self.eval_typed::<u16>(c, x, y, out),
            Some(32) => self.eval_typed::<u32>(c, x, y, out),
            Some(64) => self.eval_typed::<u64>(c, x, y, out),
            Some(128) => self.eval_typed::<u128>(c, x, y, out),
            _ => Err(KernelError::Param(format!("unsupported dtype {}", x.dtype))),
        }
    }
}
