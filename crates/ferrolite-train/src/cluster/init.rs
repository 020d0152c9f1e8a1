//! Centroid initialization, following tfmot 0.8.1's `clustering_centroids` module.
//!
//! - [`CentroidInit::Linear`]: `k` evenly spaced values from `min(w)` to `max(w)`.
//! - [`CentroidInit::Random`]: `k` uniform draws in `[min(w), max(w))` (our seeded generator,
//!   not TF's, so the values differ from tfmot's run for run).
//! - [`CentroidInit::Density`]: the empirical CDF of the weights is sampled on a 30-point grid
//!   spanning `[min - gap, max + gap]` (gap 0.01, or `min(0.01, min(|min|, |max|) / 2)` with
//!   sparsity preservation); for each of `k` probabilities evenly spaced in `[0.01, 1]` the
//!   first grid point whose CDF exceeds it (`searchsorted(side='right')`, clipped to the last
//!   point) is the centroid. tfmot then "interpolates" between that point and the previous one
//!   but solves the line equation at the upper point's own CDF value, which returns the upper
//!   grid point itself; we return it directly.
//! - [`CentroidInit::KmeansPlusPlus`]: k-means++ seeding as TF's
//!   `kmeans_plus_plus_initialization` with `num_retries_per_sample=-1` does it: the first centre
//!   uniformly at random, every next one the best (lowest total potential) of `2 + ⌊ln k⌋`
//!   candidates drawn with probability proportional to the squared distance to the nearest
//!   centre. The generator is ours (seeded), so the exact centres differ from tfmot's.
//!
//! With sparsity preservation one centroid is exactly 0 and the other `k - 1` are split between
//! the negative and the positive weights in proportion to their counts (rounded half to even,
//! as `tf.math.round`), each side initialized on its own.

use crate::data::Rng;
use std::fmt;

/// How the centroids start (tfmot's `CentroidInitialization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CentroidInit {
    /// Evenly spaced between the smallest and largest weight (tfmot's `LINEAR`).
    Linear,
    /// k-means++ seeding (tfmot's default, `KMEANS_PLUS_PLUS`).
    KmeansPlusPlus,
    /// Evenly spaced in probability along the weights' CDF (`DENSITY_BASED`).
    Density,
    /// Uniform random between the smallest and largest weight (`RANDOM`).
    Random,
}

impl fmt::Display for CentroidInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CentroidInit::Linear => "linear",
            CentroidInit::KmeansPlusPlus => "kmeans++",
            CentroidInit::Density => "density",
            CentroidInit::Random => "random",
        })
    }
}

/// `n` evenly spaced values from `a` to `b` inclusive (`tf.linspace`).
pub fn linspace(a: f32, b: f32, n: usize) -> Vec<f32> {
    match n {
        0 => Vec::new(),
        1 => vec![a],
        _ => {
            let step = (b - a) / (n - 1) as f32;
            (0..n)
                .map(|i| if i == n - 1 { b } else { a + step * i as f32 })
                .collect()
        }
    }
}

