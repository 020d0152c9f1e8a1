//! Batch normalization kept unfolded during training, as Keras (and so tfmot) trains it.
//!
//! ferrolite's Keras converter folds every `BatchNormalization` that follows a conv or dense
//! layer into that layer's weights (`W' = W·s`, `b' = (b - mean)·s + beta` with
//! `s = gamma / sqrt(var + eps)`), and names the folded kernel `conv1/kernel;bn1/scaled;bn1`.
//! [`keras_batch_norms`] reads the BN layers' parameters back from the Keras file;
//! [`UnfoldedBatchNorm::new`] matches them to the network's layers by that name, unfolds the
//! layer's parameters back to `W` and `b`, and from then on runs the normalization after the
//! layer: with the batch's statistics while training (and the moving averages updated with the
//! layer's momentum, the variance with Bessel's correction as TensorFlow's fused kernel does),
//! with the moving averages otherwise. `gamma` and `beta` are trained. Pruning and fake
//! quantization then act on the unfolded kernel `W`, as tfmot's do (tfmot's default 8-bit
//! scheme puts no fake quantization between a conv and its BN and quantizes the unfolded
//! kernel); [`UnfoldedBatchNorm::fold`] folds the BN back with the final statistics before export,
//! as TFLite's converter does.

use crate::error::{Result, TrainError};
use crate::forward::{to_vec, Act};
use crate::net::LayerKind;
use crate::train::{TrainHook, Trainer};
use burn::tensor::{Tensor, TensorData};
use ferrolite_convert::keras::config::parse_model;
use ferrolite_convert::keras::h5::{H5, HDF5_MAGIC};
use ferrolite_convert::keras::weights::{Role, WeightStore};
use std::io::Read;
use std::path::Path;

/// The parameters of one Keras `BatchNormalization` layer (channels last).
#[derive(Debug, Clone, PartialEq)]
pub struct KerasBatchNorm {
    /// Layer name.
    pub name: String,
    /// Scale (ones when `scale=False`).
    pub gamma: Vec<f32>,
    /// Offset (zeros when `center=False`).
    pub beta: Vec<f32>,
    /// Moving mean.
    pub mean: Vec<f32>,
    /// Moving variance.
    pub var: Vec<f32>,
    /// Variance epsilon.
    pub epsilon: f32,
    /// Moving-average momentum.
    pub momentum: f32,
}

fn convert_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::InvalidModel(format!("reading the Keras file: {e}"))
}

/// The `BatchNormalization` layers of a Keras `.h5` or `.keras` file.
pub fn keras_batch_norms(path: impl AsRef<Path>) -> Result<Vec<KerasBatchNorm>> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(convert_err)?;
    let (spec, store): (_, WeightStore) = if bytes.starts_with(HDF5_MAGIC) {
        let h5 = H5::from_bytes(bytes, &name).map_err(convert_err)?;
        let cfg = h5
            .root_str("model_config")
            .map_err(convert_err)?
            .ok_or_else(|| convert_err("no model_config"))?;
        let root = serde_json::from_str(&cfg).map_err(convert_err)?;
        let spec = parse_model(&root, &name).map_err(convert_err)?;
        (spec, h5.legacy_weights().map_err(convert_err)?)
    } else {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(convert_err)?;
        let mut member = |m: &str| -> Result<Vec<u8>> {
            let mut f = zip.by_name(m).map_err(convert_err)?;
            let mut v = Vec::new();
            f.read_to_end(&mut v).map_err(convert_err)?;
            Ok(v)
        };
        let cfg = member("config.json")?;
        let weights = member("model.weights.h5")?;
        let root = serde_json::from_slice(&cfg).map_err(convert_err)?;
        let spec = parse_model(&root, &name).map_err(convert_err)?;
        let h5 = H5::from_bytes(weights, &name).map_err(convert_err)?;
        let store = h5.keras3_weights(&spec).map_err(convert_err)?;
        (spec, store)
    };
    let mut out = Vec::new();
    for l in spec
        .layers
        .iter()
        .filter(|l| l.class_name == "BatchNormalization")
    {
        let flag = |k: &str| l.config.get(k).and_then(|v| v.as_bool()).unwrap_or(true);
        let num = |k: &str, d: f64| l.config.get(k).and_then(|v| v.as_f64()).unwrap_or(d);
        let (scale, center) = (flag("scale"), flag("center"));
        let mut roles = Vec::new();
        if scale {
            roles.push(Role::one("gamma"));
        }
        if center {
            roles.push(Role::one("beta"));
        }
        roles.push(Role::one("moving_mean"));
        roles.push(Role::one("moving_variance"));
        let ws = store.take(&l.name, &roles).map_err(convert_err)?;
        let (mean, var) = (ws[ws.len() - 2].data.clone(), ws[ws.len() - 1].data.clone());
        let c = mean.len();
        out.push(KerasBatchNorm {
            name: l.name.clone(),
            gamma: if scale {
                ws[0].data.clone()
            } else {
                vec![1.0; c]
            },
            beta: if center {
                ws[usize::from(scale)].data.clone()
            } else {
                vec![0.0; c]
            },
            mean,
            var,
            epsilon: num("epsilon", 1e-3) as f32,
            momentum: num("momentum", 0.99) as f32,
        });
    }
    Ok(out)
}

