//! Labelled float datasets for `eval`, `compare` and `demo`: `.npz` files with keys `x` (samples)
//! and `y` (integer labels), a single `.npy` of samples, or a folder of images with one sub-folder
//! per class (Keras' `image_dataset_from_directory` layout).

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

/// Image file extensions read from class folders.
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

impl Dataset {
    /// Loads a folder with one sub-folder per class (labels = sorted folder order). Each image is
    /// resized (bilinear) to the model's `[height, width, channels]` sample shape, converted to
    /// grayscale for 1 channel or RGB for 3, and scaled to [0, 1] (pixel / 255).
    pub fn load_images(dir: &Path, sample_shape: &[usize]) -> Result<(Self, Vec<String>)> {
        let [h, w, c] = sample_shape else {
            bail!("image folders need a model input of shape [batch, height, width, channels], got sample shape {sample_shape:?}");
        };
        if *c != 1 && *c != 3 {
            bail!("image folders need 1 or 3 input channels, the model takes {c}");
        }
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
            let mut files: Vec<PathBuf> = std::fs::read_dir(class)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    })
                })
                .collect();
            files.sort();
            for f in files {
                let img =
                    image::open(&f).with_context(|| format!("cannot decode {}", f.display()))?;
                let img =
                    img.resize_exact(*w as u32, *h as u32, image::imageops::FilterType::Triangle);
                if *c == 1 {
                    x.extend(img.to_luma8().pixels().map(|p| f32::from(p.0[0]) / 255.0));
                } else {
                    x.extend(
                        img.to_rgb8()
                            .pixels()
                            .flat_map(|p| p.0)
                            .map(|v| f32::from(v) / 255.0),
                    );
                }
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
