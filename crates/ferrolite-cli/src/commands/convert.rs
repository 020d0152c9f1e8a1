//! `ferrolite convert`: turn a Keras `.h5` / `.keras` file, a TensorFlow frozen `.pb` (or a
//! `.tflite`) into a `.tflite`.
//!
//! Keras models go through `ferrolite-convert` (BatchNorm folded, bias and activations fused,
//! dropout removed, as TF's converter does); a `.tflite` input is re-serialized through the IR.
//! With `--mode` (and the other `ferrolite quantize` flags) the result is quantized before it is
//! written, so a Keras file becomes a quantized `.tflite` in one step.

use crate::commands::quantize::{print_report, quantize_model, report_json, QuantFlags};
use crate::source::{load_graphdef_signature, load_model, parse_input_spec, SourceKind};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Arguments of `ferrolite convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input model: Keras `.h5` / `.keras`, TensorFlow frozen `.pb`, SavedModel dir, ONNX
    /// `.onnx`, or `.tflite`.
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
    /// `.pb` inputs as NAME or NAME:d1,d2,.. (-1 = dynamic); default: the graph's placeholders.
    #[arg(long, num_args = 1..)]
    pub inputs: Vec<String>,
    /// `.pb` input shapes as NAME:d1,d2,.. (TF's --input_shapes); same as shapes in --inputs.
    #[arg(long, num_args = 1..)]
    pub input_shapes: Vec<String>,
    /// `.pb` output nodes (NAME or NAME:k); default: the nodes no other node reads.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub outputs: Vec<String>,
    /// SavedModel directory: the signature to convert (default serving_default).
    #[arg(long)]
    pub signature: Option<String>,
    /// `.pb`: emit ops without a TFLite lowering as custom ops (the result needs kernels for them).
    #[arg(long)]
    pub allow_custom_ops: bool,
    /// `.onnx`: make rank-4 inputs NHWC (TFLite's image layout) instead of the model's NCHW.
    #[arg(long)]
    pub nhwc_input: bool,
    /// Print what the converter folded, fused and dropped.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print a JSON summary on stdout (keys in the README) instead of text on stderr.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub quant: QuantFlags,
}

/// Runs the command.
pub fn run(args: &ConvertArgs) -> Result<()> {
    let start = std::time::Instant::now();
    let (mut model, conversion) = if crate::source::kind(&args.input)? == SourceKind::GraphDef {
        let sig = args.signature.as_deref();
        let (m, c) = load_graphdef_signature(&args.input, sig, &graphdef_options(args)?)?;
        (m, Some(c))
    } else if crate::source::kind(&args.input)? == SourceKind::Onnx {
        let options = ferrolite_convert::onnx::OnnxOptions {
            nhwc_input: args.nhwc_input,
            batch_size: args.batch_size,
        };
        let (m, c) = crate::source::load_onnx(&args.input, &options)?;
        (m, Some(c))
    } else {
        load_model(&args.input, args.batch_size)?
    };
    if args.strip_metadata {
        model.metadata.clear();
        model.legacy_metadata_buffers.clear();
    }
    let mut quant_report = None;
    if args.quant.mode.is_some() {
        let (q, report) = quantize_model(&args.quant, &model, false)
            .with_context(|| format!("cannot quantize {}", args.input.display()))?;
        model = q;
        quant_report = Some(report);
    }
    ferrolite_model::write_file(&model, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    let size = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    let operators: usize = model.subgraphs.iter().map(|s| s.operators.len()).sum();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if args.json {
        let conversion_json = conversion.as_ref().map(|c| {
            let events: Vec<serde_json::Value> = c
                .report
                .events
                .iter()
                .map(|e| serde_json::json!({"kind": e.kind.label(), "message": e.message}))
                .collect();
            serde_json::json!({
                "format": c.report.format,
                "layers": c.report.layers,
                "events": events,
            })
        });
        let summary = serde_json::json!({
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "bytes": size,
            "operators": operators,
            "milliseconds": ms,
            "conversion": conversion_json,
            "quantized": quant_report.is_some(),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        if let Some(report) = &quant_report {
            report_json(
                report,
                &args.input,
                &args.output,
                args.quant.report.as_deref(),
            )?;
        }
        return Ok(());
    }
    if let Some(c) = &conversion {
        let custom = c
            .report
            .events
            .iter()
            .find(|e| e.message.contains("custom operator"));
        if let Some(e) = custom.filter(|_| !args.verbose) {
            eprintln!("warning: {}", e.message);
        }
        let text = c.report.to_string();
        if args.verbose {
            eprint!("{text}");
        } else if let Some(first) = text.lines().next() {
            eprintln!("{first} (-v lists them)");
        }
    }
    let what = match crate::source::kind(&args.input)? {
        SourceKind::Keras | SourceKind::GraphDef | SourceKind::Onnx => "converted",
        SourceKind::Tflite => "re-serialized",
    };
    eprintln!(
        "{what} {} → {} ({} bytes, {operators} operators) in {ms:.1} ms",
        args.input.display(),
        args.output.display(),
        size,
    );
    if let Some(report) = &quant_report {
        let path = args.quant.report.as_deref();
        report_json(report, &args.input, &args.output, path)?;
        print_report(report);
    }
    Ok(())
}

/// The `from_frozen_graph` arguments from `--inputs`, `--input-shapes` and `--outputs`.
fn graphdef_options(args: &ConvertArgs) -> Result<ferrolite_convert::graphdef::GraphDefOptions> {
    let mut inputs = args
        .inputs
        .iter()
        .map(|s| parse_input_spec(s))
        .collect::<Result<Vec<_>>>()?;
    for spec in &args.input_shapes {
        let (name, shape) = parse_input_spec(spec)?;
        let shape =
            shape.with_context(|| format!("--input-shapes {spec}: expected NAME:d1,d2,.."))?;
        match inputs.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = Some(shape),
            None => inputs.push((name, Some(shape))),
        }
    }
    if let Some(b) = args.batch_size {
        for (name, shape) in &mut inputs {
            match shape.as_mut().and_then(|s| s.first_mut()) {
                Some(d) => *d = i64::from(b),
                None => anyhow::bail!("--batch-size on a .pb needs the shape of input {name}"),
            }
        }
    }
    Ok(ferrolite_convert::graphdef::GraphDefOptions {
        inputs,
        outputs: args.outputs.clone(),
        allow_custom_ops: args.allow_custom_ops,
    })
}
