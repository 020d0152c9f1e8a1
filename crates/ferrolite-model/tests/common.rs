//! Builders for small hand-made models shared by the integration tests.

#![allow(dead_code)]

use ferrolite_model::tflite;

/// f32 little-endian bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A raw schema tensor.
pub fn tensor(name: &str, ty: tflite::TensorType, shape: &[i32], buffer: u32) -> tflite::Tensor {
    tflite::Tensor {
        shape: Some(shape.to_vec()),
        type_: ty,
        buffer,
        name: Some(name.into()),
        ..Default::default()
    }
}

/// A valid raw model: input [1,4] → FULLY_CONNECTED (weights [3,4], bias [3]) → [1,3], plus an
/// int8 per-channel constant, a signature and metadata. Tests corrupt one field at a time.
pub fn base() -> tflite::Model {
    let weights: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 3.0).collect();
    let mut q = tensor("qweights", tflite::TensorType::Int8, &[2, 3], 3);
    q.quantization = Some(Box::new(tflite::QuantizationParameters {
        scale: Some(vec![0.5, 0.25]),
        zero_point: Some(vec![0, 0]),
        quantized_dimension: 0,
        ..Default::default()
    }));
    let mut input = tensor("input", tflite::TensorType::Float32, &[1, 4], 0);
    input.shape_signature = Some(vec![-1, 4]);
    tflite::Model {
        version: 3,
        operator_codes: Some(vec![tflite::OperatorCode {
            deprecated_builtin_code: 9,
            custom_code: None,
            version: 1,
            builtin_code: tflite::BuiltinOperator::FullyConnected,
        }]),
        subgraphs: Some(vec![tflite::SubGraph {
            tensors: Some(vec![
                input,
                tensor("weights", tflite::TensorType::Float32, &[3, 4], 1),
                tensor("bias", tflite::TensorType::Float32, &[3], 2),
                tensor("output", tflite::TensorType::Float32, &[1, 3], 0),
                q,
            ]),
            inputs: Some(vec![0]),
            outputs: Some(vec![3]),
            operators: Some(vec![tflite::Operator {
                opcode_index: 0,
                inputs: Some(vec![0, 1, 2]),
                outputs: Some(vec![3]),
                builtin_options: Some(tflite::BuiltinOptions::FullyConnectedOptions(Box::new(
                    tflite::FullyConnectedOptions {
                        fused_activation_function: tflite::ActivationFunctionType::Relu,
                        ..Default::default()
                    },
                ))),
                ..Default::default()
            }]),
            name: Some("main".into()),
            debug_metadata_index: -1,
        }]),
        description: Some("hand-made".into()),
        buffers: Some(vec![
            tflite::Buffer::default(),
            tflite::Buffer {
                data: Some(f32_bytes(&weights)),
                ..Default::default()
            },
            tflite::Buffer {
                data: Some(f32_bytes(&[0.1, -0.2, 0.3])),
                ..Default::default()
            },
            tflite::Buffer {
                data: Some(vec![1, 2, 3, 0xff, 0xfe, 0x7f]),
                ..Default::default()
            },
            tflite::Buffer {
                data: Some(b"1.5.0\0\0\0".to_vec()),
                ..Default::default()
            },
        ]),
        metadata_buffer: None,
        metadata: Some(vec![tflite::Metadata {
            name: Some("min_runtime_version".into()),
            buffer: 4,
        }]),
        signature_defs: Some(vec![tflite::SignatureDef {
            inputs: Some(vec![tflite::TensorMap {
                name: Some("x".into()),
                tensor_index: 0,
            }]),
            outputs: Some(vec![tflite::TensorMap {
                name: Some("y".into()),
                tensor_index: 3,
            }]),
            signature_key: Some("serving_default".into()),
            subgraph_index: 0,
        }]),
        external_buffer_groups: None,
        external_buffers: None,
    }
}

/// Serializes a raw model without any validation.
pub fn bytes(m: &tflite::Model) -> Vec<u8> {
    ferrolite_schema::serialize_model(m).expect("serializes")
}

/// Mutable access to the first subgraph of a raw model.
pub fn sg(m: &mut tflite::Model) -> &mut tflite::SubGraph {
    &mut m.subgraphs.as_mut().unwrap()[0]
}

/// Mutable access to tensor `i` of the first subgraph.
pub fn tensor_mut(m: &mut tflite::Model, i: usize) -> &mut tflite::Tensor {
    &mut sg(m).tensors.as_mut().unwrap()[i]
}

/// Mutable access to operator `i` of the first subgraph.
pub fn op_mut(m: &mut tflite::Model, i: usize) -> &mut tflite::Operator {
    &mut sg(m).operators.as_mut().unwrap()[i]
}
