//! Round-trip and wire-numbering tests for the generated bindings.
//!
//! Expected numbers (enum values, union tags) are the published TFLite ones,
//! independently of the order in which planus happens to emit Rust items.

use crate::tflite::{self, BuiltinOperator, TensorType};
use crate::*;

/// Reads a little-endian u32 at `at`.
fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

/// Raw byte stored in vtable `slot` of the root table, `None` if absent.
/// Used to see union tags exactly as they are on the wire.
fn root_field_u8(bytes: &[u8], slot: usize) -> Option<u8> {
    let table = u32_at(bytes, 0);
    let soffset = i32::from_le_bytes(bytes[table..table + 4].try_into().unwrap());
    let vtable = (table as i64 - i64::from(soffset)) as usize;
    let vtable_len = u16::from_le_bytes([bytes[vtable], bytes[vtable + 1]]) as usize;
    let entry = 4 + 2 * slot;
    if entry + 2 > vtable_len {
        return None;
    }
    let field = u16::from_le_bytes([bytes[vtable + entry], bytes[vtable + entry + 1]]) as usize;
    (field != 0).then(|| bytes[table + field])
}

/// Serializes any owned table as a FlatBuffer root (no identifier).
fn root_bytes<T>(value: &T) -> Vec<u8>
where
    for<'a> &'a T: planus::WriteAsOffset<T>,
{
    let mut builder = planus::Builder::new();
    builder.finish(value, None).to_vec()
}

fn sample_model() -> tflite::Model {
    let weights: Vec<u8> = (0..24u8).collect();
    let quant = tflite::QuantizationParameters {
        scale: Some(vec![0.5, 0.25]),
        zero_point: Some(vec![0, 0]),
        quantized_dimension: 0,
        ..Default::default()
    };
    let tensor = |name: &str, shape: Vec<i32>, ty, buffer, q: Option<_>| tflite::Tensor {
        shape: Some(shape),
        type_: ty,
        buffer,
        name: Some(name.into()),
        quantization: q.map(Box::new),
        has_rank: true,
        ..Default::default()
    };
    let fc_options = tflite::FullyConnectedOptions {
        fused_activation_function: tflite::ActivationFunctionType::Relu,
        keep_num_dims: true,
        ..Default::default()
    };
    let op = tflite::Operator {
        opcode_index: 0,
        inputs: Some(vec![0, 1, -1]),
        outputs: Some(vec![2]),
        builtin_options: Some(tflite::BuiltinOptions::FullyConnectedOptions(Box::new(
            fc_options,
        ))),
        ..Default::default()
    };
    let subgraph = tflite::SubGraph {
        tensors: Some(vec![
            tensor("input", vec![1, 3], TensorType::Float32, 0, None),
            tensor("weights", vec![2, 3], TensorType::Int8, 1, Some(quant)),
            tensor("output", vec![1, 2], TensorType::Float32, 0, None),
        ]),
        inputs: Some(vec![0]),
        outputs: Some(vec![2]),
        operators: Some(vec![op]),
        name: Some("main".into()),
        debug_metadata_index: -1,
    };
    let map = |name: &str, index| tflite::TensorMap {
        name: Some(name.into()),
        tensor_index: index,
    };
    tflite::Model {
        version: TFLITE_SCHEMA_VERSION,
        operator_codes: Some(vec![tflite::OperatorCode {
            deprecated_builtin_code: deprecated_code_for(BuiltinOperator::FullyConnected.into()),
            custom_code: None,
            version: 1,
            builtin_code: BuiltinOperator::FullyConnected,
        }]),
        subgraphs: Some(vec![subgraph]),
        description: Some("ferrolite schema test".into()),
        buffers: Some(vec![
            tflite::Buffer::default(),
            tflite::Buffer {
                data: Some(weights),
                ..Default::default()
            },
            tflite::Buffer {
                data: Some(b"1.5.0".to_vec()),
                ..Default::default()
            },
        ]),
        metadata: Some(vec![tflite::Metadata {
            name: Some("min_runtime_version".into()),
            buffer: 2,
        }]),
        signature_defs: Some(vec![tflite::SignatureDef {
            inputs: Some(vec![map("x", 0)]),
            outputs: Some(vec![map("y", 2)]),
            signature_key: Some("serving_default".into()),
            subgraph_index: 0,
        }]),
        ..Default::default()
    }
}

