//! `ferrolite run`: run a `.tflite` model once on `.npy`/`.npz` inputs (or seeded random ones),
//! print what came out and optionally save every output as `.npy`.
//!
//! Inputs are never converted: an array's dtype must equal the input's, and its shape must equal
//! the input's shape or fit its shape signature (dynamic dimensions, typically the batch), in
//! which case the input is resized before tensors are allocated.

use anyhow::{bail, Context, Result};
use ferrolite_model::DType;
use ferrolite_npy::{Array, NpyDType};
use ferrolite_runtime::{Interpreter, TensorDetails};
use half::f16;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How many leading values of each output the text report shows.
const SHOWN_VALUES: usize = 8;

/// Arguments of `ferrolite run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The `.tflite` model to run.
    pub model: PathBuf,
    /// An input array (`.npy`); give one per model input, in the model's input order.
    #[arg(long = "input", value_name = "X.npy", conflicts_with = "inputs")]
    pub input: Vec<PathBuf>,
    /// All inputs from one `.npz` whose keys are the input tensor names (or the
    /// `serving_default` signature's input names).
    #[arg(long, value_name = "X.npz")]
    pub inputs: Option<PathBuf>,
    /// Write output i to DIR/i.npy (the directory is created if missing).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Number of threads kernels may use (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Seed of the random inputs used when no inputs are given (floats uniform in [0, 1),
    /// int8/uint8 over their full range, wider integers in [0, 10), bools 0/1).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` report.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// Model path as given.
    pub model: String,
    /// Inputs in model order.
    pub inputs: Vec<InputReport>,
    /// Outputs in model order.
    pub outputs: Vec<OutputReport>,
    /// Wall time of the single `invoke`, in milliseconds.
    pub invoke_ms: f64,
}

/// One input as fed.
#[derive(Debug, Serialize)]
pub struct InputReport {
    /// Tensor name.
    pub name: String,
    /// Shape fed (after any resize).
    pub shape: Vec<usize>,
    /// NumPy dtype name.
    pub dtype: String,
    /// Where the values came from: a `.npy` path, `archive.npz:key`, or `random(seed=N)`.
    pub source: String,
}

/// One output as produced.
#[derive(Debug, Serialize)]
pub struct OutputReport {
    /// Tensor name.
    pub name: String,
    /// Tensor index in the main subgraph.
    pub index: usize,
    /// Shape after invoke.
    pub shape: Vec<usize>,
    /// NumPy dtype name.
    pub dtype: String,
    /// The `.npy` written, with `--output-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// The `.npy` dtype of a model dtype, if one exists.
pub(crate) fn npy_dtype(d: DType) -> Option<NpyDType> {
    Some(match d {
        DType::F32 => NpyDType::F32,
        DType::F16 => NpyDType::F16,
        DType::F64 => NpyDType::F64,
        DType::I8 => NpyDType::I8,
        DType::U8 => NpyDType::U8,
        DType::I16 => NpyDType::I16,
        DType::U16 => NpyDType::U16,
        DType::I32 => NpyDType::I32,
        DType::U32 => NpyDType::U32,
        DType::I64 => NpyDType::I64,
        DType::U64 => NpyDType::U64,
        DType::Bool => NpyDType::Bool,
        _ => return None,
    })
}

fn describe(i: usize, d: &TensorDetails) -> String {
    format!("input #{i} '{}'", d.name)
}

/// Runs the command.
pub fn run(args: &RunArgs) -> Result<()> {
    let mut interp = crate::source::interpreter(&args.model)?;
    if let Some(n) = args.threads {
        interp.set_num_threads(n as usize);
    }
    let details = interp.input_details();
    let fed = gather_inputs(args, &interp, &details)?;

    for (i, (d, (array, source))) in details.iter().zip(&fed).enumerate() {
        check_input(&mut interp, i, d, array, source)?;
    }
    interp
        .allocate_tensors()
        .with_context(|| format!("cannot prepare {}", args.model.display()))?;
    for (i, (d, (array, _))) in details.iter().zip(&fed).enumerate() {
        interp
            .set_tensor_bytes(d.index, &array.data)
            .with_context(|| format!("cannot set {}", describe(i, d)))?;
    }
    let start = Instant::now();
    interp
        .invoke()
        .with_context(|| format!("{} failed", args.model.display()))?;
    let invoke_ms = start.elapsed().as_secs_f64() * 1e3;

    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut outputs = Vec::new();
    let mut arrays = Vec::new();
    for (pos, d) in interp.output_details().iter().enumerate() {
        let shape = interp.tensor_shape(d.index)?.to_vec();
        let array = match npy_dtype(d.dtype) {
            Some(dt) => Some(
                Array::new(dt, shape.clone(), interp.tensor_bytes(d.index)?.to_vec())
                    .with_context(|| format!("output #{pos} '{}' has inconsistent data", d.name))?,
            ),
            None => None,
        };
        let file = match (&args.output_dir, &array) {
            (Some(dir), Some(a)) => {
                let path = dir.join(format!("{pos}.npy"));
                ferrolite_npy::write_npy(&path, a)?;
                Some(path.display().to_string())
            }
            (Some(_), None) => bail!(
                "output #{pos} '{}' has dtype {}, which cannot be saved as .npy",
                d.name,
                d.dtype.numpy_name()
            ),
            _ => None,
        };
        outputs.push(OutputReport {
            name: d.name.clone(),
            index: d.index,
            shape,
            dtype: d.dtype.numpy_name().to_string(),
            file,
        });
        arrays.push(array);
    }

    let report = RunReport {
        model: args.model.display().to_string(),
        inputs: details
            .iter()
            .zip(&fed)
            .map(|(d, (a, source))| InputReport {
                name: d.name.clone(),
                shape: a.shape.clone(),
                dtype: a.dtype.name().to_string(),
                source: source.clone(),
            })
            .collect(),
        outputs,
        invoke_ms,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report, &arrays, interp.num_threads());
    }
    Ok(())
}

