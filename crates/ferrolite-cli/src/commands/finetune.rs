//! What the training commands (`prune`, `qat`, `cluster`) share: the fine-tuning options, the
//! per-epoch progress display and the before/after accuracy check in the interpreter.
//!
//! Only built with the `train` cargo feature.

use crate::batch::{argmax, BatchRunner};
use crate::images::PixelScale;
use anyhow::{Context, Result};
use ferrolite_train::{Dataset, EpochStats, History, LrSchedule, Optimizer, Progress, TrainConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Optimizer choice (`--optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerArg {
    /// Adam with Keras' defaults (β1 0.9, β2 0.999, ε 1e-7).
    Adam,
    /// SGD with `--momentum`.
    Sgd,
}

/// Fine-tuning options shared by the training commands.
#[derive(Debug, clap::Args)]
pub struct FinetuneArgs {
    /// Training data: `.npz` with `x` (samples, as the model input) and `y` (class labels), or a
    /// folder with one sub-folder of PNG/JPEG images per class (labels in sorted folder order).
    #[arg(long, value_name = "D.npz|IMAGE_DIR")]
    pub data: PathBuf,
    /// How image pixels become input values when --data / --eval are image folders.
    #[arg(long, value_enum, default_value = "unit")]
    pub pixel_scale: PixelScale,
    /// Passes over the training data.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerArg,
    /// Learning rate (default 1e-3 for prune, 1e-4 for qat).
    #[arg(long, value_name = "LR")]
    pub learning_rate: Option<f32>,
    /// Learning-rate schedule over the run: constant, cosine[:ALPHA] (Keras CosineDecay over all
    /// steps) or exponential:RATE,STEPS[,staircase] (Keras ExponentialDecay).
    #[arg(long, default_value = "constant", value_name = "SCHEDULE", value_parser = parse_schedule)]
    pub lr_schedule: LrSchedule,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9, value_name = "M")]
    pub momentum: f32,
    /// Fraction of the data (its tail) held out for validation, as Keras' validation_split.
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    pub validation_split: f32,
    /// Seed of the per-epoch shuffle (same seed, same result).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also measure top-1 accuracy of the input and the output model on this labelled `.npz`
    /// (both run in ferrolite's interpreter).
    #[arg(long, value_name = "TEST.npz|IMAGE_DIR")]
    pub eval: Option<PathBuf>,
    /// Keep the model's BatchNormalization layers unfolded while training (batch statistics,
    /// trained gamma/beta, moving averages updated), as Keras and tfmot train them; they are
    /// folded back before export. Needs a Keras `.h5` / `.keras` input (prune and qat).
    #[arg(long)]
    pub unfold_batch_norm: bool,
    /// Print a JSON report instead of tables.
    #[arg(long)]
    pub json: bool,
}

impl FinetuneArgs {
    /// Loads the training data for `model` (whose input shape sizes images).
    pub fn load_data(&self, model: &ferrolite_model::Model) -> Result<Dataset> {
        load_labelled(&self.data, self.pixel_scale, || {
            crate::images::model_sample_shape(model)
        })
    }

    /// The training configuration, with `default_lr` when `--learning-rate` is not given.
    pub fn config(&self, default_lr: f32) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size as usize,
            optimizer: match self.optimizer {
                OptimizerArg::Adam => Optimizer::adam(),
                OptimizerArg::Sgd => Optimizer::sgd(self.momentum),
            },
            learning_rate: self.learning_rate.unwrap_or(default_lr),
            lr_schedule: self.lr_schedule,
            validation_split: self.validation_split,
            restore_best: None,
            seed: self.seed,
            shuffle: true,
            batch_norms: Vec::new(),
        }
    }

    /// The BatchNormalization layers of the Keras `input` when `--unfold-batch-norm` is given.
    pub fn batch_norms(&self, input: &Path) -> Result<Vec<ferrolite_train::bn::KerasBatchNorm>> {
        if !self.unfold_batch_norm {
            return Ok(Vec::new());
        }
        if crate::source::kind(input)? != crate::source::SourceKind::Keras {
            anyhow::bail!(
                "--unfold-batch-norm needs the Keras .h5 / .keras model (a .tflite has them folded)"
            );
        }
        ferrolite_train::bn::keras_batch_norms(input)
            .with_context(|| format!("cannot read the batch norms of {}", input.display()))
    }

    /// Optimizer steps a run over `data` will take.
    pub fn total_steps(&self, data: &Dataset) -> i64 {
        let train = ferrolite_train::data::split_index(data.len(), self.validation_split);
        (train.div_ceil(self.batch_size as usize) * self.epochs) as i64
    }

    /// Top-1 accuracy of `input` and `output` on `--eval`, when given.
    pub fn accuracies(&self, input: &Path, output: &Path) -> Result<(Option<f64>, Option<f64>)> {
        let Some(p) = &self.eval else {
            return Ok((None, None));
        };
        let test = load_labelled(p, self.pixel_scale, || {
            let interp = crate::source::interpreter(input)?;
            let details = interp.input_details();
            let first = details.first().context("the model has no input")?;
            Ok(first.shape[1..].to_vec())
        })?;
        Ok((
            Some(accuracy(input, &test)?),
            Some(accuracy(output, &test)?),
        ))
    }
}

/// Fails when a layer selector (`--only`, `--skip`) names no layer of `model`, before any
/// output is printed.
pub fn check_layers(model: &ferrolite_model::Model, selectors: &[String]) -> Result<()> {
    if selectors.is_empty() {
        return Ok(());
    }
    let net = ferrolite_train::Net::from_model(model)?;
    net.check_selectors(selectors)?;
    Ok(())
}

/// `--lr-schedule`'s parser.
fn parse_schedule(text: &str) -> Result<LrSchedule, String> {
    LrSchedule::parse(text).map_err(|e| e.to_string())
}

/// A labelled dataset from an `.npz` or a class-folder image directory (images sized by
/// `sample_shape`, asked only for directories).
fn load_labelled(
    path: &Path,
    scale: PixelScale,
    sample_shape: impl FnOnce() -> Result<Vec<usize>>,
) -> Result<Dataset> {
    if !path.is_dir() {
        return Dataset::load_npz(path).with_context(|| format!("cannot load {}", path.display()));
    }
    let shape = sample_shape()?;
    let (images, _classes) = crate::dataset::Dataset::load_images(path, &shape, scale)?;
    let labels = images
        .y
        .unwrap_or_default()
        .into_iter()
        .map(|l| usize::try_from(l).unwrap_or(0))
        .collect();
    Dataset::new(shape, images.x, labels)
        .with_context(|| format!("cannot use the images in {}", path.display()))
}

/// Top-1 accuracy of the model at `path` on a labelled dataset, in the interpreter.
fn accuracy(path: &Path, data: &Dataset) -> Result<f64> {
    let mut runner = BatchRunner::new(path, None, 64, &data.sample_shape)?;
    let out = runner.run(&data.x, data.len(), |_| {})?;
    let per = out.per_sample[0].max(1);
    let correct = out.values[0]
        .chunks(per)
        .zip(&data.y)
        .filter(|(row, &y)| argmax(row) == y)
        .count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// One Keras-like line per epoch.
pub fn epoch_line(s: &EpochStats) -> String {
    let mut line = format!(
        "epoch {}/{}  loss {:.4}  accuracy {:.4}",
        s.epoch, s.epochs, s.loss, s.accuracy
    );
    if let (Some(l), Some(a)) = (s.val_loss, s.val_accuracy) {
        line.push_str(&format!("  val_loss {l:.4}  val_accuracy {a:.4}"));
    }
    line.push_str(&format!("  ({:.1} s)", s.seconds));
    line
}

/// A progress callback: a bar per epoch (loss and accuracy so far) and a line when it ends.
pub fn progress(quiet: bool) -> impl FnMut(&Progress) {
    let mut bar = crate::progress::bar(0, "epoch", true);
    move |p| match p {
        Progress::EpochBegin {
            epoch,
            epochs,
            batches,
        } => {
            bar = crate::progress::bar(*batches as u64, &format!("epoch {epoch}/{epochs}"), quiet);
        }
        Progress::Batch {
            batch,
            loss,
            accuracy,
            ..
        } => {
            bar.set_position(*batch as u64);
            bar.set_message(format!("loss {loss:.4} accuracy {accuracy:.4}"));
        }
        Progress::EpochEnd(stats) => {
            bar.finish_and_clear();
            if !quiet {
                println!("{}", epoch_line(stats));
            }
        }
    }
}

/// One epoch in the JSON reports.
#[derive(Debug, Serialize)]
pub struct JsonEpoch {
    epoch: usize,
    loss: f32,
    accuracy: f32,
    val_loss: Option<f32>,
    val_accuracy: Option<f32>,
    seconds: f64,
}

/// The epochs of a run for the JSON reports.
pub fn json_epochs(h: &History) -> Vec<JsonEpoch> {
    h.epochs
        .iter()
        .map(|e| JsonEpoch {
            epoch: e.epoch,
            loss: e.loss,
            accuracy: e.accuracy,
            val_loss: e.val_loss,
            val_accuracy: e.val_accuracy,
            seconds: e.seconds,
        })
        .collect()
}
