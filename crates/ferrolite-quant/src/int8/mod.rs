//! Full integer quantization of a calibrated float model: int8 (TF's MLIR quantizer) or int16x8
//! (int16 activations, int8 weights, int64 biases, as TF's legacy quantizer makes them).
//!
//! The pass
//!
//! 1. looks every operator up in the scheme's table ([`spec`]); operators without a rule stay
//!    float when the caller allows it (or asks for it by name), else they are an error
//!    ([`plan::specs`]);
//! 2. gives each float activation a quantized operator touches its parameters ([`plan::plan`]):
//!    calibrated, fixed by the kernel, or shared;
//! 3. quantizes constants by role ([`constants`]): weights int8 symmetric per channel, biases
//!    int32 / int64 with `scale = input_scale * weight_scale[c]`, other constant operands like
//!    activations;
//! 4. retypes the activations in place, then adds the operators the new types need
//!    ([`edges`]): requantizing QUANTIZEs before shared-scale operators, the model's
//!    input/output conversions (float, int8, uint8 or int16 I/O), and DEQUANTIZE / QUANTIZE
//!    around operators that stay float.

mod constants;
mod edges;
pub(crate) mod plan;
pub(crate) mod spec;

use crate::calibration::Ranges;
use crate::error::{QuantError, Result};
use crate::report::{QuantReport, Role, TensorReport};
use crate::{Mode, QuantizeOptions};
use edges::Rewriter;
use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions, TensorType};
use ferrolite_model::{DType, Model, OpKind, Quantization, Subgraph};
pub(crate) use spec::Scheme;

/// Sets the option fields TF's legacy quantizer sets in int16x8 mode: `quantized_bias_type =
/// INT64` on every CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV, `pot_scale_int16 = false` on
/// every ADD / SUB that has options.
fn legacy_options(sg: &mut Subgraph) {
    for op in &mut sg.operators {
        match &mut op.options {
            Some(BuiltinOptions::Conv2DOptions(o)) => o.quantized_bias_type = TensorType::Int64,
            Some(BuiltinOptions::FullyConnectedOptions(o)) => {
                o.quantized_bias_type = TensorType::Int64
            }
            Some(BuiltinOptions::TransposeConvOptions(o)) => {
                o.quantized_bias_type = TensorType::Int64
            }
            Some(BuiltinOptions::AddOptions(o)) => o.pot_scale_int16 = false,
            Some(BuiltinOptions::SubOptions(o)) => o.pot_scale_int16 = false,
            _ => {}
        }
    }
}

/// Raises the version of every operator kind TF's legacy quantizer knows to its table version
/// (it does so before adding the model's input/output conversions).
fn legacy_versions(sg: &mut Subgraph) {
    for op in &mut sg.operators {
        if let OpKind::Builtin(kind) = op.kind {
            if let Some(v) = spec::legacy_version(kind) {
                op.version = op.version.max(v);
            }
        }
    }
}

