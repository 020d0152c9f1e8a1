//! SavedModel directories (`saved_model.pb` + `variables/`) to a frozen graph, then to TFLite.
//!
//! A TF2 SavedModel keeps its computation in the graph's function library: a signature's
//! outputs are outputs of a `StatefulPartitionedCall` node in the main graph, whose function
//! (the signature wrapper) calls the traced function, which reads variables through resource
//! arguments. Freezing therefore
//!
//! 1. picks the meta graph tagged `serve` and the requested signature (`serving_default` by
//!    default), whose `TensorInfo`s name the input placeholders and output tensors;
//! 2. inlines every function call the outputs depend on ([`super::inline`]);
//! 3. maps each variable handle captured by a call to its checkpoint key: the object graph says
//!    which objects a concrete function captures (`bound_inputs`, the trailing call inputs), and
//!    the checkpoint's own object graph (`_CHECKPOINTABLE_OBJECT_GRAPH`) gives those objects'
//!    `VARIABLE_VALUE` keys. TF1-style bundles keyed by variable name are a fallback;
//! 4. replaces every `ReadVariableOp` (and ref `VariableV2`) with a `Const` holding the value
//!    read from the tensor bundle ([`super::bundle`]).
//!
//! The frozen graph then goes through the frozen-graph importer unchanged; the model's
//! signature uses the SavedModel signature's input and output keys.

use super::bundle::Bundle;
use super::error::{GraphDefError, Result};
use super::graph::split_ref;
use super::inline::Inliner;
use super::{convert_graph, Conversion, GraphDefOptions};
use crate::prost::tensorflow::attr_value::Value as AttrV;
use crate::prost::tensorflow::{
    AttrValue, GraphDef, MetaGraphDef, NodeDef, SavedModel, TensorProto, TrackableObjectGraph,
};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The signature converted when none is named.
pub const DEFAULT_SIGNATURE: &str = "serving_default";

/// True when `path` is a SavedModel directory (it holds `saved_model.pb`).
pub fn is_saved_model(path: &Path) -> bool {
    path.is_dir() && path.join("saved_model.pb").is_file()
}

/// A frozen signature: the flat graph and the signature's endpoints.
#[derive(Debug, Clone)]
pub struct FrozenSignature {
    /// The graph, with variables as constants and calls inlined.
    pub graph: GraphDef,
    /// `(key, tensor name, shape)` of each input, sorted by key.
    pub inputs: Vec<(String, String, Option<Vec<i64>>)>,
    /// `(key, tensor name)` of each output, sorted by key.
    pub outputs: Vec<(String, String)>,
}

fn sm_err(path: &Path, message: impl Into<String>) -> GraphDefError {
    GraphDefError::SavedModel {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads `dir/saved_model.pb`.
pub fn load(dir: &Path) -> Result<SavedModel> {
    let pb = dir.join("saved_model.pb");
    let bytes = std::fs::read(&pb).map_err(|source| GraphDefError::Io {
        path: pb.clone(),
        source,
    })?;
    let sm = SavedModel::decode(bytes.as_slice()).map_err(|e| GraphDefError::Decode {
        file: pb.display().to_string(),
        message: format!("not a SavedModel: {e}"),
    })?;
    if sm.meta_graphs.is_empty() {
        return Err(sm_err(&pb, "the SavedModel has no meta graph"));
    }
    Ok(sm)
}

/// The meta graph tagged `serve`, else the only one.
fn serving_graph<'a>(sm: &'a SavedModel, dir: &Path) -> Result<&'a MetaGraphDef> {
    let tagged = sm.meta_graphs.iter().find(|m| {
        m.meta_info_def
            .as_ref()
            .is_some_and(|i| i.tags.iter().any(|t| t == "serve"))
    });
    match (tagged, sm.meta_graphs.as_slice()) {
        (Some(m), _) => Ok(m),
        (None, [m]) => Ok(m),
        _ => Err(sm_err(dir, "no meta graph is tagged `serve`")),
    }
}

