//! The interpreter's API contract: allocate → set → invoke → read, resizing, signatures, and
//! errors reported at `allocate_tensors` rather than at `invoke`.

use ferrolite_model::tflite::{self, BuiltinOperator};
use ferrolite_model::{Bytes, DType, Model, OpKind, Operator, Signature, Subgraph, Tensor};
use ferrolite_runtime::{Interpreter, RuntimeError};

fn f32_bytes(v: &[f32]) -> Bytes {
    Bytes::from_vec(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

/// x[-1,3] + c[3] → relu → y, with a signature naming x and y.
fn add_model() -> Model {
    let mut x = Tensor::new("x", DType::F32, vec![1, 3]);
    x.shape_signature = Some(vec![-1, 3]);
    let mut c = Tensor::new("c", DType::F32, vec![3]);
    c.data = Some(f32_bytes(&[1.0, -2.0, 0.5]));
    let mut y = Tensor::new("y", DType::F32, vec![1, 3]);
    y.shape_signature = Some(vec![-1, 3]);
    let mut add = Operator::new(BuiltinOperator::Add, vec![Some(0), Some(1)], vec![Some(2)]);
    add.options = Some(tflite::BuiltinOptions::AddOptions(Box::new(
        tflite::AddOptions {
            fused_activation_function: tflite::ActivationFunctionType::Relu,
            ..Default::default()
        },
    )));
    Model {
        version: 3,
        subgraphs: vec![Subgraph {
            tensors: vec![x, c, y],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![add],
            ..Default::default()
        }],
        signatures: vec![Signature {
            key: "serving_default".into(),
            subgraph_index: 0,
            inputs: vec![("x".into(), 0)],
            outputs: vec![("y".into(), 2)],
        }],
        ..Default::default()
    }
}

#[test]
fn add_with_fused_relu_runs() {
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    interp.allocate_tensors().unwrap();
    let input = &interp.input_details()[0];
    assert_eq!(
        (input.name.as_str(), input.shape.as_slice()),
        ("x", &[1usize, 3][..])
    );
    assert_eq!(input.shape_signature, vec![-1, 3]);
    interp.set_tensor(0, &[1.0f32, 1.0, -3.0]).unwrap();
    interp.invoke().unwrap();
    assert_eq!(interp.tensor::<f32>(2).unwrap(), &[2.0, 0.0, 0.0]);
    assert!(interp.arena_bytes() > 0);
}

#[test]
fn invoke_before_allocate_is_a_state_error() {
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    assert!(matches!(interp.invoke(), Err(RuntimeError::State(_))));
    assert!(matches!(
        interp.tensor::<f32>(2),
        Err(RuntimeError::State(_))
    ));
}

#[test]
fn resize_dynamic_batch_then_reallocate() {
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    interp.resize_input_tensor(0, &[4, 3]).unwrap();
    interp.allocate_tensors().unwrap();
    assert_eq!(interp.output_details()[0].shape, vec![4, 3]);
    let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
    interp.set_tensor(0, &x).unwrap();
    interp.invoke().unwrap();
    let y = interp.tensor::<f32>(2).unwrap();
    assert_eq!(y.len(), 12);
    assert_eq!(&y[9..], &[10.0, 8.0, 11.5]);
    // A static dim cannot change.
    assert!(matches!(
        interp.resize_input_tensor(0, &[4, 5]),
        Err(RuntimeError::Mismatch { .. })
    ));
}

#[test]
fn wrong_dtype_and_length_are_rejected_with_the_input_name() {
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    interp.allocate_tensors().unwrap();
    let e = interp.set_tensor(0, &[1i32, 2, 3]).unwrap_err();
    assert!(
        e.to_string().contains("'x'") && e.to_string().contains("float32"),
        "{e}"
    );
    let e = interp.set_tensor(0, &[1.0f32, 2.0]).unwrap_err();
    assert!(e.to_string().contains("3 elements"), "{e}");
    // Constants are not inputs.
    assert!(interp.set_tensor(1, &[0.0f32; 3]).is_err());
}

#[test]
fn signature_runner_uses_names() {
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    assert_eq!(interp.signature_keys(), vec!["serving_default".to_string()]);
    let mut runner = interp.signature_runner("serving_default").unwrap();
    runner.set_input("x", &[0.0f32, 0.0, 0.0]).unwrap();
    runner.invoke().unwrap();
    assert_eq!(runner.output::<f32>("y").unwrap(), &[1.0, 0.0, 0.5]);
    assert!(runner.output::<f32>("nope").is_err());
    assert!(interp.signature_runner("missing").is_err());
}

#[test]
fn unsupported_operator_is_reported_at_allocate_with_its_tensors() {
    let mut model = add_model();
    model.subgraphs[0].operators[0].kind = OpKind::Custom("MyFancyOp".into());
    let mut interp = Interpreter::from_model(model).unwrap();
    let e = interp.allocate_tensors().unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, RuntimeError::UnsupportedOp { op_index: 0, .. }),
        "{e:?}"
    );
    assert!(
        text.contains("MyFancyOp") && text.contains("x: FLOAT32[1, 3]"),
        "{text}"
    );

    let mut model = add_model();
    model.subgraphs[0].operators[0].kind = OpKind::Builtin(BuiltinOperator::Lstm);
    let e = Interpreter::from_model(model)
        .unwrap()
        .allocate_tensors()
        .unwrap_err();
    assert!(e.to_string().contains("LSTM"), "{e}");
}

