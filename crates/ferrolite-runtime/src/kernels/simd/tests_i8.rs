//! Integer SIMD paths against the scalar reference, bit for bit: random shapes (odd channel
//! counts, groups, strides, dilations, padding), zero points, per-tensor and per-channel
//! multipliers, every rounding mode, int8 and uint8 operands, and extreme accumulators.

use super::gemm_i8;
use super::parallel::with_threads;
use super::requant::{requantize_block_at, requantize_row_scalar, RowRequant};
use super::tests::{random_geometry, Rng};
use super::{available_levels, Level};
use crate::kernels::conv::{conv2d_output_shape, depthwise_conv2d_output_shape};
use crate::kernels::quant::conv::{
    conv2d_at, conv_params, depthwise_conv2d_at, depthwise_conv_params, QuantConvParams,
    QuantConvProblem,
};
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::fully_connected::{
    fully_connected_at, fully_connected_params, QuantFcParams,
};
use crate::kernels::quant::{QuantElem, QuantParams};

fn simd_levels() -> Vec<Level> {
    available_levels()
        .into_iter()
        .filter(|&l| l != Level::Scalar)
        .collect()
}

const ROUNDINGS: [Rounding; 3] = [Rounding::Double, Rounding::Single, Rounding::RuyX86];

fn values<Q: QuantElem>(rng: &mut Rng, n: usize) -> Vec<Q> {
    let span = (Q::MAX - Q::MIN + 1) as u64;
    (0..n)
        .map(|_| Q::from_i32_clamped(Q::MIN + (rng.next() % span) as i32))
        .collect()
}

fn zero_point<Q: QuantElem>(rng: &mut Rng) -> i32 {
    Q::MIN + (rng.next() % (Q::MAX - Q::MIN + 1) as u64) as i32
}

/// Random scales spanning multipliers below and above 1 (shifts of both signs).
fn scales(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| 10f32.powf(-4.0 + 4.0 * (rng.next() % 1000) as f32 / 1000.0))
        .collect()
}

fn bias(rng: &mut Rng, n: usize) -> Vec<i32> {
    (0..n)
        .map(|_| (rng.next() % 200_001) as i32 - 100_000)
        .collect()
}

/// One random conv, checked at every level, with per-call and pre-packed weights and 1 to 3
/// threads (`max_hw` bounds the input's height and width).
pub(super) fn conv_case<T: QuantElem + PartialEq + std::fmt::Debug, W: QuantElem>(
    rng: &mut Rng,
    max_hw: usize,
    max_depth: usize,
) -> bool {
    let p = random_geometry(rng);
    let (fh, fw) = (rng.range(1, 4), rng.range(1, 4));
    let groups = if rng.range(0, 4) == 0 { 2 } else { 1 };
    let depth = rng.range(1, max_depth);
    let out_c = groups * rng.range(1, 80);
    let is = [
        rng.range(1, 2),
        rng.range(1, max_hw),
        rng.range(1, max_hw),
        depth * groups,
    ];
    let fs = [out_c, fh, fw, depth];
    let Ok(os) = conv2d_output_shape(&p, is, fs, Some(out_c)) else {
        return false;
    };
    let per_channel = rng.range(0, 1) == 0;
    let fscales = scales(rng, if per_channel { out_c } else { 1 });
    let wzp = if W::MIN == 0 { zero_point::<W>(rng) } else { 0 };
    let mut qp: QuantConvParams = conv_params::<T, W>(
        &p,
        QuantParams::new(0.02, zero_point::<T>(rng)),
        &fscales,
        wzp,
        // A small output scale gives multipliers above 1 (left shifts) too.
        QuantParams::new(rng.pick(&[0.05, 0.0002]), zero_point::<T>(rng)),
        out_c,
    )
    .unwrap();
    qp.rounding = rng.pick(&ROUNDINGS);
    let x: Vec<T> = values(rng, is.iter().product());
    let w: Vec<W> = values(rng, fs.iter().product());
    let b = bias(rng, out_c);
    let bias = if rng.range(0, 3) > 0 {
        Some(&b[..])
    } else {
        None
    };
    let n_out = os.iter().product();
    let mut want = vec![T::from_i32_clamped(0); n_out];
    conv2d_at(Level::Scalar, &qp, &x, is, &w, fs, bias, &mut want, os);
    for level in simd_levels() {
        let mut got = vec![T::from_i32_clamped(0); n_out];
        conv2d_at(level, &qp, &x, is, &w, fs, bias, &mut got, os);
        assert_eq!(
            got, want,
            "{level:?} conv {p:?} {is:?} {fs:?} {:?}",
            qp.rounding
        );
        let packed = gemm_i8::pack_conv::<T, W>(level, &qp, is, &w, fs, os);
        for threads in [1, 2, 3] {
            let mut got = vec![T::from_i32_clamped(0); n_out];
            with_threads(threads, || {
                let pk = packed.as_ref();
                let problem = QuantConvProblem::new(&qp, (&x, is), (&w, fs), bias, os);
                assert!(gemm_i8::conv2d_prepacked(level, &problem, pk, &mut got));
            });
            assert_eq!(
                got, want,
                "{level:?} packed conv {is:?} {fs:?} threads={threads}"
            );
        }
    }
    true
}

