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
//! loaded once for all the pixels whose window covers it; block sizes are chosen per row length
//! ([`plan`]), and the last block of a row may overlap the previous one and recompute identical
//! values). Border columns take a per-pixel path over their valid taps, with the filter still in
//! registers and the common cut-off patterns as constants. The driver may order the work channel
//! block by channel block over all rows ([`DwWindow::channels_outer`], small maps). Every pixel
//! still sums its valid taps in the scalar kernel's order (row-major over the window) with fused
//! multiply-adds, then adds the bias and clamps (NaN kept, as `clamp_activation` does).
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
    /// Loop over channel blocks outside the rows (filter loaded once per block for all rows;
    /// for small maps) instead of inside them.
    pub channels_outer: bool,
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

/// Pixels per interior block for a run of `span` interior columns of a `k × k` window at
/// horizontal stride `s`, at most `max` (0 if `span == 0`): the size among `max`, 6, 4, 3, 2, 1
/// with the fewest estimated instructions (a block of `p` pixels: `p · k²` multiply-adds,
/// `((p - 1) · s + k) · k` input loads and about 8 for the stores and the loop; the last block
/// may overlap the one before). So 12 columns take two blocks of 6 rather than two overlapping
/// blocks of 8, and 22 take blocks of 4 rather than 11 of 2.
pub(super) fn plan(span: usize, max: usize, k: usize, s: usize) -> usize {
    let mut best = (usize::MAX, 0);
    for p in [max, 6, 4, 3, 2, 1] {
        if p == 0 || p > max || p > span {
            continue;
        }
        let cost = span.div_ceil(p) * (p * k * k + ((p - 1) * s + k) * k + 8);
        if cost < best.0 || (cost == best.0 && p > best.1) {
            best = (cost, p);
        }
    }
    best.1
}