#[test]
fn too_new_operator_version_is_refused() {
    let mut model = add_model();
    model.subgraphs[0].operators[0].version = 99;
    let e = Interpreter::from_model(model)
        .unwrap()
        .allocate_tensors()
        .unwrap_err();
    assert!(e.to_string().contains("version 99"), "{e}");
}

#[test]
fn inconsistent_operands_fail_at_allocate() {
    // Wrong operand count.
    let mut model = add_model();
    model.subgraphs[0].operators[0].inputs.push(Some(1));
    assert!(matches!(
        Interpreter::from_model(model).unwrap().allocate_tensors(),
        Err(RuntimeError::InvalidOp { .. })
    ));
    // Shapes that do not broadcast.
    let mut model = add_model();
    model.subgraphs[0].tensors[1].shape = vec![2];
    model.subgraphs[0].tensors[1].data = Some(f32_bytes(&[1.0, 2.0]));
    assert!(Interpreter::from_model(model)
        .unwrap()
        .allocate_tensors()
        .is_err());
    // Mixed dtypes.
    let mut model = add_model();
    model.subgraphs[0].tensors[1].dtype = DType::I32;
    model.subgraphs[0].tensors[1].data = Some(Bytes::from_vec(vec![0; 12]));
    assert!(Interpreter::from_model(model)
        .unwrap()
        .allocate_tensors()
        .is_err());
}

#[test]
fn constant_subgraphs_are_folded_at_allocate() {
    // c + c (both constant) feeds the ADD with x: the first ADD is folded, one step remains.
    let mut model = add_model();
    let sg = &mut model.subgraphs[0];
    sg.tensors.push(Tensor::new("cc", DType::F32, vec![3]));
    let fold = Operator::new(BuiltinOperator::Add, vec![Some(1), Some(1)], vec![Some(3)]);
    sg.operators.insert(0, fold);
    sg.operators[1].inputs[1] = Some(3);
    let mut interp = Interpreter::from_model(model).unwrap();
    interp.allocate_tensors().unwrap();
    assert_eq!(interp.tensor::<f32>(3).unwrap(), &[2.0, -4.0, 1.0]);
    interp.set_tensor(0, &[0.0f32, 5.0, 0.0]).unwrap();
    interp.invoke().unwrap();
    assert_eq!(interp.tensor::<f32>(2).unwrap(), &[2.0, 1.0, 1.0]);
}

#[test]
fn preserve_all_tensors_keeps_intermediates_readable() {
    // x → ADD(c) → t1 → ADD(c) → t2 → ADD(c) → y: without preservation t1's bytes are reused.
    let mut model = add_model();
    let sg = &mut model.subgraphs[0];
    sg.tensors.push(Tensor::new("t1", DType::F32, vec![1, 3]));
    sg.tensors.push(Tensor::new("t2", DType::F32, vec![1, 3]));
    let plain = |i, o| Operator::new(BuiltinOperator::Add, vec![Some(i), Some(1)], vec![Some(o)]);
    sg.operators = vec![plain(0, 3), plain(3, 4), plain(4, 2)];
    let mut reused = Interpreter::from_model(model.clone()).unwrap();
    reused.allocate_tensors().unwrap();
    let mut kept = Interpreter::from_model(model).unwrap();
    kept.set_preserve_all_tensors(true);
    kept.allocate_tensors().unwrap();
    assert!(kept.arena_bytes() > reused.arena_bytes());
    kept.set_tensor(0, &[0.0f32, 0.0, 0.0]).unwrap();
    kept.invoke().unwrap();
    assert_eq!(kept.tensor::<f32>(3).unwrap(), &[1.0, -2.0, 0.5]);
    assert_eq!(kept.tensor::<f32>(4).unwrap(), &[2.0, -4.0, 1.0]);
    assert_eq!(kept.tensor::<f32>(2).unwrap(), &[3.0, -6.0, 1.5]);
}

