//! Glue for broadcasting arithmetic: ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, POW, MAXIMUM,
//! MINIMUM, FLOOR_DIV, FLOOR_MOD on float32, int32 and int64.
//!
//! Quantized (int8, uint8, int16) ADD, SUB and MUL run TFLite's integer arithmetic with
//! multipliers computed at prepare time from the three tensors' scales (int16 must be symmetric;
//! int16 ADD/SUB use the general-scale path, the power-of-two path TFLite takes for
//! `pot_scale_int16` with power-of-two scales is not implemented). Quantized MAXIMUM / MINIMUM
//! compare raw values, which TFLite does too; they require one shared quantization.

use super::quant::{input_params, output_params, params_err, same_scale};
use super::shape::{operand, result};
use super::{activation, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::binary;
use crate::kernels::broadcast::broadcast_shape;
use crate::kernels::common::{Activation, KernelError};
use crate::kernels::element::Numeric;
use crate::kernels::quant::elementwise::{self as qe, AddParams, MulParams};
use crate::kernels::quant::{QuantElem, QuantParams};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Which arithmetic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    SquaredDifference,
    Pow,
    Maximum,
    Minimum,
    FloorDiv,
    FloorMod,
}

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Add, 5, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("int16x8: `pot_scale_int16` with power-of-two scales is not implemented");
    r.add(B::Sub, 5, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("int16x8: `pot_scale_int16` with power-of-two scales is not implemented");
    r.add(B::Mul, 7, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Div, 2, prepare).supports(&[F32, F16Weights]);
    r.add(B::SquaredDifference, 2, prepare)
        .supports(&[F32, F16Weights]);
    r.add(B::Pow, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::Maximum, 4, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: inputs and output must share one scale and zero point");
    r.add(B::Minimum, 4, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("quantized: inputs and output must share one scale and zero point");
    r.add(B::FloorDiv, 3, prepare).supports(&[F32, F16Weights]);
    r.add(B::FloorMod, 2, prepare).supports(&[F32, F16Weights]);
}

/// Element types of the arithmetic kernels (comparisons and reductions take the same ones).
pub(super) const NUMERIC_DTYPES: [DType; 6] = [
    DType::F32,
    DType::I32,
    DType::I64,
    DType::I8,
    DType::U8,
    DType::I16,
];

#[derive(Debug)]
struct ArithKernel {
    op: ArithOp,
    activation: Activation,
}

fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let op = match ctx.op.kind.builtin() {
        B::Add => ArithOp::Add,
        B::Sub => ArithOp::Sub,
        B::Mul => ArithOp::Mul,
        B::Div => ArithOp::Div,
        B::SquaredDifference => ArithOp::SquaredDifference,
        B::Pow => ArithOp::Pow,
        B::Maximum => ArithOp::Maximum,
        B::Minimum => ArithOp::Minimum,
        B::FloorDiv => ArithOp::FloorDiv,
        _ => ArithOp::FloorMod,
    };
    let fused = match &ctx.op.options {
        Some(O::AddOptions(o)) => o.fused_activation_function,
        Some(O::SubOptions(o)) => o.fused_activation_function,
        Some(O::MulOptions(o)) => o.fused_activation_function,
        Some(O::DivOptions(o)) => o.fused_activation_function,
        _ => ferrolite_model::tflite::ActivationFunctionType::None,
    };
    let dtype = ctx.expect_input_dtype(0, &NUMERIC_DTYPES)?;
    if ctx.input(1)?.dtype != dtype {
        return Err(ctx.invalid(format!(
            "inputs have different dtypes ({dtype} and {})",
            ctx.input(1)?.dtype
        )));
    }
    ctx.expect_output_dtype(0, dtype)?;
    let shape = broadcast_shape(&ctx.input(0)?.shape, &ctx.input(1)?.shape)
        .map_err(|e| ctx.kernel_err(e))?;
    if matches!(dtype, DType::I8 | DType::U8 | DType::I16) {
        return prepare_quantized(ctx, op, activation(fused), shape);
    }
    if dtype != DType::F32 && ctx.input(0)?.quant.is_some_and(|q| !q.scale.is_empty()) {
        return Err(ctx.unsupported("quantized int32/int64 arithmetic is not supported"));
    }
    Ok(Prepared::single(
        shape,
        ArithKernel {
            op,
            activation: activation(fused),
        },
    ))
}

fn eval_typed<T: Numeric + bytemuck::Pod>(
    k: &ArithKernel,
    a: &TensorView<'_>,
    b: &TensorView<'_>,
    out: &mut TensorViewMut<'_>,
) -> Result<(), KernelError> {
    let (x, y) = (a.data::<T>()?, b.data::<T>()?);
    let (xs, ys) = (a.shape, b.shape);
    let o = out.data::<T>()?;
    match k.op {
        ArithOp::Add => binary::add(x, xs, y, ys, k.activation, o),
        ArithOp::Sub => binary::sub(x, xs, y, ys, k.activation, o),
        ArithOp::Mul => binary::mul(x, xs, y, ys, k.activation, o),
        ArithOp::Div => binary::div(x, xs, y, ys, k.activation, o),
        ArithOp::SquaredDifference => binary::squared_difference(x, xs, y, ys, o),
        ArithOp::Pow => binary::pow(x, xs, y, ys, o),
        ArithOp::Maximum => binary::maximum(x, xs, y, ys, o),
        ArithOp::Minimum => binary::minimum(x, xs, y, ys, o),
        ArithOp::FloorDiv => binary::floor_div(x, xs, y, ys, o),
        ArithOp::FloorMod => binary::floor_mod(x, xs, y, ys, o),
    }
}

impl Kernel for ArithKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (a, b) = (operand(inputs, 0)?, operand(inputs, 1)?);
        let out = result(outputs, 0)?;
        match a.dtype {
            DType::F32 => eval_typed::<f32>(self, a, b, out),
            DType::I32 => eval_typed::<i32>(self, a, b, out),
            DType::I64 => eval_typed::<i64>(self, a, b, out),
            d => Err(KernelError::Param(format!("unsupported dtype {d}"))),
        }
    }
}

