//! Glue for elementwise unary operators: math functions (EXP, LOG, SQRT, RSQRT, SQUARE, ABS, NEG,
//! FLOOR, CEIL, ROUND, SIN, COS), float activations (RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1,
//! LEAKY_RELU, ELU, HARD_SWISH, GELU, LOGISTIC, TANH) and LOGICAL_NOT.
//!
//! Everything runs on float32; ABS, NEG and SQUARE also take raw (unquantized) int16/int32/int64
//! tensors with wrapping arithmetic (TFLite itself has int32 ABS, int32/int64 NEG and float-only
//! SQUARE; the extra integer forms are harmless extensions). LOGICAL_NOT works on bool tensors,
//! stored one byte per element.
//!
//! Quantized forms, as LiteRT runs them: LOGISTIC and TANH on int8 / uint8 through a 256-entry
//! lookup table built at prepare time (LOGISTIC requires TFLite's output scale 1/256), and on int16
//! with TFLite's int16 algorithms (zero points 0, output scale 1/32768; see
//! `kernels::quant::activation16`); RELU and
//! RELU6 on int8 / uint8 / int16 and RELU_N1_TO_1 on int8 / uint8 as a requantization from the
//! input's to the output's parameters clamped to the activation's range; HARD_SWISH (TFLite's
//! 16-bit fixed-point algorithm) and LEAKY_RELU (two multipliers) on int8 / uint8, see
//! `kernels::quant::activation`. Other quantized inputs are reported as unsupported.

use super::quant::{input_data, input_params, output_data, output_params, params_err};
use super::{Kernel, OperandInfo, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::{Activation, KernelError};
use crate::kernels::element::Numeric;
use crate::kernels::quant::activation as qact;
use crate::kernels::quant::activation16::{act16, act16_params, Act16Kind, Act16Params};
use crate::kernels::quant::elementwise::{self as qe, RequantizeParams};
use crate::kernels::quant::softmax::{self as qsoftmax, Lut8};
use crate::kernels::quant::{quantized_activation_range, QuantElem};
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
    use super::Variant::*;
    r.add(B::Exp, 2, prepare).supports(&[F32, F16Weights]);
    r.add(B::Log, 2, prepare).supports(&[F32, F16Weights]);
    r.add(B::Sqrt, 2, prepare).supports(&[F32, F16Weights]);
    r.add(B::Rsqrt, 3, prepare).supports(&[F32, F16Weights]);
    r.add(B::Square, 1, prepare)
        .supports(&[F32, F16Weights])
        .note("also raw (unquantized) int16 / int32 / int64");
    r.add(B::Abs, 5, prepare)
        .supports(&[F32, F16Weights])
        .note("also raw (unquantized) int16 / int32 / int64");
    r.add(B::Neg, 1, prepare)
        .supports(&[F32, F16Weights])
        .note("also raw (unquantized) int16 / int32 / int64");
    r.add(B::Floor, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::Ceil, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::Round, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::Sin, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::Cos, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::Relu, 3, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::Relu6, 3, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::ReluN1To1, 1, prepare)
        .supports(&[F32, Int8, UInt8, F16Weights]);
    r.add(B::Relu0To1, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::LeakyRelu, 2, prepare)
        .supports(&[F32, Int8, UInt8, F16Weights]);
    r.add(B::Elu, 1, prepare).supports(&[F32, F16Weights]);
    r.add(B::HardSwish, 1, prepare)
        .supports(&[F32, Int8, UInt8, F16Weights]);
    r.add(B::Gelu, 2, prepare).supports(&[F32, F16Weights]);
    r.add(B::Logistic, 3, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("int8 / uint8: output scale must be 1/256");
    r.add(B::Tanh, 3, prepare)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights]);
    r.add(B::LogicalNot, 1, prepare).note("bool operands only");
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
        return prepare_quantized(ctx, op);
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

/// The integer form of a quantized unary op.
#[derive(Debug)]
enum QuantUnary {
    /// LOGISTIC / TANH: a table lookup.
    Lut(Box<Lut8>),
    /// RELU family: requantize and clamp.
    Relu {
        params: RequantizeParams,
        act_min: i32,
        act_max: i32,
    },
}

