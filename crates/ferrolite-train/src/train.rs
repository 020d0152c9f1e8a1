//! The training loop: a [`Trainer`] owns the network and its parameters, fits them on a
//! [`Dataset`] the way Keras' `model.fit` does, and exports the result back to the IR.
//!
//! Per batch: [`TrainHook::before_batch`] (pruning masks), forward with the hook's effective
//! weights and activations (fake quantization), cross-entropy, backward, one optimizer step.
//! Per epoch: [`TrainHook::after_epoch`], then validation. Batches are drawn in an order
//! shuffled per epoch by a seeded generator, so the same seed gives the same run. Before the
//! first step a hook may ask for a calibration pass ([`TrainHook::begin_calibration`]); with
//! [`TrainConfig::restore_best`] the starting point and every epoch are scored on the
//! validation split and the best state (parameters, extras, hook checkpoint) is kept.

use crate::data::{argmax, Dataset, Rng};
use crate::error::{Result, TrainError};
use crate::forward::{cross_entropy, forward, input_act, to_vec, Act, Site};
use crate::net::Net;
use crate::optim::{OptimState, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};
use ferrolite_model::{Bytes, Model};
use std::time::Instant;

/// Options of [`Trainer::fit`] (Keras `fit` equivalents).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per optimizer step.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: Optimizer,
    /// Base learning rate.
    pub learning_rate: f32,
    /// How the rate changes over the run (step by step, over all epochs).
    pub lr_schedule: crate::schedule::LrSchedule,
    /// Fraction of the data (its tail, before shuffling) held out for validation.
    pub validation_split: f32,
    /// Keep the parameters (and hook state) with the best validation metric among the starting
    /// point and the end of every epoch, as Keras' `ModelCheckpoint(save_best_only=True)`
    /// (only a strict improvement replaces the kept state); needs a validation split.
    pub restore_best: Option<Monitor>,
    /// Seed of the per-epoch shuffle.
    pub seed: u64,
    /// Shuffle the training samples every epoch.
    pub shuffle: bool,
    /// Batch normalizations to keep unfolded while training (read from the Keras source with
    /// [`crate::bn::keras_batch_norms`]); empty trains the folded model. Used by pruning and
    /// QAT; clustering always works on the folded kernels.
    pub batch_norms: Vec<crate::bn::KerasBatchNorm>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 2,
            batch_size: 32,
            optimizer: Optimizer::adam(),
            learning_rate: 1e-3,
            lr_schedule: crate::schedule::LrSchedule::Constant,
            validation_split: 0.0,
            restore_best: None,
            seed: 0,
            shuffle: true,
            batch_norms: Vec::new(),
        }
    }
}

/// The validation metric [`TrainConfig::restore_best`] watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    /// Lowest validation loss.
    ValLoss,
    /// Highest validation accuracy.
    ValAccuracy,
}

impl Monitor {
    /// The score of `(loss, accuracy)` under this metric (higher is better).
    fn score(self, loss: f32, accuracy: f32) -> f32 {
        match self {
            Monitor::ValLoss => -loss,
            Monitor::ValAccuracy => accuracy,
        }
    }
}

/// Loss and accuracy of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Total epochs of the run.
    pub epochs: usize,
    /// Mean training loss over the epoch's batches (weights as each batch saw them).
    pub loss: f32,
    /// Training accuracy over the epoch.
    pub accuracy: f32,
    /// Validation loss, when a validation split is used.
    pub val_loss: Option<f32>,
    /// Validation accuracy, when a validation split is used.
    pub val_accuracy: Option<f32>,
    /// Optimizer steps taken so far (all epochs).
    pub steps: u64,
    /// Wall time of the epoch, in seconds (training and validation).
    pub seconds: f64,
}

