//! Glue for elementwise unary operators: math functions (EXP, LOG, SQRT, RSQRT, SQUARE, ABS, NEG,
//! FLOOR, CEIL, ROUND, SIN, COS), float activations (RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1,
//! LEAKY_RELU, ELU, HARD_SWISH, GELU, LOGISTIC, TANH) and LOGICAL_NOT.
//!
//! Everything runs on float32; ABS, NEG and SQUARE also take raw (unquantized) int16/int32/int64
//! tensors with wrapping arithmetic (TFLite itself has int32 ABS, int32/int64 NEG and float-only
//! SQUARE; the extra integer forms are harmless extensions). LOGICAL_NOT works on bool tensors,
//! stored one byte per element. Quantized inputs are reported as unsupported.

use super::{Kernel, OperandInfo, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::element::Numeric;
use crate::kernels::unary;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Which unary operation, with its options resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
enum UnaryOp {
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Square,
    Abs,
    Neg,
    Floor,
    Ceil,
    Round,
    Sin,
    Cos,
    Relu,
    Relu6,
    ReluN1To1,
    Relu0To1,
    LeakyRelu { alpha: f32 },
    Elu,
    HardSwish,
    Gelu { approximate: bool },
    Logistic,
    Tanh,
    LogicalNot,
}

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    r.add(B::Exp, 2, prepare);
    r.add(B::Log, 2, prepare);
    r.add(B::Sqrt, 2, prepare);
    r.add(B::Rsqrt, 3, prepare);
    r.add(B::Square, 1, prepare);
    r.add(B::Abs, 5, prepare);
    r.add(B::Neg, 1, prepare);
    r.add(B::Floor, 1, prepare);
    r.add(B::Ceil, 1, prepare);
    r.add(B::Round, 1, prepare);
    r.add(B::Sin, 1, prepare);
    r.add(B::Cos, 1, prepare);
    r.add(B::Relu, 3, prepare);
    r.add(B::Relu6, 3, prepare);
    r.add(B::ReluN1To1, 1, prepare);
    r.add(B::Relu0To1, 1, prepare);
    r.add(B::LeakyRelu, 2, prepare);
    r.add(B::Elu, 1, prepare);
    r.add(B::HardSwish, 1, prepare);
    r.add(B::Gelu, 2, prepare);
    r.add(B::Logistic, 3, prepare);
    r.add(B::Tanh, 3, prepare);
    r.add(B::LogicalNot, 1, prepare);
}

/// True when the operand carries quantization scales (its integers stand for real values).
fn is_quantized(t: &OperandInfo<'_>) -> bool {
    t.quant.is_some_and(|q| !q.scale.is_empty())
}

/// Resolves the operator (and its options) from the context.
fn unary_op(ctx: &PrepareCtx<'_>) -> Result<UnaryOp, RuntimeError> {
    Ok(match ctx.op.kind.builtin() {
        B::Exp => UnaryOp::Exp,
        B::Log => UnaryOp::Log,
        B::Sqrt => UnaryOp::Sqrt,
        B::Rsqrt => UnaryOp::Rsqrt,
        B::Square => UnaryOp::Square,
        B::Abs => UnaryOp::Abs,
        B::Neg => UnaryOp::Neg,
        B::Floor => UnaryOp::Floor,
        B::Ceil => UnaryOp::Ceil,
        B::Round => UnaryOp::Round,
        B::Sin => UnaryOp::Sin,
        B::Cos => UnaryOp::Cos,
        B::Relu => UnaryOp::Relu,
        B::Relu6 => UnaryOp::Relu6,
        B::ReluN1To1 => UnaryOp::ReluN1To1,
        B::Relu0To1 => UnaryOp::Relu0To1,
        B::LeakyRelu => UnaryOp::LeakyRelu {
            alpha: match &ctx.op.options {
                Some(O::LeakyReluOptions(o)) => o.alpha,
                _ => 0.0,
            },
        },
        B::Elu => UnaryOp::Elu,
        B::HardSwish => UnaryOp::HardSwish,
        B::Gelu => UnaryOp::Gelu {
            approximate: match &ctx.op.options {
                Some(O::GeluOptions(o)) => o.approximate,
                _ => false,
            },
        },
        B::Logistic => UnaryOp::Logistic,
        B::Tanh => UnaryOp::Tanh,
        B::LogicalNot => UnaryOp::LogicalNot,
        other => return Err(ctx.invalid(format!("{other:?} is not a unary operator"))),
    })
}

fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let op = unary_op(ctx)?;
    let dtypes: &[DType] = match op {
        UnaryOp::LogicalNot => &[DType::Bool],
        UnaryOp::Abs | UnaryOp::Neg | UnaryOp::Square => {
            &[DType::F32, DType::I16, DType::I32, DType::I64]
        }
        _ => &[DType::F32],
    };
    let input = ctx.input(0)?;
    if matches!(input.dtype, DType::I8 | DType::U8 | DType::I16) && is_quantized(input) {
        return Err(ctx.unsupported("quantized inputs are not implemented for this operator"));
    }
    let dtype = ctx.expect_input_dtype(0, dtypes)?;
    ctx.expect_output_dtype(0, dtype)?;
    Ok(Prepared::single(input.shape.clone(), UnaryKernel { op }))
}

/// Runs one unary operation.
#[derive(Debug)]
struct UnaryKernel {
    op: UnaryOp,
}

impl UnaryKernel {
    fn eval_f32(&self, x: &[f32], o: &mut [f32]) -> Result<(), KernelError> {
        match self.op {
            UnaryOp::Exp => unary::exp(x, o),
            UnaryOp::Log => unary::log(x, o),
            UnaryOp::Sqrt => unary::sqrt(x, o),
            UnaryOp::Rsqrt => unary::rsqrt(x, o),
            UnaryOp::Square => unary::square(x, o),
            UnaryOp::Abs => unary::abs(x, o),
            UnaryOp::Neg => unary::neg(x, o),
            UnaryOp::Floor => unary::floor(x, o),
            UnaryOp::Ceil => unary::ceil(x, o),
            UnaryOp::Round => unary::round(x, o),
            UnaryOp::Sin => unary::sin(x, o),
            UnaryOp::Cos => unary::cos(x, o),
            UnaryOp::Relu => unary::relu(x, o),
            UnaryOp::Relu6 => unary::relu6(x, o),
            UnaryOp::ReluN1To1 => unary::relu_n1_to_1(x, o),
            UnaryOp::Relu0To1 => unary::relu_0_to_1(x, o),
            UnaryOp::LeakyRelu { alpha } => unary::leaky_relu(x, alpha, o),
            UnaryOp::Elu => unary::elu(x, o),
            UnaryOp::HardSwish => unary::hard_swish(x, o),
            UnaryOp::Gelu { approximate } => unary::gelu(x, approximate, o),
            UnaryOp::Logistic => unary::logistic(x, o),
            UnaryOp::Tanh => unary::tanh(x, o),
            UnaryOp::LogicalNot => Err(KernelError::Param("LOGICAL_NOT needs bool tensors".into())),
        }
    }

    fn eval_int<T: Numeric + bytemuck::Pod>(
        &self,
        x: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (x, o) = (x.data::<T>()?, out.data::<T>()?);
        match self.op {
            UnaryOp::Square => unary::square(x, o),
            UnaryOp::Abs => unary::abs(x, o),
            UnaryOp::Neg => unary::neg(x, o),
            op => Err(KernelError::Param(format!("{op:?} needs float32 tensors"))),
        }
    }
}

impl Kernel for UnaryKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let (Some(Some(x)), [out]) = (inputs.first(), outputs) else {
            return Err(KernelError::Param(
                "unary op needs one input and one output".into(),
            ));
        };
        match x.dtype {
            DType::F32 => self.eval_f32(x.data::<f32>()?, out.data::<f32>()?),
            DType::I16 => self.eval_int::<i16>(x, out),
            DType::I32 => self.eval_int::<i32>(x, out),
            DType::I64 => self.eval_int::<i64>(x, out),
            DType::Bool if self.op == UnaryOp::LogicalNot => {
                unary::logical_not(x.data::<u8>()?, out.data::<u8>()?)
            }
            d => Err(KernelError::Param(format!("unsupported dtype {d}"))),
        }
    }
}