/// The signature keys of a SavedModel's serving graph (without TF's init-op entry).
pub fn signature_keys(sm: &SavedModel, dir: &Path) -> Result<Vec<String>> {
    let mg = serving_graph(sm, dir)?;
    let mut keys: Vec<String> = mg
        .signature_def
        .keys()
        .filter(|k| !k.starts_with("__"))
        .cloned()
        .collect();
    keys.sort();
    Ok(keys)
}

/// Checkpoint keys of the variable handles captured by the main graph's calls.
fn capture_keys(
    mg: &MetaGraphDef,
    graph: &GraphDef,
    objects: Option<&TrackableObjectGraph>,
) -> HashMap<String, String> {
    let mut keys = HashMap::new();
    let (Some(og), Some(objects)) = (mg.object_graph_def.as_ref(), objects) else {
        return keys;
    };
    for n in &graph.node {
        let Some(AttrV::Func(f)) = n.attr.get("f").and_then(|v| v.value.as_ref()) else {
            continue;
        };
        let Some(cf) = og.concrete_functions.get(&f.name) else {
            continue;
        };
        let data: Vec<&str> = n
            .input
            .iter()
            .filter(|s| !s.starts_with('^'))
            .map(String::as_str)
            .collect();
        let Some(first) = data.len().checked_sub(cf.bound_inputs.len()) else {
            continue;
        };
        for (handle, &id) in data[first..].iter().zip(&cf.bound_inputs) {
            let attr = usize::try_from(id)
                .ok()
                .and_then(|i| objects.nodes.get(i))
                .and_then(|o| o.attributes.iter().find(|a| a.name == "VARIABLE_VALUE"));
            if let (Some(a), Some((h, _))) = (attr, split_ref(handle)) {
                keys.insert(h.to_string(), a.checkpoint_key.clone());
            }
        }
    }
    keys
}

/// The node a resource reference resolves to, following `Identity` / `IdentityN` chains.
fn resource_source<'g>(by_name: &HashMap<&str, &'g NodeDef>, r: &str) -> Option<&'g NodeDef> {
    let (mut name, mut k) = split_ref(r)?;
    for _ in 0..64 {
        let cur = by_name.get(name).copied()?;
        let mut data = cur.input.iter().filter(|s| !s.starts_with('^'));
        (name, k) = match cur.op.as_str() {
            "Identity" => split_ref(data.next()?)?,
            "IdentityN" => split_ref(data.nth(k)?)?,
            _ => return Some(cur),
        };
    }
    None
}

