//! FULLY_CONNECTED and BATCH_MATMUL through the interpreter, on hand-computed cases.

mod nn_support;

use ferrolite_model::tflite::{
    ActivationFunctionType as Act, BatchMatMulOptions, BuiltinOperator as B, BuiltinOptions as O,
    FullyConnectedOptions, FullyConnectedOptionsWeightsFormat as Format,
};
use ferrolite_model::DType;
use nn_support::*;

fn fc_opts(act: Act, keep_num_dims: bool) -> Option<O> {
    Some(O::FullyConnectedOptions(Box::new(FullyConnectedOptions {
        fused_activation_function: act,
        keep_num_dims,
        ..Default::default()
    })))
}

const X: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
const W: [f32; 6] = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5];

#[test]
fn fully_connected_with_bias_and_relu() {
    // Rows [1,2,3] and [4,5,6] against units [1,0,-1] and [.5,.5,.5], bias [1,-1].
    let run = |act| {
        case(
            B::FullyConnected,
            fc_opts(act, false),
            vec![
                input_f32(&[2, 3], &X),
                const_f32(&[2, 3], &W),
                const_f32(&[2], &[1.0, -1.0]),
            ],
            DType::F32,
        )
        .version(9)
        .run()
    };
    let (got, shape) = run(Act::None);
    assert_eq!(shape, [2, 2]);
    assert_eq!(got, [-1.0, 2.0, -1.0, 6.5]);
    assert_eq!(run(Act::Relu).0, [0.0, 2.0, 0.0, 6.5]);
}

#[test]
fn fully_connected_flattens_or_keeps_dims() {
    let operands = |bias: Option<Operand>| {
        let mut v = vec![input_f32(&[1, 2, 3], &X), input_f32(&[2, 3], &W)];
        v.extend(bias);
        v
    };
    // keep_num_dims: [1, 2, 3] -> [1, 2, 2]; bias omitted as `-1`; weights fed at run time.
    let (got, shape) = case(
        B::FullyConnected,
        fc_opts(Act::None, true),
        operands(Some(Operand::Omitted)),
        DType::F32,
    )
    .run();
    assert_eq!(shape, [1, 2, 2]);
    assert_eq!(got, [-2.0, 3.0, -2.0, 7.5]);
    // Without it the input flattens to rows of depth 3: [2, 2]; two-operand form.
    let (got, shape) = case(
        B::FullyConnected,
        fc_opts(Act::None, false),
        operands(None),
        DType::F32,
    )
    .run();
    assert_eq!(shape, [2, 2]);
    assert_eq!(got, [-2.0, 3.0, -2.0, 7.5]);
    // A [1, 6] input flattens into the same two rows; absent options are the defaults.
    let (got, shape) = case(
        B::FullyConnected,
        None,
        vec![input_f32(&[1, 6], &X), const_f32(&[2, 3], &W)],
        DType::F32,
    )
    .run();
    assert_eq!((got, shape), (vec![-2.0, 3.0, -2.0, 7.5], vec![2, 2]));
}