/// With AVX-VNNI present (and not turned off) the `Avx2` level's integer GEMM is the 256-bit
/// `vpdpbusd` kernel, so the property tests here (which check every level) cover it; with
/// `FERROLITE_SIMD=avx2-novnni` they cover the int16 `vpmaddwd` kernel instead.
#[test]
fn avx2_level_picks_avxvnni_when_present() {
    #[cfg(target_arch = "x86_64")]
    if super::level() >= Level::Avx2 {
        let want = if super::features().avxvnni {
            gemm_i8::Kernel::AvxVnni
        } else {
            gemm_i8::Kernel::Avx2
        };
        assert_eq!(gemm_i8::Kernel::pick(Level::Avx2), Some(want));
        assert_eq!(want.level(), Level::Avx2);
    }
}

#[test]
fn int8_conv_matches_scalar() {
    let mut rng = Rng::new(11);
    let mut cases = 0;
    while cases < 250 {
        cases += usize::from(conv_case::<i8, i8>(&mut rng, 9, 37));
    }
}

#[test]
fn uint8_conv_with_filter_zero_point_matches_scalar() {
    let mut rng = Rng::new(12);
    let mut cases = 0;
    while cases < 150 {
        cases += usize::from(conv_case::<u8, u8>(&mut rng, 9, 37));
    }
}

/// Few input channels: the direct (no im2col) kernel.
#[test]
fn direct_8bit_conv_matches_scalar() {
    let mut rng = Rng::new(15);
    let mut cases = 0;
    while cases < 200 {
        cases += usize::from(conv_case::<i8, i8>(&mut rng, 12, 4));
        cases += usize::from(conv_case::<u8, u8>(&mut rng, 12, 4));
    }
}

#[test]
fn int8_depthwise_matches_scalar() {
    depthwise_cases::<i8, i8>(13);
}

#[test]
fn uint8_depthwise_with_filter_zero_point_matches_scalar() {
    depthwise_cases::<u8, u8>(14);
}

/// 250 random multiplier-1/2 depthwise convs with `T` activations and `W` weights (a random
/// filter zero point for unsigned weights), SIMD levels against the scalar kernel.
fn depthwise_cases<T: QuantElem + PartialEq + std::fmt::Debug, W: QuantElem>(seed: u64) {
    let mut rng = Rng::new(seed);
    let mut cases = 0;
    while cases < 250 {
        let p = random_geometry(&mut rng);
        let c = rng.range(1, 90);
        let mult = if rng.range(0, 5) == 0 { 2 } else { 1 };
        let is = [rng.range(1, 2), rng.range(1, 10), rng.range(1, 10), c];
        let fs = [1, rng.range(1, 5), rng.range(1, 5), c * mult];
        let Ok(os) = depthwise_conv2d_output_shape(&p, is, fs, Some(c * mult)) else {
            continue;
        };
        cases += 1;
        let fscales = scales(&mut rng, c * mult);
        let mut qp = depthwise_conv_params::<T, W>(
            &p,
            QuantParams::new(0.02, zero_point::<T>(&mut rng)),
            &fscales,
            if W::MIN == 0 {
                zero_point::<W>(&mut rng)
            } else {
                0
            },
            QuantParams::new(0.05, zero_point::<T>(&mut rng)),
            c * mult,
        )
        .unwrap();
        qp.rounding = rng.pick(&ROUNDINGS);
        let x: Vec<T> = values(&mut rng, is.iter().product());
        let w: Vec<W> = values(&mut rng, fs.iter().product());
        let b = bias(&mut rng, c * mult);
        let bias = if rng.range(0, 3) > 0 {
            Some(&b[..])
        } else {
            None
        };
        let n_out = os.iter().product();
        let mut want = vec![T::from_i32_clamped(0); n_out];
        depthwise_conv2d_at(Level::Scalar, &qp, &x, is, &w, fs, bias, &mut want, os);
        for level in simd_levels() {
            let mut got = vec![T::from_i32_clamped(0); n_out];
            depthwise_conv2d_at(level, &qp, &x, is, &w, fs, bias, &mut got, os);
            assert_eq!(
                got, want,
                "{level:?} dw {p:?} {is:?} {fs:?} {:?}",
                qp.rounding
            );
        }
    }
}

