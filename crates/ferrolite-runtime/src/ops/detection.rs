//! Glue for NON_MAX_SUPPRESSION_V4 / V5 and the `TFLite_Detection_PostProcess` custom op.
//!
//! NMS outputs are `[max_output_size]` selected indices (zero-padded, as LiteRT always pads),
//! for V5 also the (soft-NMS decayed) scores, and the int32 count. `max_output_size` must be
//! known to size the outputs: a constant is read at prepare time, an activation defers prepare
//! to `invoke`. The thresholds and sigma are read at `invoke`. float32 only (LiteRT's int8/int16
//! NMS is newer than the converter's output and not implemented).
//!
//! The SSD op reads its flexbuffer options once at prepare time; outputs are float32
//! `[1, max_detections * max_classes_per_detection, 4]` boxes, classes, scores and `[1]` count,
//! rows past the count zeroed (LiteRT's fast path leaves them unwritten).

use super::flexbuffer::{parse_map, FlexValue};
use super::shape::operand;
use super::{Kernel, PrepareCtx, Prepared, Registry};
use crate::error::RuntimeError;
use crate::kernels::common::KernelError;
use crate::kernels::detection::{self as det, NmsParams, PostProcessParams};
use crate::tensor::{TensorView, TensorViewMut};
use ferrolite_model::tflite::{BuiltinOperator as B, CustomOptionsFormat};
use ferrolite_model::DType;

/// Registers the family.
pub fn register(r: &mut Registry) {
    use super::Variant::*;
    r.add(B::NonMaxSuppressionV4, 1, prepare_nms)
        .supports(&[F32, F16Weights])
        .note("float32 boxes and scores only");
    r.add(B::NonMaxSuppressionV5, 1, prepare_nms)
        .supports(&[F32, F16Weights])
        .note("float32 boxes and scores only");
}

/// The name of the SSD post-processing custom operator.
pub const DETECTION_POSTPROCESS: &str = "TFLite_Detection_PostProcess";

// ---------------------------------------------------------------------------------------------
// NON_MAX_SUPPRESSION_V4 / V5

#[derive(Debug)]
struct NmsKernel {
    max_output: usize,
    soft: bool,
}

/// The single f32 value of scalar input `i`.
fn scalar_f32(inputs: &[Option<TensorView<'_>>], i: usize) -> Result<f32, KernelError> {
    operand(inputs, i)?
        .data::<f32>()?
        .first()
        .copied()
        .ok_or_else(|| KernelError::Param(format!("input {i} is empty")))
}

impl Kernel for NmsKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let boxes = operand(inputs, 0)?.data::<f32>()?;
        let scores = operand(inputs, 1)?.data::<f32>()?;
        let sigma = if self.soft {
            scalar_f32(inputs, 5)?
        } else {
            0.0
        };
        if sigma < 0.0 {
            return Err(KernelError::Param(format!(
                "soft_nms_sigma {sigma} is negative"
            )));
        }
        let p = NmsParams {
            max_output: self.max_output,
            iou_threshold: scalar_f32(inputs, 3)?,
            score_threshold: scalar_f32(inputs, 4)?,
            soft_nms_sigma: sigma,
        };
        let (indices, rest) = outputs
            .split_first_mut()
            .ok_or_else(|| KernelError::Param("outputs missing".into()))?;
        let (count_out, scores_out) = if self.soft {
            let [s, c] = rest else {
                return Err(KernelError::Param("V5 needs 3 outputs".into()));
            };
            (c, Some(s.data::<f32>()?))
        } else {
            let [c] = rest else {
                return Err(KernelError::Param("V4 needs 2 outputs".into()));
            };
            (c, None)
        };
        let n = det::non_max_suppression(boxes, scores, p, indices.data::<i32>()?, scores_out)?;
        count_out.data::<i32>()?[0] = n as i32;
        Ok(())
    }
}

fn prepare_nms(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    let soft = ctx.op.kind.builtin() == B::NonMaxSuppressionV5;
    if soft {
        ctx.expect_arity(6, 6, 3)?;
    } else {
        ctx.expect_arity(5, 5, 2)?;
    }
    let boxes = ctx.input(0)?;
    let scores = ctx.input(1)?;
    for i in [0, 1, 3, 4].into_iter().chain(soft.then_some(5)) {
        ctx.expect_input_dtype(i, &[DType::F32])?;
    }
    if boxes.shape.len() != 2 || boxes.shape[1] != 4 {
        return Err(ctx.invalid(format!("boxes must be [n, 4], are {:?}", boxes.shape)));
    }
    if scores.shape != [boxes.shape[0]] {
        return Err(ctx.invalid(format!(
            "scores must be [{}], are {:?}",
            boxes.shape[0], scores.shape
        )));
    }
    for i in [2, 3, 4].into_iter().chain(soft.then_some(5)) {
        if ctx.input(i)?.len() != 1 {
            return Err(ctx.invalid(format!("input {i} must be a scalar")));
        }
    }
    ctx.expect_input_dtype(2, &[DType::I32])?;
    let max = ctx.const_ints(2)?[0];
    let max_output = usize::try_from(max)
        .map_err(|_| ctx.invalid(format!("max_output_size {max} is negative")))?;
    ctx.expect_output_dtype(0, DType::I32)?;
    let mut shapes = vec![vec![max_output]];
    if soft {
        ctx.expect_output_dtype(1, DType::F32)?;
        shapes.push(vec![max_output]);
    }
    ctx.expect_output_dtype(shapes.len(), DType::I32)?;
    shapes.push(vec![]);
    Ok(Prepared {
        output_shapes: shapes,
        kernel: Box::new(NmsKernel { max_output, soft }),
    })
}

