//! Labelled datasets for fine-tuning: `.npz` files with `x` (samples) and `y` (class labels),
//! Keras-style validation splits, and deterministic per-epoch shuffling.

use crate::error::{Result, TrainError};
use std::path::Path;

/// Samples and integer class labels held in memory as float32.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Shape of one sample (for images NHWC without the batch dim, e.g. `[8, 8, 1]`).
    pub sample_shape: Vec<usize>,
    /// All samples, row-major, `len() * sample_len()` values.
    pub x: Vec<f32>,
    /// One class index per sample.
    pub y: Vec<usize>,
}

impl Dataset {
    /// A dataset from raw parts; checks that `x` holds exactly one sample per label.
    pub fn new(sample_shape: Vec<usize>, x: Vec<f32>, y: Vec<usize>) -> Result<Self> {
        let per: usize = sample_shape.iter().product();
        if per == 0 || x.len() != per * y.len() {
            return Err(TrainError::Data(format!(
                "x holds {} values, expected {} samples of shape {:?}",
                x.len(),
                y.len(),
                sample_shape
            )));
        }
        Ok(Dataset { sample_shape, x, y })
    }

    /// Loads `x` and `y` from a `.npz` archive. `y` holds integer labels `[N]` or one-hot rows
    /// `[N, classes]` (turned into indices by argmax).
    pub fn load_npz(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let members = ferrolite_npy::read_npz(path)?;
        let find = |name: &str| {
            members
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, a)| a)
                .ok_or_else(|| {
                    TrainError::Data(format!("{}: no array named '{name}'", path.display()))
                })
        };
        let x = find("x")?;
        let y = find("y")?;
        if x.shape.is_empty() {
            return Err(TrainError::Data(format!(
                "{}: x must have a batch dimension",
                path.display()
            )));
        }
        let n = x.shape[0];
        let labels: Vec<usize> = match y.shape.len() {
            1 if y.dtype.is_float() => y
                .to_f64_vec()
                .into_iter()
                .map(|v| label_from_f64(v, path))
                .collect::<Result<_>>()?,
            1 => y
                .to_i64_vec()
                .into_iter()
                .map(|v| {
                    usize::try_from(v).map_err(|_| {
                        TrainError::Data(format!("{}: negative label {v}", path.display()))
                    })
                })
                .collect::<Result<_>>()?,
            2 => {
                let c = y.shape[1].max(1);
                y.to_f32_vec().chunks(c).map(argmax).collect()
            }
            _ => {
                return Err(TrainError::Data(format!(
                    "{}: y must be [N] labels or [N, classes] one-hot, got {:?}",
                    path.display(),
                    y.shape
                )))
            }
        };
        if labels.len() != n {
            return Err(TrainError::Data(format!(
                "{}: x has {n} samples but y has {}",
                path.display(),
                labels.len()
            )));
        }
        Dataset::new(x.shape[1..].to_vec(), x.to_f32_vec(), labels)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Largest label + 1.
    pub fn classes(&self) -> usize {
        self.y.iter().max().map_or(0, |m| m + 1)
    }

    /// Keras' `validation_split`: the last `fraction` of the samples (taken before any
    /// shuffling) become the validation set. Returns `(train, validation)`.
    pub fn split_validation(&self, fraction: f32) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(TrainError::Options(format!(
                "validation split must be in [0, 1), got {fraction}"
            )));
        }
        let at = split_index(self.len(), fraction);
        Ok((self.subset(0..at), self.subset(at..self.len())))
    }

    /// The samples in `range` as a new dataset.
    pub fn subset(&self, range: std::ops::Range<usize>) -> Dataset {
        let per = self.sample_len();
        Dataset {
            sample_shape: self.sample_shape.clone(),
            x: self.x[range.start * per..range.end * per].to_vec(),
            y: self.y[range].to_vec(),
        }
    }

    /// Gathers the samples `indices` into one contiguous batch.
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<usize>) {
        let per = self.sample_len();
        let mut x = Vec::with_capacity(indices.len() * per);
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(&self.x[i * per..(i + 1) * per]);
            y.push(self.y[i]);
        }
        (x, y)
    }
}

/// Where Keras' `validation_split` cuts `n` samples: `floor(n * (1 - fraction))`, with the
/// fraction read as the decimal it prints as (so `0.2` is Python's `0.2`, not float32's).
pub fn split_index(n: usize, fraction: f32) -> usize {
    let f: f64 = fraction.to_string().parse().unwrap_or(f64::from(fraction));
    ((n as f64 * (1.0 - f)).floor() as usize).min(n)
}

fn label_from_f64(v: f64, path: &Path) -> Result<usize> {
    if v >= 0.0 && v.fract() == 0.0 && v < 1e9 {
        Ok(v as usize)
    } else {
        Err(TrainError::Data(format!(
            "{}: label {v} is not a class index",
            path.display()
        )))
    }
}

/// Index of the largest value (the first on ties; 0 for an empty row).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// A small deterministic generator (SplitMix64) for shuffling; the same seed gives the same
/// order on every platform.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift; the bias is below 2^-32 for any realistic n.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle in place.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_split_takes_the_tail() {
        let d = Dataset::new(
            vec![1],
            (0..10).map(|v| v as f32).collect(),
            (0..10).collect(),
        )
        .unwrap();
        let (tr, va) = d.split_validation(0.2).unwrap();
        assert_eq!(tr.y, (0..8).collect::<Vec<_>>());
        assert_eq!(va.y, vec![8, 9]);
        assert_eq!(va.x, vec![8.0, 9.0]);
        assert!(d.split_validation(1.0).is_err());
    }

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<usize> = (0..100).collect();
        let mut b = a.clone();
        Rng::new(7).shuffle(&mut a);
        Rng::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn rejects_mismatched_sizes() {
        assert!(Dataset::new(vec![2, 2], vec![0.0; 7], vec![0, 1]).is_err());
    }

    #[test]
    fn loads_the_digits_fixture() {
        let root = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/digits_test.npz"
        );
        let d = Dataset::load_npz(root).unwrap();
        assert_eq!(d.len(), 450);
        assert_eq!(d.sample_shape, vec![8, 8, 1]);
        assert_eq!(d.classes(), 10);
    }
}
