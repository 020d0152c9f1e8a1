//! TensorFlow frozen graphs (`GraphDef` `.pb`) to ferrolite IR, without TensorFlow.
//!
//! Mirrors TF's `from_frozen_graph(graph_def_file, input_arrays, output_arrays, input_shapes)`:
//! the caller names the input placeholders (optionally with shapes, `-1` for a dynamic dim) and
//! the output nodes; the importer takes the part of the graph between them, folds constant
//! subexpressions (shape arithmetic, casts, splats), lowers each node to TFLite builtins
//! ([`lower`]) and runs the converter's graph passes (BatchNorm and bias folding, activation
//! fusion, dead-code removal) before assembling the model.
//!
//! Before lowering anything it scans the graph: if any op the outputs depend on has no lowering,
//! the conversion fails with [`GraphDefError::Unsupported`] listing *every* such op type with its
//! count and node names. With [`GraphDefOptions::allow_custom_ops`] those nodes become custom
//! operators named after the TF op instead, and the report says the model will not run in a
//! plain TFLite runtime.
//!
//! SavedModel directories are frozen first ([`saved_model`]: signature selection, function
//! inlining via [`inline`], variables read from the tensor bundle by [`bundle`]) and then go
//! through the same path.
//!
//! ```no_run
//! use ferrolite_convert::graphdef::{convert_file, GraphDefOptions};
//! let opts = GraphDefOptions {
//!     inputs: vec![("image".into(), Some(vec![1, 224, 224, 3]))],
//!     outputs: vec!["probs".into()],
//!     ..Default::default()
//! };
//! let conv = convert_file("frozen.pb", &opts)?;
//! ferrolite_model::write_file(&conv.model, "model.tflite")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bundle;
pub mod error;
pub mod fold;
pub mod graph;
pub mod inline;
pub mod lower;
pub mod saved_model;
pub mod shape;
pub mod tensor;

pub use error::{GraphDefError, Result, UnsupportedOp, UnsupportedOps};

use crate::passes;
use crate::prost::tensorflow::GraphDef;
use crate::report::{EventKind, Report};
use ferrolite_model::{Model, Signature};
use graph::{Attrs, GraphIndex, Port};
use lower::{Lowerer, Val, SUPPORTED_OPS};
use std::path::Path;
use tensor::{dtype_of, shape_of, tf_type_name};

/// What to convert: the `from_frozen_graph` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphDefOptions {
    /// Input tensors (`name` or `name:k`), each with an optional shape overriding the
    /// placeholder's (`-1` = dynamic). Empty: every placeholder the outputs depend on.
    pub inputs: Vec<(String, Option<Vec<i64>>)>,
    /// Output tensors (`name` or `name:k`). Empty: every node no other node reads.
    pub outputs: Vec<String>,
    /// Emit unsupported ops as custom operators instead of failing.
    pub allow_custom_ops: bool,
}

/// A converted graph and the report of what the conversion did.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The model.
    pub model: Model,
    /// What was folded, fused and dropped.
    pub report: Report,
    /// The ops emitted as custom operators (empty unless `allow_custom_ops` was needed).
    pub custom_ops: UnsupportedOps,
}

/// Decodes a binary `GraphDef`.
pub fn decode(bytes: &[u8], name: &str) -> Result<GraphDef> {
    let err = |message: String| GraphDefError::Decode {
        file: name.to_string(),
        message,
    };
    if bytes.is_empty() {
        return Err(err("the file is empty".into()));
    }
    let g = <GraphDef as ::prost::Message>::decode(bytes).map_err(|e| err(e.to_string()))?;
    if g.node.is_empty() {
        return Err(err("the graph has no nodes".into()));
    }
    if let Some(n) = g.node.iter().find(|n| n.name.is_empty() || n.op.is_empty()) {
        return Err(err(format!(
            "a node without a name or op type (`{}` / `{}`)",
            n.name, n.op
        )));
    }
    Ok(g)
}

/// Converts a frozen `.pb` file.
pub fn convert_file(path: impl AsRef<Path>, options: &GraphDefOptions) -> Result<Conversion> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| GraphDefError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    convert_bytes(&bytes, &path.display().to_string(), options)
}

/// Converts a serialized `GraphDef` held in memory; `name` is used in errors and the report.
pub fn convert_bytes(bytes: &[u8], name: &str, options: &GraphDefOptions) -> Result<Conversion> {
    convert_graph(&decode(bytes, name)?, name, options)
}

