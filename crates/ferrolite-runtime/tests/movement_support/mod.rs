//! A small graph builder shared by the shape, transform, slice, pad, fill and quantize operator
//! tests: tensors are added one by one (graph inputs with the data they are fed, constants,
//! intermediates), operators connect them, and [`Graph::run`] allocates, feeds and invokes.
#![allow(dead_code)]

use ferrolite_model::tflite::{BuiltinOperator, BuiltinOptions};
use ferrolite_model::{Bytes, DType, Model, Operator, Quantization, Subgraph, Tensor};
use ferrolite_runtime::{Interpreter, RuntimeError};

/// Little-endian bytes of a slice of plain values.
pub fn bytes<T: bytemuck::Pod>(data: &[T]) -> Vec<u8> {
    bytemuck::cast_slice(data).to_vec()
}

/// A model under construction.
#[derive(Default)]
pub struct Graph {
    sg: Subgraph,
    feeds: Vec<(usize, Vec<u8>)>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph {
            sg: Subgraph {
                debug_metadata_index: -1,
                ..Subgraph::default()
            },
            feeds: Vec::new(),
        }
    }

    fn push(&mut self, dtype: DType, shape: &[i32]) -> usize {
        let i = self.sg.tensors.len();
        self.sg
            .tensors
            .push(Tensor::new(format!("t{i}"), dtype, shape.to_vec()));
        i
    }

    /// A graph input fed with `data` before `invoke`.
    pub fn input<T: bytemuck::Pod>(&mut self, dtype: DType, shape: &[i32], data: &[T]) -> usize {
        let i = self.push(dtype, shape);
        self.sg.inputs.push(i);
        self.feeds.push((i, bytes(data)));
        i
    }

    /// A constant tensor.
    pub fn constant<T: bytemuck::Pod>(&mut self, dtype: DType, shape: &[i32], data: &[T]) -> usize {
        let i = self.push(dtype, shape);
        self.sg.tensors[i].data = Some(Bytes::from_vec(bytes(data)));
        i
    }

    /// An activation tensor (an operator output); `shape` is the declared static shape.
    pub fn tensor(&mut self, dtype: DType, shape: &[i32]) -> usize {
        self.push(dtype, shape)
    }

    /// Like [`Graph::tensor`], and marks it a graph output.
    pub fn output(&mut self, dtype: DType, shape: &[i32]) -> usize {
        let i = self.push(dtype, shape);
        self.sg.outputs.push(i);
        i
    }

    /// Sets the shape signature (-1 for dynamic dimensions) of tensor `t`.
    pub fn signature(&mut self, t: usize, sig: &[i32]) {
        self.sg.tensors[t].shape_signature = Some(sig.to_vec());
    }

    /// Sets per-tensor quantization on tensor `t`.
    pub fn quant(&mut self, t: usize, scale: f32, zero_point: i64) -> &mut Self {
        self.sg.tensors[t].quantization = Some(Quantization::per_tensor(scale, zero_point));
        self
    }

    /// Sets per-channel quantization on tensor `t`.
    pub fn quant_per_channel(&mut self, t: usize, scales: &[f32], zero_points: &[i64], axis: i32) {
        self.sg.tensors[t].quantization = Some(Quantization {
            scale: scales.to_vec(),
            zero_point: zero_points.to_vec(),
            quantized_dimension: axis,
            ..Quantization::default()
        });
    }

    /// Appends an operator (version 1) and returns it for further tweaks.
    pub fn op(
        &mut self,
        op: BuiltinOperator,
        options: Option<BuiltinOptions>,
        inputs: &[Option<usize>],
        outputs: &[usize],
    ) -> &mut Operator {
        let mut operator = Operator::new(
            op,
            inputs.to_vec(),
            outputs.iter().map(|&o| Some(o)).collect(),
        );
        operator.options = options;
        self.sg.operators.push(operator);
        self.sg.operators.last_mut().expect("just pushed")
    }

    fn model(self) -> (Model, Vec<(usize, Vec<u8>)>) {
        let model = Model {
            version: 3,
            subgraphs: vec![self.sg],
            ..Model::default()
        };
        (model, self.feeds)
    }

    /// Allocates, feeds and invokes.
    pub fn try_run(self) -> Result<Interpreter, RuntimeError> {
        self.try_run_resized(&[])
    }

    /// Like [`Graph::try_run`], resizing inputs `(tensor, shape)` first.
    pub fn try_run_resized(
        self,
        resize: &[(usize, &[usize])],
    ) -> Result<Interpreter, RuntimeError> {
        let (model, feeds) = self.model();
        let mut interp = Interpreter::from_model(model)?;
        for (t, shape) in resize {
            interp.resize_input_tensor(*t, shape)?;
        }
        interp.allocate_tensors()?;
        for (i, feed) in &feeds {
            interp.set_tensor_bytes(*i, feed)?;
        }
        interp.invoke()?;
        Ok(interp)
    }

    /// Like [`Graph::try_run`], panicking on error.
    pub fn run(self) -> Interpreter {
        match self.try_run() {
            Ok(i) => i,
            Err(e) => panic!("model failed: {e}"),
        }
    }

    /// The error `allocate_tensors` reports (panics if it succeeds).
    pub fn prepare_err(self) -> RuntimeError {
        let (model, _) = self.model();
        let mut interp = Interpreter::from_model(model).expect("model validates");
        match interp.allocate_tensors() {
            Err(e) => e,
            Ok(()) => panic!("allocate_tensors unexpectedly succeeded"),
        }
    }
}

/// Builds a graph with one operator: `inputs` are existing tensors, one output of `dtype`
/// (declared `shape`) is created and returned with the graph.
pub fn single(
    g: &mut Graph,
    op: BuiltinOperator,
    options: Option<BuiltinOptions>,
    inputs: &[usize],
    dtype: DType,
    shape: &[i32],
) -> usize {
    let out = g.output(dtype, shape);
    let inputs: Vec<Option<usize>> = inputs.iter().map(|&i| Some(i)).collect();
    g.op(op, options, &inputs, &[out]);
    out
}

/// Typed copy of tensor `t`.
pub fn get<T: ferrolite_runtime::Element>(interp: &Interpreter, t: usize) -> Vec<T> {
    interp.tensor::<T>(t).expect("tensor readable").to_vec()
}

/// Resolved shape of tensor `t`.
pub fn shape(interp: &Interpreter, t: usize) -> Vec<usize> {
    interp.tensor_shape(t).expect("tensor exists").to_vec()
}

/// True for an `UnsupportedOp` error.
pub fn is_unsupported(e: &RuntimeError) -> bool {
    matches!(e, RuntimeError::UnsupportedOp { .. })
}

/// True for an `InvalidOp` error.
pub fn is_invalid(e: &RuntimeError) -> bool {
    matches!(e, RuntimeError::InvalidOp { .. })
}
