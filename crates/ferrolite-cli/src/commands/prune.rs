//! `ferrolite prune`: magnitude pruning during a short fine-tune, with tfmot's schedules
//! (`ConstantSparsity`, `PolynomialDecay`), block and m-by-n structures and layer selection;
//! prints loss/accuracy per epoch and the sparsity reached per layer.
//!
//! Only built with the `train` cargo feature (it pulls in burn). The output is written
//! atomically after training succeeded.

use super::finetune::{json_epochs, progress, FinetuneArgs, JsonEpoch};
use crate::table::{thousands, Table};
use anyhow::{bail, Context, Result};
use ferrolite_train::prune::{self, BlockPooling, PruneConfig, PruneReport, Schedule};
use serde::Serialize;
use std::path::PathBuf;

/// Block pooling (`--block-pooling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolingArg {
    /// Mean magnitude of the block (tfmot's default).
    Avg,
    /// Largest magnitude of the block.
    Max,
}

/// Arguments of `ferrolite prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// The float model: `.tflite`, or Keras `.h5` / `.keras` (converted first).
    pub input: PathBuf,
    /// Output `.tflite` (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// `constant:TARGET` or `polynomial:INITIAL,FINAL[,power=P]` (tfmot's ConstantSparsity /
    /// PolynomialDecay).
    #[arg(long, default_value = "constant:0.5")]
    pub schedule: String,
    /// First pruning step (the first batch is step 1, as in tfmot).
    #[arg(long, default_value_t = 0, value_name = "STEP")]
    pub begin_step: i64,
    /// Last pruning step; -1 prunes until the end (constant only). Default: -1 for constant,
    /// the last training step for polynomial.
    #[arg(long, value_name = "STEP", allow_negative_numbers = true)]
    pub end_step: Option<i64>,
    /// Recompute the masks every N steps.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub frequency: i64,
    /// Block shape HxW on the Keras kernel [in, out] of dense layers (e.g. 1x4).
    #[arg(long, default_value = "1x1", value_name = "HxW")]
    pub block: String,
    /// How a block's magnitude is pooled.
    #[arg(long, value_enum, default_value = "avg")]
    pub block_pooling: PoolingArg,
    /// Structured sparsity M:N (at least M zeros in every N consecutive input weights), e.g. 2:4.
    #[arg(long, value_name = "M:N")]
    pub m_by_n: Option<String>,
    /// Prune only these layers (names as printed in the report, tensor names or path parts).
    #[arg(long, value_delimiter = ',', value_name = "LAYER,...")]
    pub only: Vec<String>,
    /// Never prune these layers.
    #[arg(long, value_delimiter = ',', value_name = "LAYER,...")]
    pub skip: Vec<String>,
    /// Fine-tuning options.
    #[command(flatten)]
    pub train: FinetuneArgs,
}

fn parse_pair(s: &str, sep: char, what: &str) -> Result<(usize, usize)> {
    let parsed = s
        .split_once(sep)
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some(p) => Ok(p),
        None => bail!("{what} '{s}': expected two integers separated by '{sep}'"),
    }
}

#[derive(Serialize)]
struct JsonLayer<'a> {
    layer: &'a str,
    op: &'a str,
    tensor: &'a str,
    shape: &'a [usize],
    pruned: bool,
    note: Option<&'a str>,
    elements: usize,
    zeros: usize,
    sparsity: f64,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    input: String,
    output: String,
    schedule: &'a str,
    structure: &'a str,
    mask_updates: &'a [i64],
    steps: u64,
    step_ms: f64,
    epochs: Vec<JsonEpoch>,
    layers: Vec<JsonLayer<'a>>,
    accuracy_before: Option<f64>,
    accuracy_after: Option<f64>,
}