/// The resolved endpoints of a conversion.
struct Endpoints {
    inputs: Vec<(Port, String, Option<Vec<i64>>)>,
    outputs: Vec<(Port, String)>,
}

fn endpoints(idx: &GraphIndex<'_>, o: &GraphDefOptions, report: &mut Report) -> Result<Endpoints> {
    let mut outputs = Vec::new();
    for n in &o.outputs {
        outputs.push((idx.resolve(n, "output")?, n.clone()));
    }
    if outputs.is_empty() {
        let mut read = vec![false; idx.nodes.len()];
        for i in 0..idx.nodes.len() {
            for p in idx.data_inputs(i)? {
                read[p.node] = true;
            }
        }
        for (i, n) in idx.nodes.iter().enumerate() {
            if !read[i] && !matches!(n.op.as_str(), "NoOp" | "Const" | "Placeholder") {
                outputs.push((Port { node: i, output: 0 }, n.name.clone()));
            }
        }
        let names: Vec<&str> = outputs.iter().map(|(_, n)| n.as_str()).collect();
        report.push(
            EventKind::Note,
            format!("outputs not given; using {}", names.join(", ")),
        );
    }
    let mut inputs = Vec::new();
    for (n, shape) in &o.inputs {
        inputs.push((idx.resolve(n, "input")?, n.clone(), shape.clone()));
    }
    if inputs.is_empty() {
        let roots: Vec<usize> = outputs.iter().map(|(p, _)| p.node).collect();
        for i in idx.reachable(&roots, &[])? {
            if idx.nodes[i].op == "Placeholder" {
                let name = idx.nodes[i].name.clone();
                inputs.push((Port { node: i, output: 0 }, name, None));
            }
        }
        let names: Vec<&str> = inputs.iter().map(|(_, n, _)| n.as_str()).collect();
        report.push(
            EventKind::Note,
            format!("inputs not given; using {}", names.join(", ")),
        );
    }
    Ok(Endpoints { inputs, outputs })
}

/// Every op type the outputs depend on that the importer cannot lower, with its nodes.
pub fn scan_unsupported(graph: &GraphDef, options: &GraphDefOptions) -> Result<UnsupportedOps> {
    let idx = GraphIndex::new(graph);
    let ends = endpoints(&idx, options, &mut Report::default())?;
    unsupported(&idx, &ends)
}

fn unsupported(idx: &GraphIndex<'_>, ends: &Endpoints) -> Result<UnsupportedOps> {
    let roots: Vec<usize> = ends.outputs.iter().map(|(p, _)| p.node).collect();
    let leaves: Vec<usize> = ends.inputs.iter().map(|(p, _, _)| p.node).collect();
    let nodes = idx.reachable(&roots, &leaves)?;
    Ok(UnsupportedOps::from_nodes(
        nodes
            .into_iter()
            .filter(|i| !leaves.contains(i))
            .map(|i| &idx.nodes[i])
            .filter(|n| !SUPPORTED_OPS.contains(&n.op.as_str()))
            .map(|n| (n.op.as_str(), n.name.as_str())),
    ))
}

/// Creates the model input for one requested input.
fn bind_input(
    lw: &mut Lowerer<'_>,
    idx: &GraphIndex<'_>,
    port: Port,
    given: Option<&[i64]>,
) -> Result<usize> {
    let def = &idx.nodes[port.node];
    let a = Attrs { node: def };
    let tf_type = match a.dtype("dtype")? {
        Some(t) => t,
        None => a.dtype("T")?.unwrap_or(1),
    };
    let dtype = dtype_of(tf_type).ok_or_else(|| {
        a.err(
            "dtype",
            format!("{} inputs are not supported", tf_type_name(tf_type)),
        )
    })?;
    let graph_shape = if def.op == "Placeholder" {
        a.shape("shape")?.and_then(shape_of)
    } else {
        None
    };
    let shape = match (given, &graph_shape) {
        (Some(g), Some(s)) => {
            let fits =
                g.len() == s.len() && g.iter().zip(s).all(|(&x, &y)| x == y || y < 0 || x < 0);
            if !fits || g.iter().any(|&d| d < -1) {
                return Err(GraphDefError::InputShape {
                    node: def.name.clone(),
                    given: g.to_vec(),
                    graph: s.clone(),
                });
            }
            g.iter()
                .zip(s)
                .map(|(&x, &y)| if x < 0 { y } else { x })
                .collect()
        }
        (Some(g), None) => g.to_vec(),
        (None, Some(s)) => s.clone(),
        (None, None) => {
            return Err(GraphDefError::BadNode {
                node: def.name.clone(),
                op: def.op.clone(),
                message: "the input's shape is unknown; give it (name:d1,d2,...)".into(),
            })
        }
    };
    let t = lw.new_tensor(&def.name, dtype, Some(&shape));
    lw.bind(port, Val::Tensor(t));
    Ok(t)
}

