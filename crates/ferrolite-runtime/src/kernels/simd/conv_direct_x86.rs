//! x86-64 direct CONV_2D micro-kernels for few input channels (see [`super::conv_direct`]);
//! AVX-512 and AVX2 + FMA bodies generated from one macro over [`super::vec_f32_x86`].
//!
//! Per output row and block of output channels (one vector), border pixels walk their valid
//! taps one at a time; interior pixels (window inside the image horizontally) run four at a
//! time, so every filter vector loaded feeds four pixels and `4 · C` independent accumulator
//! chains (one per pixel and input channel) keep the multiply-add units busy. Each input value
//! is broadcast from memory against the filter vector of its tap and channel; the per-channel
//! sums are added at the end, then the bias and the clamp (NaN kept). The last block of a row
//! may overlap the one before it and recompute identical values.
//!
//! Contract: the CPU has the named features; `input` holds the whole NHWC input of `g`, `wt`
//! the `(fh · fw · C) × n` transposed filter, `bias` (if non-null) `n` values, `output` the whole
//! NHWC output of `g` with `n` channels; `g.channels == C`; `ranges` were computed for `g`; the
//! output rows `rows.0..rows.1` (flat over batch and y) exist.

use super::dwconv_f32::DwGeometry;
use super::im2col::TapRanges;

/// Operands of a direct conv tile.
pub(super) struct Direct<'a> {
    pub g: DwGeometry,
    pub ranges: &'a TapRanges,
    pub input: *const f32,
    /// Filter transposed to `[(fy, fx, ci)][n]`.
    pub wt: *const f32,
    /// Output channels.
    pub n: usize,
    pub bias: *const f32,
    pub min: f32,
    pub max: f32,
    pub output: *mut f32,
    /// Output rows computed, flat over batch and y.
    pub rows: (usize, usize),
}

/// Interior pixels computed together.
const P: usize = 4;

