//! Parsing a Keras model config (the `model_config` JSON of a `.h5`, `config.json` of a `.keras`)
//! into a layer graph.
//!
//! Both spellings are accepted: tf-keras / Keras 2 (`inbound_nodes` as nested lists
//! `[[layer, node, tensor, kwargs], ...]`) and Keras 3 (`{"args": [...], "kwargs": {...}}` holding
//! `__keras_tensor__` objects with a `keras_history`). A Sequential model becomes the equivalent
//! chain, with an input layer synthesized from `batch_input_shape` / `batch_shape` /
//! `build_input_shape` when the config has none.
//!
//! A layer whose class is a model (`Sequential`, `Functional`) is a nested model: its config is a
//! whole model config, parsed on demand by [`LayerSpec::nested_spec`]. tf-keras numbers the calls
//! of a nested model that was built on its own `Input` from 1 (call 0 is the model's own
//! construction); those references are shifted back to 0 here so both spellings agree.

use crate::error::{ConvertError, Result};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Keras class names of models (a layer of one of these classes is a nested model).
pub const MODEL_CLASSES: &[&str] = &["Functional", "Model", "Sequential"];

/// One tensor of the graph: output `index` of call `node` of layer `layer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorRef {
    /// Layer name.
    pub layer: String,
    /// Which call of the layer (0 for the first; shared layers have several).
    pub node: usize,
    /// Which output of that call.
    pub index: usize,
}

/// One layer of the model config.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// Layer name (unique within the model).
    pub name: String,
    /// Keras class name (`Conv2D`).
    pub class_name: String,
    /// Python module recorded by Keras 3 (`keras.layers`), when present.
    pub module: Option<String>,
    /// Registered name of custom objects (`my_package>MyLayer`), when present.
    pub registered_name: Option<String>,
    /// The layer's `config` object.
    pub config: Value,
    /// The inputs of each call of the layer, in call order.
    pub calls: Vec<Vec<TensorRef>>,
}

impl LayerSpec {
    /// True for layers that are custom (user-registered) rather than part of Keras.
    pub fn is_custom(&self) -> bool {
        let foreign_module = self.module.as_deref().is_some_and(|m| {
            !(m.starts_with("keras") || m.starts_with("tf_keras") || m.starts_with("tensorflow"))
        });
        let registered = self
            .registered_name
            .as_deref()
            .is_some_and(|r| r.contains('>') || r != self.class_name);
        foreign_module || registered || self.class_name.contains('>')
    }

    /// True when the layer is itself a model (a nested Sequential or Functional).
    pub fn is_model(&self) -> bool {
        MODEL_CLASSES.contains(&self.class_name.as_str())
    }

    /// The model config of a nested model layer.
    pub fn nested_spec(&self) -> Result<ModelSpec> {
        let root = json!({ "class_name": self.class_name, "config": self.config });
        parse_model(&root, &format!("nested model `{}`", self.name))
    }

    /// True when tf-keras numbers this layer's calls from 1: a nested Functional model, or a
    /// nested Sequential built on an `Input` (its first call is its own construction).
    fn skips_first_node(&self) -> bool {
        match self.class_name.as_str() {
            "Functional" | "Model" => true,
            "Sequential" => {
                self.config
                    .get("layers")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(|f| f.get("class_name"))
                    .and_then(Value::as_str)
                    == Some("InputLayer")
            }
            _ => false,
        }
    }
}

/// A parsed model: its layers and the tensors that are its inputs and outputs.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    /// Model name.
    pub name: String,
    /// `Sequential`, `Functional` or `Model`.
    pub class_name: String,
    /// Layers in config order.
    pub layers: Vec<LayerSpec>,
    /// Model inputs (outputs of InputLayers).
    pub inputs: Vec<TensorRef>,
    /// Model outputs.
    pub outputs: Vec<TensorRef>,
    /// True when the config is spelled the Keras 3 way (`__keras_tensor__` call arguments,
    /// `batch_shape`, `DTypePolicy` objects); used when the file records no `keras_version`.
    pub keras3_style: bool,
}

impl ModelSpec {
    /// True for a Sequential model.
    pub fn is_sequential(&self) -> bool {
        self.class_name == "Sequential"
    }

