//! A one-operator model builder for the quantized op-glue tests: operands carry per-tensor or
//! per-channel quantization, and the float reference helpers (dequantize, quantize, compare within
//! a few LSB) the tests check the integer results against.
#![allow(dead_code)]

use ferrolite_model::tflite::{BuiltinOperator, BuiltinOptions};
use ferrolite_model::{Bytes, DType, Model, Operator, Quantization, Subgraph, Tensor};
use ferrolite_runtime::tensor::Element;
use ferrolite_runtime::{Interpreter, RuntimeError};

/// One operand (or output declaration) of the operator under test.
pub struct Spec {
    tensor: Tensor,
    feed: Option<Vec<u8>>,
}

impl Spec {
    /// Per-tensor quantization.
    pub fn q(mut self, scale: f32, zero_point: i64) -> Self {
        self.tensor.quantization = Some(Quantization::per_tensor(scale, zero_point));
        self
    }

    /// Per-channel quantization along `axis` (zero points 0).
    pub fn qc(mut self, scales: &[f32], axis: i32) -> Self {
        self.tensor.quantization = Some(Quantization {
            scale: scales.to_vec(),
            zero_point: vec![0; scales.len()],
            quantized_dimension: axis,
            ..Default::default()
        });
        self
    }
}

/// A graph input fed with `data`.
pub fn fed<T: bytemuck::Pod>(dtype: DType, shape: &[i32], data: &[T]) -> Spec {
    Spec {
        tensor: Tensor::new("in", dtype, shape.to_vec()),
        feed: Some(bytemuck::cast_slice(data).to_vec()),
    }
}

/// A constant operand.
pub fn konst<T: bytemuck::Pod>(dtype: DType, shape: &[i32], data: &[T]) -> Spec {
    let mut tensor = Tensor::new("const", dtype, shape.to_vec());
    tensor.data = Some(Bytes::from_vec(bytemuck::cast_slice(data).to_vec()));
    Spec { tensor, feed: None }
}

/// An output declaration (shape left to prepare).
pub fn decl(dtype: DType) -> Spec {
    Spec {
        tensor: Tensor::new("out", dtype, vec![]),
        feed: None,
    }
}

/// The one-operator model, before it runs.
pub struct Single {
    model: Model,
    feeds: Vec<(usize, Vec<u8>)>,
    outputs: Vec<usize>,
}

/// Builds a one-operator model; `None` inputs are omitted optional operands.
pub fn single(
    op: BuiltinOperator,
    options: Option<BuiltinOptions>,
    inputs: Vec<Option<Spec>>,
    outputs: Vec<Spec>,
) -> Single {
    let mut sg = Subgraph {
        debug_metadata_index: -1,
        ..Subgraph::default()
    };
    let mut feeds = Vec::new();
    let mut op_inputs = Vec::new();
    for (k, spec) in inputs.into_iter().enumerate() {
        let Some(mut spec) = spec else {
            op_inputs.push(None);
            continue;
        };
        let index = sg.tensors.len();
        spec.tensor.name = format!("operand{k}");
        if let Some(feed) = spec.feed {
            sg.inputs.push(index);
            feeds.push((index, feed));
        }
        op_inputs.push(Some(index));
        sg.tensors.push(spec.tensor);
    }
    let mut outs = Vec::new();
    for (k, mut spec) in outputs.into_iter().enumerate() {
        spec.tensor.name = format!("output{k}");
        outs.push(sg.tensors.len());
        sg.tensors.push(spec.tensor);
    }
    sg.outputs = outs.clone();
    let mut operator = Operator::new(op, op_inputs, outs.iter().map(|&i| Some(i)).collect());
    operator.options = options;
    sg.operators.push(operator);
    Single {
        model: Model {
            version: 3,
            subgraphs: vec![sg],
            ..Model::default()
        },
        feeds,
        outputs: outs,
    }
}

impl Single {
    /// Allocates, feeds and invokes; returns output 0.
    pub fn run<T: Element>(self) -> Vec<T> {
        let mut interp = Interpreter::from_model(self.model).expect("model loads");
        interp.allocate_tensors().expect("allocate_tensors");
        for (i, bytes) in &self.feeds {
            interp.set_tensor_bytes(*i, bytes).expect("feed");
        }
        interp.invoke().expect("invoke");
        interp.tensor::<T>(self.outputs[0]).unwrap().to_vec()
    }

    /// The error `allocate_tensors` reports (panics if it succeeds).
    pub fn err(self) -> RuntimeError {
        let mut interp = Interpreter::from_model(self.model).expect("model loads");
        match interp.allocate_tensors() {
            Err(e) => e,
            Ok(()) => panic!("allocate_tensors unexpectedly succeeded"),
        }
    }
}

/// Real values of quantized codes.
pub fn deq<T: Copy + Into<i64>>(q: &[T], scale: f32, zero_point: i64) -> Vec<f32> {
    q.iter()
        .map(|&v| (v.into() - zero_point) as f32 * scale)
        .collect()
}

/// Codes of real values, rounded half away from zero and clamped to `[lo, hi]`.
pub fn quantize(x: &[f32], scale: f32, zero_point: i64, lo: i64, hi: i64) -> Vec<i64> {
    x.iter()
        .map(|&v| ((f64::from(v) / f64::from(scale)).round() as i64 + zero_point).clamp(lo, hi))
        .collect()
}

/// Asserts every code is within `tol` of the reference (and that some are not trivially equal).
pub fn assert_within<T: Copy + Into<i64>>(got: &[T], want: &[i64], tol: i64) {
    assert_eq!(got.len(), want.len(), "length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g: i64 = g.into();
        assert!((g - w).abs() <= tol, "element {i}: got {g}, reference {w}");
    }
}

/// Deterministic pseudo-random codes in `[lo, hi]`.
pub fn codes(n: usize, seed: u32, lo: i32, hi: i32) -> Vec<i32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            lo + ((s >> 8) % (hi - lo + 1) as u32) as i32
        })
        .collect()
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

/// Asserts `e` is an `InvalidOp` whose reason contains `needle`.
pub fn assert_invalid(e: &RuntimeError, needle: &str) {
    match e {
        RuntimeError::InvalidOp { reason, .. } => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            )
        }
        other => panic!("expected InvalidOp, got {other}"),
    }
}