/// What [`Trainer::fit`] reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// An epoch starts with `batches` batches.
    EpochBegin {
        /// 1-based epoch number.
        epoch: usize,
        /// Total epochs.
        epochs: usize,
        /// Batches in this epoch.
        batches: usize,
    },
    /// A batch finished.
    Batch {
        /// 1-based epoch number.
        epoch: usize,
        /// 1-based batch number within the epoch.
        batch: usize,
        /// Running mean loss of the epoch so far.
        loss: f32,
        /// Running accuracy of the epoch so far.
        accuracy: f32,
    },
    /// An epoch finished.
    EpochEnd(EpochStats),
}

/// The record of a [`Trainer::fit`] run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// One entry per epoch.
    pub epochs: Vec<EpochStats>,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Mean wall time of one training step (forward, backward, update), in milliseconds.
    pub step_ms: f64,
    /// With [`TrainConfig::restore_best`]: the epoch whose parameters were kept (0 for the
    /// starting point) and its validation `(loss, accuracy)`.
    pub best: Option<(usize, f32, f32)>,
}

/// Extension points of the training loop (pruning, quantization-aware training).
pub trait TrainHook {
    /// Called once before the first step of [`Trainer::fit`]: the number of training samples
    /// (the first ones, validation split removed) the hook wants to see in a calibration pass
    /// (inference mode, [`TrainHook::end_calibration`] after it); 0 for none.
    fn begin_calibration(&mut self) -> usize {
        0
    }
    /// Ends the calibration pass started by [`TrainHook::begin_calibration`].
    fn end_calibration(&mut self) {}
    /// Remembers the hook's non-trainable state (ranges, moving statistics) as the best so far
    /// ([`TrainConfig::restore_best`]; the trainer saves the parameters and extras itself).
    fn checkpoint(&mut self) {}
    /// Returns to the state saved by the last [`TrainHook::checkpoint`].
    fn restore_checkpoint(&mut self) {}
    /// Runs before the batch at tfmot step `step` (1 for the first batch); may rewrite the
    /// parameters (values without autodiff).
    fn before_batch(&mut self, _step: i64, _params: &mut [Tensor<1>]) -> Result<()> {
        Ok(())
    }
    /// Runs after every epoch, before validation.
    fn after_epoch(&mut self, _params: &mut [Tensor<1>]) -> Result<()> {
        Ok(())
    }
    /// Extra trainable tensors the hook owns (cluster centroids), optimized with the
    /// parameters. Their current values, without autodiff.
    fn extras(&self) -> Vec<Tensor<1>> {
        Vec::new()
    }
    /// Stores the optimized values of [`TrainHook::extras`] (same order and lengths).
    fn set_extras(&mut self, _values: Vec<Tensor<1>>) {}
    /// The value of parameter `p` the forward pass uses (for example fake-quantized);
    /// `extras` are the hook's extra tensors as the forward pass sees them (autodiff leaves
    /// while training).
    fn weight(&self, _p: usize, w: Tensor<1>, _extras: &[Tensor<1>], _training: bool) -> Tensor<1> {
        w
    }
    /// The value of activation tensor `t` the rest of the network sees.
    fn activation(&mut self, _t: usize, a: Act, _training: bool) -> Act {
        a
    }
    /// The result of weighted layer `layer` before its fused activation (batch normalization
    /// kept unfolded runs here); `extras` as in [`TrainHook::weight`].
    fn pre_activation(
        &mut self,
        _layer: usize,
        z: Act,
        _extras: &[Tensor<1>],
        _training: bool,
    ) -> Act {
        z
    }
}

/// A hook that changes nothing (plain fine-tuning).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl TrainHook for NoHook {}

/// A trainable copy of a float model.
pub struct Trainer {
    model: Model,
    net: Net,
    params: Vec<Tensor<1>>,
    device: Device,
}

impl Trainer {
    /// Builds the network of a float32 `model` on burn's CPU backend, parameters taken from the
    /// model's constants.
    pub fn new(model: &Model) -> Result<Self> {
        let net = Net::from_model(model)?;
        let device = Device::flex();
        let params = net
            .params
            .iter()
            .map(|p| {
                Tensor::<1>::from_data(TensorData::new(p.values.clone(), [p.values.len()]), &device)
            })
            .collect();
        Ok(Trainer {
            model: model.clone(),
            net,
            params,
            device,
        })
    }

