//! Property tests: random CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED problems give the same
//! results on every SIMD dispatch level the CPU supports.
//!
//! The dispatch level is fixed per process (`FERROLITE_SIMD`, read once), so the test re-runs this
//! test binary once per level (`scalar`, `avx2`, `avx512`; on aarch64 `scalar`, `neon`,
//! `neon-nodot`; a level above the hardware's is capped to it) with the `worker` test writing every problem's output to a file, and compares:
//!
//! * int8 kernels (per-channel scales, random zero points, bias, fused activation): **identical**
//!   to the scalar reference on every level;
//! * f32 kernels: within `1e-5` of the scalar reference, relative to the output's largest
//!   magnitude (vector paths reassociate sums and use FMA; the measured worst case is printed), and
//!   the scalar reference itself within `1e-5` of a naive f64 convolution written here.
//!
//! Problems come from a fixed-seed xorshift generator (no extra dependencies): random batch,
//! spatial size, channels, groups, kernel size, stride, dilation, SAME/VALID padding, depth
//! multiplier, bias presence and activation, sized so that the 1x1 / im2col GEMM, depthwise and
//! FC fast paths all see both full vector blocks and ragged tails.

use ferrolite_runtime::kernels::common::{Activation, Padding};
use ferrolite_runtime::kernels::conv::{
    conv2d, conv2d_output_shape, depthwise_conv2d, depthwise_conv2d_output_shape, Conv2DParams,
};
use ferrolite_runtime::kernels::matmul::{fully_connected, FullyConnectedParams};
use ferrolite_runtime::kernels::quant::conv::{self as qconv, conv_params, depthwise_conv_params};
use ferrolite_runtime::kernels::quant::fully_connected::{
    fully_connected as q_fully_connected, fully_connected_params,
};
use ferrolite_runtime::kernels::quant::QuantParams;
use std::path::PathBuf;
use std::process::Command;

const OUT_ENV: &str = "FERROLITE_PROPERTY_WORKER_OUT";
const PER_FAMILY: usize = 40;

