//! One module per CLI command.

pub mod bench;
#[cfg(feature = "train")]
pub mod cluster;
pub mod compare;
pub mod convert;
pub mod demo;
pub mod eval;
#[cfg(feature = "train")]
pub mod finetune;
pub mod inspect;
pub mod ops;
#[cfg(feature = "train")]
pub mod prune;
#[cfg(feature = "train")]
pub mod qat;
pub mod quantize;
pub mod run;
