//! The `ferrolite` command line: convert, quantize, run and measure `.tflite` models.

mod commands;
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
    /// Convert a model to .tflite (today: re-serialize a .tflite through the IR).
    Convert(commands::convert::ConvertArgs),
    /// Run a model once on .npy/.npz (or random) inputs; print and save the outputs.
    Run(commands::run::RunArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Convert(a) => commands::convert::run(a),
        Command::Run(a) => commands::run::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
