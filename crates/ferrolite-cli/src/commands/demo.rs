//! `ferrolite demo`: the whole workflow on a bundled model, in one table.
//!
//! A small CNN trained on scikit-learn's digits (a Keras `.h5` made by `tools/make_fixtures.py`,
//! compiled into the binary with its test split and calibration samples) is converted to
//! `.tflite`, quantized four ways (dynamic-range, int8 with int8 I/O, int8 with float I/O,
//! float16), and every variant is evaluated and benchmarked — the table TensorFlow's PTQ tutorials
//! end with, without TensorFlow.

use crate::commands::{bench, eval};
use crate::dataset::Dataset;
use crate::table::{thousands, Table};
use anyhow::{Context, Result};
use ferrolite_quant::{CalibrationData, Io, Mode, QuantizeOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

const MODEL_H5: &[u8] = include_bytes!("../../../../tests/fixtures/cnn_bn/cnn_bn.h5");
const TEST_NPZ: &[u8] = include_bytes!("../../../../tests/fixtures/digits_test.npz");
const CALIBRATION_NPY: &[u8] = include_bytes!("../../../../tests/fixtures/calibration_x.npy");

/// Arguments of `ferrolite demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the converted and quantized models are written.
    #[arg(long, default_value = "ferrolite-demo")]
    pub out: PathBuf,
    /// Timed single-sample runs per variant for the latency column.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Threads for benchmarking.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print JSON (keys in the README).
    #[arg(long)]
    pub json: bool,
}

/// One row of the demo table.
#[derive(Debug, Serialize, Clone)]
pub struct Variant {
    /// Variant name (`float32`, `dynamic`, `int8`, `int8 (float I/O)`, `float16`).
    pub variant: String,
    /// The written file.
    pub file: String,
    /// Top-1 accuracy on the 450 test digits.
    pub accuracy: f64,
    /// Accuracy minus the float32 accuracy, in percentage points.
    pub delta_accuracy_points: f64,
    /// Median single-sample latency in milliseconds.
    pub median_latency_ms: f64,
    /// float32 latency divided by this variant's (above 1 = faster).
    pub speedup_vs_float: f64,
    /// File size in bytes.
    pub size_bytes: u64,
    /// Size relative to float32.
    pub size_vs_float: f64,
    /// Activation arena bytes (batch 1).
    pub arena_bytes: usize,
    /// Time to produce this file from the Keras model, in milliseconds.
    pub build_ms: f64,
}

/// The demo's result.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// Output directory.
    pub out: String,
    /// Test samples evaluated.
    pub test_samples: usize,
    /// Calibration samples used for int8.
    pub calibration_samples: usize,
    /// Benchmark threads.
    pub threads: usize,
    /// One entry per variant, float32 first.
    pub variants: Vec<Variant>,
}

