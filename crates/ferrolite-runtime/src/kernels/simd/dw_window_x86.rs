//! x86-64 f32 DEPTHWISE_CONV_2D for square 3x3 and 5x5 windows (multiplier 1), horizontal
//! stride 1 or 2 and dilation 1 (any vertical stride and dilation, any padding); AVX-512 and
//! AVX2 + FMA bodies generated from one macro over [`super::vec_f32_x86`].
//!
//! The generic depthwise kernel (`dwconv_x86`) walks one output pixel at a time, so with few
//! channels (16 in a MobileNet's first block) each pixel is a single chain of `fh · fw`
//! dependent multiply-adds and the walk's bookkeeping. Here the window size is a constant: for
//! every output row and block of channels the `K · K` filter vectors and the bias are loaded
//! once, the window's input rows are resolved once, and the columns whose window lies inside the
//! image are computed several pixels at a time (independent accumulator chains, each input column
//! loaded once for all the pixels whose window covers it; the last block of a row may overlap
//! the previous one and recompute identical values). Border columns take a
//! per-pixel path over their valid taps. Every pixel still sums its valid taps in the scalar
//! kernel's order (row-major over the window) with fused multiply-adds, then adds the bias and
//! clamps (NaN kept, as `clamp_activation` does).
//!
//! Contract for [`avx512::run`] / [`avx2::run`]: the CPU has the named features; `input`,
//! `filter` and `output` hold at least the element counts of `DwGeometry::lens`, `bias` (if
//! non-null) `channels` values; `g.fh == g.fw == K`; horizontal stride 1 or 2 and horizontal
//! dilation 1 ([`eligible`]); `ranges` were computed for `g`; the output
//! rows `rows.0..rows.1` (flat over batch and y) exist. The driver in `dwconv_f32` checks these.

use super::dwconv_f32::DwGeometry;
use super::im2col::TapRanges;

/// Operands of one call: output rows `rows.0..rows.1` of a depthwise conv.
pub(super) struct DwWindow<'a> {
    pub g: DwGeometry,
    pub ranges: &'a TapRanges,
    pub input: *const f32,
    pub filter: *const f32,
    pub bias: *const f32,
    pub min: f32,
    pub max: f32,
    pub output: *mut f32,
    /// Output rows computed, flat over batch and y.
    pub rows: (usize, usize),
}

/// Whether the fixed-window kernel takes a depthwise conv with this geometry.
pub(super) fn eligible(g: &DwGeometry) -> bool {
    g.fh == g.fw && (g.fh == 3 || g.fh == 5) && (1..=2).contains(&g.stride.1) && g.dilation.1 == 1
}

/// The output columns `lo..hi` whose `k`-tap window lies inside the image (`(n, n)` if none).
/// Window starts grow with the column, so these columns are contiguous.
pub(super) fn interior(cols: &[(isize, usize, usize)], k: usize) -> (usize, usize) {
    let full = |&(_, a, b): &(isize, usize, usize)| a == 0 && b == k;
    match cols.iter().position(full) {
        Some(lo) => (lo, lo + cols[lo..].iter().take_while(|c| full(c)).count()),
        None => (cols.len(), cols.len()),
    }
}

