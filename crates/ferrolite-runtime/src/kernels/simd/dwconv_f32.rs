//! f32 DEPTHWISE_CONV_2D (depth multiplier 1) vectorized over channels.
//!
//! For every output pixel the valid filter taps are worked out once (so padding costs nothing and
//! the inner loop has no bounds checks); channels are then processed in blocks of four vectors,
//! single vectors and one masked tail, each block accumulating its taps in registers before the
//! bias, the clamp and the store; square 3x3 and 5x5 windows take the fixed-window kernel of
//! `dw_window_x86` instead (several pixels per block, filter in registers; small stride-1 maps
//! channel block by channel block over all rows, 3×3-wide ones on a zero-padded copy of the
//! input so that every pixel is interior). Taps are summed in
//! the scalar kernel's order (row-major over the filter window), with fused multiply-adds. Output
//! rows are split across the thread budget ([`super::parallel`]); each pixel is computed the same
//! way in any split.

use super::im2col::{PatchGeometry, TapRanges};
#[cfg(target_arch = "x86_64")]
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::Level;
use crate::kernels::common::compute_padding;
use crate::kernels::conv::Conv2DParams;
use crate::kernels::simd::gemm_f32::Epilogue;

#[cfg(target_arch = "x86_64")]
use super::{dw_window_x86, dwconv_x86};

/// Geometry of one depthwise call, resolved (shared with the int8 kernel).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DwGeometry {
    pub batches: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub fh: usize,
    pub fw: usize,
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    pub pad: (usize, usize),
    pub out_h: usize,
    pub out_w: usize,
}

impl DwGeometry {
    /// Resolves padding for a multiplier-1 depthwise conv (`None` for other multipliers).
    pub fn new(
        params: &Conv2DParams,
        input_shape: [usize; 4],
        filter_shape: [usize; 4],
        output_shape: [usize; 4],
    ) -> Option<Self> {
        let [batches, in_h, in_w, in_c] = input_shape;
        let [_, fh, fw, out_c] = filter_shape;
        if out_c != in_c {
            return None;
        }
        let (_, pad_h) =
            compute_padding(params.padding, in_h, fh, params.stride_h, params.dilation_h);
        let (_, pad_w) =
            compute_padding(params.padding, in_w, fw, params.stride_w, params.dilation_w);
        Some(DwGeometry {
            batches,
            in_h,
            in_w,
            channels: in_c,
            fh,
            fw,
            stride: (params.stride_h, params.stride_w),
            dilation: (params.dilation_h, params.dilation_w),
            pad: (pad_h, pad_w),
            out_h: output_shape[1],
            out_w: output_shape[2],
        })
    }

    /// The same geometry as an im2col description (for [`with_tap_ranges`]).
    pub fn patches(&self) -> PatchGeometry {
        PatchGeometry {
            in_h: self.in_h,
            in_w: self.in_w,
            in_c: self.channels,
            fh: self.fh,
            fw: self.fw,
            depth: self.channels,
            stride: self.stride,
            dilation: self.dilation,
            pad: self.pad,
            out_h: self.out_h,
            out_w: self.out_w,
        }
    }

    /// Element counts of input, filter and output.
    pub fn lens(&self) -> (usize, usize, usize) {
        let c = self.channels;
        (
            self.batches * self.in_h * self.in_w * c,
            self.fh * self.fw * c,
            self.batches * self.out_h * self.out_w * c,
        )
    }
}

/// The taps `lo..hi` of a window starting at `origin` (may be negative) with `taps` taps spaced
/// `dilation` apart that fall inside `0..size`.
pub(crate) fn tap_range(
    origin: isize,
    dilation: usize,
    taps: usize,
    size: usize,
) -> (usize, usize) {
    let d = dilation as isize;
    let lo = if origin >= 0 {
        0
    } else {
        ((-origin + d - 1) / d) as usize
    };
    let room = size as isize - origin;
    let hi = if room <= 0 {
        0
    } else {
        (((room + d - 1) / d) as usize).min(taps)
    };
    (lo.min(hi), hi)
}