#[test]
fn model_round_trips_with_identifier_and_alignment() {
    let model = sample_model();
    let bytes = serialize_model(&model).unwrap();
    assert_eq!(&bytes[4..8], b"TFL3");
    assert!(has_file_identifier(&bytes));

    let back = read_model(&bytes).unwrap();
    assert_eq!(back.version().unwrap(), 3);
    assert_eq!(back.description().unwrap(), Some("ferrolite schema test"));

    let codes = back.operator_codes().unwrap().unwrap();
    let code = codes.get(0).unwrap().unwrap();
    assert_eq!(
        code.builtin_code().unwrap(),
        BuiltinOperator::FullyConnected
    );
    assert_eq!(code.deprecated_builtin_code().unwrap(), 9);
    assert_eq!(code.version().unwrap(), 1);
    assert_eq!(read_builtin_code(&code).unwrap(), 9);

    let graph = back.subgraphs().unwrap().unwrap().get(0).unwrap().unwrap();
    assert_eq!(graph.name().unwrap(), Some("main"));
    let op = graph.operators().unwrap().unwrap().get(0).unwrap().unwrap();
    let inputs: Vec<i32> = op.inputs().unwrap().unwrap().iter().collect();
    assert_eq!(inputs, vec![0, 1, -1]);
    match op.builtin_options().unwrap() {
        Some(tflite::BuiltinOptionsRef::FullyConnectedOptions(fc)) => {
            assert_eq!(
                fc.fused_activation_function().unwrap(),
                tflite::ActivationFunctionType::Relu
            );
            assert!(fc.keep_num_dims().unwrap());
        }
        other => panic!("unexpected options {other:?}"),
    }
    assert_eq!(op.debug_metadata_index().unwrap(), -1);

    let weights = graph.tensors().unwrap().unwrap().get(1).unwrap().unwrap();
    assert_eq!(weights.type_().unwrap(), TensorType::Int8);
    let q = weights.quantization().unwrap().unwrap();
    let scales: Vec<f32> = q.scale().unwrap().unwrap().iter().collect();
    assert_eq!(scales, vec![0.5, 0.25]);
    assert_eq!(q.quantized_dimension().unwrap(), 0);

    let buffers = back.buffers().unwrap().unwrap();
    assert!(buffers.get(0).unwrap().unwrap().data().unwrap().is_none());
    let data = buffers.get(1).unwrap().unwrap().data().unwrap().unwrap();
    assert_eq!(data, (0..24u8).collect::<Vec<_>>().as_slice());
    let data_offset = data.as_ptr() as usize - bytes.as_ptr() as usize;
    assert_eq!(data_offset % 16, 0, "weights at file offset {data_offset}");

    let meta = back.metadata().unwrap().unwrap().get(0).unwrap().unwrap();
    assert_eq!(meta.name().unwrap(), Some("min_runtime_version"));
    let sig = back
        .signature_defs()
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap()
        .unwrap();
    assert_eq!(sig.signature_key().unwrap(), Some("serving_default"));
    let out_name = sig
        .outputs()
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap()
        .unwrap()
        .name()
        .unwrap();
    assert_eq!(out_name, Some("y"));

    // Full owned round trip: every field comes back equal.
    let owned = tflite::Model::try_from(back).unwrap();
    assert_eq!(owned, model);
}

#[test]
fn planus_finish_identifier_bug_canary() {
    // planus 1.3 puts the identifier at bytes 0..4 (planus PR #377). If this
    // starts failing, planus is fixed and serialize_model's splice can go.
    let mut builder = planus::Builder::new();
    let bytes = builder.finish(sample_model(), Some(FILE_IDENTIFIER));
    assert_eq!(&bytes[0..4], b"TFL3");
    assert_ne!(&bytes[4..8], b"TFL3");
}

