//! `ferrolite quantize`: post-training quantization of a float `.tflite` (float16, dynamic-range,
//! full int8 or int16x8 with calibration), following TF's converter rules, then an error report:
//! for every quantized activation its parameters, calibrated range and its RMSE / max-abs error
//! against the float model on the calibration inputs, worst first.
//!
//! The quantization flags live in [`QuantFlags`], which `ferrolite convert` flattens into its own
//! arguments so a Keras file becomes a quantized `.tflite` in one step ([`quantize_model`] does
//! the work for both). The output is written atomically and only after quantization succeeded,
//! so a failed run (bad calibration data, an operator without an integer rule) never leaves a
//! file behind.

use crate::images::PixelScale;
use crate::table::{thousands, Table};
use anyhow::{bail, Context, Result};
use ferrolite_model::Model;
use ferrolite_npy::Array;
use ferrolite_quant::{
    measure_errors, quantize_with_progress, CalibrationData, CalibrationInput, CalibrationMethod,
    Io, Mode, QuantReport, QuantizeOptions, Role,
};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Quantization mode (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// float32 constants stored as float16 (+ DEQUANTIZE), about half the size.
    Float16,
    /// int8 weights for conv / depthwise / fully connected / batch matmul; float activations.
    Dynamic,
    /// Full integer: int8 weights and activations, calibrated on --calibration-data.
    Int8,
    /// int16 activations, int8 weights, int64 biases, calibrated on --calibration-data.
    Int16x8,
}

/// Model input/output type in the integer modes (`--io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IoArg {
    /// Keep float inputs/outputs (QUANTIZE / DEQUANTIZE at the edges).
    Float,
    /// int8 inputs and outputs (int8 mode).
    Int8,
    /// uint8 inputs and outputs (int8 mode; QUANTIZE uint8↔int8 at the edges, as TF).
    Uint8,
    /// int16 inputs and outputs (int16x8 mode).
    Int16,
}

/// How activation ranges are chosen (`--calibration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CalibrationArg {
    /// Overall min/max of the calibration runs (TF-compatible).
    Minmax,
    /// Clip to the --percentile range of the values.
    Percentile,
    /// Clip where the quantization MSE of the value histogram is smallest.
    Mse,
    /// TensorRT-style entropy (KL divergence) calibration on a 2048-bin histogram.
    Kl,
}

/// The quantization flags shared by `ferrolite quantize` and `ferrolite convert`.
#[derive(Debug, Clone, clap::Args)]
pub struct QuantFlags {
    /// Quantization mode (`convert`: leave out to keep the model float).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Representative dataset for int8 / int16x8: a float32 `.npy` `[N, ...]`, an `.npz` holding
    /// it under --calibration-key (or as its only array), a directory of PNG/JPEG images (also
    /// in class sub-folders; resized to the model input, scaled by --pixel-scale), or a directory
    /// of one-sample `.npy` files or binary PGM/PPM images (scaled to [0, 1]).
    #[arg(long, value_name = "X.npy|X.npz|DIR")]
    pub calibration_data: Option<PathBuf>,
    /// How PNG/JPEG calibration pixels become input values.
    #[arg(long, value_enum, default_value = "unit")]
    pub pixel_scale: PixelScale,
    /// Array name inside an `.npz` calibration file.
    #[arg(long, default_value = "x", value_name = "KEY")]
    pub calibration_key: String,
    /// Use at most this many calibration samples (TF's examples use 100).
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub calibration_samples: u32,
    /// How activation ranges are chosen from the calibration runs.
    #[arg(long, value_enum, default_value = "minmax")]
    pub calibration: CalibrationArg,
    /// Percentile kept by --calibration percentile (the range runs from 100-P to P).
    #[arg(long, default_value_t = 99.99, value_name = "P")]
    pub percentile: f64,
    /// Input/output type of an integer model.
    #[arg(long, value_enum, default_value = "float")]
    pub io: IoArg,
    /// Dynamic mode: weights with fewer elements stay float (TF's default 1024).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub min_elements: usize,
    /// Keep operators without an integer rule float, with DEQUANTIZE / QUANTIZE around them
    /// (otherwise they are an error naming every one).
    #[arg(long)]
    pub allow_float_fallback: bool,
    /// Keep an operator float: an output tensor name or an operator type (SOFTMAX); repeatable.
    #[arg(long, value_name = "OP_OR_TENSOR")]
    pub keep_float: Vec<String>,
    /// Write the full report (every tensor, parameters, ranges, errors) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
}

/// Arguments of `ferrolite quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The float `.tflite` model to quantize.
    pub input: PathBuf,
    /// Output `.tflite` file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub quant: QuantFlags,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` / `--report` document.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    input: String,
    output: String,
    input_bytes: u64,
    output_bytes: u64,
    #[serde(flatten)]
    report: &'a QuantReport,
}

