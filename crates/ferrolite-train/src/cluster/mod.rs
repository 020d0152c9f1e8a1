//! Weight clustering during fine-tuning, as `tfmot.clustering.keras.cluster_weights` does it.
//!
//! Which weights: the kernels of CONV_2D and FULLY_CONNECTED (tfmot's clustering registry;
//! depthwise kernels and biases are not clustered unless a depthwise layer is named in `only`).
//! Each clustered kernel gets `k` trainable centroids ([`init`]). Every forward pass assigns
//! each weight to its nearest centroid (first on ties) and uses the centroid's value; the
//! backward pass sends the gradient of a clustered weight both to its centroid (summed over the
//! cluster, tfmot's `GradientAggregation.SUM`) and, straight through, to the original weight,
//! which keeps training so that weights can move between clusters. [`Clusterer::strip`]
//! replaces every kernel by its clustered values, so the exported model has at most `k` unique
//! values per kernel.
//!
//! With `preserve_sparsity` (tfmot's sparsity-preserving clustering) one centroid is pinned to
//! 0, and the weights that start in the zero cluster are masked to stay 0.
//!
//! [`Clusterer::from_unique`] builds the hook of cluster-preserving QAT (tfmot's CQAT): the
//! centroids are the unique values of an already clustered model's kernels.

pub mod init;

use crate::data::{Dataset, Rng};
use crate::error::{Result, TrainError};
use crate::forward::to_vec;
use crate::net::{LayerKind, Net};
use crate::train::{History, Progress, TrainConfig, TrainHook, Trainer};
use burn::tensor::{Int, Tensor, TensorData};
use ferrolite_model::Model;
pub use init::{init_centroids, nearest, CentroidInit};
use std::io::Write;

/// Options of a clustering run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Centroids per kernel (tfmot's `number_of_clusters`).
    pub clusters: usize,
    /// How the centroids start.
    pub init: CentroidInit,
    /// Keep zero weights at zero (one centroid pinned to 0).
    pub preserve_sparsity: bool,
    /// Cluster only the layers these selectors name (empty: every eligible layer).
    pub only: Vec<String>,
    /// Never cluster the layers these selectors name.
    pub skip: Vec<String>,
    /// Seed of the random and k-means++ initializations.
    pub seed: u64,
}

impl ClusterConfig {
    /// `clusters` centroids per kernel with k-means++ (tfmot's default initialization).
    pub fn new(clusters: usize) -> Self {
        ClusterConfig {
            clusters,
            init: CentroidInit::KmeansPlusPlus,
            preserve_sparsity: false,
            only: Vec::new(),
            skip: Vec::new(),
            seed: 0,
        }
    }
}

/// One clustered kernel.
struct Target {
    layer: usize,
    param: usize,
    /// Sparsity mask (1 keeps the weight), with `preserve_sparsity`.
    mask: Option<Vec<f32>>,
    /// Index of the centroid pinned to 0, with `preserve_sparsity`.
    zero: Option<usize>,
}

/// The clustering hook: owns the centroids (trainable extras) and the assignments.
pub struct Clusterer {
    net: Net,
    targets: Vec<Target>,
    centroids: Vec<Tensor<1>>,
    status: Vec<std::result::Result<(), String>>,
}

/// Clustering result of one weighted layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerClusters {
    /// Short layer name.
    pub layer: String,
    /// Operator (`CONV_2D`, ...).
    pub op: &'static str,
    /// Weight tensor name.
    pub tensor: String,
    /// Weight shape (TFLite layout).
    pub shape: Vec<usize>,
    /// Whether the layer was clustered, or why not.
    pub status: std::result::Result<(), String>,
    /// Number of weights.
    pub elements: usize,
    /// Distinct values in the exported weights.
    pub unique: usize,
    /// Exact zeros in the exported weights.
    pub zeros: usize,
}

/// What a clustering run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterReport {
    /// Centroids per kernel.
    pub clusters: usize,
    /// The initialization.
    pub init: CentroidInit,
    /// Every weighted layer, clustered or not.
    pub layers: Vec<LayerClusters>,
}

fn sorted_unique(w: &[f32]) -> Vec<f32> {
    let mut u = w.to_vec();
    u.sort_by(f32::total_cmp);
    u.dedup();
    u
}

