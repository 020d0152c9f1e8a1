//! Direct f32 CONV_2D for convolutions with few input channels (a network's first layer: a 3x3
//! window over RGB), without im2col.
//!
//! With 1–4 input channels an im2col patch row is a handful of short copies per output pixel,
//! and building the patches cost more than the product itself. Here the filter is transposed
//! once per call to `[(fy, fx, ci)][out channel]` (it is small), and every output pixel walks
//! its valid taps (precomputed ranges, so padding costs nothing), broadcasting each input value
//! against a vector of output channels, several interior pixels at a time. Output rows are split
//! across the thread budget; each pixel is computed the same way in any split. The micro-kernels
//! are `conv_direct_x86` (AVX2 / AVX-512) and `conv_direct_neon` (aarch64).

use super::dwconv_f32::DwGeometry;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::{with_scratch_a, Level};
use crate::kernels::simd::gemm_f32::Epilogue;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::kernels::simd::im2col::with_tap_ranges;
use crate::kernels::simd::im2col::PatchGeometry;

#[cfg(target_arch = "aarch64")]
use super::conv_direct_neon;
#[cfg(target_arch = "x86_64")]
use super::conv_direct_x86;

/// Largest input channel count handled here.
pub(crate) const MAX_CHANNELS: usize = 4;
/// Largest output channel count handled here (the GEMM wins beyond).
const MAX_OUT: usize = 64;

/// Whether [`conv2d`] takes a convolution with this geometry (one group of `depth == in_c`
/// channels, `n` outputs).
pub(crate) fn eligible(level: Level, geo: &PatchGeometry, groups: usize, n: usize) -> bool {
    level != Level::Scalar
        && cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
        && groups == 1
        && (1..=MAX_CHANNELS).contains(&geo.in_c)
        && geo.depth == geo.in_c
        && (1..=MAX_OUT).contains(&n)
        && geo.fh * geo.fw <= 49
}

/// Direct conv of `batches` images with geometry `geo` (eligible per [`eligible`]), OHWI
/// `filter` with `n` output channels, into NHWC `output`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d(
    level: Level,
    geo: &PatchGeometry,
    batches: usize,
    input: &[f32],
    filter: &[f32],
    n: usize,
    epi: Epilogue<'_>,
    output: &mut [f32],
) {
    let g = DwGeometry {
        batches,
        in_h: geo.in_h,
        in_w: geo.in_w,
        channels: geo.in_c,
        fh: geo.fh,
        fw: geo.fw,
        stride: geo.stride,
        dilation: geo.dilation,
        pad: geo.pad,
        out_h: geo.out_h,
        out_w: geo.out_w,
    };
    let k = g.fh * g.fw * g.channels;
    let pixels = batches * g.out_h * g.out_w;
    assert!(
        input.len() >= batches * g.in_h * g.in_w * g.channels
            && filter.len() >= n * k
            && output.len() >= pixels * n,
        "direct conv operands too short"
    );
    if let Some(b) = epi.bias {
        assert!(b.len() >= n, "direct conv bias too short");
    }
    with_scratch_a(k * n, |wt| {
        for (j, row) in filter[..n * k].chunks_exact(k).enumerate() {
            for (t, &v) in row.iter().enumerate() {
                wt[t * n + j] = v;
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            let wt: &[f32] = wt;
            let out = SharedMut::new(&mut output[..pixels * n]);
            let rows = batches * g.out_h;
            let threads = useful_threads(pixels * n * k, rows);
            let rows_per = rows.div_ceil(threads).max(1);
            with_tap_ranges(&g.patches(), |ranges| {
                let tile = |t: usize| {
                    let d = conv_direct_x86::Direct {
                        g,
                        ranges,
                        input: input.as_ptr(),
                        wt: wt.as_ptr(),
                        n,
                        bias: epi.bias.map_or(std::ptr::null(), |b| b.as_ptr()),
                        min: epi.min,
                        max: epi.max,
                        // Tiles write the disjoint output rows `rows.0..rows.1`.
                        output: out.as_ptr(),
                        rows: (t * rows_per, ((t + 1) * rows_per).min(rows)),
                    };
                    // SAFETY: lengths checked above; the pixel range lies inside the output;
                    // the level was detected at run time and `eligible` bounds the channels.
                    unsafe { run_kernel(level, &d) };
                };
                run_tiles(rows.div_ceil(rows_per), threads, &tile);
            });
        }
        #[cfg(target_arch = "aarch64")]
        {
            let _ = level;
            let wt: &[f32] = wt;
            let out = SharedMut::new(&mut output[..pixels * n]);
            let rows = batches * g.out_h;
            let threads = useful_threads(pixels * n * k, rows);
            let rows_per = rows.div_ceil(threads).max(1);
            with_tap_ranges(&g.patches(), |ranges| {
                let tile = |t: usize| {
                    let first = t * rows_per * g.out_w;
                    let count = (rows_per * g.out_w).min(pixels - first);
                    // SAFETY: tiles write the disjoint pixel ranges `first..first + count`;
                    // the output stays mutably borrowed for the whole call.
                    let dst = unsafe { &mut out.tail(first * n)[..count * n] };
                    conv_direct_neon::pixels(&g, ranges, input, wt, n, epi, first, dst);
                };
                run_tiles(rows.div_ceil(rows_per), threads, &tile);
            });
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = (level, input, output, pixels, epi, wt);
    });
}

/// Dispatches on level and channel count.
///
/// # Safety
/// `level` is at most the detected level; `d` satisfies the `conv_direct_x86` contract.
#[cfg(target_arch = "x86_64")]
unsafe fn run_kernel(level: Level, d: &conv_direct_x86::Direct<'_>) {
    use conv_direct_x86::{avx2, avx512};
    // SAFETY: forwarded from the caller.
    unsafe {
        match (level == Level::Avx512, d.g.channels) {
            (true, 1) => avx512::run::<1>(d),
            (true, 2) => avx512::run::<2>(d),
            (true, 3) => avx512::run::<3>(d),
            (true, _) => avx512::run::<4>(d),
            (false, 1) => avx2::run::<1>(d),
            (false, 2) => avx2::run::<2>(d),
            (false, 3) => avx2::run::<3>(d),
            (false, _) => avx2::run::<4>(d),
        }
    }
}
