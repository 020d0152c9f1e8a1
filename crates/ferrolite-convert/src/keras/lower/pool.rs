//! Pooling: MaxPooling2D / AveragePooling2D (MAX_POOL_2D / AVERAGE_POOL_2D), their 1-D forms
//! (EXPAND_DIMS at axis 2, a `k`×1 pool, RESHAPE back — TF's lowering) and the global poolings
//! (MEAN / REDUCE_MAX over axis 1, or axes `[1, 2]`, as TF lowers them).

use super::call::Call;
use super::conv::{hwc, window_out};
use super::conv1d::lc;
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

/// `MaxPooling1D` / `AveragePooling1D`: EXPAND_DIMS to `[N, L, 1, C]`, a `pool`×1 window,
/// RESHAPE to `[-1, L', C]`.
pub fn pool1d(lw: &mut Lowering<'_>, call: &Call<'_>, op: B) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [len, c] = lc(call, &sig)?;
    let pool = call.single("pool_size", Some(2))?;
    let stride = call.single("strides", Some(pool))?;
    let padding = call.padding()?;
    let out = window_out(len, pool, stride, 1, padding).ok_or_else(|| {
        call.bad_shape(format!(
            "pool {pool} does not fit {len} steps with VALID padding"
        ))
    })?;
    let name = call.name();
    let x4 = lw.expand_dims(x, 2, &format!("{name}/ExpandDims"));
    let y4 =
        lw.b.activation(format!("{name}/pool"), &[sig[0], out as i32, 1, c as i32]);
    let options = tflite::Pool2DOptions {
        padding,
        stride_w: 1,
        stride_h: stride as i32,
        filter_width: 1,
        filter_height: pool as i32,
        ..Default::default()
    };
    lw.b.op(
        op,
        vec![Some(x4)],
        vec![y4],
        Some(BuiltinOptions::Pool2DOptions(Box::new(options))),
    );
    Ok(vec![lw.reshape_to(
        y4,
        &[sig[0], out as i32, c as i32],
        &name,
    )])
}

/// The global poolings: MEAN (average) or REDUCE_MAX (max) over the `spatial` axes after the
/// batch (1 for the 1-D layers, with a scalar axis as TF writes it; 2 for the 2-D layers).
pub fn global_pool(
    lw: &mut Lowering<'_>,
    call: &Call<'_>,
    op: B,
    spatial: usize,
) -> Result<Vec<usize>> {
    call.check_common()?;
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let c = if spatial == 1 {
        lc(call, &sig)?[1]
    } else {
        hwc(call, &sig)?[2]
    };
    let keep = call.bool("keepdims", false)?;
    let name = format!("{}/reduction_indices", call.name());
    let axes = if spatial == 1 {
        lw.b.const_i32(name, &[], &[1])
    } else {
        lw.b.const_i32(name, &[2], &[1, 2])
    };
    let out_sig: Vec<i32> = if keep {
        let mut s = vec![sig[0]];
        s.extend(std::iter::repeat_n(1, spatial));
        s.push(c as i32);
        s
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
