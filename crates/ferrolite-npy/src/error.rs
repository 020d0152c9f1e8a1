//! The one error type of this crate.
//!
//! Every variant names where the problem is: a file path, `archive.npz:entry.npy` for a member
//! of an `.npz`, or `<bytes>` for in-memory input, so callers can show it to users unchanged.

use std::fmt;

/// Result alias for this crate.
pub type Result<T, E = NpyError> = std::result::Result<T, E>;

/// What went wrong while reading or writing `.npy` / `.npz` data.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be opened, read, created or renamed.
    #[error("{file}: {source}")]
    Io {
        /// Path or entry.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The data does not start with `\x93NUMPY`.
    #[error("{file}: not a .npy file (bad magic: expected \\x93NUMPY, found {found})")]
    BadMagic {
        /// Path or entry.
        file: String,
        /// The first bytes, escaped.
        found: String,
    },
    /// The format version is not 1.0, 2.0 or 3.0.
    #[error("{file}: unsupported .npy format version {major}.{minor} (supported: 1.0, 2.0, 3.0)")]
    UnsupportedVersion {
        /// Path or entry.
        file: String,
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The data ends inside the magic, the header length or the header.
    #[error("{file}: truncated header: {detail}")]
    TruncatedHeader {
        /// Path or entry.
        file: String,
        /// What was missing.
        detail: String,
    },
    /// The header is not the dictionary literal NumPy writes.
    #[error("{file}: malformed header: {detail}")]
    BadHeader {
        /// Path or entry.
        file: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The dtype descriptor is not one of the supported little-endian numeric types.
    #[error("{file}: unsupported dtype '{descr}': {detail}")]
    UnsupportedDType {
        /// Path or entry.
        file: String,
        /// The descriptor as written in the header.
        descr: String,
        /// Why it is not supported.
        detail: String,
    },
    /// The array is stored in Fortran (column-major) order.
    #[error("{file}: the array is stored in Fortran order; only C order is supported (save it with np.ascontiguousarray)")]
    FortranOrder {
        /// Path or entry.
        file: String,
    },
    /// The number of data bytes does not match shape × item size.
    #[error("{file}: data length mismatch: shape {shape:?} of {dtype} needs {expected} bytes, found {}", Found(*.found, *.more))]
    DataLength {
        /// Path or entry.
        file: String,
        /// Shape from the header (or given by the caller).
        shape: Vec<usize>,
        /// NumPy dtype name.
        dtype: &'static str,
        /// Bytes the shape requires (saturated at `u64::MAX` on overflow).
        expected: u64,
        /// Bytes present (or a lower bound, when `more` is set).
        found: u64,
        /// The data continues beyond `found` bytes.
        more: bool,
    },
    /// The `.npz` container is not a readable zip archive, or an entry cannot be decompressed.
    #[error("{file}: bad .npz archive: {source}")]
    Zip {
        /// Path or entry.
        file: String,
        /// The zip error.
        source: zip::result::ZipError,
    },
    /// Two `.npz` entries would have the same name.
    #[error("{file}: duplicate entry '{name}'")]
    DuplicateEntry {
        /// Archive path.
        file: String,
        /// The repeated key.
        name: String,
    },
    /// A typed accessor was asked for a dtype the array does not have.
    #[error("dtype mismatch: the array is {actual}, not {requested}")]
    DTypeMismatch {
        /// The array's dtype name.
        actual: &'static str,
        /// The requested dtype name.
        requested: &'static str,
    },
}

/// Formats a byte count that may be a lower bound.
struct Found(u64, bool);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(f, "more than {}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl NpyError {
    pub(crate) fn io(file: &str, source: std::io::Error) -> Self {
        NpyError::Io {
            file: file.to_string(),
            source,
        }
    }
}
