//! Lowering a parsed Keras model to a ferrolite [`Model`]: walk the layer calls in dependency
//! order, emit TFLite ops per layer (one module per layer family, dispatched in [`dispatch`]),
//! inline nested models, run the graph passes, then name the inputs and outputs, add a
//! `serving_default` signature and the `min_runtime_version` metadata the way TF does.

pub mod act_layers;
pub mod activation;
pub mod call;
pub mod conv;
pub mod conv1d;
pub mod core;
pub mod deconv;
pub mod dispatch;
pub mod emit;
pub mod merge;
pub mod norm;
pub mod pool;
pub mod resize;
pub mod shape;

pub use dispatch::SUPPORTED_LAYERS;

use crate::error::{ConvertError, Result};
use crate::graph::GraphBuilder;
use crate::keras::config::{LayerSpec, ModelSpec, TensorRef};
use crate::keras::weights::WeightStore;
use crate::passes;
use crate::report::{EventKind, Report};
use call::Call;
use ferrolite_model::{Bytes, DType, Metadata, Model, Signature};
use serde_json::Value;
use std::collections::HashMap;

/// How deep nested models may go (a guard against self-referencing configs).
const MAX_NESTING: usize = 16;

/// State shared by the per-layer lowering functions.
pub struct Lowering<'a> {
    /// The graph under construction.
    pub b: GraphBuilder,
    /// The model's weights.
    pub weights: &'a WeightStore,
    /// True when the file was written by Keras 3 (some formulas differ from tf-keras').
    pub keras3: bool,
    /// Constants already emitted for a layer's weights, so shared layers share them.
    consts: HashMap<(String, &'static str), usize>,
    /// Nesting depth of the model being lowered (0 = the top-level model).
    depth: usize,
}

impl Lowering<'_> {
    /// The constant for weight `role` of the call's layer, created on first use.
    pub fn weight_const(
        &mut self,
        call: &Call<'_>,
        role: &'static str,
        shape: &[i32],
        v: &[f32],
    ) -> usize {
        let key = (call.layer.name.clone(), role);
        if let Some(&t) = self.consts.get(&key) {
            return t;
        }
        let t = self
            .b
            .const_f32(format!("{}/{role}", call.layer.name), shape, v);
        self.consts.insert(key, t);
        t
    }
}

/// The element type of an InputLayer (`float32` unless the config says otherwise).
fn input_dtype(call: &Call<'_>) -> Result<DType> {
    let name = match call.get("dtype") {
        None => return Ok(DType::F32),
        Some(d) => d
            .as_str()
            .or_else(|| d.get("config")?.get("name")?.as_str())
            .unwrap_or("?"),
    };
    match name {
        "float32" => Ok(DType::F32),
        "int32" => Ok(DType::I32),
        "int64" => Ok(DType::I64),
        other => Err(call.unsupported("dtype", other, "\"float32\", \"int32\", \"int64\"")),
    }
}

/// Shape signature of an InputLayer (`-1` for a dynamic batch unless `batch` fixes it).
fn input_signature(layer: &LayerSpec, batch: Option<u32>) -> Result<Vec<i32>> {
    let call = Call {
        layer,
        index: 0,
        inputs: Vec::new(),
    };
    let (key, v) = ["batch_input_shape", "batch_shape", "input_shape", "shape"]
        .iter()
        .find_map(|k| call.get(k).map(|v| (*k, v)))
        .ok_or_else(|| call.bad("batch_shape", "the input layer declares no shape"))?;
    let with_batch = key.starts_with("batch");
    let dims = v
        .as_array()
        .ok_or_else(|| call.bad(key, format!("expected a list, found {v}")))?;
    let (b, rest) = if with_batch {
        match dims.split_first() {
            Some((b, rest)) => (b.as_u64(), rest),
            None => return Err(call.bad(key, "empty shape")),
        }
    } else {
        (None, &dims[..])
    };
    let fixed = batch.map(u64::from).or(b);
    let mut sig = vec![match fixed {
        Some(n) => i32::try_from(n)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| call.unsupported("batch size", n, "1 ..= 2^31 - 1"))?,
        None => -1,
    }];
    for d in rest {
        let n = d
            .as_u64()
            .filter(|&n| n > 0 && n <= i32::MAX as u64)
            .ok_or_else(|| {
                call.unsupported(
                    key,
                    Value::Array(dims.clone()),
                    "static dims except the batch",
                )
            })?;
        sig.push(n as i32);
    }
    Ok(sig)
}