#[test]
fn fully_connected_rejections() {
    // Shuffled weights format: unsupported.
    let opts = Some(O::FullyConnectedOptions(Box::new(FullyConnectedOptions {
        weights_format: Format::Shuffled4x16Int8,
        ..Default::default()
    })));
    let e = case(
        B::FullyConnected,
        opts,
        vec![input_f32(&[2, 3], &X), const_f32(&[2, 3], &W)],
        DType::F32,
    )
    .prepare_err();
    assert_unsupported(&e, "weights format");
    // Dynamic-range FULLY_CONNECTED needs quantized weights.
    let e = case(
        B::FullyConnected,
        fc_opts(Act::None, false),
        vec![
            input_f32(&[2, 3], &X),
            constant(DType::I8, &[2, 3], &[1i8; 6]),
        ],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // Dynamic-range BATCH_MATMUL (tests/hybrid.rs) needs the weights' quantization.
    let e = case(
        B::BatchMatmul,
        None,
        vec![
            input_f32(&[2, 3], &X),
            constant(DType::I8, &[3, 2], &[1i8; 6]),
        ],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // Depth 4 does not divide 6 input elements; keep_num_dims needs the last dim to match.
    let e = case(
        B::FullyConnected,
        fc_opts(Act::None, false),
        vec![input_f32(&[2, 3], &X), const_f32(&[1, 4], &[0.0; 4])],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    let e = case(
        B::FullyConnected,
        fc_opts(Act::None, true),
        vec![input_f32(&[3, 2], &X), const_f32(&[2, 3], &W)],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // Bias length 3 for 2 units; one operand only.
    let e = case(
        B::FullyConnected,
        fc_opts(Act::None, false),
        vec![
            input_f32(&[2, 3], &X),
            const_f32(&[2, 3], &W),
            const_f32(&[3], &[0.0; 3]),
        ],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    let e = case(
        B::FullyConnected,
        None,
        vec![input_f32(&[2, 3], &X)],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
}

fn bmm(adj_x: bool, adj_y: bool, lhs: Operand, rhs: Operand) -> (Vec<f32>, Vec<usize>) {
    let opts = Some(O::BatchMatMulOptions(Box::new(BatchMatMulOptions {
        adj_x,
        adj_y,
        ..Default::default()
    })));
    case(B::BatchMatmul, opts, vec![lhs, rhs], DType::F32).run()
}

#[test]
fn batch_matmul_adjoints() {
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [5.0, 6.0, 7.0, 8.0];
    let cases = [
        (false, false, [19.0, 22.0, 43.0, 50.0]),
        (false, true, [17.0, 23.0, 39.0, 53.0]),
        (true, false, [26.0, 30.0, 38.0, 44.0]),
        (true, true, [23.0, 31.0, 34.0, 46.0]),
    ];
    for (adj_x, adj_y, want) in cases {
        let (got, shape) = bmm(
            adj_x,
            adj_y,
            input_f32(&[1, 2, 2], &a),
            const_f32(&[2, 2], &b),
        );
        assert_eq!(shape, [1, 2, 2]);
        assert_eq!(got, want, "adj_x={adj_x} adj_y={adj_y}");
    }
}

#[test]
fn batch_matmul_broadcasts_batches() {
    // Two [1, 2] row vectors against one shared [2, 3] matrix.
    let (got, shape) = bmm(
        false,
        false,
        input_f32(&[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]),
        input_f32(&[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]),
    );
    assert_eq!(shape, [2, 1, 3]);
    assert_eq!(got, [1.0, 2.0, 3.0, 3.0, 4.0, 7.0]);
    // A [2, 1, 1, 2] lhs against a [3, 2, 1] rhs broadcasts to [2, 3, 1, 1].
    let (got, shape) = bmm(
        false,
        false,
        input_f32(&[2, 1, 1, 2], &[1.0, 1.0, 2.0, 2.0]),
        input_f32(&[3, 2, 1], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
    );
    assert_eq!(shape, [2, 3, 1, 1]);
    assert_eq!(got, [1.0, 1.0, 2.0, 2.0, 2.0, 4.0]);
}

#[test]
fn batch_matmul_rejections() {
    let opts = || Some(O::BatchMatMulOptions(Box::default()));
    // Contraction 3 vs 2.
    let e = case(
        B::BatchMatmul,
        opts(),
        vec![input_f32(&[2, 3], &X), const_f32(&[2, 2], &[0.0; 4])],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // Batch dims 2 and 3 do not broadcast.
    let e = case(
        B::BatchMatmul,
        opts(),
        vec![
            input_f32(&[2, 1, 1], &[0.0; 2]),
            input_f32(&[3, 1, 1], &[0.0; 3]),
        ],
        DType::F32,
    )
    .prepare_err();
    assert_invalid(&e);
    // int8 operands (tests/hybrid.rs) need quantization parameters.
    let e = case(
        B::BatchMatmul,
        opts(),
        vec![
            input_raw(DType::I8, &[2, 2], vec![0; 4]),
            constant(DType::I8, &[2, 2], &[0i8; 4]),
        ],
        DType::I8,
    )
    .prepare_err();
    assert_invalid(&e);
}
