//! One module per CLI command.

pub mod bench;
pub mod compare;
pub mod convert;
pub mod demo;
pub mod eval;
#[cfg(feature = "train")]
pub mod finetune;
pub mod inspect;
#[cfg(feature = "train")]
pub mod prune;
#[cfg(feature = "train")]
pub mod qat;
pub mod quantize;
pub mod run;
