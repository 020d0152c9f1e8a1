//! `ferrolite qat`: quantization-aware fine-tuning (fake quantization with straight-through
//! gradients, tfmot's default 8-bit scheme) and export to a full-int8 `.tflite` whose activation
//! ranges are the learned ones.
//!
//! `--preserve-sparsity` (after `ferrolite prune`) and `--preserve-clusters` (after
//! `ferrolite cluster`) are tfmot's collaborative optimizations PQAT and CQAT: the pruned zeros
//! or the clustered values survive the fine-tune and the int8 export.
//!
//! Only built with the `train` cargo feature. The output is written atomically after training
//! and quantization succeeded.

use super::finetune::{json_epochs, progress, FinetuneArgs, JsonEpoch};
use crate::table::{thousands, Table};
use anyhow::{Context, Result};
use ferrolite_quant::Io;
use ferrolite_train::collab::{self, Preserve};
use ferrolite_train::qat::{QatConfig, RangeInit};
use ferrolite_train::Monitor;
use serde::Serialize;
use std::path::PathBuf;

/// Model input/output type (`--io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IoArg {
    /// Float inputs/outputs (QUANTIZE / DEQUANTIZE at the edges).
    Float,
    /// int8 inputs and outputs.
    Int8,
}

/// Where the moving-average ranges start (`--init-ranges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InitArg {
    /// The first training batch's range.
    FirstBatch,
    /// [-6, 6], as tfmot (needs thousands of steps at decay 0.999).
    Tfmot,
    /// Min / max of a calibration pass over the first training samples, as post-training
    /// quantization calibrates.
    Calibration,
}

/// Which validation metric picks the exported epoch (`--keep-best`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepBestArg {
    /// Export the last epoch.
    None,
    /// The lowest validation loss (the start included).
    ValLoss,
    /// The highest validation accuracy (the start included; ties keep the earlier state).
    ValAccuracy,
}

/// Arguments of `ferrolite qat`.
#[derive(Debug, clap::Args)]
pub struct QatArgs {
    /// The float model: `.tflite`, or Keras `.h5` / `.keras` (converted first).
    pub input: PathBuf,
    /// Output int8 `.tflite` (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Input/output type of the int8 model.
    #[arg(long, value_enum, default_value = "float")]
    pub io: IoArg,
    /// Leave these layers without fake quantization (they are still exported as int8, with
    /// calibrated ranges).
    #[arg(long, value_delimiter = ',', value_name = "LAYER,...")]
    pub skip: Vec<String>,
    /// Decay of the moving-average activation ranges (tfmot: 0.999).
    #[arg(long, default_value_t = 0.999, value_name = "D")]
    pub ema_decay: f32,
    /// Where the moving averages start (default: a calibration pass, so training starts from
    /// the ranges post-training quantization would use).
    #[arg(long, value_enum, default_value = "calibration")]
    pub init_ranges: InitArg,
    /// Training samples of the `--init-ranges calibration` pass.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub calibration_samples: usize,
    /// Stop updating the activation ranges after this many steps (0: keep the initial ones).
    #[arg(long, value_name = "STEPS")]
    pub freeze_ranges_after: Option<u64>,
    /// Give an ADD / SUB / MUL / DIV input that LiteRT overwrites in place the output's range
    /// too, as TF's post-training calibrator records it.
    #[arg(long)]
    pub share_in_place_ranges: bool,
    /// Export the epoch (or the starting point) with the best metric on the
    /// --validation-split, instead of the last one. Default: `val-accuracy` when there is a
    /// validation split (so the export is never worse on it than the calibrated start), else
    /// `none`.
    #[arg(long, value_enum)]
    pub keep_best: Option<KeepBestArg>,
    /// Keep the zeros of a pruned model (tfmot's PQAT).
    #[arg(long)]
    pub preserve_sparsity: bool,
    /// Keep the unique values of a clustered model's kernels, fine-tuning them (tfmot's CQAT);
    /// with --preserve-sparsity the zero cluster stays zero too.
    #[arg(long)]
    pub preserve_clusters: bool,
    /// Fine-tuning options.
    #[command(flatten)]
    pub train: FinetuneArgs,
}

#[derive(Serialize)]
struct JsonRange {
    tensor: usize,
    name: String,
    min: f32,
    max: f32,
}

#[derive(Serialize)]
struct JsonReport {
    input: String,
    output: String,
    output_bytes: u64,
    steps: u64,
    step_ms: f64,
    epochs: Vec<JsonEpoch>,
    ranges: Vec<JsonRange>,
    tensors_quantized: usize,
    preserve: &'static str,
    preserved_kernels: usize,
    kept_epoch: Option<usize>,
    accuracy_float: Option<f64>,
    accuracy_int8: Option<f64>,
}

