//! Composing training hooks, for tfmot's collaborative optimizations.
//!
//! [`Chain`] runs two hooks in sequence: the first one's effective weight is what the second
//! one sees (so `Chain(SparsityMask, Qat)` fake-quantizes the masked weights), activations go
//! through both, and the extra trainable tensors of both are optimized.
//!
//! [`SparsityMask`] is tfmot's prune-preserving QAT (PQAT) weight rule: the zeros of a pruned
//! model's kernels are recorded when training starts and every forward pass multiplies the
//! weights by that mask, so fine-tuning never revives a pruned weight; [`SparsityMask::strip`]
//! folds the mask in before export.

use crate::error::Result;
use crate::forward::{to_vec, Act};
use crate::net::LayerKind;
use crate::train::{TrainHook, Trainer};
use burn::tensor::{Tensor, TensorData};

/// Two hooks applied in order.
pub struct Chain<A, B>(pub A, pub B);

impl<A: TrainHook, B: TrainHook> TrainHook for Chain<A, B> {
    fn begin_calibration(&mut self) -> usize {
        self.0.begin_calibration().max(self.1.begin_calibration())
    }

    fn end_calibration(&mut self) {
        self.0.end_calibration();
        self.1.end_calibration();
    }

    fn checkpoint(&mut self) {
        self.0.checkpoint();
        self.1.checkpoint();
    }

    fn restore_checkpoint(&mut self) {
        self.0.restore_checkpoint();
        self.1.restore_checkpoint();
    }

    fn before_batch(&mut self, step: i64, params: &mut [Tensor<1>]) -> Result<()> {
        self.0.before_batch(step, params)?;
        self.1.before_batch(step, params)
    }

    fn after_epoch(&mut self, params: &mut [Tensor<1>]) -> Result<()> {
        self.0.after_epoch(params)?;
        self.1.after_epoch(params)
    }

    fn extras(&self) -> Vec<Tensor<1>> {
        let mut e = self.0.extras();
        e.extend(self.1.extras());
        e
    }

    fn set_extras(&mut self, mut values: Vec<Tensor<1>>) {
        let n = self.0.extras().len().min(values.len());
        let rest = values.split_off(n);
        self.0.set_extras(values);
        self.1.set_extras(rest);
    }

    fn weight(&self, p: usize, w: Tensor<1>, extras: &[Tensor<1>], training: bool) -> Tensor<1> {
        let n = self.0.extras().len().min(extras.len());
        let w = self.0.weight(p, w, &extras[..n], training);
        self.1.weight(p, w, &extras[n..], training)
    }

    fn activation(&mut self, t: usize, a: Act, training: bool) -> Act {
        let a = self.0.activation(t, a, training);
        self.1.activation(t, a, training)
    }

    fn pre_activation(&mut self, l: usize, z: Act, extras: &[Tensor<1>], training: bool) -> Act {
        let n = self.0.extras().len().min(extras.len());
        let z = self.0.pre_activation(l, z, &extras[..n], training);
        self.1.pre_activation(l, z, &extras[n..], training)
    }
}

/// Fixed masks keeping a pruned model's zeros at zero (tfmot's prune-preserving QAT).
pub struct SparsityMask {
    /// `(param, mask)` of every kernel that holds at least one zero.
    masks: Vec<(usize, Tensor<1>)>,
}

impl SparsityMask {
    /// Records the zeros of every conv / depthwise / dense kernel of `trainer`'s current weights.
    pub fn new(trainer: &Trainer) -> Result<Self> {
        let mut masks = Vec::new();
        for l in &trainer.net().layers {
            if !matches!(
                l.kind,
                LayerKind::Conv2d | LayerKind::DepthwiseConv2d | LayerKind::FullyConnected
            ) {
                continue;
            }
            let w = trainer.param_values(l.weight)?;
            if !w.contains(&0.0) {
                continue;
            }
            let m: Vec<f32> = w.iter().map(|&v| f32::from(u8::from(v != 0.0))).collect();
            let n = m.len();
            let device = trainer.params()[l.weight].device();
            masks.push((
                l.weight,
                Tensor::<1>::from_data(TensorData::new(m, [n]), &device),
            ));
        }
        Ok(SparsityMask { masks })
    }

    /// Number of masked kernels.
    pub fn len(&self) -> usize {
        self.masks.len()
    }

    /// True when no kernel holds a zero (nothing to preserve).
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// Multiplies the trainer's kernels by their masks.
    pub fn strip(&self, trainer: &mut Trainer) -> Result<()> {
        for (p, m) in &self.masks {
            let w = trainer.param_values(*p)?;
            let m = to_vec(m)?;
            trainer.set_param_values(*p, w.iter().zip(&m).map(|(a, b)| a * b).collect())?;
        }
        Ok(())
    }
}

impl TrainHook for SparsityMask {
    fn weight(&self, p: usize, w: Tensor<1>, _extras: &[Tensor<1>], _training: bool) -> Tensor<1> {
        match self.masks.iter().find(|(q, _)| *q == p) {
            Some((_, m)) => {
                let m = if w.is_autodiff() {
                    m.clone().autodiff()
                } else {
                    m.clone()
                };
                w * m
            }
            None => w,
        }
    }
}
