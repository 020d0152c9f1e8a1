//! `ferrolite quantize`: post-training quantization of a float `.tflite` (float16, dynamic-range
//! or full int8 with calibration), following TF's converter rules; prints what it did per tensor.
//!
//! The output is written atomically and only after quantization succeeded, so a failed run
//! (bad calibration data, an operator without an int8 rule) never leaves a file behind.

use crate::table::{thousands, Table};
use anyhow::{bail, Context, Result};
use ferrolite_npy::Array;
use ferrolite_quant::{
    quantize_with_progress, CalibrationData, Io, Mode, QuantReport, QuantizeOptions,
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
}

/// Model input/output type in int8 mode (`--io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IoArg {
    /// Keep float inputs/outputs (QUANTIZE / DEQUANTIZE at the edges).
    Float,
    /// int8 inputs and outputs.
    Int8,
    /// uint8 inputs and outputs (not supported yet).
    Uint8,
}

/// Arguments of `ferrolite quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The float `.tflite` model to quantize.
    pub input: PathBuf,
    /// Output `.tflite` file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Quantization mode.
    #[arg(long, value_enum)]
    pub mode: ModeArg,
    /// Representative dataset for int8: a float32 `.npy` `[N, ...]`, or an `.npz` holding it
    /// under `--calibration-key` (or as its only array).
    #[arg(long, value_name = "X.npy|X.npz")]
    pub calibration_data: Option<PathBuf>,
    /// Array name inside an `.npz` calibration file.
    #[arg(long, default_value = "x", value_name = "KEY")]
    pub calibration_key: String,
    /// Use at most this many calibration samples (TF's examples use 100).
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub calibration_samples: u32,
    /// Input/output type of an int8 model.
    #[arg(long, value_enum, default_value = "float")]
    pub io: IoArg,
    /// Dynamic mode: weights with fewer elements stay float (TF's default 1024).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub min_elements: usize,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` output.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    input: String,
    output: String,
    input_bytes: u64,
    output_bytes: u64,
    #[serde(flatten)]
    report: &'a QuantReport,
}

/// Reads the calibration array from `.npy` or `.npz`.
fn load_calibration(path: &Path, key: &str) -> Result<CalibrationData> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (array, label): (Array, String) =
        match ext.as_str() {
            "npy" => (ferrolite_npy::read_npy(path)?, path.display().to_string()),
            "npz" => {
                let mut members = ferrolite_npy::read_npz(path)?;
                let pos =
                    match members.iter().position(|(k, _)| k == key) {
                        Some(p) => p,
                        None if members.len() == 1 => 0,
                        None => bail!(
                    "{} has no array '{key}' (it holds {}); pick one with --calibration-key",
                    path.display(),
                    members.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
                ),
                    };
                let (k, a) = members.swap_remove(pos);
                (a, format!("{}:{k}", path.display()))
            }
            _ => bail!(
                "calibration data must be a .npy or .npz file, got {}",
                path.display()
            ),
        };
    Ok(CalibrationData::from_array(&array, &label)?)
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

/// Runs the command.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    let model = ferrolite_model::read_file(&args.input)
        .with_context(|| format!("cannot load {}", args.input.display()))?;
    let mut opts = QuantizeOptions::new(match args.mode {
        ModeArg::Float16 => Mode::Float16,
        ModeArg::Dynamic => Mode::Dynamic,
        ModeArg::Int8 => Mode::Int8,
    });
    opts.io = match args.io {
        IoArg::Float => Io::Float,
        IoArg::Int8 => Io::Int8,
        IoArg::Uint8 => Io::Uint8,
    };
    opts.min_elements = args.min_elements;
    let calibration = match (&args.calibration_data, opts.mode) {
        (Some(path), Mode::Int8) => {
            let mut data = load_calibration(path, &args.calibration_key)?;
            data.truncate(args.calibration_samples as usize);
            Some(data)
        }
        (None, Mode::Int8) => bail!(
            "--mode int8 needs --calibration-data X.npy|X.npz (a float32 representative dataset [N, ...])"
        ),
        (Some(_), _) => {
            eprintln!("note: --calibration-data is only used by --mode int8; ignored");
            None
        }
        (None, _) => None,
    };
    let bar = crate::progress::bar(
        calibration.as_ref().map_or(0, |d| d.samples()) as u64,
        "calibrating",
        args.json || calibration.is_none(),
    );
    let result = quantize_with_progress(&model, &opts, calibration.as_ref(), &mut |done, _| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    let (quantized, report) =
        result.with_context(|| format!("cannot quantize {}", args.input.display()))?;
    ferrolite_model::write_file(&quantized, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (before, after) = (size(&args.input), size(&args.output));
    if args.json {
        let json = JsonReport {
            input: args.input.display().to_string(),
            output: args.output.display().to_string(),
            input_bytes: before,
            output_bytes: after,
            report: &report,
        };
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "{} → {}  ({} → {} bytes, {:.1}%)",
        args.input.display(),
        args.output.display(),
        thousands(before as usize),
        thousands(after as usize),
        100.0 * after as f64 / before.max(1) as f64
    );
    println!(
        "mode {}, io {}, {} operators quantized, {} added, {} tensors rewritten{}",
        report.mode,
        report.io,
        report.ops_quantized,
        report.ops_added,
        report.tensors.len(),
        if report.calibration_samples > 0 {
            format!(", calibrated on {} samples", report.calibration_samples)
        } else {
            String::new()
        }
    );
    let mut table = Table::new(["#", "name", "role", "dtype", "scale", "zero point", "range"]);
    for t in &report.tensors {
        let role = serde_json::to_value(t.role)?
            .as_str()
            .unwrap_or_default()
            .to_string();
        let range = match (t.min, t.max) {
            (Some(lo), Some(hi)) => format!("[{lo:.4}, {hi:.4}]"),
            _ => "-".into(),
        };
        table.row([
            t.index.to_string(),
            t.name.clone(),
            role,
            t.dtype.clone(),
            scales(&t.scales),
            zero_points(&t.zero_points),
            range,
        ]);
    }
    print!("{}", table.render(2));
    Ok(())
}
