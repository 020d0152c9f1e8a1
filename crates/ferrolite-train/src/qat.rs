//! Quantization-aware training: fake quantization with straight-through gradients, following
//! tfmot's default 8-bit scheme, and export to a full-int8 model with the learned ranges.
//!
//! - Weights of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: symmetric, narrow range
//!   (`[-127, 127]`), per channel along the axis the int8 exporter uses (output channels),
//!   range taken from the current weights every step (tfmot's `LastValueQuantizer`).
//! - Activations: asymmetric 8-bit with TensorFlow's nudged `fake_quant_with_min_max_vars`.
//!   Layer outputs (conv, dense, ADD / SUB / MUL, CONCATENATION, average pooling, MEAN, RELU,
//!   inner SOFTMAX) use tfmot's `MovingAverageQuantizer`: `range_min = min(batch_min, 0)`,
//!   `range_max = max(batch_max, 0)`, `var -= (var - range) * (1 - decay)` with decay 0.999.
//!   The graph input uses `AllValuesQuantizer` (running min/max). MAX_POOL_2D and RESHAPE pass
//!   their input's quantization through, as in tfmot. Outputs whose int8 quantization TFLite's
//!   kernels fix (inner SOFTMAX and LOGISTIC: scale 1/256, zero point -128; TANH, standalone or
//!   fused: 1/128, 0) are fake-quantized to that fixed grid instead of a learned range, so
//!   training sees what the exported model computes.
//! - Gradients: `x + (q - x).detach()` on the clamped value, so they pass unchanged inside the
//!   range and are zero outside (TensorFlow's fake-quant gradient).
//!
//! One deliberate difference, switchable with [`RangeInit::Tfmot`]: tfmot starts every moving
//! average at `[-6, 6]`, which at decay 0.999 needs thousands of steps to forget; by default the
//! averages start from the first batch's range instead ([`RangeInit::FirstBatch`]), or, with
//! [`RangeInit::Calibration`], from the min / max of a calibration pass over the first training
//! samples (float graph, as post-training quantization calibrates). Options beyond tfmot:
//! [`QatConfig::freeze_ranges_after`] stops the range updates after some steps, and
//! [`QatConfig::in_place_sharing`] reproduces TF's calibrator giving an in-place ADD / MUL input
//! its output's range. The hook checkpoints its ranges for `TrainConfig::restore_best`.
//!
//! [`export_int8`] turns the trained float model into full int8 through `ferrolite-quant`: the
//! learned ranges are used for every fake-quantized tensor, a short calibration fills the rest.

use crate::data::Dataset;
use crate::error::{Result, TrainError};
use crate::forward::{to_vec, Act};
use crate::net::{Activation, LayerKind, Net, Node};
use crate::train::{TrainHook, Trainer};
use burn::tensor::Tensor;
use ferrolite_model::Model;
use ferrolite_quant::{CalibrationData, Io, Mode, QuantReport, QuantizeOptions, Ranges};

/// How the moving-average ranges start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RangeInit {
    /// From the range of the first training batch.
    #[default]
    FirstBatch,
    /// At `[-6, 6]`, as tfmot initializes its range variables.
    Tfmot,
    /// From the overall min / max of a calibration pass over the first
    /// [`QatConfig::calibration_samples`] training samples before the first step, the float
    /// graph run as post-training quantization calibrates it.
    Calibration,
}

/// Options of quantization-aware training.
#[derive(Debug, Clone, PartialEq)]
pub struct QatConfig {
    /// Decay of the moving-average activation ranges (tfmot: 0.999).
    pub ema_decay: f32,
    /// Where the moving averages start.
    pub init: RangeInit,
    /// Layers left without fake quantization (the exporter still makes them int8, calibrated).
    pub skip: Vec<String>,
    /// Training samples of the calibration pass of [`RangeInit::Calibration`].
    pub calibration_samples: usize,
    /// Stop updating the activation ranges after this many optimizer steps (they stay fixed,
    /// still fake-quantizing); `None` updates them throughout.
    pub freeze_ranges_after: Option<u64>,
    /// Widen the range of an ADD / SUB / MUL / DIV input that LiteRT overwrites in place with
    /// the output's range, as TF's post-training calibrator records it (see
    /// [`in_place_inputs`]); applied by [`Qat::share_in_place`].
    pub in_place_sharing: bool,
}