/// Quantizes `model` as `opts.mode` (int8 or int16x8) says, using calibrated `ranges`.
pub(crate) fn run(
    model: &mut Model,
    opts: &QuantizeOptions,
    ranges: &Ranges,
) -> Result<QuantReport> {
    let scheme = match opts.mode {
        Mode::Int8 => Scheme::Int8,
        Mode::Int16x8 => Scheme::Int16x8,
        other => {
            return Err(QuantError::Unsupported(format!(
                "the integer pass does not do {other} mode"
            )))
        }
    };
    if model.subgraphs.len() != 1 {
        return Err(QuantError::Unsupported(format!(
            "{} mode handles single-subgraph models; this one has {} subgraphs",
            opts.mode,
            model.subgraphs.len()
        )));
    }
    let sg = &mut model.subgraphs[0];
    let specs = plan::specs(sg, scheme, &opts.keep_float, opts.allow_float_fallback)?;
    let plan = plan::plan(sg, &specs, ranges, scheme)?;
    let mut report = QuantReport {
        mode: opts.mode.name().into(),
        io: opts.io.name().into(),
        ops_quantized: specs.iter().filter(|s| s.is_some()).count(),
        float_ops: specs
            .iter()
            .enumerate()
            .filter(|(o, s)| s.is_none() && !plan::touches_no_float(sg, &sg.operators[*o]))
            .map(|(o, _)| format!("{o} ({})", sg.operators[o].kind.name()))
            .collect(),
        ..Default::default()
    };
    let mut constant_reports = constants::quantize(sg, &specs, &plan.params, scheme)?;
    // Activations change type in place.
    let legacy = scheme == Scheme::Int16x8;
    for (t, p) in plan.params.iter().enumerate() {
        if let (Some(p), true) = (p, plan::is_activation(sg, t)) {
            let mut q = Quantization::per_tensor(p.scale, p.zero_point);
            if let (true, Some((lo, hi))) = (legacy, plan.minmax[t]) {
                q.min = vec![lo];
                q.max = vec![hi];
            }
            let tensor = &mut sg.tensors[t];
            tensor.dtype = scheme.act_dtype();
            tensor.quantization = Some(q);
        }
    }
    let raw: Vec<Option<(f32, f32)>> = (0..sg.tensors.len()).map(|t| ranges.get(t)).collect();
    let mut rw = Rewriter::new(sg, &specs, scheme);
    rw.requantize(&plan.requant, &plan.params);
    rw.model_io(opts.io)?;
    rw.float_fallback(&raw);
    let (added, origin) = rw.finish();
    report.ops_added = added;
    if legacy {
        legacy_options(sg);
    }
    for (t, tensor) in sg.tensors.iter().enumerate() {
        let quantized = matches!(tensor.dtype, DType::I8 | DType::U8 | DType::I16)
            && tensor.data.is_none()
            && tensor
                .quantization
                .as_ref()
                .is_some_and(|q| !q.scale.is_empty());
        if quantized {
            let o = origin.get(t).copied();
            let mut r = TensorReport::quantized(
                0,
                t,
                tensor,
                Role::Activation,
                o.and_then(|o| ranges.get(o)),
            );
            r.float_tensor = o;
            report.tensors.push(r);
        }
    }
    report.tensors.append(&mut constant_reports);
    Ok(report)
}