/// Walks the output pixels in order, listing each one's valid taps as element offsets of its
/// input pixels (relative to a returned base) and filter rows. Interior pixels share one
/// precomputed list; border pixels get theirs built from the precomputed ranges (no division
/// per pixel either way).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct PixelWalker<'a> {
    g: &'a DwGeometry,
    t: &'a TapRanges,
    next: (usize, usize, usize),
    interior: TapBuf,
    buf: TapBuf,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl<'a> PixelWalker<'a> {
    /// Starts at the first pixel.
    pub fn new(g: &'a DwGeometry, t: &'a TapRanges) -> Self {
        let mut interior = TapBuf::new(g.fh * g.fw);
        let slots = interior.slots();
        for fy in 0..g.fh {
            for fx in 0..g.fw {
                let dy = fy * g.dilation.0;
                let dx = fx * g.dilation.1;
                slots[fy * g.fw + fx] = (
                    (dy * g.in_w + dx) * g.channels,
                    (fy * g.fw + fx) * g.channels,
                );
            }
        }
        PixelWalker {
            g,
            t,
            next: (0, 0, 0),
            interior,
            buf: TapBuf::new(g.fh * g.fw),
        }
    }

    /// Moves the walk to output pixel `pixel` (row-major over batch, y, x).
    pub fn starting_at(mut self, pixel: usize) -> Self {
        let per_image = self.g.out_h * self.g.out_w;
        if let (Some(b), Some(r)) = (pixel.checked_div(per_image), pixel.checked_rem(per_image)) {
            self.next = (b, r / self.g.out_w, r % self.g.out_w);
        }
        self
    }

    /// The next pixel's `(base, taps)`: tap `(ip, fp)` reads input element `base + ip` and
    /// filter element `fp`; `None` past the last pixel.
    #[inline(always)]
    pub fn next_taps(&mut self) -> Option<(usize, &[(usize, usize)])> {
        let g = self.g;
        let (b, oy, ox) = self.next;
        if b >= g.batches || g.out_h == 0 || g.out_w == 0 {
            return None;
        }
        self.next = if ox + 1 < g.out_w {
            (b, oy, ox + 1)
        } else if oy + 1 < g.out_h {
            (b, oy + 1, 0)
        } else {
            (b + 1, 0, 0)
        };
        let (y0, fy0, fy1) = self.t.rows[oy];
        let (x0, fx0, fx1) = self.t.cols[ox];
        if fy0 == 0 && fy1 == g.fh && fx0 == 0 && fx1 == g.fw {
            // Every tap is inside, so y0, x0 >= 0.
            let base = ((b * g.in_h + y0 as usize) * g.in_w + x0 as usize) * g.channels;
            let n = g.fh * g.fw;
            return Some((base, &self.interior.slots()[..n]));
        }
        let slots = self.buf.slots();
        let mut n = 0;
        for fy in fy0..fy1 {
            let iy = (y0 + (fy * g.dilation.0) as isize) as usize;
            let row = (b * g.in_h + iy) * g.in_w;
            for fx in fx0..fx1 {
                let ix = (x0 + (fx * g.dilation.1) as isize) as usize;
                slots[n] = ((row + ix) * g.channels, (fy * g.fw + fx) * g.channels);
                n += 1;
            }
        }
        Some((0, &slots[..n]))
    }
}

/// Scratch for one pixel's taps: on the stack for windows up to 7x7.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct TapBuf {
    stack: [(usize, usize); 49],
    heap: Vec<(usize, usize)>,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl TapBuf {
    pub(crate) fn new(taps: usize) -> Self {
        TapBuf {
            stack: [(0, 0); 49],
            heap: if taps > 49 {
                vec![(0, 0); taps]
            } else {
                Vec::new()
            },
        }
    }

    pub(crate) fn slots(&mut self) -> &mut [(usize, usize)] {
        if self.heap.is_empty() {
            &mut self.stack
        } else {
            &mut self.heap
        }
    }
}

/// DEPTHWISE_CONV_2D with depth multiplier 1; returns `false` (doing nothing) at the scalar level
/// or for other multipliers. Shapes as accepted by `depthwise_conv2d_output_shape`.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    level: Level,
    params: &Conv2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    epi: Epilogue<'_>,
    output: &mut [f32],
    output_shape: [usize; 4],
) -> bool {
    if level == Level::Scalar {
        return false;
    }
    let Some(g) = DwGeometry::new(params, input_shape, filter_shape, output_shape) else {
        return false;
    };
    let (n_in, n_f, n_out) = g.lens();
    assert!(
        input.len() >= n_in && filter.len() >= n_f && output.len() >= n_out,
        "depthwise operands too short"
    );
    if let Some(b) = epi.bias {
        assert!(b.len() >= g.channels, "depthwise bias too short");
    }
    #[cfg(target_arch = "x86_64")]
    {
        let out = SharedMut::new(output);
        let pixels = g.batches * g.out_h * g.out_w;
        let rows = g.batches * g.out_h;
        let work = pixels * g.channels * g.fh * g.fw;
        let threads = useful_threads(work, rows);
        let rows_per = rows.div_ceil(threads);
        if dw_window_x86::eligible(&g) {
            if pads_columns(&g) {
                with_padded_columns(&g, input, |pg, padded| {
                    window_tiles(level, pg, padded, filter, epi, &out, true);
                });
            } else {
                let cho = g.stride.1 == 1 && g.out_w <= SMALL_MAP_W;
                window_tiles(level, &g, input, filter, epi, &out, cho);
            }
            return true;
        }
        super::im2col::with_tap_ranges(&g.patches(), |ranges| {
            let tile = |t: usize| {
                let first = t * rows_per * g.out_w;
                let args = dwconv_x86::DwF32 {
                    g,
                    ranges,
                    input: input.as_ptr(),
                    filter: filter.as_ptr(),
                    bias: epi.bias.map_or(std::ptr::null(), |b| b.as_ptr()),
                    min: epi.min,
                    max: epi.max,
                    // Tiles write the disjoint pixel ranges `first..first + count`.
                    output: out.as_ptr(),
                    first,
                    count: (rows_per * g.out_w).min(pixels - first),
                };
                // SAFETY: lengths checked above, the pixel range lies inside the output; the
                // level was detected at run time.
                unsafe {
                    if level == Level::Avx512 {
                        dwconv_x86::dw_f32_avx512(&args);
                    } else {
                        dwconv_x86::dw_f32_avx2(&args);
                    }
                }
            };
            run_tiles(rows.div_ceil(rows_per), threads, &tile);
        });
        true
    }
    #[cfg(target_arch = "aarch64")]
    {
        super::dwconv_neon::depthwise_f32(&g, input, filter, epi, output);
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (input, filter, output);
        false
    }
}

