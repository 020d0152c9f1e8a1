//! Glue for the last-axis normalisations SOFTMAX (with `beta`), LOG_SOFTMAX and
//! L2_NORMALIZATION, and for PRELU.
//!
//! All four run on float32. SOFTMAX also runs on int8 (int8 or int16 output) and uint8 (uint8 or
//! int16 output) with LiteRT's lookup-table kernel, using the output's scale and zero point as
//! given (TFLite's prepare no longer insists on 1/256 and the type minimum), and on int16 (int16x8
//! models) with TFLite's `SoftmaxInt16` (exp and reciprocal interpolation tables; zero points 0,
//! output scale 1/32768, rank at most 4); other quantized forms are reported as unsupported. SOFTMAX takes `beta` from `SoftmaxOptions` (absent options give
//! TFLite's zero-initialised default, 0). The normalisations need an input of rank at least 1.
//! L2_NORMALIZATION rejects a fused activation other than NONE, as TFLite does. PRELU broadcasts `alpha` against the input; the output has their broadcast shape.
//! PRELU also runs on int8 / uint8 (quantized alpha of the same type, TFLite's two-multiplier
//! kernel in `kernels::quant::activation`; the output must have the input's shape, rank <= 4).

use super::quant::{
    input_data, input_params, output_data, output_params, params_err, per_tensor_any_zero_point,
};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::broadcast::broadcast_shape;
use crate::kernels::common::KernelError;
use crate::kernels::quant::activation as qact;
use crate::kernels::quant::softmax::{self as qsoftmax, SoftmaxParams};
use crate::kernels::quant::softmax16;
use crate::kernels::quant::QuantElem;
use crate::kernels::softmax;
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{ActivationFunctionType, BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::Softmax, 3, prepare_norm)
        .supports(&[F32, Int8, UInt8, Int16x8, F16Weights])
        .note("int8 / uint8 input may output int16")
        .note("int16x8: rank 1 to 4");
    r.add(B::LogSoftmax, 2, prepare_norm)
        .supports(&[F32, F16Weights]);
    r.add(B::L2Normalization, 2, prepare_norm)
        .supports(&[F32, F16Weights]);
    r.add(B::Prelu, 1, prepare_prelu)
        .supports(&[F32, Int8, UInt8, F16Weights]);
}

/// Which last-axis normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NormOp {
    Softmax { beta: f32 },
    LogSoftmax,
    L2Normalization,
}

/// Fails unless input `i` is plain (unquantized) float32.
fn expect_float(ctx: &PrepareCtx<'_>, i: usize) -> Result<(), RuntimeError> {
    let t = ctx.input(i)?;
    if matches!(t.dtype, DType::I8 | DType::U8 | DType::I16)
        && t.quant.is_some_and(|q| !q.scale.is_empty())
    {
        return Err(ctx.unsupported("quantized inputs are not implemented for this operator"));
    }
    ctx.expect_input_dtype(i, &[DType::F32]).map(drop)
}

fn prepare_norm(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    let op = match ctx.op.kind.builtin() {
        B::Softmax => NormOp::Softmax {
            beta: match &ctx.op.options {
                Some(O::SoftmaxOptions(o)) => o.beta,
                _ => 0.0,
            },
        },
        B::LogSoftmax => NormOp::LogSoftmax,
        _ => {
            if let Some(O::L2NormOptions(o)) = &ctx.op.options {
                if o.fused_activation_function != ActivationFunctionType::None {
                    return Err(ctx.unsupported(format!(
                        "fused activation {:?} is not supported",
                        o.fused_activation_function
                    )));
                }
            }
            NormOp::L2Normalization
        }
    };
    let shape = ctx.input(0)?.shape.clone();
    if shape.is_empty() {
        return Err(ctx.invalid("input must have rank >= 1"));
    }
    if let NormOp::Softmax { beta } = op {
        if matches!(ctx.input(0)?.dtype, DType::I8 | DType::U8) {
            return prepare_quantized_softmax(ctx, beta, shape);
        }
        if ctx.input(0)?.dtype == DType::I16 && ctx.output(0)?.dtype == DType::I16 {
            return prepare_softmax16(ctx, beta, shape);
        }
    }
    expect_float(ctx, 0)?;
    ctx.expect_output_dtype(0, DType::F32)?;
    Ok(Prepared::single(shape, NormKernel { op }))
}