/// Lowers every layer call of `spec` once its inputs are known (`values` holds the model's
/// inputs on entry) and returns the tensors of `spec.outputs`.
fn walk(
    lw: &mut Lowering<'_>,
    spec: &ModelSpec,
    mut values: HashMap<TensorRef, usize>,
) -> Result<Vec<usize>> {
    let mut pending: Vec<(&LayerSpec, usize)> = spec
        .layers
        .iter()
        .filter(|l| l.class_name != "InputLayer")
        .flat_map(|l| (0..l.calls.len()).map(move |k| (l, k)))
        .collect();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(l, k)| l.calls[*k].iter().all(|r| values.contains_key(r)));
        let Some(pos) = ready else { break };
        let (layer, k) = pending.remove(pos);
        let inputs = layer.calls[k].iter().map(|r| values[r]).collect();
        let call = Call {
            layer,
            index: k,
            inputs,
        };
        let outs = if layer.is_model() && !layer.is_custom() {
            nested_model(lw, &call)?
        } else {
            dispatch::lower_call(lw, &call)?
        };
        for (i, t) in outs.into_iter().enumerate() {
            values.insert(
                TensorRef {
                    layer: layer.name.clone(),
                    node: k,
                    index: i,
                },
                t,
            );
        }
    }
    spec.outputs
        .iter()
        .map(|r| {
            values.get(r).copied().ok_or_else(|| {
                let stuck = pending.iter().find_map(|(l, k)| {
                    l.calls[*k]
                        .iter()
                        .find(|r| !values.contains_key(r))
                        .map(|m| (l, m))
                });
                ConvertError::graph(match stuck {
                    Some((l, m)) => format!(
                        "output `{}` is unreachable: layer `{}` reads `{}` (call {}, output {}), \
                         which no layer produces",
                        r.layer, l.name, m.layer, m.node, m.index
                    ),
                    None => format!(
                        "output `{}` (call {}, output {}) is not produced by any layer",
                        r.layer, r.node, r.index
                    ),
                })
            })
        })
        .collect()
}

/// Inlines one call of a nested Sequential / Functional model: its layers are lowered in place,
/// named `model/layer` (weights are looked up under that path), with the call's inputs bound to
/// the nested model's inputs. A nested model called twice shares its weight constants.
fn nested_model(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    if lw.depth >= MAX_NESTING {
        return Err(call.unsupported("nesting depth", lw.depth + 1, "at most 16 nested models"));
    }
    let inner = call
        .layer
        .nested_spec()?
        .prefixed(&format!("{}/", call.layer.name));
    if inner.inputs.len() != call.inputs.len() {
        return Err(call.bad_shape(format!(
            "the nested model has {} input(s), the call passes {}",
            inner.inputs.len(),
            call.inputs.len()
        )));
    }
    let by_name: HashMap<&str, &LayerSpec> =
        inner.layers.iter().map(|l| (l.name.as_str(), l)).collect();
    let mut values = HashMap::new();
    for (r, &t) in inner.inputs.iter().zip(&call.inputs) {
        let have = lw.b.sig(t);
        if let Some(layer) = by_name.get(r.layer.as_str()) {
            let want = input_signature(layer, None)?;
            if want.len() != have.len() || want[1..] != have[1..] {
                return Err(call.bad_shape(format!(
                    "nested input `{}` expects shape {want:?}, the call passes {have:?}",
                    r.layer
                )));
            }
        }
        values.insert(r.clone(), t);
    }
    lw.depth += 1;
    let outs = walk(lw, &inner, values);
    lw.depth -= 1;
    outs
}

