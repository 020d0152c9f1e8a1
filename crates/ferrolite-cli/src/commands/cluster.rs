//! `ferrolite cluster`: weight clustering during a short fine-tune (tfmot's `cluster_weights`):
//! at most `--clusters` distinct values per kernel, centroids fine-tuned, optional sparsity
//! preservation; prints loss/accuracy per epoch, the unique values per layer and the
//! gzip-compressed size before and after (the measure tfmot reports).
//!
//! Only built with the `train` cargo feature. The output is written atomically after training
//! succeeded.

use super::finetune::{json_epochs, progress, FinetuneArgs, JsonEpoch};
use crate::table::{thousands, Table};
use anyhow::{Context, Result};
use ferrolite_train::cluster::{self, gzip_size, CentroidInit, ClusterConfig, ClusterReport};
use serde::Serialize;
use std::path::PathBuf;

/// Centroid initialization (`--init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InitArg {
    /// k-means++ seeding (tfmot's default).
    #[value(name = "kmeans++")]
    KmeansPlusPlus,
    /// Evenly spaced between the smallest and largest weight.
    Linear,
    /// Evenly spaced along the weights' cumulative distribution.
    Density,
    /// Uniform random between the smallest and largest weight.
    Random,
}

/// Arguments of `ferrolite cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// The float model: `.tflite`, or Keras `.h5` / `.keras` (converted first).
    pub input: PathBuf,
    /// Output `.tflite` (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Distinct values per kernel.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub clusters: usize,
    /// How the centroids start.
    #[arg(long, value_enum, default_value = "kmeans++")]
    pub init: InitArg,
    /// Keep zero weights at zero (one centroid pinned to 0), e.g. after `ferrolite prune`.
    #[arg(long)]
    pub preserve_sparsity: bool,
    /// Cluster only these layers (names as printed in the report, tensor names or path parts).
    #[arg(long, value_delimiter = ',', value_name = "LAYER,...")]
    pub only: Vec<String>,
    /// Never cluster these layers.
    #[arg(long, value_delimiter = ',', value_name = "LAYER,...")]
    pub skip: Vec<String>,
    /// Fine-tuning options.
    #[command(flatten)]
    pub train: FinetuneArgs,
}

#[derive(Serialize)]
struct JsonLayer<'a> {
    layer: &'a str,
    op: &'a str,
    tensor: &'a str,
    shape: &'a [usize],
    clustered: bool,
    note: Option<&'a str>,
    elements: usize,
    unique: usize,
    zeros: usize,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    input: String,
    output: String,
    clusters: usize,
    init: String,
    preserve_sparsity: bool,
    steps: u64,
    step_ms: f64,
    epochs: Vec<JsonEpoch>,
    layers: Vec<JsonLayer<'a>>,
    bytes: usize,
    gzip_bytes_before: usize,
    gzip_bytes_after: usize,
    accuracy_before: Option<f64>,
    accuracy_after: Option<f64>,
}

fn print_report(report: &ClusterReport) {
    let mut table = Table::new(["layer", "op", "shape", "clustered", "unique", "zeros"]);
    for l in &report.layers {
        table.row([
            l.layer.clone(),
            l.op.to_string(),
            format!("{:?}", l.shape),
            match &l.status {
                Ok(()) => "yes".to_string(),
                Err(why) => format!("no: {why}"),
            },
            thousands(l.unique),
            format!("{}/{}", thousands(l.zeros), thousands(l.elements)),
        ]);
    }
    print!("{}", table.render(2));
}

/// Runs the command.
pub fn run(args: &ClusterArgs) -> Result<()> {
    let (model, _) = crate::source::load_model(&args.input, None)?;
    let data = args.train.load_data(&model)?;
    let mut cfg = ClusterConfig::new(args.clusters);
    cfg.init = match args.init {
        InitArg::KmeansPlusPlus => CentroidInit::KmeansPlusPlus,
        InitArg::Linear => CentroidInit::Linear,
        InitArg::Density => CentroidInit::Density,
        InitArg::Random => CentroidInit::Random,
    };
    cfg.preserve_sparsity = args.preserve_sparsity;
    cfg.only = args.only.clone();
    cfg.skip = args.skip.clone();
    cfg.seed = args.train.seed;
    if args.train.unfold_batch_norm {
        anyhow::bail!(
            "--unfold-batch-norm: clustering works on the folded kernels (a BN folded after \
             clustering would multiply the number of values per kernel)"
        );
    }
    let train = args.train.config(1e-4);
    let selectors: Vec<String> = args.only.iter().chain(&args.skip).cloned().collect();
    super::finetune::check_layers(&model, &selectors)?;
    let json = args.train.json;
    if !json {
        println!(
            "clustering {} to {} values per kernel ({} init{}, {} steps, {}, lr {} {})",
            args.input.display(),
            cfg.clusters,
            cfg.init,
            if cfg.preserve_sparsity {
                ", sparsity preserved"
            } else {
                ""
            },
            args.train.total_steps(&data),
            train.optimizer,
            train.learning_rate,
            train.lr_schedule
        );
    }
    let outcome = cluster::cluster(&model, &data, &train, &cfg, &mut progress(json))
        .with_context(|| format!("cannot cluster {}", args.input.display()))?;
    let before_bytes = ferrolite_model::write_bytes(&model)?;
    let after_bytes = ferrolite_model::write_bytes(&outcome.model)?;
    let (gz_before, gz_after) = (gzip_size(&before_bytes)?, gzip_size(&after_bytes)?);
    ferrolite_model::write_file(&outcome.model, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let (before, after) = args.train.accuracies(&args.input, &args.output)?;
    let report = &outcome.report;
    if json {
        let out = JsonReport {
            input: args.input.display().to_string(),
            output: args.output.display().to_string(),
            clusters: cfg.clusters,
            init: cfg.init.to_string(),
            preserve_sparsity: cfg.preserve_sparsity,
            steps: outcome.history.steps,
            step_ms: outcome.history.step_ms,
            epochs: json_epochs(&outcome.history),
            layers: report
                .layers
                .iter()
                .map(|l| JsonLayer {
                    layer: &l.layer,
                    op: l.op,
                    tensor: &l.tensor,
                    shape: &l.shape,
                    clustered: l.status.is_ok(),
                    note: l.status.as_ref().err().map(String::as_str),
                    elements: l.elements,
                    unique: l.unique,
                    zeros: l.zeros,
                })
                .collect(),
            bytes: after_bytes.len(),
            gzip_bytes_before: gz_before,
            gzip_bytes_after: gz_after,
            accuracy_before: before,
            accuracy_after: after,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} → {}  ({} steps, {:.1} ms/step)",
        args.input.display(),
        args.output.display(),
        outcome.history.steps,
        outcome.history.step_ms
    );
    print_report(report);
    println!(
        "gzip-compressed size: {} bytes before, {} after ({:.2}x smaller)",
        thousands(gz_before),
        thousands(gz_after),
        gz_before as f64 / gz_after.max(1) as f64
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "top-1 accuracy: {:.2}% before, {:.2}% after",
            100.0 * b,
            100.0 * a
        );
    }
    Ok(())
}
