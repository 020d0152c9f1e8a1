//! Pooling: MaxPooling2D / AveragePooling2D (MAX_POOL_2D / AVERAGE_POOL_2D) and the global
//! poolings (MEAN / REDUCE_MAX over axes `[1, 2]`, as TF lowers them).

use super::call::Call;
use super::conv::{hwc, window_out};
use super::Lowering;
use crate::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};

/// `MaxPooling2D` / `AveragePooling2D`.
pub fn pool2d(lw: &mut Lowering<'_>, call: &Call<'_>, op: B) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, c] = hwc(call, &sig)?;
    let pool = call.pair("pool_size", Some([2, 2]))?;
    let strides = call.pair("strides", Some(pool))?;
    let padding = call.padding()?;
    let oh = window_out(h, pool[0], strides[0], 1, padding);
    let ow = window_out(w, pool[1], strides[1], 1, padding);
    let (Some(oh), Some(ow)) = (oh, ow) else {
        return Err(call.bad_shape(format!(
            "pool {pool:?} does not fit the {h}x{w} input with VALID padding"
        )));
    };
    let y =
        lw.b.activation(call.name(), &[sig[0], oh as i32, ow as i32, c as i32]);
    let options = tflite::Pool2DOptions {
        padding,
        stride_w: strides[1] as i32,
        stride_h: strides[0] as i32,
        filter_width: pool[1] as i32,
        filter_height: pool[0] as i32,
        ..Default::default()
    };
    lw.b.op(
        op,
        vec![Some(x)],
        vec![y],
        Some(BuiltinOptions::Pool2DOptions(Box::new(options))),
    );
    Ok(vec![y])
}

/// `GlobalAveragePooling2D` (MEAN) / `GlobalMaxPooling2D` (REDUCE_MAX) over H and W.
pub fn global_pool2d(lw: &mut Lowering<'_>, call: &Call<'_>, op: B) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [_, _, c] = hwc(call, &sig)?;
    let keep = call.bool("keepdims", false)?;
    let axes =
        lw.b.const_i32(format!("{}/reduction_indices", call.name()), &[2], &[1, 2]);
    let out_sig: Vec<i32> = if keep {
        vec![sig[0], 1, 1, c as i32]
    } else {
        vec![sig[0], c as i32]
    };
    let y = lw.b.activation(call.name(), &out_sig);
    lw.b.op(
        op,
        vec![Some(x), Some(axes)],
        vec![y],
        Some(BuiltinOptions::ReducerOptions(Box::new(
            tflite::ReducerOptions { keep_dims: keep },
        ))),
    );
    Ok(vec![y])
}