/// xorshift64* with helpers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.int(-128, 127) as i8).collect()
    }
    fn activation(&mut self) -> Activation {
        [
            Activation::None,
            Activation::Relu,
            Activation::Relu6,
            Activation::ReluN1To1,
        ][self.range(0, 3)]
    }
    fn geometry(&mut self, max_stride: usize) -> Conv2DParams {
        Conv2DParams {
            padding: if self.range(0, 1) == 0 {
                Padding::Same
            } else {
                Padding::Valid
            },
            stride_h: self.range(1, max_stride),
            stride_w: self.range(1, max_stride),
            dilation_h: self.range(1, 2),
            dilation_w: self.range(1, 2),
            activation: self.activation(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Family {
    Conv,
    Depthwise,
    Fc,
}

/// One random problem (float data; int8 problems quantize it with random parameters).
#[derive(Debug, Clone)]
struct Problem {
    family: Family,
    geometry: Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
    input: Vec<f32>,
    filter: Vec<f32>,
    bias: Option<Vec<f32>>,
}

fn problems() -> Vec<Problem> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for family in [Family::Conv, Family::Depthwise, Family::Fc] {
        while out.iter().filter(|p: &&Problem| p.family == family).count() < PER_FAMILY {
            let geometry = rng.geometry(3);
            let batch = rng.range(1, 2);
            let (h, w) = (rng.range(1, 11), rng.range(1, 11));
            let (input_shape, filter_shape, shape) = match family {
                Family::Conv => {
                    let groups = if rng.range(0, 4) == 0 { 2 } else { 1 };
                    let fin = rng.range(1, 20);
                    let out_c = groups * rng.range(1, 20);
                    let k = (rng.range(1, 4), rng.range(1, 4));
                    let is = [batch, h, w, fin * groups];
                    let fs = [out_c, k.0, k.1, fin];
                    (is, fs, conv2d_output_shape(&geometry, is, fs, None))
                }
                Family::Depthwise => {
                    let in_c = rng.range(1, 40);
                    let mult = rng.range(1, 3);
                    let k = (rng.range(1, 5), rng.range(1, 5));
                    let is = [batch, h, w, in_c];
                    let fs = [1, k.0, k.1, in_c * mult];
                    (
                        is,
                        fs,
                        depthwise_conv2d_output_shape(&geometry, is, fs, None),
                    )
                }
                Family::Fc => {
                    let (rows, depth, units) =
                        (rng.range(1, 6), rng.range(1, 90), rng.range(1, 48));
                    (
                        [1, 1, rows, depth],
                        [units, depth, 1, 1],
                        Ok([1, 1, rows, units]),
                    )
                }
            };
            let Ok(output_shape) = shape else { continue };
            let channels = output_shape[3];
            let input = rng.f32s(input_shape.iter().product());
            let filter = rng.f32s(filter_shape.iter().product());
            let bias = (rng.range(0, 3) != 0).then(|| rng.f32s(channels));
            out.push(Problem {
                family,
                geometry,
                input_shape,
                filter_shape,
                output_shape,
                input,
                filter,
                bias,
            });
        }
    }
    out
}

/// f32 output of `p` at the current dispatch level.
fn run_f32(p: &Problem) -> Vec<f32> {
    let mut out = vec![0f32; p.output_shape.iter().product()];
    let bias = p.bias.as_deref();
    match p.family {
        Family::Conv => conv2d(
            &p.geometry,
            &p.input,
            p.input_shape,
            &p.filter,
            p.filter_shape,
            bias,
            &mut out,
            p.output_shape,
        ),
        Family::Depthwise => depthwise_conv2d(
            &p.geometry,
            &p.input,
            p.input_shape,
            &p.filter,
            p.filter_shape,
            bias,
            &mut out,
            p.output_shape,
        ),
        Family::Fc => {
            let params = FullyConnectedParams {
                activation: p.geometry.activation,
                keep_num_dims: false,
            };
            let ws = [p.filter_shape[0], p.filter_shape[1]];
            fully_connected(&params, &p.input, &p.filter, ws, bias, &mut out);
        }
    }
    out
}

/// int8 output of `p` (random per-channel quantization derived from `index`).
fn run_i8(p: &Problem, index: usize) -> Vec<i8> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (index as u64 + 1).wrapping_mul(0x9E37));
    let channels = p.output_shape[3];
    let input_q = QuantParams::new(0.02 + rng.f32().abs() * 0.05, rng.int(-100, 100));
    let output_q = QuantParams::new(0.05 + rng.f32().abs() * 0.3, rng.int(-60, 60));
    let per_channel = rng.range(0, 3) != 0;
    let scales: Vec<f32> = (0..if per_channel { channels } else { 1 })
        .map(|_| 0.002 + rng.f32().abs() * 0.02)
        .collect();
    let input = rng.i8s(p.input.len());
    let filter: Vec<i8> = rng
        .i8s(p.filter.len())
        .into_iter()
        .map(|v| v.max(-127))
        .collect();
    let bias: Option<Vec<i32>> = p
        .bias
        .as_ref()
        .map(|b| b.iter().map(|_| rng.int(-20_000, 20_000)).collect());
    let mut out = vec![0i8; p.output_shape.iter().product()];
    let g = &p.geometry;
    match p.family {
        Family::Conv | Family::Depthwise => {
            let params = if p.family == Family::Conv {
                conv_params::<i8, i8>(g, input_q, &scales, 0, output_q, channels)
            } else {
                depthwise_conv_params::<i8, i8>(g, input_q, &scales, 0, output_q, channels)
            }
            .expect("params");
            let run = if p.family == Family::Conv {
                qconv::conv2d::<i8, i8>
            } else {
                qconv::depthwise_conv2d::<i8, i8>
            };
            run(
                &params,
                &input,
                p.input_shape,
                &filter,
                p.filter_shape,
                bias.as_deref(),
                &mut out,
                p.output_shape,
            );
        }
        Family::Fc => {
            let params = fully_connected_params::<i8, i8>(
                input_q,
                &scales,
                0,
                output_q,
                g.activation,
                channels,
            )
            .expect("params");
            let depth = p.filter_shape[1];
            q_fully_connected(&params, &input, &filter, bias.as_deref(), depth, &mut out);
        }
    }
    out
}