/// The 16-byte, NUL-padded `min_runtime_version` entry TF writes.
fn runtime_metadata(version: &str) -> Metadata {
    let mut bytes = version.as_bytes().to_vec();
    bytes.resize(16.max(bytes.len()), 0);
    Metadata {
        name: "min_runtime_version".into(),
        data: Bytes::from_vec(bytes),
    }
}

/// True when the file was written by Keras 3: its recorded `keras_version`, else the config's
/// spelling.
fn is_keras3(spec: &ModelSpec, report: &Report) -> bool {
    match &report.keras_version {
        Some(v) => v.starts_with('3'),
        None => spec.keras3_style,
    }
}

/// Lowers `spec` with weights from `weights`, runs the passes and assembles the model.
pub fn lower_model(
    spec: &ModelSpec,
    weights: &WeightStore,
    batch: Option<u32>,
    report: &mut Report,
) -> Result<Model> {
    let keras3 = is_keras3(spec, report);
    if report.keras_version.is_none() {
        report.push(
            EventKind::Note,
            format!(
                "no keras_version recorded; the config reads as {}",
                if keras3 { "Keras 3" } else { "tf-keras" }
            ),
        );
    }
    let mut lw = Lowering {
        b: GraphBuilder::new(),
        weights,
        keras3,
        consts: HashMap::new(),
        depth: 0,
    };
    let by_name: HashMap<&str, &LayerSpec> =
        spec.layers.iter().map(|l| (l.name.as_str(), l)).collect();
    let mut values: HashMap<TensorRef, usize> = HashMap::new();
    for r in &spec.inputs {
        let layer = by_name.get(r.layer.as_str()).ok_or_else(|| {
            ConvertError::graph(format!("model input `{}` is not a layer", r.layer))
        })?;
        if layer.class_name != "InputLayer" {
            return Err(ConvertError::graph(format!(
                "model input `{}` is a {}, not an InputLayer",
                r.layer, layer.class_name
            )));
        }
        let call = Call {
            layer,
            index: 0,
            inputs: Vec::new(),
        };
        let dtype = input_dtype(&call)?;
        let sig = input_signature(layer, batch)?;
        let t = lw.b.tensor(layer.name.clone(), dtype, &sig);
        lw.b.sg.inputs.push(t);
        values.insert(r.clone(), t);
    }
    let outputs = walk(&mut lw, spec, values)?;
    lw.b.sg.outputs = outputs;
    let mut sg = lw.b.sg;
    passes::optimize(&mut sg, report);

    // Names and signature as TF writes them.
    let mut sig = Signature {
        key: "serving_default".into(),
        subgraph_index: 0,
        ..Default::default()
    };
    for (r, &t) in spec.inputs.iter().zip(&sg.inputs) {
        sg.tensors[t].name = format!("serving_default_{}:0", r.layer);
        sig.inputs.push((r.layer.clone(), t));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, (r, &t)) in spec.outputs.iter().zip(&sg.outputs.clone()).enumerate() {
        if !sg.inputs.contains(&t) && sg.outputs[..k].iter().all(|&o| o != t) {
            sg.tensors[t].name = format!("StatefulPartitionedCall:{k}");
        }
        let n = seen.entry(r.layer.clone()).or_insert(0);
        let key = if *n == 0 {
            r.layer.clone()
        } else {
            format!("{}_{n}", r.layer)
        };
        *n += 1;
        sig.outputs.push((key, t));
    }
    sig.inputs.sort();
    sig.outputs.sort();
    let mut metadata = Vec::new();
    if let Some(v) = passes::runtime::min_runtime_version(&sg) {
        metadata.push(runtime_metadata(&v));
    }
    let model = Model {
        version: 3,
        description: Some("ferrolite".into()),
        subgraphs: vec![sg],
        signatures: vec![sig],
        metadata,
        ..Default::default()
    };
    ferrolite_model::validate(&model)?;
    Ok(model)
}
