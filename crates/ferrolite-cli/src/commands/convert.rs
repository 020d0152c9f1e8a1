//! `ferrolite convert`: read a model and write it as `.tflite` through the IR.
//!
//! Today the input is a `.tflite` file (re-serialized, optionally without metadata); Keras,
//! GraphDef and ONNX importers will plug in here.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Arguments of `ferrolite convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input model (`.tflite`).
    pub input: PathBuf,
    /// Output `.tflite` file (written atomically).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Drop all metadata entries (min_runtime_version, CONVERSION_METADATA, TFLite Support metadata).
    #[arg(long)]
    pub strip_metadata: bool,
}

/// Runs the command.
pub fn run(args: &ConvertArgs) -> Result<()> {
    let ext = args
        .input
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext != "tflite" {
        bail!(
            "cannot convert {}: only .tflite input is supported so far (Keras .h5/.keras, GraphDef .pb and ONNX importers are planned)",
            args.input.display()
        );
    }
    let mut model = ferrolite_model::read_file(&args.input)
        .with_context(|| format!("cannot load {}", args.input.display()))?;
    if args.strip_metadata {
        model.metadata.clear();
        model.legacy_metadata_buffers.clear();
    }
    ferrolite_model::write_file(&model, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let size = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "wrote {} ({} bytes, {} operators)",
        args.output.display(),
        size,
        model
            .subgraphs
            .iter()
            .map(|s| s.operators.len())
            .sum::<usize>()
    );
    Ok(())
}