/// Collects one `(array, source)` per model input, in model order.
fn gather_inputs(
    args: &RunArgs,
    interp: &Interpreter,
    details: &[TensorDetails],
) -> Result<Vec<(Array, String)>> {
    let names = || {
        details
            .iter()
            .map(|d| format!("'{}'", d.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !args.input.is_empty() {
        if args.input.len() != details.len() {
            bail!(
                "the model has {} input(s) ({}), but {} --input file(s) were given",
                details.len(),
                names(),
                args.input.len()
            );
        }
        return args
            .input
            .iter()
            .map(|p| {
                if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz")) {
                    bail!("{} is an .npz archive; pass it with --inputs", p.display());
                }
                let a = ferrolite_npy::read_npy(p).context("cannot read input")?;
                Ok((a, p.display().to_string()))
            })
            .collect();
    }
    if let Some(npz) = &args.inputs {
        let entries = ferrolite_npy::read_npz(npz).context("cannot read inputs")?;
        return match_npz_keys(interp, details, entries, npz);
    }
    details
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let dtype = npy_dtype(d.dtype).with_context(|| {
                format!(
                    "{} has dtype {}, for which ferrolite run cannot make inputs",
                    describe(i, d),
                    d.dtype.numpy_name()
                )
            })?;
            let seed = args.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            Ok((
                random_array(dtype, &d.shape, seed)?,
                format!("random(seed={})", args.seed),
            ))
        })
        .collect()
}

/// Orders `.npz` entries by model input, by tensor name or signature input name.
fn match_npz_keys(
    interp: &Interpreter,
    details: &[TensorDetails],
    entries: Vec<(String, Array)>,
    npz: &Path,
) -> Result<Vec<(Array, String)>> {
    let model = interp.model();
    let signature = model
        .signatures
        .iter()
        .filter(|s| s.subgraph_index == 0)
        .min_by_key(|s| s.key != "serving_default");
    let position = |key: &str| -> Option<usize> {
        details.iter().position(|d| d.name == key).or_else(|| {
            let (_, t) = signature?.inputs.iter().find(|(n, _)| n == key)?;
            details.iter().position(|d| d.index == *t)
        })
    };
    let mut slots: Vec<Option<(Array, String)>> = details.iter().map(|_| None).collect();
    let mut problems = Vec::new();
    for (key, array) in entries {
        match position(&key) {
            Some(p) if slots[p].is_none() => {
                slots[p] = Some((array, format!("{}:{key}", npz.display())));
            }
            Some(p) => problems.push(format!("key '{key}' repeats input #{p}")),
            None => problems.push(format!("unknown key '{key}'")),
        }
    }
    for (i, (slot, d)) in slots.iter().zip(details).enumerate() {
        if slot.is_none() {
            problems.push(format!("no key for {}", describe(i, d)));
        }
    }
    if !problems.is_empty() {
        let expected: Vec<String> = details.iter().map(|d| format!("'{}'", d.name)).collect();
        let mut msg = format!(
            "{}: the keys must be the model's input names [{}]",
            npz.display(),
            expected.join(", ")
        );
        if let Some(sig) = signature {
            let names: Vec<String> = sig.inputs.iter().map(|(n, _)| format!("'{n}'")).collect();
            msg.push_str(&format!(
                " or signature '{}' input names [{}]",
                sig.key,
                names.join(", ")
            ));
        }
        msg.push_str(&format!(": {}", problems.join("; ")));
        bail!(msg);
    }
    Ok(slots.into_iter().flatten().collect())
}

