//! One module per CLI command.

pub mod convert;
pub mod inspect;
pub mod run;