/// Naive f64 reference of a float problem (groups, depth multiplier, padding, dilation).
fn naive(p: &Problem) -> Vec<f32> {
    let [_, ih, iw, ic] = p.input_shape;
    let [_, oh, ow, oc] = p.output_shape;
    let g = &p.geometry;
    let (lo, hi) = match g.activation {
        Activation::Relu => (0.0, f64::INFINITY),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    };
    let mut out = vec![0f32; p.output_shape.iter().product()];
    if p.family == Family::Fc {
        let (units, depth) = (p.filter_shape[0], p.filter_shape[1]);
        for (r, row) in p.input.chunks_exact(depth).enumerate() {
            for u in 0..units {
                let mut acc = p.bias.as_ref().map_or(0.0, |b| f64::from(b[u]));
                for (x, w) in row.iter().zip(&p.filter[u * depth..(u + 1) * depth]) {
                    acc += f64::from(*x) * f64::from(*w);
                }
                out[r * units + u] = acc.clamp(lo, hi) as f32;
            }
        }
        return out;
    }
    let (fh, fw) = (p.filter_shape[1], p.filter_shape[2]);
    let pad = |size: usize, k: usize, s: usize, d: usize, o: usize| -> isize {
        if g.padding == Padding::Valid {
            return 0;
        }
        let eff = (k - 1) * d + 1;
        (((o - 1) * s + eff).saturating_sub(size) / 2) as isize
    };
    let (ph, pw) = (
        pad(ih, fh, g.stride_h, g.dilation_h, oh),
        pad(iw, fw, g.stride_w, g.dilation_w, ow),
    );
    for b in 0..p.input_shape[0] {
        for y in 0..oh {
            for x in 0..ow {
                for o in 0..oc {
                    let mut acc = p.bias.as_ref().map_or(0.0, |v| f64::from(v[o]));
                    for fy in 0..fh {
                        for fx in 0..fw {
                            let iy = (y * g.stride_h + fy * g.dilation_h) as isize - ph;
                            let ix = (x * g.stride_w + fx * g.dilation_w) as isize - pw;
                            if iy < 0 || ix < 0 || iy >= ih as isize || ix >= iw as isize {
                                continue;
                            }
                            let px = ((b * ih + iy as usize) * iw + ix as usize) * ic;
                            if p.family == Family::Depthwise {
                                let i = o / (oc / ic);
                                acc += f64::from(p.input[px + i])
                                    * f64::from(p.filter[(fy * fw + fx) * oc + o]);
                            } else {
                                let fin = p.filter_shape[3];
                                let group = o / (oc / (ic / fin));
                                for c in 0..fin {
                                    acc += f64::from(p.input[px + group * fin + c])
                                        * f64::from(p.filter[((o * fh + fy) * fw + fx) * fin + c]);
                                }
                            }
                        }
                    }
                    out[((b * oh + y) * ow + x) * oc + o] = acc.clamp(lo, hi) as f32;
                }
            }
        }
    }
    out
}

/// All outputs at this process's level: per problem, the f32 then the int8 result.
fn outputs() -> Vec<(Vec<f32>, Vec<i8>)> {
    problems()
        .iter()
        .enumerate()
        .map(|(i, p)| (run_f32(p), run_i8(p, i)))
        .collect()
}