impl Default for QatConfig {
    fn default() -> Self {
        QatConfig {
            ema_decay: 0.999,
            init: RangeInit::FirstBatch,
            skip: Vec::new(),
            calibration_samples: 100,
            freeze_ranges_after: None,
            in_place_sharing: false,
        }
    }
}

/// How an activation's range is tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracker {
    MovingAverage,
    AllValues,
    /// Fixed by the int8 kernel (not learned).
    Fixed,
}

/// The fixed int8 output range of an activation function, if TFLite's kernels fix one: the
/// `[min, max]` whose 8-bit grid is scale 1/256, zero point -128 (LOGISTIC, SOFTMAX) or scale
/// 1/128, zero point 0 (TANH).
fn fixed_range(act: Activation) -> Option<(f32, f32)> {
    match act {
        Activation::Logistic => Some((0.0, 255.0 / 256.0)),
        Activation::Tanh => Some((-1.0, 127.0 / 128.0)),
        _ => None,
    }
}

/// A tracked activation range.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ActRange {
    tracker: Tracker,
    min: f32,
    max: f32,
    seen: bool,
}

/// The QAT hook: fake-quantizes weights and activations and learns activation ranges.
pub struct Qat {
    cfg: QatConfig,
    /// Per parameter: `Some((channels, channel_last))` for fake-quantized weights.
    weights: Vec<Option<(usize, bool)>>,
    /// Per tensor: its tracked range.
    ranges: Vec<Option<ActRange>>,
    /// Inside the calibration pass: float weights, activations only observed.
    calibrating: bool,
    /// The current optimizer step (1-based).
    step: i64,
    /// The ranges saved by [`TrainHook::checkpoint`].
    saved: Option<Vec<Option<ActRange>>>,
    /// `(input, output)` pairs whose input range also covers the output's.
    shared: Vec<(usize, usize)>,
}

impl Qat {
    /// Chooses the quantized weights and activations of `net`.
    pub fn new(net: &Net, cfg: QatConfig) -> Result<Self> {
        if !(0.0..1.0).contains(&cfg.ema_decay) {
            return Err(TrainError::Options(format!(
                "EMA decay must be in [0, 1), got {}",
                cfg.ema_decay
            )));
        }
        net.check_selectors(&cfg.skip)?;
        let skipped = |layer: usize| {
            let l = &net.layers[layer];
            cfg.skip.iter().any(|s| l.matches(s))
        };
        let mut weights = vec![None; net.params.len()];
        for (i, l) in net.layers.iter().enumerate() {
            if skipped(i) {
                continue;
            }
            let shape = &net.params[l.weight].shape;
            weights[l.weight] = Some(match l.kind {
                LayerKind::DepthwiseConv2d => (shape[3], true),
                _ => (shape[0], false),
            });
        }
        let (init_min, init_max) = match cfg.init {
            RangeInit::Tfmot => (-6.0, 6.0),
            RangeInit::FirstBatch | RangeInit::Calibration => (0.0, 0.0),
        };
        let moving = ActRange {
            tracker: Tracker::MovingAverage,
            min: init_min,
            max: init_max,
            seen: false,
        };
        let mut ranges = vec![None; net.tensor_count];
        ranges[net.input] = Some(ActRange {
            tracker: Tracker::AllValues,
            min: 0.0,
            max: 0.0,
            seen: false,
        });
        for node in &net.nodes {
            let fixed = match node {
                Node::Softmax { .. } => fixed_range(Activation::Logistic),
                Node::Act { act, .. } | Node::Binary { act, .. } => fixed_range(*act),
                Node::Conv { layer, act, .. } | Node::Dense { layer, act, .. }
                    if !skipped(*layer) =>
                {
                    fixed_range(*act)
                }
                _ => None,
            };
            if let Some((min, max)) = fixed {
                ranges[node.output()] = Some(ActRange {
                    tracker: Tracker::Fixed,
                    min,
                    max,
                    seen: false,
                });
                continue;
            }
            let tracked = match node {
                Node::Conv { layer, .. } | Node::Dense { layer, .. } => !skipped(*layer),
                Node::Pool { max, .. } => !max,
                Node::Reshape { .. } => false,
                Node::Binary { .. }
                | Node::Concat { .. }
                | Node::GlobalMean { .. }
                | Node::Softmax { .. }
                | Node::Act { .. } => true,
            };
            if tracked {
                ranges[node.output()] = Some(moving);
            }
        }
        Ok(Qat {
            cfg,
            weights,
            ranges,
            calibrating: false,
            step: 0,
            saved: None,
            shared: Vec::new(),
        })
    }