/// Raises operator versions the way TF's legacy quantizer does (int16x8): its table versions
/// for the kinds it knows, QUANTIZE added at the model's edges keeps 1 unless another QUANTIZE
/// already raised the kind, one version per kind.
pub(crate) fn stamp_legacy_versions(model: &mut Model) {
    for sg in &mut model.subgraphs {
        // Edge QUANTIZE operators are the only version-1 QUANTIZE ones; protect them.
        let edge: Vec<bool> = sg
            .operators
            .iter()
            .map(|op| op.kind == OpKind::Builtin(B::Quantize) && op.version == 1)
            .collect();
        let saved: Vec<i32> = sg.operators.iter().map(|op| op.version).collect();
        legacy_versions(sg);
        for ((op, e), v) in sg.operators.iter_mut().zip(edge).zip(saved) {
            if e {
                op.version = v;
            }
        }
    }
    crate::versions::unify_versions(model);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{int8_activation_params, Affine};
    use crate::Io;
    use ferrolite_model::{Bytes, Operator, Tensor};

    fn act(name: &str) -> Tensor {
        Tensor::new(name, DType::F32, vec![1, 4])
    }

    fn constant(name: &str, dtype: DType, shape: Vec<i32>, bytes: Vec<u8>) -> Tensor {
        let mut t = Tensor::new(name, dtype, shape);
        t.data = Some(Bytes::from_vec(bytes));
        t
    }

    /// input(0) → FC(1 weight, 2 bias) → 3 → RESHAPE(5) → 4 ┐
    /// input(0) ───────────────── LOGISTIC → 8 ─────────────┤→ CONCAT → 6 → SOFTMAX → 7
    fn graph() -> (Subgraph, Ranges) {
        let w: Vec<u8> = (0..16)
            .flat_map(|i| (i as f32 / 8.0 - 1.0).to_le_bytes())
            .collect();
        let b: Vec<u8> = [0.5f32, -0.5, 0.25, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let shape: Vec<u8> = [1i32, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensors = vec![
            act("in"),
            constant("w", DType::F32, vec![4, 4], w),
            constant("b", DType::F32, vec![4], b),
            act("fc"),
            act("reshape"),
            constant("shape", DType::I32, vec![2], shape),
            act("concat"),
            act("softmax"),
            act("sigmoid"),
        ];
        let op = |k, i: &[usize], o: usize| {
            Operator::new(k, i.iter().map(|&t| Some(t)).collect(), vec![Some(o)])
        };
        let sg = Subgraph {
            tensors,
            inputs: vec![0],
            outputs: vec![7],
            operators: vec![
                op(B::FullyConnected, &[0, 1, 2], 3),
                op(B::Reshape, &[3, 5], 4),
                op(B::Logistic, &[0], 8),
                op(B::Concatenation, &[4, 8], 6),
                op(B::Softmax, &[6], 7),
            ],
            ..Default::default()
        };
        let mut ranges = vec![None; 9];
        for (t, r) in [
            (0, (0.0, 1.0)),
            (3, (-2.0, 2.0)),
            (4, (-2.0, 2.0)),
            (6, (-3.0, 3.0)),
            (7, (0.0, 1.0)),
            (8, (0.5, 0.7)),
        ] {
            ranges[t] = Some(r);
        }
        (sg, Ranges { ranges, samples: 1 })
    }

    #[test]
    fn shared_output_params_flow_back_through_pass_through_ops() {
        let (sg, ranges) = graph();
        let specs = plan::specs(&sg, Scheme::Int8, &[], false).unwrap();
        let plan::Plan {
            params: p, requant, ..
        } = plan::plan(&sg, &specs, &ranges, Scheme::Int8).unwrap();
        let shared = int8_activation_params(-3.0, 3.0);
        // FC output takes the concat's parameters (through the RESHAPE), as in TF.
        assert_eq!(p[3], Some(shared));
        assert_eq!(p[4], Some(shared));
        assert_eq!(p[6], Some(shared));
        assert_eq!(p[0], Some(int8_activation_params(0.0, 1.0)));
        assert_eq!(
            p[7],
            Some(Affine {
                scale: 1.0 / 256.0,
                zero_point: -128
            })
        );
        // LOGISTIC's output is fixed, so it is requantized in front of the concat.
        assert_eq!(
            p[8],
            Some(Affine {
                scale: 1.0 / 256.0,
                zero_point: -128
            })
        );
        assert_eq!(requant, vec![(3, 1)]);
    }

    #[test]
    fn rewrite_inserts_requantize_and_float_io() {
        let (sg, ranges) = graph();
        let mut model = Model {
            version: 3,
            subgraphs: vec![sg],
            ..Default::default()
        };
        let mut opts = QuantizeOptions::new(crate::Mode::Int8);
        opts.io = Io::Float;
        let report = run(&mut model, &opts, &ranges).unwrap();
        let sg = &model.subgraphs[0];
        let names: Vec<String> = sg.operators.iter().map(|o| o.kind.name()).collect();
        assert_eq!(
            names,
            [
                "QUANTIZE",
                "FULLY_CONNECTED",
                "RESHAPE",
                "LOGISTIC",
                "QUANTIZE",
                "CONCATENATION",
                "SOFTMAX",
                "DEQUANTIZE"
            ]
        );
        assert_eq!(report.ops_added, 3);
        assert_eq!(sg.tensors[0].dtype, DType::F32);
        assert_eq!(sg.tensors[7].dtype, DType::F32);
        assert_eq!(sg.tensors[1].dtype, DType::I8);
        assert_eq!(sg.tensors[2].dtype, DType::I32);
        // The bias scale is the FC input's scale times each weight channel's scale.
        let input = sg.tensors[sg.operators[1].inputs[0].unwrap()]
            .quantization
            .clone()
            .unwrap();
        let w = sg.tensors[1].quantization.clone().unwrap();
        let b = sg.tensors[2].quantization.clone().unwrap();
        assert_eq!(
            b.scale,
            crate::params::bias_scales(input.scale[0], &w.scale)
        );
        assert!(report.tensors.iter().any(|t| t.role == Role::Bias));
    }

    #[test]
    fn unsupported_operators_are_named() {
        let (mut sg, ranges) = graph();
        sg.operators[2].kind = ferrolite_model::OpKind::Builtin(B::Lstm);
        sg.operators[4].kind = ferrolite_model::OpKind::Custom("MyOp".into());
        let err = plan::specs(&sg, Scheme::Int8, &[], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("operator 2 (LSTM)"), "{err}");
        assert!(err.contains("4 (MyOp)"), "{err}");
        let _ = ranges;
    }
}