/// Reads the calibration samples from `.npy`, `.npz` or a directory (PNG/JPEG images are
/// decoded here, sized for `model`'s input; other directories go to the library's reader).
fn load_calibration(path: &Path, flags: &QuantFlags, model: &Model) -> Result<CalibrationData> {
    let key = flags.calibration_key.as_str();
    if path.is_dir() {
        let images = crate::images::calibration_images(path)?;
        if images.is_empty() {
            return Ok(CalibrationData::from_dir(path)?);
        }
        let other = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["npy", "pgm", "ppm"].contains(&e.to_ascii_lowercase().as_str())
                })
            });
        if let Some(other) = other {
            bail!(
                "{} mixes PNG/JPEG images ({}) with {}; keep one kind of sample per folder",
                path.display(),
                images[0].display(),
                other.display()
            );
        }
        return calibration_from_images(path, &images, flags, model);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (array, label): (Array, String) = match ext.as_str() {
        "npy" => (ferrolite_npy::read_npy(path)?, path.display().to_string()),
        "npz" => {
            let mut members = ferrolite_npy::read_npz(path)?;
            let pos = match members.iter().position(|(k, _)| k == key) {
                Some(p) => p,
                None if members.len() == 1 => 0,
                None => bail!(
                    "{} has no array '{key}' (it holds {}); pick one with --calibration-key",
                    path.display(),
                    members
                        .iter()
                        .map(|(k, _)| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let (k, a) = members.swap_remove(pos);
            (a, format!("{}:{k}", path.display()))
        }
        _ => bail!(
            "calibration data must be a .npy or .npz file or a directory, got {}",
            path.display()
        ),
    };
    Ok(CalibrationData::from_array(&array, &label)?)
}

/// Decodes a folder's PNG/JPEG images (at most --calibration-samples) into a calibration batch
/// shaped for the model's single image input.
fn calibration_from_images(
    dir: &Path,
    images: &[PathBuf],
    flags: &QuantFlags,
    model: &Model,
) -> Result<CalibrationData> {
    let inputs = model.subgraphs.first().map_or(0, |g| g.inputs.len());
    if inputs != 1 {
        bail!("an image folder can calibrate a model with one input; this one has {inputs}");
    }
    let sample_shape = crate::images::model_sample_shape(model)?;
    let (values, n) = crate::images::decode_batch(
        images,
        &sample_shape,
        flags.pixel_scale,
        flags.calibration_samples as usize,
    )
    .with_context(|| format!("calibration images in {}", dir.display()))?;
    Ok(CalibrationData::from_inputs(vec![CalibrationInput {
        label: dir.display().to_string(),
        shape: [&[n][..], &sample_shape].concat(),
        values,
    }])?)
}

/// The library options the flags ask for (`mode` given).
fn options(flags: &QuantFlags, mode: ModeArg) -> QuantizeOptions {
    let mut opts = QuantizeOptions::new(match mode {
        ModeArg::Float16 => Mode::Float16,
        ModeArg::Dynamic => Mode::Dynamic,
        ModeArg::Int8 => Mode::Int8,
        ModeArg::Int16x8 => Mode::Int16x8,
    });
    opts.io = match flags.io {
        IoArg::Float => Io::Float,
        IoArg::Int8 => Io::Int8,
        IoArg::Uint8 => Io::Uint8,
        IoArg::Int16 => Io::Int16,
    };
    opts.min_elements = flags.min_elements;
    opts.calibration = match flags.calibration {
        CalibrationArg::Minmax => CalibrationMethod::MinMax,
        CalibrationArg::Percentile => CalibrationMethod::Percentile(flags.percentile),
        CalibrationArg::Mse => CalibrationMethod::Mse,
        CalibrationArg::Kl => CalibrationMethod::Kl,
    };
    opts.allow_float_fallback = flags.allow_float_fallback;
    opts.keep_float = flags.keep_float.clone();
    opts
}

/// Quantizes `model` as `flags` say (`flags.mode` must be set), with progress bars unless
/// `quiet`; for the integer modes also measures each activation's error against the float model
/// (a model the interpreter cannot run yet only loses the error columns, with a note).
pub fn quantize_model(
    flags: &QuantFlags,
    model: &Model,
    quiet: bool,
) -> Result<(Model, QuantReport)> {
    let Some(mode) = flags.mode else {
        bail!("--mode is required (float16, dynamic, int8 or int16x8)");
    };
    let opts = options(flags, mode);
    let calibration = match (&flags.calibration_data, opts.mode.is_integer()) {
        (Some(path), true) => {
            let mut data = load_calibration(path, flags, model)?;
            data.truncate(flags.calibration_samples as usize);
            Some(data)
        }
        (None, true) => bail!(
            "--mode {} needs --calibration-data X.npy|X.npz|DIR (a float32 representative dataset [N, ...])",
            opts.mode
        ),
        (Some(_), false) => {
            eprintln!("note: --calibration-data is only used by --mode int8 / int16x8; ignored");
            None
        }
        (None, false) => None,
    };
    let bar = crate::progress::bar(0, "calibrating", quiet || calibration.is_none());
    let result = quantize_with_progress(model, &opts, calibration.as_ref(), &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    let (quantized, mut report) = result?;
    if let Some(data) = &calibration {
        let bar = crate::progress::bar(data.samples() as u64, "measuring errors", quiet);
        let measured = measure_errors(model, &quantized, data, &mut report, &mut |done, _| {
            bar.set_position(done as u64)
        });
        bar.finish_and_clear();
        if let Err(e) = measured {
            eprintln!("note: no error measurements: {e}");
        }
    }
    Ok((quantized, report))
}

/// Formats a list of scales: one value, or `n× in [lo, hi]` when per-channel.
fn scales(s: &[f32]) -> String {
    match s {
        [] => "-".into(),
        [one] => format!("{one:.6e}"),
        many => {
            let lo = many.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = many.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            format!("{}× in [{lo:.3e}, {hi:.3e}]", many.len())
        }
    }
}

fn zero_points(z: &[i64]) -> String {
    match z {
        [] => "-".into(),
        [one] => one.to_string(),
        many if many.iter().all(|&v| v == many[0]) => format!("{} (all)", many[0]),
        many => format!("{many:?}"),
    }
}

fn range(lo: Option<f32>, hi: Option<f32>) -> String {
    match (lo, hi) {
        (Some(lo), Some(hi)) => format!("[{lo:.4}, {hi:.4}]"),
        _ => "-".into(),
    }
}

fn role_name(r: Role) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Activations shown on stdout before "... and N more".
const SHOWN: usize = 25;

/// Prints the summary line and the short table(s) of a quantization run.
pub fn print_report(report: &QuantReport) {
    println!(
        "mode {}, io {}, {} operators quantized, {} added, {} tensors rewritten{}",
        report.mode,
        report.io,
        report.ops_quantized,
        report.ops_added,
        report.tensors.len(),
        if report.calibration_samples > 0 {
            format!(
                ", calibrated ({}) on {} samples",
                report.calibration, report.calibration_samples
            )
        } else {
            String::new()
        }
    );
    if !report.float_ops.is_empty() {
        println!("kept float: {}", report.float_ops.join(", "));
    }
    let activations = report.activations_by_error();
    if activations.is_empty() {
        let mut table = Table::new(["#", "name", "role", "dtype", "scale", "zero point", "range"]);
        for t in &report.tensors {
            table.row([
                t.index.to_string(),
                t.name.clone(),
                role_name(t.role),
                t.dtype.clone(),
                scales(&t.scales),
                zero_points(&t.zero_points),
                range(t.min, t.max),
            ]);
        }
        print!("{}", table.render(2));
        return;
    }
    let constants = report.tensors.len() - activations.len();
    let (weights, biases) = report
        .tensors
        .iter()
        .fold((0, 0), |(w, b), t| match t.role {
            Role::Weight => (w + 1, b),
            Role::Bias => (w, b + 1),
            _ => (w, b),
        });
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    println!(
        "{} quantized ({}, {}); activations, worst error first (--report FILE.json has every tensor):",
        plural(constants, "constant"),
        plural(weights, "weight"),
        plural(biases, "bias").replace("biass", "biases"),
    );
    let mut table = Table::new([
        "#", "tensor", "op", "dtype", "scale", "zero pt", "range", "rmse", "max abs",
    ]);
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3e}"));
    for t in activations.iter().take(SHOWN) {
        table.row([
            t.index.to_string(),
            t.name.clone(),
            t.op.clone().unwrap_or_else(|| "(input)".into()),
            t.dtype.clone(),
            scales(&t.scales),
            zero_points(&t.zero_points),
            range(t.min, t.max),
            fmt(t.rmse),
            fmt(t.max_abs_error),
        ]);
    }
    print!("{}", table.render(2));
    if activations.len() > SHOWN {
        println!("  ... and {} more", activations.len() - SHOWN);
    }
}

/// Writes `report` (with file names and sizes) as pretty JSON to `path`, or returns it.
pub fn report_json(
    report: &QuantReport,
    input: &Path,
    output: &Path,
    path: Option<&Path>,
) -> Result<String> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let json = serde_json::to_string_pretty(&JsonReport {
        input: input.display().to_string(),
        output: output.display().to_string(),
        input_bytes: size(input),
        output_bytes: size(output),
        report,
    })?;
    if let Some(p) = path {
        std::fs::write(p, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(json)
}

/// Runs the command.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    let model = ferrolite_model::read_file(&args.input)
        .with_context(|| format!("cannot load {}", args.input.display()))?;
    let (quantized, report) = quantize_model(&args.quant, &model, args.json)
        .with_context(|| format!("cannot quantize {}", args.input.display()))?;
    ferrolite_model::write_file(&quantized, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let json = report_json(
        &report,
        &args.input,
        &args.output,
        args.quant.report.as_deref(),
    )?;
    if args.json {
        println!("{json}");
        return Ok(());
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (before, after) = (size(&args.input), size(&args.output));
    println!(
        "{} → {}  ({} → {} bytes, {:.1}%)",
        args.input.display(),
        args.output.display(),
        thousands(before as usize),
        thousands(after as usize),
        100.0 * after as f64 / before.max(1) as f64
    );
    print_report(&report);
    Ok(())
}
