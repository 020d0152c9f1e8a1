//! Lowering a parsed Keras model to a ferrolite [`Model`]: walk the layer calls in dependency
//! order, emit TFLite ops per layer (one module per layer family), run the graph passes, then
//! name the inputs and outputs and add a `serving_default` signature the way TF does.

pub mod activation;
pub mod call;
pub mod conv;
pub mod core;
pub mod merge;
pub mod pool;

use crate::error::{ConvertError, Result};
use crate::graph::GraphBuilder;
use crate::keras::config::{LayerSpec, ModelSpec, TensorRef, MODEL_CLASSES};
use crate::keras::weights::WeightStore;
use crate::passes;
use crate::report::Report;
use call::Call;
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{Model, Signature};
use serde_json::Value;
use std::collections::HashMap;

/// Keras layer classes the converter lowers.
pub const SUPPORTED_LAYERS: &[&str] = &[
    "InputLayer",
    "Dense",
    "Conv2D",
    "DepthwiseConv2D",
    "BatchNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "ZeroPadding2D",
    "Rescaling",
    "Add",
    "Subtract",
    "Multiply",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
];

/// State shared by the per-layer lowering functions.
pub struct Lowering<'a> {
    /// The graph under construction.
    pub b: GraphBuilder,
    /// The model's weights.
    pub weights: &'a WeightStore,
    /// Constants already emitted for a layer's weights, so shared layers share them.
    consts: HashMap<(String, &'static str), usize>,
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

fn unknown_layer(layer: &LayerSpec) -> ConvertError {
    let custom = layer.is_custom();
    let class_name = match (&layer.registered_name, custom) {
        (Some(r), true) if r != &layer.class_name => {
            format!("{} (registered as `{r}`)", layer.class_name)
        }
        _ => layer.class_name.clone(),
    };
    ConvertError::UnknownLayer {
        layer: layer.name.clone(),
        class_name,
        custom,
        supported: SUPPORTED_LAYERS.join(", "),
    }
}

fn lower_call(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let class = call.layer.class_name.as_str();
    if call.layer.is_custom() {
        return Err(unknown_layer(call.layer));
    }
    match class {
        "Dense" => core::dense(lw, call),
        "Conv2D" | "Convolution2D" => conv::conv2d(lw, call),
        "DepthwiseConv2D" => conv::depthwise_conv2d(lw, call),
        "BatchNormalization" => merge::batch_norm(lw, call),
        "Activation" => activation::activation_layer(lw, call),
        "ReLU" => activation::relu_layer(lw, call),
        "LeakyReLU" => activation::leaky_relu_layer(lw, call),
        "ELU" => activation::elu_layer(lw, call),
        "Softmax" => activation::softmax_layer(lw, call),
        "MaxPooling2D" | "MaxPool2D" => pool::pool2d(lw, call, B::MaxPool2d),
        "AveragePooling2D" | "AvgPool2D" => pool::pool2d(lw, call, B::AveragePool2d),
        "GlobalAveragePooling2D" | "GlobalAvgPool2D" => pool::global_pool2d(lw, call, B::Mean),
        "GlobalMaxPooling2D" | "GlobalMaxPool2D" => pool::global_pool2d(lw, call, B::ReduceMax),
        "Flatten" => core::flatten(lw, call),
        "Reshape" => core::reshape(lw, call),
        "ZeroPadding2D" => conv::zero_padding2d(lw, call),
        "Rescaling" => core::rescaling(lw, call),
        "Add" => merge::elementwise(lw, call, B::Add),
        "Subtract" => merge::elementwise(lw, call, B::Sub),
        "Multiply" => merge::elementwise(lw, call, B::Mul),
        "Maximum" => merge::elementwise(lw, call, B::Maximum),
        "Minimum" => merge::elementwise(lw, call, B::Minimum),
        "Concatenate" => merge::concatenate(lw, call),
        c if core::IDENTITY_CLASSES.contains(&c) => core::identity_layer(lw, call),
        c if MODEL_CLASSES.contains(&c) => Err(call.unsupported(
            "layer",
            format!("nested {c} model"),
            "flat models (nested models are not supported yet)",
        )),
        _ => Err(unknown_layer(call.layer)),
    }
}

/// Shape signature of an InputLayer (`-1` for a dynamic batch unless `batch` fixes it).
fn input_signature(layer: &LayerSpec, batch: Option<u32>) -> Result<Vec<i32>> {
    let call = Call {
        layer,
        index: 0,
        inputs: Vec::new(),
    };
    call.check_common()?;
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

/// Lowers `spec` with weights from `weights`, runs the passes and assembles the model.
pub fn lower_model(
    spec: &ModelSpec,
    weights: &WeightStore,
    batch: Option<u32>,
    report: &mut Report,
) -> Result<Model> {
    let mut lw = Lowering {
        b: GraphBuilder::new(),
        weights,
        consts: HashMap::new(),
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
        let sig = input_signature(layer, batch)?;
        let t = lw.b.activation(layer.name.clone(), &sig);
        lw.b.sg.inputs.push(t);
        values.insert(r.clone(), t);
    }
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
        let outs = lower_call(&mut lw, &call)?;
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
    for r in &spec.outputs {
        let t = *values.get(r).ok_or_else(|| {
            let stuck = pending
                .iter()
                .find_map(|(l, k)| l.calls[*k].iter().find(|r| !values.contains_key(r)).map(|m| (l, m)));
            ConvertError::graph(match stuck {
                Some((l, m)) => format!(
                    "output `{}` is unreachable: layer `{}` reads `{}` (call {}, output {}), which no layer produces",
                    r.layer, l.name, m.layer, m.node, m.index
                ),
                None => format!("output `{}` (call {}, output {}) is not produced by any layer", r.layer, r.node, r.index),
            })
        })?;
        lw.b.sg.outputs.push(t);
    }
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
    let model = Model {
        version: 3,
        description: Some("ferrolite".into()),
        subgraphs: vec![sg],
        signatures: vec![sig],
        ..Default::default()
    };
    ferrolite_model::validate(&model)?;
    Ok(model)
}
