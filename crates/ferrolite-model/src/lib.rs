//! The ferrolite model IR and its `.tflite` reader and writer.
//!
//! [`Model`] is what every other ferrolite crate speaks: converters build it, quantizers rewrite
//! it, the runtime executes it. [`read_file`] / [`read_bytes`] decode and validate a `.tflite`
//! file (weights stay borrowed from the memory-mapped file); [`write_file`] / [`write_bytes`]
//! serialize it back, atomically for files.
//!
//! ```no_run
//! let model = ferrolite_model::read_file("model.tflite")?;
//! println!("{} operators", model.subgraphs[0].operators.len());
//! ferrolite_model::write_file(&model, "copy.tflite")?;
//! # Ok::<(), ferrolite_model::ModelError>(())
//! ```

pub mod bytes;
pub mod dtype;
pub mod error;
pub mod ir;
pub mod names;
pub mod read;
pub mod validate;
pub mod write;

pub use bytes::Bytes;
pub use dtype::DType;
pub use error::{ModelError, Result};
pub use ferrolite_schema::tflite;
pub use ir::{Metadata, Model, OpKind, Operator, Quantization, Signature, Subgraph, Tensor};
pub use read::{read_bytes, read_file};
pub use validate::validate;
pub use write::{write_atomic, write_bytes, write_file};