fn print_report(report: &PruneReport) {
    let mut table = Table::new(["layer", "op", "shape", "pruned", "zeros", "sparsity"]);
    for l in &report.layers {
        table.row([
            l.layer.clone(),
            l.op.to_string(),
            format!("{:?}", l.shape),
            match &l.status {
                Ok(()) => "yes".to_string(),
                Err(why) => format!("no: {why}"),
            },
            format!("{}/{}", thousands(l.zeros), thousands(l.elements)),
            format!("{:.1}%", 100.0 * l.sparsity()),
        ]);
    }
    print!("{}", table.render(2));
}

fn summarize_steps(steps: &[i64]) -> String {
    let all: Vec<String> = steps.iter().map(i64::to_string).collect();
    if all.len() <= 8 {
        all.join(", ")
    } else {
        format!("{}, …, {}", all[..3].join(", "), all[all.len() - 1])
    }
}

/// Runs the command.
pub fn run(args: &PruneArgs) -> Result<()> {
    let (model, _) = crate::source::load_model(&args.input, None)?;
    let data = args.train.load_data(&model)?;
    let total_steps = args.train.total_steps(&data);
    let polynomial = args.schedule.trim_start().starts_with("polynomial");
    let end_step = args.end_step.unwrap_or(if polynomial {
        total_steps.max(args.begin_step + 1)
    } else {
        -1
    });
    let schedule = Schedule::parse(&args.schedule, args.begin_step, end_step, args.frequency)?;
    let mut cfg = PruneConfig::new(schedule);
    cfg.block = parse_pair(&args.block, 'x', "--block")?;
    cfg.block_pooling = match args.block_pooling {
        PoolingArg::Avg => BlockPooling::Avg,
        PoolingArg::Max => BlockPooling::Max,
    };
    cfg.m_by_n = args
        .m_by_n
        .as_deref()
        .map(|s| parse_pair(s, ':', "--m-by-n"))
        .transpose()?;
    cfg.only = args.only.clone();
    cfg.skip = args.skip.clone();
    let mut train = args.train.config(1e-3);
    train.batch_norms = args.train.batch_norms(&args.input)?;
    let selectors: Vec<String> = args.only.iter().chain(&args.skip).cloned().collect();
    super::finetune::check_layers(&model, &selectors)?;
    let json = args.train.json;
    if !json {
        println!(
            "pruning {} with {} ({} steps, {}, lr {} {})",
            args.input.display(),
            schedule,
            total_steps,
            train.optimizer,
            train.learning_rate,
            train.lr_schedule
        );
    }
    let outcome = prune::prune(&model, &data, &train, &cfg, &mut progress(json))
        .with_context(|| format!("cannot prune {}", args.input.display()))?;
    ferrolite_model::write_file(&outcome.model, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let (before, after) = args.train.accuracies(&args.input, &args.output)?;
    let report = &outcome.report;
    if json {
        let out = JsonReport {
            input: args.input.display().to_string(),
            output: args.output.display().to_string(),
            schedule: &report.schedule,
            structure: &report.structure,
            mask_updates: &report.mask_updates,
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
                    pruned: l.status.is_ok(),
                    note: l.status.as_ref().err().map(String::as_str),
                    elements: l.elements,
                    zeros: l.zeros,
                    sparsity: l.sparsity(),
                })
                .collect(),
            accuracy_before: before,
            accuracy_after: after,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} → {}  ({}, {} steps, {:.1} ms/step)",
        args.input.display(),
        args.output.display(),
        report.structure,
        outcome.history.steps,
        outcome.history.step_ms
    );
    match report.mask_updates.as_slice() {
        [] => println!(
            "warning: the masks were never updated: training ran {} steps but the schedule's \
             first pruning step is later (lower --frequency / --begin-step or train longer)",
            outcome.history.steps
        ),
        steps => println!(
            "masks updated at {} step(s) ({}); sparsity asked at the last one: {:.1}%",
            steps.len(),
            summarize_steps(steps),
            100.0 * report.last_sparsity.unwrap_or(0.0)
        ),
    }
    print_report(report);
    println!(
        "pruned layers: {:.1}% zeros overall",
        100.0 * report.pruned_sparsity()
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
