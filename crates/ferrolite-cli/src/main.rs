//! The `ferrolite` command line: convert, quantize, run and measure `.tflite` models.

mod batch;
mod commands;
mod dataset;
mod images;
mod progress;
mod source;
mod table;

use clap::{Parser, Subcommand};

/// Make neural networks small and fast on CPUs, without TensorFlow.
#[derive(Debug, Parser)]
#[command(name = "ferrolite", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a .tflite file: signatures, inputs/outputs, operators, size breakdown.
    Inspect(commands::inspect::InspectArgs),
    /// Convert a Keras .h5/.keras model (or a .tflite) to .tflite, without TensorFlow.
    Convert(commands::convert::ConvertArgs),
    /// Run a model once on .npy/.npz (or random) inputs; print and save the outputs.
    Run(commands::run::RunArgs),
    /// The whole workflow on a bundled model: convert, quantize 4 ways, evaluate, benchmark, one table.
    Demo(commands::demo::DemoArgs),
    /// Accuracy on a labelled dataset (.npz with x, y): top-1/top-5, confusions, throughput.
    Eval(commands::eval::EvalArgs),
    /// Latency (min/median/p90/max), arena and peak memory; --profile times every operator.
    Bench(commands::bench::BenchArgs),
    /// Numerical equivalence of two models: RMSE, max-abs, cosine, top-1 agreement per output.
    Compare(commands::compare::CompareArgs),
    /// Quantize a float .tflite: float16, dynamic-range or full int8 (calibrated); per-tensor report.
    Quantize(commands::quantize::QuantizeArgs),
    /// The operator support table: every builtin × f32/int8/uint8/int16x8/hybrid/f16-weights.
    Ops(commands::ops::OpsArgs),
    /// Magnitude pruning during a short fine-tune (tfmot schedules, block / m-by-n, per-layer report).
    #[cfg(feature = "train")]
    Prune(commands::prune::PruneArgs),
    /// Quantization-aware training, exported to a full-int8 .tflite with the learned ranges.
    #[cfg(feature = "train")]
    Qat(commands::qat::QatArgs),
    /// Weight clustering during a short fine-tune (at most N values per kernel), gzip size report.
    #[cfg(feature = "train")]
    Cluster(commands::cluster::ClusterArgs),
}

/// Exits quietly (status 141, as a shell would) when stdout is closed early, e.g. `| head`,
/// instead of printing Rust's panic for a failed `println!`.
fn quiet_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

fn main() -> std::process::ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Convert(a) => commands::convert::run(a),
        Command::Run(a) => commands::run::run(a),
        Command::Quantize(a) => commands::quantize::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Compare(a) => commands::compare::run(a),
        Command::Ops(a) => commands::ops::run(a),
        #[cfg(feature = "train")]
        Command::Prune(a) => commands::prune::run(a),
        #[cfg(feature = "train")]
        Command::Qat(a) => commands::qat::run(a),
        #[cfg(feature = "train")]
        Command::Cluster(a) => commands::cluster::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