#[test]
fn builtin_operator_values_match_published_numbering() {
    let cases = [
        (BuiltinOperator::Add, 0),
        (BuiltinOperator::AveragePool2d, 1),
        (BuiltinOperator::Conv2d, 3),
        (BuiltinOperator::DepthwiseConv2d, 4),
        (BuiltinOperator::Dequantize, 6),
        (BuiltinOperator::FullyConnected, 9),
        (BuiltinOperator::Logistic, 14),
        (BuiltinOperator::MaxPool2d, 17),
        (BuiltinOperator::Reshape, 22),
        (BuiltinOperator::Softmax, 25),
        (BuiltinOperator::Custom, 32),
        (BuiltinOperator::Mean, 40),
        (BuiltinOperator::StridedSlice, 45),
        (BuiltinOperator::Quantize, 114),
        (BuiltinOperator::HardSwish, 117),
        (BuiltinOperator::BatchMatmul, 126),
        (BuiltinOperator::PlaceholderForGreaterOpCodes, 127),
        (BuiltinOperator::Cumsum, 128),
        (BuiltinOperator::Gelu, 150),
        (BuiltinOperator::RightShift, 161),
        (BuiltinOperator::StablehloLogistic, 162),
        (BuiltinOperator::Dilate, 203),
        (BuiltinOperator::ReduceWindow, 205),
        (BuiltinOperator::StablehloCase, 209),
    ];
    for (op, value) in cases {
        assert_eq!(i32::from(op), value, "{op:?}");
        assert_eq!(BuiltinOperator::try_from(value).unwrap(), op);
    }
    // Values are dense 0..=209.
    assert_eq!(BuiltinOperator::ENUM_VALUES.len(), 210);
    for (i, op) in BuiltinOperator::ENUM_VALUES.iter().enumerate() {
        assert_eq!(i32::from(*op), i as i32);
    }
    assert!(BuiltinOperator::try_from(210).is_err());
}

#[test]
fn tensor_type_values_match_published_numbering() {
    let cases = [
        (TensorType::Float32, 0),
        (TensorType::Float16, 1),
        (TensorType::Int32, 2),
        (TensorType::Uint8, 3),
        (TensorType::Int64, 4),
        (TensorType::String, 5),
        (TensorType::Bool, 6),
        (TensorType::Int16, 7),
        (TensorType::Complex64, 8),
        (TensorType::Int8, 9),
        (TensorType::Float64, 10),
        (TensorType::Uint64, 12),
        (TensorType::Uint32, 15),
        (TensorType::Uint16, 16),
        (TensorType::Int4, 17),
        (TensorType::Bfloat16, 18),
        (TensorType::Int2, 19),
        (TensorType::Uint4, 20),
        (TensorType::Float8E5m2, 22),
    ];
    for (ty, value) in cases {
        assert_eq!(i8::from(ty), value, "{ty:?}");
    }
    assert_eq!(TensorType::ENUM_VALUES.len(), 23);
}

/// Wire tag of an owned `BuiltinOptions` value, read back from the bytes.
fn builtin_options_tag(options: tflite::BuiltinOptions) -> u8 {
    let op = tflite::Operator {
        builtin_options: Some(options),
        ..Default::default()
    };
    // Operator slots: opcode_index, inputs, outputs, builtin_options_type, ...
    root_field_u8(&root_bytes(&op), 3).unwrap()
}