/// Runs one last-axis normalisation.
#[derive(Debug)]
struct NormKernel {
    op: NormOp,
}

impl Kernel for NormKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let ([Some(x)], [out]) = (inputs, outputs) else {
            return Err(KernelError::Param(
                "op needs one input and one output".into(),
            ));
        };
        let (xd, o) = (x.data::<f32>()?, out.data::<f32>()?);
        match self.op {
            NormOp::Softmax { beta } => softmax::softmax(xd, x.shape, beta, o),
            NormOp::LogSoftmax => softmax::log_softmax(xd, x.shape, o),
            NormOp::L2Normalization => softmax::l2_normalization(xd, x.shape, o),
        }
    }
}

fn prepare_prelu(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    if matches!(ctx.input(0)?.dtype, DType::I8 | DType::U8) {
        return prepare_quantized_prelu(ctx);
    }
    expect_float(ctx, 0)?;
    expect_float(ctx, 1)?;
    ctx.expect_output_dtype(0, DType::F32)?;
    let shape = broadcast_shape(&ctx.input(0)?.shape, &ctx.input(1)?.shape)
        .map_err(|e| ctx.kernel_err(e))?;
    Ok(Prepared::single(shape, PreluKernel))
}

/// Runs PRELU.
#[derive(Debug)]
struct PreluKernel;

impl Kernel for PreluKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let ([Some(x), Some(alpha)], [out]) = (inputs, outputs) else {
            return Err(KernelError::Param(
                "PRELU needs two inputs and one output".into(),
            ));
        };
        softmax::prelu(
            x.data::<f32>()?,
            x.shape,
            alpha.data::<f32>()?,
            alpha.shape,
            out.data::<f32>()?,
        )
    }
}

/// Prepares an int8 / uint8 SOFTMAX (output of the input's type or int16).
fn prepare_quantized_softmax(
    ctx: &PrepareCtx<'_>,
    beta: f32,
    shape: Vec<usize>,
) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(0)?.dtype;
    let out_dtype = ctx.output(0)?.dtype;
    if out_dtype != dtype && out_dtype != DType::I16 {
        return Err(ctx.invalid(format!(
            "{dtype} SOFTMAX must output {dtype} or int16, declares {out_dtype}"
        )));
    }
    let out = ctx.output(0)?;
    let input = input_params(ctx, 0)?;
    let output = per_tensor_any_zero_point(ctx, "output 0", out_dtype, out.quant)?;
    let params = match dtype {
        DType::I8 => qsoftmax::softmax_params::<i8>(input, beta, output),
        _ => qsoftmax::softmax_params::<u8>(input, beta, output),
    }
    .map_err(|e| params_err(ctx, e))?;
    let depth = shape.last().copied().unwrap_or(1);
    Ok(Prepared::single(
        shape,
        QuantSoftmaxKernel {
            params,
            depth,
            input: dtype,
            output: out_dtype,
        },
    ))
}

/// An integer SOFTMAX over the last axis.
#[derive(Debug)]
struct QuantSoftmaxKernel {
    params: SoftmaxParams,
    depth: usize,
    input: DType,
    output: DType,
}

impl QuantSoftmaxKernel {
    fn eval_typed<I: QuantElem + bytemuck::Pod, O: QuantElem + bytemuck::Pod>(
        &self,
        x: &TensorView<'_>,
        out: &mut TensorViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (xd, o) = (x.data::<I>()?, out.data::<O>()?);
        if xd.len() != o.len() || (self.depth > 0 && xd.len() % self.depth != 0) {
            return Err(KernelError::Shape(format!(
                "softmax of {} values into {}",
                xd.len(),
                o.len()
            )));
        }
        qsoftmax::softmax(&self.params, xd, self.depth, o);
        Ok(())
    }
}

impl Kernel for QuantSoftmaxKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let ([Some(x)], [out]) = (inputs, outputs) else {
            return Err(KernelError::Param(
                "SOFTMAX needs one input and one output".into(),
            ));
        };
        match (self.input, self.output) {
            (DType::I8, DType::I8) => self.eval_typed::<i8, i8>(x, out),
            (DType::I8, _) => self.eval_typed::<i8, i16>(x, out),
            (_, DType::U8) => self.eval_typed::<u8, u8>(x, out),
            _ => self.eval_typed::<u8, i16>(x, out),
        }
    }
}

