//! The int8 operator table: for each operator the full-integer pass supports, which input is a
//! weight (and along which axis it is per-channel), which is a bias, and how the output's
//! quantization parameters are chosen (TFLite's int8 quantization spec as TF's converter
//! applies it).

use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{OpKind, Operator};

/// How an operator's float outputs get their parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Output {
    /// From the output's own calibrated range (the kernel requantizes).
    Free,
    /// Fixed by the kernel: `(scale, zero_point)` (softmax 1/256 and -128, ...).
    Fixed(f32, i64),
    /// Same parameters as the data input (pooling, reshape, pad, ...): propagated forward.
    SameAsInput,
    /// All float operands and the output share one set of parameters, taken from the output's
    /// calibrated range; inputs with other parameters are adjusted or requantized.
    SharedByAll,
}

/// How one operator kind is quantized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OpSpec {
    /// Input slot of the weight and its per-channel axis (`None`: per-tensor).
    pub weight: Option<(usize, Option<usize>)>,
    /// Input slot of the bias (int32, scale = data scale × weight scale).
    pub bias: Option<usize>,
    /// Input slot of the activation the bias scale derives from.
    pub data: usize,
    /// Output parameter rule.
    pub output: Output,
}

const fn spec(output: Output) -> OpSpec {
    OpSpec {
        weight: None,
        bias: None,
        data: 0,
        output,
    }
}

const fn weighted(data: usize, weight: usize, axis: usize, bias: usize) -> OpSpec {
    OpSpec {
        weight: Some((weight, Some(axis))),
        bias: Some(bias),
        data,
        output: Output::Free,
    }
}

/// The spec for `op`, or `None` when int8 mode does not support it.
pub(crate) fn op_spec(op: &Operator) -> Option<OpSpec> {
    let OpKind::Builtin(kind) = op.kind else {
        return None;
    };
    Some(match kind {
        B::Conv2d => weighted(0, 1, 0, 2),
        B::DepthwiseConv2d => weighted(0, 1, 3, 2),
        B::FullyConnected => weighted(0, 1, 0, 2),
        B::TransposeConv => weighted(2, 1, 0, 3),
        B::Add
        | B::Sub
        | B::Mul
        | B::Mean
        | B::Sum
        | B::BatchMatmul
        | B::Relu
        | B::Relu6
        | B::ReluN1To1
        | B::LeakyRelu
        | B::HardSwish
        | B::SquaredDifference
        | B::ArgMax
        | B::ArgMin
        | B::Less
        | B::LessEqual
        | B::Greater
        | B::GreaterEqual
        | B::Equal
        | B::NotEqual
        | B::Shape => spec(Output::Free),
        B::Softmax | B::Logistic => spec(Output::Fixed(1.0 / 256.0, -128)),
        B::Tanh | B::L2Normalization => spec(Output::Fixed(1.0 / 128.0, 0)),
        B::LogSoftmax => spec(Output::Fixed(16.0 / 256.0, 127)),
        B::MaxPool2d
        | B::AveragePool2d
        | B::Reshape
        | B::Squeeze
        | B::ExpandDims
        | B::Transpose
        | B::Pad
        | B::Padv2
        | B::MirrorPad
        | B::Slice
        | B::StridedSlice
        | B::Gather
        | B::SpaceToDepth
        | B::DepthToSpace
        | B::SpaceToBatchNd
        | B::BatchToSpaceNd
        | B::ResizeBilinear
        | B::ResizeNearestNeighbor
        | B::ReduceMax
        | B::ReduceMin
        | B::Tile
        | B::BroadcastTo
        | B::SplitV
        | B::Unpack
        | B::ReverseV2 => spec(Output::SameAsInput),
        B::Split => OpSpec {
            data: 1,
            ..spec(Output::SameAsInput)
        },
        B::Concatenation | B::Pack | B::Maximum | B::Minimum => spec(Output::SharedByAll),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_the_fixture_operators() {
        let op = |k| Operator::new(k, vec![], vec![]);
        assert_eq!(op_spec(&op(B::Conv2d)).unwrap().weight, Some((1, Some(0))));
        assert_eq!(
            op_spec(&op(B::DepthwiseConv2d)).unwrap().weight,
            Some((1, Some(3)))
        );
        assert_eq!(
            op_spec(&op(B::Softmax)).unwrap().output,
            Output::Fixed(0.00390625, -128)
        );
        assert_eq!(
            op_spec(&op(B::MaxPool2d)).unwrap().output,
            Output::SameAsInput
        );
        assert_eq!(op_spec(&op(B::Split)).unwrap().data, 1);
        assert!(op_spec(&op(B::Lstm)).is_none());
    }
}