impl Clusterer {
    /// Chooses the kernels of `trainer`'s network to cluster and initializes their centroids
    /// from the current weights.
    pub fn new(trainer: &Trainer, cfg: &ClusterConfig) -> Result<Self> {
        let min = if cfg.preserve_sparsity { 3 } else { 2 };
        if cfg.clusters < min {
            return Err(TrainError::Options(format!(
                "the number of clusters must be at least {min}{}, got {}",
                if cfg.preserve_sparsity {
                    " with sparsity preservation"
                } else {
                    ""
                },
                cfg.clusters
            )));
        }
        let net = trainer.net();
        net.check_selectors(cfg.only.iter().chain(&cfg.skip))?;
        let mut rng = Rng::new(cfg.seed);
        let mut c = Clusterer {
            net: net.clone(),
            targets: Vec::new(),
            centroids: Vec::new(),
            status: Vec::new(),
        };
        for (i, l) in net.layers.iter().enumerate() {
            let named = cfg.only.iter().any(|s| l.matches(s));
            let s = if !cfg.only.is_empty() && !named {
                Err("not selected by --only".to_string())
            } else if cfg.skip.iter().any(|s| l.matches(s)) {
                Err("skipped (--skip)".to_string())
            } else if l.kind == LayerKind::DepthwiseConv2d && !named {
                Err("depthwise kernels are not clustered (as in tfmot); name it in --only".into())
            } else {
                Ok(())
            };
            if s.is_ok() {
                let w = trainer.param_values(l.weight)?;
                let cents =
                    init_centroids(&w, cfg.clusters, cfg.init, cfg.preserve_sparsity, &mut rng);
                c.push(trainer, i, cents, cfg.preserve_sparsity)?;
            }
            c.status.push(s);
        }
        if c.targets.is_empty() {
            return Err(TrainError::Options("no layer is left to cluster".into()));
        }
        Ok(c)
    }

    /// The hook of cluster-preserving QAT: every conv / dense kernel (depthwise too) with 2 to
    /// `max_unique` distinct values keeps exactly those values as its centroids.
    pub fn from_unique(
        trainer: &Trainer,
        preserve_sparsity: bool,
        max_unique: usize,
    ) -> Result<Self> {
        let net = trainer.net();
        let mut c = Clusterer {
            net: net.clone(),
            targets: Vec::new(),
            centroids: Vec::new(),
            status: Vec::new(),
        };
        for (i, l) in net.layers.iter().enumerate() {
            let w = trainer.param_values(l.weight)?;
            let u = sorted_unique(&w);
            let s = if u.len() < 2 || u.len() > max_unique {
                Err(format!(
                    "{} distinct values (not clustered, up to {max_unique})",
                    u.len()
                ))
            } else {
                c.push(trainer, i, u, preserve_sparsity && w.contains(&0.0))?;
                Ok(())
            };
            c.status.push(s);
        }
        Ok(c)
    }

    fn push(
        &mut self,
        trainer: &Trainer,
        layer: usize,
        cents: Vec<f32>,
        sparse: bool,
    ) -> Result<()> {
        let param = self.net.layers[layer].weight;
        let (mask, zero) = if sparse {
            let w = trainer.param_values(param)?;
            let zero = nearest(0.0, &cents);
            let mask = w
                .iter()
                .map(|&v| f32::from(u8::from(cents[nearest(v, &cents)] != 0.0)))
                .collect();
            (Some(mask), Some(zero))
        } else {
            (None, None)
        };
        let k = cents.len();
        let device = trainer.params()[param].device();
        self.centroids
            .push(Tensor::<1>::from_data(TensorData::new(cents, [k]), &device));
        self.targets.push(Target {
            layer,
            param,
            mask,
            zero,
        });
        Ok(())
    }

    /// Sets the zero centroid of every sparsity-preserving kernel back to exactly 0.
    fn pin_zero_centroids(&mut self) -> Result<()> {
        for (t, target) in self.targets.iter().enumerate() {
            if let Some(z) = target.zero {
                let mut c = to_vec(&self.centroids[t].clone().inner())?;
                if c[z] != 0.0 {
                    c[z] = 0.0;
                    let k = c.len();
                    let device = self.centroids[t].device();
                    self.centroids[t] = Tensor::<1>::from_data(TensorData::new(c, [k]), &device);
                }
            }
        }
        Ok(())
    }

    /// Number of clustered kernels.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when no kernel is clustered.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Current centroids of every clustered kernel: `(layer name, centroids)`.
    pub fn centroids(&self) -> Result<Vec<(String, Vec<f32>)>> {
        self.targets
            .iter()
            .zip(&self.centroids)
            .map(|(t, c)| Ok((self.net.layers[t.layer].name.clone(), to_vec(c)?)))
            .collect()
    }

    /// The clustered values of kernel `t` given its current weights `w` (mask applied).
    fn clustered(&self, t: usize, w: &[f32]) -> Result<Vec<f32>> {
        let c = to_vec(&self.centroids[t])?;
        let target = &self.targets[t];
        Ok(w.iter()
            .enumerate()
            .map(|(i, &v)| {
                let v = target.mask.as_ref().map_or(v, |m| v * m[i]);
                c[nearest(v, &c)]
            })
            .collect())
    }

    /// Replaces every clustered kernel of `trainer` by its clustered values (tfmot's
    /// `strip_clustering`).
    pub fn strip(&self, trainer: &mut Trainer) -> Result<()> {
        for (t, target) in self.targets.iter().enumerate() {
            let w = trainer.param_values(target.param)?;
            let v = self.clustered(t, &w)?;
            trainer.set_param_values(target.param, v)?;
        }
        Ok(())
    }

