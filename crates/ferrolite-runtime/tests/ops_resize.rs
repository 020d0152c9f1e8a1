//! RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, SPACE_TO_DEPTH and DEPTH_TO_SPACE through the
//! interpreter, on hand-computed cases.

mod nn_support;

use ferrolite_model::tflite::{
    BuiltinOperator as B, BuiltinOptions as O, DepthToSpaceOptions, ResizeBilinearOptions,
    ResizeNearestNeighborOptions, SpaceToDepthOptions,
};
use ferrolite_model::DType;
use nn_support::*;

const IMG: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

fn bilinear(align_corners: bool, half_pixel_centers: bool) -> Option<O> {
    Some(O::ResizeBilinearOptions(Box::new(ResizeBilinearOptions {
        align_corners,
        half_pixel_centers,
    })))
}

fn nearest(align_corners: bool, half_pixel_centers: bool) -> Option<O> {
    Some(O::ResizeNearestNeighborOptions(Box::new(
        ResizeNearestNeighborOptions {
            align_corners,
            half_pixel_centers,
        },
    )))
}

fn resize(op: B, options: Option<O>, size: [i32; 2]) -> (Vec<f32>, Vec<usize>) {
    case(
        op,
        options,
        vec![input_f32(&[1, 2, 2, 1], &IMG), const_i32(&[2], &size)],
        DType::F32,
    )
    .run()
}

#[test]
fn bilinear_default_and_align_corners() {
    // Scale 0.5: source rows 0, 0.5, 1, 1.5 (the last clamps to row 1).
    let (got, shape) = resize(B::ResizeBilinear, bilinear(false, false), [4, 4]);
    assert_eq!(shape, [1, 4, 4, 1]);
    let want = [
        1.0, 1.5, 2.0, 2.0, 2.0, 2.5, 3.0, 3.0, 3.0, 3.5, 4.0, 4.0, 3.0, 3.5, 4.0, 4.0,
    ];
    assert_close(&got, &want, 1e-6);
    // Corners aligned: 3x3 samples at 0, 0.5, 1.
    let (got, shape) = resize(B::ResizeBilinear, bilinear(true, false), [3, 3]);
    assert_eq!(shape, [1, 3, 3, 1]);
    assert_close(&got, &[1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0], 1e-6);
    // Absent options mean both flags off.
    assert_close(&resize(B::ResizeBilinear, None, [4, 4]).0, &want, 1e-6);
}

#[test]
fn bilinear_half_pixel_centers() {
    // Scale 0.5, samples at (i + 0.5) * 0.5 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped to [0, 1]).
    let (got, _) = resize(B::ResizeBilinear, bilinear(false, true), [4, 1]);
    // Width 2 -> 1: sample x = 0.5, halfway between the two columns.
    assert_close(&got, &[1.5, 2.0, 3.0, 3.5], 1e-6);
}

#[test]
fn nearest_neighbor_variants() {
    let (got, shape) = resize(B::ResizeNearestNeighbor, nearest(false, false), [4, 4]);
    assert_eq!(shape, [1, 4, 4, 1]);
    let want = [
        1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0,
    ];
    assert_eq!(got, want);
    // Half-pixel centres on 2 -> 3: samples at 1/3, 1, 5/3 -> 0, 1, 1.
    let (got, _) = resize(B::ResizeNearestNeighbor, nearest(false, true), [3, 3]);
    assert_eq!(got, [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 3.0, 4.0, 4.0]);
    // Align corners on 2 -> 3: scale 0.5, rounds 0, 0.5, 1 to 0, 1, 1.
    let (got, _) = resize(B::ResizeNearestNeighbor, nearest(true, false), [3, 3]);
    assert_eq!(got, [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 3.0, 4.0, 4.0]);
}

#[test]
fn bad_resizes_fail_at_allocate() {
    // The size is a graph input: resolved at invoke, same result as a constant size.
    let (runtime, shape) = case(
        B::ResizeBilinear,
        None,
        vec![
            input_f32(&[1, 2, 2, 1], &IMG),
            input_raw(DType::I32, &[2], bytemuck::cast_slice(&[4i32, 4]).to_vec()),
        ],
        DType::F32,
    )
    .run();
    assert_eq!(shape, [1, 4, 4, 1]);
    let (constant, _) = case(
        B::ResizeBilinear,
        None,
        vec![input_f32(&[1, 2, 2, 1], &IMG), const_i32(&[2], &[4, 4])],
        DType::F32,
    )
    .run();
    assert_eq!(runtime, constant);
    // Three size values; a zero bilinear size; align_corners with half_pixel_centers.
    for (size, options) in [
        (&[4, 4, 1][..], None),
        (&[0, 4][..], None),
        (&[4, 4][..], bilinear(true, true)),
    ] {
        let e = case(
            B::ResizeBilinear,
            options,
            vec![
                input_f32(&[1, 2, 2, 1], &IMG),
                const_i32(&[size.len() as i32], size),
            ],
            DType::F32,
        )
        .prepare_err();
        assert_invalid(&e);
    }
    // Quantized int16 input (int8 / uint8 run, see tests/quant_ops.rs).
    let e = case(
        B::ResizeNearestNeighbor,
        None,
        vec![
            input_raw(DType::I16, &[1, 2, 2, 1], vec![0; 8]),
            const_i32(&[2], &[4, 4]),
        ],
        DType::I16,
    )
    .prepare_err();
    assert_unsupported(&e, "quantized RESIZE_NEAREST_NEIGHBOR");
}

fn s2d(block_size: i32) -> Option<O> {
    Some(O::SpaceToDepthOptions(Box::new(SpaceToDepthOptions {
        block_size,
    })))
}

fn d2s(block_size: i32) -> Option<O> {
    Some(O::DepthToSpaceOptions(Box::new(DepthToSpaceOptions {
        block_size,
    })))
}

#[test]
fn space_to_depth_and_back() {
    let x: Vec<f32> = (1..=8).map(|v| v as f32).collect();
    // [1, 2, 4, 1], block 2: output pixel x takes (dy, dx) = (0,0), (0,1), (1,0), (1,1).
    let (got, shape) = case(
        B::SpaceToDepth,
        s2d(2),
        vec![input_f32(&[1, 2, 4, 1], &x)],
        DType::F32,
    )
    .run();
    assert_eq!(shape, [1, 1, 2, 4]);
    assert_eq!(got, [1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 8.0]);
    let (back, shape) = case(
        B::DepthToSpace,
        d2s(2),
        vec![input_f32(&[1, 1, 2, 4], &got)],
        DType::F32,
    )
    .run();
    assert_eq!(shape, [1, 2, 4, 1]);
    assert_eq!(back, x);
}

#[test]
fn bad_block_ops_fail_at_allocate() {
    let x = || input_f32(&[1, 2, 2, 2], &[0.0; 8]);
    // Absent options: block size 0.
    assert_invalid(&case(B::SpaceToDepth, None, vec![x()], DType::F32).prepare_err());
    // 2x2 is not a multiple of block 3; depth 2 is not a multiple of 4.
    assert_invalid(&case(B::SpaceToDepth, s2d(3), vec![x()], DType::F32).prepare_err());
    assert_invalid(&case(B::DepthToSpace, d2s(2), vec![x()], DType::F32).prepare_err());
    // Too new a version.
    let e = case(B::DepthToSpace, d2s(1), vec![x()], DType::F32)
        .version(3)
        .prepare_err();
    assert_unsupported(&e, "version 3");
}
