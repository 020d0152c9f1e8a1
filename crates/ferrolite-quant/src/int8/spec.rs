//! The operator tables of the full-integer pass: for each operator it supports, which input is a
//! weight (and along which axis it is per-channel), which is a bias, and how the output's
//! quantization parameters are chosen. [`Scheme::Int8`] is TFLite's int8 quantization spec as
//! TF's MLIR quantizer applies it; [`Scheme::Int16x8`] is what TF's legacy quantizer does with
//! int16 activations, restricted to the operators ferrolite's interpreter runs in int16.

use crate::params::{int16_activation_params, int8_activation_params, Affine};
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{DType, OpKind, Operator};

/// Which integer quantization the pass produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// int8 activations (asymmetric), int8 weights, int32 biases (TF's MLIR quantizer).
    Int8,
    /// int16 activations (symmetric), int8 weights, int64 biases (TF's legacy quantizer).
    Int16x8,
}

impl Scheme {
    /// Element type of quantized activations.
    pub fn act_dtype(self) -> DType {
        match self {
            Scheme::Int8 => DType::I8,
            Scheme::Int16x8 => DType::I16,
        }
    }

    /// Element type of quantized biases.
    pub fn bias_dtype(self) -> DType {
        match self {
            Scheme::Int8 => DType::I32,
            Scheme::Int16x8 => DType::I64,
        }
    }

    /// Short name used in messages and in tensor names (`int8`, `int16`).
    pub fn act_name(self) -> &'static str {
        match self {
            Scheme::Int8 => "int8",
            Scheme::Int16x8 => "int16",
        }
    }

    /// Activation parameters for a calibrated range.
    pub fn params(self, lo: f32, hi: f32) -> Affine {
        match self {
            Scheme::Int8 => int8_activation_params(lo, hi),
            Scheme::Int16x8 => int16_activation_params(lo, hi),
        }
    }

    /// The operator's spec, or `None` when this scheme has no integer rule for it.
    pub fn spec(self, op: &Operator) -> Option<OpSpec> {
        match self {
            Scheme::Int8 => op_spec(op),
            Scheme::Int16x8 => op_spec16(op),
        }
    }
}

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

/// The int16x8 spec for `op`: TF's legacy quantizer rules (CONCATENATION requantizes its inputs
/// instead of sharing backwards), for the operators ferrolite's interpreter runs with int16
/// activations.
pub(crate) fn op_spec16(op: &Operator) -> Option<OpSpec> {
    let OpKind::Builtin(kind) = op.kind else {
        return None;
    };
    Some(match kind {
        B::Conv2d => weighted(0, 1, 0, 2),
        B::DepthwiseConv2d => weighted(0, 1, 3, 2),
        B::FullyConnected => weighted(0, 1, 0, 2),
        B::Add | B::Sub | B::Mul | B::Mean | B::Sum => spec(Output::Free),
        B::Softmax => spec(Output::Fixed(1.0 / 32768.0, 0)),
        B::MaxPool2d | B::AveragePool2d | B::Reshape | B::Squeeze | B::ExpandDims => {
            spec(Output::SameAsInput)
        }
        B::Concatenation => spec(Output::SharedByAll),
        _ => return None,
    })
}

/// The operator version TF's legacy quantizer gives a quantizable operator kind in int16x8
/// mode (its `operator_property` table; versions only go up). `None` for other kinds.
pub(crate) fn legacy_version(kind: B) -> Option<i32> {
    Some(match kind {
        B::Conv2d | B::DepthwiseConv2d | B::TransposeConv => 3,
        B::FullyConnected => 4,
        B::Reshape | B::Squeeze | B::ExpandDims | B::Unpack | B::Shape | B::HardSwish => 1,
        B::ReluN1To1 | B::Prelu => 1,
        B::Add
        | B::Sub
        | B::Mul
        | B::Mean
        | B::Sum
        | B::AveragePool2d
        | B::MaxPool2d
        | B::Concatenation
        | B::Softmax
        | B::Logistic
        | B::Tanh
        | B::LogSoftmax
        | B::L2Normalization
        | B::Quantize
        | B::ArgMax
        | B::BatchMatmul
        | B::BatchToSpaceNd
        | B::SpaceToBatchNd
        | B::SpaceToDepth
        | B::Split
        | B::SplitV
        | B::Equal
        | B::NotEqual
        | B::Greater
        | B::GreaterEqual
        | B::Less
        | B::LessEqual
        | B::Gather
        | B::Maximum
        | B::Minimum
        | B::Pack
        | B::Pad
        | B::Padv2
        | B::MirrorPad
        | B::LeakyRelu
        | B::Relu
        | B::Relu6
        | B::ResizeBilinear
        | B::ResizeNearestNeighbor
        | B::Slice
        | B::StridedSlice
        | B::Transpose
        | B::ReduceMax
        | B::ReduceMin => 2,
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

    #[test]
    fn int16x8_table_follows_the_legacy_quantizer() {
        let op = |k| Operator::new(k, vec![], vec![]);
        assert_eq!(
            op_spec16(&op(B::Softmax)).unwrap().output,
            Output::Fixed(1.0 / 32768.0, 0)
        );
        assert_eq!(op_spec16(&op(B::Sub)).unwrap().output, Output::Free);
        assert_eq!(
            op_spec16(&op(B::Reshape)).unwrap().output,
            Output::SameAsInput
        );
        assert!(
            op_spec16(&op(B::Tanh)).is_none(),
            "the interpreter has no int16 TANH"
        );
        assert_eq!(legacy_version(B::FullyConnected), Some(4));
        assert_eq!(legacy_version(B::Sin), None);
        assert_eq!(Scheme::Int16x8.act_dtype(), DType::I16);
    }
}
