//! Magnitude pruning during fine-tuning, as `tfmot.sparsity.keras.prune_low_magnitude` does it.
//!
//! Which weights: the kernels of CONV_2D and FULLY_CONNECTED (tfmot's prune registry; biases
//! and depthwise kernels are not pruned unless a depthwise layer is named in `only`). With a
//! block shape other than 1x1 only rank-2 (dense) kernels qualify, as in tfmot.
//!
//! When: before each batch at pruning step `s` (see [`schedule`]), if the schedule says so, the
//! mask of every pruned kernel is recomputed from the current weights ([`mask`]); then, every
//! batch, the weights are multiplied by their masks (tfmot's `weight_mask_op`), and once more
//! at the end of every epoch. [`Pruner::strip`] folds the masks into the weights for export.

pub mod mask;
pub mod schedule;

use crate::bn::UnfoldedBatchNorm;
use crate::combine::Chain;
use crate::data::Dataset;
use crate::error::{Result, TrainError};
use crate::forward::to_vec;
use crate::net::{LayerKind, Net};
use crate::train::{History, Progress, TrainConfig, TrainHook, Trainer};
use burn::tensor::{Tensor, TensorData};
use ferrolite_model::Model;
pub use mask::BlockPooling;
pub use schedule::Schedule;

/// Options of a pruning run.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneConfig {
    /// When and how much to prune.
    pub schedule: Schedule,
    /// Block shape `(height, width)` on the Keras kernel `[in, out]` of dense layers; `(1, 1)`
    /// prunes element-wise.
    pub block: (usize, usize),
    /// How block magnitudes are pooled.
    pub block_pooling: BlockPooling,
    /// `Some((m, n))`: at least `m` zeros in every `n` consecutive weights along the input
    /// channels (`--m-by-n 2:4`); overrides the schedule's sparsity.
    pub m_by_n: Option<(usize, usize)>,
    /// Prune only the layers these selectors name (empty: every eligible layer).
    pub only: Vec<String>,
    /// Never prune the layers these selectors name.
    pub skip: Vec<String>,
}

impl PruneConfig {
    /// Element-wise pruning of every eligible layer with `schedule`.
    pub fn new(schedule: Schedule) -> Self {
        PruneConfig {
            schedule,
            block: (1, 1),
            block_pooling: BlockPooling::Avg,
            m_by_n: None,
            only: Vec::new(),
            skip: Vec::new(),
        }
    }
}

/// Sparsity of one weighted layer after pruning.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSparsity {
    /// Short layer name.
    pub layer: String,
    /// Operator (`CONV_2D`, ...).
    pub op: &'static str,
    /// Weight tensor name.
    pub tensor: String,
    /// Weight shape (TFLite layout).
    pub shape: Vec<usize>,
    /// Whether the layer was pruned, or why not.
    pub status: std::result::Result<(), String>,
    /// Number of weights.
    pub elements: usize,
    /// Number of exact zeros in the exported weights.
    pub zeros: usize,
    /// Last magnitude threshold (`None` if never pruned or m-by-n).
    pub threshold: Option<f32>,
}

impl LayerSparsity {
    /// `zeros / elements`.
    pub fn sparsity(&self) -> f64 {
        self.zeros as f64 / self.elements.max(1) as f64
    }
}

/// What a pruning run did.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneReport {
    /// The schedule, in tfmot's notation.
    pub schedule: String,
    /// Structure (`element-wise`, `block 1x4 (AVG)`, `2:4`).
    pub structure: String,
    /// Every weighted layer, pruned or not.
    pub layers: Vec<LayerSparsity>,
    /// Pruning steps at which masks were recomputed.
    pub mask_updates: Vec<i64>,
    /// Sparsity the schedule asked for at the last mask update.
    pub last_sparsity: Option<f32>,
}

impl PruneReport {
    /// Zeros over elements across the pruned layers.
    pub fn pruned_sparsity(&self) -> f64 {
        let (z, n) = self
            .layers
            .iter()
            .filter(|l| l.status.is_ok())
            .fold((0, 0), |(z, n), l| (z + l.zeros, n + l.elements));
        z as f64 / n.max(1) as f64
    }
}

struct Target {
    layer: usize,
    param: usize,
    mask: Option<Tensor<1>>,
    threshold: Option<f32>,
}

