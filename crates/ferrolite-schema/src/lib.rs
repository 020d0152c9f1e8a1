//! The TFLite model file format (FlatBuffers schema version 3) for ferrolite.
//!
//! `schema/tflite.fbs` is our own transcription of the published TFLite
//! schema (see its header for the pinned upstream revision). The Rust
//! bindings in [`tflite`] are generated from it by planus and committed;
//! regenerate them with `cargo xtask gen-schema` after editing the schema.
//!
//! Reading: [`read_model`] (or `tflite::ModelRef::read_as_root` with
//! `planus::ReadAsRoot` in scope) gives a zero-copy view whose accessors
//! return `planus::Result`, so malformed input surfaces as errors, never
//! panics. The generated module contains planus' own `unsafe impl`s of its
//! marker traits; the hand-written code here uses no `unsafe`. Writing: build an owned
//! [`tflite::Model`] and call [`serialize_model`], which emits the `TFL3`
//! file identifier correctly and aligns constant buffer data to 16 bytes.

#[rustfmt::skip]
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    unreachable_pub,
    unused,
    unused_qualifications,
    non_camel_case_types,
    non_snake_case
)]
mod generated;
mod write;

#[cfg(test)]
mod tests;

/// Generated bindings for the `tflite` FlatBuffers namespace.
///
/// Every table `T` has an owned `T` (plain struct with `pub` fields, `Default`,
/// serde derives) and a borrowed `TRef<'a>` reader; unions have owned
/// `U` enums and `URef<'a>` enums; enums convert with `TryFrom<int>` and
/// `From<Enum> for int`.
pub use generated::tflite;

/// Re-export of the planus runtime the bindings were generated for.
pub use planus;

pub use write::{serialize_model, SerializeError, BUFFER_DATA_ALIGNMENT, MAX_FLATBUFFER_SIZE};

/// Schema version stored in `Model.version` by current TFLite writers.
pub const TFLITE_SCHEMA_VERSION: u32 = 3;

/// FlatBuffers file identifier of `.tflite` files (bytes 4..8 of the file).
pub const FILE_IDENTIFIER: [u8; 4] = *b"TFL3";

/// Conventional file extension of TFLite models.
pub const FILE_EXTENSION: &str = "tflite";

/// `BuiltinOperator::PLACEHOLDER_FOR_GREATER_OP_CODES`: the largest code that
/// fits in `OperatorCode.deprecated_builtin_code`.
pub const PLACEHOLDER_FOR_GREATER_OP_CODES: i32 = 127;

/// Returns true if `bytes` carries the `TFL3` identifier at offset 4.
pub fn has_file_identifier(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(FILE_IDENTIFIER.as_slice())
}

/// Opens `bytes` as a TFLite model without copying.
///
/// Only the root offset is checked here; every accessor on the returned
/// reader validates what it touches and returns `planus::Result`. The file
/// identifier is not required (see [`has_file_identifier`]).
pub fn read_model(bytes: &[u8]) -> Result<tflite::ModelRef<'_>, planus::Error> {
    planus::ReadAsRoot::read_as_root(bytes)
}

/// Effective builtin operator code of an `OperatorCode` table.
///
/// Old writers only fill the 8-bit `deprecated_builtin_code`; new ones fill
/// `builtin_code` and store `min(code, 127)` in the deprecated field. The
/// larger of the two is the operator.
pub fn effective_builtin_code(deprecated: i8, builtin: i32) -> i32 {
    i32::from(deprecated).max(builtin)
}

/// Value to store in `OperatorCode.deprecated_builtin_code` for `code`:
/// `min(code, 127)` (out-of-range negative inputs saturate to `i8::MIN`).
pub fn deprecated_code_for(code: i32) -> i8 {
    let clamped = code.clamp(i32::from(i8::MIN), PLACEHOLDER_FOR_GREATER_OP_CODES);
    i8::try_from(clamped).unwrap_or(i8::MAX)
}

/// Reads the effective builtin code of `op` as a raw integer.
///
/// Unlike `op.builtin_code()`, an operator code unknown to this schema
/// revision is returned as its number instead of an error, so callers can
/// report "unsupported operator N".
pub fn read_builtin_code(op: &tflite::OperatorCodeRef<'_>) -> Result<i32, planus::Error> {
    let deprecated = op.deprecated_builtin_code()?;
    let builtin = match op.builtin_code() {
        Ok(code) => i32::from(code),
        Err(error) => match unknown_enum_tag(&error).and_then(|t| i32::try_from(t).ok()) {
            Some(tag) => tag,
            None => return Err(error),
        },
    };
    Ok(effective_builtin_code(deprecated, builtin))
}

/// The raw value behind a planus "unknown enum value" error, if that is what
/// `error` is (e.g. a `TensorType` newer than this schema).
pub fn unknown_enum_tag(error: &planus::Error) -> Option<i128> {
    match error.error_kind {
        planus::errors::ErrorKind::UnknownEnumTag { source } => Some(source.tag),
        _ => None,
    }
}
