//! `ferrolite compare`: numerical equivalence of two models on the same inputs.

use crate::batch::{argmax, BatchRunner};
use crate::dataset::Dataset;
use crate::table::Table;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Arguments of `ferrolite compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// First model (the reference).
    pub a: PathBuf,
    /// Second model.
    pub b: PathBuf,
    /// Float samples as `.npy` (first dimension = samples).
    #[arg(long, conflicts_with = "data")]
    pub input: Option<PathBuf>,
    /// A dataset `.npz` with key `x`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Number of random samples when no input is given.
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// Exit with an error when any output's RMSE exceeds this.
    #[arg(long)]
    pub max_rmse: Option<f64>,
    /// Print JSON (keys in the README).
    #[arg(long)]
    pub json: bool,
}

/// Per-output comparison.
#[derive(Debug, Serialize, Clone)]
pub struct OutputDiff {
    /// Output position.
    pub output: usize,
    /// Root mean squared error.
    pub rmse: f64,
    /// Largest absolute difference.
    pub max_abs: f64,
    /// Cosine similarity of the flattened outputs.
    pub cosine: f64,
    /// Fraction of samples whose argmax agrees.
    pub top1_agreement: f64,
}

/// The comparison report.
#[derive(Debug, Serialize, Clone)]
pub struct CompareReport {
    /// Reference model.
    pub a: String,
    /// Compared model.
    pub b: String,
    /// Samples used.
    pub samples: usize,
    /// Where they came from.
    pub inputs: String,
    /// One entry per output.
    pub outputs: Vec<OutputDiff>,
}

/// Runs the command.
pub fn run(args: &CompareArgs) -> Result<()> {
    let (data, source) = match (&args.input, &args.data) {
        (Some(p), _) | (None, Some(p)) => (Dataset::load(p)?, p.display().to_string()),
        (None, None) => random_dataset(&args.a, args.samples)?,
    };
    let report = compare(&args.a, &args.b, &data, source)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    if let Some(limit) = args.max_rmse {
        if let Some(o) = report.outputs.iter().find(|o| o.rmse > limit) {
            bail!(
                "output {} RMSE {:.3e} exceeds --max-rmse {limit:e}",
                o.output,
                o.rmse
            );
        }
    }
    Ok(())
}

fn random_dataset(model: &Path, n: usize) -> Result<(Dataset, String)> {
    let interp = crate::source::interpreter(model)?;
    let inputs = interp.input_details();
    let Some(input) = inputs.first() else {
        bail!("{} has no inputs", model.display());
    };
    let sample_shape = input.shape[1..].to_vec();
    let per: usize = sample_shape.iter().product();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let x = (0..n * per)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Ok((
        Dataset {
            x,
            n,
            sample_shape,
            y: None,
        },
        format!("{n} seeded random samples in [0, 1)"),
    ))
}

/// Compares two models on the samples of `data`.
pub fn compare(a: &Path, b: &Path, data: &Dataset, inputs: String) -> Result<CompareReport> {
    let mut ra = BatchRunner::new(a, None, 32, &data.sample_shape)?;
    let mut rb = BatchRunner::new(b, None, 32, &data.sample_shape)?;
    let oa = ra.run(&data.x, data.n, |_| {})?;
    let ob = rb.run(&data.x, data.n, |_| {})?;
    if oa.per_sample != ob.per_sample {
        bail!(
            "the models' outputs differ in shape: {:?} vs {:?} values per sample",
            oa.per_sample,
            ob.per_sample
        );
    }
    let outputs = oa
        .values
        .iter()
        .zip(&ob.values)
        .zip(&oa.per_sample)
        .enumerate()
        .map(|(k, ((x, y), &per))| diff(k, x, y, per))
        .collect();
    Ok(CompareReport {
        a: a.display().to_string(),
        b: b.display().to_string(),
        samples: data.n,
        inputs,
        outputs,
    })
}

/// Difference metrics of two equally long output vectors with `per` values per sample.
pub fn diff(output: usize, x: &[f32], y: &[f32], per: usize) -> OutputDiff {
    let (mut se, mut max_abs, mut dot, mut nx, mut ny) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&p, &q) in x.iter().zip(y) {
        let (p, q) = (f64::from(p), f64::from(q));
        se += (p - q) * (p - q);
        max_abs = max_abs.max((p - q).abs());
        dot += p * q;
        nx += p * p;
        ny += q * q;
    }
    let n = x.len().max(1) as f64;
    let cosine = if nx == 0.0 && ny == 0.0 {
        1.0
    } else {
        dot / (nx.sqrt() * ny.sqrt()).max(f64::MIN_POSITIVE)
    };
    let samples = x.len() / per.max(1);
    let agree = (0..samples)
        .filter(|&s| argmax(&x[s * per..(s + 1) * per]) == argmax(&y[s * per..(s + 1) * per]))
        .count();
    OutputDiff {
        output,
        rmse: (se / n).sqrt(),
        max_abs,
        cosine,
        top1_agreement: agree as f64 / samples.max(1) as f64,
    }
}

fn render(r: &CompareReport) -> String {
    let mut out = format!(
        "{} vs {} on {} ({} samples)\n",
        r.a, r.b, r.inputs, r.samples
    );
    let mut t = Table::new(["output", "RMSE", "max |Δ|", "cosine", "top-1 agree"]);
    for o in &r.outputs {
        t.row([
            o.output.to_string(),
            format!("{:.3e}", o.rmse),
            format!("{:.3e}", o.max_abs),
            format!("{:.6}", o.cosine),
            format!("{:.1}%", 100.0 * o.top1_agreement),
        ]);
    }
    out.push_str(&t.render(2));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_outputs_have_zero_error() {
        let d = diff(0, &[0.1, 0.9, 0.7, 0.3], &[0.1, 0.9, 0.7, 0.3], 2);
        assert_eq!((d.rmse, d.max_abs, d.top1_agreement), (0.0, 0.0, 1.0));
        assert!((d.cosine - 1.0).abs() < 1e-12);
    }

    #[test]
    fn known_perturbation_gives_known_rmse() {
        // Two samples of two classes; the second sample's argmax flips.
        let d = diff(0, &[1.0, 0.0, 0.0, 1.0], &[1.0, 0.0, 1.0, 0.0], 2);
        assert!((d.rmse - (2.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!(d.max_abs, 1.0);
        assert_eq!(d.top1_agreement, 0.5);
        assert!((d.cosine - 0.5).abs() < 1e-12);
    }
}
