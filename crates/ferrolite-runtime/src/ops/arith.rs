//! Glue for broadcasting arithmetic: ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, POW, MAXIMUM,
//! MINIMUM, FLOOR_DIV, FLOOR_MOD on float32, int32 and int64.

use super::{activation, Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::binary;
use crate::kernels::broadcast::broadcast_shape;
use crate::kernels::common::{Activation, KernelError};
use crate::kernels::element::Numeric;
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
    r.add(B::Add, 5, prepare);
    r.add(B::Sub, 5, prepare);
    r.add(B::Mul, 7, prepare);
    r.add(B::Div, 2, prepare);
    r.add(B::SquaredDifference, 2, prepare);
    r.add(B::Pow, 1, prepare);
    r.add(B::Maximum, 4, prepare);
    r.add(B::Minimum, 4, prepare);
    r.add(B::FloorDiv, 3, prepare);
    r.add(B::FloorMod, 2, prepare);
}

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
    let dtype = ctx.expect_input_dtype(0, &[DType::F32, DType::I32, DType::I64])?;
    if ctx.input(1)?.dtype != dtype {
        return Err(ctx.invalid(format!(
            "inputs have different dtypes ({dtype} and {})",
            ctx.input(1)?.dtype
        )));
    }
    ctx.expect_output_dtype(0, dtype)?;
    if dtype != DType::F32 && ctx.input(0)?.quant.is_some_and(|q| !q.scale.is_empty()) {
        return Err(ctx.unsupported("quantized arithmetic is not implemented yet"));
    }
    let shape = broadcast_shape(&ctx.input(0)?.shape, &ctx.input(1)?.shape)
        .map_err(|e| ctx.kernel_err(e))?;
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
        let (Some(Some(a)), Some(Some(b)), [out]) = (inputs.first(), inputs.get(1), outputs) else {
            return Err(KernelError::Param(
                "arithmetic needs two inputs and one output".into(),
            ));
        };
        match a.dtype {
            DType::F32 => eval_typed::<f32>(self, a, b, out),
            DType::I32 => eval_typed::<i32>(self, a, b, out),
            DType::I64 => eval_typed::<i64>(self, a, b, out),
            d => Err(KernelError::Param(format!("unsupported dtype {d}"))),
        }
    }
}