/// One unfolded batch normalization after network layer `layer`.
struct Unfolded {
    layer: usize,
    bn: KerasBatchNorm,
}

/// The hook running batch normalizations unfolded (gamma and beta are its trainable extras).
pub struct UnfoldedBatchNorm {
    items: Vec<Unfolded>,
    gammas_betas: Vec<Tensor<1>>,
    /// Moving `(mean, var)` per item saved by [`TrainHook::checkpoint`].
    saved: Vec<(Vec<f32>, Vec<f32>)>,
}

/// `(channels, channel of flat index i)` of a kernel in TFLite layout.
fn out_channel(kind: LayerKind, shape: &[usize]) -> (usize, Box<dyn Fn(usize) -> usize>) {
    match kind {
        LayerKind::DepthwiseConv2d => {
            let c = shape[3];
            (c, Box::new(move |i| i % c))
        }
        _ => {
            let per = shape[1..].iter().product::<usize>().max(1);
            (shape[0], Box::new(move |i| i / per))
        }
    }
}

fn scales(bn: &KerasBatchNorm, gamma: &[f32]) -> Vec<f32> {
    gamma
        .iter()
        .zip(&bn.var)
        .map(|(g, v)| g / (v + bn.epsilon).sqrt())
        .collect()
}

impl UnfoldedBatchNorm {
    /// Matches `bns` to `trainer`'s layers (a kernel named `…;<bn>/scaled…`) and unfolds their
    /// parameters in place. BN layers that were not folded into a layer are ignored.
    pub fn new(trainer: &mut Trainer, bns: &[KerasBatchNorm]) -> Result<Self> {
        let mut items = Vec::new();
        let mut gammas_betas = Vec::new();
        let layers = trainer.net().layers.clone();
        for (li, l) in layers.iter().enumerate() {
            let Some(bn) = bns.iter().find(|b| {
                l.tensor_name
                    .split(';')
                    .any(|part| part == format!("{}/scaled", b.name))
            }) else {
                continue;
            };
            let shape = trainer.net().params[l.weight].shape.clone();
            let (c, ch) = out_channel(l.kind, &shape);
            if bn.gamma.len() != c || bn.mean.len() != c || bn.var.len() != c {
                return Err(TrainError::InvalidModel(format!(
                    "batch norm '{}' has {} channels, layer '{}' {c}",
                    bn.name,
                    bn.mean.len(),
                    l.name
                )));
            }
            let s = scales(bn, &bn.gamma);
            if s.iter().any(|&v| v == 0.0 || !v.is_finite()) {
                return Err(TrainError::Unsupported(format!(
                    "batch norm '{}' has a zero scale: it cannot be unfolded",
                    bn.name
                )));
            }
            let b = l.bias.ok_or_else(|| {
                TrainError::InvalidModel(format!("folded layer '{}' has no bias", l.name))
            })?;
            let w = trainer.param_values(l.weight)?;
            let w: Vec<f32> = w.iter().enumerate().map(|(i, v)| v / s[ch(i)]).collect();
            trainer.set_param_values(l.weight, w)?;
            let bias = trainer.param_values(b)?;
            let bias: Vec<f32> = (0..c)
                .map(|k| (bias[k] - bn.beta[k]) / s[k] + bn.mean[k])
                .collect();
            trainer.set_param_values(b, bias)?;
            let device = trainer.params()[l.weight].device();
            for v in [&bn.gamma, &bn.beta] {
                gammas_betas.push(Tensor::<1>::from_data(
                    TensorData::new(v.clone(), [c]),
                    &device,
                ));
            }
            items.push(Unfolded {
                layer: li,
                bn: bn.clone(),
            });
        }
        Ok(UnfoldedBatchNorm {
            items,
            gammas_betas,
            saved: Vec::new(),
        })
    }