/// The pruning hook: holds the masks and applies them on schedule.
pub struct Pruner {
    cfg: PruneConfig,
    net: Net,
    targets: Vec<Target>,
    status: Vec<std::result::Result<(), String>>,
    updates: Vec<i64>,
    last_sparsity: Option<f32>,
}

impl Pruner {
    /// Chooses the layers to prune in `net` (checking the options against tfmot's rules).
    pub fn new(net: &Net, cfg: PruneConfig) -> Result<Self> {
        cfg.schedule.validate()?;
        if cfg.block.0 == 0 || cfg.block.1 == 0 {
            return Err(TrainError::Options("block dimensions must be >= 1".into()));
        }
        let blocky = cfg.block != (1, 1);
        if let Some((m, n)) = cfg.m_by_n {
            if n == 0 || m >= n {
                return Err(TrainError::Options(format!(
                    "m-by-n {m}:{n}: m must be smaller than n"
                )));
            }
            if blocky {
                return Err(TrainError::Options(
                    "--block and --m-by-n cannot be combined".into(),
                ));
            }
        }
        net.check_selectors(cfg.only.iter().chain(&cfg.skip))?;
        let mut status = Vec::new();
        let mut targets = Vec::new();
        for (i, l) in net.layers.iter().enumerate() {
            let named = cfg.only.iter().any(|s| l.matches(s));
            let s = if !cfg.only.is_empty() && !named {
                Err("not selected by --only".to_string())
            } else if cfg.skip.iter().any(|s| l.matches(s)) {
                Err("skipped (--skip)".to_string())
            } else if l.kind == LayerKind::DepthwiseConv2d && !named {
                Err(
                    "depthwise kernels are not pruned (as in tfmot); name it in --only to prune it"
                        .to_string(),
                )
            } else if blocky && l.kind != LayerKind::FullyConnected {
                if named {
                    return Err(TrainError::Options(format!(
                        "layer '{}': block sparsity needs rank-2 (dense) weights, as in tfmot",
                        l.name
                    )));
                }
                Err("block sparsity applies to dense layers only (as in tfmot)".to_string())
            } else {
                Ok(())
            };
            if s.is_ok() {
                targets.push(Target {
                    layer: i,
                    param: l.weight,
                    mask: None,
                    threshold: None,
                });
            }
            status.push(s);
        }
        if targets.is_empty() {
            return Err(TrainError::Options("no layer is left to prune".into()));
        }
        Ok(Pruner {
            cfg,
            net: net.clone(),
            targets,
            status,
            updates: Vec::new(),
            last_sparsity: None,
        })
    }

    /// Recomputes the mask of every target from the current weights at `sparsity`.
    fn update_masks(&mut self, params: &[Tensor<1>], sparsity: f32) -> Result<()> {
        for t in &mut self.targets {
            let l = &self.net.layers[t.layer];
            let shape = &self.net.params[t.param].shape;
            let w = to_vec(&params[t.param])?;
            let (threshold, m) = compute_mask(l.kind, shape, &w, &self.cfg, sparsity);
            t.threshold = threshold;
            let n = m.len();
            let device = params[t.param].device();
            t.mask = Some(Tensor::<1>::from_data(TensorData::new(m, [n]), &device));
        }
        Ok(())
    }

    fn apply_masks(&self, params: &mut [Tensor<1>]) {
        for t in &self.targets {
            if let Some(m) = &t.mask {
                params[t.param] = params[t.param].clone() * m.clone();
            }
        }
    }

    /// Folds the masks into the weights (tfmot's `strip_pruning`: the exported weights are the
    /// masked ones).
    pub fn strip(&self, trainer: &mut Trainer) -> Result<()> {
        for t in &self.targets {
            if let Some(m) = &t.mask {
                let w = to_vec(&trainer.params()[t.param])?;
                let m = to_vec(m)?;
                let v = w.iter().zip(&m).map(|(a, b)| a * b).collect();
                trainer.set_param_values(t.param, v)?;
            }
        }
        Ok(())
    }