/// One random FULLY_CONNECTED, checked like [`conv_case`]; `scale` multiplies the size ranges.
pub(super) fn fc_case<T: QuantElem + PartialEq + std::fmt::Debug, W: QuantElem>(
    rng: &mut Rng,
    scale: usize,
) {
    let units = rng.range(1, 100 * scale);
    let depth = rng.range(1, 200 * scale);
    let batches = rng.pick(&[1, 1, 2, 3, 7, 20 * scale]);
    let per_channel = rng.range(0, 1) == 0;
    let fscales = scales(rng, if per_channel { units } else { 1 });
    let wzp = if W::MIN == 0 { zero_point::<W>(rng) } else { 0 };
    let mut qp: QuantFcParams = fully_connected_params::<T, W>(
        QuantParams::new(0.03, zero_point::<T>(rng)),
        &fscales,
        wzp,
        QuantParams::new(0.04, zero_point::<T>(rng)),
        rng.pick(&[
            crate::kernels::common::Activation::None,
            crate::kernels::common::Activation::Relu,
            crate::kernels::common::Activation::Relu6,
        ]),
        units,
    )
    .unwrap();
    qp.rounding = rng.pick(&ROUNDINGS);
    let x: Vec<T> = values(rng, batches * depth);
    let w: Vec<W> = values(rng, units * depth);
    let b = bias(rng, units);
    let bias = if rng.range(0, 3) > 0 {
        Some(&b[..])
    } else {
        None
    };
    let mut want = vec![T::from_i32_clamped(0); batches * units];
    fully_connected_at(Level::Scalar, &qp, &x, &w, bias, depth, &mut want);
    for level in simd_levels() {
        let mut got = vec![T::from_i32_clamped(0); batches * units];
        fully_connected_at(level, &qp, &x, &w, bias, depth, &mut got);
        assert_eq!(got, want, "{level:?} fc {batches}x{depth}->{units}");
        let packed = gemm_i8::pack_fc::<T, W>(level, &w, [units, depth], batches);
        for threads in [1, 2, 3] {
            let mut got = vec![T::from_i32_clamped(0); batches * units];
            with_threads(threads, || {
                let pk = packed.as_ref();
                assert!(gemm_i8::fully_connected_prepacked(
                    level, &qp, &x, &w, pk, bias, depth, &mut got
                ));
            });
            let what = format!("{level:?} packed fc {batches}x{depth}->{units} threads={threads}");
            assert_eq!(got, want, "{what}");
        }
    }
}

#[test]
fn int8_fully_connected_matches_scalar() {
    let mut rng = Rng::new(14);
    for _ in 0..300 {
        fc_case::<i8, i8>(&mut rng, 1);
    }
    for _ in 0..100 {
        fc_case::<u8, u8>(&mut rng, 1);
    }
}

