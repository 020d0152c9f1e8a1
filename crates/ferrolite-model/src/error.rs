//! The one error type of `ferrolite-model`: every problem names where in the model it was found.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// A problem reading, validating or writing a model.
///
/// `location` strings name the table, field and index at fault in the style
/// `subgraphs[0].tensors[12].buffer`, so a user can find the culprit in any FlatBuffers viewer.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file is shorter than the smallest possible `.tflite` file or a header field.
    #[error("truncated file: {0}")]
    Truncated(String),
    /// Bytes 4..8 are not the `TFL3` file identifier.
    #[error("not a .tflite file: expected identifier \"TFL3\" at bytes 4..8, found {found:?}")]
    BadIdentifier {
        /// The four bytes found instead.
        found: [u8; 4],
    },
    /// The FlatBuffer structure itself is broken (offset out of bounds, bad string, bad union tag).
    #[error("malformed flatbuffer at {location}: {reason}")]
    Malformed {
        /// Where the decoder stopped.
        location: String,
        /// What the decoder reported.
        reason: String,
    },
    /// The schema version is not the one LiteRT reads (3).
    #[error("unsupported schema version {0} (expected 3)")]
    UnsupportedVersion(u32),
    /// An index field points outside the table it refers to.
    #[error("{location} = {index} is out of range (valid: 0..{len})")]
    IndexOutOfRange {
        /// The field holding the bad index.
        location: String,
        /// The index found.
        index: i64,
        /// Number of entries in the referenced table.
        len: usize,
    },
    /// A constant buffer's byte length does not match its tensor's shape and type.
    #[error(
        "{location}: buffer holds {actual} bytes but shape {shape:?} of {dtype} needs {expected}"
    )]
    BufferSize {
        /// The tensor at fault.
        location: String,
        /// Its shape.
        shape: Vec<i32>,
        /// Its element type name.
        dtype: String,
        /// Bytes required.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A shape is negative, absurdly large or inconsistent with its signature.
    #[error("{location}: bad shape: {reason}")]
    BadShape {
        /// The tensor at fault.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// An enum value this version of ferrolite does not know.
    #[error("{location}: unknown {what} value {value}")]
    UnknownEnum {
        /// The field holding the value.
        location: String,
        /// Which enum (tensor type, builtin operator, ...).
        what: &'static str,
        /// The raw value.
        value: i64,
    },
    /// Quantization parameters are inconsistent.
    #[error("{location}: bad quantization: {reason}")]
    BadQuantization {
        /// The tensor at fault.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// Any other structural inconsistency.
    #[error("{location}: {reason}")]
    Invalid {
        /// The field at fault.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The model cannot be written in the `.tflite` format (for example it exceeds 2 GiB).
    #[error("cannot write model: {0}")]
    Unwritable(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
}

impl ModelError {
    pub(crate) fn invalid(location: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            location: location.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(location: impl Into<String>, err: impl std::fmt::Display) -> Self {
        ModelError::Malformed {
            location: location.into(),
            reason: err.to_string(),
        }
    }
}
