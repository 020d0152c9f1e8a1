//! Pruning schedules with tfmot's exact semantics: when masks are recomputed and at which
//! sparsity.
//!
//! Both schedules follow `tensorflow_model_optimization.sparsity.keras`:
//!
//! - a mask update happens at `step` when `begin_step <= step`, (`step <= end_step` or
//!   `end_step < 0`), and `(step - begin_step) mod frequency == 0`;
//! - [`Schedule::Constant`] always asks for `target`;
//! - [`Schedule::Polynomial`] asks for
//!   `final + (initial - final) * (1 - p)^power` with
//!   `p = clamp((step - begin_step) / (end_step - begin_step), 0, 1)`, evaluated in float32 as
//!   TensorFlow does.
//!
//! Steps are counted like tfmot's `UpdatePruningStep` callback together with the wrapper's own
//! increment: the `i`-th training batch (0-based, over all epochs) runs at pruning step `i + 1`.

use crate::error::{Result, TrainError};
use std::fmt;

/// A pruning schedule (tfmot's `ConstantSparsity` or `PolynomialDecay`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// `ConstantSparsity(target_sparsity, begin_step, end_step=-1, frequency=100)`.
    Constant {
        /// Sparsity applied at every pruning step, in `[0, 1)`.
        target: f32,
        /// First step at which masks are updated (>= 0).
        begin_step: i64,
        /// Last step at which masks are updated; `-1` prunes until training ends.
        end_step: i64,
        /// Masks are updated every `frequency` steps (> 0).
        frequency: i64,
    },
    /// `PolynomialDecay(initial_sparsity, final_sparsity, begin_step, end_step, power=3,
    /// frequency=100)`.
    Polynomial {
        /// Sparsity at `begin_step`, in `[0, 1)`.
        initial: f32,
        /// Sparsity reached at `end_step`, in `[0, 1)`.
        final_sparsity: f32,
        /// First step at which masks are updated (>= 0).
        begin_step: i64,
        /// Step at which `final_sparsity` is reached (> `begin_step`).
        end_step: i64,
        /// Exponent of the decay.
        power: f32,
        /// Masks are updated every `frequency` steps (> 0).
        frequency: i64,
    },
}

impl Schedule {
    /// tfmot's `ConstantSparsity`, validated.
    pub fn constant(target: f32, begin_step: i64, end_step: i64, frequency: i64) -> Result<Self> {
        let s = Schedule::Constant {
            target,
            begin_step,
            end_step,
            frequency,
        };
        s.validate()?;
        Ok(s)
    }

    /// tfmot's `PolynomialDecay`, validated.
    pub fn polynomial(
        initial: f32,
        final_sparsity: f32,
        begin_step: i64,
        end_step: i64,
        power: f32,
        frequency: i64,
    ) -> Result<Self> {
        let s = Schedule::Polynomial {
            initial,
            final_sparsity,
            begin_step,
            end_step,
            power,
            frequency,
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks the ranges tfmot checks (`_validate_step`, `_validate_sparsity`). Polynomial decay
    /// additionally needs `end_step > begin_step` (tfmot would divide by zero).
    pub fn validate(&self) -> Result<()> {
        let (begin, end, freq, allow_forever) = self.steps();
        if begin < 0 {
            return Err(opt("begin_step should be >= 0"));
        }
        if end == -1 && !allow_forever {
            return Err(opt("end_step cannot be -1 for a polynomial schedule"));
        }
        if end != -1 {
            if end < 0 {
                return Err(opt("end_step can be -1 or >= 0"));
            }
            if end < begin {
                return Err(opt("begin_step should be <= end_step"));
            }
        }
        if freq <= 0 {
            return Err(opt("frequency should be > 0"));
        }
        match *self {
            Schedule::Constant { target, .. } => check_sparsity(target, "target sparsity"),
            Schedule::Polynomial {
                initial,
                final_sparsity,
                power,
                ..
            } => {
                check_sparsity(initial, "initial sparsity")?;
                check_sparsity(final_sparsity, "final sparsity")?;
                if end == begin {
                    return Err(opt(
                        "end_step must be > begin_step for a polynomial schedule",
                    ));
                }
                if !power.is_finite() {
                    return Err(opt("power must be finite"));
                }
                Ok(())
            }
        }
    }

    fn steps(&self) -> (i64, i64, i64, bool) {
        match *self {
            Schedule::Constant {
                begin_step,
                end_step,
                frequency,
                ..
            } => (begin_step, end_step, frequency, true),
            Schedule::Polynomial {
                begin_step,
                end_step,
                frequency,
                ..
            } => (begin_step, end_step, frequency, false),
        }
    }

    /// True when masks are recomputed at `step`.
    pub fn should_prune(&self, step: i64) -> bool {
        let (begin, end, freq, _) = self.steps();
        let in_range = step >= begin && (step <= end || end < 0);
        in_range && (step - begin).rem_euclid(freq) == 0
    }

    /// The sparsity the schedule asks for at `step` (float32 arithmetic, as in TensorFlow).
    pub fn sparsity(&self, step: i64) -> f32 {
        match *self {
            Schedule::Constant { target, .. } => target,
            Schedule::Polynomial {
                initial,
                final_sparsity,
                begin_step,
                end_step,
                power,
                ..
            } => {
                let ratio = (step - begin_step) as f32 / (end_step - begin_step) as f32;
                let p = ratio.clamp(0.0, 1.0);
                (initial - final_sparsity) * (1.0 - p).powf(power) + final_sparsity
            }
        }
    }

    /// The sparsity once the schedule has run its course (target or final sparsity).
    pub fn final_sparsity(&self) -> f32 {
        match *self {
            Schedule::Constant { target, .. } => target,
            Schedule::Polynomial { final_sparsity, .. } => final_sparsity,
        }
    }

    /// Parses the CLI form `constant:0.5` or `polynomial:0.0,0.8[,power=3]`; steps come from
    /// separate options.
    pub fn parse(spec: &str, begin_step: i64, end_step: i64, frequency: i64) -> Result<Self> {
        let (kind, args) = spec.split_once(':').unwrap_or((spec, ""));
        let mut values = Vec::new();
        let mut power = 3.0f32;
        for part in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(v) = part.strip_prefix("power=") {
                power = parse_f32(v, "power")?;
            } else {
                values.push(parse_f32(part, "sparsity")?);
            }
        }
        match (kind.trim(), values.as_slice()) {
            ("constant", [t]) => Schedule::constant(*t, begin_step, end_step, frequency),
            ("polynomial", [i, f]) => {
                Schedule::polynomial(*i, *f, begin_step, end_step, power, frequency)
            }
            _ => Err(opt(&format!(
                "schedule '{spec}': expected constant:TARGET or polynomial:INITIAL,FINAL[,power=P]"
            ))),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Schedule::Constant {
                target,
                begin_step,
                end_step,
                frequency,
            } => write!(
                f,
                "ConstantSparsity({target}, begin_step={begin_step}, end_step={end_step}, frequency={frequency})"
            ),
            Schedule::Polynomial {
                initial,
                final_sparsity,
                begin_step,
                end_step,
                power,
                frequency,
            } => write!(
                f,
                "PolynomialDecay({initial}, {final_sparsity}, begin_step={begin_step}, end_step={end_step}, power={power}, frequency={frequency})"
            ),
        }
    }
}

fn opt(msg: &str) -> TrainError {
    TrainError::Options(msg.to_string())
}

fn check_sparsity(v: f32, what: &str) -> Result<()> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(opt(&format!("{what} must be in range [0,1), got {v}")))
    }
}