#[test]
fn profiled_invoke_times_every_executed_operator() {
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    interp.allocate_tensors().unwrap();
    interp.set_tensor(0, &[1.0f32, 1.0, 1.0]).unwrap();
    let timings = interp.invoke_profiled().unwrap();
    assert_eq!(timings.len(), 1);
    assert_eq!((timings[0].op_index, timings[0].op.as_str()), (0, "ADD"));
    assert_eq!(interp.tensor::<f32>(2).unwrap(), &[2.0, 0.0, 1.5]);
}

/// A memory limit refuses a model whose arena would exceed it, naming the largest tensor, and a
/// shape too large to address is an error at `allocate_tensors`, not an abort.
#[test]
fn memory_limit_and_unaddressable_shapes_are_errors() {
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    interp.resize_input_tensor(0, &[1000, 3]).unwrap();
    interp.set_memory_limit(Some(4096));
    let err = interp.allocate_tensors().unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Memory {
                limit: Some(4096),
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("memory limit of 4096 bytes"), "{msg}");
    assert!(msg.contains("12000 bytes"), "{msg}");
    interp.set_memory_limit(Some(1 << 20));
    interp.allocate_tensors().unwrap();

    // 2^62 rows of 3 floats: the element count overflows the address space.
    let mut interp = Interpreter::from_model(add_model()).unwrap();
    interp
        .resize_input_tensor(0, &[1usize << 62, 3])
        .and_then(|()| interp.allocate_tensors())
        .unwrap_err();
}

/// Operators with more operands than the interpreter keeps on the stack (10 inputs into
/// CONCATENATION, 10 outputs out of SPLIT) run through its heap fallback with the same results.
#[test]
fn operators_with_many_operands_run() {
    let n = 10;
    let mut tensors: Vec<Tensor> = (0..n)
        .map(|i| Tensor::new(format!("x{i}"), DType::F32, vec![1, 2]))
        .collect();
    tensors.push(Tensor::new("cat", DType::F32, vec![n as i32, 2]));
    let mut axis = Tensor::new("axis", DType::I32, vec![]);
    axis.data = Some(Bytes::from_vec(0i32.to_le_bytes().to_vec()));
    tensors.push(axis);
    for i in 0..n {
        tensors.push(Tensor::new(format!("y{i}"), DType::F32, vec![1, 2]));
    }
    let mut concat = Operator::new(
        BuiltinOperator::Concatenation,
        (0..n).map(Some).collect(),
        vec![Some(n)],
    );
    concat.options = Some(tflite::BuiltinOptions::ConcatenationOptions(Box::new(
        tflite::ConcatenationOptions {
            axis: 0,
            ..Default::default()
        },
    )));
    let mut split = Operator::new(
        BuiltinOperator::Split,
        vec![Some(n + 1), Some(n)],
        (n + 2..2 * n + 2).map(Some).collect(),
    );
    split.options = Some(tflite::BuiltinOptions::SplitOptions(Box::new(
        tflite::SplitOptions {
            num_splits: n as i32,
        },
    )));
    let model = Model {
        version: 3,
        subgraphs: vec![Subgraph {
            tensors,
            inputs: (0..n).collect(),
            outputs: (n + 2..2 * n + 2).collect(),
            operators: vec![concat, split],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut interp = Interpreter::from_model(model).unwrap();
    interp.allocate_tensors().unwrap();
    for i in 0..n {
        interp
            .set_tensor(i, &[i as f32, -(i as f32) - 0.5])
            .unwrap();
    }
    interp.invoke().unwrap();
    for i in 0..n {
        let y: &[f32] = interp.tensor(n + 2 + i).unwrap();
        assert_eq!(y, [i as f32, -(i as f32) - 0.5], "output {i}");
    }
}
