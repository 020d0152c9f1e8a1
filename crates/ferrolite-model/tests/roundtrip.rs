//! Read → write → read keeps every field; the written bytes follow the layout LiteRT expects.

mod common;

use common::*;
use ferrolite_model::{read_bytes, tflite, write_bytes, DType, OpKind, Operator};
use planus::ReadAsRoot;

#[test]
fn hand_made_model_round_trips() {
    let original = read_bytes(bytes(&base())).unwrap();
    let written = write_bytes(&original).unwrap();
    let again = read_bytes(written.clone()).unwrap();
    assert_eq!(original, again);
    assert_eq!(&written[4..8], b"TFL3");

    let sg = &again.subgraphs[0];
    assert_eq!(sg.tensors[4].dtype, DType::I8);
    assert_eq!(
        sg.tensors[4].quantization.as_ref().unwrap().scale,
        vec![0.5, 0.25]
    );
    assert_eq!(sg.tensors[0].shape_signature, Some(vec![-1, 4]));
    assert_eq!(again.signatures[0].key, "serving_default");
    assert_eq!(again.metadata[0].name, "min_runtime_version");
    assert_eq!(&*again.metadata[0].data, b"1.5.0\0\0\0");
}

#[test]
fn written_buffers_are_aligned_and_buffer_zero_is_empty() {
    let model = read_bytes(bytes(&base())).unwrap();
    let written = write_bytes(&model).unwrap();
    let root = tflite::ModelRef::read_as_root(&written).unwrap();
    let buffers = root.buffers().unwrap().unwrap();
    let first = buffers.get(0).unwrap().unwrap();
    assert!(first.data().unwrap().is_none_or(|d| d.is_empty()));
    let base = written.as_ptr() as usize;
    let mut with_data = 0;
    for b in buffers.iter() {
        if let Some(d) = b.unwrap().data().unwrap() {
            if !d.is_empty() {
                with_data += 1;
                assert_eq!(
                    (d.as_ptr() as usize - base) % 16,
                    0,
                    "buffer data not 16-byte aligned"
                );
            }
        }
    }
    // weights, bias, int8 constant, metadata.
    assert_eq!(with_data, 4);
}

#[test]
fn opcodes_are_deduplicated_by_kind_and_version() {
    let mut model = read_bytes(bytes(&base())).unwrap();
    let sg = &mut model.subgraphs[0];
    let relu = |v| {
        let mut op = Operator::new(tflite::BuiltinOperator::Relu, vec![Some(3)], vec![Some(3)]);
        op.version = v;
        op
    };
    let fc = sg.operators[0].clone();
    sg.operators = vec![fc.clone(), relu(1), fc, relu(2), relu(1)];
    let mut custom = Operator::new(
        tflite::BuiltinOperator::Custom,
        vec![Some(0)],
        vec![Some(3)],
    );
    custom.kind = OpKind::Custom("MyOp".into());
    custom.custom_options = Some(vec![1u8, 2, 3].into());
    sg.operators.push(custom);
    let written = write_bytes(&model).unwrap();
    let root = tflite::ModelRef::read_as_root(&written).unwrap();
    assert_eq!(root.operator_codes().unwrap().unwrap().len(), 4);
    let again = read_bytes(written).unwrap();
    assert_eq!(again, model);
    let last = again.subgraphs[0].operators.last().unwrap();
    assert_eq!(last.kind, OpKind::Custom("MyOp".into()));
    assert_eq!(last.custom_options.as_deref(), Some(&[1u8, 2, 3][..]));
}

#[test]
fn large_opcodes_use_the_extended_field() {
    let mut model = read_bytes(bytes(&base())).unwrap();
    let gelu = Operator::new(tflite::BuiltinOperator::Gelu, vec![Some(3)], vec![Some(3)]);
    model.subgraphs[0].operators.push(gelu);
    let written = write_bytes(&model).unwrap();
    let root = tflite::ModelRef::read_as_root(&written).unwrap();
    let codes = root.operator_codes().unwrap().unwrap();
    let c = codes.get(1).unwrap().unwrap();
    assert_eq!(c.deprecated_builtin_code().unwrap(), 127);
    assert_eq!(c.builtin_code().unwrap(), tflite::BuiltinOperator::Gelu);
    assert_eq!(read_bytes(written).unwrap(), model);
}

#[test]
fn writer_refuses_invalid_models() {
    let mut model = read_bytes(bytes(&base())).unwrap();
    model.subgraphs[0].operators[0].inputs[0] = Some(100);
    assert!(write_bytes(&model).is_err());
}

#[test]
fn atomic_write_leaves_no_partial_file_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let model = read_bytes(bytes(&base())).unwrap();
    let path = dir.path().join("m.tflite");
    ferrolite_model::write_file(&model, &path).unwrap();
    assert_eq!(ferrolite_model::read_file(&path).unwrap(), model);

    // An invalid model must not replace or create anything.
    let mut broken = model.clone();
    broken.subgraphs[0].inputs = vec![99];
    assert!(ferrolite_model::write_file(&broken, &path).is_err());
    assert_eq!(ferrolite_model::read_file(&path).unwrap(), model);
    // Writing into a missing directory fails without leaving a temp file behind.
    assert!(ferrolite_model::write_file(&model, dir.path().join("no/such/dir/m.tflite")).is_err());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1);
}