/// Which integer kernel a [`QuantArithKernel`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuantOp {
    Add(AddParams),
    Sub(AddParams),
    Mul(MulParams),
    Maximum,
    Minimum,
}

/// True when `scale` is a power of two (TFLite's `CheckedLog2` test).
fn is_pot(scale: f32) -> bool {
    let log = f64::from(scale).log2();
    (log - log.round()).abs() < 1e-3
}

/// Prepares quantized ADD / SUB / MUL / MAXIMUM / MINIMUM.
fn prepare_quantized(
    ctx: &PrepareCtx<'_>,
    op: ArithOp,
    act: Activation,
    shape: Vec<usize>,
) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(0)?.dtype;
    let (a, b, out) = (
        input_params(ctx, 0)?,
        input_params(ctx, 1)?,
        output_params(ctx, 0)?,
    );
    let add_params = || {
        let pot_option = match &ctx.op.options {
            Some(O::AddOptions(o)) => o.pot_scale_int16,
            Some(O::SubOptions(o)) => o.pot_scale_int16,
            _ => false,
        };
        if dtype == DType::I16 && pot_option && [a, b, out].iter().all(|q| is_pot(q.scale)) {
            return Err(ctx.unsupported(
                "int16 ADD/SUB with power-of-two scales (pot_scale_int16) is not implemented",
            ));
        }
        match dtype {
            DType::I8 => qe::add_params::<i8>(a, b, out, act),
            DType::U8 => qe::add_params::<u8>(a, b, out, act),
            _ => qe::add_params::<i16>(a, b, out, act),
        }
        .map_err(|e| params_err(ctx, e))
    };
    let kernel = match op {
        ArithOp::Add => QuantOp::Add(add_params()?),
        ArithOp::Sub => QuantOp::Sub(add_params()?),
        ArithOp::Mul => QuantOp::Mul(
            match dtype {
                DType::I8 => qe::mul_params::<i8>(a, b, out, act),
                DType::U8 => qe::mul_params::<u8>(a, b, out, act),
                _ => qe::mul_params::<i16>(a, b, out, act),
            }
            .map_err(|e| params_err(ctx, e))?,
        ),
        ArithOp::Maximum | ArithOp::Minimum => {
            let same =
                |x: QuantParams| same_scale(x.scale, out.scale) && x.zero_point == out.zero_point;
            if !(same(a) && same(b)) {
                return Err(ctx.unsupported(
                    "quantized MAXIMUM/MINIMUM with differing input and output quantization",
                ));
            }
            if op == ArithOp::Maximum {
                QuantOp::Maximum
            } else {
                QuantOp::Minimum
            }
        }
        _ => {
            return Err(ctx.unsupported(format!(
                "quantized ({dtype}) {} has no kernel",
                ctx.op_name()
            )))
        }
    };
    Ok(Prepared::single(shape, QuantArithKernel { op: kernel }))
}

/// A quantized binary op bound to its integer parameters.
#[derive(Debug)]
struct QuantArithKernel {
    op: QuantOp,
}

impl QuantArithKernel {
    fn eval_typed<T: QuantElem + Numeric + bytemuck::Pod>(
        &self,
        a: &TensorView<'_>,
        b: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (x, y) = (a.data::<T>()?, b.data::<T>()?);
        let (xs, ys) = (a.shape, b.shape);
        let o = out.data::<T>()?;
        match &self.op {
            QuantOp::Add(p) => qe::add(p, x, xs, y, ys, o),
            QuantOp::Sub(p) => qe::sub(p, x, xs, y, ys, o),
            QuantOp::Mul(p) => qe::mul(p, x, xs, y, ys, o),
            QuantOp::Maximum => binary::maximum(x, xs, y, ys, o),
            QuantOp::Minimum => binary::minimum(x, xs, y, ys, o),
        }
    }
}

impl Kernel for QuantArithKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (a, b) = (operand(inputs, 0)?, operand(inputs, 1)?);
        let out = result(outputs, 0)?;
        match a.dtype {
            DType::I8 => self.eval_typed::<i8>(a, b, out),
            DType::U8 => self.eval_typed::<u8>(a, b, out),
            DType::I16 => self.eval_typed::<i16>(a, b, out),
            d => Err(KernelError::Param(format!("unsupported dtype {d}"))),
        }
    }
}