/// Whether a window-kernel conv first copies its input into a buffer with zero columns on both
/// sides ([`with_padded_columns`]): stride-1 maps of at most [`PAD_MAP_W`] output columns with
/// border columns (MobileNet's 3×3 maps, where all but one pixel per row is a border pixel).
/// Measured: the copy pays off there, not at 6×6 and wider, nor at stride 2 (the input to copy
/// is four times the output).
#[cfg(target_arch = "x86_64")]
fn pads_columns(g: &DwGeometry) -> bool {
    if g.stride.1 != 1
        || g.channels == 0
        || g.in_w == 0
        || g.out_h == 0
        || g.out_w == 0
        || g.out_w > PAD_MAP_W
    {
        return false;
    }
    let last = ((g.out_w - 1) * g.stride.1 + (g.fw - 1) * g.dilation.1) as isize - g.pad.1 as isize;
    g.pad.1 > 0 || last >= g.in_w as isize
}

/// Widest stride-1 output map (in columns) computed channel block by channel block over all
/// rows (filter loaded once per block; measured faster up to 12×12, slower at stride 2).
#[cfg(target_arch = "x86_64")]
const SMALL_MAP_W: usize = 16;

/// Widest output map (in columns) whose input is padded.
#[cfg(target_arch = "x86_64")]
const PAD_MAP_W: usize = 4;

