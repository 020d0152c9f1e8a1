//! Glue for FILL, RANGE and CAST.
//!
//! FILL's dims and RANGE's start/limit/delta decide the output shape, so they must be known at
//! prepare time; FILL's value is read at `invoke` and may be any whole-byte dtype. CAST converts
//! between f32, f16, i64, i32, i16, i8, u8 and bool with TFLite's `static_cast` semantics.

use super::shape::{by_size, check_same_quant, elem_size, operand, result};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::fill::{self, CastElem, RangeElem};
use crate::tensor::{cast, TensorView, TensorViewMut};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::DType;
use half::f16;
use half::slice::HalfBitsSliceExt;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Fill, 4, prepare_fill)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Range, 2, prepare_range)
        .supports(&[F32, F16Weights]);
    r.add(B::Cast, 7, prepare_cast)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("int8 / uint8 / int16 convert as raw integers (quantization ignored, as TFLite)");
}

// ---------------------------------------------------------------------------------------------
// FILL

#[derive(Debug)]
struct FillKernel;

impl Kernel for FillKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let value = operand(inputs, 1)?;
        let out = result(outputs, 0)?;
        by_size!(value.dtype, T => {
            let v = *value
                .data::<T>()?
                .first()
                .ok_or_else(|| KernelError::Param("fill value is empty".into()))?;
            fill::fill(v, out.data::<T>()?);
            Ok(())
        })
    }
}

fn prepare_fill(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let dims = ctx.input(0)?;
    if dims.shape.len() != 1 {
        return Err(ctx.invalid(format!("dims must be a vector, has shape {:?}", dims.shape)));
    }
    let value = ctx.input(1)?;
    if elem_size(value.dtype).is_none() {
        return Err(ctx.unsupported(format!("value dtype {} is not supported", value.dtype)));
    }
    if value.len() != 1 {
        return Err(ctx.invalid(format!(
            "value must hold one element, holds {}",
            value.len()
        )));
    }
    ctx.expect_output_dtype(0, value.dtype)?;
    check_same_quant(ctx, 1, 0)?;
    let shape = fill::fill_output_shape(&ctx.const_ints(0)?).map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(shape, FillKernel))
}

// ---------------------------------------------------------------------------------------------
// RANGE

/// RANGE's resolved start and delta (the length is fixed at prepare time).
#[derive(Debug, Clone, Copy)]
enum RangeKernel {
    I32(i32, i32),
    I64(i64, i64),
    F32(f32, f32),
}

impl Kernel for RangeKernel {
    fn eval(
        &self,
        _inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let out = result(outputs, 0)?;
        match *self {
            RangeKernel::I32(s, d) => fill::range(s, d, out.data::<i32>()?),
            RangeKernel::I64(s, d) => fill::range(s, d, out.data::<i64>()?),
            RangeKernel::F32(s, d) => fill::range(s, d, out.data::<f32>()?),
        }
        Ok(())
    }
}

/// The single value of RANGE operand `i` as `T`, which must be known at prepare time.
fn range_scalar<T: bytemuck::Pod>(ctx: &PrepareCtx<'_>, i: usize) -> Result<T, RuntimeError> {
    let bytes = ctx.input_value(i)?;
    match cast::<T>(bytes).map_err(|e| ctx.kernel_err(e))? {
        [v] => Ok(*v),
        v => Err(ctx.invalid(format!("input {i} must hold one value, holds {}", v.len()))),
    }
}

/// Resolves a typed RANGE: its length and kernel.
fn typed_range<T: RangeElem + bytemuck::Pod>(
    ctx: &PrepareCtx<'_>,
    make: fn(T, T) -> RangeKernel,
) -> Result<Prepared, RuntimeError> {
    let (start, limit, delta) = (
        range_scalar::<T>(ctx, 0)?,
        range_scalar::<T>(ctx, 1)?,
        range_scalar::<T>(ctx, 2)?,
    );
    let len = fill::range_len(start, limit, delta).map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(vec![len], make(start, delta)))
}

fn prepare_range(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 3, 1)?;
    let d = ctx.expect_input_dtype(0, &[DType::I32, DType::I64, DType::F32])?;
    for i in 1..3 {
        if ctx.input(i)?.dtype != d {
            return Err(ctx.invalid(format!(
                "input {i} has dtype {}, input 0 {d}",
                ctx.input(i)?.dtype
            )));
        }
    }
    ctx.expect_output_dtype(0, d)?;
    match d {
        DType::I32 => typed_range::<i32>(ctx, RangeKernel::I32),
        DType::I64 => typed_range::<i64>(ctx, RangeKernel::I64),
        _ => typed_range::<f32>(ctx, RangeKernel::F32),
    }
}

// ---------------------------------------------------------------------------------------------
// CAST

/// Element types CAST converts between.
const CAST_DTYPES: [DType; 8] = [
    DType::F32,
    DType::F16,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U8,
    DType::Bool,
];

#[derive(Debug)]
struct CastKernel;

/// Converts `src` into the output's dtype.
fn cast_into<A: CastElem>(src: &[A], out: &mut TensorViewMut<'_>) -> Result<(), KernelError> {
    match out.dtype {
        DType::F32 => fill::cast(src, out.data::<f32>()?),
        DType::F16 => fill::cast(src, out.data::<u16>()?.reinterpret_cast_mut::<f16>()),
        DType::I64 => fill::cast(src, out.data::<i64>()?),
        DType::I32 => fill::cast(src, out.data::<i32>()?),
        DType::I16 => fill::cast(src, out.data::<i16>()?),
        DType::I8 => fill::cast(src, out.data::<i8>()?),
        DType::U8 => fill::cast(src, out.data::<u8>()?),
        DType::Bool => {
            let mut tmp = vec![false; src.len()];
            fill::cast(src, &mut tmp);
            for (o, b) in out.bytes.iter_mut().zip(tmp) {
                *o = u8::from(b);
            }
        }
        d => return Err(KernelError::Param(format!("cast to {d} is not supported"))),
    }
    Ok(())
}

impl Kernel for CastKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = operand(inputs, 0)?;
        let out = result(outputs, 0)?;
        match input.dtype {
            DType::F32 => cast_into(input.data::<f32>()?, out),
            DType::F16 => cast_into(input.data::<u16>()?.reinterpret_cast::<f16>(), out),
            DType::I64 => cast_into(input.data::<i64>()?, out),
            DType::I32 => cast_into(input.data::<i32>()?, out),
            DType::I16 => cast_into(input.data::<i16>()?, out),
            DType::I8 => cast_into(input.data::<i8>()?, out),
            DType::U8 => cast_into(input.data::<u8>()?, out),
            DType::Bool => {
                let tmp: Vec<bool> = input.bytes.iter().map(|&b| b != 0).collect();
                cast_into(&tmp, out)
            }
            d => Err(KernelError::Param(format!(
                "cast from {d} is not supported"
            ))),
        }
    }
}

fn prepare_cast(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    ctx.expect_input_dtype(0, &CAST_DTYPES)?;
    let out = ctx.output(0)?.dtype;
    if !CAST_DTYPES.contains(&out) {
        return Err(ctx.unsupported(format!("cast to {out} is not supported")));
    }
    Ok(Prepared::single(ctx.input(0)?.shape.clone(), CastKernel))
}
