//! f32 DEPTHWISE_CONV_2D (depth multiplier 1) vectorized over channels.
//!
//! For every output pixel the valid filter taps are worked out once (so padding costs nothing and
//! the inner loop has no bounds checks); channels are then processed in blocks of four vectors,
//! single vectors and one masked tail, each block accumulating its taps in registers before the
//! bias, the clamp and the store; square 3x3 and 5x5 windows take the fixed-window kernel of
//! `dw_window_x86` instead (several pixels per block, filter in registers). Taps are summed in
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
        let window = dw_window_x86::eligible(&g).then_some(g.fh);
        super::im2col::with_tap_ranges(&g.patches(), |ranges| {
            let tile = |t: usize| {
                if let Some(k) = window {
                    let args = dw_window_x86::DwWindow {
                        g,
                        ranges,
                        input: input.as_ptr(),
                        filter: filter.as_ptr(),
                        bias: epi.bias.map_or(std::ptr::null(), |b| b.as_ptr()),
                        min: epi.min,
                        max: epi.max,
                        // Tiles write the disjoint output rows `rows.0..rows.1`.
                        output: out.as_ptr(),
                        rows: (t * rows_per, ((t + 1) * rows_per).min(rows)),
                    };
                    // SAFETY: lengths checked above, the rows lie inside the output, the window
                    // is k × k; the level was detected at run time.
                    unsafe {
                        match (level == Level::Avx512, k) {
                            (true, 3) => dw_window_x86::avx512::run::<3>(&args),
                            (true, _) => dw_window_x86::avx512::run::<5>(&args),
                            (false, 3) => dw_window_x86::avx2::run::<3>(&args),
                            (false, _) => dw_window_x86::avx2::run::<5>(&args),
                        }
                    }
                    return;
                }
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
