//! The in-memory model: subgraphs of tensors and operators, signatures and metadata.
//!
//! This is the IR every ferrolite crate speaks. It mirrors the `.tflite` structure closely enough to
//! round-trip any file, but resolves the indirections a pass should never have to think about:
//! tensors own their constant data (no buffer table), operators carry their opcode (no opcode table),
//! optional operands are `None` instead of `-1`, and large out-of-flatbuffer data is inlined.

use crate::bytes::Bytes;
use crate::dtype::DType;
use ferrolite_schema::tflite;

/// A whole model: what one `.tflite` file holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Model {
    /// Schema version (always 3 for files LiteRT reads).
    pub version: u32,
    /// Free-text description (TF's converter writes "MLIR Converted.").
    pub description: Option<String>,
    /// Subgraphs; index 0 is the main graph.
    pub subgraphs: Vec<Subgraph>,
    /// Named entry points (`serving_default`, ...).
    pub signatures: Vec<Signature>,
    /// Named metadata blobs (`min_runtime_version`, `CONVERSION_METADATA`, TFLite Support metadata).
    pub metadata: Vec<Metadata>,
    /// Contents of the deprecated `metadata_buffer` list, kept so files round-trip.
    pub legacy_metadata_buffers: Vec<Bytes>,
}

/// One graph: tensors, the operators that connect them (in execution order), and its boundary.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subgraph {
    /// Optional name (`main`, branch names of control flow).
    pub name: Option<String>,
    /// All tensors of the graph, addressed by index.
    pub tensors: Vec<Tensor>,
    /// Indices of the graph's input tensors.
    pub inputs: Vec<usize>,
    /// Indices of the graph's output tensors.
    pub outputs: Vec<usize>,
    /// Operators in execution order.
    pub operators: Vec<Operator>,
    /// Index into debug metadata, -1 when absent.
    pub debug_metadata_index: i32,
}

/// A tensor: an activation, a constant (when `data` is set) or a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Name as the converter recorded it.
    pub name: String,
    /// Static shape (NHWC for images); dims are non-negative.
    pub shape: Vec<i32>,
    /// Shape with `-1` for dynamic dims, when the file records one.
    pub shape_signature: Option<Vec<i32>>,
    /// Element type.
    pub dtype: DType,
    /// Constant contents (little-endian, dense or sparse-encoded), `None` for activations.
    pub data: Option<Bytes>,
    /// Quantization parameters, when present.
    pub quantization: Option<Quantization>,
    /// True for variable tensors (state kept across invocations).
    pub is_variable: bool,
    /// Sparse encoding of `data`, when the constant is stored sparse.
    pub sparsity: Option<tflite::SparsityParameters>,
    /// False when the rank itself is unknown (shape is then meaningless).
    pub has_rank: bool,
    /// Element types of variant tensors (TensorList and friends).
    pub variant_tensors: Vec<tflite::VariantSubType>,
}

impl Tensor {
    /// A new activation tensor with no data and no quantization.
    pub fn new(name: impl Into<String>, dtype: DType, shape: Vec<i32>) -> Self {
        Tensor {
            name: name.into(),
            shape,
            shape_signature: None,
            dtype,
            data: None,
            quantization: None,
            is_variable: false,
            sparsity: None,
            has_rank: false,
            variant_tensors: Vec::new(),
        }
    }

    /// Number of elements of the static shape (1 for scalars), `None` on overflow or negative dims.
    pub fn element_count(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        })
    }

    /// True when the tensor is a constant (has data).
    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }
}

/// Affine quantization parameters: `real = (q - zero_point) * scale`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quantization {
    /// Calibrated minimum per channel (optional, recorded by calibration).
    pub min: Vec<f32>,
    /// Calibrated maximum per channel (optional).
    pub max: Vec<f32>,
    /// Scale per tensor (one value) or per channel.
    pub scale: Vec<f32>,
    /// Zero point per tensor or per channel.
    pub zero_point: Vec<i64>,
    /// The channel dimension when per-channel.
    pub quantized_dimension: i32,
    /// Non-affine quantization details (custom, blockwise); other fields are then ignored.
    pub details: Option<tflite::QuantizationDetails>,
}

