//! Errors of the training crate: unsupported graphs, bad data, bad options.

use thiserror::Error;

/// Everything that can go wrong while building, training or exporting a network.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The model uses an operator, layout or dtype the trainer does not handle.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The model is malformed (missing tensors, inconsistent shapes).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The dataset is unusable (missing arrays, shapes that do not fit the model).
    #[error("invalid data: {0}")]
    Data(String),
    /// An option is out of range or inconsistent.
    #[error("invalid option: {0}")]
    Options(String),
    /// Reading a `.npz` failed.
    #[error(transparent)]
    Npy(#[from] ferrolite_npy::NpyError),
    /// Writing the model back failed validation.
    #[error(transparent)]
    Model(#[from] ferrolite_model::ModelError),
    /// Int8 export failed.
    #[error(transparent)]
    Quant(#[from] ferrolite_quant::QuantError),
    /// A tensor could not be read back from the training backend.
    #[error("backend: {0}")]
    Backend(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;