/// Checks dtype and shape of a fed array; resizes dynamic inputs.
fn check_input(
    interp: &mut Interpreter,
    i: usize,
    d: &TensorDetails,
    array: &Array,
    source: &str,
) -> Result<()> {
    let expected = npy_dtype(d.dtype);
    if expected != Some(array.dtype) {
        bail!(
            "{}: expected dtype {}, got {} from {source} (ferrolite run does not convert dtypes)",
            describe(i, d),
            d.dtype.numpy_name(),
            array.dtype.name()
        );
    }
    if array.shape == d.shape {
        return Ok(());
    }
    let fits = array.shape.len() == d.shape_signature.len()
        && d.shape_signature
            .iter()
            .zip(&array.shape)
            .all(|(&s, &g)| s == -1 || usize::try_from(s) == Ok(g));
    if !fits {
        bail!(
            "{}: expected shape {:?} (signature {:?}, -1 = any size), got {:?} from {source}",
            describe(i, d),
            d.shape,
            d.shape_signature,
            array.shape
        );
    }
    interp
        .resize_input_tensor(d.index, &array.shape)
        .with_context(|| format!("cannot resize {}", describe(i, d)))
}

/// SplitMix64: small, fast, good enough for test inputs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Deterministic pseudo-random values of `dtype` and `shape`.
pub(crate) fn random_array(dtype: NpyDType, shape: &[usize], seed: u64) -> Result<Array> {
    let n = ferrolite_npy::element_count(shape).context("input shape overflows")?;
    let mut rng = SplitMix(seed);
    let mut r = || rng.next();
    let array = match dtype {
        NpyDType::F32 => {
            let v: Vec<f32> = (0..n)
                .map(|_| (r() >> 40) as f32 / (1u64 << 24) as f32)
                .collect();
            Array::from_f32(shape, &v)
        }
        NpyDType::F64 => {
            let v: Vec<f64> = (0..n)
                .map(|_| (r() >> 11) as f64 / (1u64 << 53) as f64)
                .collect();
            Array::from_f64(shape, &v)
        }
        NpyDType::F16 => {
            // k / 2048 is exact in float16, so values stay below 1.
            let v: Vec<f16> = (0..n)
                .map(|_| f16::from_f32((r() >> 53) as f32 / 2048.0))
                .collect();
            Array::from_f16(shape, &v)
        }
        NpyDType::I8 => Array::from_i8(shape, &(0..n).map(|_| r() as i8).collect::<Vec<_>>()),
        NpyDType::U8 => Array::from_u8(shape, &(0..n).map(|_| r() as u8).collect::<Vec<_>>()),
        NpyDType::Bool => {
            Array::from_bool(shape, &(0..n).map(|_| r() & 1 == 1).collect::<Vec<_>>())
        }
        NpyDType::I16 => small_ints::<i16>(shape, n, &mut r),
        NpyDType::U16 => small_ints::<u16>(shape, n, &mut r),
        NpyDType::I32 => small_ints::<i32>(shape, n, &mut r),
        NpyDType::U32 => small_ints::<u32>(shape, n, &mut r),
        NpyDType::I64 => small_ints::<i64>(shape, n, &mut r),
        NpyDType::U64 => small_ints::<u64>(shape, n, &mut r),
    };
    Ok(array?)
}