/// Converts a decoded `GraphDef`.
pub fn convert_graph(
    graph: &GraphDef,
    name: &str,
    options: &GraphDefOptions,
) -> Result<Conversion> {
    let idx = GraphIndex::new(graph);
    let producer = graph
        .versions
        .as_ref()
        .map(|v| v.producer)
        .unwrap_or(graph.version);
    let mut report = Report {
        source: name.to_string(),
        format: format!("TensorFlow frozen GraphDef (producer {producer})"),
        ..Default::default()
    };
    let ends = endpoints(&idx, options, &mut report)?;
    let roots: Vec<usize> = ends.outputs.iter().map(|(p, _)| p.node).collect();
    let leaves: Vec<usize> = ends.inputs.iter().map(|(p, _, _)| p.node).collect();
    let reachable = idx.reachable(&roots, &leaves)?;
    let input_names = || {
        let v: Vec<&str> = ends.inputs.iter().map(|(_, n, _)| n.as_str()).collect();
        v.join(", ")
    };
    if let Some(&p) = reachable
        .iter()
        .find(|&&i| idx.nodes[i].op == "Placeholder" && !leaves.contains(&i))
    {
        return Err(GraphDefError::UnfedPlaceholder {
            node: idx.nodes[p].name.clone(),
            inputs: input_names(),
        });
    }
    let missing = unsupported(&idx, &ends)?;
    if !missing.is_empty() && !options.allow_custom_ops {
        return Err(GraphDefError::Unsupported(missing));
    }
    report.layers = reachable.len();
    let order = idx.topo_order(&roots, &leaves)?;
    let out_ports: Vec<Port> = ends.outputs.iter().map(|(p, _)| *p).collect();
    let used = idx.outputs_used(&order, &out_ports)?;

    let mut lw = Lowerer::new(&idx);
    for (port, _, shape) in &ends.inputs {
        let t = bind_input(&mut lw, &idx, *port, shape.as_deref())?;
        lw.b.sg.inputs.push(t);
    }
    for &i in order.iter().filter(|i| !leaves.contains(i)) {
        lw.lower_node(i, used[i], options.allow_custom_ops)?;
    }
    for (port, _) in &ends.outputs {
        let v = lw.value(*port)?;
        let t = lw.tensor(&v);
        lw.b.sg.outputs.push(t);
    }
    let custom_ops =
        UnsupportedOps::from_nodes(lw.custom.iter().map(|(op, n)| (op.as_str(), n.as_str())));
    let mut sg = lw.b.sg;
    passes::optimize(&mut sg, &mut report);
    if !custom_ops.is_empty() {
        report.push(
            EventKind::Note,
            format!(
                "emitted {} custom operator(s) for unsupported ops ({}); the model will NOT run \
                 in a plain TFLite runtime (nor in ferrolite's interpreter) without kernels for \
                 them",
                custom_ops.node_count(),
                custom_ops.summary()
            ),
        );
    }

    let mut sig = Signature {
        key: "serving_default".into(),
        subgraph_index: 0,
        ..Default::default()
    };
    for ((_, n, _), &t) in ends.inputs.iter().zip(&sg.inputs) {
        sig.inputs.push((n.clone(), t));
    }
    for (k, ((_, n), &t)) in ends.outputs.iter().zip(&sg.outputs.clone()).enumerate() {
        if !sg.inputs.contains(&t) && sg.outputs[..k].iter().all(|&o| o != t) {
            sg.tensors[t].name = n.clone();
        }
        sig.outputs.push((n.clone(), t));
    }
    let model = Model {
        version: 3,
        description: Some("ferrolite".into()),
        subgraphs: vec![sg],
        signatures: vec![sig],
        ..Default::default()
    };
    ferrolite_model::validate(&model)?;
    Ok(Conversion {
        model,
        report,
        custom_ops,
    })
}
