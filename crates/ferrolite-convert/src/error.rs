//! The one error type of the converters.
//!
//! Every variant names what is at fault — the file, the layer (and its class), the config field
//! or the weight — so a user can find it in their model without a debugger. Converters never
//! panic on bad input; they return one of these.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = ConvertError> = std::result::Result<T, E>;

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is neither an HDF5 `.h5` nor a zip `.keras` archive.
    #[error("{file}: not a Keras model file ({reason})")]
    NotKeras {
        /// The file.
        file: String,
        /// What was found instead.
        reason: String,
    },
    /// The HDF5 container is malformed or truncated, or lacks an expected object.
    #[error("{file}: bad HDF5 ({context}): {message}")]
    Hdf5 {
        /// The file (or archive member).
        file: String,
        /// What was being read (`model_weights/conv1`, `root attributes`, ...).
        context: String,
        /// The reader's message.
        message: String,
    },
    /// The zip archive of a `.keras` file is malformed or truncated.
    #[error("{file}: bad .keras archive: {message}")]
    Zip {
        /// The file.
        file: String,
        /// The zip reader's message.
        message: String,
    },
    /// A `.keras` archive lacks a member it needs.
    #[error("{file}: the archive has no `{member}`")]
    MissingMember {
        /// The file.
        file: String,
        /// The missing member (`config.json`, `model.weights.h5`).
        member: String,
    },
    /// A legacy `.h5` file carries no `model_config` attribute (it holds weights only).
    #[error(
        "{file}: no `model_config` attribute: this HDF5 file holds weights only; \
         convert it with its architecture JSON (keras::load_weights_and_config)"
    )]
    MissingConfig {
        /// The file.
        file: String,
    },
    /// The model config is not valid JSON, or is JSON of the wrong shape.
    #[error("{file}: bad model config: {message}")]
    Json {
        /// The file (or member) holding the config.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A layer's config lacks a field or has a field of the wrong type.
    #[error("layer `{layer}` ({class_name}): config field `{field}`: {message}")]
    BadConfig {
        /// Layer name.
        layer: String,
        /// Keras class name.
        class_name: String,
        /// The config field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The layer class is not one the converter knows.
    #[error(
        "layer `{layer}`: {}class `{class_name}` is not supported; supported classes: {supported}",
        if *custom { "custom (user-registered) " } else { "" }
    )]
    UnknownLayer {
        /// Layer name.
        layer: String,
        /// Keras class name (with the registered name for custom layers).
        class_name: String,
        /// True when the class is a user-registered custom layer rather than a Keras one.
        custom: bool,
        /// Comma-separated list of supported classes.
        supported: String,
    },
    /// A known layer uses an option value the converter does not handle.
    #[error(
        "layer `{layer}` ({class_name}): unsupported {option} = {value}; supported: {supported}"
    )]
    Unsupported {
        /// Layer name.
        layer: String,
        /// Keras class name.
        class_name: String,
        /// The option (`padding`, `activation`, `groups`, ...).
        option: String,
        /// The value found.
        value: String,
        /// What is supported instead.
        supported: String,
    },
    /// A weight the layer needs is not in the weights file.
    #[error("layer `{layer}`: missing weight `{weight}` ({detail})")]
    MissingWeight {
        /// Layer name.
        layer: String,
        /// Weight role (`kernel`, `bias`, `moving_mean`, ...).
        weight: String,
        /// Where it was looked for.
        detail: String,
    },
    /// A weight has a different shape than the layer config implies.
    #[error("layer `{layer}`: weight `{weight}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Layer name.
        layer: String,
        /// Weight role.
        weight: String,
        /// Shape implied by the config and the input shape.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// Input shapes do not fit the layer (wrong rank, mismatched merge shapes, ...).
    #[error("layer `{layer}` ({class_name}): {message}")]
    BadShape {
        /// Layer name.
        layer: String,
        /// Keras class name.
        class_name: String,
        /// What is wrong.
        message: String,
    },
    /// The layer graph is inconsistent (unknown layer reference, cycle, missing input).
    #[error("model graph: {message}")]
    Graph {
        /// What is wrong.
        message: String,
    },
    /// The converted model failed ferrolite's structural validation (a converter bug).
    #[error("internal error, the converted model is invalid: {0}")]
    Invalid(#[from] ferrolite_model::ModelError),
}

impl ConvertError {
    /// A [`ConvertError::Graph`] with the given message.
    pub fn graph(message: impl Into<String>) -> Self {
        ConvertError::Graph {
            message: message.into(),
        }
    }
}
