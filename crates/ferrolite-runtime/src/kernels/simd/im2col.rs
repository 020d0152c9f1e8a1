//! im2col: gathers a convolution's receptive fields into GEMM rows, and precomputed tap ranges.
//!
//! Row `p` of the patch matrix is output pixel `p`'s window over one group's channels, in the
//! filter's `(fy, fx, channel)` order, with padding taps set to a given value (0.0 for f32, the
//! input zero point for integer convolutions). The valid window rows and columns of every output
//! row and column are worked out once per call ([`TapRanges`]), so gathering needs no division
//! and no per-tap bounds check; when a window row is entirely inside the image, dilation is 1 and
//! the group spans all channels, it is one contiguous copy.

use super::dwconv_f32::tap_range;

/// Resolved convolution geometry (NHWC input, `depth` channels per group).
#[derive(Debug, Clone)]
pub(crate) struct PatchGeometry {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub fh: usize,
    pub fw: usize,
    pub depth: usize,
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    pub pad: (usize, usize),
    pub out_h: usize,
    pub out_w: usize,
}

/// Valid taps per output row / column: `(first input coordinate, first tap, end tap)`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TapRanges {
    pub rows: Vec<(isize, usize, usize)>,
    pub cols: Vec<(isize, usize, usize)>,
}

impl TapRanges {
    /// Computes the ranges for output size `out_h × out_w` (reusing the vectors).
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &mut self,
        (in_h, in_w): (usize, usize),
        (fh, fw): (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
        pad: (usize, usize),
        (out_h, out_w): (usize, usize),
    ) {
        let axis = |v: &mut Vec<_>, out: usize, s: usize, d: usize, p: usize, f: usize, size| {
            v.clear();
            v.extend((0..out).map(|o| {
                let origin = (o * s) as isize - p as isize;
                let (lo, hi) = tap_range(origin, d, f, size);
                (origin, lo, hi)
            }));
        };
        axis(&mut self.rows, out_h, stride.0, dilation.0, pad.0, fh, in_h);
        axis(&mut self.cols, out_w, stride.1, dilation.1, pad.1, fw, in_w);
    }

    /// Ranges for a patch geometry.
    pub fn for_patches(&mut self, g: &PatchGeometry) {
        self.fill(
            (g.in_h, g.in_w),
            (g.fh, g.fw),
            g.stride,
            g.dilation,
            g.pad,
            (g.out_h, g.out_w),
        );
    }
}

/// Position `(batch, out_y, out_x)` of an output pixel, advanced without division.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelPos {
    b: usize,
    oy: usize,
    ox: usize,
}

impl PixelPos {
    /// The position of flat output pixel `p`.
    pub fn at(g: &PatchGeometry, p: usize) -> Self {
        let per_image = g.out_h * g.out_w;
        let rem = p % per_image;
        PixelPos {
            b: p / per_image,
            oy: rem / g.out_w,
            ox: rem % g.out_w,
        }
    }

    /// Moves to the next pixel in NHWC order.
    #[inline(always)]
    pub fn advance(&mut self, g: &PatchGeometry) {
        self.ox += 1;
        if self.ox == g.out_w {
            self.ox = 0;
            self.oy += 1;
            if self.oy == g.out_h {
                self.oy = 0;
                self.b += 1;
            }
        }
    }
}

/// Writes output pixel `pix`'s patch (channels `off..off + depth` of each tap) into `dst`
/// (`fh · fw · depth` values), converting each element with `conv` and filling padding with
/// `pad`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn patch_row<S: Copy, D: Copy>(
    g: &PatchGeometry,
    t: &TapRanges,
    input: &[S],
    pix: PixelPos,
    off: usize,
    dst: &mut [D],
    pad: D,
    conv: impl Fn(S) -> D + Copy,
) {
    let b = pix.b;
    let (y0, fy0, fy1) = t.rows[pix.oy];
    let (x0, fx0, fx1) = t.cols[pix.ox];
    let row_len = g.fw * g.depth;
    let contiguous = g.dilation.1 == 1 && g.depth == g.in_c;
    for (fy, seg) in dst[..g.fh * row_len].chunks_exact_mut(row_len).enumerate() {
        if fy < fy0 || fy >= fy1 {
            fill(seg, pad);
            continue;
        }
        let iy = (y0 + (fy * g.dilation.0) as isize) as usize;
        let row_base = (b * g.in_h + iy) * g.in_w;
        if fx0 > 0 {
            fill(&mut seg[..fx0 * g.depth], pad);
        }
        if fx1 < g.fw {
            fill(&mut seg[fx1 * g.depth..], pad);
        }
        if contiguous && fx1 > fx0 {
            let ix = (x0 + fx0 as isize) as usize;
            let src = &input[(row_base + ix) * g.in_c..(row_base + ix + fx1 - fx0) * g.in_c];
            copy_conv(&mut seg[fx0 * g.depth..fx1 * g.depth], src, conv);
            continue;
        }
        for fx in fx0..fx1 {
            let ix = (x0 + (fx * g.dilation.1) as isize) as usize;
            let base = (row_base + ix) * g.in_c + off;
            let d = &mut seg[fx * g.depth..(fx + 1) * g.depth];
            copy_conv(d, &input[base..base + g.depth], conv);
        }
    }
}

/// `dst[i] = conv(src[i])`, in blocks of eight so short runs stay inline (no library call).
#[inline(always)]
fn copy_conv<S: Copy, D: Copy>(dst: &mut [D], src: &[S], conv: impl Fn(S) -> D) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dc, sc) in (&mut d).zip(&mut s) {
        for i in 0..8 {
            dc[i] = conv(sc[i]);
        }
    }
    for (dd, &ss) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *dd = conv(ss);
    }
}

/// Fills `dst` with `v` element by element (short runs; avoids a `memset` call).
#[inline(always)]
fn fill<D: Copy>(dst: &mut [D], v: D) {
    for d in dst {
        *d = v;
    }
}

thread_local! {
    static TAPS: std::cell::RefCell<TapRanges> = std::cell::RefCell::new(TapRanges::default());
}

/// Runs `f` with the tap ranges of `g` (per-thread buffers, no allocation once warm). Calls
/// must not nest.
pub(crate) fn with_tap_ranges<R>(g: &PatchGeometry, f: impl FnOnce(&TapRanges) -> R) -> R {
    TAPS.with(|t| {
        let mut t = t.borrow_mut();
        t.for_patches(g);
        f(&t)
    })
}
