//! Spatial resampling of NHWC images, as TF lowers it:
//!
//! * `Cropping2D`: one STRIDED_SLICE (begin `[0, top, left, 0]`, end `[0, -bottom, -right, 0]`,
//!   masks for the untouched batch / channel axes and for zero bottom / right crops).
//! * `UpSampling2D`: RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR to `size × (H, W)`, with
//!   `half_pixel_centers` (what `tf.image.resize` uses, so version 3 of both ops).
//! * `Resizing`: the same two ops for `interpolation` nearest / bilinear, after a SLICE to the
//!   centered crop of the target aspect ratio when `crop_to_aspect_ratio` is set. TFLite has no
//!   builtin for the other interpolations, for padding to the aspect ratio or for antialiasing;
//!   those are reported as unsupported.

use super::call::Call;
use super::conv::{hwc, two_sided};
use super::Lowering;
use crate::error::Result;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};

/// `Cropping2D`.
pub fn cropping2d(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, c] = hwc(call, &sig)?;
    let [[t, b], [l, r]] = two_sided(call, "cropping")?;
    if t + b >= h || l + r >= w {
        return Err(call.bad_shape(format!(
            "cropping [[{t}, {b}], [{l}, {r}]] leaves nothing of the {h}x{w} input"
        )));
    }
    let name = call.name();
    let begin =
        lw.b.const_i32(format!("{name}/begin"), &[4], &[0, t as i32, l as i32, 0]);
    let end = lw.b.const_i32(
        format!("{name}/end"),
        &[4],
        &[0, -(b as i32), -(r as i32), 0],
    );
    let strides = lw.b.const_i32(format!("{name}/strides"), &[4], &[1; 4]);
    let end_mask = 0b1001 | if b == 0 { 0b10 } else { 0 } | if r == 0 { 0b100 } else { 0 };
    let options = tflite::StridedSliceOptions {
        begin_mask: 0b1001,
        end_mask,
        ..Default::default()
    };
    let out = [sig[0], (h - t - b) as i32, (w - l - r) as i32, c as i32];
    let y = lw.b.activation(&name, &out);
    lw.b.op(
        B::StridedSlice,
        vec![Some(x), Some(begin), Some(end), Some(strides)],
        vec![y],
        Some(BuiltinOptions::StridedSliceOptions(Box::new(options))),
    );
    Ok(vec![y])
}

/// RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR of `x` to `[oh, ow]` with half-pixel centers.
fn resize(
    lw: &mut Lowering<'_>,
    call: &Call<'_>,
    x: usize,
    size: [usize; 2],
    interpolation: &str,
    name: &str,
) -> Result<usize> {
    let sig = lw.b.sig(x);
    let [oh, ow] = size.map(|d| d as i32);
    let op = match interpolation {
        "nearest" => B::ResizeNearestNeighbor,
        "bilinear" => B::ResizeBilinear,
        other => {
            return Err(call.unsupported(
                "interpolation",
                other,
                "\"nearest\", \"bilinear\" (TFLite has no other resize builtin)",
            ))
        }
    };
    let options = if op == B::ResizeBilinear {
        BuiltinOptions::ResizeBilinearOptions(Box::new(tflite::ResizeBilinearOptions {
            align_corners: false,
            half_pixel_centers: true,
        }))
    } else {
        BuiltinOptions::ResizeNearestNeighborOptions(Box::new(
            tflite::ResizeNearestNeighborOptions {
                align_corners: false,
                half_pixel_centers: true,
            },
        ))
    };
    let s = lw.b.const_i32(format!("{name}/size"), &[2], &[oh, ow]);
    let y = lw.b.activation(name, &[sig[0], oh, ow, sig[3]]);
    lw.b.op(op, vec![Some(x), Some(s)], vec![y], Some(options));
    Ok(y)
}

/// `UpSampling2D(size, interpolation)`.
pub fn upsampling2d(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let [h, w, _] = hwc(call, &lw.b.sig(x))?;
    let [sh, sw] = call.pair("size", Some([2, 2]))?;
    let interpolation = call.str("interpolation", "nearest")?.to_ascii_lowercase();
    let y = resize(lw, call, x, [h * sh, w * sw], &interpolation, &call.name())?;
    Ok(vec![y])
}

/// The centered crop `[top, left, height, width]` of an `h`×`w` image with the aspect ratio of
/// `th`×`tw` (Keras' `smart_resize` arithmetic).
fn aspect_crop(h: usize, w: usize, th: usize, tw: usize) -> [usize; 4] {
    let ch = (w * th / tw).clamp(1, h);
    let cw = (h * tw / th).clamp(1, w);
    [(h - ch) / 2, (w - cw) / 2, ch, cw]
}

/// `Resizing(height, width, interpolation, crop_to_aspect_ratio)`.
pub fn resizing(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let mut x = call.one_input()?;
    let sig = lw.b.sig(x);
    let [h, w, _] = hwc(call, &sig)?;
    let th = call.positive("height", None)?;
    let tw = call.positive("width", None)?;
    for key in ["pad_to_aspect_ratio", "antialias"] {
        if call.bool(key, false)? {
            return Err(call.unsupported(key, true, "false"));
        }
    }
    let interpolation = call.str("interpolation", "bilinear")?.to_ascii_lowercase();
    let name = call.name();
    if call.bool("crop_to_aspect_ratio", false)? {
        let [top, left, ch, cw] = aspect_crop(h, w, th, tw);
        if [ch, cw] != [h, w] {
            let begin = lw.b.const_i32(
                format!("{name}/crop/begin"),
                &[4],
                &[0, top as i32, left as i32, 0],
            );
            let size = lw.b.const_i32(
                format!("{name}/crop/size"),
                &[4],
                &[-1, ch as i32, cw as i32, -1],
            );
            let c = lw.b.activation(
                format!("{name}/crop"),
                &[sig[0], ch as i32, cw as i32, sig[3]],
            );
            lw.b.op(
                B::Slice,
                vec![Some(x), Some(begin), Some(size)],
                vec![c],
                None,
            );
            x = c;
        }
    }
    Ok(vec![resize(lw, call, x, [th, tw], &interpolation, &name)?])
}

#[cfg(test)]
mod tests {
    use super::aspect_crop;

    #[test]
    fn aspect_crops_are_centered() {
        assert_eq!(aspect_crop(6, 8, 4, 4), [0, 1, 6, 6]);
        assert_eq!(aspect_crop(8, 6, 4, 4), [1, 0, 6, 6]);
        assert_eq!(aspect_crop(6, 8, 3, 4), [0, 0, 6, 8]);
        assert_eq!(aspect_crop(5, 9, 2, 1), [0, 3, 5, 2]);
    }
}