/// Runs the command.
pub fn run(args: &QatArgs) -> Result<()> {
    let (model, _) = crate::source::load_model(&args.input, None)?;
    let data = args.train.load_data(&model)?;
    let mut train = args.train.config(1e-4);
    train.batch_norms = args.train.batch_norms(&args.input)?;
    let keep_best = args.keep_best.unwrap_or(if train.validation_split > 0.0 {
        KeepBestArg::ValAccuracy
    } else {
        KeepBestArg::None
    });
    train.restore_best = match keep_best {
        KeepBestArg::None => None,
        KeepBestArg::ValLoss => Some(Monitor::ValLoss),
        KeepBestArg::ValAccuracy => Some(Monitor::ValAccuracy),
    };
    if train.restore_best.is_some() && train.validation_split <= 0.0 {
        anyhow::bail!("--keep-best needs a --validation-split above 0");
    }
    super::finetune::check_layers(&model, &args.skip)?;
    let json = args.train.json;
    let cfg = QatConfig {
        ema_decay: args.ema_decay,
        init: match args.init_ranges {
            InitArg::FirstBatch => RangeInit::FirstBatch,
            InitArg::Tfmot => RangeInit::Tfmot,
            InitArg::Calibration => RangeInit::Calibration,
        },
        skip: args.skip.clone(),
        calibration_samples: args.calibration_samples,
        freeze_ranges_after: args.freeze_ranges_after,
        in_place_sharing: args.share_in_place_ranges,
    };
    let (preserve, preserve_name) = match (args.preserve_clusters, args.preserve_sparsity) {
        (true, s) => (
            Preserve::Clusters {
                preserve_sparsity: s,
            },
            if s { "clusters+sparsity" } else { "clusters" },
        ),
        (false, true) => (Preserve::Sparsity, "sparsity"),
        (false, false) => (Preserve::Nothing, "nothing"),
    };
    if !json {
        println!(
            "quantization-aware training of {} ({} steps, {}, lr {} {}{})",
            args.input.display(),
            args.train.total_steps(&data),
            train.optimizer,
            train.learning_rate,
            train.lr_schedule,
            match preserve {
                Preserve::Nothing => String::new(),
                _ => format!(", preserving {preserve_name}"),
            }
        );
    }
    let io = match args.io {
        IoArg::Float => Io::Float,
        IoArg::Int8 => Io::Int8,
    };
    let outcome = collab::qat(
        &model,
        &data,
        &train,
        &cfg,
        preserve,
        io,
        &mut progress(json),
    )
    .with_context(|| format!("cannot train {}", args.input.display()))?;
    let (int8, report, history) = (&outcome.model, &outcome.report, &outcome.history);
    ferrolite_model::write_file(int8, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let (before, after) = args.train.accuracies(&args.input, &args.output)?;
    let names = &model.subgraphs[0].tensors;
    let ranges: Vec<JsonRange> = outcome
        .ranges
        .iter()
        .map(|&(t, min, max)| JsonRange {
            tensor: t,
            name: names.get(t).map(|x| x.name.clone()).unwrap_or_default(),
            min,
            max,
        })
        .collect();
    let output_bytes = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    if json {
        let out = JsonReport {
            input: args.input.display().to_string(),
            output: args.output.display().to_string(),
            output_bytes,
            steps: history.steps,
            step_ms: history.step_ms,
            epochs: json_epochs(history),
            ranges,
            tensors_quantized: report.tensors.len(),
            preserve: preserve_name,
            preserved_kernels: outcome.preserved_kernels,
            kept_epoch: history.best.map(|b| b.0),
            accuracy_float: before,
            accuracy_int8: after,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} → {}  ({} bytes, int8, {} steps, {:.1} ms/step)",
        args.input.display(),
        args.output.display(),
        thousands(output_bytes as usize),
        history.steps,
        history.step_ms
    );
    if let Some((epoch, loss, acc)) = history.best {
        println!(
            "kept {} (val_loss {loss:.4}, val_accuracy {acc:.4})",
            if epoch == 0 {
                "the starting point".to_string()
            } else {
                format!("epoch {epoch}")
            }
        );
    }
    println!("learned activation ranges:");
    let mut table = Table::new(["#", "tensor", "min", "max"]);
    for r in &ranges {
        table.row([
            r.tensor.to_string(),
            r.name.clone(),
            format!("{:.4}", r.min),
            format!("{:.4}", r.max),
        ]);
    }
    print!("{}", table.render(2));
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "top-1 accuracy: {:.2}% float, {:.2}% int8 after QAT",
            100.0 * b,
            100.0 * a
        );
    }
    Ok(())
}
