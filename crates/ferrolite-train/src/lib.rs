//! Training-time optimization of ferrolite models on burn: fine-tuning, magnitude pruning,
//! quantization-aware training, weight clustering and their combinations.
//!
//! A float32 [`ferrolite_model::Model`] (a `.tflite`, or a Keras file converted by
//! `ferrolite-convert`, Keras 3 included) becomes a trainable network ([`net::Net`]) whose
//! parameters are the model's own weights. [`Trainer::fit`] fine-tunes them on a [`Dataset`] with
//! Keras' optimizers and `fit` semantics; [`Trainer::export`] writes them back into the same
//! graph, so `ferrolite_model::write_file` produces a `.tflite` that differs only in its weights.
//!
//! Each optimization is a [`TrainHook`] on that loop, and hooks compose ([`combine::Chain`]):
//! [`prune::prune`] runs tfmot-style magnitude pruning (`ConstantSparsity` / `PolynomialDecay`
//! schedules, block and m-by-n structures, per-layer selection) and reports the sparsity reached
//! per layer; [`qat`] fine-tunes with fake quantization (tfmot's default 8-bit scheme) and
//! exports a full-int8 model whose activation ranges are the learned ones; [`cluster::cluster`]
//! clusters kernels to N fine-tuned centroids; [`collab::qat`] is QAT that keeps an earlier
//! pruning's zeros or clustering's values (tfmot's PQAT / CQAT); [`bn`] keeps Keras'
//! BatchNormalization layers unfolded while training.
//!
//! ```no_run
//! use ferrolite_train::{prune, Dataset, TrainConfig};
//! let model = ferrolite_model::read_file("model.tflite")?;
//! let data = Dataset::load_npz("train.npz")?;
//! let cfg = prune::PruneConfig::new(prune::Schedule::constant(0.5, 0, -1, 100)?);
//! let out = prune::prune(&model, &data, &TrainConfig::default(), &cfg, &mut |_| {})?;
//! ferrolite_model::write_file(&out.model, "pruned.tflite")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod bn;
pub mod cluster;
pub mod collab;
pub mod combine;
pub mod data;
pub mod error;
pub mod forward;
pub mod net;
pub mod optim;
pub mod prune;
pub mod qat;
pub mod schedule;
pub mod train;

pub use data::Dataset;
pub use error::{Result, TrainError};
pub use net::Net;
pub use optim::Optimizer;
pub use schedule::LrSchedule;
pub use train::{EpochStats, History, Monitor, NoHook, Progress, TrainConfig, TrainHook, Trainer};