fn min_max(w: &[f32]) -> (f32, f32) {
    w.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// The `k` initial centroids of the weights `w` (non-empty) by `init`; `gap` is the density
/// grid's margin.
fn interval(w: &[f32], k: usize, init: CentroidInit, gap: f32, rng: &mut Rng) -> Vec<f32> {
    if k == 0 || w.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = min_max(w);
    match init {
        CentroidInit::Linear => linspace(lo, hi, k),
        CentroidInit::Random => (0..k)
            .map(|_| {
                let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
                lo + (hi - lo) * u
            })
            .collect(),
        CentroidInit::Density => {
            let grid = linspace(lo - gap, hi + gap, 30);
            let n = w.len() as f32;
            let cdf: Vec<f32> = grid
                .iter()
                .map(|&g| w.iter().filter(|&&v| v <= g).count() as f32 / n)
                .collect();
            linspace(0.01, 1.0, k)
                .into_iter()
                .map(|p| {
                    let i = cdf.partition_point(|&c| c <= p);
                    grid[i.min(grid.len() - 1)]
                })
                .collect()
        }
        CentroidInit::KmeansPlusPlus => kmeans_pp(w, k, rng),
    }
}

fn kmeans_pp(w: &[f32], k: usize, rng: &mut Rng) -> Vec<f32> {
    let mut centres = vec![w[rng.below(w.len())]];
    let mut d2: Vec<f64> = w
        .iter()
        .map(|&v| f64::from(v - centres[0]).powi(2))
        .collect();
    let retries = 2 + (k as f64).ln().floor() as usize;
    while centres.len() < k {
        let total: f64 = d2.iter().sum();
        let mut best: Option<(f64, f32)> = None;
        for _ in 0..retries {
            let cand = if total > 0.0 {
                let r = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
                let mut acc = 0.0;
                let mut pick = w.len() - 1;
                for (i, &d) in d2.iter().enumerate() {
                    acc += d;
                    if acc > r {
                        pick = i;
                        break;
                    }
                }
                w[pick]
            } else {
                w[rng.below(w.len())]
            };
            let potential: f64 = w
                .iter()
                .zip(&d2)
                .map(|(&v, &d)| d.min(f64::from(v - cand).powi(2)))
                .sum();
            if best.is_none_or(|(p, _)| potential < p) {
                best = Some((potential, cand));
            }
        }
        let (_, c) = best.unwrap_or((0.0, w[0]));
        for (d, &v) in d2.iter_mut().zip(w) {
            *d = d.min(f64::from(v - c).powi(2));
        }
        centres.push(c);
    }
    centres
}

/// The initial centroids of one weight tensor: `k` of them (fewer only when the weights are all
/// zero under sparsity preservation, which leaves the single centroid 0).
pub fn init_centroids(
    w: &[f32],
    k: usize,
    init: CentroidInit,
    preserve_sparsity: bool,
    rng: &mut Rng,
) -> Vec<f32> {
    if !preserve_sparsity {
        return interval(w, k, init, 0.01, rng);
    }
    let neg: Vec<f32> = w.iter().copied().filter(|&v| v < 0.0).collect();
    let pos: Vec<f32> = w.iter().copied().filter(|&v| v > 0.0).collect();
    let nonzero = neg.len() + pos.len();
    if nonzero == 0 {
        return vec![0.0];
    }
    let rest = k.saturating_sub(1);
    let k_neg = ((rest as f64) * neg.len() as f64 / nonzero as f64).round_ties_even() as usize;
    let k_pos = rest - k_neg.min(rest);
    let gap = |side: &[f32]| {
        let (lo, hi) = min_max(side);
        0.01f32.min(lo.abs().min(hi.abs()) / 2.0)
    };
    let mut c = interval(&neg, k_neg, init, gap(&neg), rng);
    c.push(0.0);
    c.extend(interval(&pos, k_pos, init, gap(&pos), rng));
    c
}

/// Index of the centroid nearest to `v` (the first on ties, as `tf.argmin`).
pub fn nearest(v: f32, centroids: &[f32]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, &c) in centroids.iter().enumerate() {
        let d = (v - c).abs();
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_spans_the_range() {
        let c = init_centroids(
            &[-1.0, 0.5, 3.0],
            5,
            CentroidInit::Linear,
            false,
            &mut Rng::new(0),
        );
        assert_eq!(c, vec![-1.0, 0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn zero_centroid_splits_by_sign_counts() {
        // 3 negative, 1 positive, 1 zero: 4 non-zero clusters split 3:1.
        let w = [-0.4, -0.3, -0.1, 0.0, 0.2];
        let c = init_centroids(&w, 5, CentroidInit::Linear, true, &mut Rng::new(0));
        assert_eq!(c.len(), 5);
        assert!((c[0] + 0.4).abs() < 1e-6 && (c[2] + 0.1).abs() < 1e-6);
        assert_eq!(c[3], 0.0);
        assert!((c[4] - 0.2).abs() < 1e-6);
        assert_eq!(
            init_centroids(&[0.0; 4], 8, CentroidInit::Linear, true, &mut Rng::new(0)),
            vec![0.0]
        );
    }

    #[test]
    fn density_follows_the_cdf() {
        // 90 weights near 0, 10 near 1: most centroids land near 0.
        let mut w: Vec<f32> = (0..90).map(|i| i as f32 * 1e-3).collect();
        w.extend((0..10).map(|i| 1.0 + i as f32 * 1e-3));
        let c = init_centroids(&w, 8, CentroidInit::Density, false, &mut Rng::new(0));
        assert_eq!(c.len(), 8);
        assert!(c.iter().filter(|&&v| v < 0.5).count() >= 6, "{c:?}");
        // The last probability (1.0) is past the whole CDF: the last grid point, max + 0.01.
        assert!((c[7] - 1.019).abs() < 1e-5, "{c:?}");
    }

    #[test]
    fn kmeans_pp_picks_distinct_weights_and_is_seeded() {
        let w: Vec<f32> = (0..200)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let a = init_centroids(
            &w,
            16,
            CentroidInit::KmeansPlusPlus,
            false,
            &mut Rng::new(3),
        );
        let b = init_centroids(
            &w,
            16,
            CentroidInit::KmeansPlusPlus,
            false,
            &mut Rng::new(3),
        );
        assert_eq!(a, b);
        let mut u = a.clone();
        u.sort_by(f32::total_cmp);
        u.dedup();
        assert_eq!(u.len(), 16);
        assert!(a.iter().all(|c| w.contains(c)));
    }

    #[test]
    fn random_stays_in_range() {
        let c = init_centroids(
            &[-2.0, 1.0],
            32,
            CentroidInit::Random,
            false,
            &mut Rng::new(1),
        );
        assert!(c.iter().all(|&v| (-2.0..1.0).contains(&v)));
    }

    #[test]
    fn nearest_takes_the_first_on_ties() {
        assert_eq!(nearest(0.5, &[0.0, 1.0]), 0);
        assert_eq!(nearest(0.9, &[0.0, 1.0]), 1);
    }
}
