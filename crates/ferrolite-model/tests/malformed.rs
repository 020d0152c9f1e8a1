//! Hostile and broken `.tflite` input: every case gives the expected typed error, never a panic.

mod common;

use common::*;
use ferrolite_model::{read_bytes, tflite, ModelError};

/// Serializes a corrupted copy of the base model and reads it back.
fn read_with(edit: impl FnOnce(&mut tflite::Model)) -> Result<ferrolite_model::Model, ModelError> {
    let mut m = base();
    edit(&mut m);
    read_bytes(bytes(&m))
}

macro_rules! assert_err {
    ($result:expr, $pattern:pat) => {{
        match $result {
            Err(e @ $pattern) => {
                // Every error message names what is at fault.
                assert!(!e.to_string().is_empty());
                e
            }
            Err(other) => panic!("wrong error kind: {other:?}"),
            Ok(_) => panic!("malformed input was accepted"),
        }
    }};
}

#[test]
fn base_model_is_valid() {
    read_with(|_| {}).expect("the base model must read");
}

#[test]
fn empty_and_short_inputs_are_truncated() {
    assert_err!(read_bytes(Vec::new()), ModelError::Truncated(_));
    assert_err!(read_bytes(vec![0u8; 7]), ModelError::Truncated(_));
}

#[test]
fn wrong_identifier_is_reported_with_the_bytes_found() {
    let mut b = bytes(&base());
    b[4..8].copy_from_slice(b"TFL2");
    let e = assert_err!(read_bytes(b), ModelError::BadIdentifier { .. });
    assert!(e.to_string().contains("TFL3"));
}

#[test]
fn truncated_file_is_malformed() {
    let b = bytes(&base());
    // (The last bytes may be alignment padding nothing refers to, so cut well inside.)
    for cut in [9, 16, b.len() / 3, b.len() / 2] {
        let r = read_bytes(b[..cut].to_vec());
        assert!(
            r.is_err(),
            "file cut at {cut} of {} bytes was accepted",
            b.len()
        );
    }
}

#[test]
fn garbage_after_identifier_is_malformed() {
    let mut b: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    b[4..8].copy_from_slice(b"TFL3");
    assert!(read_bytes(b).is_err());
    let mut b = vec![0xffu8; 64];
    b[4..8].copy_from_slice(b"TFL3");
    assert_err!(read_bytes(b), ModelError::Malformed { .. });
}

#[test]
fn wrong_schema_version() {
    assert_err!(
        read_with(|m| m.version = 2),
        ModelError::UnsupportedVersion(2)
    );
}

#[test]
fn model_without_subgraphs() {
    assert_err!(
        read_with(|m| m.subgraphs = None),
        ModelError::Invalid { .. }
    );
}

#[test]
fn tensor_buffer_index_out_of_range() {
    let e = assert_err!(
        read_with(|m| tensor_mut(m, 1).buffer = 99),
        ModelError::IndexOutOfRange { .. }
    );
    assert!(
        e.to_string().contains("subgraphs[0].tensors[1].buffer"),
        "{e}"
    );
}

#[test]
fn opcode_index_out_of_range() {
    let e = assert_err!(
        read_with(|m| op_mut(m, 0).opcode_index = 7),
        ModelError::IndexOutOfRange { .. }
    );
    assert!(e.to_string().contains("operators[0].opcode_index"), "{e}");
}

#[test]
fn operator_input_out_of_range() {
    let e = assert_err!(
        read_with(|m| op_mut(m, 0).inputs = Some(vec![0, 1, 42])),
        ModelError::IndexOutOfRange { .. }
    );
    assert!(e.to_string().contains("operators[0].inputs[2]"), "{e}");
}

#[test]
fn operator_input_below_minus_one() {
    assert_err!(
        read_with(|m| op_mut(m, 0).inputs = Some(vec![0, 1, -2])),
        ModelError::IndexOutOfRange { .. }
    );
}

#[test]
fn operator_output_out_of_range() {
    assert_err!(
        read_with(|m| op_mut(m, 0).outputs = Some(vec![5])),
        ModelError::IndexOutOfRange { .. }
    );
}

#[test]
fn subgraph_input_out_of_range() {
    assert_err!(
        read_with(|m| sg(m).inputs = Some(vec![9])),
        ModelError::IndexOutOfRange { .. }
    );
}

#[test]
fn subgraph_output_negative() {
    assert_err!(
        read_with(|m| sg(m).outputs = Some(vec![-1])),
        ModelError::IndexOutOfRange { .. }
    );
}

#[test]
fn buffer_shorter_than_shape() {
    let e = assert_err!(
        read_with(|m| tensor_mut(m, 1).shape = Some(vec![4, 4])),
        ModelError::BufferSize {
            expected: 64,
            actual: 48,
            ..
        }
    );
    assert!(e.to_string().contains("tensors[1]"), "{e}");
}

#[test]
fn buffer_longer_than_shape() {
    assert_err!(
        read_with(|m| tensor_mut(m, 2).shape = Some(vec![2])),
        ModelError::BufferSize {
            expected: 8,
            actual: 12,
            ..
        }
    );
}

#[test]
fn wrong_dtype_for_buffer_size() {
    assert_err!(
        read_with(|m| tensor_mut(m, 1).type_ = tflite::TensorType::Float64),
        ModelError::BufferSize { .. }
    );
}