#[test]
fn builtin_options_union_tags_match_published_numbering() {
    use tflite::BuiltinOptions as B;
    let cases = [
        (B::Conv2DOptions(Default::default()), 1),
        (B::DepthwiseConv2DOptions(Default::default()), 2),
        (B::Pool2DOptions(Default::default()), 5),
        (B::FullyConnectedOptions(Default::default()), 8),
        (B::SoftmaxOptions(Default::default()), 9),
        (B::ConcatenationOptions(Default::default()), 10),
        (B::AddOptions(Default::default()), 11),
        (B::ReshapeOptions(Default::default()), 17),
        (B::MulOptions(Default::default()), 21),
        (B::ReducerOptions(Default::default()), 27),
        (B::StridedSliceOptions(Default::default()), 32),
        (B::DequantizeOptions(Default::default()), 38),
        (B::TransposeConvOptions(Default::default()), 49),
        (B::LeakyReluOptions(Default::default()), 75),
        (B::QuantizeOptions(Default::default()), 89),
        (B::HardSwishOptions(Default::default()), 91),
        (B::BatchMatMulOptions(Default::default()), 101),
        (B::GeluOptions(Default::default()), 116),
        (B::RightShiftOptions(Default::default()), 126),
    ];
    for (options, tag) in cases {
        let name = format!("{options:?}");
        assert_eq!(builtin_options_tag(options), tag, "{name}");
    }
}

#[test]
fn builtin_options2_and_quantization_details_tags() {
    use tflite::BuiltinOptions2 as B2;
    let cases = [
        (B2::StablehloConcatenateOptions(Default::default()), 1),
        (B2::StablehloReduceWindowOptions(Default::default()), 13),
        (B2::ReduceWindowOptions(Default::default()), 20),
        (B2::StableHloCompositeOptions(Default::default()), 21),
        (B2::StablehloCaseOptions(Default::default()), 23),
    ];
    for (options, tag) in cases {
        let op = tflite::Operator {
            builtin_options_2: Some(options),
            ..Default::default()
        };
        // builtin_options_2_type is vtable slot 11.
        assert_eq!(root_field_u8(&root_bytes(&op), 11), Some(tag));
    }

    use tflite::QuantizationDetails as Q;
    let cases = [
        (Q::CustomQuantization(Default::default()), 1),
        (Q::BlockwiseQuantization(Default::default()), 2),
        (Q::MultiAxisQuantization(Default::default()), 3),
    ];
    for (details, tag) in cases {
        let q = tflite::QuantizationParameters {
            details: Some(details),
            ..Default::default()
        };
        // min, max, scale, zero_point, details_type (slot 4).
        assert_eq!(root_field_u8(&root_bytes(&q), 4), Some(tag));
    }
}

#[test]
fn operator_code_rule() {
    assert_eq!(effective_builtin_code(9, 0), 9);
    assert_eq!(effective_builtin_code(127, 150), 150);
    assert_eq!(effective_builtin_code(0, 0), 0);
    assert_eq!(deprecated_code_for(9), 9);
    assert_eq!(deprecated_code_for(127), 127);
    assert_eq!(deprecated_code_for(150), 127);
    assert_eq!(deprecated_code_for(-1000), i8::MIN);
}

#[test]
fn unknown_operator_code_is_reported_by_number() {
    let mut model = sample_model();
    if let Some(codes) = model.operator_codes.as_mut() {
        codes[0].builtin_code = BuiltinOperator::Gelu;
        codes[0].deprecated_builtin_code = 127;
    }
    let mut bytes = serialize_model(&model).unwrap();
    // Patch the stored builtin_code 150 (GELU) to 250, unknown to this schema.
    let gelu = 150i32.to_le_bytes();
    let pos = bytes.windows(4).position(|w| w == gelu).unwrap();
    bytes[pos..pos + 4].copy_from_slice(&250i32.to_le_bytes());
    let back = read_model(&bytes).unwrap();
    let code = back
        .operator_codes()
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap()
        .unwrap();
    let err = code.builtin_code().unwrap_err();
    assert_eq!(unknown_enum_tag(&err), Some(250));
    assert_eq!(read_builtin_code(&code).unwrap(), 250);
}

#[test]
fn identifier_and_garbage_input() {
    assert!(!has_file_identifier(b"short"));
    assert!(!has_file_identifier(&[0u8; 16]));
    // Garbage never panics: either the root or a field read errors.
    for len in 0..64usize {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        if let Ok(model) = read_model(&junk) {
            let _ = model.subgraphs();
            let _ = model.buffers();
        }
    }
}
