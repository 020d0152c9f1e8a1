//! Image files as model inputs: PNG / JPEG decoding (the `image` crate), resizing to the model's
//! `[height, width, channels]`, and the pixel scaling the model expects. Used by `eval` (class
//! folders) and by `quantize` / `convert` for calibration folders.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Image file extensions that are decoded.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// How 8-bit pixels become model input values (`--pixel-scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PixelScale {
    /// `pixel / 255`, in [0, 1] (Keras' `Rescaling(1/255)` done outside the model).
    #[default]
    Unit,
    /// The raw pixel value, in [0, 255] (models that rescale internally).
    Byte,
    /// `pixel / 127.5 - 1`, in [-1, 1] (MobileNet-style preprocessing).
    Signed,
}

impl PixelScale {
    /// The model input value of an 8-bit pixel.
    pub fn apply(self, pixel: u8) -> f32 {
        let p = f32::from(pixel);
        match self {
            PixelScale::Unit => p / 255.0,
            PixelScale::Byte => p,
            PixelScale::Signed => p / 127.5 - 1.0,
        }
    }
}

/// True when `path` has one of [`IMAGE_EXTENSIONS`] (any case).
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The shape of one sample of `model`'s first input (its declared shape without the batch
/// dimension; dynamic dimensions read as 0, which [`image_shape`] refuses).
pub fn model_sample_shape(model: &ferrolite_model::Model) -> Result<Vec<usize>> {
    let graph = model
        .subgraphs
        .first()
        .context("the model has no subgraph")?;
    let input = graph.inputs.first().context("the model has no input")?;
    Ok(graph.tensors[*input]
        .shape
        .iter()
        .skip(1)
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect())
}

/// Checks a model sample shape is `[height, width, 1 or 3]` and returns it.
pub fn image_shape(sample_shape: &[usize]) -> Result<(usize, usize, usize)> {
    let &[h, w, c] = sample_shape else {
        bail!(
            "images need a model input of shape [batch, height, width, channels], got sample shape {sample_shape:?}"
        );
    };
    if c != 1 && c != 3 {
        bail!("images need 1 or 3 input channels, the model takes {c}");
    }
    if h == 0 || w == 0 {
        bail!("the model input has an empty image size {h}x{w}");
    }
    Ok((h, w, c))
}

/// Decodes one image, resizes it (bilinear) to `h × w`, converts it to grayscale (`c == 1`) or
/// RGB (`c == 3`) and appends its scaled values (row-major `[h, w, c]`) to `out`.
pub fn decode_into(
    path: &Path,
    (h, w, c): (usize, usize, usize),
    scale: PixelScale,
    out: &mut Vec<f32>,
) -> Result<()> {
    let img = image::open(path).with_context(|| format!("cannot decode {}", path.display()))?;
    let img = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
    if c == 1 {
        out.extend(img.to_luma8().pixels().map(|p| scale.apply(p.0[0])));
    } else {
        out.extend(
            img.to_rgb8()
                .pixels()
                .flat_map(|p| p.0)
                .map(|v| scale.apply(v)),
        );
    }
    Ok(())
}

/// The image files directly inside `dir`, sorted by name.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image(p))
        .collect();
    files.sort();
    Ok(files)
}

/// The image files of a calibration folder: those directly inside it, then those of each
/// sub-folder (a class-folder dataset works too), each group sorted by name.
pub fn calibration_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = images_in(dir)?;
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    for d in subdirs {
        files.extend(images_in(&d)?);
    }
    Ok(files)
}

/// Decodes `files` (at most `limit`) to one `[n, h, w, c]` batch for a model whose sample shape
/// is `sample_shape`; returns the values and `n`.
pub fn decode_batch(
    files: &[PathBuf],
    sample_shape: &[usize],
    scale: PixelScale,
    limit: usize,
) -> Result<(Vec<f32>, usize)> {
    let hwc = image_shape(sample_shape)?;
    let take = files.len().min(limit);
    let mut values = Vec::with_capacity(take * hwc.0 * hwc.1 * hwc.2);
    for f in &files[..take] {
        decode_into(f, hwc, scale, &mut values)?;
    }
    Ok((values, take))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_scales_map_the_byte_range() {
        assert_eq!(
            (PixelScale::Unit.apply(0), PixelScale::Unit.apply(255)),
            (0.0, 1.0)
        );
        assert_eq!(PixelScale::Byte.apply(200), 200.0);
        assert_eq!(
            (PixelScale::Signed.apply(0), PixelScale::Signed.apply(255)),
            (-1.0, 1.0)
        );
    }

    #[test]
    fn shapes_other_than_hwc_with_1_or_3_channels_are_refused() {
        assert!(image_shape(&[8, 8]).is_err());
        assert!(image_shape(&[8, 8, 2]).is_err());
        assert_eq!(image_shape(&[4, 5, 3]).unwrap(), (4, 5, 3));
    }

    #[test]
    fn png_decodes_resized_and_scaled() {
        let dir = std::env::temp_dir().join(format!("ferrolite-img-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("class")).unwrap();
        let img = image::RgbImage::from_fn(4, 2, |x, _| image::Rgb([x as u8 * 60, 0, 255]));
        img.save(dir.join("class/a.png")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
        let files = calibration_images(&dir).unwrap();
        assert_eq!(files.len(), 1);
        let (v, n) = decode_batch(&files, &[2, 4, 3], PixelScale::Byte, 10).unwrap();
        assert_eq!(n, 1);
        assert_eq!(&v[..6], &[0.0, 0.0, 255.0, 60.0, 0.0, 255.0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
