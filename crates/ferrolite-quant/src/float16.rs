//! float16 mode: every float32 constant an operator reads is stored as FLOAT16 and expanded at
//! run time by a DEQUANTIZE operator (version 3) whose float32 output the consumers read, as
//! TF's converter does with `supported_types=[tf.float16]`: all such constants regardless of
//! size (biases included), one DEQUANTIZE per constant, all DEQUANTIZE operators first. The
//! model also gets TF's `reduced_precision_support = "fp16accfp32"` metadata entry.

use crate::error::Result;
use crate::graph::{
    activation_like, constant_f32, consumers, is_f32_constant, names, rewire, unique_name,
};
use crate::params::to_f16;
use crate::report::{QuantReport, TensorReport};
use ferrolite_model::tflite::BuiltinOperator;
use ferrolite_model::{Bytes, DType, Metadata, Model, Operator};

/// Converts the float32 constants of every subgraph to float16 + DEQUANTIZE.
pub(crate) fn run(model: &mut Model, report: &mut QuantReport) -> Result<()> {
    for (s, sg) in model.subgraphs.iter_mut().enumerate() {
        let uses = consumers(sg);
        let mut taken = names(sg);
        let mut dequantize_ops = Vec::new();
        // Constants in order of their first use, so the DEQUANTIZE operators come out in the
        // order the graph needs them.
        let mut order: Vec<usize> = (0..sg.tensors.len())
            .filter(|&t| {
                is_f32_constant(&sg.tensors[t]) && !uses[t].is_empty() && !sg.outputs.contains(&t)
            })
            .collect();
        order.sort_by_key(|&t| uses[t].iter().map(|u| u.0).min());
        for t in order {
            let values = constant_f32(sg, t)?;
            let half: Vec<u8> = values
                .iter()
                .flat_map(|&v| to_f16(v).to_le_bytes())
                .collect();
            let out_name = unique_name(&mut taken, &sg.tensors[t].name);
            let out = activation_like(&sg.tensors[t], out_name, DType::F32);
            let tensor = &mut sg.tensors[t];
            tensor.dtype = DType::F16;
            tensor.data = Some(Bytes::from_vec(half));
            report.tensors.push(TensorReport::float16(s, t, tensor));
            sg.tensors.push(out);
            let out = sg.tensors.len() - 1;
            rewire(sg, &uses[t], out);
            let mut op = Operator::new(BuiltinOperator::Dequantize, vec![Some(t)], vec![Some(out)]);
            op.version = 3;
            dequantize_ops.push(op);
        }
        report.ops_added += dequantize_ops.len();
        sg.operators.splice(0..0, dequantize_ops);
    }
    if !model
        .metadata
        .iter()
        .any(|m| m.name == "reduced_precision_support")
    {
        let at = model
            .metadata
            .iter()
            .position(|m| m.name == "CONVERSION_METADATA")
            .unwrap_or(model.metadata.len());
        model.metadata.insert(
            at,
            Metadata {
                name: "reduced_precision_support".into(),
                data: Bytes::from_vec(b"fp16accfp32".to_vec()),
            },
        );
    }
    Ok(())
}