#[cfg(target_arch = "x86_64")]
thread_local! {
    static PADDED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with a copy of `input` whose rows span exactly the columns the windows of `g`
/// touch, the ones outside the image being zero, and the geometry of that copy (no horizontal
/// padding, so every output column is interior). A zero tap adds `0 · w`, which leaves the sum
/// unchanged for finite weights (only an infinite or NaN weight on a padding tap would differ
/// from skipping the tap; XNNPACK pads with zeros the same way).
#[cfg(target_arch = "x86_64")]
fn with_padded_columns<R>(
    g: &DwGeometry,
    input: &[f32],
    f: impl FnOnce(&DwGeometry, &[f32]) -> R,
) -> R {
    let c = g.channels;
    let in_w = (g.out_w - 1) * g.stride.1 + (g.fw - 1) * g.dilation.1 + 1;
    let pg = DwGeometry {
        in_w,
        pad: (g.pad.0, 0),
        ..*g
    };
    let left = g.pad.1.min(in_w);
    let copied = g.in_w.min(in_w - left);
    let n = g.batches * g.in_h * in_w * c;
    PADDED.with(|buf| {
        let mut buf = buf.borrow_mut();
        if buf.len() < n {
            buf.resize(n, 0.0);
        }
        let rows = buf[..n].chunks_exact_mut(in_w * c);
        for (dst, src) in rows.zip(input.chunks_exact(g.in_w * c)) {
            let (l, rest) = dst.split_at_mut(left * c);
            l.fill(0.0);
            let (mid, r) = rest.split_at_mut(copied * c);
            mid.copy_from_slice(&src[..copied * c]);
            r.fill(0.0);
        }
        f(&pg, &buf[..n])
    })
}

/// The fixed-window kernel over all output rows of `g`, split into row tiles over the thread
/// budget; `channels_outer` as in [`dw_window_x86::DwWindow`].
#[cfg(target_arch = "x86_64")]
fn window_tiles(
    level: Level,
    g: &DwGeometry,
    input: &[f32],
    filter: &[f32],
    epi: Epilogue<'_>,
    out: &SharedMut<f32>,
    channels_outer: bool,
) {
    let rows = g.batches * g.out_h;
    if rows == 0 || g.out_w == 0 || g.channels == 0 {
        return;
    }
    let work = rows * g.out_w * g.channels * g.fh * g.fw;
    let threads = useful_threads(work, rows);
    let rows_per = rows.div_ceil(threads);
    let k = g.fh;
    super::im2col::with_tap_ranges(&g.patches(), |ranges| {
        let tile = |t: usize| {
            let args = dw_window_x86::DwWindow {
                g: *g,
                ranges,
                input: input.as_ptr(),
                filter: filter.as_ptr(),
                bias: epi.bias.map_or(std::ptr::null(), |b| b.as_ptr()),
                min: epi.min,
                max: epi.max,
                // Tiles write the disjoint output rows `rows.0..rows.1`.
                output: out.as_ptr(),
                rows: (t * rows_per, ((t + 1) * rows_per).min(rows)),
                channels_outer,
            };
            // SAFETY: the caller checked the lengths for `g` (or built `input` for it), the
            // rows lie inside the output, the window is k × k; the level was detected at run
            // time.
            unsafe {
                match (level == Level::Avx512, k) {
                    (true, 3) => dw_window_x86::avx512::run::<3>(&args),
                    (true, _) => dw_window_x86::avx512::run::<5>(&args),
                    (false, 3) => dw_window_x86::avx2::run::<3>(&args),
                    (false, _) => dw_window_x86::avx2::run::<5>(&args),
                }
            }
        };
        run_tiles(rows.div_ceil(rows_per), threads, &tile);
    });
}

#[cfg(test)]
mod tests {
    use super::super::{available_levels, parallel::with_threads, Level};
    use crate::kernels::common::{Activation, Padding};
    use crate::kernels::conv::{depthwise_conv2d_at, depthwise_conv2d_output_shape, Conv2DParams};

    /// SplitMix64 stream for the property cases.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + (self.next() % (hi - lo + 1) as u64) as usize
        }
        fn f32s(&mut self, n: usize) -> Vec<f32> {
            (0..n)
                .map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
                .collect()
        }
    }

    /// The small-map paths of the window kernel (stride 1 up to 16 columns: channel blocks
    /// outside the rows; up to 4 columns: the zero-padded copy) and stride 2 on small maps, with
    /// odd channel counts, borders on every side, vertical stride / dilation, 1 or 2 threads and
    /// every SIMD level, against the scalar kernel (1e-5 relative: fused multiply-adds).
    #[test]
    fn small_maps_match_scalar() {
        let mut rng = Rng(77);
        let mut cases = 0;
        while cases < 300 {
            let p = Conv2DParams {
                padding: if rng.range(0, 3) > 0 {
                    Padding::Same
                } else {
                    Padding::Valid
                },
                stride_h: rng.range(1, 2),
                stride_w: if rng.range(0, 2) > 0 { 1 } else { 2 },
                dilation_h: if rng.range(0, 4) == 0 { 2 } else { 1 },
                dilation_w: 1,
                activation: [Activation::None, Activation::Relu6][rng.range(0, 1)],
            };
            let k = if rng.range(0, 3) > 0 { 3 } else { 5 };
            let c = [1, 5, 8, 13, 16, 17, 31, 48, 50, 97][rng.range(0, 9)];
            let is = [rng.range(1, 2), rng.range(1, 12), rng.range(1, 18), c];
            let fs = [1, k, k, c];
            let Ok(os) = depthwise_conv2d_output_shape(&p, is, fs, Some(c)) else {
                continue;
            };
            cases += 1;
            let x = rng.f32s(is.iter().product());
            let w = rng.f32s(fs.iter().product());
            let b = rng.f32s(c);
            let bias = (cases % 3 != 0).then_some(&b[..]);
            let mut want = vec![0.0; os.iter().product()];
            depthwise_conv2d_at(Level::Scalar, &p, &x, is, &w, fs, bias, &mut want, os);
            for level in available_levels()
                .into_iter()
                .filter(|&l| l != Level::Scalar)
            {
                for threads in [1, 2] {
                    let mut got = vec![f32::NAN; want.len()];
                    with_threads(threads, || {
                        depthwise_conv2d_at(level, &p, &x, is, &w, fs, bias, &mut got, os)
                    });
                    for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (g - r).abs() <= 1e-5 * r.abs().max(1.0),
                            "{level:?} t={threads} {p:?} {is:?} k={k}: [{i}] {g} vs {r}"
                        );
                    }
                }
            }
        }
    }
}
