//! One module per CLI command.

pub mod bench;
pub mod compare;
pub mod convert;
pub mod demo;
pub mod eval;
pub mod inspect;
#[cfg(feature = "train")]
pub mod prune;
pub mod quantize;
pub mod run;
