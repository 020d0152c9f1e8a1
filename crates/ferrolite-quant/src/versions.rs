//! Operator versions and the `min_runtime_version` metadata after quantization.
//!
//! LiteRT picks kernels by `(operator, version)`, so a rewritten operator must carry the version
//! TF's versioning rules assign to its new operand types (int8 CONV_2D is version 3, a hybrid
//! per-channel FULLY_CONNECTED version 12, ...). As TF's exporter does, an operator's version
//! never goes down, and all instances of one operator kind share the highest version (TF writes
//! one opcode per kind). `min_runtime_version` is then raised to what the versions require.

use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::{Bytes, DType, Model, OpKind, Operator, Subgraph};
use std::collections::HashMap;

/// Element type of operand `slot` (`None` when absent or out of range).
fn dtype_of(sg: &Subgraph, list: &[Option<usize>], slot: usize) -> Option<DType> {
    list.get(slot)
        .copied()
        .flatten()
        .and_then(|t| sg.tensors.get(t))
        .map(|t| t.dtype)
}

/// True when operand `slot` carries more than one scale.
fn per_channel(sg: &Subgraph, op: &Operator, slot: usize) -> bool {
    op.inputs
        .get(slot)
        .copied()
        .flatten()
        .and_then(|t| sg.tensors.get(t))
        .and_then(|t| t.quantization.as_ref())
        .is_some_and(|q| q.scale.len() > 1)
}

/// The version TF's rules give `op` for its operand types, for the operators quantization
/// rewrites; `None` for others (their version is kept).
fn required_version(sg: &Subgraph, op: &Operator) -> Option<i32> {
    let OpKind::Builtin(kind) = op.kind else {
        return None;
    };
    let in0 = dtype_of(sg, &op.inputs, 0);
    let in1 = dtype_of(sg, &op.inputs, 1);
    let out0 = dtype_of(sg, &op.outputs, 0);
    let (f32_, i8_, i16_, f16_) = (
        Some(DType::F32),
        Some(DType::I8),
        Some(DType::I16),
        Some(DType::F16),
    );
    let hybrid = in0 == f32_ && in1 == i8_ && out0 == f32_;
    let int8 = in0 == i8_;
    let v = match kind {
        B::Conv2d => {
            if int8 && in1 == i8_ && out0 == i8_ {
                3
            } else if hybrid {
                if per_channel(sg, op, 1) {
                    5
                } else {
                    2
                }
            } else {
                1
            }
        }
        B::DepthwiseConv2d => {
            if hybrid {
                if per_channel(sg, op, 1) {
                    6
                } else {
                    4
                }
            } else if int8 && in1 == i8_ && out0 == i8_ {
                3
            } else {
                1
            }
        }
        B::FullyConnected => {
            let opts = match &op.options {
                Some(BuiltinOptions::FullyConnectedOptions(o)) => Some(o),
                _ => None,
            };
            if hybrid && per_channel(sg, op, 1) {
                12
            } else if op.inputs.len() == 2 {
                6
            } else if opts.is_some_and(|o| o.keep_num_dims) {
                5
            } else if int8 && in1 == i8_ && out0 == i8_ {
                4
            } else if hybrid {
                if opts.is_some_and(|o| o.asymmetric_quantize_inputs) {
                    9
                } else {
                    3
                }
            } else {
                1
            }
        }
        B::BatchMatmul => {
            let asym = matches!(&op.options, Some(BuiltinOptions::BatchMatMulOptions(o)) if o.asymmetric_quantize_inputs);
            if in0 == i16_ {
                3
            } else if int8 {
                2
            } else if hybrid && asym {
                4
            } else {
                1
            }
        }
        B::Dequantize => {
            if in0 == i16_ || in0 == f16_ {
                3
            } else if in0 == i8_ {
                if per_channel(sg, op, 0) {
                    5
                } else {
                    2
                }
            } else {
                1
            }
        }
        B::Quantize => {
            if out0 == i16_ {
                2
            } else {
                1
            }
        }
        B::Add
        | B::Mul
        | B::Sub
        | B::MaxPool2d
        | B::AveragePool2d
        | B::Softmax
        | B::Mean
        | B::Tanh
        | B::Logistic
        | B::Concatenation
        | B::Pad
        | B::Padv2
        | B::Transpose
        | B::Slice
        | B::StridedSlice
        | B::Maximum
        | B::Minimum
        | B::Pack
        | B::ReduceMax
        | B::ReduceMin
        | B::Relu6
        | B::ArgMax
        | B::ArgMin
        | B::Gather
        | B::Sum
        | B::SpaceToDepth
        | B::DepthToSpace
        | B::LogSoftmax
        | B::ResizeBilinear
        | B::ResizeNearestNeighbor
        | B::SpaceToBatchNd
        | B::BatchToSpaceNd
        | B::Relu
        | B::L2Normalization
        | B::Unpack => {
            if int8 || (kind == B::L2Normalization && out0 == i8_) {
                2
            } else {
                1
            }
        }
        B::Split => {
            if in1 == i8_ {
                2
            } else {
                1
            }
        }
        _ => return None,
    };
    Some(v)
}

