//! Labelled float datasets for `eval`, `compare` and `demo`: `.npz` files with keys `x` (samples)
//! and `y` (integer labels), a single `.npy` of samples, or a folder of images with one sub-folder
//! per class (Keras' `image_dataset_from_directory` layout).

use crate::images::{decode_into, image_shape, images_in, PixelScale};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Samples (as float32, contiguous) and optional labels.
pub struct Dataset {
    /// All samples, `n × sample_shape` values.
    pub x: Vec<f32>,
    /// Number of samples.
    pub n: usize,
    /// Shape of one sample.
    pub sample_shape: Vec<usize>,
    /// Integer class labels, one per sample.
    pub y: Option<Vec<i64>>,
}

impl Dataset {
    /// Loads a `.npz` (keys `x` and optionally `y`) or a `.npy` of samples.
    pub fn load(path: &Path) -> Result<Self> {
        let is_npz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
        let (x, y) = if is_npz {
            let entries = ferrolite_npy::read_npz(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let find = |k: &str| entries.iter().find(|(name, _)| name == k).map(|(_, a)| a);
            let Some(x) = find("x") else {
                let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                bail!("{} has no 'x' array (keys: {keys:?})", path.display());
            };
            (x.clone(), find("y").cloned())
        } else {
            let x = ferrolite_npy::read_npy(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (x, None)
        };
        if x.shape.is_empty() || x.shape[0] == 0 {
            bail!(
                "{}: 'x' has shape {:?}; expected [samples, ...] with at least one sample",
                path.display(),
                x.shape
            );
        }
        let n = x.shape[0];
        let values = x.to_f32_vec();
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            bail!(
                "{}: 'x' holds a non-finite value ({}) at flat index {bad}",
                path.display(),
                values[bad]
            );
        }
        let y = match y {
            Some(y) if !y.dtype.is_float() => {
                if y.len() != n {
                    bail!(
                        "{}: 'y' has {} labels for {n} samples",
                        path.display(),
                        y.len()
                    );
                }
                Some(y.to_i64_vec())
            }
            Some(y) => bail!(
                "{}: 'y' must hold integer class labels, found {}",
                path.display(),
                y.dtype.name()
            ),
            None => None,
        };
        Ok(Dataset {
            x: values,
            n,
            sample_shape: x.shape[1..].to_vec(),
            y,
        })
    }

    /// The first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.n {
            let per: usize = self.sample_shape.iter().product();
            self.x.truncate(n * per);
            if let Some(y) = &mut self.y {
                y.truncate(n);
            }
            self.n = n;
        }
    }
}

impl Dataset {
    /// Loads a folder with one sub-folder per class (labels = sorted folder order). Each image is
    /// resized (bilinear) to the model's `[height, width, channels]` sample shape, converted to
    /// grayscale for 1 channel or RGB for 3, and scaled as `scale` says.
    pub fn load_images(
        dir: &Path,
        sample_shape: &[usize],
        scale: PixelScale,
    ) -> Result<(Self, Vec<String>)> {
        let hwc = image_shape(sample_shape)?;
        let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        classes.sort();
        if classes.is_empty() {
            bail!("{} has no class sub-folders", dir.display());
        }
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (label, class) in classes.iter().enumerate() {
            for f in images_in(class)? {
                decode_into(&f, hwc, scale, &mut x)?;
                y.push(label as i64);
            }
        }
        if y.is_empty() {
            bail!(
                "{} has class folders but no .png/.jpg images",
                dir.display()
            );
        }
        let names = classes
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        Ok((
            Dataset {
                x,
                n: y.len(),
                sample_shape: sample_shape.to_vec(),
                y: Some(y),
            },
            names,
        ))
    }
}