/// Prepares an int16 SOFTMAX (int16 output; TFLite's checks: zero points 0, output scale 1/32768,
/// rank 1 to 4).
fn prepare_softmax16(
    ctx: &PrepareCtx<'_>,
    beta: f32,
    shape: Vec<usize>,
) -> Result<Prepared, RuntimeError> {
    if shape.len() > 4 {
        return Err(ctx.unsupported(format!(
            "int16 SOFTMAX supports rank 1 to 4, input has rank {}",
            shape.len()
        )));
    }
    let input = input_params(ctx, 0)?;
    let out = ctx.output(0)?;
    let output = per_tensor_any_zero_point(ctx, "output 0", DType::I16, out.quant)?;
    let params =
        softmax16::softmax16_params(input, beta, output).map_err(|e| params_err(ctx, e))?;
    let depth = shape.last().copied().unwrap_or(1);
    Ok(Prepared::single(shape, Softmax16Kernel { params, depth }))
}

/// An int16 SOFTMAX over the last axis.
#[derive(Debug)]
struct Softmax16Kernel {
    params: softmax16::Softmax16Params,
    depth: usize,
}

impl Kernel for Softmax16Kernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let ([Some(x)], [out]) = (inputs, outputs) else {
            return Err(KernelError::Param(
                "SOFTMAX needs one input and one output".into(),
            ));
        };
        let (xd, o) = (x.data::<i16>()?, out.data::<i16>()?);
        if xd.len() != o.len() || (self.depth > 0 && xd.len() % self.depth != 0) {
            return Err(KernelError::Shape(format!(
                "softmax of {} values into {}",
                xd.len(),
                o.len()
            )));
        }
        softmax16::softmax16(&self.params, xd, self.depth, o);
        Ok(())
    }
}

/// Prepares an int8 / uint8 PRELU: input, alpha and output share the storage type; the output has
/// the input's shape (TFLite requires alpha to broadcast into it, up to rank 4).
fn prepare_quantized_prelu(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(0)?.dtype;
    ctx.expect_input_dtype(1, &[dtype])?;
    ctx.expect_output_dtype(0, dtype)?;
    let (input_shape, alpha_shape) = (ctx.input(0)?.shape.clone(), ctx.input(1)?.shape.clone());
    let shape = broadcast_shape(&input_shape, &alpha_shape).map_err(|e| ctx.kernel_err(e))?;
    if shape != input_shape || shape.len() > 4 {
        return Err(ctx.invalid(format!(
            "alpha {alpha_shape:?} must broadcast into the input {input_shape:?} (rank <= 4)"
        )));
    }
    let (x, a, o) = (
        input_params(ctx, 0)?,
        input_params(ctx, 1)?,
        output_params(ctx, 0)?,
    );
    let params = match dtype {
        DType::I8 => qact::prelu_params::<i8>(x, a, o),
        _ => qact::prelu_params::<u8>(x, a, o),
    }
    .map_err(|e| params_err(ctx, e))?;
    Ok(Prepared::single(
        shape,
        QuantPreluKernel {
            params,
            dtype,
            input_shape,
            alpha_shape,
        },
    ))
}

/// An int8 / uint8 PRELU.
#[derive(Debug)]
struct QuantPreluKernel {
    params: qact::PreluParams,
    dtype: DType,
    input_shape: Vec<usize>,
    alpha_shape: Vec<usize>,
}

impl QuantPreluKernel {
    fn eval_typed<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let n: usize = self.input_shape.iter().product();
        let x = input_data::<T>(inputs, 0, n)?;
        let alpha = input_data::<T>(inputs, 1, self.alpha_shape.iter().product())?;
        let out = output_data::<T>(outputs, n)?;
        qact::prelu(
            &self.params,
            x,
            &self.input_shape,
            alpha,
            &self.alpha_shape,
            out,
        )
    }
}

impl Kernel for QuantPreluKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::I8 => self.eval_typed::<i8>(inputs, outputs),
            _ => self.eval_typed::<u8>(inputs, outputs),
        }
    }
}
