//! The one error type of `ferrolite-runtime`.

use crate::kernels::common::KernelError;
use ferrolite_model::ModelError;

/// Result alias for this crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A problem loading, preparing or running a model.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model could not be read or is invalid.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// No kernel exists for an operator (reported at `allocate_tensors`, before any `invoke`).
    #[error("operator {op_index} ({op} v{version}) is not supported: {reason}; inputs {inputs:?} -> outputs {outputs:?}")]
    UnsupportedOp {
        /// Position of the operator in execution order.
        op_index: usize,
        /// Operator name.
        op: String,
        /// Operator version.
        version: i32,
        /// Why (no kernel, dtype combination, version).
        reason: String,
        /// Input tensors as `name: dtype[shape]`.
        inputs: Vec<String>,
        /// Output tensors as `name: dtype[shape]`.
        outputs: Vec<String>,
    },
    /// An operator's operands are inconsistent (wrong count, shape or dtype).
    #[error("operator {op_index} ({op}): {reason}")]
    InvalidOp {
        /// Position of the operator in execution order.
        op_index: usize,
        /// Operator name.
        op: String,
        /// What is wrong.
        reason: String,
    },
    /// An operator needs the *value* of a tensor to know its output shape (FILL's dims, RANGE's
    /// limits), and that value is not known before `invoke`. The interpreter then prepares again
    /// at every `invoke`, once the inputs are set.
    #[error("operator {op_index} ({op}): input {input} ('{name}') must be a constant or computable before invoke")]
    NeedsValue {
        /// Position of the operator in execution order.
        op_index: usize,
        /// Operator name.
        op: String,
        /// Which input.
        input: usize,
        /// Its tensor name.
        name: String,
    },
    /// A kernel refused its operands while running.
    #[error("operator {op_index} ({op}) failed: {source}")]
    Kernel {
        /// Position of the operator in execution order.
        op_index: usize,
        /// Operator name.
        op: String,
        /// The kernel's error.
        source: KernelError,
    },
    /// An API call referred to a tensor that does not exist or has the wrong kind.
    #[error("tensor {index}: {reason}")]
    Tensor {
        /// Tensor index in the subgraph.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Data given for a tensor does not match its dtype or shape.
    #[error("input '{name}' (tensor {index}): expected {expected}, got {got}")]
    Mismatch {
        /// Tensor name.
        name: String,
        /// Tensor index.
        index: usize,
        /// Expected dtype/shape.
        expected: String,
        /// What was given.
        got: String,
    },
    /// The model needs more memory than the interpreter's limit allows, or than the allocator
    /// could provide (`limit` is `None` then).
    #[error("{what} needs {needed} bytes{}", match limit {
        Some(l) => format!(", over the interpreter's memory limit of {l} bytes"),
        None => ", which could not be allocated".to_string(),
    })]
    Memory {
        /// What needed the memory (the arena and its largest tensor, or a folded operator).
        what: String,
        /// Bytes needed.
        needed: usize,
        /// The configured limit, if any.
        limit: Option<usize>,
    },
    /// A call came in the wrong order (e.g. `invoke` before `allocate_tensors`).
    #[error("{0}")]
    State(String),
    /// A named signature, input or output does not exist.
    #[error("{0}")]
    NotFound(String),
}
