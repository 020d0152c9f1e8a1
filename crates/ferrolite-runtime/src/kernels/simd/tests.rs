//! Every SIMD path against the scalar reference on random problems: shapes, strides, paddings,
//! dilations, groups, zero points and channel counts that are not multiples of the vector width.
//! f32 results must agree within `1e-5 · max(1, |reference|)`, integer results bit for bit.

use super::{available_levels, Level};
use crate::kernels::common::{Activation, Padding};
use crate::kernels::conv::{
    conv2d_at, conv2d_output_shape, depthwise_conv2d_at, depthwise_conv2d_output_shape,
    Conv2DParams,
};
use crate::kernels::matmul::{fully_connected_at, FullyConnectedParams};

/// SplitMix64: deterministic test data.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    pub(super) fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
    pub(super) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() - 1)]
    }
}

pub(super) fn simd_levels() -> Vec<Level> {
    available_levels()
        .into_iter()
        .filter(|&l| l != Level::Scalar)
        .collect()
}

pub(super) fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-5 * w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol || (g.is_nan() && w.is_nan()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

pub(super) fn random_geometry(rng: &mut Rng) -> Conv2DParams {
    Conv2DParams {
        padding: rng.pick(&[Padding::Same, Padding::Valid]),
        stride_h: rng.range(1, 3),
        stride_w: rng.range(1, 3),
        dilation_h: if rng.range(0, 3) == 0 { 2 } else { 1 },
        dilation_w: if rng.range(0, 3) == 0 { 2 } else { 1 },
        activation: rng.pick(&[
            Activation::None,
            Activation::Relu,
            Activation::Relu6,
            Activation::ReluN1To1,
        ]),
    }
}

#[test]
fn f32_conv_matches_scalar() {
    let mut rng = Rng::new(1);
    let mut cases = 0;
    while cases < 300 {
        let mut p = random_geometry(&mut rng);
        let pointwise = rng.range(0, 3) == 0;
        let (fh, fw) = if pointwise {
            p.stride_h = 1;
            p.stride_w = 1;
            (1, 1)
        } else {
            (rng.range(1, 4), rng.range(1, 4))
        };
        let groups = if rng.range(0, 4) == 0 {
            rng.range(2, 3)
        } else {
            1
        };
        let filter_in = rng.range(1, 21);
        let out_c = groups * rng.range(1, 40);
        let is = [
            rng.range(1, 2),
            rng.range(1, 11),
            rng.range(1, 11),
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
        let bias = if rng.range(0, 1) == 0 {
            Some(&b[..])
        } else {
            None
        };
        let mut want = vec![0.0; os.iter().product()];
        conv2d_at(Level::Scalar, &p, &x, is, &w, fs, bias, &mut want, os);
        for level in simd_levels() {
            let mut got = vec![f32::NAN; want.len()];
            conv2d_at(level, &p, &x, is, &w, fs, bias, &mut got, os);
            assert_close(&got, &want, &format!("{level:?} conv {p:?} {is:?} {fs:?}"));
        }
    }
}

/// Convolutions over 1–4 input channels take the direct (no im2col) path.
#[test]
fn f32_direct_conv_matches_scalar() {
    let mut rng = Rng::new(21);
    let mut cases = 0;
    while cases < 150 {
        let p = random_geometry(&mut rng);
        let (fh, fw) = (rng.range(1, 5), rng.range(1, 5));
        let in_c = rng.range(1, 4);
        let out_c = rng.range(1, 64);
        let is = [rng.range(1, 2), rng.range(1, 12), rng.range(1, 30), in_c];
        let fs = [out_c, fh, fw, in_c];
        let Ok(os) = conv2d_output_shape(&p, is, fs, Some(out_c)) else {
            continue;
        };
        cases += 1;
        let x = rng.f32s(is.iter().product());
        let w = rng.f32s(fs.iter().product());
        let b = rng.f32s(out_c);
        let bias = (rng.range(0, 2) > 0).then_some(&b[..]);
        let mut want = vec![0.0; os.iter().product()];
        conv2d_at(Level::Scalar, &p, &x, is, &w, fs, bias, &mut want, os);
        for level in simd_levels() {
            let mut got = vec![f32::NAN; want.len()];
            conv2d_at(level, &p, &x, is, &w, fs, bias, &mut got, os);
            assert_close(
                &got,
                &want,
                &format!("{level:?} direct {p:?} {is:?} {fs:?}"),
            );
        }
    }
}

#[test]
fn f32_depthwise_matches_scalar() {
    let mut rng = Rng::new(2);
    let mut cases = 0;
    while cases < 300 {
        let p = random_geometry(&mut rng);
        let c = rng.range(1, 80);
        let mult = if rng.range(0, 5) == 0 { 2 } else { 1 };
        let is = [rng.range(1, 2), rng.range(1, 12), rng.range(1, 12), c];
        let fs = [1, rng.range(1, 5), rng.range(1, 5), c * mult];
        let Ok(os) = depthwise_conv2d_output_shape(&p, is, fs, Some(c * mult)) else {
            continue;
        };
        cases += 1;
        let x = rng.f32s(is.iter().product());
        let w = rng.f32s(fs.iter().product());
        let b = rng.f32s(c * mult);
        let bias = if rng.range(0, 1) == 0 {
            Some(&b[..])
        } else {
            None
        };
        let mut want = vec![0.0; os.iter().product()];
        depthwise_conv2d_at(Level::Scalar, &p, &x, is, &w, fs, bias, &mut want, os);
        for level in simd_levels() {
            let mut got = vec![f32::NAN; want.len()];
            depthwise_conv2d_at(level, &p, &x, is, &w, fs, bias, &mut got, os);
            assert_close(&got, &want, &format!("{level:?} dw {p:?} {is:?} {fs:?}"));
        }
    }
}

#[test]
fn f32_fully_connected_matches_scalar() {
    let mut rng = Rng::new(3);
    for _ in 0..300 {
        let units = rng.range(1, 70);
        let depth = rng.range(1, 300);
        let batches = rng.pick(&[1, 1, 2, 3, 5, 13, 30]);
        let params = FullyConnectedParams {
            activation: rng.pick(&[Activation::None, Activation::Relu, Activation::Relu6]),
            keep_num_dims: false,
        };
        let x = rng.f32s(batches * depth);
        let w = rng.f32s(units * depth);
        let b = rng.f32s(units);
        let bias = if rng.range(0, 1) == 0 {
            Some(&b[..])
        } else {
            None
        };
        let mut want = vec![0.0; batches * units];
        fully_connected_at(
            Level::Scalar,
            &params,
            &x,
            &w,
            [units, depth],
            bias,
            &mut want,
        );
        for level in simd_levels() {
            let mut got = vec![f32::NAN; want.len()];
            fully_connected_at(level, &params, &x, &w, [units, depth], bias, &mut got);
            let what = format!("{level:?} fc {batches}x{depth} -> {units}");
            assert_close(&got, &want, &what);
        }
    }
}

#[test]
fn f32_clamp_keeps_nan_and_clamps_infinity() {
    let p = Conv2DParams {
        padding: Padding::Valid,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        activation: Activation::None,
    };
    let x = [f32::NAN, f32::INFINITY, 1.0, -f32::INFINITY];
    let w = [1.0f32];
    let is = [1, 2, 2, 1];
    let fs = [1, 1, 1, 1];
    let os = [1, 2, 2, 1];
    let mut want = [0.0; 4];
    conv2d_at(Level::Scalar, &p, &x, is, &w, fs, None, &mut want, os);
    for level in simd_levels() {
        let mut got = [0.0; 4];
        conv2d_at(level, &p, &x, is, &w, fs, None, &mut got, os);
        assert!(got[0].is_nan());
        assert_eq!(&got[1..], &want[1..], "{level:?}");
    }
}

#[test]
fn f32_gemm_both_orientations_match_naive() {
    use super::gemm_f32::{gemm_packed, gemm_packed_trans, pack_w, packed_len, Epilogue};
    let mut rng = Rng::new(4);
    for _ in 0..200 {
        let (m, n, k) = (rng.range(1, 40), rng.range(1, 90), rng.range(1, 70));
        let (lda, ldw, ldc) = (
            k + rng.range(0, 3),
            k + rng.range(0, 3),
            n + rng.range(0, 3),
        );
        let a = rng.f32s(m * lda);
        let w = rng.f32s(n * ldw);
        let b = rng.f32s(n);
        let epi = Epilogue {
            bias: if rng.range(0, 1) == 0 {
                Some(&b[..])
            } else {
                None
            },
            min: -0.7,
            max: 2.5,
        };
        let mut want = vec![0.0f32; m * ldc];
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|kk| a[i * lda + kk] * w[j * ldw + kk]).sum();
                let v = dot + epi.bias.map_or(0.0, |b| b[j]);
                want[i * ldc + j] = crate::kernels::common::clamp_activation(v, -0.7, 2.5);
            }
        }
        for level in available_levels() {
            let mut packed = vec![0.0; packed_len(level, n, k).max(packed_len(level, m, k))];
            let mut got = vec![0.0f32; m * ldc];
            pack_w(level, &w, ldw, n, k, &mut packed);
            gemm_packed(level, (m, n, k), &a, lda, &packed, epi, &mut got, ldc);
            assert_close(&got, &want, &format!("{level:?} normal {m}x{n}x{k}"));
            let mut got = vec![0.0f32; m * ldc];
            pack_w(level, &a, lda, m, k, &mut packed);
            gemm_packed_trans(level, (m, n, k), &w, ldw, &packed, epi, &mut got, ldc);
            assert_close(&got, &want, &format!("{level:?} transposed {m}x{n}x{k}"));
        }
    }
}