/// Integers in [0, 10) (indices and counts are common integer inputs).
fn small_ints<T: ferrolite_npy::Element + From<u8>>(
    shape: &[usize],
    n: usize,
    r: &mut impl FnMut() -> u64,
) -> ferrolite_npy::Result<Array> {
    let v: Vec<T> = (0..n).map(|_| T::from((r() % 10) as u8)).collect();
    Array::from_values(shape, &v)
}

/// Picks plain or exponent notation (shortest round-trip digits either way).
fn float_text(v: f64, plain: String, exp: String) -> String {
    if v != 0.0 && v.is_finite() && !(1e-4..1e7).contains(&v.abs()) {
        exp
    } else {
        plain
    }
}

/// The first few values of an output, formatted for the terminal.
fn leading_values(a: &Array) -> String {
    let n = a.len().min(SHOWN_VALUES);
    let head = Array {
        dtype: a.dtype,
        shape: vec![n],
        data: a.data[..n * a.dtype.item_size()].to_vec(),
    };
    let items: Vec<String> = match a.dtype {
        NpyDType::F32 | NpyDType::F16 => head
            .to_f32_vec()
            .iter()
            .map(|&v| float_text(f64::from(v), v.to_string(), format!("{v:e}")))
            .collect(),
        NpyDType::F64 => head
            .to_f64_vec()
            .iter()
            .map(|&v| float_text(v, v.to_string(), format!("{v:e}")))
            .collect(),
        NpyDType::U64 => head
            .values::<u64>()
            .unwrap_or_default()
            .iter()
            .map(|v| v.to_string())
            .collect(),
        NpyDType::Bool => head
            .to_i64_vec()
            .iter()
            .map(|&v| (if v != 0 { "true" } else { "false" }).to_string())
            .collect(),
        _ => head.to_i64_vec().iter().map(|v| v.to_string()).collect(),
    };
    let more = if a.len() > n { ", ..." } else { "" };
    format!("[{}{more}]", items.join(", "))
}

fn print_text(report: &RunReport, arrays: &[Option<Array>], threads: usize) {
    println!("model {}", report.model);
    for (i, inp) in report.inputs.iter().enumerate() {
        println!(
            "input  #{i} {}  {} {:?}  from {}",
            inp.name, inp.dtype, inp.shape, inp.source
        );
    }
    for (i, (out, array)) in report.outputs.iter().zip(arrays).enumerate() {
        let values = array
            .as_ref()
            .map_or_else(|| "(not representable as .npy)".to_string(), leading_values);
        println!(
            "output #{i} {}  {} {:?}  {values}",
            out.name, out.dtype, out.shape
        );
        if let Some(f) = &out.file {
            println!("          -> {f}");
        }
    }
    println!("invoke {:.3} ms ({threads} thread(s))", report.invoke_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_inputs_are_deterministic_and_in_range() {
        let a = random_array(NpyDType::F32, &[4, 100], 7).unwrap();
        assert_eq!(a, random_array(NpyDType::F32, &[4, 100], 7).unwrap());
        assert_ne!(a, random_array(NpyDType::F32, &[4, 100], 8).unwrap());
        assert!(a.to_f32_vec().iter().all(|v| (0.0..1.0).contains(v)));
        let h = random_array(NpyDType::F16, &[1000], 1).unwrap();
        assert!(h.to_f32_vec().iter().all(|v| (0.0..1.0).contains(v)));
        let q = random_array(NpyDType::I8, &[1000], 1).unwrap().to_i64_vec();
        assert!(q.iter().any(|&v| v < -100) && q.iter().any(|&v| v > 100));
        let k = random_array(NpyDType::I32, &[1000], 1)
            .unwrap()
            .to_i64_vec();
        assert!(k.iter().all(|v| (0..10).contains(v)));
        assert_eq!(random_array(NpyDType::Bool, &[], 3).unwrap().len(), 1);
    }

    #[test]
    fn leading_values_are_truncated() {
        let a = Array::from_i8(&[10], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
        assert_eq!(leading_values(&a), "[1, 2, 3, 4, 5, 6, 7, 8, ...]");
        let b = Array::from_f32(&[2], &[0.5, -1.0]).unwrap();
        assert_eq!(leading_values(&b), "[0.5, -1]");
        let c = Array::from_f32(&[3], &[1.25e-9, 3e9, f32::NEG_INFINITY]).unwrap();
        assert_eq!(leading_values(&c), "[1.25e-9, 3e9, -inf]");
    }
}
