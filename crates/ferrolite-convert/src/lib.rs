//! ferrolite's model converters: Keras (`.h5`, `.keras`) to the ferrolite IR, which
//! `ferrolite_model::write_file` serializes as `.tflite`.
//!
//! Conversion has three stages, each in its own module: reading the Keras file
//! ([`keras`]: HDF5 via `hdf5-pure`, zip via `zip`, config via `serde_json`), lowering each
//! layer to TFLite builtin ops ([`keras::lower`]), and graph rewrites that match what TF's
//! converter does ([`passes`]: drop identities, fold BatchNormalization and constant scaling
//! into convs and dense layers, fuse activations, remove dead code). Every stage reports what it
//! did in a [`Report`]; every failure is a [`ConvertError`] naming the layer, file or field at
//! fault.
//!
//! ```no_run
//! use ferrolite_convert::keras;
//! let conv = keras::convert_file("model.keras", &keras::Options::default())?;
//! print!("{}", conv.report);
//! ferrolite_model::write_file(&conv.model, "model.tflite")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod graph;
pub mod graphdef;
pub mod keras;
pub mod onnx;
pub mod passes;
pub mod prost;
pub mod report;

pub use error::{ConvertError, Result};
pub use report::{Event, EventKind, Report};