    /// With [`QatConfig::in_place_sharing`], records `model`'s in-place inputs (the model the
    /// network was built from); otherwise does nothing.
    pub fn share_in_place(&mut self, model: &Model) {
        if self.cfg.in_place_sharing {
            self.shared = in_place_inputs(model)
                .into_iter()
                .filter(|&(i, o)| {
                    let tracked = |t: usize| {
                        self.ranges
                            .get(t)
                            .copied()
                            .flatten()
                            .is_some_and(|r| r.tracker == Tracker::MovingAverage)
                    };
                    tracked(i) && tracked(o)
                })
                .collect();
        }
    }

    /// The range tensor `t` is fake-quantized to: its own, widened by the output it shares
    /// memory with.
    fn effective(&self, t: usize) -> Option<(f32, f32)> {
        let r = self.ranges.get(t).copied().flatten().filter(|r| r.seen)?;
        let (mut lo, mut hi) = (r.min, r.max);
        for &(_, o) in self.shared.iter().filter(|p| p.0 == t) {
            if let Some(o) = self.ranges.get(o).copied().flatten().filter(|r| r.seen) {
                (lo, hi) = (lo.min(o.min), hi.max(o.max));
            }
        }
        Some((lo, hi))
    }

    /// The learned `(min, max)` of every fake-quantized tensor that saw data.
    pub fn learned_ranges(&self) -> Vec<(usize, f32, f32)> {
        (0..self.ranges.len())
            .filter_map(|t| self.effective(t).map(|(lo, hi)| (t, lo, hi)))
            .collect()
    }

    fn observe(&mut self, t: usize, a: &Act) -> Option<(f32, f32)> {
        let decay = self.cfg.ema_decay;
        let init_first = self.cfg.init == RangeInit::FirstBatch;
        let frozen = self
            .cfg
            .freeze_ranges_after
            .is_some_and(|f| self.step > f as i64);
        let calibrating = self.calibrating;
        let r = self.ranges.get_mut(t)?.as_mut()?;
        if frozen && r.seen {
            return Some((r.min, r.max));
        }
        let (lo, hi) = batch_range(a)?;
        if calibrating {
            // Overall min / max of the calibration samples (post-training calibration's rule).
            if r.tracker != Tracker::Fixed {
                (r.min, r.max) = if r.seen {
                    (r.min.min(lo), r.max.max(hi))
                } else {
                    (lo, hi)
                };
            }
            r.seen = true;
            return Some((r.min, r.max));
        }
        match r.tracker {
            Tracker::Fixed => {}
            Tracker::AllValues => {
                r.min = r.min.min(lo);
                r.max = r.max.max(hi);
            }
            Tracker::MovingAverage if init_first && !r.seen => {
                r.min = lo;
                r.max = hi;
            }
            Tracker::MovingAverage => {
                r.min -= (r.min - lo) * (1.0 - decay);
                r.max -= (r.max - hi) * (1.0 - decay);
            }
        }
        r.seen = true;
        Some((r.min, r.max))
    }
}

/// `(input, output)` of every ADD / SUB / MUL / DIV whose float input LiteRT lets the output
/// overwrite in place: the first of its two inputs that only this operator reads, that is no
/// graph input or output, and that has the output's size. TF's calibrator logs that input again
/// after the operator ran, so post-training int8 gives it a range covering the output's too.
pub fn in_place_inputs(model: &Model) -> Vec<(usize, usize)> {
    use ferrolite_model::tflite::BuiltinOperator as B;
    use ferrolite_model::{DType, OpKind};
    let Some(sg) = model.subgraphs.first() else {
        return Vec::new();
    };
    let mut uses = vec![0usize; sg.tensors.len()];
    for op in &sg.operators {
        for &t in op.inputs.iter().flatten() {
            if let Some(u) = uses.get_mut(t) {
                *u += 1;
            }
        }
    }
    let mut pairs = Vec::new();
    for op in &sg.operators {
        if !matches!(op.kind, OpKind::Builtin(B::Add | B::Sub | B::Mul | B::Div)) {
            continue;
        }
        let Some(out) = op.outputs.first().copied().flatten() else {
            continue;
        };
        let Some(out_len) = sg.tensors.get(out).and_then(|t| t.element_count()) else {
            continue;
        };
        let shared = op.inputs.iter().take(2).flatten().copied().find(|&t| {
            sg.tensors.get(t).is_some_and(|x| {
                x.dtype == DType::F32
                    && x.data.is_none()
                    && !x.is_variable
                    && uses[t] == 1
                    && !sg.inputs.contains(&t)
                    && !sg.outputs.contains(&t)
                    && x.element_count() == Some(out_len)
            })
        });
        if let Some(t) = shared {
            pairs.push((t, out));
        }
    }
    pairs
}

