//! `ferrolite bench`: latency statistics, arena size, peak memory and a per-operator profile.

use crate::commands::run::{npy_dtype, random_array};
use crate::progress;
use crate::table::{thousands, Table};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `ferrolite bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// The `.tflite` model.
    pub model: PathBuf,
    /// Threads for the interpreter (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Untimed runs first.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Timed runs.
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
    /// Also time every operator (share of the total), like TFLite's benchmark tool.
    #[arg(long)]
    pub profile: bool,
    /// Print JSON (keys in the README).
    #[arg(long)]
    pub json: bool,
}

/// Benchmark results.
#[derive(Debug, Serialize, Clone)]
pub struct BenchReport {
    /// Model path.
    pub model: String,
    /// Threads setting.
    pub threads: usize,
    /// Timed runs.
    pub runs: usize,
    /// Latency statistics in milliseconds.
    pub latency_ms: Latency,
    /// Activation arena bytes.
    pub arena_bytes: usize,
    /// Bytes held for the interpreter's lifetime besides the arena: pre-packed weights and
    /// values folded at `allocate_tensors` (e.g. float16 weights expanded to float32).
    pub persistent_bytes: usize,
    /// Peak resident memory of the process in bytes (Linux `VmHWM`), when known.
    pub peak_rss_bytes: Option<u64>,
    /// Per-operator medians, slowest first (with `--profile`).
    pub profile: Vec<OpProfile>,
}

/// Latency statistics.
#[derive(Debug, Serialize, Clone, Copy)]
pub struct Latency {
    /// Fastest run.
    pub min: f64,
    /// Median run.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Slowest run.
    pub max: f64,
}

/// One operator's share.
#[derive(Debug, Serialize, Clone)]
pub struct OpProfile {
    /// Operator index.
    pub index: usize,
    /// Operator name.
    pub op: String,
    /// Median time in milliseconds.
    pub median_ms: f64,
    /// Share of the summed operator medians.
    pub share: f64,
}

/// Runs the command.
pub fn run(args: &BenchArgs) -> Result<()> {
    let report = bench(
        &args.model,
        args.threads,
        args.warmup,
        args.runs,
        args.profile,
        args.json,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Latency statistics of `samples` (milliseconds, any order).
pub fn latency(samples: &mut [f64]) -> Latency {
    samples.sort_by(f64::total_cmp);
    Latency {
        min: samples[0],
        median: percentile(samples, 0.5),
        p90: percentile(samples, 0.9),
        max: samples[samples.len() - 1],
    }
}

/// Peak resident set size of this process (Linux), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Benchmarks a model on seeded random inputs.
pub fn bench(
    model: &Path,
    threads: Option<usize>,
    warmup: usize,
    runs: usize,
    profile: bool,
    quiet: bool,
) -> Result<BenchReport> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let mut interp = crate::source::interpreter(model)?;
    if let Some(t) = threads {
        interp.set_num_threads(t);
    }
    interp
        .allocate_tensors()
        .with_context(|| format!("cannot prepare {}", model.display()))?;
    for (k, d) in interp.input_details().iter().enumerate() {
        let dtype = npy_dtype(d.dtype)
            .with_context(|| format!("input '{}' has dtype {}", d.name, d.dtype))?;
        let data = random_array(dtype, &d.shape, 0x5eed + k as u64)?;
        interp.set_tensor_bytes(d.index, &data.data)?;
    }
    for _ in 0..warmup {
        interp.invoke()?;
    }
    let pb = progress::bar(runs as u64, "bench", quiet);
    let mut times = Vec::with_capacity(runs);
    let mut per_op: BTreeMap<usize, (String, Vec<f64>)> = BTreeMap::new();
    for _ in 0..runs {
        let start = Instant::now();
        if profile {
            for t in interp.invoke_profiled()? {
                per_op
                    .entry(t.op_index)
                    .or_insert_with(|| (t.op.clone(), Vec::new()))
                    .1
                    .push(t.duration.as_secs_f64() * 1e3);
            }
        } else {
            interp.invoke()?;
        }
        times.push(start.elapsed().as_secs_f64() * 1e3);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut profile_rows: Vec<OpProfile> = per_op
        .into_iter()
        .map(|(index, (op, mut t))| OpProfile {
            index,
            op,
            median_ms: latency(&mut t).median,
            share: 0.0,
        })
        .collect();
    let total: f64 = profile_rows.iter().map(|p| p.median_ms).sum();
    for p in &mut profile_rows {
        p.share = if total > 0.0 {
            p.median_ms / total
        } else {
            0.0
        };
    }
    profile_rows.sort_by(|a, b| b.median_ms.total_cmp(&a.median_ms));
    Ok(BenchReport {
        model: model.display().to_string(),
        threads: interp.num_threads(),
        runs,
        latency_ms: latency(&mut times),
        arena_bytes: interp.arena_bytes(),
        persistent_bytes: interp.persistent_bytes() + interp.folded_bytes(),
        peak_rss_bytes: peak_rss_bytes(),
        profile: profile_rows,
    })
}

fn render(r: &BenchReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let l = r.latency_ms;
    let _ = writeln!(
        out,
        "{} ({} runs, {} thread(s))",
        r.model, r.runs, r.threads
    );
    let _ = writeln!(
        out,
        "latency ms: min {:.3}  median {:.3}  p90 {:.3}  max {:.3}",
        l.min, l.median, l.p90, l.max
    );
    let _ = write!(
        out,
        "arena {} bytes, packed/folded weights {} bytes",
        thousands(r.arena_bytes),
        thousands(r.persistent_bytes)
    );
    if let Some(rss) = r.peak_rss_bytes {
        let _ = write!(out, ", peak RSS {:.1} MiB", rss as f64 / (1024.0 * 1024.0));
    }
    out.push('\n');
    if !r.profile.is_empty() {
        let mut t = Table::new(["#", "op", "median ms", "share"]);
        for p in &r.profile {
            t.row([
                p.index.to_string(),
                p.op.clone(),
                format!("{:.4}", p.median_ms),
                format!("{:.1}%", 100.0 * p.share),
            ]);
        }
        out.push_str(&t.render(2));
    }
    out
}