#[test]
fn requantize_row_matches_scalar_on_extremes() {
    let mut rng = Rng::new(15);
    let specials = [
        0,
        1,
        -1,
        i32::MAX,
        i32::MIN,
        i32::MAX - 1,
        i32::MIN + 1,
        1 << 30,
        -(1 << 30),
        (1 << 16) + 1,
        -(1 << 16) - 1,
    ];
    for _ in 0..400 {
        let n = rng.range(1, 70);
        let per_channel = rng.range(0, 1) == 0;
        let nm = if per_channel { n } else { 1 };
        let multipliers: Vec<i32> = (0..nm)
            .map(|_| match rng.range(0, 4) {
                0 => i32::MAX,
                1 => 1 << 30,
                _ => (1 << 30) + (rng.next() % (1 << 30)) as i32,
            })
            .collect();
        let shifts: Vec<i32> = (0..nm).map(|_| rng.range(0, 40) as i32 - 31).collect();
        let shifts: Vec<i32> = shifts.into_iter().map(|s| s.min(30)).collect();
        let colcorr: Vec<i32> = (0..n)
            .map(|_| rng.next() as i32 >> rng.range(0, 31))
            .collect();
        let rows = rng.range(1, 4);
        let acc: Vec<i32> = (0..rows * n)
            .map(|_| {
                if rng.range(0, 3) == 0 {
                    rng.pick(&specials)
                } else {
                    rng.next() as i32 >> rng.range(0, 31)
                }
            })
            .collect();
        let rowsum: Vec<i32> = (0..rows).map(|_| rng.pick(&specials)).collect();
        let b_off: i32 = rng.pick(&[0, 1, -128, 128, 255]);
        let (lo, hi) = (
            rng.range(0, 255) as i32 - 128,
            rng.range(0, 255) as i32 - 128,
        );
        let q = RowRequant {
            colcorr: &colcorr,
            multipliers: &multipliers,
            shifts: &shifts,
            rounding: rng.pick(&ROUNDINGS),
            output_offset: rng.range(0, 255) as i32 - 128,
            act_min: lo.min(hi),
            act_max: lo.max(hi),
        };
        let mut want = acc.clone();
        for (r, row) in want.chunks_exact_mut(n).enumerate() {
            requantize_row_scalar(row, b_off.wrapping_mul(rowsum[r]), &q);
        }
        assert!(q.vector_ok());
        for level in simd_levels() {
            let mut got = acc.clone();
            requantize_block_at(level, true, &mut got, n, Some((&rowsum, b_off)), &q);
            assert_eq!(got, want, "{level:?} {:?}", q.rounding);
        }
    }
}

#[test]
fn requantize_row_matches_scalar_on_ties() {
    // Multiplier 0.5 and small right shifts put many values exactly halfway.
    let acc: Vec<i32> = (-3000..3000).collect();
    let n = acc.len();
    let colcorr = vec![0; n];
    for rounding in ROUNDINGS {
        for shift in -4..=2 {
            for m in [1 << 30, (1 << 30) + 1, i32::MAX] {
                let q = RowRequant {
                    colcorr: &colcorr,
                    multipliers: &[m],
                    shifts: &[shift],
                    rounding,
                    output_offset: -3,
                    act_min: i32::MIN,
                    act_max: i32::MAX,
                };
                let mut want = acc.clone();
                requantize_row_scalar(&mut want, 0, &q);
                for level in simd_levels() {
                    let mut got = acc.clone();
                    requantize_block_at(level, true, &mut got, n, None, &q);
                    assert_eq!(got, want, "{level:?} {rounding:?} m={m} shift={shift}");
                }
            }
        }
    }
}

#[test]
fn requantize_matches_scalar_unclamped_over_full_range() {
    // No clamp and any non-negative multiplier / shift, so large intermediate values (the merged
    // 64-bit rounding shift, RuyX86's saturation, wrapping left shifts) are compared directly.
    let mut rng = Rng::new(16);
    let specials = [
        0,
        1,
        -1,
        i32::MAX,
        i32::MIN,
        i32::MAX - 1,
        i32::MIN + 1,
        1 << 30,
    ];
    for _ in 0..600 {
        let n = rng.range(1, 40);
        let nm = if rng.range(0, 1) == 0 { n } else { 1 };
        let multipliers: Vec<i32> = (0..nm)
            .map(|_| match rng.range(0, 5) {
                0 => i32::MAX,
                1 => 0,
                2 => rng.range(1, 1000) as i32,
                _ => (rng.next() % (1 << 31)) as i32,
            })
            .collect();
        let shifts: Vec<i32> = (0..nm).map(|_| rng.range(0, 61) as i32 - 31).collect();
        let colcorr = vec![0; n];
        let acc: Vec<i32> = (0..3 * n)
            .map(|_| {
                if rng.range(0, 3) == 0 {
                    rng.pick(&specials)
                } else {
                    rng.next() as i32 >> rng.range(0, 31)
                }
            })
            .collect();
        let q = RowRequant {
            colcorr: &colcorr,
            multipliers: &multipliers,
            shifts: &shifts,
            rounding: rng.pick(&ROUNDINGS),
            output_offset: rng.pick(&[0, 5, -128]),
            act_min: i32::MIN,
            act_max: i32::MAX,
        };
        let mut want = acc.clone();
        for row in want.chunks_exact_mut(n) {
            requantize_row_scalar(row, 0, &q);
        }
        assert!(q.vector_ok());
        for level in simd_levels() {
            let mut got = acc.clone();
            requantize_block_at(level, true, &mut got, n, None, &q);
            assert_eq!(
                got, want,
                "{level:?} {:?} {multipliers:?} {shifts:?}",
                q.rounding
            );
        }
    }
}
