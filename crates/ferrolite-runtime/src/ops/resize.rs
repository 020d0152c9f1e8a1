//! Glue for spatial resampling: RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, SPACE_TO_DEPTH and
//! DEPTH_TO_SPACE (float32, NHWC).
//!
//! The resize ops take `(input, size)` where `size` is an int32 `[new_height, new_width]` operand
//! that must be known at prepare time (a constant, or folded from shape arithmetic), plus
//! `align_corners` / `half_pixel_centers` options. SPACE_TO_DEPTH / DEPTH_TO_SPACE take one input
//! and a `block_size` option. Absent options mean the schema defaults (a zero block size is then
//! rejected). The resize ops also run on int8 / uint8 with LiteRT's integer kernels
//! (`kernels::quant::resize`: raw values resampled, the output keeping the input's quantization);
//! other dtypes are reported as unsupported.

use super::conv::{expect_float, input_f32, output_f32, shape4};
use super::quant::{input_data, output_data};
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::quant::resize as qresize;
use crate::kernels::quant::QuantElem;
use crate::kernels::resize::{self, ResizeParams};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::DType;

/// Registers the family (max versions as TFLite's builtin op resolver).
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::ResizeBilinear, 4, prepare_resize)
        .supports(&[F32, Int8, UInt8, F16Weights])
        .note("uint8: an exact 8x half-pixel upscale (LiteRT runs a dedicated kernel there) is refused as unsupported rather than run inexactly");
    r.add(B::ResizeNearestNeighbor, 4, prepare_resize)
        .supports(&[F32, Int8, UInt8, F16Weights]);
    r.add(B::SpaceToDepth, 2, prepare_block)
        .supports(&[F32, F16Weights]);
    r.add(B::DepthToSpace, 2, prepare_block)
        .supports(&[F32, F16Weights]);
}

/// Which resampling op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResampleOp {
    Bilinear(ResizeParams),
    Nearest(ResizeParams),
    SpaceToDepth(usize),
    DepthToSpace(usize),
}

/// A resampling op bound to its parameters and shapes.
#[derive(Debug)]
struct ResampleKernel {
    op: ResampleOp,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
}

fn prepare_resize(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(2, 2, 1)?;
    let dtype = ctx.input(0)?.dtype;
    if !matches!(dtype, DType::I8 | DType::U8) {
        expect_float(ctx, &[0], &[])?;
    }
    let bilinear = ctx.op.kind.builtin() == B::ResizeBilinear;
    let params = match &ctx.op.options {
        Some(O::ResizeBilinearOptions(o)) if bilinear => ResizeParams {
            align_corners: o.align_corners,
            half_pixel_centers: o.half_pixel_centers,
        },
        Some(O::ResizeNearestNeighborOptions(o)) if !bilinear => ResizeParams {
            align_corners: o.align_corners,
            half_pixel_centers: o.half_pixel_centers,
        },
        _ => ResizeParams::default(),
    };
    let size_operand = ctx.input(1)?;
    if size_operand.dtype != DType::I32 || size_operand.shape[..] != [2] {
        return Err(ctx.invalid(format!(
            "size must be an int32 [2] tensor, is {}{:?}",
            size_operand.dtype, size_operand.shape
        )));
    }
    let size = ctx
        .const_ints(1)?
        .into_iter()
        .map(|v| i32::try_from(v).map_err(|_| ctx.invalid(format!("size value {v}"))))
        .collect::<Result<Vec<i32>, _>>()?;
    let input_shape = shape4(ctx, 0, "input")?;
    let (op, output_shape) = if bilinear {
        let shape = resize::resize_bilinear_output_shape(&params, input_shape, &size);
        (ResampleOp::Bilinear(params), shape)
    } else {
        let shape = resize::resize_nearest_neighbor_output_shape(&params, input_shape, &size);
        (ResampleOp::Nearest(params), shape)
    };
    let output_shape = output_shape.map_err(|e| ctx.kernel_err(e))?;
    if matches!(dtype, DType::I8 | DType::U8) {
        return prepare_quantized_resize(ctx, op, input_shape, output_shape);
    }
    Ok(Prepared::single(
        output_shape.to_vec(),
        ResampleKernel {
            op,
            input_shape,
            output_shape,
        },
    ))
}

