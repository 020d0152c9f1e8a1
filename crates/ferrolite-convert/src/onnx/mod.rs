//! ONNX models (`.onnx`) to ferrolite IR, without ONNX Runtime.
//!
//! [`decode`] reads the `ModelProto` (bindings generated from ferrolite's `proto/onnx/onnx.proto`),
//! [`convert_model`] checks the default-domain opset (7 to 28), decodes every initializer
//! (`raw_data` or typed fields; external data is refused with [`OnnxError::ExternalData`]),
//! scans the graph for ops without a lowering — failing once with [`OnnxError::Unsupported`],
//! the GraphDef importer's report of every unsupported op type with counts and node names —
//! and lowers each node ([`lower`]). ONNX's NCHW layout is kept at the model's inputs and
//! outputs (unless [`OnnxOptions::nhwc_input`]); the NHWC kernels inside are wrapped in
//! transposes that [`crate::passes::transpose`] cancels, before the converter's usual passes
//! fold BatchNormalization into convolutions and fuse activations.
//!
//! ```no_run
//! use ferrolite_convert::onnx::{convert_file, OnnxOptions};
//! let conv = convert_file("model.onnx", &OnnxOptions::default())?;
//! print!("{}", conv.report);
//! ferrolite_model::write_file(&conv.model, "model.tflite")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod lower;
pub mod tensor;

pub use error::{OnnxError, Result};

use crate::graphdef::UnsupportedOps;
use crate::passes;
use crate::prost::onnx::type_proto::Value as TypeValue;
use crate::prost::onnx::{tensor_shape_proto::dimension::Value as Dim, ModelProto, ValueInfoProto};
use crate::report::{EventKind, Report};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{Model, Signature};
use lower::{numel, Lowerer, Val, SUPPORTED_OPS};
use std::path::Path;
use std::rc::Rc;

/// Lowest default-domain opset the importer accepts.
pub const MIN_OPSET: i64 = 7;
/// Highest default-domain opset the importer accepts.
pub const MAX_OPSET: i64 = 28;

/// Conversion options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    /// Make rank-4 float inputs NHWC (TFLite's image layout) instead of the model's NCHW; the
    /// outputs keep the model's layout.
    pub nhwc_input: bool,
    /// Fix the first dimension of every input (default: symbolic dims stay dynamic).
    pub batch_size: Option<u32>,
}

/// A converted model and the report of what the conversion did.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The model.
    pub model: Model,
    /// What was folded, fused and dropped.
    pub report: Report,
}

/// Decodes a binary ONNX `ModelProto`; `name` is used in errors.
pub fn decode(bytes: &[u8], name: &str) -> Result<ModelProto> {
    let err = |message: String| OnnxError::Decode {
        file: name.to_string(),
        message,
    };
    if bytes.is_empty() {
        return Err(err("the file is empty".into()));
    }
    let m = <ModelProto as ::prost::Message>::decode(bytes).map_err(|e| err(e.to_string()))?;
    let Some(g) = m.graph.as_ref() else {
        return Err(err("the model has no graph".into()));
    };
    if m.ir_version <= 0 {
        return Err(err(format!("ir_version {} is not valid", m.ir_version)));
    }
    if g.node.is_empty() {
        return Err(err("the graph has no nodes".into()));
    }
    if let Some(n) = g.node.iter().find(|n| n.op_type.is_empty()) {
        return Err(err(format!("node `{}` has no op type", n.name)));
    }
    Ok(m)
}

/// Converts an `.onnx` file.
pub fn convert_file(path: impl AsRef<Path>, options: &OnnxOptions) -> Result<Conversion> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    convert_bytes(&bytes, &path.display().to_string(), options)
}

/// Converts a serialized model held in memory; `name` is used in errors and the report.
pub fn convert_bytes(bytes: &[u8], name: &str, options: &OnnxOptions) -> Result<Conversion> {
    convert_model(&decode(bytes, name)?, name, options)
}

fn is_default_domain(d: &str) -> bool {
    d.is_empty() || d == "ai.onnx"
}

/// The default-domain opset the model imports.
pub fn opset(model: &ModelProto) -> Result<i64> {
    let v = model
        .opset_import
        .iter()
        .find(|o| is_default_domain(&o.domain))
        .map_or(0, |o| o.version);
    if !(MIN_OPSET..=MAX_OPSET).contains(&v) {
        return Err(OnnxError::Opset {
            version: v,
            min: MIN_OPSET,
            max: MAX_OPSET,
        });
    }
    Ok(v)
}

/// Every node whose op the importer cannot lower, grouped by op type (`domain.Op` outside the
/// default domain).
pub fn scan_unsupported(model: &ModelProto) -> UnsupportedOps {
    let Some(g) = model.graph.as_ref() else {
        return UnsupportedOps::default();
    };
    let names: Vec<(String, String)> = g
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            !is_default_domain(&n.domain) || !SUPPORTED_OPS.contains(&n.op_type.as_str())
        })
        .map(|(i, n)| {
            let op = if is_default_domain(&n.domain) {
                n.op_type.clone()
            } else {
                format!("{}.{}", n.domain, n.op_type)
            };
            let name = match (n.name.is_empty(), n.output.first()) {
                (false, _) => n.name.clone(),
                (true, Some(o)) => o.clone(),
                (true, None) => format!("#{i}"),
            };
            (op, name)
        })
        .collect();
    UnsupportedOps::from_nodes(names.iter().map(|(o, n)| (o.as_str(), n.as_str())))
}

