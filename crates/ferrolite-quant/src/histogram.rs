//! Activation histograms and the clipping-range searches built on them, for the calibration
//! methods other than TF's min/max ([`CalibrationMethod`](crate::CalibrationMethod)):
//!
//! - **percentile**: the range between the `(100 - p)`-th and `p`-th percentiles of the values
//!   (the lower end only when the tensor has negative values), interpolated inside bins;
//! - **mse**: the range `[f * min, f * max]`, `f` searched over 200 steps in `(0, 1]`, whose
//!   quantization (parameters as the mode computes them, clipping included) has the smallest mean
//!   squared error over the histogram's bin centres;
//! - **kl**: TensorRT's entropy calibration on the histogram of `|x|` (2048 bins): the threshold
//!   `t` whose clipped distribution, merged into the target number of levels and expanded back,
//!   is closest to the original in KL divergence; the range is `[max(min, -t), min(max, t)]`.

use crate::params::{quantize_affine, Affine};

/// Number of bins of every histogram (TensorRT's choice).
pub(crate) const BINS: usize = 2048;

/// A fixed-range histogram of `f32` values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    /// Lower edge of the first bin.
    pub lo: f32,
    /// Upper edge of the last bin.
    pub hi: f32,
    /// Count per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// An empty histogram of `bins` bins over `[lo, hi]`.
    pub fn new(lo: f32, hi: f32, bins: usize) -> Self {
        Histogram {
            lo,
            hi,
            counts: vec![0; bins.max(1)],
        }
    }

    /// Width of one bin (0 for a degenerate range).
    pub fn width(&self) -> f64 {
        (f64::from(self.hi) - f64::from(self.lo)).max(0.0) / self.counts.len() as f64
    }

    /// Centre of bin `i`.
    pub fn center(&self, i: usize) -> f64 {
        f64::from(self.lo) + (i as f64 + 0.5) * self.width()
    }

    /// Adds values (those outside the range land in the end bins).
    pub fn add(&mut self, values: impl IntoIterator<Item = f32>) {
        let w = self.width();
        let last = self.counts.len() - 1;
        for v in values {
            let i = if w > 0.0 {
                (((f64::from(v) - f64::from(self.lo)) / w).max(0.0) as usize).min(last)
            } else {
                0
            };
            self.counts[i] += 1;
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value below which a fraction `q` of the samples lie (linear inside the bin).
    fn quantile(&self, q: f64) -> f64 {
        let total = self.total() as f64;
        let target = q.clamp(0.0, 1.0) * total;
        let mut seen = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            let c = c as f64;
            if c > 0.0 && seen + c >= target {
                let frac = ((target - seen) / c).clamp(0.0, 1.0);
                return f64::from(self.lo) + (i as f64 + frac) * self.width();
            }
            seen += c;
        }
        f64::from(self.hi)
    }
}

/// Percentile range of a value histogram: `p` in `(0, 100]`.
pub(crate) fn percentile_range(h: &Histogram, p: f64) -> (f32, f32) {
    let upper = p / 100.0;
    let hi = h.quantile(upper) as f32;
    let lo = if h.lo < 0.0 {
        h.quantile(1.0 - upper) as f32
    } else {
        h.lo
    };
    (lo.max(h.lo), hi.min(h.hi))
}

/// Mean squared quantization error of the histogram under parameters `p` on `[qmin, qmax]`.
fn quantization_mse(h: &Histogram, p: Affine, qmin: i64, qmax: i64) -> f64 {
    let mut err = 0.0;
    for (i, &c) in h.counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let x = h.center(i);
        let q = quantize_affine(&[x as f32], p, qmin, qmax)[0];
        let back = (q - p.zero_point) as f64 * f64::from(p.scale);
        err += c as f64 * (x - back) * (x - back);
    }
    err / h.total().max(1) as f64
}

/// The clipping range minimizing the quantization MSE of a value histogram; `params` computes
/// a range's parameters as the quantization mode does, over integers `[qmin, qmax]`.
pub(crate) fn mse_range(
    h: &Histogram,
    params: &dyn Fn(f32, f32) -> Affine,
    qmin: i64,
    qmax: i64,
) -> (f32, f32) {
    let mut best = (f64::INFINITY, (h.lo, h.hi));
    for k in 0..200 {
        let f = 1.0 - k as f32 / 200.0;
        let (lo, hi) = (h.lo * f, h.hi * f);
        let e = quantization_mse(h, params(lo, hi), qmin, qmax);
        if e < best.0 {
            best = (e, (lo, hi));
        }
    }
    best.1
}