fn encode(all: &[(Vec<f32>, Vec<i8>)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (f, q) in all {
        bytes.extend(f.iter().flat_map(|v| v.to_le_bytes()));
        bytes.extend(q.iter().map(|&v| v as u8));
    }
    bytes
}

fn decode(bytes: &[u8], like: &[(Vec<f32>, Vec<i8>)]) -> Vec<(Vec<f32>, Vec<i8>)> {
    let mut pos = 0;
    let mut out = Vec::new();
    for (f, q) in like {
        let fs: Vec<f32> = bytes[pos..pos + 4 * f.len()]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        pos += 4 * f.len();
        let qs: Vec<i8> = bytes[pos..pos + q.len()].iter().map(|&b| b as i8).collect();
        pos += q.len();
        out.push((fs, qs));
    }
    assert_eq!(pos, bytes.len(), "worker output has the wrong size");
    out
}

/// Spawned once per level by [`every_dispatch_level_matches_scalar`]; a no-op otherwise.
#[test]
fn worker() {
    if let Ok(path) = std::env::var(OUT_ENV) {
        std::fs::write(path, encode(&outputs())).expect("write worker output");
    }
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

#[test]
fn every_dispatch_level_matches_scalar() {
    let exe = std::env::current_exe().expect("test binary");
    let dir = std::env::temp_dir();
    let mut runs = Vec::new();
    // aarch64: NEON with SDOT (if the CPU has it) and NEON with the int16 integer kernel.
    let levels: &[&str] = if cfg!(target_arch = "aarch64") {
        &["scalar", "neon", "neon-nodot"]
    } else {
        &["scalar", "avx2", "avx512"]
    };
    for &level in levels {
        let path: PathBuf = dir.join(format!(
            "ferrolite-property-{}-{level}.bin",
            std::process::id()
        ));
        let spawn = |cmd: &mut Command| {
            cmd.args(["--exact", "worker", "--test-threads=1", "--quiet"])
                .env("FERROLITE_SIMD", level)
                .env(OUT_ENV, &path)
                .stdout(std::process::Stdio::null())
                .status()
        };
        let mut status = spawn(&mut Command::new(&exe));
        // Under qemu-user (aarch64 tests on an x86-64 host, `.cargo/config.toml`'s runner) the
        // child aarch64 binary cannot be exec'd directly (exit 127): go through qemu as well.
        if cfg!(target_arch = "aarch64") && !matches!(&status, Ok(s) if s.code() != Some(127)) {
            let mut qemu = Command::new("qemu-aarch64");
            qemu.args(["-L", "/usr/aarch64-linux-gnu"]).arg(&exe);
            status = spawn(&mut qemu);
        }
        let status = status.expect("spawn worker");
        assert!(status.success(), "{level} worker failed");
        let bytes = std::fs::read(&path).expect("worker output");
        std::fs::remove_file(&path).ok();
        runs.push((level, bytes));
    }
    let problems = problems();
    let shape = outputs();
    let scalar = decode(&runs[0].1, &shape);

    // The scalar reference against a naive f64 convolution.
    let mut worst_naive = 0f32;
    for (i, p) in problems.iter().enumerate() {
        let want = naive(p);
        let tol = 1e-5 * max_abs(&want).max(1e-3);
        for (g, w) in scalar[i].0.iter().zip(&want) {
            worst_naive = worst_naive.max((g - w).abs() / max_abs(&want).max(1e-3));
            assert!(
                (g - w).abs() <= tol,
                "problem {i} {p:?}: scalar {g} vs naive {w}"
            );
        }
    }
    println!("scalar f32 vs naive f64: worst relative error {worst_naive:.2e}");

    for (level, bytes) in &runs[1..] {
        let got = decode(bytes, &shape);
        let mut worst = 0f32;
        for (i, ((gf, gq), (sf, sq))) in got.iter().zip(&scalar).enumerate() {
            assert_eq!(
                gq, sq,
                "{level}: int8 problem {i} differs from scalar: {:?}",
                problems[i]
            );
            let peak = max_abs(sf).max(1e-3);
            for (g, s) in gf.iter().zip(sf) {
                worst = worst.max((g - s).abs() / peak);
            }
            assert!(
                worst <= 1e-5,
                "{level}: f32 problem {i} off by {worst:.2e}: {:?}",
                problems[i]
            );
        }
        println!(
            "{level}: {} problems, int8 identical, f32 worst relative error {worst:.2e}",
            got.len()
        );
    }
}