/// Raises each operator's version to what its operand types need, then gives every instance of
/// an operator kind the highest version of that kind (one opcode per kind, as TF writes).
pub(crate) fn stamp_versions(model: &mut Model) {
    for sg in &mut model.subgraphs {
        let required: Vec<Option<i32>> = sg
            .operators
            .iter()
            .map(|op| required_version(sg, op))
            .collect();
        for (op, v) in sg.operators.iter_mut().zip(required) {
            if let Some(v) = v {
                op.version = op.version.max(v);
            }
        }
    }
    unify_versions(model);
}

/// Gives every instance of an operator kind the highest version of that kind (TF writes one
/// opcode per kind).
pub(crate) fn unify_versions(model: &mut Model) {
    let mut highest: HashMap<OpKind, i32> = HashMap::new();
    for op in model.subgraphs.iter().flat_map(|s| &s.operators) {
        let e = highest.entry(op.kind.clone()).or_insert(op.version);
        *e = (*e).max(op.version);
    }
    for op in model.subgraphs.iter_mut().flat_map(|s| &mut s.operators) {
        op.version = highest[&op.kind];
    }
}

/// Minimum LiteRT release for `(op, version)`, for the operators quantization touches
/// (TF's `runtime_version.cc` table); `None` when not listed.
fn runtime_version(op: B, version: i32) -> Option<&'static str> {
    let table: &[(B, &[&str])] = &[
        // versions 1, 2, 3, ... in order
        (
            B::Conv2d,
            &[
                "1.5.0", "1.14.0", "1.14.0", "2.3.0", "2.4.0", "2.9.0", "2.11.0", "2.15.0",
            ],
        ),
        (
            B::DepthwiseConv2d,
            &[
                "1.5.0", "1.12.0", "1.14.0", "2.2.0", "2.3.0", "2.3.0", "2.11.0",
            ],
        ),
        (
            B::FullyConnected,
            &[
                "1.5.0", "1.10.0", "1.14.0", "1.14.0", "2.0.0", "2.1.0", "2.3.0", "2.3.0", "2.3.0",
                "2.11.0", "2.15.0", "2.17.0", "2.18.0", "2.21.0",
            ],
        ),
        (B::BatchMatmul, &["2.3.0", "2.3.0", "2.4.0", "2.5.0"]),
        (
            B::Dequantize,
            &[
                "1.13.1", "1.14.0", "1.15.0", "2.2.0", "2.7.0", "2.18.0", "2.21.0",
            ],
        ),
        (B::Quantize, &["1.14.0", "1.15.0", "2.7.0"]),
        (B::Add, &["1.5.0", "1.14.0", "2.4.0", "2.6.0", "2.13.0"]),
        (B::Sub, &["1.6.0", "1.14.0", "2.3.0", "2.4.0", "2.4.0"]),
        (
            B::Mul,
            &[
                "1.5.0", "1.14.0", "1.15.0", "2.3.0", "2.6.0", "2.11.0", "2.13.0",
            ],
        ),
        (B::AveragePool2d, &["1.5.0", "1.14.0", "2.3.0"]),
        (B::MaxPool2d, &["1.5.0", "1.14.0", "2.3.0"]),
        (B::Softmax, &["1.5.0", "1.14.0", "2.3.0"]),
        (B::Mean, &["1.6.0", "1.14.0", "2.4.0"]),
        (B::Reshape, &["1.5.0"]),
        (B::Concatenation, &["1.5.0", "1.14.0", "2.3.0", "2.14.0"]),
        (B::Tanh, &["1.14.0", "1.14.0", "2.3.0"]),
        (B::Logistic, &["1.14.0", "1.14.0", "2.3.0"]),
        (B::Pad, &["1.5.0", "1.14.0", "2.4.0", "2.6.0"]),
        (B::Padv2, &["1.9.0", "1.14.0", "2.4.0", "2.6.0"]),
        (
            B::Transpose,
            &["1.6.0", "1.14.0", "1.15.0", "2.3.0", "2.4.0", "2.12.0"],
        ),
        (B::Slice, &["1.14.0", "1.14.0", "1.14.0", "2.4.0", "2.5.0"]),
        (
            B::StridedSlice,
            &["1.6.0", "1.14.0", "2.1.0", "2.2.0", "2.5.0", "2.6.0"],
        ),
        (B::Maximum, &["1.14.0", "1.14.0", "2.3.0", "2.3.0"]),
        (B::Minimum, &["1.14.0", "1.14.0", "2.3.0", "2.3.0"]),
        (B::Pack, &["1.11.0", "1.14.0", "2.3.0"]),
        (B::Unpack, &["1.11.0", "1.14.0", "2.2.0", "2.3.0"]),
        (B::Relu, &["1.5.0", "2.1.0", "2.5.0"]),
        (B::Relu6, &["1.5.0", "1.14.0", "2.5.0"]),
        (B::ReduceMax, &["1.11.0", "1.14.0", "2.5.0"]),
        (B::ReduceMin, &["1.11.0", "1.14.0", "2.5.0"]),
        (B::Sum, &["1.10.0", "1.15.0"]),
        (B::ArgMax, &["1.9.0", "1.14.0", "2.9.0"]),
        (B::ArgMin, &["1.9.0", "1.14.0", "2.9.0"]),
        (B::Gather, &["1.6.0", "1.14.0", "1.15.0", "2.4.0", "2.5.0"]),
        (B::Split, &["1.5.0", "1.14.0", "1.14.0", "2.3.0"]),
        (B::SpaceToDepth, &["1.5.0", "1.14.0"]),
        (B::DepthToSpace, &["2.1.0", "2.5.0"]),
        (B::LogSoftmax, &["1.14.0", "1.14.0"]),
        (B::L2Normalization, &["1.5.0", "1.14.0"]),
        (B::ResizeBilinear, &["1.7.0", "1.14.0", "2.2.0", "2.5.0"]),
        (
            B::ResizeNearestNeighbor,
            &["1.13.1", "1.14.0", "2.3.0", "2.4.0"],
        ),
        (B::SpaceToBatchNd, &["1.6.0", "1.14.0", "2.3.0"]),
        (B::BatchToSpaceNd, &["1.6.0", "1.14.0", "2.3.0"]),
    ];
    let (_, versions) = table.iter().find(|(o, _)| *o == op)?;
    usize::try_from(version - 1)
        .ok()
        .and_then(|i| versions.get(i))
        .copied()
}