/// Prepares a quantized LOGISTIC, TANH, RELU, RELU6 or RELU_N1_TO_1.
fn prepare_quantized(ctx: &PrepareCtx<'_>, op: UnaryOp) -> Result<Prepared, RuntimeError> {
    let input = ctx.input(0)?;
    let dtype = input.dtype;
    if matches!(op, UnaryOp::HardSwish | UnaryOp::LeakyRelu { .. }) && dtype != DType::I16 {
        return prepare_quantized_activation(ctx, op);
    }
    if matches!(op, UnaryOp::Logistic | UnaryOp::Tanh) && dtype == DType::I16 {
        return prepare_act16(ctx, op);
    }
    let supported = match op {
        UnaryOp::Logistic | UnaryOp::Tanh | UnaryOp::ReluN1To1 => dtype != DType::I16,
        UnaryOp::Relu | UnaryOp::Relu6 => true,
        _ => false,
    };
    if !supported {
        return Err(ctx.unsupported(format!(
            "quantized ({dtype}) {} has no kernel",
            ctx.op_name()
        )));
    }
    ctx.expect_output_dtype(0, dtype)?;
    let (qin, qout) = (input_params(ctx, 0)?, output_params(ctx, 0)?);
    let kernel = match op {
        UnaryOp::Logistic | UnaryOp::Tanh => {
            if op == UnaryOp::Logistic && f64::from(qout.scale) != 1.0 / 256.0 {
                return Err(ctx.invalid(format!(
                    "quantized LOGISTIC needs output scale 1/256, has {}",
                    qout.scale
                )));
            }
            let lut = match (op, dtype) {
                (UnaryOp::Logistic, DType::I8) => qsoftmax::logistic_params::<i8>(qin, qout),
                (UnaryOp::Logistic, _) => qsoftmax::logistic_params::<u8>(qin, qout),
                (_, DType::I8) => qsoftmax::tanh_params::<i8>(qin, qout),
                _ => qsoftmax::tanh_params::<u8>(qin, qout),
            }
            .map_err(|e| params_err(ctx, e))?;
            QuantUnary::Lut(Box::new(lut))
        }
        _ => {
            let act = match op {
                UnaryOp::Relu => Activation::Relu,
                UnaryOp::Relu6 => Activation::Relu6,
                _ => Activation::ReluN1To1,
            };
            let (params, (act_min, act_max)) = match dtype {
                DType::I8 => (
                    qe::requantize_params::<i8, i8>(qin, qout),
                    quantized_activation_range(act, qout, i8::MIN.into(), i8::MAX.into()),
                ),
                DType::U8 => (
                    qe::requantize_params::<u8, u8>(qin, qout),
                    quantized_activation_range(act, qout, u8::MIN.into(), u8::MAX.into()),
                ),
                _ => (
                    qe::requantize_params::<i16, i16>(qin, qout),
                    quantized_activation_range(act, qout, i16::MIN.into(), i16::MAX.into()),
                ),
            };
            QuantUnary::Relu {
                params: params.map_err(|e| params_err(ctx, e))?,
                act_min,
                act_max,
            }
        }
    };
    Ok(Prepared::single(
        input.shape.clone(),
        QuantUnaryKernel {
            kernel,
            dtype,
            len: input.len(),
        },
    ))
}

/// A quantized unary op bound to its table or requantization.
#[derive(Debug)]
struct QuantUnaryKernel {
    kernel: QuantUnary,
    dtype: DType,
    len: usize,
}

impl QuantUnaryKernel {
    fn eval_typed<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = input_data::<T>(inputs, 0, self.len)?;
        let o = output_data::<T>(outputs, self.len)?;
        match &self.kernel {
            QuantUnary::Lut(lut) => qsoftmax::lookup(lut, x, o),
            QuantUnary::Relu {
                params,
                act_min,
                act_max,
            } => qe::relu_x(params, *act_min, *act_max, x, o),
        }
        Ok(())
    }
}