/// The kernel body over the vector operations in scope (`V`, `M`, `LANES`, `load`, …).
macro_rules! direct_kernel {
    ($feat:literal) => {
        use super::super::dw_window_x86::interior;
        use super::{Direct, P};

        /// Per row and output-channel block.
        struct Block {
            /// Image of this row's batch.
            img: *const f32,
            y0: isize,
            fy0: usize,
            fy1: usize,
            n0: usize,
            m: M,
            bias: V,
            lo: V,
            hi: V,
        }

        /// Output rows `d.rows` of a direct conv over `C` input channels.
        ///
        /// # Safety
        /// The CPU has the features and `d` satisfies the module contract.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn run<const C: usize>(d: &Direct<'_>) {
            let g = &d.g;
            let n = d.n;
            let (lo, hi) = interior(&d.ranges.cols, g.fw);
            for row in d.rows.0..d.rows.1 {
                let (b, oy) = (row / g.out_h, row % g.out_h);
                let (y0, fy0, fy1) = d.ranges.rows[oy];
                let out_row = d.output.wrapping_add(row * g.out_w * n);
                let mut n0 = 0;
                while n0 < n {
                    let masked = n - n0 < LANES;
                    let m = mask(n - n0);
                    let bias = if d.bias.is_null() {
                        zero()
                    } else {
                        // SAFETY: bias lanes below n only.
                        unsafe { load::<true>(d.bias.add(n0), m) }
                    };
                    let blk = Block {
                        img: d.input.wrapping_add(b * g.in_h * g.in_w * C),
                        y0,
                        fy0,
                        fy1,
                        n0,
                        m,
                        bias,
                        lo: splat(d.min),
                        hi: splat(d.max),
                    };
                    let out = out_row.wrapping_add(n0);
                    // SAFETY: pixels of this row, channels below n, valid taps only.
                    unsafe {
                        if masked {
                            row_block::<C, true>(d, &blk, out, (lo, hi));
                        } else {
                            row_block::<C, false>(d, &blk, out, (lo, hi));
                        }
                    }
                    n0 += LANES;
                }
            }
        }

        /// One output row for one channel block.
        ///
        /// # Safety
        /// As for [`run`]; `out` is the output row at channel `n0`; without `MASKED`, a whole
        /// vector of channels from `n0` exists.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn row_block<const C: usize, const MASKED: bool>(
            d: &Direct<'_>,
            blk: &Block,
            out: *mut f32,
            (lo, hi): (usize, usize),
        ) {
            let g = &d.g;
            for ox in (0..lo).chain(hi..g.out_w) {
                let (x0, fx0, fx1) = d.ranges.cols[ox];
                // SAFETY: the pixel's valid taps, output pixel ox of this row.
                unsafe { pixels::<C, 1, MASKED>(d, blk, x0, (fx0, fx1), out.add(ox * d.n)) };
            }
            if hi - lo >= P {
                let mut ox = lo;
                while ox < hi {
                    let ox0 = ox.min(hi - P);
                    let x0 = d.ranges.cols[ox0].0;
                    // SAFETY: pixels ox0..ox0 + P are interior columns of this row.
                    unsafe { pixels::<C, P, MASKED>(d, blk, x0, (0, g.fw), out.add(ox0 * d.n)) };
                    ox += P;
                }
            } else {
                for ox in lo..hi {
                    let x0 = d.ranges.cols[ox].0;
                    // SAFETY: an interior column of this row.
                    unsafe { pixels::<C, 1, MASKED>(d, blk, x0, (0, g.fw), out.add(ox * d.n)) };
                }
            }
        }

        /// `Q` pixels, horizontally adjacent in the output, the first with window origin
        /// column `x0`, all using window columns `fx0..fx1`.
        ///
        /// # Safety
        /// As for [`row_block`]; the window columns `fx0..fx1` of every pixel are inside the
        /// image.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn pixels<const C: usize, const Q: usize, const MASKED: bool>(
            d: &Direct<'_>,
            blk: &Block,
            x0: isize,
            (fx0, fx1): (usize, usize),
            out: *mut f32,
        ) {
            let g = &d.g;
            let n = d.n;
            let pstep = g.stride.1 * C;
            let mut acc = [[zero(); C]; Q];
            for fy in blk.fy0..blk.fy1 {
                let iy = (blk.y0 + (fy * g.dilation.0) as isize) as usize;
                for fx in fx0..fx1 {
                    let ix = (x0 + (fx * g.dilation.1) as isize) as usize;
                    let q = blk.img.wrapping_add((iy * g.in_w + ix) * C);
                    let t = (fy * g.fw + fx) * C;
                    for ci in 0..C {
                        // SAFETY: row t + ci of the transposed filter, lanes below n.
                        let w = unsafe { load::<MASKED>(d.wt.add((t + ci) * n + blk.n0), blk.m) };
                        for (p, a) in acc.iter_mut().enumerate() {
                            // SAFETY: channel ci of tap (fy, fx) of pixel p, inside the image.
                            let x = splat(unsafe { *q.add(p * pstep + ci) });
                            a[ci] = fma(x, w, a[ci]);
                        }
                    }
                }
            }
            for (p, a) in acc.iter().enumerate() {
                let mut s = a[0];
                for &v in &a[1..] {
                    s = add(s, v);
                }
                let v = finish(s, blk.bias, blk.lo, blk.hi);
                // SAFETY: output pixel p of the block, lanes below n.
                unsafe { store::<MASKED>(out.add(p * n), blk.m, v) };
            }
        }
    };
}

/// AVX-512 instantiation.
pub(super) mod avx512 {
    use super::super::vec_f32_x86::w512::*;
    direct_kernel!("avx512f");
}

/// AVX2 + FMA instantiation.
pub(super) mod avx2 {
    use super::super::vec_f32_x86::w256::*;
    direct_kernel!("avx2,fma");
}
