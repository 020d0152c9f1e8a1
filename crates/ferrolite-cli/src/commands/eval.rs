//! `ferrolite eval`: accuracy of a model on a labelled dataset, with a confusion summary.

use crate::batch::{argmax, BatchRunner};
use crate::dataset::Dataset;
use crate::images::PixelScale;
use crate::progress;
use crate::table::Table;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `ferrolite eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The `.tflite` model.
    pub model: PathBuf,
    /// Labelled data: `.npz` with `x` (samples) and `y` (integer labels), or a folder with one
    /// sub-folder of images per class (labels in sorted folder order, pixels scaled by
    /// --pixel-scale).
    #[arg(long)]
    pub data: PathBuf,
    /// How image pixels become input values when --data is an image folder.
    #[arg(long, value_enum, default_value = "unit")]
    pub pixel_scale: PixelScale,
    /// Samples per invoke when the model's batch is dynamic.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Evaluate only the first N samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Threads for the interpreter.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON (keys in the README).
    #[arg(long)]
    pub json: bool,
}

/// Evaluation results.
#[derive(Debug, Serialize, Clone)]
pub struct EvalReport {
    /// Model path.
    pub model: String,
    /// Samples evaluated.
    pub samples: usize,
    /// Top-1 accuracy in [0, 1].
    pub top1: f64,
    /// Top-5 accuracy, when there are at least 5 classes.
    pub top5: Option<f64>,
    /// Per class: label, samples, recall.
    pub classes: Vec<ClassStats>,
    /// The most frequent confusions, `true → predicted`.
    pub confusions: Vec<Confusion>,
    /// Samples per second, including input quantization.
    pub samples_per_second: f64,
    /// Samples per invoke.
    pub batch: usize,
    /// Activation arena bytes at that batch size.
    pub arena_bytes: usize,
}

/// Per-class statistics.
#[derive(Debug, Serialize, Clone)]
pub struct ClassStats {
    /// Class label.
    pub label: i64,
    /// Samples with this label.
    pub samples: usize,
    /// Fraction of them predicted correctly.
    pub recall: f64,
}

/// One off-diagonal cell of the confusion matrix.
#[derive(Debug, Serialize, Clone)]
pub struct Confusion {
    /// True label.
    pub label: i64,
    /// Predicted label.
    pub predicted: i64,
    /// Count.
    pub count: usize,
}

/// Runs the command.
pub fn run(args: &EvalArgs) -> Result<()> {
    let mut data = if args.data.is_dir() {
        let interp = crate::source::interpreter(&args.model)?;
        let inputs = interp.input_details();
        let Some(input) = inputs.first() else {
            bail!("{} has no inputs", args.model.display());
        };
        let (data, classes) =
            Dataset::load_images(&args.data, &input.shape[1..], args.pixel_scale)?;
        if !args.json {
            eprintln!(
                "{} images in {} classes: {}",
                data.n,
                classes.len(),
                classes.join(", ")
            );
        }
        data
    } else {
        Dataset::load(&args.data)?
    };
    if let Some(n) = args.limit {
        data.truncate(n);
    }
    let report = evaluate(&args.model, &data, args.batch, args.threads, args.json)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// Evaluates `model` on `data` (which must have labels).
pub fn evaluate(
    model: &Path,
    data: &Dataset,
    batch: usize,
    threads: Option<usize>,
    quiet: bool,
) -> Result<EvalReport> {
    let Some(labels) = &data.y else {
        bail!("the dataset has no labels ('y'); eval needs them");
    };
    let mut runner = BatchRunner::new(model, threads, batch, &data.sample_shape)?;
    let pb = progress::bar(data.n as u64, "eval", quiet);
    let start = Instant::now();
    let out = runner.run(&data.x, data.n, |done| pb.set_position(done as u64))?;
    let elapsed = start.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let classes_out = out.per_sample[0];
    if classes_out < 2 {
        bail!(
            "the model's first output has {classes_out} values per sample; eval needs class scores"
        );
    }
    let scores = &out.values[0];
    let mut top1 = 0usize;
    let mut top5 = 0usize;
    let max_label = labels
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(classes_out as i64 - 1);
    let k = usize::try_from(max_label + 1).unwrap_or(0);
    let mut matrix = vec![vec![0usize; k]; k];
    for (i, &label) in labels.iter().enumerate() {
        let row = &scores[i * classes_out..(i + 1) * classes_out];
        let pred = argmax(row);
        if label < 0 || label as usize >= k {
            bail!("label {label} of sample {i} is outside 0..{k}");
        }
        matrix[label as usize][pred] += 1;
        if pred as i64 == label {
            top1 += 1;
        }
        let mut order: Vec<usize> = (0..classes_out).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        if order.iter().take(5).any(|&c| c as i64 == label) {
            top5 += 1;
        }
    }
    let n = data.n as f64;
    let classes = (0..k)
        .filter(|&c| matrix[c].iter().sum::<usize>() > 0)
        .map(|c| {
            let total: usize = matrix[c].iter().sum();
            ClassStats {
                label: c as i64,
                samples: total,
                recall: matrix[c][c] as f64 / total as f64,
            }
        })
        .collect();
    let mut confusions: Vec<Confusion> = (0..k)
        .flat_map(|t| (0..k).map(move |p| (t, p)))
        .filter(|&(t, p)| t != p && matrix[t][p] > 0)
        .map(|(t, p)| Confusion {
            label: t as i64,
            predicted: p as i64,
            count: matrix[t][p],
        })
        .collect();
    confusions.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    confusions.truncate(5);
    Ok(EvalReport {
        model: model.display().to_string(),
        samples: data.n,
        top1: top1 as f64 / n,
        top5: (classes_out >= 5).then(|| top5 as f64 / n),
        classes,
        confusions,
        samples_per_second: n / elapsed.max(1e-9),
        batch: runner.batch(),
        arena_bytes: runner.interpreter().arena_bytes(),
    })
}

fn render(r: &EvalReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{}: {} samples", r.model, r.samples);
    let _ = write!(out, "top-1 accuracy {:.2}%", 100.0 * r.top1);
    if let Some(t5) = r.top5 {
        let _ = write!(out, ", top-5 {:.2}%", 100.0 * t5);
    }
    let _ = writeln!(
        out,
        "  ({:.0} samples/s, batch {})",
        r.samples_per_second, r.batch
    );
    let mut t = Table::new(["class", "samples", "recall"]);
    for c in &r.classes {
        t.row([
            c.label.to_string(),
            c.samples.to_string(),
            format!("{:.1}%", 100.0 * c.recall),
        ]);
    }
    out.push_str(&t.render(2));
    if !r.confusions.is_empty() {
        let _ = writeln!(out, "most frequent confusions (true → predicted):");
        for c in &r.confusions {
            let _ = writeln!(out, "  {} → {}: {}", c.label, c.predicted, c.count);
        }
    }
    out
}