fn parse_f32(s: &str, what: &str) -> Result<f32> {
    s.parse()
        .map_err(|_| opt(&format!("{what}: '{s}' is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_prunes_on_frequency_inside_the_range() {
        let s = Schedule::constant(0.5, 10, 50, 20).unwrap();
        let steps: Vec<i64> = (0..100).filter(|&t| s.should_prune(t)).collect();
        assert_eq!(steps, vec![10, 30, 50]);
        assert_eq!(s.sparsity(0), 0.5);
        // end_step -1: forever.
        let s = Schedule::constant(0.5, 0, -1, 100).unwrap();
        assert!(s.should_prune(0) && s.should_prune(100_000) && !s.should_prune(150));
    }

    #[test]
    fn polynomial_matches_tfmot_formula() {
        // PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, power=3):
        // sparsity(t) = 0.8 + (0 - 0.8) * (1 - t/100)^3, hand-computed.
        let s = Schedule::polynomial(0.0, 0.8, 0, 100, 3.0, 10).unwrap();
        assert_eq!(s.sparsity(0), 0.0);
        assert!((s.sparsity(50) - 0.7).abs() < 1e-6); // 0.8 - 0.8 * 0.125
        assert!((s.sparsity(10) - 0.2168).abs() < 1e-6); // 0.8 - 0.8 * 0.729
        assert!((s.sparsity(90) - 0.7992).abs() < 1e-6); // 0.8 - 0.8 * 0.001
        assert_eq!(s.sparsity(100), 0.8);
        assert_eq!(s.sparsity(250), 0.8); // clamped
        assert_eq!(s.sparsity(-5), 0.0); // clamped below
        let steps: Vec<i64> = (0..200).filter(|&t| s.should_prune(t)).collect();
        assert_eq!(steps, (0..=100).step_by(10).collect::<Vec<_>>());
        // power=1 with a non-zero begin step: linear from 0.2 to 0.6 over steps 20..60.
        let s = Schedule::polynomial(0.2, 0.6, 20, 60, 1.0, 5).unwrap();
        assert!((s.sparsity(30) - 0.3).abs() < 1e-6);
        assert!((s.sparsity(50) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn validation_follows_tfmot() {
        assert!(Schedule::constant(1.0, 0, -1, 100).is_err());
        assert!(Schedule::constant(0.5, -1, -1, 100).is_err());
        assert!(Schedule::constant(0.5, 10, 5, 100).is_err());
        assert!(Schedule::constant(0.5, 0, -1, 0).is_err());
        assert!(Schedule::polynomial(0.0, 0.5, 0, -1, 3.0, 100).is_err());
        assert!(Schedule::polynomial(0.0, 0.5, 10, 10, 3.0, 100).is_err());
    }

    #[test]
    fn parses_cli_specs() {
        let s = Schedule::parse("constant:0.5", 0, -1, 100).unwrap();
        assert_eq!(s, Schedule::constant(0.5, 0, -1, 100).unwrap());
        let s = Schedule::parse("polynomial:0.0,0.8,power=2", 0, 1000, 50).unwrap();
        assert_eq!(s, Schedule::polynomial(0.0, 0.8, 0, 1000, 2.0, 50).unwrap());
        let s = Schedule::parse("polynomial:0.1,0.9", 0, 1000, 50).unwrap();
        assert_eq!(s, Schedule::polynomial(0.1, 0.9, 0, 1000, 3.0, 50).unwrap());
        assert!(Schedule::parse("constant", 0, -1, 100).is_err());
        assert!(Schedule::parse("cubic:0.5", 0, -1, 100).is_err());
        assert!(Schedule::parse("constant:x", 0, -1, 100).is_err());
    }
}
