//! The ferrolite interpreter: it runs `.tflite` models held in the `ferrolite-model` IR.
//!
//! [`Interpreter`] has the familiar TFLite shape (load, `allocate_tensors`, input/output details,
//! `set_tensor`, `invoke`, `tensor`, resize, signature runners). Operator glue lives in [`ops`]
//! (one module per op family: validation, shape inference, kernel binding) and the arithmetic in
//! [`kernels`] (plain functions over slices, a scalar reference for each, SIMD dropped in beside).

pub mod error;
pub mod interpreter;
pub mod kernels;
pub mod ops;
pub mod planner;
pub mod tensor;

pub use error::{Result, RuntimeError};
pub use interpreter::{
    Interpreter, InterpreterOptions, OpTiming, QuantizationDetails, SignatureRunner, TensorDetails,
};
pub use tensor::Element;