    /// Per-layer sparsity of `trainer`'s current weights.
    pub fn report(&self, trainer: &Trainer) -> Result<PruneReport> {
        let mut layers = Vec::new();
        for (i, l) in self.net.layers.iter().enumerate() {
            let w = trainer.param_values(l.weight)?;
            let zeros = w.iter().filter(|&&v| v == 0.0).count();
            layers.push(LayerSparsity {
                layer: l.name.clone(),
                op: l.kind.op_name(),
                tensor: l.tensor_name.clone(),
                shape: self.net.params[l.weight].shape.clone(),
                status: self.status[i].clone(),
                elements: w.len(),
                zeros,
                threshold: self
                    .targets
                    .iter()
                    .find(|t| t.layer == i)
                    .and_then(|t| t.threshold),
            });
        }
        let structure = match (self.cfg.m_by_n, self.cfg.block) {
            (Some((m, n)), _) => format!("{m}:{n} (m-by-n)"),
            (None, (1, 1)) => "element-wise".to_string(),
            (None, (h, w)) => format!(
                "block {h}x{w} ({})",
                match self.cfg.block_pooling {
                    BlockPooling::Avg => "AVG",
                    BlockPooling::Max => "MAX",
                }
            ),
        };
        Ok(PruneReport {
            schedule: self.cfg.schedule.to_string(),
            structure,
            layers,
            mask_updates: self.updates.clone(),
            last_sparsity: self.last_sparsity,
        })
    }
}

impl TrainHook for Pruner {
    fn before_batch(&mut self, step: i64, params: &mut [Tensor<1>]) -> Result<()> {
        if self.cfg.schedule.should_prune(step) {
            let s = self.cfg.schedule.sparsity(step);
            self.update_masks(params, s)?;
            self.updates.push(step);
            self.last_sparsity = Some(s);
        }
        self.apply_masks(params);
        Ok(())
    }

    fn after_epoch(&mut self, params: &mut [Tensor<1>]) -> Result<()> {
        self.apply_masks(params);
        Ok(())
    }
}

/// The mask of one kernel (TFLite layout `shape`) at `sparsity`: `(threshold, mask)`.
pub fn compute_mask(
    kind: LayerKind,
    shape: &[usize],
    w: &[f32],
    cfg: &PruneConfig,
    sparsity: f32,
) -> (Option<f32>, Vec<f32>) {
    if let Some((m, n)) = cfg.m_by_n {
        // tfmot rearranges Keras kernels to TFLite's [O*kh*kw, I] / [O, I]: the rows of the
        // TFLite-layout weight reshaped to [-1, last_dim].
        let last = shape.last().copied().unwrap_or(1);
        return (None, mask::m_by_n_mask(w, last, m, n));
    }
    if cfg.block != (1, 1) && kind == LayerKind::FullyConnected && shape.len() == 2 {
        // Keras' dense kernel is [in, out], the transpose of TFLite's [out, in].
        let (o, i) = (shape[0], shape[1]);
        let mut keras = vec![0.0f32; w.len()];
        for r in 0..o {
            for c in 0..i {
                keras[c * o + r] = w[r * i + c];
            }
        }
        let (t, km) = mask::block_mask(&keras, i, o, cfg.block, cfg.block_pooling, sparsity);
        let mut m = vec![0.0f32; w.len()];
        for r in 0..o {
            for c in 0..i {
                m[r * i + c] = km[c * o + r];
            }
        }
        return (Some(t), m);
    }
    let abs: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    let (t, m) = mask::magnitude_mask(&abs, sparsity);
    (Some(t), m)
}

/// The outcome of [`prune`].
pub struct PruneOutcome {
    /// The stripped model (same graph, pruned weights).
    pub model: Model,
    /// Per-layer sparsity.
    pub report: PruneReport,
    /// Per-epoch loss and accuracy.
    pub history: History,
}

/// Fine-tunes `model` on `data` with magnitude pruning and returns the stripped model. With
/// `train.batch_norms` the masks apply to the unfolded kernels (as tfmot's) and the batch
/// normalizations are folded back before stripping.
pub fn prune(
    model: &Model,
    data: &Dataset,
    train: &TrainConfig,
    cfg: &PruneConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<PruneOutcome> {
    let mut trainer = Trainer::new(model)?;
    let bn = UnfoldedBatchNorm::new(&mut trainer, &train.batch_norms)?;
    let pruner = Pruner::new(trainer.net(), cfg.clone())?;
    let mut hook = Chain(bn, pruner);
    let history = trainer.fit(data, train, &mut hook, progress)?;
    hook.0.fold(&mut trainer)?;
    hook.1.strip(&mut trainer)?;
    let report = hook.1.report(&trainer)?;
    Ok(PruneOutcome {
        model: trainer.export()?,
        report,
        history,
    })
}
