//! `ferrolite inspect`: everything about a `.tflite` file on one screen (or as JSON).

use crate::table::{thousands, Table};
use anyhow::{Context, Result};
use ferrolite_model::{Model, Subgraph, Tensor};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `ferrolite inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The `.tflite` file to describe.
    pub model: PathBuf,
    /// Print JSON instead of tables (keys are documented in the README).
    #[arg(long)]
    pub json: bool,
    /// How many of the largest tensors to list.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// The whole report; its JSON form is the `--json` output.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Path as given.
    pub file: String,
    /// File size in bytes.
    pub file_bytes: usize,
    /// Schema version.
    pub version: u32,
    /// Model description.
    pub description: Option<String>,
    /// Metadata entries (name, size, text when printable).
    pub metadata: Vec<MetadataInfo>,
    /// Signatures.
    pub signatures: Vec<SignatureInfo>,
    /// Per-subgraph details.
    pub subgraphs: Vec<SubgraphInfo>,
    /// Size breakdown.
    pub size: SizeInfo,
}

/// One metadata entry.
#[derive(Debug, Serialize)]
pub struct MetadataInfo {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub bytes: usize,
    /// Contents when they are short printable text (e.g. `min_runtime_version`).
    pub text: Option<String>,
}

/// One signature.
#[derive(Debug, Serialize)]
pub struct SignatureInfo {
    /// Signature key.
    pub key: String,
    /// Subgraph index.
    pub subgraph: usize,
    /// Input name → tensor index.
    pub inputs: BTreeMap<String, usize>,
    /// Output name → tensor index.
    pub outputs: BTreeMap<String, usize>,
}

/// One subgraph.
#[derive(Debug, Serialize)]
pub struct SubgraphInfo {
    /// Index.
    pub index: usize,
    /// Name.
    pub name: Option<String>,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Inputs.
    pub inputs: Vec<TensorInfo>,
    /// Outputs.
    pub outputs: Vec<TensorInfo>,
    /// Operators in execution order.
    pub operators: Vec<OperatorInfo>,
    /// Operator name → count.
    pub op_histogram: BTreeMap<String, usize>,
}

/// A tensor as shown in input/output lists.
#[derive(Debug, Serialize)]
pub struct TensorInfo {
    /// Tensor index.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Static shape.
    pub shape: Vec<i32>,
    /// Shape signature (-1 = dynamic), equal to `shape` when the file records none.
    pub shape_signature: Vec<i32>,
    /// NumPy dtype name.
    pub dtype: String,
    /// Quantization, when the tensor is quantized.
    pub quantization: Option<QuantInfo>,
}

/// Quantization parameters summary.
#[derive(Debug, Serialize)]
pub struct QuantInfo {
    /// Scales (one, or one per channel).
    pub scales: Vec<f32>,
    /// Zero points.
    pub zero_points: Vec<i64>,
    /// Channel dimension (meaningful when per-channel).
    pub quantized_dimension: i32,
}

/// One operator row.
#[derive(Debug, Serialize)]
pub struct OperatorInfo {
    /// Position in execution order.
    pub index: usize,
    /// Operator name (`CONV_2D`, or the custom code).
    pub op: String,
    /// True for custom operators.
    pub custom: bool,
    /// Operator version.
    pub version: i32,
    /// Input tensor indices (-1 = omitted optional input).
    pub inputs: Vec<i64>,
    /// Output tensor indices.
    pub outputs: Vec<i64>,
}

/// Where the bytes go.
#[derive(Debug, Serialize)]
pub struct SizeInfo {
    /// Constant data bytes per dtype name.
    pub constant_bytes_by_dtype: BTreeMap<String, usize>,
    /// Total constant (weight) bytes, counting shared buffers once.
    pub weight_bytes: usize,
    /// Metadata bytes.
    pub metadata_bytes: usize,
    /// Everything else: flatbuffer tables, names, padding.
    pub other_bytes: usize,
    /// The largest constant tensors.
    pub largest_tensors: Vec<LargeTensor>,
}

/// A large constant tensor.
#[derive(Debug, Serialize)]
pub struct LargeTensor {
    /// Subgraph index.
    pub subgraph: usize,
    /// Tensor index.
    pub index: usize,
    /// Name.
    pub name: String,
    /// Shape.
    pub shape: Vec<i32>,
    /// dtype name.
    pub dtype: String,
    /// Bytes of data.
    pub bytes: usize,
    /// Quantization (per-channel weights show their channel count and scale range).
    pub quantization: Option<QuantInfo>,
}

/// Runs the command.
pub fn run(args: &InspectArgs) -> Result<()> {
    let report = build(&args.model, args.top)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// Reads a model and builds its report.
pub fn build(path: &Path, top: usize) -> Result<Report> {
    let file_bytes = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len() as usize;
    let model = ferrolite_model::read_file(path)
        .with_context(|| format!("cannot load {}", path.display()))?;
    Ok(report(&model, path.display().to_string(), file_bytes, top))
}

fn report(model: &Model, file: String, file_bytes: usize, top: usize) -> Report {
    let metadata: Vec<MetadataInfo> = model
        .metadata
        .iter()
        .map(|m| MetadataInfo {
            name: m.name.clone(),
            bytes: m.data.len(),
            text: printable(&m.data),
        })
        .collect();
    let signatures = model
        .signatures
        .iter()
        .map(|s| SignatureInfo {
            key: s.key.clone(),
            subgraph: s.subgraph_index,
            inputs: s.inputs.iter().cloned().collect(),
            outputs: s.outputs.iter().cloned().collect(),
        })
        .collect();
    let subgraphs = model
        .subgraphs
        .iter()
        .enumerate()
        .map(|(i, sg)| subgraph_info(i, sg))
        .collect();
    let size = size_info(model, file_bytes, &metadata, top);
    Report {
        file,
        file_bytes,
        version: model.version,
        description: model.description.clone(),
        metadata,
        signatures,
        subgraphs,
        size,
    }
}

fn printable(data: &[u8]) -> Option<String> {
    let trimmed = data.split(|&b| b == 0).next().unwrap_or_default();
    let text = std::str::from_utf8(trimmed).ok()?;
    let ok = !text.is_empty() && text.len() <= 64 && text.chars().all(|c| !c.is_control());
    ok.then(|| text.to_owned())
}

fn tensor_info(index: usize, t: &Tensor) -> TensorInfo {
    TensorInfo {
        index,
        name: t.name.clone(),
        shape: t.shape.clone(),
        shape_signature: t.shape_signature.clone().unwrap_or_else(|| t.shape.clone()),
        dtype: t.dtype.numpy_name().to_owned(),
        quantization: quant_info(t),
    }
}

fn quant_info(t: &Tensor) -> Option<QuantInfo> {
    t.quantization
        .as_ref()
        .filter(|q| !q.scale.is_empty())
        .map(|q| QuantInfo {
            scales: q.scale.clone(),
            zero_points: q.zero_point.clone(),
            quantized_dimension: q.quantized_dimension,
        })
}

fn subgraph_info(index: usize, sg: &Subgraph) -> SubgraphInfo {
    let mut op_histogram = BTreeMap::new();
    let operators = sg
        .operators
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let name = op.kind.name();
            *op_histogram.entry(name.clone()).or_insert(0) += 1;
            let raw = |l: &[Option<usize>]| l.iter().map(|o| o.map_or(-1, |x| x as i64)).collect();
            OperatorInfo {
                index: i,
                op: name,
                custom: matches!(op.kind, ferrolite_model::OpKind::Custom(_)),
                version: op.version,
                inputs: raw(&op.inputs),
                outputs: raw(&op.outputs),
            }
        })
        .collect();
    SubgraphInfo {
        index,
        name: sg.name.clone(),
        tensor_count: sg.tensors.len(),
        inputs: sg
            .inputs
            .iter()
            .map(|&i| tensor_info(i, &sg.tensors[i]))
            .collect(),
        outputs: sg
            .outputs
            .iter()
            .map(|&i| tensor_info(i, &sg.tensors[i]))
            .collect(),
        operators,
        op_histogram,
    }
}

fn size_info(model: &Model, file_bytes: usize, metadata: &[MetadataInfo], top: usize) -> SizeInfo {
    let mut by_dtype: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut weight_bytes = 0;
    let mut tensors = Vec::new();
    for (s, sg) in model.subgraphs.iter().enumerate() {
        for (i, t) in sg.tensors.iter().enumerate() {
            let Some(data) = &t.data else { continue };
            if !seen.insert((data.as_ptr() as usize, data.len())) {
                continue;
            }
            weight_bytes += data.len();
            *by_dtype
                .entry(t.dtype.tflite_name().to_owned())
                .or_insert(0) += data.len();
            tensors.push(LargeTensor {
                subgraph: s,
                index: i,
                name: t.name.clone(),
                shape: t.shape.clone(),
                dtype: t.dtype.tflite_name().to_owned(),
                bytes: data.len(),
                quantization: quant_info(t),
            });
        }
    }
    tensors.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.index.cmp(&b.index)));
    tensors.truncate(top);
    let metadata_bytes: usize = metadata.iter().map(|m| m.bytes).sum();
    SizeInfo {
        constant_bytes_by_dtype: by_dtype,
        weight_bytes,
        metadata_bytes,
        other_bytes: file_bytes.saturating_sub(weight_bytes + metadata_bytes),
        largest_tensors: tensors,
    }
}

fn quant_text(q: &Option<QuantInfo>) -> String {
    match q {
        None => "-".into(),
        Some(q) if q.scales.len() == 1 => {
            format!(
                "scale {:.6e} zp {}",
                q.scales[0],
                q.zero_points.first().copied().unwrap_or(0)
            )
        }
        Some(q) => {
            let lo = q.scales.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = q.scales.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            format!(
                "per-channel axis {}: {} scales in [{lo:.3e}, {hi:.3e}]",
                q.quantized_dimension,
                q.scales.len()
            )
        }
    }
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// Renders the report for people.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{}  ({} bytes)", r.file, thousands(r.file_bytes));
    let _ = writeln!(
        out,
        "schema version {}, {} subgraph(s), description: {}",
        r.version,
        r.subgraphs.len(),
        r.description.as_deref().unwrap_or("-")
    );
    if !r.metadata.is_empty() {
        let items: Vec<String> = r
            .metadata
            .iter()
            .map(|m| match &m.text {
                Some(t) => format!("{}={t}", m.name),
                None => format!("{} ({} bytes)", m.name, thousands(m.bytes)),
            })
            .collect();
        let _ = writeln!(out, "metadata: {}", items.join(", "));
    }
    if !r.signatures.is_empty() {
        let _ = writeln!(out, "\nSignatures");
        for s in &r.signatures {
            let fmt = |m: &BTreeMap<String, usize>| {
                m.iter()
                    .map(|(k, v)| format!("{k}→{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                out,
                "  {} (subgraph {}): inputs [{}] outputs [{}]",
                s.key,
                s.subgraph,
                fmt(&s.inputs),
                fmt(&s.outputs)
            );
        }
    }
    for sg in &r.subgraphs {
        let title = match &sg.name {
            Some(n) => format!("subgraph {} \"{n}\"", sg.index),
            None => format!("subgraph {}", sg.index),
        };
        let _ = writeln!(
            out,
            "\n== {title}: {} tensors, {} operators",
            sg.tensor_count,
            sg.operators.len()
        );
        for (label, list) in [("Inputs", &sg.inputs), ("Outputs", &sg.outputs)] {
            let _ = writeln!(out, "{label}");
            let mut t = Table::new(["#", "name", "shape", "signature", "dtype", "quantization"]);
            for ti in list.iter() {
                t.row([
                    ti.index.to_string(),
                    ti.name.clone(),
                    format!("{:?}", ti.shape),
                    format!("{:?}", ti.shape_signature),
                    ti.dtype.clone(),
                    quant_text(&ti.quantization),
                ]);
            }
            out.push_str(&t.render(2));
        }
        let _ = writeln!(out, "Operators");
        let mut t = Table::new(["#", "op", "v", "inputs", "", "outputs"]);
        for op in &sg.operators {
            let list = |l: &[i64]| l.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let name = if op.custom {
                format!("{} (custom)", op.op)
            } else {
                op.op.clone()
            };
            t.row([
                op.index.to_string(),
                name,
                op.version.to_string(),
                list(&op.inputs),
                "→".into(),
                list(&op.outputs),
            ]);
        }
        out.push_str(&t.render(2));
        let _ = writeln!(out, "Op histogram");
        let mut hist: Vec<_> = sg.op_histogram.iter().collect();
        hist.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut t = Table::new(["op", "count"]);
        for (op, n) in hist {
            t.row([op.clone(), n.to_string()]);
        }
        out.push_str(&t.render(2));
    }
    let s = &r.size;
    let _ = writeln!(out, "\nSize");
    let mut t = Table::new(["part", "bytes", "share"]);
    t.row([
        "weights (constant data)".into(),
        thousands(s.weight_bytes),
        percent(s.weight_bytes, r.file_bytes),
    ]);
    for (dtype, b) in &s.constant_bytes_by_dtype {
        t.row([
            format!("  {dtype}"),
            thousands(*b),
            percent(*b, r.file_bytes),
        ]);
    }
    t.row([
        "metadata".into(),
        thousands(s.metadata_bytes),
        percent(s.metadata_bytes, r.file_bytes),
    ]);
    t.row([
        "structure (tables, names, padding)".into(),
        thousands(s.other_bytes),
        percent(s.other_bytes, r.file_bytes),
    ]);
    out.push_str(&t.render(2));
    if !s.largest_tensors.is_empty() {
        let _ = writeln!(out, "Largest tensors");
        let mut t = Table::new([
            "subgraph",
            "#",
            "name",
            "shape",
            "dtype",
            "bytes",
            "quantization",
        ]);
        for lt in &s.largest_tensors {
            t.row([
                lt.subgraph.to_string(),
                lt.index.to_string(),
                lt.name.clone(),
                format!("{:?}", lt.shape),
                lt.dtype.clone(),
                thousands(lt.bytes),
                quant_text(&lt.quantization),
            ]);
        }
        out.push_str(&t.render(2));
    }
    out
}
