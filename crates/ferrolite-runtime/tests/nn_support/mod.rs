//! A one-operator model builder for the conv / matmul / pool / resize operator tests.
//!
//! Operand `i` of the operator is tensor `i` (omitted optional operands take no tensor), outputs
//! follow; graph inputs are the fed (non-constant) operands, fed in operand order.
#![allow(dead_code)]

use ferrolite_model::tflite::{BuiltinOperator, BuiltinOptions};
use ferrolite_model::{Bytes, DType, Model, Operator, Subgraph, Tensor};
use ferrolite_runtime::{Interpreter, RuntimeError};

/// One operand of the operator under test.
pub enum Operand {
    /// A graph input with the bytes to feed.
    Fed(Tensor, Vec<u8>),
    /// A constant tensor.
    Const(Tensor),
    /// An omitted optional operand (`-1` in the file).
    Omitted,
}

/// A float32 graph input of `shape` fed with `data`.
pub fn input_f32(shape: &[i32], data: &[f32]) -> Operand {
    Operand::Fed(
        Tensor::new("in", DType::F32, shape.to_vec()),
        bytemuck::cast_slice(data).to_vec(),
    )
}

/// A graph input of any dtype fed with raw bytes.
pub fn input_raw(dtype: DType, shape: &[i32], data: Vec<u8>) -> Operand {
    Operand::Fed(Tensor::new("in", dtype, shape.to_vec()), data)
}

/// A constant of any plain element type.
pub fn constant<T: bytemuck::Pod>(dtype: DType, shape: &[i32], data: &[T]) -> Operand {
    let mut t = Tensor::new("const", dtype, shape.to_vec());
    t.data = Some(Bytes::from_vec(bytemuck::cast_slice(data).to_vec()));
    Operand::Const(t)
}

/// A float32 constant.
pub fn const_f32(shape: &[i32], data: &[f32]) -> Operand {
    constant(DType::F32, shape, data)
}

/// An int32 constant.
pub fn const_i32(shape: &[i32], data: &[i32]) -> Operand {
    constant(DType::I32, shape, data)
}

/// The operator under test, before it runs.
pub struct Case {
    model: Model,
    feeds: Vec<(usize, Vec<u8>)>,
    output: usize,
}

/// A one-operator model with one output tensor declared as `out_dtype` (shape left to prepare).
pub fn case(
    op: BuiltinOperator,
    options: Option<BuiltinOptions>,
    operands: Vec<Operand>,
    out_dtype: DType,
) -> Case {
    let mut sg = Subgraph {
        debug_metadata_index: -1,
        ..Subgraph::default()
    };
    let mut feeds = Vec::new();
    let mut op_inputs = Vec::new();
    for (k, operand) in operands.into_iter().enumerate() {
        let (mut tensor, feed) = match operand {
            Operand::Fed(t, bytes) => (t, Some(bytes)),
            Operand::Const(t) => (t, None),
            Operand::Omitted => {
                op_inputs.push(None);
                continue;
            }
        };
        let index = sg.tensors.len();
        tensor.name = format!("operand{k}");
        if let Some(bytes) = feed {
            sg.inputs.push(index);
            feeds.push((index, bytes));
        }
        op_inputs.push(Some(index));
        sg.tensors.push(tensor);
    }
    let output = sg.tensors.len();
    sg.tensors.push(Tensor::new("output", out_dtype, vec![]));
    sg.outputs = vec![output];
    let mut operator = Operator::new(op, op_inputs, vec![Some(output)]);
    operator.options = options;
    sg.operators.push(operator);
    Case {
        model: Model {
            version: 3,
            subgraphs: vec![sg],
            ..Model::default()
        },
        feeds,
        output,
    }
}

impl Case {
    /// Sets the operator version.
    pub fn version(mut self, v: i32) -> Self {
        self.model.subgraphs[0].operators[0].version = v;
        self
    }

    /// Allocates, feeds, invokes; returns the output values and shape.
    pub fn try_run(self) -> Result<(Vec<f32>, Vec<usize>), RuntimeError> {
        let mut interp = Interpreter::from_model(self.model)?;
        interp.allocate_tensors()?;
        for (i, bytes) in &self.feeds {
            interp.set_tensor_bytes(*i, bytes)?;
        }
        interp.invoke()?;
        Ok((
            interp.tensor::<f32>(self.output)?.to_vec(),
            interp.tensor_shape(self.output)?.to_vec(),
        ))
    }

    /// Like [`Case::try_run`], panicking on error.
    pub fn run(self) -> (Vec<f32>, Vec<usize>) {
        self.try_run().expect("model runs")
    }

    /// The error `allocate_tensors` reports (panics if it succeeds).
    pub fn prepare_err(self) -> RuntimeError {
        let mut interp = Interpreter::from_model(self.model).expect("model loads");
        match interp.allocate_tensors() {
            Err(e) => e,
            Ok(()) => panic!("allocate_tensors unexpectedly succeeded"),
        }
    }
}

/// Asserts elementwise closeness with relative tolerance `tol`.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "element {i}: got {g}, want {w} (all: {got:?})"
        );
    }
}

/// Asserts `e` is an `UnsupportedOp` whose reason contains `needle`.
pub fn assert_unsupported(e: &RuntimeError, needle: &str) {
    match e {
        RuntimeError::UnsupportedOp { reason, .. } => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            )
        }
        other => panic!("expected UnsupportedOp, got {other}"),
    }
}

/// Asserts `e` is an `InvalidOp` error.
pub fn assert_invalid(e: &RuntimeError) {
    assert!(
        matches!(e, RuntimeError::InvalidOp { .. }),
        "expected InvalidOp, got {e}"
    );
}
