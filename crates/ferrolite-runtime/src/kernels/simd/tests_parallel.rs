//! Pre-packed weights and multithreaded tiles against the per-call, single-threaded path and
//! the scalar reference: f32 within the usual `1e-5` relative tolerance of the scalar loop, and
//! bit-identical outputs for every thread count (tiles never change how an element is summed).

use super::conv_f32::{conv2d_prepacked, fully_connected_prepacked, pack_conv, pack_fc};
use super::gemm_f32::Epilogue;
use super::parallel::with_threads;
use super::tests::{assert_close, random_geometry, simd_levels, Rng};
use super::Level;
use crate::kernels::common::activation_range;
use crate::kernels::common::Activation;
use crate::kernels::conv::{conv2d_at, conv2d_output_shape};
use crate::kernels::matmul::{fully_connected_at, FullyConnectedParams};

const THREADS: [usize; 4] = [1, 2, 3, 4];

#[test]
fn f32_conv_prepacked_and_threaded_match() {
    let mut rng = Rng::new(91);
    let mut cases = 0;
    while cases < 60 {
        let mut p = random_geometry(&mut rng);
        let pointwise = rng.range(0, 2) == 0;
        let (fh, fw) = if pointwise {
            p.stride_h = 1;
            p.stride_w = 1;
            (1, 1)
        } else {
            (rng.range(1, 3), rng.range(1, 3))
        };
        let groups = if rng.range(0, 5) == 0 { 2 } else { 1 };
        let filter_in = rng.range(1, 40);
        let out_c = groups * rng.range(1, 80);
        let is = [
            rng.range(1, 2),
            rng.range(2, 24),
            rng.range(2, 24),
            filter_in * groups,
        ];
        let fs = [out_c, fh, fw, filter_in];
        let Ok(os) = conv2d_output_shape(&p, is, fs, Some(out_c)) else {
            continue;
        };
        cases += 1;
        let x = rng.f32s(is.iter().product());
        let w = rng.f32s(fs.iter().product());
        let b = rng.f32s(out_c);
        let (min, max) = activation_range(p.activation);
        let epi = Epilogue {
            bias: Some(&b),
            min,
            max,
        };
        let mut want = vec![0.0; os.iter().product()];
        conv2d_at(Level::Scalar, &p, &x, is, &w, fs, Some(&b), &mut want, os);
        for level in simd_levels() {
            let packed = pack_conv(level, &p, is, &w, fs, os);
            for prepacked in [None, packed.as_ref()] {
                let mut first: Option<Vec<f32>> = None;
                for threads in THREADS {
                    let mut got = vec![f32::NAN; want.len()];
                    with_threads(threads, || {
                        let run = conv2d_prepacked(
                            level, &p, &x, is, &w, fs, prepacked, epi, &mut got, os,
                        );
                        assert!(run);
                    });
                    let what = format!(
                        "{level:?} conv {p:?} {is:?} {fs:?} packed={} threads={threads}",
                        prepacked.is_some()
                    );
                    assert_close(&got, &want, &what);
                    match &first {
                        None => first = Some(got),
                        Some(f) => assert!(
                            f.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{what}: differs from 1 thread"
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn f32_fully_connected_prepacked_and_threaded_match() {
    let mut rng = Rng::new(92);
    for _ in 0..60 {
        let units = rng.range(1, 300);
        let depth = rng.range(1, 400);
        let batches = rng.pick(&[1, 2, 3, 7, 40, 300]);
        let act = rng.pick(&[Activation::None, Activation::Relu, Activation::Relu6]);
        let params = FullyConnectedParams {
            activation: act,
            keep_num_dims: false,
        };
        let x = rng.f32s(batches * depth);
        let w = rng.f32s(units * depth);
        let b = rng.f32s(units);
        let (min, max) = activation_range(act);
        let epi = Epilogue {
            bias: Some(&b),
            min,
            max,
        };
        let mut want = vec![0.0; batches * units];
        let dims = [units, depth];
        fully_connected_at(Level::Scalar, &params, &x, &w, dims, Some(&b), &mut want);
        for level in simd_levels() {
            let packed = pack_fc(level, &w, dims, batches);
            for prepacked in [None, packed.as_ref()] {
                let mut first: Option<Vec<f32>> = None;
                for threads in THREADS {
                    let mut got = vec![f32::NAN; want.len()];
                    with_threads(threads, || {
                        let run = fully_connected_prepacked(
                            level, &x, &w, dims, prepacked, epi, &mut got,
                        );
                        assert!(run);
                    });
                    let what = format!(
                        "{level:?} fc {batches}x{depth}->{units} packed={} threads={threads}",
                        prepacked.is_some()
                    );
                    assert_close(&got, &want, &what);
                    match &first {
                        None => first = Some(got),
                        Some(f) => assert!(
                            f.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{what}: differs from 1 thread"
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn int8_conv_prepacked_and_threaded_match_on_larger_problems() {
    let mut rng = Rng::new(93);
    let mut cases = 0;
    while cases < 40 {
        cases += usize::from(super::tests_i8::conv_case::<i8, i8>(&mut rng, 24, 37));
    }
}

#[test]
fn int8_fully_connected_prepacked_and_threaded_match_on_larger_problems() {
    let mut rng = Rng::new(94);
    for _ in 0..40 {
        super::tests_i8::fc_case::<i8, i8>(&mut rng, 4);
    }
}

#[test]
fn hybrid_conv_matches_scalar_bit_for_bit() {
    use crate::kernels::quant::hybrid_conv::{hybrid_conv2d, hybrid_conv_params};
    let mut rng = Rng::new(95);
    let mut cases = 0;
    while cases < 80 {
        let mut p = random_geometry(&mut rng);
        let pointwise = rng.range(0, 2) == 0;
        let (fh, fw) = if pointwise {
            p.stride_h = 1;
            p.stride_w = 1;
            (1, 1)
        } else {
            (rng.range(1, 3), rng.range(1, 3))
        };
        let groups = if rng.range(0, 4) == 0 { 2 } else { 1 };
        let filter_in = rng.range(1, 30);
        let out_c = groups * rng.range(1, 70);
        let is = [
            rng.range(1, 2),
            rng.range(1, 16),
            rng.range(1, 16),
            filter_in * groups,
        ];
        let fs = [out_c, fh, fw, filter_in];
        let Ok(os) = conv2d_output_shape(&p, is, fs, Some(out_c)) else {
            continue;
        };
        cases += 1;
        let x: Vec<f32> = rng
            .f32s(is.iter().product())
            .iter()
            .map(|v| v * 3.0)
            .collect();
        let w: Vec<i8> = (0..fs.iter().product())
            .map(|_| (rng.next() % 255) as i32 as i8)
            .collect();
        let per_channel = rng.range(0, 1) == 0;
        let scales: Vec<f32> = (0..if per_channel { out_c } else { 1 })
            .map(|_| 0.001 + (rng.next() % 1000) as f32 * 1e-5)
            .collect();
        let params = hybrid_conv_params(&p, &scales, groups > 1);
        let b = rng.f32s(out_c);
        let bias = if rng.range(0, 2) > 0 {
            Some(&b[..])
        } else {
            None
        };
        let mut want = vec![0.0; os.iter().product()];
        let mut q = Vec::new();
        hybrid_conv2d(&params, &x, is, &w, fs, bias, &mut q, &mut want, os);
        for level in simd_levels() {
            let packed = super::gemm_i8::pack_hybrid_conv(level, &params, is, &w, fs, os);
            for prepacked in [None, packed.as_ref()] {
                for threads in [1, 2, 3] {
                    let mut got = vec![f32::NAN; want.len()];
                    with_threads(threads, || {
                        assert!(super::gemm_i8::hybrid_conv2d(
                            level, &params, &x, is, &w, fs, prepacked, bias, &mut q, &mut got, os,
                        ));
                    });
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{level:?} hybrid {p:?} {is:?} {fs:?} asym={} packed={} threads={threads}",
                        params.asymmetric,
                        prepacked.is_some()
                    );
                }
            }
        }
    }
}

#[test]
fn hybrid_fully_connected_matches_scalar_bit_for_bit() {
    use crate::kernels::quant::fully_connected::{
        hybrid_fully_connected, HybridFcParams, HybridFcScratch,
    };
    let mut rng = Rng::new(96);
    for case in 0..80 {
        let units = rng.range(1, 300);
        let depth = rng.range(1, 400);
        let batches = rng.pick(&[1, 1, 2, 3]);
        let params = HybridFcParams {
            asymmetric: rng.range(0, 1) == 0,
            activation: rng.pick(&[Activation::None, Activation::Relu, Activation::Relu6]),
        };
        let mut x: Vec<f32> = rng.f32s(batches * depth).iter().map(|v| v * 2.0).collect();
        if case % 10 == 0 {
            x.iter_mut().for_each(|v| *v = 0.0);
        }
        let w: Vec<i8> = (0..units * depth)
            .map(|_| (rng.next() % 255) as i32 as i8)
            .collect();
        let scales: Vec<f32> = (0..if rng.range(0, 1) == 0 { units } else { 1 })
            .map(|_| 0.001 + (rng.next() % 1000) as f32 * 1e-5)
            .collect();
        let b = rng.f32s(units);
        let bias = if rng.range(0, 2) > 0 {
            Some(&b[..])
        } else {
            None
        };
        let mut want = vec![0.0; batches * units];
        let mut scratch = HybridFcScratch::default();
        hybrid_fully_connected(
            &params,
            &x,
            &w,
            &scales,
            bias,
            depth,
            &mut scratch,
            &mut want,
        );
        for level in simd_levels() {
            let packed = super::gemm_i8::pack_fc::<i8, i8>(level, &w, [units, depth], 1);
            for prepacked in [None, packed.as_ref()] {
                for threads in [1, 2, 3] {
                    let mut got = vec![f32::NAN; want.len()];
                    let mut q = Vec::new();
                    with_threads(threads, || {
                        assert!(super::gemm_i8::hybrid_fully_connected(
                            level, &params, &x, &w, &scales, prepacked, bias, depth, &mut q,
                            &mut got,
                        ));
                    });
                    let same = got
                        .iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{level:?} hybrid fc {batches}x{depth}->{units} {params:?} packed={} \
                         threads={threads}",
                        prepacked.is_some()
                    );
                }
            }
        }
    }
}