impl Kernel for QuantUnaryKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::I8 => self.eval_typed::<i8>(inputs, outputs),
            DType::U8 => self.eval_typed::<u8>(inputs, outputs),
            _ => self.eval_typed::<i16>(inputs, outputs),
        }
    }
}

/// HARD_SWISH / LEAKY_RELU on int8 or uint8, bound to their multipliers.
#[derive(Debug)]
enum QuantActivation {
    HardSwish(qact::HardSwishParams),
    LeakyRelu(qact::LeakyReluParams),
}

/// Prepares an int8 / uint8 HARD_SWISH or LEAKY_RELU (TFLite's integer kernels).
fn prepare_quantized_activation(
    ctx: &PrepareCtx<'_>,
    op: UnaryOp,
) -> Result<Prepared, RuntimeError> {
    let input = ctx.input(0)?;
    let dtype = input.dtype;
    ctx.expect_output_dtype(0, dtype)?;
    let (qin, qout) = (input_params(ctx, 0)?, output_params(ctx, 0)?);
    let u8 = dtype == DType::U8;
    let kernel = match op {
        UnaryOp::HardSwish if u8 => {
            qact::hard_swish_params::<u8>(qin, qout).map(QuantActivation::HardSwish)
        }
        UnaryOp::HardSwish => {
            qact::hard_swish_params::<i8>(qin, qout).map(QuantActivation::HardSwish)
        }
        UnaryOp::LeakyRelu { alpha } if u8 => {
            qact::leaky_relu_params::<u8>(qin, alpha, qout).map(QuantActivation::LeakyRelu)
        }
        UnaryOp::LeakyRelu { alpha } => {
            qact::leaky_relu_params::<i8>(qin, alpha, qout).map(QuantActivation::LeakyRelu)
        }
        _ => return Err(ctx.invalid("not a quantized activation")),
    }
    .map_err(|e| params_err(ctx, e))?;
    Ok(Prepared::single(
        input.shape.clone(),
        QuantActivationKernel {
            kernel,
            dtype,
            len: input.len(),
        },
    ))
}

/// A quantized HARD_SWISH / LEAKY_RELU.
#[derive(Debug)]
struct QuantActivationKernel {
    kernel: QuantActivation,
    dtype: DType,
    len: usize,
}

impl QuantActivationKernel {
    fn eval_typed<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = input_data::<T>(inputs, 0, self.len)?;
        let o = output_data::<T>(outputs, self.len)?;
        match &self.kernel {
            QuantActivation::HardSwish(p) => qact::hard_swish(p, x, o),
            QuantActivation::LeakyRelu(p) => qact::leaky_relu(p, x, o),
        }
        Ok(())
    }
}

impl Kernel for QuantActivationKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::U8 => self.eval_typed::<u8>(inputs, outputs),
            _ => self.eval_typed::<i8>(inputs, outputs),
        }
    }
}

/// Prepares int16 LOGISTIC / TANH (int16x8 models): TFLite's checks (zero points 0, output scale
/// 1/32768) and its choice between the fixed-point path (power-of-two input scale) and the
/// interpolated sigmoid table.
fn prepare_act16(ctx: &PrepareCtx<'_>, op: UnaryOp) -> Result<Prepared, RuntimeError> {
    ctx.expect_output_dtype(0, DType::I16)?;
    let (qin, qout) = (input_params(ctx, 0)?, output_params(ctx, 0)?);
    let kind = if op == UnaryOp::Logistic {
        Act16Kind::Logistic
    } else {
        Act16Kind::Tanh
    };
    let params = act16_params(kind, qin, qout).map_err(|e| params_err(ctx, e))?;
    let input = ctx.input(0)?;
    Ok(Prepared::single(
        input.shape.clone(),
        Act16Kernel {
            params,
            len: input.len(),
        },
    ))
}

/// int16 LOGISTIC / TANH bound to its prepared parameters.
#[derive(Debug)]
struct Act16Kernel {
    params: Act16Params,
    len: usize,
}

impl Kernel for Act16Kernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = input_data::<i16>(inputs, 0, self.len)?;
        let o = output_data::<i16>(outputs, self.len)?;
        act16(&self.params, x, o);
        Ok(())
    }
}
