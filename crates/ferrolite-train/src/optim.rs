//! Optimizers with Keras' update rules (tf-keras 2.x `SGD` and `Adam`), so a fine-tune here
//! behaves like the same `model.fit` with tfmot.
//!
//! - SGD: `m = momentum * m - lr * g`, then `w += m` (or `w += momentum * m - lr * g` with
//!   Nesterov); plain `w -= lr * g` without momentum.
//! - Adam: `m += (g - m) * (1 - β1)`, `v += (g² - v) * (1 - β2)`,
//!   `w -= lr * sqrt(1 - β2^t) / (1 - β1^t) * m / (sqrt(v) + ε)` with Keras' ε = 1e-7.

use burn::tensor::Tensor;
use std::fmt;

/// Which optimizer to fine-tune with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent with (optional) momentum.
    Sgd {
        /// Momentum factor (0 disables it).
        momentum: f32,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// Adam.
    Adam {
        /// Decay of the first moment (Keras default 0.9).
        beta1: f32,
        /// Decay of the second moment (Keras default 0.999).
        beta2: f32,
        /// Denominator guard (Keras default 1e-7).
        epsilon: f32,
    },
}

impl Optimizer {
    /// Keras' `Adam()` defaults.
    pub fn adam() -> Self {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// SGD with the given momentum (Keras' `SGD(momentum=m)`).
    pub fn sgd(momentum: f32) -> Self {
        Optimizer::Sgd {
            momentum,
            nesterov: false,
        }
    }
}

impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Optimizer::Sgd { momentum, nesterov } => {
                write!(
                    f,
                    "SGD(momentum={momentum}{})",
                    if *nesterov { ", nesterov" } else { "" }
                )
            }
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
            } => write!(
                f,
                "Adam(beta_1={beta1}, beta_2={beta2}, epsilon={epsilon:e})"
            ),
        }
    }
}

/// Per-parameter optimizer state.
pub(crate) struct OptimState {
    kind: Optimizer,
    m: Vec<Option<Tensor<1>>>,
    v: Vec<Option<Tensor<1>>>,
    iterations: u64,
}

impl OptimState {
    /// Fresh state for `n` parameters (Keras' `iterations` starts at 0).
    pub fn new(kind: Optimizer, n: usize) -> Self {
        OptimState {
            kind,
            m: vec![None; n],
            v: vec![None; n],
            iterations: 0,
        }
    }

    /// Counts one optimizer step (call once per batch, before the per-parameter updates).
    pub fn begin_step(&mut self) {
        self.iterations += 1;
    }

    /// Updates parameter `i` (a tensor without autodiff) with gradient `g` at learning rate `lr`.
    pub fn update(&mut self, i: usize, w: Tensor<1>, g: Tensor<1>, lr: f32) -> Tensor<1> {
        match self.kind {
            Optimizer::Sgd { momentum, nesterov } => {
                if momentum == 0.0 {
                    return w - g.mul_scalar(lr);
                }
                let m_prev = self.m[i].take().unwrap_or_else(|| g.zeros_like());
                let m = m_prev.mul_scalar(momentum) - g.clone().mul_scalar(lr);
                let w = if nesterov {
                    w + m.clone().mul_scalar(momentum) - g.mul_scalar(lr)
                } else {
                    w + m.clone()
                };
                self.m[i] = Some(m);
                w
            }
            Optimizer::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                let t = self.iterations.max(1) as i32;
                let b1p = f64::from(beta1).powi(t);
                let b2p = f64::from(beta2).powi(t);
                let alpha = (f64::from(lr) * (1.0 - b2p).sqrt() / (1.0 - b1p)) as f32;
                let m_prev = self.m[i].take().unwrap_or_else(|| g.zeros_like());
                let v_prev = self.v[i].take().unwrap_or_else(|| g.zeros_like());
                let m = m_prev.clone() + (g.clone() - m_prev).mul_scalar(1.0 - beta1);
                let g2 = g.square();
                let v = v_prev.clone() + (g2 - v_prev).mul_scalar(1.0 - beta2);
                let step = m
                    .clone()
                    .mul_scalar(alpha)
                    .div(v.clone().sqrt().add_scalar(epsilon));
                self.m[i] = Some(m);
                self.v[i] = Some(v);
                w - step
            }
        }
    }
}
