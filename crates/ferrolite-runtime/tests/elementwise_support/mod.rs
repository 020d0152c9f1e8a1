//! A tiny single-operator model builder shared by the elementwise, logic, softmax and reduction
//! operator tests: operand `i` is tensor `i`, the outputs follow, graph inputs are the non-constant
//! operands.
#![allow(dead_code)]

use ferrolite_model::tflite::{BuiltinOperator, BuiltinOptions};
use ferrolite_model::{Bytes, DType, Model, Operator, Quantization, Subgraph, Tensor};
use ferrolite_runtime::{Interpreter, RuntimeError};

/// One operand of the operator under test.
pub struct Operand {
    tensor: Tensor,
    feed: Option<Vec<u8>>,
}

impl Operand {
    /// Attaches per-tensor quantization.
    pub fn quant(mut self, scale: f32, zero_point: i64) -> Self {
        self.tensor.quantization = Some(Quantization::per_tensor(scale, zero_point));
        self
    }
}

/// Little-endian bytes of a slice of plain values.
pub fn bytes<T: bytemuck::Pod>(data: &[T]) -> Vec<u8> {
    bytemuck::cast_slice(data).to_vec()
}

/// A graph input fed with `data` at run time.
pub fn var<T: bytemuck::Pod>(dtype: DType, shape: &[i32], data: &[T]) -> Operand {
    Operand {
        tensor: Tensor::new("input", dtype, shape.to_vec()),
        feed: Some(bytes(data)),
    }
}

/// A bool graph input.
pub fn var_bool(shape: &[i32], data: &[bool]) -> Operand {
    let raw: Vec<u8> = data.iter().map(|&b| u8::from(b)).collect();
    var(DType::Bool, shape, &raw)
}

/// A constant operand.
pub fn cst<T: bytemuck::Pod>(dtype: DType, shape: &[i32], data: &[T]) -> Operand {
    let mut tensor = Tensor::new("const", dtype, shape.to_vec());
    tensor.data = Some(Bytes::from_vec(bytes(data)));
    Operand { tensor, feed: None }
}

/// An output declaration.
pub fn out(dtype: DType, shape: &[i32]) -> Operand {
    Operand {
        tensor: Tensor::new("out", dtype, shape.to_vec()),
        feed: None,
    }
}

/// The operator under test, before it runs.
pub struct Case {
    model: Model,
    feeds: Vec<(usize, Vec<u8>)>,
    outputs: Vec<usize>,
}

/// Builds a one-operator model (version 1 unless changed with [`Case::version`]).
pub fn case(
    op: BuiltinOperator,
    options: Option<BuiltinOptions>,
    inputs: Vec<Operand>,
    outputs: Vec<Operand>,
) -> Case {
    let mut sg = Subgraph {
        debug_metadata_index: -1,
        ..Subgraph::default()
    };
    let mut feeds = Vec::new();
    let mut op_inputs = Vec::new();
    for (i, mut operand) in inputs.into_iter().enumerate() {
        operand.tensor.name = format!("input{i}");
        if let Some(feed) = operand.feed {
            sg.inputs.push(i);
            feeds.push((i, feed));
        }
        op_inputs.push(Some(i));
        sg.tensors.push(operand.tensor);
    }
    let first_out = sg.tensors.len();
    let out_indices: Vec<usize> = (first_out..first_out + outputs.len()).collect();
    for (k, mut operand) in outputs.into_iter().enumerate() {
        operand.tensor.name = format!("output{k}");
        sg.tensors.push(operand.tensor);
    }
    sg.outputs = out_indices.clone();
    let mut operator = Operator::new(
        op,
        op_inputs,
        out_indices.iter().map(|&i| Some(i)).collect(),
    );
    operator.options = options;
    sg.operators.push(operator);
    let model = Model {
        version: 3,
        subgraphs: vec![sg],
        ..Model::default()
    };
    Case {
        model,
        feeds,
        outputs: out_indices,
    }
}

impl Case {
    /// Sets the operator version.
    pub fn version(mut self, v: i32) -> Self {
        self.model.subgraphs[0].operators[0].version = v;
        self
    }

    /// Allocates, feeds and invokes; returns the interpreter and the output tensor indices.
    pub fn try_run(self) -> Result<Run, RuntimeError> {
        let mut interp = Interpreter::from_model(self.model)?;
        interp.allocate_tensors()?;
        for (i, feed) in &self.feeds {
            interp.set_tensor_bytes(*i, feed)?;
        }
        interp.invoke()?;
        Ok(Run {
            interp,
            outputs: self.outputs,
        })
    }

    /// Like [`Case::try_run`], panicking on error.
    pub fn run(self) -> Run {
        self.try_run().expect("model runs")
    }

    /// The error `allocate_tensors` reports (panics if it succeeds).
    pub fn prepare_err(self) -> RuntimeError {
        let mut interp = Interpreter::from_model(self.model).expect("model validates");
        match interp.allocate_tensors() {
            Err(e) => e,
            Ok(()) => panic!("allocate_tensors unexpectedly succeeded"),
        }
    }
}

/// A finished run.
pub struct Run {
    interp: Interpreter,
    outputs: Vec<usize>,
}

impl Run {
    /// Output `k` as f32.
    pub fn f32(&self, k: usize) -> Vec<f32> {
        self.interp.tensor::<f32>(self.outputs[k]).unwrap().to_vec()
    }

    /// Output `k` as i32.
    pub fn i32(&self, k: usize) -> Vec<i32> {
        self.interp.tensor::<i32>(self.outputs[k]).unwrap().to_vec()
    }

    /// Output `k` as i64.
    pub fn i64(&self, k: usize) -> Vec<i64> {
        self.interp.tensor::<i64>(self.outputs[k]).unwrap().to_vec()
    }

    /// Output `k` as i8.
    pub fn i8(&self, k: usize) -> Vec<i8> {
        self.interp.tensor::<i8>(self.outputs[k]).unwrap().to_vec()
    }

    /// Output `k` as bools (checking every byte is 0 or 1).
    pub fn bools(&self, k: usize) -> Vec<bool> {
        let raw = self.interp.tensor_bytes(self.outputs[k]).unwrap();
        assert!(raw.iter().all(|&b| b <= 1), "bool bytes {raw:?}");
        raw.iter().map(|&b| b == 1).collect()
    }

    /// Output `k`'s resolved shape.
    pub fn shape(&self, k: usize) -> Vec<usize> {
        self.interp.tensor_shape(self.outputs[k]).unwrap().to_vec()
    }
}

/// Asserts elementwise closeness with relative tolerance `tol`.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= tol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan());
        assert!(ok, "element {i}: got {g}, want {w} (got {got:?})");
    }
}

/// True for an `UnsupportedOp` error.
pub fn is_unsupported(e: &RuntimeError) -> bool {
    matches!(e, RuntimeError::UnsupportedOp { .. })
}

/// True for an `InvalidOp` error.
pub fn is_invalid(e: &RuntimeError) -> bool {
    matches!(e, RuntimeError::InvalidOp { .. })
}