    /// The resolved network.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// The current parameters (flat, TFLite layout, without autodiff).
    pub fn params(&self) -> &[Tensor<1>] {
        &self.params
    }

    /// Current values of parameter `p`.
    pub fn param_values(&self, p: usize) -> Result<Vec<f32>> {
        let t = self
            .params
            .get(p)
            .ok_or_else(|| TrainError::Options(format!("no parameter {p}")))?;
        to_vec(t)
    }

    fn check_data(&self, data: &Dataset) -> Result<()> {
        if data.sample_len() != self.net.input_shape.iter().product::<usize>() {
            return Err(TrainError::Data(format!(
                "samples of shape {:?} do not fit the model input {:?}",
                data.sample_shape, self.net.input_shape
            )));
        }
        if let Some(&bad) = data.y.iter().find(|&&y| y >= self.net.classes) {
            return Err(TrainError::Data(format!(
                "label {bad} is out of range for {} classes",
                self.net.classes
            )));
        }
        Ok(())
    }

    fn beta(&self) -> f32 {
        self.net.softmax_beta.unwrap_or(1.0)
    }

    /// Logits `[n, classes]` of `n` samples, inference mode.
    pub fn logits(&self, x: Vec<f32>, n: usize, hook: &mut dyn TrainHook) -> Result<Vec<f32>> {
        let extras = hook.extras();
        let weights: Vec<Tensor<1>> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| hook.weight(i, p.clone(), &extras, false))
            .collect();
        let input = input_act(&self.net, x, n, &self.device)?;
        let logits = forward(&self.net, &weights, input, &mut |site, a| match site {
            Site::Tensor(t) => hook.activation(t, a, false),
            Site::PreActivation(l) => hook.pre_activation(l, a, &extras, false),
        })?;
        to_vec(&logits)
    }

    /// Mean loss and accuracy on `data`, inference mode.
    pub fn evaluate(
        &self,
        data: &Dataset,
        batch_size: usize,
        hook: &mut dyn TrainHook,
    ) -> Result<(f32, f32)> {
        self.check_data(data)?;
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        let batch = batch_size.max(1);
        let indices: Vec<usize> = (0..data.len()).collect();
        for chunk in indices.chunks(batch) {
            let (x, y) = data.gather(chunk);
            let logits = self.logits(x, chunk.len(), hook)?;
            let (l, c) = host_loss(&logits, &y, self.net.classes, self.beta());
            loss_sum += l;
            correct += c;
        }
        let n = data.len().max(1) as f64;
        Ok(((loss_sum / n) as f32, (correct as f64 / n) as f32))
    }

    /// Fine-tunes the parameters on `data`; `progress` sees every batch and epoch.
    pub fn fit(
        &mut self,
        data: &Dataset,
        cfg: &TrainConfig,
        hook: &mut dyn TrainHook,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<History> {
        self.check_data(data)?;
        if cfg.batch_size == 0 {
            return Err(TrainError::Options("batch size must be > 0".into()));
        }
        if !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
            return Err(TrainError::Options(format!(
                "learning rate must be > 0, got {}",
                cfg.learning_rate
            )));
        }
        let (train, val) = if cfg.validation_split > 0.0 {
            let (t, v) = data.split_validation(cfg.validation_split)?;
            (t, (!v.is_empty()).then_some(v))
        } else {
            (data.clone(), None)
        };
        if train.is_empty() {
            return Err(TrainError::Data("no training samples".into()));
        }
        if cfg.restore_best.is_some() && val.is_none() {
            return Err(TrainError::Options(
                "keeping the best epoch needs a validation split".into(),
            ));
        }
        let calibration = hook.begin_calibration().min(train.len());
        if calibration > 0 {
            let indices: Vec<usize> = (0..calibration).collect();
            for chunk in indices.chunks(cfg.batch_size) {
                let (x, _) = train.gather(chunk);
                self.logits(x, chunk.len(), hook)?;
            }
            hook.end_calibration();
        }
        // (epoch, score, loss, accuracy, parameters, extras) of the best state so far.
        type Kept = (usize, f32, f32, f32, Vec<Tensor<1>>, Vec<Tensor<1>>);
        let mut best: Option<Kept> = None;
        let mut keep_if_best = |epoch: usize,
                                (loss, acc): (f32, f32),
                                params: &[Tensor<1>],
                                hook: &mut dyn TrainHook| {
            let Some(monitor) = cfg.restore_best else {
                return;
            };
            let score = monitor.score(loss, acc);
            if best.as_ref().is_none_or(|b| score > b.1) {
                hook.checkpoint();
                best = Some((epoch, score, loss, acc, params.to_vec(), hook.extras()));
            }
        };
        if let (Some(_), Some(v)) = (cfg.restore_best, &val) {
            let metrics = self.evaluate(v, 256, hook)?;
            keep_if_best(0, metrics, &self.params, hook);
        }
        let mut rng = Rng::new(cfg.seed);
        let mut order: Vec<usize> = (0..train.len()).collect();
        let n_params = self.params.len();
        let mut opt = OptimState::new(cfg.optimizer, n_params + hook.extras().len());
        let mut history = History::default();
        let mut step_time = 0.0f64;
        let batches = train.len().div_ceil(cfg.batch_size);
        for epoch in 1..=cfg.epochs {
            let t_epoch = Instant::now();
            progress(&Progress::EpochBegin {
                epoch,
                epochs: cfg.epochs,
                batches,
            });
            if cfg.shuffle {
                rng.shuffle(&mut order);
            }
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
                let t_step = Instant::now();
                let step = history.steps as i64 + 1;
                hook.before_batch(step, &mut self.params)?;
                let (x, y) = train.gather(chunk);
                let leaves: Vec<Tensor<1>> = self
                    .params
                    .iter()
                    .map(|p| p.clone().autodiff().require_grad())
                    .collect();
                let extras = hook.extras();
                let extra_leaves: Vec<Tensor<1>> = extras
                    .iter()
                    .map(|e| e.clone().autodiff().require_grad())
                    .collect();
                let weights: Vec<Tensor<1>> = leaves
                    .iter()
                    .enumerate()
                    .map(|(i, l)| hook.weight(i, l.clone(), &extra_leaves, true))
                    .collect();
                let input = input_act(&self.net, x, chunk.len(), &self.device)?
                    .map(|t| t.autodiff(), |t| t.autodiff());
                let logits = forward(&self.net, &weights, input, &mut |site, a| match site {
                    Site::Tensor(t) => hook.activation(t, a, true),
                    Site::PreActivation(l) => hook.pre_activation(l, a, &extra_leaves, true),
                })?;
                let loss = cross_entropy(logits.clone(), self.beta(), &y);
                let grads = loss.backward();
                let lr = cfg.learning_rate
                    * cfg
                        .lr_schedule
                        .factor(history.steps, (batches * cfg.epochs) as u64);
                opt.begin_step();
                for (i, leaf) in leaves.iter().enumerate() {
                    if let Some(g) = leaf.grad(&grads) {
                        let w = self.params[i].clone();
                        self.params[i] = opt.update(i, w, g, lr);
                    }
                }
                if !extras.is_empty() {
                    let updated = extras
                        .into_iter()
                        .zip(&extra_leaves)
                        .enumerate()
                        .map(|(j, (e, leaf))| match leaf.grad(&grads) {
                            Some(g) => opt.update(n_params + j, e, g, lr),
                            None => e,
                        })
                        .collect();
                    hook.set_extras(updated);
                }
                let host_logits = to_vec(&logits.inner())?;
                let loss_v = to_vec(&loss.inner())?.first().copied().unwrap_or(f32::NAN);
                step_time += t_step.elapsed().as_secs_f64();
                history.steps += 1;
                let (_, c) = host_loss(&host_logits, &y, self.net.classes, self.beta());
                loss_sum += f64::from(loss_v) * chunk.len() as f64;
                correct += c;
                seen += chunk.len();
                progress(&Progress::Batch {
                    epoch,
                    batch: b + 1,
                    loss: (loss_sum / seen as f64) as f32,
                    accuracy: (correct as f64 / seen as f64) as f32,
                });
            }
            hook.after_epoch(&mut self.params)?;
            let (val_loss, val_accuracy) = match &val {
                Some(v) => {
                    let (l, a) = self.evaluate(v, 256, hook)?;
                    (Some(l), Some(a))
                }
                None => (None, None),
            };
            let stats = EpochStats {
                epoch,
                epochs: cfg.epochs,
                loss: (loss_sum / seen.max(1) as f64) as f32,
                accuracy: (correct as f64 / seen.max(1) as f64) as f32,
                val_loss,
                val_accuracy,
                steps: history.steps,
                seconds: t_epoch.elapsed().as_secs_f64(),
            };
            if let (Some(l), Some(a)) = (val_loss, val_accuracy) {
                keep_if_best(epoch, (l, a), &self.params, hook);
            }
            progress(&Progress::EpochEnd(stats.clone()));
            history.epochs.push(stats);
        }
        if let Some((epoch, _, loss, acc, params, extras)) = best {
            if epoch != cfg.epochs {
                self.params = params;
                hook.set_extras(extras);
                hook.restore_checkpoint();
            }
            history.best = Some((epoch, loss, acc));
        }
        history.step_ms = if history.steps > 0 {
            step_time * 1000.0 / history.steps as f64
        } else {
            0.0
        };
        Ok(history)
    }

    /// Replaces parameter `p`'s values (same length).
    pub fn set_param_values(&mut self, p: usize, values: Vec<f32>) -> Result<()> {
        let n = self
            .net
            .params
            .get(p)
            .ok_or_else(|| TrainError::Options(format!("no parameter {p}")))?
            .values
            .len();
        if values.len() != n {
            return Err(TrainError::Options(format!(
                "parameter {p} has {n} values, got {}",
                values.len()
            )));
        }
        self.params[p] = Tensor::<1>::from_data(TensorData::new(values, [n]), &self.device);
        Ok(())
    }

    /// The original model with every parameter replaced by its current value (same graph,
    /// same tensor order; only constant data changes).
    pub fn export(&self) -> Result<Model> {
        let mut model = self.model.clone();
        let sg = &mut model.subgraphs[0];
        for (p, info) in self.net.params.iter().enumerate() {
            let values = to_vec(&self.params[p])?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            sg.tensors[info.tensor].data = Some(Bytes::from_vec(bytes));
        }
        ferrolite_model::validate(&model)?;
        Ok(model)
    }

    /// The model this trainer was built from.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

/// Summed cross-entropy and correct count of host logits (float64 accumulation).
fn host_loss(logits: &[f32], labels: &[usize], classes: usize, beta: f32) -> (f64, usize) {
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for (row, &y) in logits.chunks(classes.max(1)).zip(labels) {
        if argmax(row) == y {
            correct += 1;
        }
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let lse: f64 = row
            .iter()
            .map(|&v| (f64::from(beta) * f64::from(v - m)).exp())
            .sum::<f64>()
            .ln();
        loss += lse - f64::from(beta) * f64::from(row.get(y).copied().unwrap_or(m) - m);
    }
    (loss, correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_loss_matches_the_definition() {
        // Uniform logits: loss ln(3) per row, argmax is the first class.
        let (l, c) = host_loss(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], &[0, 0], 3, 1.0);
        assert_eq!(c, 2);
        let expected = 3f64.ln() + ((1f64.exp() + 2.0).ln() - 1.0);
        assert!((l - expected).abs() < 1e-9);
    }
}