/// `(min(batch_min, 0), max(batch_max, 0))` of an activation.
fn batch_range(a: &Act) -> Option<(f32, f32)> {
    let (lo, hi) = match a {
        Act::Image(x) => (x.clone().min(), x.clone().max()),
        Act::Flat(x) => (x.clone().min(), x.clone().max()),
    };
    let lo = to_vec(&lo.inner()).ok()?.first().copied()?.min(0.0);
    let hi = to_vec(&hi.inner()).ok()?.first().copied()?.max(0.0);
    Some((lo, hi))
}

/// TensorFlow's nudged asymmetric 8-bit fake quantization of `x` to `[min, max]` with a
/// straight-through gradient inside the range.
pub fn fake_quant<const D: usize>(x: Tensor<D>, min: f32, max: f32) -> Tensor<D> {
    let (qmin, qmax) = (0.0f32, 255.0f32);
    let scale = (max - min) / (qmax - qmin);
    if !(scale > 0.0 && scale.is_finite()) {
        return x;
    }
    let zp_from_min = qmin - min / scale;
    let zp = if zp_from_min < qmin {
        qmin
    } else if zp_from_min > qmax {
        qmax
    } else {
        zp_from_min.round()
    };
    let (nmin, nmax) = ((qmin - zp) * scale, (qmax - zp) * scale);
    let clamped = x.clamp(nmin, nmax);
    let q = clamped
        .clone()
        .detach()
        .sub_scalar(nmin)
        .div_scalar(scale)
        .add_scalar(0.5)
        .floor()
        .mul_scalar(scale)
        .add_scalar(nmin);
    clamped.clone() + (q - clamped).detach()
}

/// Symmetric narrow-range per-channel fake quantization of a flat weight with `channels`
/// channels, the channel being the first (or, with `channel_last`, the last) dimension.
pub fn fake_quant_weight(w: Tensor<1>, channels: usize, channel_last: bool) -> Tensor<1> {
    let n = w.dims()[0];
    let c = channels.max(1);
    let rest = n / c;
    let wd = w.clone().detach();
    let q = if channel_last {
        let m = wd.clone().reshape([rest, c]);
        let scale = m
            .clone()
            .abs()
            .max_dim(0)
            .div_scalar(127.0)
            .clamp_min(1e-30);
        m.div(scale.clone())
            .add_scalar(0.5)
            .floor()
            .clamp(-127.0, 127.0)
            .mul(scale)
            .reshape([n])
    } else {
        let m = wd.clone().reshape([c, rest]);
        let scale = m
            .clone()
            .abs()
            .max_dim(1)
            .div_scalar(127.0)
            .clamp_min(1e-30);
        m.div(scale.clone())
            .add_scalar(0.5)
            .floor()
            .clamp(-127.0, 127.0)
            .mul(scale)
            .reshape([n])
    };
    w + (q - wd)
}

impl TrainHook for Qat {
    fn begin_calibration(&mut self) -> usize {
        if self.cfg.init != RangeInit::Calibration {
            return 0;
        }
        self.calibrating = true;
        self.cfg.calibration_samples
    }

    fn end_calibration(&mut self) {
        self.calibrating = false;
    }

    fn checkpoint(&mut self) {
        self.saved = Some(self.ranges.clone());
    }

    fn restore_checkpoint(&mut self) {
        if let Some(r) = self.saved.clone() {
            self.ranges = r;
        }
    }

    fn before_batch(&mut self, step: i64, _params: &mut [Tensor<1>]) -> Result<()> {
        self.step = step;
        Ok(())
    }

    fn weight(&self, p: usize, w: Tensor<1>, _extras: &[Tensor<1>], _training: bool) -> Tensor<1> {
        if self.calibrating {
            return w;
        }
        match self.weights.get(p).copied().flatten() {
            Some((c, last)) => fake_quant_weight(w, c, last),
            None => w,
        }
    }

