//! `ferrolite convert`: turn a Keras `.h5` / `.keras` file (or a `.tflite`) into a `.tflite`.
//!
//! Keras models go through `ferrolite-convert` (BatchNorm folded, bias and activations fused,
//! dropout removed, as TF's converter does); a `.tflite` input is re-serialized through the IR.

use crate::source::{load_model, SourceKind};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Arguments of `ferrolite convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input model: Keras `.h5` / `.keras`, or `.tflite`.
    pub input: PathBuf,
    /// Output `.tflite` file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Fix the batch size (default: dynamic, as TFLiteConverter makes it).
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Drop all metadata entries (min_runtime_version, CONVERSION_METADATA, TFLite Support metadata).
    #[arg(long)]
    pub strip_metadata: bool,
    /// Print what the converter folded, fused and dropped.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the command.
pub fn run(args: &ConvertArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let (mut model, conversion) = load_model(&args.input, args.batch_size)?;
    if args.strip_metadata {
        model.metadata.clear();
        model.legacy_metadata_buffers.clear();
    }
    ferrolite_model::write_file(&model, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let size = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    if let Some(c) = &conversion {
        if args.verbose {
            eprint!("{}", c.report);
        }
    }
    let what = match crate::source::kind(&args.input)? {
        SourceKind::Keras => "converted",
        SourceKind::Tflite => "re-serialized",
    };
    eprintln!(
        "{what} {} → {} ({} bytes, {} operators) in {:.1} ms",
        args.input.display(),
        args.output.display(),
        size,
        model
            .subgraphs
            .iter()
            .map(|s| s.operators.len())
            .sum::<usize>(),
        start.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