// ---------------------------------------------------------------------------------------------
// TFLite_Detection_PostProcess

#[derive(Debug)]
struct PostProcessKernel {
    params: PostProcessParams,
}

impl Kernel for PostProcessKernel {
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError> {
        let enc = operand(inputs, 0)?;
        let scores = operand(inputs, 1)?;
        let anchors = operand(inputs, 2)?.data::<f32>()?;
        let n = enc.shape[1];
        let mut boxes = vec![0.0f32; 4 * n];
        det::decode_boxes(
            enc.data::<f32>()?,
            enc.shape[2],
            anchors,
            self.params.scales,
            &mut boxes,
        );
        let [b, c, s, count] = outputs else {
            return Err(KernelError::Param("expects 4 outputs".into()));
        };
        let out = det::PostProcessOut {
            boxes: b.data::<f32>()?,
            classes: c.data::<f32>()?,
            scores: s.data::<f32>()?,
        };
        let k = det::detection_post_process(
            &boxes,
            scores.data::<f32>()?,
            scores.shape[2],
            &self.params,
            out,
        )?;
        count.data::<f32>()?[0] = k as f32;
        Ok(())
    }
}

/// Reads the SSD op's options from its flexbuffer map.
fn post_process_params(ctx: &PrepareCtx<'_>) -> Result<PostProcessParams, RuntimeError> {
    if ctx.op.custom_options_format != CustomOptionsFormat::Flexbuffers {
        return Err(ctx.invalid("custom options are not in FlexBuffers format"));
    }
    let bytes = ctx
        .op
        .custom_options
        .as_deref()
        .ok_or_else(|| ctx.invalid("missing custom options"))?;
    let map = parse_map(bytes).map_err(|e| ctx.invalid(format!("custom options: {e}")))?;
    let get = |k: &str| map.get(k).copied().unwrap_or(FlexValue::Null);
    let need_f = |k: &str| {
        get(k)
            .as_f32()
            .ok_or_else(|| ctx.invalid(format!("custom option `{k}` is missing")))
    };
    let count = |k: &str, default: Option<i64>| {
        let v = get(k).as_i64().or(default);
        let v = v.ok_or_else(|| ctx.invalid(format!("custom option `{k}` is missing")))?;
        usize::try_from(v)
            .map_err(|_| ctx.invalid(format!("custom option `{k}` = {v} is negative")))
    };
    Ok(PostProcessParams {
        max_detections: count("max_detections", None)?,
        max_classes_per_detection: count("max_classes_per_detection", None)?,
        detections_per_class: count("detections_per_class", Some(100))?,
        use_regular_nms: get("use_regular_nms").as_bool().unwrap_or(false),
        score_threshold: need_f("nms_score_threshold")?,
        iou_threshold: need_f("nms_iou_threshold")?,
        num_classes: count("num_classes", None)?,
        scales: [
            need_f("y_scale")?,
            need_f("x_scale")?,
            need_f("h_scale")?,
            need_f("w_scale")?,
        ],
    })
}

/// Prepares `TFLite_Detection_PostProcess` (float32 inputs).
pub fn prepare_post_process(ctx: &PrepareCtx<'_>) -> Result<Prepared, RuntimeError> {
    ctx.expect_arity(3, 3, 4)?;
    for i in 0..3 {
        ctx.expect_input_dtype(i, &[DType::F32])?;
    }
    let params = post_process_params(ctx)?;
    let (enc, scores, anchors) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
    if enc.shape.len() != 3 || enc.shape[0] != 1 || enc.shape[2] < 4 {
        return Err(ctx.invalid(format!(
            "box encodings must be [1, n, >=4], are {:?}",
            enc.shape
        )));
    }
    let n = enc.shape[1];
    if scores.shape.len() != 3 || scores.shape[0] != 1 || scores.shape[1] != n {
        return Err(ctx.invalid(format!(
            "class predictions must be [1, {n}, classes], are {:?}",
            scores.shape
        )));
    }
    let with_bg = scores.shape[2];
    if with_bg < params.num_classes || with_bg - params.num_classes > 1 {
        return Err(ctx.invalid(format!(
            "class predictions have {with_bg} columns for num_classes {}",
            params.num_classes
        )));
    }
    if anchors.shape != [n, 4] {
        return Err(ctx.invalid(format!("anchors must be [{n}, 4], are {:?}", anchors.shape)));
    }
    let rows = params
        .max_detections
        .checked_mul(params.max_classes_per_detection)
        .ok_or_else(|| ctx.invalid("max_detections * max_classes_per_detection overflows"))?;
    for o in 0..4 {
        ctx.expect_output_dtype(o, DType::F32)?;
    }
    Ok(Prepared {
        output_shapes: vec![vec![1, rows, 4], vec![1, rows], vec![1, rows], vec![1]],
        kernel: Box::new(PostProcessKernel { params }),
    })
}
