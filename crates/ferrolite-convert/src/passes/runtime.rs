//! The `min_runtime_version` TF writes into every converted model: the newest LiteRT release
//! any `(operator, version)` of the graph needs, from TFLite's `runtime_version.cc` table.
//! Operators the table does not list do not raise it, exactly as in TF; a graph of such ops
//! only gets no entry.

use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{OpKind, Subgraph};

/// Releases per version (version 1 first) of the builtins the converters emit.
const TABLE: &[(B, &[&str])] = &[
    (B::Abs, &["1.13.0", "2.4.0", "2.5.0", "2.6.0"]),
    (B::Add, &["1.5.0", "1.14.0", "2.4.0", "2.6.0"]),
    (B::AveragePool2d, &["1.5.0", "1.14.0", "2.3.0"]),
    (B::BatchMatmul, &["2.3.0", "2.3.0", "2.4.0", "2.5.0"]),
    (B::BatchToSpaceNd, &["1.6.0", "1.14.0", "2.3.0"]),
    (B::Cast, &["1.5.0", "2.7.0", "2.8.0", "2.9.0"]),
    (B::Concatenation, &["1.5.0", "1.14.0", "2.3.0"]),
    (
        B::Conv2d,
        &["1.5.0", "1.14.0", "1.14.0", "2.3.0", "2.4.0", "2.9.0"],
    ),
    (
        B::DepthwiseConv2d,
        &["1.5.0", "1.12.0", "1.14.0", "2.2.0", "2.3.0", "2.3.0"],
    ),
    (B::Div, &["1.6.0", "2.3.0"]),
    (B::Elu, &["1.14.0"]),
    (B::Exp, &["1.7.0"]),
    (B::ExpandDims, &["1.10.0"]),
    (
        B::FullyConnected,
        &[
            "1.5.0", "1.10.0", "1.14.0", "1.14.0", "2.0.0", "2.1.0", "2.3.0", "2.3.0", "2.3.0",
        ],
    ),
    (B::Gather, &["1.6.0", "1.14.0", "1.15.0", "2.4.0", "2.5.0"]),
    (B::Gelu, &["2.9.0", "2.9.0"]),
    (B::Greater, &["1.14.0", "1.14.0"]),
    (B::HardSwish, &["1.15.0"]),
    (B::L2Normalization, &["1.5.0", "1.14.0"]),
    (B::LeakyRelu, &["1.13.1", "2.3.0"]),
    (B::Log, &["1.14.0"]),
    (B::Logistic, &["1.14.0", "1.14.0", "2.3.0"]),
    (B::MaxPool2d, &["1.5.0", "1.14.0", "2.3.0"]),
    (B::Maximum, &["1.14.0", "1.14.0", "2.3.0", "2.3.0"]),
    (B::Mean, &["1.6.0", "1.14.0", "2.4.0"]),
    (B::Minimum, &["1.14.0", "1.14.0", "2.3.0", "2.3.0"]),
    (B::Mul, &["1.5.0", "1.14.0", "1.15.0", "2.3.0", "2.6.0"]),
    (B::Neg, &["1.9.0"]),
    (B::Pack, &["1.11.0", "1.14.0", "2.3.0"]),
    (B::Pad, &["1.5.0", "1.14.0", "2.4.0", "2.6.0"]),
    (B::Prelu, &["1.8.0"]),
    (B::ReduceMax, &["1.11.0", "1.14.0", "2.5.0"]),
    (B::Relu, &["1.5.0", "2.1.0", "2.5.0"]),
    (B::Relu6, &["1.5.0", "1.14.0", "2.5.0"]),
    (B::ReluN1To1, &["1.5.0"]),
    (B::Reshape, &["1.5.0"]),
    (B::ResizeBilinear, &["1.7.0", "1.14.0", "2.2.0", "2.5.0"]),
    (
        B::ResizeNearestNeighbor,
        &["1.13.1", "1.14.0", "2.3.0", "2.4.0"],
    ),
    (B::Rsqrt, &["1.10.0", "2.5.0"]),
    (B::SelectV2, &["2.2.0"]),
    (B::Shape, &["1.10.0"]),
    (B::Slice, &["1.14.0", "1.14.0", "1.14.0", "2.4.0", "2.5.0"]),
    (B::Softmax, &["1.5.0", "1.14.0", "2.3.0"]),
    (B::SpaceToBatchNd, &["1.6.0", "1.14.0", "2.3.0"]),
    (B::SquaredDifference, &["1.13.1", "2.5.0"]),
    (
        B::StridedSlice,
        &["1.6.0", "1.14.0", "2.1.0", "2.2.0", "2.5.0", "2.6.0"],
    ),
    (B::Sub, &["1.6.0", "1.14.0", "2.3.0", "2.4.0", "2.4.0"]),
    (B::Tanh, &["1.14.0", "1.14.0", "2.3.0"]),
    (B::Tile, &["1.10.1", "2.2.0", "2.8.0"]),
    (
        B::Transpose,
        &["1.6.0", "1.14.0", "1.15.0", "2.3.0", "2.4.0"],
    ),
    // Version 4 (a fused activation) is not in the published table; 2.13.0 is what TF 2.21
    // writes for it.
    (B::TransposeConv, &["1.9.0", "2.2.0", "2.3.0", "2.13.0"]),
];

/// The release `(op, version)` needs, when the table lists it.
pub fn runtime_version(op: B, version: i32) -> Option<&'static str> {
    let (_, versions) = TABLE.iter().find(|(o, _)| *o == op)?;
    usize::try_from(version - 1)
        .ok()
        .and_then(|i| versions.get(i))
        .copied()
}

/// `a < b` for dotted version strings (numeric per component; a prefix is older).
pub fn older(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

/// The newest release the graph's operators need, `None` when no operator is listed.
pub fn min_runtime_version(sg: &Subgraph) -> Option<String> {
    let mut best: Option<&str> = None;
    for op in &sg.operators {
        if let OpKind::Builtin(kind) = op.kind {
            if let Some(v) = runtime_version(kind, op.version) {
                if best.is_none_or(|b| older(b, v)) {
                    best = Some(v);
                }
            }
        }
    }
    best.map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrolite_model::Operator;

    #[test]
    fn the_newest_listed_release_wins() {
        let mut sg = Subgraph::default();
        assert_eq!(min_runtime_version(&sg), None);
        for (op, v) in [(B::Conv2d, 1), (B::Tanh, 1), (B::Reshape, 1)] {
            let mut o = Operator::new(op, vec![], vec![]);
            o.version = v;
            sg.operators.push(o);
        }
        assert_eq!(min_runtime_version(&sg).as_deref(), Some("1.14.0"));
        sg.operators[0].version = 6;
        assert_eq!(min_runtime_version(&sg).as_deref(), Some("2.9.0"));
        assert!(older("1.5.0", "1.14.0") && !older("2.9.0", "2.9.0"));
        assert_eq!(runtime_version(B::TransposeConv, 4), Some("2.13.0"));
        assert_eq!(runtime_version(B::Conv2d, 99), None);
    }
}
