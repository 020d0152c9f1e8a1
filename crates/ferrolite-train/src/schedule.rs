//! Learning-rate schedules, as Keras' `keras.optimizers.schedules` define them: the rate of
//! optimizer step `s` (0-based, Keras' `optimizer.iterations` before the update) is the base rate
//! times [`LrSchedule::factor`].

use crate::error::{Result, TrainError};

/// How the learning rate changes over a run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Keras `CosineDecay` over the whole run: `(1 - alpha) · ½(1 + cos(π · s / total)) + alpha`.
    Cosine {
        /// Floor, as a fraction of the base rate.
        alpha: f32,
    },
    /// Keras `ExponentialDecay`: `rate^(s / steps)` (`⌊s / steps⌋` when `staircase`).
    Exponential {
        /// Decay per `steps` steps.
        rate: f32,
        /// Steps per decay period.
        steps: u64,
        /// Decay in whole periods.
        staircase: bool,
    },
}

impl LrSchedule {
    /// Multiplier of the base rate at 0-based step `step` of a run of `total_steps` steps.
    pub fn factor(&self, step: u64, total_steps: u64) -> f32 {
        match *self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine { alpha } => {
                let total = total_steps.max(1) as f64;
                let t = (step as f64).min(total) / total;
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
                ((1.0 - f64::from(alpha)) * cosine + f64::from(alpha)) as f32
            }
            LrSchedule::Exponential {
                rate,
                steps,
                staircase,
            } => {
                let mut p = step as f64 / steps.max(1) as f64;
                if staircase {
                    p = p.floor();
                }
                f64::from(rate).powf(p) as f32
            }
        }
    }

    /// Parses `constant`, `cosine[:ALPHA]` or `exponential:RATE,STEPS[,staircase]`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| {
            TrainError::Options(format!(
                "bad learning-rate schedule '{text}': {why} (use constant, cosine[:ALPHA] or exponential:RATE,STEPS[,staircase])"
            ))
        };
        let (name, args) = text.split_once(':').unwrap_or((text, ""));
        let args: Vec<&str> = args.split(',').filter(|a| !a.is_empty()).collect();
        let number = |s: &str| s.trim().parse::<f32>().map_err(|_| bad("not a number"));
        match (name.trim(), args.as_slice()) {
            ("constant", []) => Ok(LrSchedule::Constant),
            ("cosine", []) => Ok(LrSchedule::Cosine { alpha: 0.0 }),
            ("cosine", [a]) => {
                let alpha = number(a)?;
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(bad("alpha must be in [0, 1]"));
                }
                Ok(LrSchedule::Cosine { alpha })
            }
            ("exponential", [r, s, rest @ ..]) => {
                let rate = number(r)?;
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(bad("the rate must be > 0"));
                }
                let steps: u64 = s
                    .trim()
                    .parse()
                    .map_err(|_| bad("steps must be a whole number"))?;
                if steps == 0 {
                    return Err(bad("steps must be > 0"));
                }
                let staircase = match rest {
                    [] => false,
                    ["staircase"] => true,
                    _ => return Err(bad("the third field can only be 'staircase'")),
                };
                Ok(LrSchedule::Exponential {
                    rate,
                    steps,
                    staircase,
                })
            }
            _ => Err(bad("unknown form")),
        }
    }
}

/// The form [`LrSchedule::parse`] reads (`constant`, `cosine:0.1`, `exponential:0.5,4`).
impl std::fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            LrSchedule::Constant => f.write_str("constant"),
            LrSchedule::Cosine { alpha } => write!(f, "cosine:{alpha}"),
            LrSchedule::Exponential {
                rate,
                steps,
                staircase,
            } => {
                write!(f, "exponential:{rate},{steps}")?;
                if staircase {
                    f.write_str(",staircase")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        for text in [
            "constant",
            "cosine:0.1",
            "exponential:0.5,4",
            "exponential:0.9,10,staircase",
        ] {
            let s = LrSchedule::parse(text).unwrap();
            assert_eq!(s.to_string(), text);
            assert_eq!(LrSchedule::parse(&s.to_string()).unwrap(), s);
        }
    }

    /// Values of Keras 3's `CosineDecay(1.0, 10, alpha=0.1)` and
    /// `ExponentialDecay(1.0, 4, 0.5[, staircase=True])` at steps 0, 5, 10, 12: the closed forms
    /// of the Keras documentation evaluated by hand.
    #[test]
    fn factors_follow_the_keras_formulas() {
        let cos = LrSchedule::Cosine { alpha: 0.1 };
        assert_eq!(cos.factor(0, 10), 1.0);
        assert!((cos.factor(5, 10) - 0.55).abs() < 1e-6);
        assert!((cos.factor(10, 10) - 0.1).abs() < 1e-6);
        assert!(
            (cos.factor(12, 10) - 0.1).abs() < 1e-6,
            "clamped past the end"
        );
        let exp = LrSchedule::Exponential {
            rate: 0.5,
            steps: 4,
            staircase: false,
        };
        assert!((exp.factor(2, 100) - 0.5f32.sqrt()).abs() < 1e-6);
        assert!((exp.factor(8, 100) - 0.25).abs() < 1e-6);
        let stairs = LrSchedule::Exponential {
            rate: 0.5,
            steps: 4,
            staircase: true,
        };
        assert_eq!(stairs.factor(3, 100), 1.0);
        assert_eq!(stairs.factor(4, 100), 0.5);
        assert_eq!(LrSchedule::Constant.factor(7, 10), 1.0);
    }

    #[test]
    fn parses_the_cli_forms_and_refuses_others() {
        assert_eq!(LrSchedule::parse("constant").unwrap(), LrSchedule::Constant);
        assert_eq!(
            LrSchedule::parse("cosine:0.1").unwrap(),
            LrSchedule::Cosine { alpha: 0.1 }
        );
        assert_eq!(
            LrSchedule::parse("exponential:0.9,100,staircase").unwrap(),
            LrSchedule::Exponential {
                rate: 0.9,
                steps: 100,
                staircase: true
            }
        );
        for bad in [
            "cosine:2",
            "exponential:0.9",
            "exponential:0.9,0",
            "linear",
            "exponential:-1,5",
        ] {
            let e = LrSchedule::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
