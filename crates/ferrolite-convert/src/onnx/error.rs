//! Errors of the ONNX importer.
//!
//! Every variant names the file, the node (with its op type), the initializer or the attribute
//! at fault. Unsupported ops are collected over the whole graph first and reported once, with
//! the GraphDef importer's [`UnsupportedOps`] (every op type with its count and node names).

use crate::graphdef::UnsupportedOps;
use std::path::PathBuf;

/// Result alias of the ONNX importer.
pub type Result<T, E = OnnxError> = std::result::Result<T, E>;

/// Why an ONNX conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a serialized ONNX `ModelProto` (truncated, or another format).
    #[error("{file}: not an ONNX model: {message}")]
    Decode {
        /// The file.
        file: String,
        /// The protobuf decoder's message, or what is wrong.
        message: String,
    },
    /// The model imports a version of the default ONNX operator set outside the supported range.
    #[error(
        "the model uses ONNX opset {version}; ferrolite converts opsets {min} to {max} \
         (re-export the model with a supported opset)"
    )]
    Opset {
        /// The opset version of the default domain.
        version: i64,
        /// Lowest supported version.
        min: i64,
        /// Highest supported version.
        max: i64,
    },
    /// An initializer keeps its data in an external file, which ferrolite does not read.
    #[error(
        "tensor `{tensor}` stores its data in external file `{location}`; ferrolite reads \
         self-contained models only (save with onnx.save_model(..., save_as_external_data=False))"
    )]
    ExternalData {
        /// The tensor.
        tensor: String,
        /// The `location` entry of its external data (empty when missing).
        location: String,
    },
    /// A tensor (initializer or constant) is malformed or of an unsupported element type.
    #[error("tensor `{tensor}`: {message}")]
    BadTensor {
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// The graph uses ops the importer cannot lower (the full list).
    #[error("{0}the graph cannot be converted to TFLite builtins")]
    Unsupported(UnsupportedOps),
    /// A node's attribute is missing, of the wrong type, or has an unsupported value.
    #[error("node `{node}` ({op}): attribute `{attr}`: {message}")]
    BadAttr {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
        /// The attribute.
        attr: String,
        /// What is wrong.
        message: String,
    },
    /// A node's operands have shapes, types or values it cannot take.
    #[error("node `{node}` ({op}): {message}")]
    BadNode {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
        /// What is wrong.
        message: String,
    },
    /// A node reads a value that no node, input or initializer defines.
    #[error("node `{node}` ({op}): input `{value}` is not defined before it")]
    Undefined {
        /// Node name (or `graph output`).
        node: String,
        /// Op type.
        op: String,
        /// The value name.
        value: String,
    },
    /// A graph input has a type or shape ferrolite cannot take.
    #[error("graph input `{input}`: {message}")]
    BadInput {
        /// The input name.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// The converted model failed ferrolite's structural validation (an importer bug).
    #[error("internal error, the converted model is invalid: {0}")]
    Invalid(#[from] ferrolite_model::ModelError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_is_at_fault() {
        let e = OnnxError::ExternalData {
            tensor: "w".into(),
            location: "w.bin".into(),
        };
        assert!(e.to_string().contains("`w.bin`"), "{e}");
        let e = OnnxError::Opset {
            version: 3,
            min: 7,
            max: 23,
        };
        assert!(e.to_string().contains("opset 3"), "{e}");
        let u = UnsupportedOps::from_nodes([("Einsum", "e1"), ("Einsum", "e2")]);
        let e = OnnxError::Unsupported(u).to_string();
        assert!(e.contains("Einsum") && e.contains("e2"), "{e}");
    }
}
