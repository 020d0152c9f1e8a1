//! Wall-clock comparison of the NEON paths with the scalar reference on MobileNetV2-like layers
//! (an ignored test: `cargo test --release --target aarch64-unknown-linux-gnu --lib neon_timing
//! -- --ignored --nocapture`). Under qemu-user the absolute times mean little; the ratios of
//! medians, measured side by side in one process, show that the vector code is reached and how
//! much work it saves. The results themselves are checked by the SIMD tests.

use std::time::Instant;

use super::parallel::with_threads;
use super::tests::Rng;
use super::Level;
use crate::kernels::common::{Activation, Padding};
use crate::kernels::conv::{conv2d_at, depthwise_conv2d_at, Conv2DParams};
use crate::kernels::quant::conv::{self as qconv, conv_params, depthwise_conv_params};
use crate::kernels::quant::QuantParams;

/// `(name, input [h, w, c], filter [o, fh, fw, i], stride, depthwise)`.
type Layer = (&'static str, [usize; 3], [usize; 4], usize, bool);

fn geometry(stride: usize) -> Conv2DParams {
    Conv2DParams {
        padding: Padding::Same,
        stride_h: stride,
        stride_w: stride,
        dilation_h: 1,
        dilation_w: 1,
        activation: Activation::Relu6,
    }
}

/// Median of `runs` timings of `f` in microseconds.
fn median_us(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn report(name: &str, mut at: impl FnMut(Level)) {
    let scalar = median_us(9, || at(Level::Scalar));
    let neon = median_us(9, || at(Level::Neon));
    println!(
        "{name:<34} scalar {scalar:>9.0} us  neon {neon:>9.0} us  speed-up {:.1}x",
        scalar / neon
    );
}

#[test]
#[ignore = "timing report, run by hand"]
fn neon_timing() {
    let mut rng = Rng::new(7);
    with_threads(1, || {
        let layers: [Layer; 4] = [
            (
                "1x1 conv 24x24x48 -> 16",
                [24, 24, 48],
                [16, 1, 1, 48],
                1,
                false,
            ),
            (
                "1x1 conv 12x12x16 -> 96",
                [12, 12, 16],
                [96, 1, 1, 16],
                1,
                false,
            ),
            (
                "3x3 conv 96x96x3 -> 16 s2",
                [96, 96, 3],
                [16, 3, 3, 3],
                2,
                false,
            ),
            (
                "3x3 depthwise 24x24x96",
                [24, 24, 96],
                [1, 3, 3, 96],
                1,
                true,
            ),
        ];
        for (name, [h, w, c], fs, stride, dw) in layers {
            let p = geometry(stride);
            let is = [1, h, w, c];
            let (oh, ow): (usize, usize) = (h.div_ceil(stride), w.div_ceil(stride));
            let oc = if dw { fs[3] } else { fs[0] };
            let os = [1, oh, ow, oc];
            let x = rng.f32s(is.iter().product());
            let wt = rng.f32s(fs.iter().product());
            let b = rng.f32s(oc);
            let mut out = vec![0f32; os.iter().product()];
            report(&format!("f32 {name}"), |level| {
                if dw {
                    depthwise_conv2d_at(level, &p, &x, is, &wt, fs, Some(&b), &mut out, os);
                } else {
                    conv2d_at(level, &p, &x, is, &wt, fs, Some(&b), &mut out, os);
                }
            });
            let xq: Vec<i8> = x.iter().map(|v| (v * 100.0) as i8).collect();
            let wq: Vec<i8> = wt.iter().map(|v| (v * 100.0) as i8).collect();
            let bq: Vec<i32> = b.iter().map(|v| (v * 1000.0) as i32).collect();
            let scales = vec![0.01f32; oc];
            let (inq, outq) = (QuantParams::new(0.02, -3), QuantParams::new(0.05, 4));
            let mut outq_v = vec![0i8; out.len()];
            if dw {
                let qp = depthwise_conv_params::<i8, i8>(&p, inq, &scales, 0, outq, oc).unwrap();
                report(&format!("int8 {name}"), |level| {
                    qconv::depthwise_conv2d_at(
                        level,
                        &qp,
                        &xq,
                        is,
                        &wq,
                        fs,
                        Some(&bq),
                        &mut outq_v,
                        os,
                    );
                });
            } else {
                let qp = conv_params::<i8, i8>(&p, inq, &scales, 0, outq, oc).unwrap();
                report(&format!("int8 {name}"), |level| {
                    qconv::conv2d_at(level, &qp, &xq, is, &wq, fs, Some(&bq), &mut outq_v, os);
                });
            }
        }
    });
}