impl Quantization {
    /// Per-tensor parameters.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Quantization {
            scale: vec![scale],
            zero_point: vec![zero_point],
            ..Default::default()
        }
    }

    /// True when more than one scale is given (one per channel along `quantized_dimension`).
    pub fn is_per_channel(&self) -> bool {
        self.scale.len() > 1
    }

    /// True when nothing is set (the converter sometimes writes an empty table).
    pub fn is_empty(&self) -> bool {
        self.min.is_empty()
            && self.max.is_empty()
            && self.scale.is_empty()
            && self.zero_point.is_empty()
            && self.details.is_none()
    }
}

/// What an operator is: a builtin (by TFLite's enum) or a custom op (by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// A builtin operator.
    Builtin(tflite::BuiltinOperator),
    /// A custom operator with its `custom_code` (builtin code CUSTOM).
    Custom(String),
}

impl OpKind {
    /// Display name: the builtin's upper-case name (`CONV_2D`) or the custom code.
    pub fn name(&self) -> String {
        match self {
            OpKind::Builtin(op) => crate::names::builtin_name(*op),
            OpKind::Custom(code) => code.clone(),
        }
    }

    /// The builtin operator, or `CUSTOM` for custom ops.
    pub fn builtin(&self) -> tflite::BuiltinOperator {
        match self {
            OpKind::Builtin(op) => *op,
            OpKind::Custom(_) => tflite::BuiltinOperator::Custom,
        }
    }
}

/// One operator application.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    /// Which operator.
    pub kind: OpKind,
    /// Operator version (from the opcode table); kernels differ by version.
    pub version: i32,
    /// Input tensor indices; `None` marks an omitted optional input.
    pub inputs: Vec<Option<usize>>,
    /// Output tensor indices; `None` marks an omitted optional output.
    pub outputs: Vec<Option<usize>>,
    /// Typed builtin options.
    pub options: Option<tflite::BuiltinOptions>,
    /// Typed options from the second options union (StableHLO and newer ops).
    pub options_2: Option<tflite::BuiltinOptions2>,
    /// Custom options bytes, kept verbatim.
    pub custom_options: Option<Bytes>,
    /// Encoding of `custom_options`.
    pub custom_options_format: tflite::CustomOptionsFormat,
    /// Which inputs the op mutates (variables).
    pub mutating_variable_inputs: Vec<bool>,
    /// Intermediate tensors (for example LSTM's int16 intermediates).
    pub intermediates: Vec<usize>,
    /// Index into debug metadata, -1 when absent.
    pub debug_metadata_index: i32,
}

impl Operator {
    /// A builtin operator with version 1 and no options.
    pub fn new(
        op: tflite::BuiltinOperator,
        inputs: Vec<Option<usize>>,
        outputs: Vec<Option<usize>>,
    ) -> Self {
        Operator {
            kind: OpKind::Builtin(op),
            version: 1,
            inputs,
            outputs,
            options: None,
            options_2: None,
            custom_options: None,
            custom_options_format: tflite::CustomOptionsFormat::Flexbuffers,
            mutating_variable_inputs: Vec::new(),
            intermediates: Vec::new(),
            debug_metadata_index: -1,
        }
    }
}

/// A named entry point into one subgraph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    /// The key (`serving_default`).
    pub key: String,
    /// Subgraph it runs.
    pub subgraph_index: usize,
    /// Input names mapped to tensor indices of that subgraph.
    pub inputs: Vec<(String, usize)>,
    /// Output names mapped to tensor indices of that subgraph.
    pub outputs: Vec<(String, usize)>,
}

/// A named metadata blob.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// Name (`min_runtime_version`, `CONVERSION_METADATA`, `TFLITE_METADATA`, ...).
    pub name: String,
    /// Raw contents.
    pub data: Bytes,
}