    /// The same graph with every layer name (and every reference to it) prefixed by `prefix`:
    /// how a nested model's layers are named once inlined (`inner/dense`).
    pub fn prefixed(&self, prefix: &str) -> ModelSpec {
        let p = |r: &TensorRef| TensorRef {
            layer: format!("{prefix}{}", r.layer),
            ..r.clone()
        };
        ModelSpec {
            name: self.name.clone(),
            class_name: self.class_name.clone(),
            layers: self
                .layers
                .iter()
                .map(|l| LayerSpec {
                    name: format!("{prefix}{}", l.name),
                    calls: l.calls.iter().map(|c| c.iter().map(p).collect()).collect(),
                    ..l.clone()
                })
                .collect(),
            inputs: self.inputs.iter().map(p).collect(),
            outputs: self.outputs.iter().map(p).collect(),
            keras3_style: self.keras3_style,
        }
    }
}

/// True when a config value is spelled the Keras 3 way anywhere inside.
fn looks_keras3(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.contains_key("batch_shape")
                || matches!(
                    m.get("class_name").and_then(Value::as_str),
                    Some("DTypePolicy" | "__keras_tensor__")
                )
                || m.values().any(looks_keras3)
        }
        Value::Array(a) => a.iter().any(looks_keras3),
        _ => false,
    }
}