/// A `Const` node named `name` holding `t`.
fn const_node(name: &str, t: &super::tensor::ConstTensor, tf_dtype: i32) -> NodeDef {
    let shape = crate::prost::tensorflow::TensorShapeProto {
        dim: t
            .shape
            .iter()
            .map(|&d| crate::prost::tensorflow::tensor_shape_proto::Dim {
                size: d as i64,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    };
    let value = TensorProto {
        dtype: tf_dtype,
        tensor_shape: Some(shape),
        tensor_content: t.data.clone(),
        ..Default::default()
    };
    let mut n = NodeDef {
        name: name.to_string(),
        op: "Const".into(),
        ..Default::default()
    };
    n.attr.insert(
        "value".into(),
        AttrValue {
            value: Some(AttrV::Tensor(value)),
        },
    );
    n.attr.insert(
        "dtype".into(),
        AttrValue {
            value: Some(AttrV::Type(tf_dtype)),
        },
    );
    n
}

/// Freezes signature `key` of the SavedModel in `dir`.
pub fn freeze(dir: &Path, key: &str) -> Result<FrozenSignature> {
    let sm = load(dir)?;
    let mg = serving_graph(&sm, dir)?;
    let sig = mg
        .signature_def
        .get(key)
        .ok_or_else(|| GraphDefError::NoSignature {
            key: key.to_string(),
            available: signature_keys(&sm, dir).unwrap_or_default().join(", "),
        })?;
    let graph = mg
        .graph_def
        .as_ref()
        .ok_or_else(|| sm_err(dir, "the meta graph has no graph"))?;
    let mut inputs: Vec<(String, String, Option<Vec<i64>>)> = sig
        .inputs
        .iter()
        .map(|(k, t)| {
            let shape = t.tensor_shape.as_ref().and_then(super::tensor::shape_of);
            (k.clone(), t.name.clone(), shape)
        })
        .collect();
    inputs.sort();
    let mut outputs: Vec<(String, String)> = sig
        .outputs
        .iter()
        .map(|(k, t)| (k.clone(), t.name.clone()))
        .collect();
    outputs.sort();
    let unnamed =
        inputs.iter().any(|(_, n, _)| n.is_empty()) || outputs.iter().any(|(_, n)| n.is_empty());
    if unnamed {
        return Err(sm_err(
            dir,
            format!(
                "signature `{key}` has a tensor without a name (sparse or composite tensors are \
                 not supported)"
            ),
        ));
    }

    // Main-graph nodes the outputs depend on.
    let by_name: HashMap<&str, &NodeDef> =
        graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut keep = HashSet::new();
    let mut stack: Vec<&str> = outputs
        .iter()
        .filter_map(|(_, t)| split_ref(t).map(|(n, _)| n))
        .collect();
    while let Some(n) = stack.pop() {
        if !keep.insert(n) {
            continue;
        }
        if let Some(node) = by_name.get(n) {
            stack.extend(
                node.input
                    .iter()
                    .filter_map(|s| split_ref(s).map(|(m, _)| m)),
            );
        }
    }
    let ops = mg
        .meta_info_def
        .as_ref()
        .and_then(|i| i.stripped_op_list.as_ref())
        .map(|l| l.op.iter().map(|o| (o.name.as_str(), o)).collect())
        .unwrap_or_default();
    let functions = graph
        .library
        .as_ref()
        .map(|l| {
            l.function
                .iter()
                .filter_map(|f| Some((f.signature.as_ref()?.name.as_str(), f)))
                .collect()
        })
        .unwrap_or_default();
    let mut inl = Inliner::new(ops, functions, dir);
    for n in graph.node.iter().filter(|n| keep.contains(n.name.as_str())) {
        let mut n = n.clone();
        n.input.retain(|s| !s.starts_with('^'));
        inl.emit(n, 0)?;
    }
    let mut flat = inl.into_nodes();

    // Variables → constants.
    let var_dir = dir.join("variables");
    let needs_vars = flat
        .iter()
        .any(|n| matches!(n.op.as_str(), "ReadVariableOp" | "VariableV2"));
    if needs_vars {
        let bundle = Bundle::open(&var_dir.join("variables"))?;
        let objects = match bundle.entries.get("_CHECKPOINTABLE_OBJECT_GRAPH") {
            Some(_) => {
                let s = bundle.strings("_CHECKPOINTABLE_OBJECT_GRAPH")?;
                let bytes = s.first().map(Vec::as_slice).unwrap_or_default();
                Some(
                    TrackableObjectGraph::decode(bytes).map_err(|e| GraphDefError::Bundle {
                        path: bundle.index_path.clone(),
                        message: format!("bad object graph: {e}"),
                    })?,
                )
            }
            None => None,
        };
        let keys = capture_keys(mg, graph, objects.as_ref());
        let by_name: HashMap<&str, &NodeDef> = flat.iter().map(|n| (n.name.as_str(), n)).collect();
        let mut replaced: HashMap<String, NodeDef> = HashMap::new();
        for n in &flat {
            let var = match n.op.as_str() {
                "ReadVariableOp" => n
                    .input
                    .first()
                    .and_then(|r| resource_source(&by_name, r))
                    .ok_or_else(|| {
                        sm_err(
                            dir,
                            format!("`{}` reads a variable that cannot be traced", n.name),
                        )
                    })?,
                "VariableV2" => n,
                _ => continue,
            };
            let shared = match var.attr.get("shared_name").and_then(|v| v.value.as_ref()) {
                Some(AttrV::S(s)) if !s.is_empty() => String::from_utf8_lossy(s).into_owned(),
                _ => var.name.clone(),
            };
            let key = keys
                .get(&var.name)
                .cloned()
                .or_else(|| bundle.entries.contains_key(&shared).then(|| shared.clone()))
                .or_else(|| {
                    bundle
                        .entries
                        .contains_key(&var.name)
                        .then(|| var.name.clone())
                })
                .ok_or_else(|| {
                    sm_err(
                        dir,
                        format!(
                            "variable `{}` (read by `{}`) has no value in the checkpoint",
                            var.name, n.name
                        ),
                    )
                })?;
            let t = bundle.tensor(&key)?;
            let tf_dtype = bundle.entries[&key].dtype;
            replaced.insert(n.name.clone(), const_node(&n.name, &t, tf_dtype));
        }
        for n in &mut flat {
            if let Some(c) = replaced.remove(&n.name) {
                *n = c;
            }
        }
    }
    Ok(FrozenSignature {
        graph: GraphDef {
            node: flat,
            versions: graph.versions.clone(),
            ..Default::default()
        },
        inputs,
        outputs,
    })
}

/// Converts signature `signature` (default [`DEFAULT_SIGNATURE`]) of the SavedModel in `dir`.
///
/// `options.inputs` may override input shapes (by signature key or tensor name);
/// `options.outputs` may select a subset of the signature's outputs by key. The model's
/// signature uses the SavedModel signature's key and its input and output keys.
pub fn convert_dir(
    dir: impl AsRef<Path>,
    signature: Option<&str>,
    options: &GraphDefOptions,
) -> Result<Conversion> {
    let dir = dir.as_ref();
    let key = signature.unwrap_or(DEFAULT_SIGNATURE);
    let frozen = freeze(dir, key)?;
    let mut inputs = Vec::new();
    for (k, name, shape) in &frozen.inputs {
        let given = options
            .inputs
            .iter()
            .find(|(n, _)| n == k || n == name || split_ref(name).is_some_and(|(b, _)| b == n))
            .and_then(|(_, s)| s.clone());
        inputs.push((name.clone(), given.or_else(|| shape.clone())));
    }
    let unknown: Vec<&str> = options
        .inputs
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| {
            !frozen
                .inputs
                .iter()
                .any(|(k, t, _)| k == n || t == n || split_ref(t).is_some_and(|(b, _)| b == *n))
        })
        .collect();
    if !unknown.is_empty() {
        return Err(GraphDefError::NoSuchNode {
            role: "input",
            name: unknown.join(", "),
            hint: format!(
                "; signature `{key}` has inputs {}",
                frozen
                    .inputs
                    .iter()
                    .map(|(k, _, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let mut outputs = Vec::new();
    for (k, name) in &frozen.outputs {
        if options.outputs.is_empty() || options.outputs.iter().any(|o| o == k || o == name) {
            outputs.push((k.clone(), name.clone()));
        }
    }
    if outputs.is_empty() {
        return Err(GraphDefError::NoSuchNode {
            role: "output",
            name: options.outputs.join(", "),
            hint: format!(
                "; signature `{key}` has outputs {}",
                frozen
                    .outputs
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let opts = GraphDefOptions {
        inputs,
        outputs: outputs.iter().map(|(_, n)| n.clone()).collect(),
        allow_custom_ops: options.allow_custom_ops,
    };
    let mut conv = convert_graph(&frozen.graph, &dir.display().to_string(), &opts)?;
    conv.report.format = format!("TensorFlow SavedModel, signature `{key}`");
    let sg_inputs = conv.model.subgraphs[0].inputs.clone();
    let sig = &mut conv.model.signatures[0];
    sig.key = key.to_string();
    for ((k, _, _), (n, _)) in frozen.inputs.iter().zip(sig.inputs.iter_mut()) {
        *n = k.clone();
    }
    for ((k, _), (n, _)) in outputs.iter().zip(sig.outputs.iter_mut()) {
        *n = k.clone();
    }
    let sg = &mut conv.model.subgraphs[0];
    for ((k, _, _), &t) in frozen.inputs.iter().zip(&sg_inputs) {
        sg.tensors[t].name = format!("{key}_{k}");
    }
    Ok(conv)
}

/// The SavedModel directory a path names: the directory itself or the one holding a
/// `saved_model.pb` given directly.
pub fn saved_model_dir(path: &Path) -> Option<PathBuf> {
    if is_saved_model(path) {
        return Some(path.to_path_buf());
    }
    let is_pb = path.file_name().is_some_and(|n| n == "saved_model.pb");
    let parent = path.parent()?;
    (is_pb && parent.join("variables").is_dir()).then(|| parent.to_path_buf())
}