/// The kernel body over the vector operations in scope (`V`, `M`, `LANES`, `PX`, `load`, …).
macro_rules! window_kernel {
    ($feat:literal) => {
        use super::{interior, plan, DwWindow};

        /// Per channel block: filter, bias, clamp bounds and the channel mask.
        struct Block<const K: usize> {
            w: [[V; K]; K],
            bias: V,
            lo: V,
            hi: V,
            m: M,
            c: usize,
            c0: usize,
        }

        /// The window's input rows of one output row at channel `c0`.
        struct Rows<const K: usize> {
            /// Input row of window row `fy` (meaningful for `fy0..fy1`).
            p: [*const f32; K],
            fy0: usize,
            fy1: usize,
        }

        /// Output rows `d.rows` of a `K × K` depthwise conv.
        ///
        /// # Safety
        /// The CPU has the features and `d` satisfies the module contract.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn run<const K: usize>(d: &DwWindow<'_>) {
            let c = d.g.channels;
            let (lo, hi) = interior(&d.ranges.cols, K);
            let max = if d.g.stride.1 == 1 { PX } else { PX_S2 };
            let span = (lo, hi, plan(hi - lo, max, K, d.g.stride.1));
            // SAFETY (both loops): forwarded; every unit is a channel block below c and rows
            // of this call.
            if d.channels_outer {
                for c0 in (0..c).step_by(LANES) {
                    unsafe { unit::<K>(d, c0, d.rows, span) };
                }
            } else {
                for row in d.rows.0..d.rows.1 {
                    for c0 in (0..c).step_by(LANES) {
                        unsafe { unit::<K>(d, c0, (row, row + 1), span) };
                    }
                }
            }
        }

        /// Output rows `rows.0..rows.1` at channels `c0..c0 + LANES` (fewer at the end).
        ///
        /// # Safety
        /// As for [`run`]; `c0 < c`, the rows are among `d.rows`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn unit<const K: usize>(
            d: &DwWindow<'_>,
            c0: usize,
            rows: (usize, usize),
            span: (usize, usize, usize),
        ) {
            let c = d.g.channels;
            let masked = c - c0 < LANES;
            let m = mask(c - c0);
            // SAFETY: filter taps and bias are read at channels c0.. below c (masked when
            // fewer than LANES remain).
            let (w, bias) = unsafe { weights::<K>(d, c0, m, masked) };
            let blk = Block {
                w,
                bias,
                lo: splat(d.min),
                hi: splat(d.max),
                m,
                c,
                c0,
            };
            // SAFETY: forwarded.
            unsafe {
                match (d.g.stride.1 == 1, masked) {
                    (true, false) => rows_block::<K, 1, false>(d, &blk, rows, span),
                    (true, true) => rows_block::<K, 1, true>(d, &blk, rows, span),
                    (false, false) => rows_block::<K, 2, false>(d, &blk, rows, span),
                    (false, true) => rows_block::<K, 2, true>(d, &blk, rows, span),
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

        /// Output rows `rows.0..rows.1` for one channel block (filter kept in registers): per
        /// row, border pixels one by one and the interior columns `lo..hi` in blocks.
        ///
        /// # Safety
        /// As for [`unit`].
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn rows_block<const K: usize, const S: usize, const MASKED: bool>(
            d: &DwWindow<'_>,
            blk: &Block<K>,
            rows: (usize, usize),
            (lo, hi, p): (usize, usize, usize),
        ) {
            let g = &d.g;
            let (c, c0) = (blk.c, blk.c0);
            let cols = &d.ranges.cols;
            for row in rows.0..rows.1 {
                let (b, oy) = (row / g.out_h, row % g.out_h);
                let (y0, fy0, fy1) = d.ranges.rows[oy];
                let img = d.input.wrapping_add(b * g.in_h * g.in_w * c);
                let mut r = Rows {
                    p: [img; K],
                    fy0,
                    fy1,
                };
                for (fy, q) in r.p.iter_mut().enumerate() {
                    if fy >= fy0 && fy < fy1 {
                        let iy = (y0 + (fy * g.dilation.0) as isize) as usize;
                        *q = img.wrapping_add(iy * g.in_w * c + c0);
                    }
                }
                let out = d.output.wrapping_add(row * g.out_w * c + c0);
                for ox in (0..lo).chain(hi..g.out_w) {
                    // SAFETY: a border pixel of this row.
                    unsafe { edge_dispatch::<K, MASKED>(blk, &r, cols[ox], out.add(ox * c)) };
                }
                // SAFETY (every arm): lo..hi are interior columns of this row, at least `p`.
                unsafe {
                    let span = (lo, hi);
                    if p == PX {
                        blocks::<K, PX, S, MASKED>(d, blk, &r, out, span);
                    } else if p == PX_MID {
                        blocks::<K, PX_MID, S, MASKED>(d, blk, &r, out, span);
                    } else if p == 4 {
                        blocks::<K, 4, S, MASKED>(d, blk, &r, out, span);
                    } else if p == 3 {
                        blocks::<K, 3, S, MASKED>(d, blk, &r, out, span);
                    } else if p == 2 {
                        blocks::<K, 2, S, MASKED>(d, blk, &r, out, span);
                    } else if p == 1 {
                        blocks::<K, 1, S, MASKED>(d, blk, &r, out, span);
                    }
                }
            }
        }

        /// [`edge`] with the valid columns as constants for the common border cases (one or
        /// two columns cut off on either side), so its loops unroll.
        ///
        /// # Safety
        /// As for [`edge`].
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn edge_dispatch<const K: usize, const MASKED: bool>(
            blk: &Block<K>,
            r: &Rows<K>,
            (x0, fx0, fx1): (isize, usize, usize),
            out: *mut f32,
        ) {
            let t = (x0, fx0, fx1);
            // SAFETY (every arm): forwarded; the constants equal the runtime range.
            unsafe {
                match (fx0, K - fx1) {
                    (1, 0) => edge::<K, MASKED, 1, 0>(blk, r, t, out),
                    (0, 1) => edge::<K, MASKED, 0, 1>(blk, r, t, out),
                    (2, 0) => edge::<K, MASKED, 2, 0>(blk, r, t, out),
                    (0, 2) => edge::<K, MASKED, 0, 2>(blk, r, t, out),
                    _ => edge::<K, MASKED, { usize::MAX }, 0>(blk, r, t, out),
                }
            }
        }

        /// One border pixel whose window starts at input column `x0` and has the valid
        /// columns `fx0..fx1` (`CUT_L`, `CUT_R`: the same as `fx0`, `K - fx1` when `CUT_L` is
        /// not `usize::MAX`): its valid taps in row-major order, filter from registers.
        ///
        /// # Safety
        /// As for [`rows_block`]; `out` is the pixel's output at channel `c0`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn edge<
            const K: usize,
            const MASKED: bool,
            const CUT_L: usize,
            const CUT_R: usize,
        >(
            blk: &Block<K>,
            r: &Rows<K>,
            (x0, fx0, fx1): (isize, usize, usize),
            out: *mut f32,
        ) {
            let (fx0, fx1) = if CUT_L == usize::MAX {
                (fx0, fx1)
            } else {
                (CUT_L, K - CUT_R)
            };
            let mut acc = zero();
            for fy in 0..K {
                if fy < r.fy0 || fy >= r.fy1 {
                    continue;
                }
                for fx in 0..K {
                    if fx < fx0 || fx >= fx1 {
                        continue;
                    }
                    let ix = (x0 + fx as isize) as usize;
                    // SAFETY: (fy, fx) is a valid tap: its input column is inside the image.
                    let x = unsafe { load::<MASKED>(r.p[fy].add(ix * blk.c), blk.m) };
                    acc = fma(x, blk.w[fy][fx], acc);
                }
            }
            let v = finish(acc, blk.bias, blk.lo, blk.hi);
            // SAFETY: forwarded.
            unsafe { store::<MASKED>(out, blk.m, v) };
        }

        /// Interior columns `lo..hi` (at least `P`) in blocks of `P` pixels; the last block
        /// may overlap the one before it (the same values are written twice).
        ///
        /// # Safety
        /// As for [`rows_block`]; `lo..hi` are interior columns.
        #[target_feature(enable = $feat)]
        #[inline(never)]
        unsafe fn blocks<const K: usize, const P: usize, const S: usize, const MASKED: bool>(
            d: &DwWindow<'_>,
            blk: &Block<K>,
            r: &Rows<K>,
            out: *mut f32,
            (lo, hi): (usize, usize),
        ) {
            let c = blk.c;
            let mut ox = lo;
            while ox < hi {
                let ox0 = ox.min(hi - P);
                let xoff = (d.ranges.cols[ox0].0 as usize) * c;
                // SAFETY: pixels ox0..ox0 + P are interior columns of this row.
                unsafe { pixels::<K, P, S, MASKED>(blk, r, xoff, out.add(ox0 * c)) };
                ox += P;
            }
        }

        /// `P` adjacent interior pixels with horizontal stride `S` (dilation 1): `xoff` is the
        /// first one's leftmost input column (in elements from the row start), `out` its
        /// output. Each input column of a window row is loaded once and multiplied into every
        /// pixel whose window covers it; per pixel, taps are still added in row-major order.
        ///
        /// # Safety
        /// As for [`rows_block`]; all `P` pixels are interior columns.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn pixels<const K: usize, const P: usize, const S: usize, const MASKED: bool>(
            blk: &Block<K>,
            r: &Rows<K>,
            xoff: usize,
            out: *mut f32,
        ) {
            let mut acc = [zero(); P];
            let columns = (P - 1) * S + K;
            for fy in 0..K {
                if fy < r.fy0 || fy >= r.fy1 {
                    continue;
                }
                let q = r.p[fy].wrapping_add(xoff);
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

#[cfg(test)]
mod tests {
    use super::plan;

    #[test]
    fn plan_prefers_even_splits_and_large_blocks() {
        assert_eq!(plan(0, 8, 3, 1), 0);
        assert_eq!(plan(1, 8, 3, 1), 1);
        assert_eq!(plan(3, 8, 3, 1), 3);
        assert_eq!(plan(6, 8, 3, 1), 6);
        // Two blocks of 6, not two overlapping blocks of 8.
        assert_eq!(plan(12, 8, 3, 1), 6);
        assert_eq!(plan(24, 8, 3, 1), 8);
        // Blocks of 4 (one overlap), not eleven blocks of 2.
        assert_eq!(plan(22, 4, 3, 1), 4);
        // Never above the maximum or the span.
        for span in 0..40 {
            for max in [3, 4, 8] {
                let p = plan(span, max, 3, 2);
                assert!(
                    p <= max && p <= span && (span == 0) == (p == 0),
                    "{span} {max} {p}"
                );
            }
        }
    }
}