/// Runs the command.
pub fn run(args: &DemoArgs) -> Result<()> {
    let report = demo(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn demo(args: &DemoArgs) -> Result<DemoReport> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let say = |msg: String| {
        if !args.json {
            eprintln!("{msg}");
        }
    };
    let data_path = args.out.join("digits_test.npz");
    ferrolite_model::write_atomic(&data_path, TEST_NPZ)?;
    let data = Dataset::load(&data_path)?;
    let calibration = {
        let a =
            ferrolite_npy::read_npy_bytes(CALIBRATION_NPY).context("bundled calibration data")?;
        CalibrationData::new(a.shape.clone(), a.to_f32_vec())?
    };

    let start = Instant::now();
    let conversion = ferrolite_convert::keras::convert_bytes(
        MODEL_H5.to_vec(),
        "cnn_bn.h5",
        &Default::default(),
    )?;
    let convert_ms = ms(start);
    let float_model = conversion.model;
    say(format!(
        "converted the bundled Keras model (cnn_bn.h5, {} layers) in {convert_ms:.1} ms",
        conversion.report.layers
    ));

    let plans: [(&str, &str, Option<QuantizeOptions>); 5] = [
        ("float32", "cnn_bn_float32.tflite", None),
        (
            "dynamic",
            "cnn_bn_dynamic.tflite",
            Some(QuantizeOptions::new(Mode::Dynamic)),
        ),
        (
            "int8",
            "cnn_bn_int8.tflite",
            Some(QuantizeOptions {
                io: Io::Int8,
                ..QuantizeOptions::new(Mode::Int8)
            }),
        ),
        (
            "int8 (float I/O)",
            "cnn_bn_int8_float_io.tflite",
            Some(QuantizeOptions::new(Mode::Int8)),
        ),
        (
            "float16",
            "cnn_bn_float16.tflite",
            Some(QuantizeOptions::new(Mode::Float16)),
        ),
    ];
    let mut rows: Vec<Variant> = Vec::new();
    for (name, file, opts) in plans {
        let path = args.out.join(file);
        let start = Instant::now();
        let model = match &opts {
            None => float_model.clone(),
            Some(o) => {
                let cal = (o.mode == Mode::Int8).then_some(&calibration);
                ferrolite_quant::quantize(&float_model, o, cal)
                    .with_context(|| format!("quantizing the {name} variant"))?
                    .0
            }
        };
        ferrolite_model::write_file(&model, &path)?;
        let build_ms = convert_ms + ms(start);
        let e = eval::evaluate(&path, &data, 32, Some(args.threads), true)?;
        let b = bench::bench(&path, Some(args.threads), 10, args.runs.max(1), false, true)?;
        let size_bytes = std::fs::metadata(&path)?.len();
        say(format!(
            "{name:>16}: accuracy {:.2}%, median {:.3} ms, {} bytes",
            100.0 * e.top1,
            b.latency_ms.median,
            thousands(size_bytes as usize)
        ));
        rows.push(Variant {
            variant: name.into(),
            file: path.display().to_string(),
            accuracy: e.top1,
            delta_accuracy_points: 0.0,
            median_latency_ms: b.latency_ms.median,
            speedup_vs_float: 1.0,
            size_bytes,
            size_vs_float: 1.0,
            arena_bytes: b.arena_bytes,
            build_ms,
        });
    }
    let base = rows[0].clone();
    for r in &mut rows {
        r.delta_accuracy_points = 100.0 * (r.accuracy - base.accuracy);
        r.speedup_vs_float = base.median_latency_ms / r.median_latency_ms.max(1e-9);
        r.size_vs_float = r.size_bytes as f64 / base.size_bytes.max(1) as f64;
    }
    Ok(DemoReport {
        out: args.out.display().to_string(),
        test_samples: data.n,
        calibration_samples: calibration.samples(),
        threads: args.threads,
        variants: rows,
    })
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn render(r: &DemoReport) -> String {
    let mut out = format!(
        "\nferrolite demo: digits CNN, {} test samples, int8 calibrated on {} samples, latency at batch 1 on {} thread(s)\n",
        r.test_samples, r.calibration_samples, r.threads
    );
    let mut t = Table::new([
        "variant",
        "accuracy",
        "Δ accuracy",
        "median latency",
        "speed vs float",
        "size",
        "size vs float",
        "arena",
    ]);
    for v in &r.variants {
        t.row([
            v.variant.clone(),
            format!("{:.2}%", 100.0 * v.accuracy),
            format!("{:+.2} pt", v.delta_accuracy_points),
            format!("{:.3} ms", v.median_latency_ms),
            format!("{:.2}x", v.speedup_vs_float),
            format!("{} B", thousands(v.size_bytes as usize)),
            format!("{:.2}x", v.size_vs_float),
            format!("{} B", thousands(v.arena_bytes)),
        ]);
    }
    out.push_str(&t.render(0));
    out.push_str(&format!("\nfiles in {}/\n", Path::new(&r.out).display()));
    out
}