/// KL divergence `sum p log(p / q)` of two unnormalized distributions (zeros in `q` where `p`
/// is positive are floored at a small epsilon, as TensorRT's smoothing does).
fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp <= 0.0 || sq <= 0.0 {
        return f64::INFINITY;
    }
    p.iter()
        .zip(q)
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| {
            let (a, b) = (a / sp, (b / sq).max(1e-10));
            a * (a / b).ln()
        })
        .sum()
}

/// TensorRT's entropy calibration on a histogram of `|x|` over `[0, max|x|]`: the threshold
/// whose clipped distribution best survives merging into `levels` bins. With `levels` at least
/// the number of bins nothing is clipped.
pub(crate) fn kl_threshold(abs: &Histogram, levels: usize) -> f32 {
    let bins = abs.counts.len();
    if levels >= bins || abs.width() == 0.0 {
        return abs.hi;
    }
    let hist: Vec<f64> = abs.counts.iter().map(|&c| c as f64).collect();
    let mut best = (f64::INFINITY, bins);
    for i in levels..=bins {
        let mut p = hist[..i].to_vec();
        p[i - 1] += hist[i..].iter().sum::<f64>();
        let merged = i / levels;
        let mut q = vec![0.0; i];
        for j in 0..levels {
            let start = j * merged;
            let stop = if j + 1 == levels { i } else { start + merged };
            let total: f64 = hist[start..stop].iter().sum();
            let nonzero = p[start..stop].iter().filter(|&&v| v > 0.0).count();
            if nonzero > 0 {
                for k in start..stop {
                    if p[k] > 0.0 {
                        q[k] = total / nonzero as f64;
                    }
                }
            }
        }
        let d = kl_divergence(&p, &q);
        if d < best.0 {
            best = (d, i);
        }
    }
    (best.1 as f64 * abs.width()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::int8_activation_params;

    fn uniform_with_outlier() -> Vec<f32> {
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        v.push(100.0);
        v
    }

    #[test]
    fn histogram_bins_and_quantiles() {
        let mut h = Histogram::new(0.0, 1.0, 4);
        h.add([0.1, 0.3, 0.6, 0.9, 1.0, 5.0, -1.0]);
        assert_eq!(h.counts, [2, 1, 1, 3]);
        assert!((h.quantile(0.5) - 0.625).abs() < 1e-9);
    }

    #[test]
    fn percentile_drops_the_outlier() {
        let v = uniform_with_outlier();
        let mut h = Histogram::new(0.0, 100.0, BINS);
        h.add(v.iter().copied());
        let (lo, hi) = percentile_range(&h, 99.9);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.9 && hi < 1.2, "{hi}");
        // Signed data: both ends move in.
        let mut h = Histogram::new(-100.0, 100.0, BINS);
        h.add(v.iter().map(|x| x - 0.5).chain([-100.0]));
        let (lo, hi) = percentile_range(&h, 99.9);
        assert!(lo > -1.0 && hi < 1.0, "{lo} {hi}");
    }

    /// Exponential quantiles: a long thin tail up to `ln(2n)`.
    fn long_tail(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| -(((i as f64 + 0.5) / n as f64).ln()) as f32)
            .collect()
    }

    #[test]
    fn mse_trims_a_long_tail_and_keeps_a_tight_range() {
        let v = long_tail(20_000);
        let max = v.iter().fold(0f32, |a, &b| a.max(b));
        let mut h = Histogram::new(0.0, max, BINS);
        h.add(v.iter().copied());
        let (lo, hi) = mse_range(&h, &int8_activation_params, -128, 127);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.9 * max && hi < max, "{hi} of {max}"); // a 255-level grid: little to gain
        let v = uniform_with_outlier();
        let mut h = Histogram::new(0.0, 1.0, BINS);
        h.add(v[..10_000].iter().copied());
        let (_, hi) = mse_range(&h, &int8_activation_params, -128, 127);
        assert!(hi > 0.95, "{hi}");
    }

    #[test]
    fn kl_threshold_clips_a_long_tail() {
        let v = long_tail(20_000);
        let max = v.iter().fold(0f32, |a, &b| a.max(b));
        let mut h = Histogram::new(0.0, max, BINS);
        h.add(v.iter().copied());
        let t = kl_threshold(&h, 128);
        assert!(t > 2.0 && t < 0.9 * max, "{t} of {max}");
        assert_eq!(kl_threshold(&h, BINS), max);
    }
}