/// The element type and shape (`-1` = unknown) of a graph input.
fn input_shape(v: &ValueInfoProto, batch: Option<u32>) -> Result<Vec<i64>> {
    let bad = |message: String| OnnxError::BadInput {
        input: v.name.clone(),
        message,
    };
    let Some(TypeValue::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(bad("not a tensor".into()));
    };
    if t.elem_type != 1 {
        return Err(bad(format!(
            "element type {} is not supported (float32 inputs only)",
            tensor::type_name(t.elem_type)
        )));
    }
    let shape = t
        .shape
        .as_ref()
        .ok_or_else(|| bad("the shape is unknown".into()))?;
    let mut dims: Vec<i64> = shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Dim::DimValue(v)) if v > 0 => v.min(i64::from(i32::MAX)),
            _ => -1,
        })
        .collect();
    if let (Some(b), Some(d0)) = (batch, dims.first_mut()) {
        *d0 = i64::from(b);
    }
    if numel(&dims[1.min(dims.len())..]).is_none_or(|n| n > 1 << 31) {
        return Err(bad(format!(
            "only the first dimension may be dynamic, and the rest must hold < 2^31 \
             elements; found {dims:?}"
        )));
    }
    Ok(dims)
}

/// Converts a decoded model.
pub fn convert_model(model: &ModelProto, name: &str, options: &OnnxOptions) -> Result<Conversion> {
    let opset = opset(model)?;
    let g = model.graph.as_ref().ok_or_else(|| OnnxError::Decode {
        file: name.to_string(),
        message: "the model has no graph".into(),
    })?;
    let missing = scan_unsupported(model);
    if !missing.is_empty() {
        return Err(OnnxError::Unsupported(missing));
    }
    let mut report = Report {
        source: name.to_string(),
        format: format!(
            "ONNX model (IR {}, opset {opset}, producer `{}`)",
            model.ir_version,
            format!("{} {}", model.producer_name, model.producer_version).trim()
        ),
        layers: g.node.len(),
        ..Default::default()
    };
    let mut lw = Lowerer::new(opset);
    for init in &g.initializer {
        let c = tensor::decode(init)?;
        lw.bind(&init.name, Val::Const(Rc::new(c)));
    }
    let mut sig = Signature {
        key: "serving_default".into(),
        subgraph_index: 0,
        ..Default::default()
    };
    let inits: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    for v in g.input.iter().filter(|v| !inits.contains(v.name.as_str())) {
        let shape = input_shape(v, options.batch_size)?;
        let s: Vec<i32> = lower::sig(&shape);
        let val = if options.nhwc_input && shape.len() == 4 {
            let nhwc = [shape[0], shape[2], shape[3], shape[1]];
            let t = lw.b.activation(v.name.clone(), &lower::sig(&nhwc));
            lw.b.sg.inputs.push(t);
            let (x, shape) = lw.transpose(t, &nhwc, &[0, 3, 1, 2], &format!("{}/nchw", v.name));
            Val::Act { t: x, shape }
        } else {
            let t = lw.b.activation(v.name.clone(), &s);
            lw.b.sg.inputs.push(t);
            Val::Act { t, shape }
        };
        sig.inputs
            .push((v.name.clone(), *lw.b.sg.inputs.last().unwrap_or(&0)));
        lw.bind(&v.name, val);
    }
    for n in &g.node {
        lw.lower_node(n)?;
    }
    let mut out_names = Vec::new();
    for o in &g.output {
        let t = match lw.lookup(&o.name).cloned() {
            Some(Val::Act { t, .. }) => t,
            Some(Val::Const(c)) => lw.write_const(&o.name, &c, true),
            None => {
                return Err(OnnxError::Undefined {
                    node: "graph output".into(),
                    op: "-".into(),
                    value: o.name.clone(),
                })
            }
        };
        lw.b.sg.outputs.push(t);
        out_names.push(o.name.clone());
    }
    report.events.append(&mut lw.report.events);
    let mut sg = lw.b.sg;
    passes::transpose::optimize_transposes(&mut sg, &mut report);
    passes::optimize(&mut sg, &mut report);
    let transposes = sg
        .operators
        .iter()
        .filter(|o| crate::graph::is_op(o, B::Transpose))
        .count();
    if transposes > 0 {
        report.push(
            EventKind::Note,
            format!("{transposes} TRANSPOSE op(s) remain (NCHW ↔ NHWC at layout boundaries)"),
        );
    }
    for (k, (n, &t)) in out_names.iter().zip(&sg.outputs.clone()).enumerate() {
        if !sg.inputs.contains(&t) && sg.outputs[..k].iter().all(|&o| o != t) {
            sg.tensors[t].name = n.clone();
        }
        sig.outputs.push((n.clone(), t));
    }
    sig.inputs = sig
        .inputs
        .iter()
        .zip(&sg.inputs)
        .map(|((n, _), &t)| (n.clone(), t))
        .collect();
    let model = Model {
        version: 3,
        description: Some("ferrolite".into()),
        subgraphs: vec![sg],
        signatures: vec![sig],
        ..Default::default()
    };
    ferrolite_model::validate(&model)?;
    Ok(Conversion { model, report })
}