    /// Per-layer unique values and zeros of `trainer`'s current weights.
    pub fn report(&self, trainer: &Trainer, cfg: &ClusterConfig) -> Result<ClusterReport> {
        let mut layers = Vec::new();
        for (i, l) in self.net.layers.iter().enumerate() {
            let w = trainer.param_values(l.weight)?;
            layers.push(LayerClusters {
                layer: l.name.clone(),
                op: l.kind.op_name(),
                tensor: l.tensor_name.clone(),
                shape: self.net.params[l.weight].shape.clone(),
                status: self.status[i].clone(),
                elements: w.len(),
                unique: sorted_unique(&w).len(),
                zeros: w.iter().filter(|&&v| v == 0.0).count(),
            });
        }
        Ok(ClusterReport {
            clusters: cfg.clusters,
            init: cfg.init,
            layers,
        })
    }
}

impl TrainHook for Clusterer {
    fn before_batch(&mut self, _step: i64, params: &mut [Tensor<1>]) -> Result<()> {
        // tfmot re-applies the sparsity mask to the original weights at every call.
        for target in &self.targets {
            if let Some(m) = &target.mask {
                let w = to_vec(&params[target.param])?;
                let v: Vec<f32> = w.iter().zip(m).map(|(a, b)| a * b).collect();
                let n = v.len();
                let device = params[target.param].device();
                params[target.param] = Tensor::<1>::from_data(TensorData::new(v, [n]), &device);
            }
        }
        self.pin_zero_centroids()
    }

    fn extras(&self) -> Vec<Tensor<1>> {
        self.centroids.clone()
    }

    fn set_extras(&mut self, values: Vec<Tensor<1>>) {
        if values.len() == self.centroids.len() {
            self.centroids = values;
        }
        // The optimizer step moved the zero centroids too; tfmot re-pins them before every use.
        let _ = self.pin_zero_centroids();
    }

    fn weight(&self, p: usize, w: Tensor<1>, extras: &[Tensor<1>], _training: bool) -> Tensor<1> {
        let Some(t) = self.targets.iter().position(|t| t.param == p) else {
            return w;
        };
        let Some(c) = extras.get(t) else {
            return w;
        };
        clustered_weight(w.clone(), c.clone(), self.targets[t].mask.as_deref()).unwrap_or(w)
    }
}

/// The clustering op: every weight of `w` (times `mask`, when given) replaced by its nearest
/// centroid. Backward: a centroid receives the sum of its weights' gradients, and each
/// original weight receives its own gradient unchanged (straight through, tfmot's
/// `add_gradient_to_original_weight`).
pub fn clustered_weight(
    w: Tensor<1>,
    centroids: Tensor<1>,
    mask: Option<&[f32]>,
) -> Result<Tensor<1>> {
    let host_w = to_vec(&w.clone().inner())?;
    let host_c = to_vec(&centroids.clone().inner())?;
    if mask.is_some_and(|m| m.len() != host_w.len()) {
        return Err(TrainError::InvalidModel(
            "cluster mask and weights differ in size".into(),
        ));
    }
    let idx: Vec<i64> = host_w
        .iter()
        .enumerate()
        .map(|(i, &v)| nearest(mask.map_or(v, |m| v * m[i]), &host_c) as i64)
        .collect();
    let n = idx.len();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &w.device());
    let clustered = centroids.select(0, idx);
    Ok(clustered + (w.clone() - w.detach()))
}

/// The gzip-compressed size of `bytes` (deflate level 6, as Python's `gzip` / `zipfile`), the
/// measure tfmot's guides use for pruned and clustered models.
pub fn gzip_size(bytes: &[u8]) -> Result<usize> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    enc.write_all(bytes)
        .and_then(|_| enc.finish())
        .map(|v| v.len())
        .map_err(|e| TrainError::Backend(format!("gzip: {e}")))
}

/// The outcome of [`cluster`].
pub struct ClusterOutcome {
    /// The stripped model (same graph, clustered weights).
    pub model: Model,
    /// Per-layer unique values.
    pub report: ClusterReport,
    /// Per-epoch loss and accuracy.
    pub history: History,
}

/// Fine-tunes `model` on `data` with weight clustering and returns the stripped model.
pub fn cluster(
    model: &Model,
    data: &Dataset,
    train: &TrainConfig,
    cfg: &ClusterConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ClusterOutcome> {
    let mut trainer = Trainer::new(model)?;
    let mut hook = Clusterer::new(&trainer, cfg)?;
    let history = trainer.fit(data, train, &mut hook, progress)?;
    hook.strip(&mut trainer)?;
    let report = hook.report(&trainer, cfg)?;
    Ok(ClusterOutcome {
        model: trainer.export()?,
        report,
        history,
    })
}