    fn activation(&mut self, t: usize, a: Act, training: bool) -> Act {
        if self.calibrating {
            self.observe(t, &a);
            return a;
        }
        if training {
            self.observe(t, &a);
        }
        let range = self.effective(t);
        match range {
            Some((lo, hi)) => a.map(|x| fake_quant(x, lo, hi), |x| fake_quant(x, lo, hi)),
            None => a,
        }
    }
}

/// A trained float model exported to full int8: learned ranges for the fake-quantized tensors,
/// a calibration on (up to 100 of) `calibration`'s samples for the others.
pub fn export_int8(
    trainer: &Trainer,
    qat: &Qat,
    calibration: &Dataset,
    io: Io,
) -> Result<(Model, QuantReport)> {
    let float = trainer.export()?;
    let n = calibration.len().min(100);
    if n == 0 {
        return Err(TrainError::Data("no calibration samples".into()));
    }
    let sample = calibration.subset(0..n);
    let mut shape = vec![n];
    shape.extend(&sample.sample_shape);
    let data = CalibrationData::new(shape, sample.x)?;
    let mut ranges: Ranges = ferrolite_quant::calibrate(&float, &data)?;
    for (t, lo, hi) in qat.learned_ranges() {
        if let Some(slot) = ranges.ranges.get_mut(t) {
            *slot = Some((lo, hi));
        }
    }
    let mut opts = QuantizeOptions::new(Mode::Int8);
    opts.io = io;
    Ok(ferrolite_quant::quantize_calibrated(
        &float, &opts, &ranges,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn tensor1(v: Vec<f32>) -> Tensor<1> {
        let n = v.len();
        Tensor::<1>::from_data(TensorData::new(v, [n]), &burn::tensor::Device::flex())
    }

    #[test]
    fn activation_fake_quant_nudges_zero() {
        // [-1, 2]: scale 3/255, zero point round(85) = 85; 0 is exact, values snap to the grid.
        let x = tensor1(vec![0.0, 1.0, -3.0, 5.0, 0.013]);
        let y = to_vec(&fake_quant(x, -1.0, 2.0)).unwrap();
        let s = 3.0f32 / 255.0;
        assert_eq!(y[0], 0.0);
        assert!((y[1] - (1.0 / s).round() * s).abs() < 1e-6);
        assert!((y[2] - (-85.0 * s)).abs() < 1e-6); // clamped to the nudged min
        assert!((y[3] - (170.0 * s)).abs() < 1e-6); // clamped to the nudged max
        assert!((y[4] - s).abs() < 1e-6);
    }

    #[test]
    fn weight_fake_quant_is_per_channel_symmetric() {
        // Two output channels of 3 values: max |w| 1.0 and 0.1.
        let w = tensor1(vec![1.0, -0.5, 0.25, 0.1, 0.05, -0.0301]);
        let y = to_vec(&fake_quant_weight(w, 2, false)).unwrap();
        let (s0, s1) = (1.0f32 / 127.0, 0.1f32 / 127.0);
        let expect = [
            1.0,
            (-0.5f32 / s0 + 0.5).floor() * s0,
            (0.25f32 / s0 + 0.5).floor() * s0,
            0.1,
            (0.05f32 / s1 + 0.5).floor() * s1,
            (-0.0301f32 / s1 + 0.5).floor() * s1,
        ];
        for (a, b) in y.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn straight_through_gradients() {
        // d/dx sum(fake_quant(x)) is 1 inside the range, 0 where the clamp is active.
        let dev = burn::tensor::Device::flex().autodiff();
        let x = Tensor::<1>::from_data(TensorData::new(vec![-2.0f32, 0.3, 0.7, 3.0], [4]), &dev)
            .require_grad();
        let y = fake_quant(x.clone(), -1.0, 1.0).sum();
        let g = to_vec(&x.grad(&y.backward()).unwrap()).unwrap();
        assert_eq!(g, vec![0.0, 1.0, 1.0, 0.0]);
        // Weights: identity gradient everywhere (the range always covers the weights).
        let w = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, -1.0, 0.2, 0.1], [4]), &dev)
            .require_grad();
        let y = fake_quant_weight(w.clone(), 2, false).mul_scalar(3.0).sum();
        let g = to_vec(&w.grad(&y.backward()).unwrap()).unwrap();
        assert_eq!(g, vec![3.0; 4]);
    }
}