    /// Number of unfolded batch normalizations.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when no layer had a batch normalization folded in.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Folds every batch normalization back into its layer with the current gamma, beta and
    /// moving statistics (what TFLite's converter does).
    pub fn fold(&self, trainer: &mut Trainer) -> Result<()> {
        for (k, it) in self.items.iter().enumerate() {
            let l = trainer.net().layers[it.layer].clone();
            let shape = trainer.net().params[l.weight].shape.clone();
            let (c, ch) = out_channel(l.kind, &shape);
            let gamma = to_vec(&self.gammas_betas[2 * k])?;
            let beta = to_vec(&self.gammas_betas[2 * k + 1])?;
            let s = scales(&it.bn, &gamma);
            let w = trainer.param_values(l.weight)?;
            let w = w.iter().enumerate().map(|(i, v)| v * s[ch(i)]).collect();
            trainer.set_param_values(l.weight, w)?;
            if let Some(b) = l.bias {
                let bias = trainer.param_values(b)?;
                let bias = (0..c)
                    .map(|j| (bias[j] - it.bn.mean[j]) * s[j] + beta[j])
                    .collect();
                trainer.set_param_values(b, bias)?;
            }
        }
        Ok(())
    }
}

/// `v` shaped to broadcast over the channels of `like`.
fn channel(v: Tensor<1>, like: &Act) -> Act {
    let n = v.dims()[0];
    match like {
        Act::Image(_) => Act::Image(v.reshape([1, n, 1, 1])),
        Act::Flat(_) => Act::Flat(v.reshape([1, n])),
    }
}

impl TrainHook for UnfoldedBatchNorm {
    fn checkpoint(&mut self) {
        self.saved = self
            .items
            .iter()
            .map(|it| (it.bn.mean.clone(), it.bn.var.clone()))
            .collect();
    }

    fn restore_checkpoint(&mut self) {
        for (it, (m, v)) in self.items.iter_mut().zip(&self.saved) {
            it.bn.mean.clone_from(m);
            it.bn.var.clone_from(v);
        }
    }

    fn extras(&self) -> Vec<Tensor<1>> {
        self.gammas_betas.clone()
    }

    fn set_extras(&mut self, values: Vec<Tensor<1>>) {
        if values.len() == self.gammas_betas.len() {
            self.gammas_betas = values;
        }
    }

    fn pre_activation(
        &mut self,
        layer: usize,
        z: Act,
        extras: &[Tensor<1>],
        training: bool,
    ) -> Act {
        let Some(k) = self.items.iter().position(|it| it.layer == layer) else {
            return z;
        };
        let (Some(gamma), Some(beta)) = (extras.get(2 * k), extras.get(2 * k + 1)) else {
            return z;
        };
        let bn = &mut self.items[k].bn;
        let device = match &z {
            Act::Image(t) => t.device(),
            Act::Flat(t) => t.device(),
        };
        let c = bn.mean.len();
        let (mean, var) = if training {
            let (m, v, count) = match &z {
                Act::Image(t) => {
                    let [n, _, h, w] = t.dims();
                    let m = t.clone().mean_dim(0).mean_dim(2).mean_dim(3);
                    let d = t.clone() - m.clone();
                    let v = (d.clone() * d).mean_dim(0).mean_dim(2).mean_dim(3);
                    (Act::Image(m), Act::Image(v), n * h * w)
                }
                Act::Flat(t) => {
                    let m = t.clone().mean_dim(0);
                    let d = t.clone() - m.clone();
                    let v = (d.clone() * d).mean_dim(0);
                    (Act::Flat(m), Act::Flat(v), t.dims()[0])
                }
            };
            let host = |a: &Act| match a {
                Act::Image(t) => to_vec(&t.clone().inner()),
                Act::Flat(t) => to_vec(&t.clone().inner()),
            };
            if let (Ok(hm), Ok(hv)) = (host(&m), host(&v)) {
                let mom = bn.momentum;
                let bessel = count as f32 / (count.max(2) - 1) as f32;
                for j in 0..c.min(hm.len()) {
                    bn.mean[j] = bn.mean[j] * mom + hm[j] * (1.0 - mom);
                    bn.var[j] = bn.var[j] * mom + hv[j] * bessel * (1.0 - mom);
                }
            }
            (m, v)
        } else {
            let t = |v: &Vec<f32>| Tensor::<1>::from_data(TensorData::new(v.clone(), [c]), &device);
            (channel(t(&bn.mean), &z), channel(t(&bn.var), &z))
        };
        let eps = bn.epsilon;
        let (g, b) = (channel(gamma.clone(), &z), channel(beta.clone(), &z));
        match (z, mean, var, g, b) {
            (Act::Image(z), Act::Image(m), Act::Image(v), Act::Image(g), Act::Image(b)) => {
                Act::Image((z - m) / v.add_scalar(eps).sqrt() * g + b)
            }
            (Act::Flat(z), Act::Flat(m), Act::Flat(v), Act::Flat(g), Act::Flat(b)) => {
                Act::Flat((z - m) / v.add_scalar(eps).sqrt() * g + b)
            }
            (z, ..) => z,
        }
    }
}
