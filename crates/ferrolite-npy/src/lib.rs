//! NumPy array files for ferrolite: read and write `.npy` arrays and `.npz` archives.
//!
//! Supported: format versions 1.0, 2.0 and 3.0; C-order arrays of the little-endian numeric
//! dtypes and `bool` ([`NpyDType`]); any shape including 0-d scalars; `.npz` members stored or
//! deflated. Fortran order, big-endian, structured, string and object dtypes are rejected with a
//! [`NpyError`] that names the file (or `archive.npz:member.npy`). Readers never panic on
//! malformed input and never allocate more than the input actually holds; writers produce the
//! same header bytes as `np.save` and replace files atomically.
//!
//! ```no_run
//! use ferrolite_npy::{read_npy, write_npz, Array, NpzCompression};
//! let x = read_npy("inputs.npy")?;
//! let values: Vec<f32> = x.to_f32_vec();
//! let y = Array::from_f32(&[values.len()], &values)?;
//! write_npz("out.npz", &[("x", &x), ("y", &y)], NpzCompression::Deflated)?;
//! # Ok::<(), ferrolite_npy::NpyError>(())
//! ```

pub mod array;
pub mod dtype;
pub mod error;
pub mod header;
pub mod npy;
pub mod npz;

pub use array::{element_count, Array};
pub use dtype::{Element, NpyDType};
pub use error::{NpyError, Result};
pub use header::Header;
pub use npy::{read_npy, read_npy_bytes, read_npy_from, to_npy_bytes, write_npy, write_npy_to};
pub use npz::{
    read_npz, read_npz_bytes, read_npz_from, to_npz_bytes, write_npz, write_npz_to, NpzCompression,
};