#[test]
fn f32_pointwise_conv_with_few_pixels_matches_scalar() {
    // Late-network shapes (3x3 maps, many channels) take the transposed orientation.
    let mut rng = Rng::new(5);
    for _ in 0..40 {
        let p = Conv2DParams {
            padding: Padding::Same,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            activation: Activation::Relu6,
        };
        let (hw, in_c, out_c) = (rng.range(1, 4), rng.range(8, 120), rng.range(60, 300));
        let is = [1, hw, hw, in_c];
        let fs = [out_c, 1, 1, in_c];
        let os = [1, hw, hw, out_c];
        let x = rng.f32s(is.iter().product());
        let w = rng.f32s(fs.iter().product());
        let b = rng.f32s(out_c);
        let mut want = vec![0.0; os.iter().product()];
        conv2d_at(Level::Scalar, &p, &x, is, &w, fs, Some(&b), &mut want, os);
        for level in simd_levels() {
            let mut got = vec![f32::NAN; want.len()];
            conv2d_at(level, &p, &x, is, &w, fs, Some(&b), &mut got, os);
            assert_close(&got, &want, &format!("{level:?} {is:?} {fs:?}"));
        }
    }
}

/// Square 3x3 / 5x5 depthwise windows take the fixed-window kernel (horizontal stride 1 or 2,
/// horizontal dilation 1; other strides and dilations fall back to the generic kernel): rows
/// wide enough for full pixel blocks, overlapping last blocks, borders on every side, channel
/// counts that are not multiples of the vector width, and 1 or 2 threads.
#[test]
fn f32_depthwise_window_matches_scalar() {
    let mut rng = Rng::new(22);
    let mut cases = 0;
    while cases < 250 {
        let mut p = random_geometry(&mut rng);
        p.stride_w = rng.range(1, 2);
        if rng.range(0, 3) > 0 {
            p.dilation_w = 1;
        }
        let k = rng.pick(&[3, 5]);
        let c = rng.pick(&[1, 3, 8, 15, 16, 17, 24, 33, 48, 64, 70]);
        let is = [rng.range(1, 2), rng.range(1, 14), rng.range(1, 40), c];
        let fs = [1, k, k, c];
        let Ok(os) = depthwise_conv2d_output_shape(&p, is, fs, Some(c)) else {
            continue;
        };
        cases += 1;
        let x = rng.f32s(is.iter().product());
        let w = rng.f32s(fs.iter().product());
        let b = rng.f32s(c);
        let bias = (rng.range(0, 2) > 0).then_some(&b[..]);
        let mut want = vec![0.0; os.iter().product()];
        depthwise_conv2d_at(Level::Scalar, &p, &x, is, &w, fs, bias, &mut want, os);
        for level in simd_levels() {
            for threads in [1, 2] {
                let mut got = vec![f32::NAN; want.len()];
                super::parallel::with_threads(threads, || {
                    depthwise_conv2d_at(level, &p, &x, is, &w, fs, bias, &mut got, os)
                });
                let what = format!("{level:?} t={threads} dw window {p:?} {is:?} {fs:?}");
                assert_close(&got, &want, &what);
            }
        }
    }
}