/// The kernel body over the vector operations in scope (`V`, `M`, `LANES`, `PX`, `load`, …).
macro_rules! window_kernel {
    ($feat:literal) => {
        use super::{interior, DwWindow};

        /// Per row and channel block: filter, bias and the window's input rows.
        struct Block<const K: usize> {
            w: [[V; K]; K],
            bias: V,
            lo: V,
            hi: V,
            m: M,
            /// Input row of window row `fy` at channel `c0` (meaningful for `fy0..fy1`).
            rowp: [*const f32; K],
            fy0: usize,
            fy1: usize,
            c: usize,
            c0: usize,
        }

        /// Output rows `d.rows` of a `K × K` depthwise conv.
        ///
        /// # Safety
        /// The CPU has the features and `d` satisfies the module contract.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn run<const K: usize>(d: &DwWindow<'_>) {
            let g = &d.g;
            let c = g.channels;
            let (lo, hi) = interior(&d.ranges.cols, K);
            for row in d.rows.0..d.rows.1 {
                let (b, oy) = (row / g.out_h, row % g.out_h);
                let (y0, fy0, fy1) = d.ranges.rows[oy];
                let img = d.input.wrapping_add(b * g.in_h * g.in_w * c);
                let out_row = d.output.wrapping_add(row * g.out_w * c);
                let mut c0 = 0;
                while c0 < c {
                    let masked = c - c0 < LANES;
                    let m = mask(c - c0);
                    let mut rowp = [img; K];
                    for (fy, p) in rowp.iter_mut().enumerate().take(fy1).skip(fy0) {
                        let iy = (y0 + (fy * g.dilation.0) as isize) as usize;
                        *p = img.wrapping_add(iy * g.in_w * c + c0);
                    }
                    // SAFETY: filter taps and bias are read at channels c0.. below c (masked
                    // when fewer than LANES remain).
                    let (w, bias) = unsafe { weights::<K>(d, c0, m, masked) };
                    let blk = Block {
                        w,
                        bias,
                        lo: splat(d.min),
                        hi: splat(d.max),
                        m,
                        rowp,
                        fy0,
                        fy1,
                        c,
                        c0,
                    };
                    let out = out_row.wrapping_add(c0);
                    // SAFETY: every pixel written is in this row; reads stay inside the image
                    // (valid taps only) and below channel c.
                    unsafe {
                        match (g.stride.1 == 1, masked) {
                            (true, false) => row_block::<K, 1, false>(d, &blk, out, (lo, hi)),
                            (true, true) => row_block::<K, 1, true>(d, &blk, out, (lo, hi)),
                            (false, false) => row_block::<K, 2, false>(d, &blk, out, (lo, hi)),
                            (false, true) => row_block::<K, 2, true>(d, &blk, out, (lo, hi)),
                        }
                    }
                    c0 += LANES;
                }
            }
        }

        /// The `K · K` filter vectors and the bias at channels `c0..`.
        ///
        /// # Safety
        /// As for [`run`], with `m` enabling only channels below `c` when `masked`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn weights<const K: usize>(
            d: &DwWindow<'_>,
            c0: usize,
            m: M,
            masked: bool,
        ) -> ([[V; K]; K], V) {
            let c = d.g.channels;
            let get = |p: *const f32| {
                // SAFETY: forwarded from the caller.
                unsafe {
                    if masked {
                        load::<true>(p, m)
                    } else {
                        load::<false>(p, m)
                    }
                }
            };
            let mut w = [[zero(); K]; K];
            for (fy, wr) in w.iter_mut().enumerate() {
                for (fx, v) in wr.iter_mut().enumerate() {
                    *v = get(d.filter.wrapping_add((fy * K + fx) * c + c0));
                }
            }
            let bias = if d.bias.is_null() {
                zero()
            } else {
                get(d.bias.wrapping_add(c0))
            };
            (w, bias)
        }

        /// One output row for one channel block: border pixels one by one, interior pixels
        /// `PX` (stride 1) or 4 (stride 2, or fewer columns) at a time.
        ///
        /// # Safety
        /// As for [`run`]; `out` is the output row at channel `c0`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn row_block<const K: usize, const S: usize, const MASKED: bool>(
            d: &DwWindow<'_>,
            blk: &Block<K>,
            out: *mut f32,
            (lo, hi): (usize, usize),
        ) {
            let g = &d.g;
            let (c, c0) = (blk.c, blk.c0);
            let cols = &d.ranges.cols;
            for ox in (0..lo).chain(hi..g.out_w) {
                let (x0, fx0, fx1) = cols[ox];
                let mut acc = zero();
                for fy in blk.fy0..blk.fy1 {
                    for fx in fx0..fx1 {
                        let ix = (x0 + fx as isize) as usize;
                        let wp = d.filter.wrapping_add((fy * K + fx) * c + c0);
                        // SAFETY: (fy, fx) is a valid tap of this pixel and of the filter.
                        let (x, w) = unsafe {
                            (
                                load::<MASKED>(blk.rowp[fy].add(ix * c), blk.m),
                                load::<MASKED>(wp, blk.m),
                            )
                        };
                        acc = fma(x, w, acc);
                    }
                }
                let v = finish(acc, blk.bias, blk.lo, blk.hi);
                // SAFETY: pixel ox of this row.
                unsafe { store::<MASKED>(out.add(ox * c), blk.m, v) };
            }
            // Stride 2 uses half blocks (twice the input columns per pixel in registers).
            let span = hi - lo;
            // SAFETY (all three): lo..hi are interior columns of this row.
            unsafe {
                if S == 1 && span >= PX {
                    blocks::<K, PX, S, MASKED>(d, blk, out, (lo, hi));
                } else if span >= 4 {
                    blocks::<K, 4, S, MASKED>(d, blk, out, (lo, hi));
                } else {
                    blocks::<K, 1, S, MASKED>(d, blk, out, (lo, hi));
                }
            }
        }

        /// Interior columns `lo..hi` (at least `P`) in blocks of `P` pixels; the last block
        /// may overlap the one before it (the same values are written twice).
        ///
        /// # Safety
        /// As for [`row_block`]; `lo..hi` are interior columns.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn blocks<const K: usize, const P: usize, const S: usize, const MASKED: bool>(
            d: &DwWindow<'_>,
            blk: &Block<K>,
            out: *mut f32,
            (lo, hi): (usize, usize),
        ) {
            let c = blk.c;
            let mut ox = lo;
            while ox < hi {
                let ox0 = ox.min(hi - P);
                let xoff = (d.ranges.cols[ox0].0 as usize) * c;
                // SAFETY: pixels ox0..ox0 + P are interior columns of this row.
                unsafe { pixels::<K, P, S, MASKED>(blk, xoff, out.add(ox0 * c)) };
                ox += P;
            }
        }

        /// `P` adjacent interior pixels with horizontal stride `S` (dilation 1): `xoff` is the
        /// first one's leftmost input column (in elements from the row start), `out` its
        /// output. Each input column of a window row is loaded once and multiplied into every
        /// pixel whose window covers it; per pixel, taps are still added in row-major order.
        ///
        /// # Safety
        /// As for [`row_block`]; all `P` pixels are interior columns.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn pixels<const K: usize, const P: usize, const S: usize, const MASKED: bool>(
            blk: &Block<K>,
            xoff: usize,
            out: *mut f32,
        ) {
            let mut acc = [zero(); P];
            let columns = (P - 1) * S + K;
            for fy in 0..K {
                if fy < blk.fy0 || fy >= blk.fy1 {
                    continue;
                }
                let q = blk.rowp[fy].wrapping_add(xoff);
                // Columns (P - 1)·S + K <= 19 for P <= 8, S <= 2, K <= 5.
                let mut xs = [zero(); 19];
                for (j, x) in xs.iter_mut().enumerate().take(columns) {
                    // SAFETY: column j is tap j - p·S of some pixel p of the block, inside
                    // the image for an interior pixel.
                    *x = unsafe { load::<MASKED>(q.wrapping_add(j * blk.c), blk.m) };
                }
                for fx in 0..K {
                    let w = blk.w[fy][fx];
                    for (p, a) in acc.iter_mut().enumerate() {
                        *a = fma(xs[p * S + fx], w, *a);
                    }
                }
            }
            for (p, &a) in acc.iter().enumerate() {
                let v = finish(a, blk.bias, blk.lo, blk.hi);
                // SAFETY: pixel p of the block is in this output row.
                unsafe { store::<MASKED>(out.add(p * blk.c), blk.m, v) };
            }
        }
    };
}

/// AVX-512 instantiation.
pub(super) mod avx512 {
    use super::super::vec_f32_x86::w512::*;
    window_kernel!("avx512f");
}

/// AVX2 + FMA instantiation.
pub(super) mod avx2 {
    use super::super::vec_f32_x86::w256::*;
    window_kernel!("avx2,fma");
}