/// `a < b` for dotted version strings (numeric per component).
fn older(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

/// Raises the `min_runtime_version` metadata (when the model has one) to what its operator
/// versions need. The value stays a 16-byte NUL-padded string, as TF writes it.
pub(crate) fn update_min_runtime_version(model: &mut Model) {
    let Some(entry) = model
        .metadata
        .iter()
        .position(|m| m.name == "min_runtime_version")
    else {
        return;
    };
    let current = String::from_utf8_lossy(&model.metadata[entry].data)
        .trim_end_matches('\0')
        .to_string();
    let mut best = current.clone();
    for op in model.subgraphs.iter().flat_map(|s| &s.operators) {
        if let OpKind::Builtin(kind) = op.kind {
            if let Some(v) = runtime_version(kind, op.version) {
                if older(&best, v) {
                    best = v.to_string();
                }
            }
        }
    }
    if best != current && best.len() < 16 {
        let mut bytes = best.into_bytes();
        bytes.resize(16.max(model.metadata[entry].data.len()), 0);
        model.metadata[entry].data = Bytes::from_vec(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings_compare_numerically() {
        assert!(older("1.5.0", "1.14.0"));
        assert!(older("1.14.0", "2.4.0"));
        assert!(!older("2.17.0", "2.4.0"));
        assert!(!older("1.15.0", "1.15.0"));
    }

    #[test]
    fn runtime_table_lookup() {
        assert_eq!(runtime_version(B::FullyConnected, 12), Some("2.17.0"));
        assert_eq!(runtime_version(B::Conv2d, 5), Some("2.4.0"));
        assert_eq!(runtime_version(B::Dequantize, 3), Some("1.15.0"));
        assert_eq!(runtime_version(B::Conv2d, 0), None);
        assert_eq!(runtime_version(B::Conv2d, 99), None);
    }
}