#[test]
fn negative_dimension() {
    assert_err!(
        read_with(|m| tensor_mut(m, 3).shape = Some(vec![1, -3])),
        ModelError::BadShape { .. }
    );
}

#[test]
fn overflowing_dimensions() {
    assert_err!(
        read_with(|m| tensor_mut(m, 3).shape = Some(vec![i32::MAX, i32::MAX, i32::MAX])),
        ModelError::BadShape { .. }
    );
}

#[test]
fn absurd_dimensions() {
    assert_err!(
        read_with(|m| tensor_mut(m, 3).shape = Some(vec![1 << 20, 1 << 20])),
        ModelError::BadShape { .. }
    );
}

#[test]
fn absurd_rank() {
    assert_err!(
        read_with(|m| tensor_mut(m, 3).shape = Some(vec![1; 40])),
        ModelError::BadShape { .. }
    );
}

#[test]
fn shape_signature_disagrees_with_shape() {
    assert_err!(
        read_with(|m| tensor_mut(m, 0).shape_signature = Some(vec![-1, 4, 1])),
        ModelError::BadShape { .. }
    );
    assert_err!(
        read_with(|m| tensor_mut(m, 0).shape_signature = Some(vec![1, 5])),
        ModelError::BadShape { .. }
    );
}

fn quant_mut(m: &mut tflite::Model) -> &mut tflite::QuantizationParameters {
    tensor_mut(m, 4).quantization.as_mut().unwrap()
}

#[test]
fn per_channel_scale_count_mismatch() {
    assert_err!(
        read_with(|m| {
            let q = quant_mut(m);
            q.scale = Some(vec![0.5, 0.25, 0.1]);
            q.zero_point = Some(vec![0, 0, 0]);
        }),
        ModelError::BadQuantization { .. }
    );
}

#[test]
fn quantized_dimension_out_of_range() {
    assert_err!(
        read_with(|m| quant_mut(m).quantized_dimension = 2),
        ModelError::BadQuantization { .. }
    );
}

#[test]
fn scale_and_zero_point_lengths_differ() {
    assert_err!(
        read_with(|m| quant_mut(m).zero_point = Some(vec![0])),
        ModelError::BadQuantization { .. }
    );
}

#[test]
fn non_finite_scale() {
    assert_err!(
        read_with(|m| quant_mut(m).scale = Some(vec![f32::NAN, 1.0])),
        ModelError::BadQuantization { .. }
    );
}

#[test]
fn control_flow_refers_to_missing_subgraph() {
    let e = assert_err!(
        read_with(|m| {
            op_mut(m, 0).builtin_options = Some(tflite::BuiltinOptions::WhileOptions(Box::new(
                tflite::WhileOptions {
                    cond_subgraph_index: 0,
                    body_subgraph_index: 3,
                },
            )))
        }),
        ModelError::IndexOutOfRange { .. }
    );
    assert!(e.to_string().contains("body_subgraph_index"), "{e}");
}

#[test]
fn signature_refers_to_missing_subgraph() {
    assert_err!(
        read_with(|m| m.signature_defs.as_mut().unwrap()[0].subgraph_index = 4),
        ModelError::IndexOutOfRange { .. }
    );
}

#[test]
fn signature_refers_to_missing_tensor() {
    assert_err!(
        read_with(|m| m.signature_defs.as_mut().unwrap()[0]
            .outputs
            .as_mut()
            .unwrap()[0]
            .tensor_index = 50),
        ModelError::IndexOutOfRange { .. }
    );
}

#[test]
fn metadata_buffer_out_of_range() {
    assert_err!(
        read_with(|m| m.metadata.as_mut().unwrap()[0].buffer = 77),
        ModelError::IndexOutOfRange { .. }
    );
}

#[test]
fn custom_operator_without_code() {
    assert_err!(
        read_with(|m| {
            let c = &mut m.operator_codes.as_mut().unwrap()[0];
            c.builtin_code = tflite::BuiltinOperator::Custom;
            c.deprecated_builtin_code = 32;
        }),
        ModelError::Invalid { .. }
    );
}

#[test]
fn external_data_offset_outside_file() {
    assert_err!(
        read_with(|m| {
            let b = &mut m.buffers.as_mut().unwrap()[1];
            b.data = None;
            b.offset = 1 << 40;
            b.size = 48;
        }),
        ModelError::Invalid { .. }
    );
}

#[test]
fn intermediate_of_minus_one() {
    assert_err!(
        read_with(|m| op_mut(m, 0).intermediates = Some(vec![-1])),
        ModelError::Invalid { .. }
    );
}

#[test]
fn operator_version_zero() {
    assert_err!(
        read_with(|m| m.operator_codes.as_mut().unwrap()[0].version = 0),
        ModelError::Invalid { .. }
    );
}

/// Every single-byte corruption of a valid file either reads or fails cleanly.
#[test]
fn byte_flips_never_panic() {
    let b = bytes(&base());
    let mut rng = 0x9e3779b97f4a7c15u64;
    for _ in 0..3000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut c = b.clone();
        let pos = (rng as usize) % c.len();
        c[pos] = (rng >> 32) as u8;
        let _ = read_bytes(c);
    }
}