fn prepare_block(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(1, 1, 1)?;
    expect_float(ctx, &[0], &[])?;
    let to_depth = ctx.op.kind.builtin() == B::SpaceToDepth;
    let block_size = match &ctx.op.options {
        Some(O::SpaceToDepthOptions(o)) if to_depth => o.block_size,
        Some(O::DepthToSpaceOptions(o)) if !to_depth => o.block_size,
        _ => 0,
    };
    let input_shape = shape4(ctx, 0, "input")?;
    let output_shape = if to_depth {
        resize::space_to_depth_output_shape(input_shape, block_size)
    } else {
        resize::depth_to_space_output_shape(input_shape, block_size)
    }
    .map_err(|e| ctx.kernel_err(e))?;
    // The shape functions reject block sizes below 1, so the conversion cannot fail.
    let bs = usize::try_from(block_size).map_err(|_| ctx.invalid("block_size out of range"))?;
    let op = if to_depth {
        ResampleOp::SpaceToDepth(bs)
    } else {
        ResampleOp::DepthToSpace(bs)
    };
    Ok(Prepared::single(
        output_shape.to_vec(),
        ResampleKernel {
            op,
            input_shape,
            output_shape,
        },
    ))
}

impl Kernel for ResampleKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let input = input_f32(inputs, 0, self.input_shape.iter().product())?;
        let out = output_f32(outputs, self.output_shape.iter().product())?;
        let (is, os) = (self.input_shape, self.output_shape);
        match &self.op {
            ResampleOp::Bilinear(p) => resize::resize_bilinear(p, input, is, out, os),
            ResampleOp::Nearest(p) => resize::resize_nearest_neighbor(p, input, is, out, os),
            ResampleOp::SpaceToDepth(bs) => resize::space_to_depth(*bs, input, is, out),
            ResampleOp::DepthToSpace(bs) => resize::depth_to_space(*bs, input, is, out),
        }
        Ok(())
    }
}

/// Prepares an int8 / uint8 resize. Like TFLite, the kernels resample the raw integers, so the
/// output must be declared with the input's type (its quantization is taken as the input's).
fn prepare_quantized_resize(
    ctx: &PrepareCtx<'_>,
    op: ResampleOp,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
) -> Result<Prepared, RuntimeError> {
    let dtype = ctx.input(0)?.dtype;
    ctx.expect_output_dtype(0, dtype)?;
    if let ResampleOp::Bilinear(p) = op {
        if dtype == DType::U8 && qresize::is_uint8_x8_special_case(&p, input_shape, output_shape) {
            return Err(ctx.unsupported(
                "uint8 RESIZE_BILINEAR by exactly 8x with half-pixel centres and depth % 8 == 0 \
                 (LiteRT's dedicated kernel) is not implemented",
            ));
        }
    }
    Ok(Prepared::single(
        output_shape.to_vec(),
        QuantResampleKernel {
            op,
            dtype,
            input_shape,
            output_shape,
        },
    ))
}

/// A typed bilinear kernel (int8 integer path or uint8 float path).
type BilinearFn<T> = fn(&ResizeParams, &[T], [usize; 4], &mut [T], [usize; 4]);

/// An int8 / uint8 RESIZE_BILINEAR or RESIZE_NEAREST_NEIGHBOR.
#[derive(Debug)]
struct QuantResampleKernel {
    op: ResampleOp,
    dtype: DType,
    input_shape: [usize; 4],
    output_shape: [usize; 4],
}

impl QuantResampleKernel {
    fn run<T: QuantElem + bytemuck::Pod>(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
        bilinear: BilinearFn<T>,
    ) -> Result<(), KernelError> {
        let (is, os) = (self.input_shape, self.output_shape);
        let input = input_data::<T>(inputs, 0, is.iter().product())?;
        let out = output_data::<T>(outputs, os.iter().product())?;
        match &self.op {
            ResampleOp::Bilinear(p) => bilinear(p, input, is, out, os),
            ResampleOp::Nearest(p) => qresize::resize_nearest_8bit(p, input, is, out, os),
            _ => return Err(KernelError::Param("not a resize".into())),
        }
        Ok(())
    }
}

impl Kernel for QuantResampleKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        match self.dtype {
            DType::U8 => self.run::<u8>(inputs, outputs, qresize::resize_bilinear_u8),
            _ => self.run::<i8>(inputs, outputs, qresize::resize_bilinear_integer::<i8>),
        }
    }
}
