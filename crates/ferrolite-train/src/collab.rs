//! Quantization-aware training that preserves an earlier optimization, as tfmot's
//! collaborative optimizations do:
//!
//! - [`Preserve::Sparsity`] (PQAT, `Default8BitPrunePreserveQuantizeScheme`): the zeros of the
//!   pruned input model are masked in every forward pass before fake quantization, so the int8
//!   model keeps exactly the input's zeros (a float 0 quantizes to int8 0 under symmetric
//!   weight quantization).
//! - [`Preserve::Clusters`] (CQAT, `Default8BitClusterPreserveQuantizeScheme`): the centroids
//!   of each kernel are its unique values in the clustered input model; training re-assigns
//!   weights to the nearest centroid and fine-tunes the centroids (gradient summed per
//!   cluster) before fake quantization, so every exported kernel keeps at most as many values
//!   as the input had (per output channel after int8 quantization). With
//!   `preserve_sparsity` the zero centroid stays 0 too (tfmot's PCQAT).
//!
//! With `TrainConfig::batch_norms` the batch normalizations run unfolded during QAT and the
//! unfolded kernels are fake-quantized (tfmot's default 8-bit scheme: no fake quantization
//! between a conv and its BN); they are folded into the conv before the int8 export, as TFLite's
//! converter does.

use crate::bn::UnfoldedBatchNorm;
use crate::cluster::Clusterer;
use crate::combine::{Chain, SparsityMask};
use crate::data::Dataset;
use crate::error::{Result, TrainError};
use crate::qat::{export_int8, Qat, QatConfig};
use crate::train::{History, Progress, TrainConfig, Trainer};
use ferrolite_model::Model;
use ferrolite_quant::{Io, QuantReport};

/// What quantization-aware training must keep of the input model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preserve {
    /// Nothing: plain QAT.
    #[default]
    Nothing,
    /// The zeros of the kernels (PQAT).
    Sparsity,
    /// The unique values of the kernels (CQAT), and their zeros with `preserve_sparsity`.
    Clusters {
        /// Also keep the zero centroid at 0 and zero weights at 0.
        preserve_sparsity: bool,
    },
}

/// Kernels with more distinct values than this are not treated as clustered (tfmot's limit).
pub const MAX_CENTROIDS: usize = 1024;

/// The outcome of [`qat`].
pub struct QatOutcome {
    /// The full-int8 model.
    pub model: Model,
    /// What the int8 export did.
    pub report: QuantReport,
    /// Per-epoch loss and accuracy.
    pub history: History,
    /// The learned activation ranges `(tensor, min, max)`.
    pub ranges: Vec<(usize, f32, f32)>,
    /// Kernels whose sparsity or clusters were preserved.
    pub preserved_kernels: usize,
}

/// Quantization-aware fine-tuning of `model` on `data`, preserving `preserve`, exported to
/// full int8 (`io` at the edges) with the learned ranges.
pub fn qat(
    model: &Model,
    data: &Dataset,
    train: &TrainConfig,
    cfg: &QatConfig,
    preserve: Preserve,
    io: Io,
    progress: &mut dyn FnMut(&Progress),
) -> Result<QatOutcome> {
    let mut trainer = Trainer::new(model)?;
    if matches!(preserve, Preserve::Clusters { .. }) && !train.batch_norms.is_empty() {
        return Err(TrainError::Options(
            "cluster-preserving QAT works on the folded kernels: do not unfold batch norms".into(),
        ));
    }
    let bn = UnfoldedBatchNorm::new(&mut trainer, &train.batch_norms)?;
    let mut qat = Qat::new(trainer.net(), cfg.clone())?;
    qat.share_in_place(model);
    let (history, qat, preserved) = match preserve {
        Preserve::Nothing => {
            let mut hook = Chain(bn, qat);
            let h = trainer.fit(data, train, &mut hook, progress)?;
            hook.0.fold(&mut trainer)?;
            (h, hook.1, 0)
        }
        Preserve::Sparsity => {
            let mask = SparsityMask::new(&trainer)?;
            if mask.is_empty() {
                return Err(TrainError::Options(
                    "--preserve-sparsity: no kernel of the model holds a zero (prune it first)"
                        .into(),
                ));
            }
            let n = mask.len();
            let mut hook = Chain(bn, Chain(mask, qat));
            let h = trainer.fit(data, train, &mut hook, progress)?;
            hook.0.fold(&mut trainer)?;
            hook.1 .0.strip(&mut trainer)?;
            (h, hook.1 .1, n)
        }
        Preserve::Clusters { preserve_sparsity } => {
            let clusters = Clusterer::from_unique(&trainer, preserve_sparsity, MAX_CENTROIDS)?;
            if clusters.is_empty() {
                return Err(TrainError::Options(format!(
                    "--preserve-clusters: no kernel has between 2 and {MAX_CENTROIDS} distinct \
                     values (cluster it first)"
                )));
            }
            let n = clusters.len();
            let mut hook = Chain(clusters, qat);
            let h = trainer.fit(data, train, &mut hook, progress)?;
            hook.0.strip(&mut trainer)?;
            (h, hook.1, n)
        }
    };
    let (model, report) = export_int8(&trainer, &qat, data, io)?;
    Ok(QatOutcome {
        model,
        report,
        history,
        ranges: qat.learned_ranges(),
        preserved_kernels: preserved,
    })
}