fn json_err(file: &str, message: impl Into<String>) -> ConvertError {
    ConvertError::Json {
        file: file.to_string(),
        message: message.into(),
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Parses the root of a model config.
pub fn parse_model(root: &Value, file: &str) -> Result<ModelSpec> {
    let class_name = str_field(root, "class_name")
        .ok_or_else(|| json_err(file, "the config has no `class_name`"))?;
    let config = root
        .get("config")
        .ok_or_else(|| json_err(file, "the config has no `config` object"))?;
    let mut spec = match class_name.as_str() {
        "Sequential" => parse_sequential(root, config, file),
        "Functional" | "Model" => parse_functional(config, &class_name, file),
        other => Err(json_err(
            file,
            format!("top-level class `{other}` is not a model (expected Sequential or Functional)"),
        )),
    }?;
    spec.keras3_style = looks_keras3(config);
    Ok(spec)
}

fn parse_layer_header(entry: &Value, file: &str, pos: usize) -> Result<LayerSpec> {
    let class_name = str_field(entry, "class_name")
        .ok_or_else(|| json_err(file, format!("layer #{pos} has no `class_name`")))?;
    let config = entry.get("config").cloned().unwrap_or(Value::Null);
    let name = str_field(entry, "name")
        .or_else(|| str_field(&config, "name"))
        .ok_or_else(|| json_err(file, format!("layer #{pos} ({class_name}) has no name")))?;
    Ok(LayerSpec {
        name,
        class_name,
        module: str_field(entry, "module"),
        registered_name: str_field(entry, "registered_name"),
        config,
        calls: Vec::new(),
    })
}

/// `[name, node, index, ...]` → a tensor reference.
fn triple(v: &Value) -> Option<TensorRef> {
    let a = v.as_array()?;
    Some(TensorRef {
        layer: a.first()?.as_str()?.to_string(),
        node: usize::try_from(a.get(1)?.as_u64()?).ok()?,
        index: usize::try_from(a.get(2)?.as_u64()?).ok()?,
    })
}

/// Collects tensor references from a nested structure of triples (lists or dicts of them).
fn collect_triples(v: &Value, out: &mut Vec<TensorRef>) -> bool {
    if let Some(t) = triple(v).filter(|_| v.as_array().is_some_and(|a| a.len() <= 4)) {
        out.push(t);
        return true;
    }
    match v {
        Value::Array(a) => a.iter().all(|x| collect_triples(x, out)),
        Value::Object(m) => m.values().all(|x| collect_triples(x, out)),
        _ => false,
    }
}

/// Collects `__keras_tensor__` histories (Keras 3) in order.
fn collect_keras_tensors(v: &Value, out: &mut Vec<TensorRef>) {
    match v {
        Value::Object(m) => {
            if m.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") {
                if let Some(t) = m
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(triple)
                {
                    out.push(t);
                }
                return;
            }
            m.values().for_each(|x| collect_keras_tensors(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_keras_tensors(x, out)),
        _ => {}
    }
}

fn parse_node(node: &Value, layer: &str, file: &str) -> Result<Vec<TensorRef>> {
    let mut refs = Vec::new();
    if let Some(args) = node.get("args") {
        collect_keras_tensors(args, &mut refs);
    } else if let Some(list) = node.as_array() {
        for item in list {
            let t = triple(item).ok_or_else(|| {
                json_err(
                    file,
                    format!("layer `{layer}`: bad inbound node entry {item}"),
                )
            })?;
            refs.push(t);
        }
    } else {
        return Err(json_err(
            file,
            format!("layer `{layer}`: unrecognized inbound node {node}"),
        ));
    }
    if refs.is_empty() {
        return Err(json_err(
            file,
            format!("layer `{layer}`: an inbound node has no input tensor"),
        ));
    }
    Ok(refs)
}

fn parse_functional(config: &Value, class_name: &str, file: &str) -> Result<ModelSpec> {
    let entries = config
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| json_err(file, "the model config has no `layers` list"))?;
    let mut layers = Vec::with_capacity(entries.len());
    let mut legacy_nodes = false;
    for (pos, entry) in entries.iter().enumerate() {
        let mut layer = parse_layer_header(entry, file, pos)?;
        let nodes = entry
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for node in &nodes {
            legacy_nodes |= node.is_array();
            layer.calls.push(parse_node(node, &layer.name, file)?);
        }
        layers.push(layer);
    }
    let io = |key: &str| -> Result<Vec<TensorRef>> {
        let mut out = Vec::new();
        let v = config
            .get(key)
            .ok_or_else(|| json_err(file, format!("the model config has no `{key}`")))?;
        if !collect_triples(v, &mut out) || out.is_empty() {
            return Err(json_err(file, format!("cannot read `{key}`: {v}")));
        }
        Ok(out)
    };
    let mut outputs = io("output_layers")?;
    if legacy_nodes {
        let skip: HashSet<String> = layers
            .iter()
            .filter(|l| l.skips_first_node())
            .map(|l| l.name.clone())
            .collect();
        let shift = |r: &mut TensorRef| {
            if r.node > 0 && skip.contains(&r.layer) {
                r.node -= 1;
            }
        };
        for r in layers.iter_mut().flat_map(|l| l.calls.iter_mut().flatten()) {
            shift(r);
        }
        outputs.iter_mut().for_each(shift);
    }
    Ok(ModelSpec {
        name: str_field(config, "name").unwrap_or_else(|| "model".into()),
        class_name: class_name.to_string(),
        layers,
        inputs: io("input_layers")?,
        outputs,
        keras3_style: false,
    })
}

/// The batch input shape a Sequential model declares somewhere, if anywhere.
fn sequential_input_shape(
    root: &Value,
    config: &Value,
    first: Option<&LayerSpec>,
) -> Option<Value> {
    let from_first = first.and_then(|l| {
        l.config
            .get("batch_input_shape")
            .or_else(|| l.config.get("batch_shape"))
            .cloned()
    });
    from_first
        .or_else(|| config.get("build_input_shape").cloned())
        .or_else(|| root.get("build_config")?.get("input_shape").cloned())
        .filter(|v| v.is_array())
}

fn parse_sequential(root: &Value, config: &Value, file: &str) -> Result<ModelSpec> {
    let entries = config
        .get("layers")
        .or(Some(config).filter(|c| c.is_array()))
        .and_then(Value::as_array)
        .ok_or_else(|| json_err(file, "the Sequential config has no `layers` list"))?;
    let mut layers = Vec::with_capacity(entries.len() + 1);
    for (pos, entry) in entries.iter().enumerate() {
        layers.push(parse_layer_header(entry, file, pos)?);
    }
    if layers.first().map(|l| l.class_name.as_str()) != Some("InputLayer") {
        let shape = sequential_input_shape(root, config, layers.first()).ok_or_else(|| {
            json_err(
                file,
                "the Sequential model declares no input shape (it was never built)",
            )
        })?;
        let name = layers
            .first()
            .map(|l| format!("{}_input", l.name))
            .unwrap_or_else(|| "input".into());
        layers.insert(
            0,
            LayerSpec {
                name: name.clone(),
                class_name: "InputLayer".into(),
                module: None,
                registered_name: None,
                config: json!({ "name": name, "batch_input_shape": shape }),
                calls: Vec::new(),
            },
        );
    }
    for i in 1..layers.len() {
        let prev = TensorRef {
            layer: layers[i - 1].name.clone(),
            node: 0,
            index: 0,
        };
        layers[i].calls.push(vec![prev]);
    }
    let first = &layers[0];
    let last = &layers[layers.len() - 1];
    Ok(ModelSpec {
        name: str_field(config, "name").unwrap_or_else(|| "sequential".into()),
        class_name: "Sequential".into(),
        inputs: vec![TensorRef {
            layer: first.name.clone(),
            node: 0,
            index: 0,
        }],
        outputs: vec![TensorRef {
            layer: last.name.clone(),
            node: 0,
            index: 0,
        }],
        layers,
        keras3_style: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_keras_and_keras3_inbound_nodes_parse_alike() {
        let k2 = json!({"class_name": "Functional", "config": {"name": "m",
            "layers": [
                {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
                {"class_name": "Add", "name": "add", "config": {"name": "add"},
                 "inbound_nodes": [[["in", 0, 0, {}], ["in", 0, 0, {}]]]}],
            "input_layers": [["in", 0, 0]], "output_layers": [["add", 0, 0]]}});
        let k3 = json!({"class_name": "Functional", "config": {"name": "m",
            "layers": [
                {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
                {"class_name": "Add", "name": "add", "config": {"name": "add"},
                 "inbound_nodes": [{"args": [[
                    {"class_name": "__keras_tensor__", "config": {"keras_history": ["in", 0, 0]}},
                    {"class_name": "__keras_tensor__", "config": {"keras_history": ["in", 0, 0]}}]],
                  "kwargs": {}}]}],
            "input_layers": ["in", 0, 0], "output_layers": {"y": ["add", 0, 0]}}});
        for root in [k2, k3] {
            let m = parse_model(&root, "t").unwrap();
            assert_eq!(m.layers[1].calls[0].len(), 2);
            assert_eq!(m.inputs[0].layer, "in");
            assert_eq!(m.outputs[0].layer, "add");
        }
    }

    #[test]
    fn sequential_without_input_layer_gets_one() {
        let root = json!({"class_name": "Sequential", "config": {"name": "s", "layers": [
            {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [null, 3]}},
            {"class_name": "ReLU", "config": {"name": "r"}}]}});
        let m = parse_model(&root, "t").unwrap();
        assert_eq!(m.layers.len(), 3);
        assert_eq!(m.layers[0].class_name, "InputLayer");
        assert_eq!(m.layers[2].calls[0][0].layer, "d");
        assert_eq!(m.outputs[0].layer, "r");
    }

    #[test]
    fn tf_keras_nested_model_calls_are_renumbered_from_zero() {
        let inner = json!({"name": "inner", "layers": [
            {"class_name": "InputLayer", "name": "fi", "config": {"name": "fi", "batch_input_shape": [null, 2]}, "inbound_nodes": []},
            {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2}, "inbound_nodes": [[["fi", 0, 0, {}]]]}],
            "input_layers": [["fi", 0, 0]], "output_layers": [["d", 0, 0]]});
        let root = json!({"class_name": "Functional", "config": {"name": "m",
            "layers": [
                {"class_name": "InputLayer", "name": "x", "config": {"name": "x"}, "inbound_nodes": []},
                {"class_name": "Functional", "name": "inner", "config": inner,
                 "inbound_nodes": [[["x", 0, 0, {}]], [["inner", 1, 0, {}]]]},
                {"class_name": "Add", "name": "add", "config": {"name": "add"},
                 "inbound_nodes": [[["inner", 1, 0, {}], ["inner", 2, 0, {}]]]}],
            "input_layers": [["x", 0, 0]], "output_layers": [["inner", 2, 0]]}});
        let m = parse_model(&root, "t").unwrap();
        assert!(!m.keras3_style);
        assert_eq!(m.layers[1].calls[1][0].node, 0);
        let nodes: Vec<usize> = m.layers[2].calls[0].iter().map(|r| r.node).collect();
        assert_eq!(nodes, vec![0, 1]);
        assert_eq!(m.outputs[0].node, 1);
        let nested = m.layers[1].nested_spec().unwrap().prefixed("inner/");
        assert_eq!(nested.layers[1].name, "inner/d");
        assert_eq!(nested.layers[1].calls[0][0].layer, "inner/fi");
        assert_eq!(nested.outputs[0].layer, "inner/d");
    }

    #[test]
    fn custom_layers_are_recognized() {
        let root = json!({"class_name": "Sequential", "config": {"layers": [
            {"class_name": "InputLayer", "config": {"name": "i", "batch_shape": [null, 3]}},
            {"module": "my_pkg.layers", "class_name": "Foo", "registered_name": "my_pkg>Foo",
             "config": {"name": "f"}}]}});
        let m = parse_model(&root, "t").unwrap();
        assert!(m.layers[1].is_custom());
        assert!(!m.layers[0].is_custom());
    }
}
