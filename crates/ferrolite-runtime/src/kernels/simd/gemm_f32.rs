//! Packed f32 GEMM and the CONV_2D / FULLY_CONNECTED drivers built on it.
//!
//! The product is always `C[m × n] = clamp(A[m × k] · Wᵀ + bias)`: `A` holds one output pixel
//! (or batch row) per row and `W` is TFLite's filter as stored, one output channel per row of `k`
//! values (OHWI flattened). `W` is packed per call into column panels ([`pack_w`]) in a per-thread
//! scratch buffer; `A` is read in place for 1x1 stride-1 convolutions and FULLY_CONNECTED, and
//! gathered block by block (im2col, zeros for padding) otherwise. Grouped convolutions run one
//! GEMM per group. A matrix-vector product (one or two batch rows) skips packing and runs dot
//! products straight over `W`'s rows.
//!
//! The drivers return `false` when they have no fast path for the level (scalar), so the caller
//! runs its reference loop instead. Results differ from the scalar loops only by summation order
//! (FMA, blocked partial sums).

use super::im2col::{patch_row, with_tap_ranges, PatchGeometry, PixelPos};
use super::{with_f32_scratch, Level};
use crate::kernels::common::compute_padding;
use crate::kernels::conv::Conv2DParams;

#[cfg(target_arch = "x86_64")]
use super::f32_x86;

/// Vectors per panel (`NV`) for an `n`-column product at `level`.
fn vectors_per_panel(level: Level, n: usize) -> usize {
    match level {
        Level::Avx512 if n > 16 => 2,
        Level::Avx2 if n > 8 => 2,
        _ => 1,
    }
}

/// Columns per packed panel at `level` for an `n`-column product.
pub fn panel_width(level: Level, n: usize) -> usize {
    let lanes = match level {
        Level::Avx512 => 16,
        Level::Avx2 | Level::Scalar => 8,
    };
    vectors_per_panel(level, n) * lanes
}

/// Length of the packed form of an `n × k` matrix ([`pack_w`]).
pub fn packed_len(level: Level, n: usize, k: usize) -> usize {
    let nr = panel_width(level, n);
    n.div_ceil(nr) * nr * k
}

/// Packs the `n × k` matrix `w` (row stride `ldw`) into panels of [`panel_width`] columns: panel
/// `p` holds, for each `kk`, `w[p·nr + c][kk]` for `c < nr`, zero past row `n`.
pub fn pack_w(level: Level, w: &[f32], ldw: usize, n: usize, k: usize, out: &mut [f32]) {
    let nr = panel_width(level, n);
    let out = &mut out[..packed_len(level, n, k)];
    for (p, panel) in out.chunks_exact_mut(nr * k).enumerate() {
        let rows = nr.min(n - p * nr);
        let src = &w[p * nr * ldw..];
        // Contiguous writes, `rows` interleaved sequential reads.
        for (kk, dst) in panel.chunks_exact_mut(nr).enumerate() {
            for (c, d) in dst[..rows].iter_mut().enumerate() {
                *d = src[c * ldw + kk];
            }
            dst[rows..].fill(0.0);
        }
    }
}

/// Bias and clamp applied in the GEMM's store.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// One value per output column, added before the clamp.
    pub bias: Option<&'a [f32]>,
    /// Lower clamp bound.
    pub min: f32,
    /// Upper clamp bound.
    pub max: f32,
}

fn clamp(x: f32, min: f32, max: f32) -> f32 {
    crate::kernels::common::clamp_activation(x, min, max)
}

/// `C = clamp(A · Wᵀ + bias)` with `W` packed by [`pack_w`] at the same `level` and `n`.
///
/// `a` holds `m` rows of `k` values at stride `lda`; `c` receives `m` rows of `n` values at
/// stride `ldc`. Panics if a slice is too short for the stated shapes.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed(
    level: Level,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    lda: usize,
    packed: &[f32],
    epi: Epilogue<'_>,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && ldc >= n, "gemm strides too small");
    assert!(a.len() >= (m - 1) * lda + k, "gemm lhs too short");
    assert!(c.len() >= (m - 1) * ldc + n, "gemm output too short");
    assert!(
        packed.len() >= packed_len(level, n, k),
        "packed rhs too short"
    );
    if let Some(b) = epi.bias {
        assert!(b.len() >= n, "gemm bias too short");
    }
    #[cfg(target_arch = "x86_64")]
    if level != Level::Scalar {
        let g = f32_x86::Gemm {
            m,
            n,
            k,
            a: a.as_ptr(),
            lda,
            b: packed.as_ptr(),
            bias: epi.bias.map_or(std::ptr::null(), |b| b.as_ptr()),
            min: epi.min,
            max: epi.max,
            c: c.as_mut_ptr(),
            ldc,
            trans: false,
        };
        let nv = vectors_per_panel(level, n);
        // SAFETY: the asserts above establish f32_x86's length contract and `level` was
        // detected at run time (or capped below what was detected).
        unsafe {
            match (level, nv) {
                (Level::Avx512, 1) => f32_x86::gemm_avx512::<1, 12>(g),
                (Level::Avx512, _) => f32_x86::gemm_avx512::<2, 8>(g),
                (_, 1) => f32_x86::gemm_avx2::<1, 8>(g),
                _ => f32_x86::gemm_avx2::<2, 6>(g),
            }
        }
        return;
    }
    let nr = panel_width(level, n);
    for i in 0..m {
        for j in 0..n {
            let panel = &packed[(j / nr) * nr * k..];
            let mut acc = 0.0f32;
            for kk in 0..k {
                acc += a[i * lda + kk] * panel[kk * nr + j % nr];
            }
            let bias = epi.bias.map_or(0.0, |b| b[j]);
            c[i * ldc + j] = clamp(acc + bias, epi.min, epi.max);
        }
    }
}

/// Whether `C = A · Wᵀ` with `m` rows, `n` columns and depth `k` is cheaper with `A` packed
/// and a transposed store ([`gemm_packed_trans`]) than with `W` packed: a rough count of packed
/// elements, multiply-adds (including padded lanes) and scattered stores.
fn prefer_transposed(level: Level, (m, n, k): (usize, usize, usize)) -> bool {
    if m > 256 {
        return false;
    }
    let lanes = panel_width(level, 1);
    let per_cycle = 2 * lanes;
    let (nr, mr) = (panel_width(level, n), panel_width(level, m));
    let normal = n * k + n.div_ceil(nr) * nr * m * k / per_cycle;
    let trans = m * k + m.div_ceil(mr) * mr * n * k / per_cycle + m * n;
    trans < normal
}

/// `C = clamp(A · Wᵀ + bias)` (`m` rows, `n` columns) with `A` packed by [`pack_w`] as an
/// `m × k` matrix and `W` (`n` rows of `k` at stride `ldw`) read in place; the bias is per
/// column of `C`. Panics if a slice is too short for the stated shapes.
#[allow(clippy::too_many_arguments)]
pub fn gemm_packed_trans(
    level: Level,
    (m, n, k): (usize, usize, usize),
    w: &[f32],
    ldw: usize,
    packed_a: &[f32],
    epi: Epilogue<'_>,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldw >= k && ldc >= n, "gemm strides too small");
    assert!(w.len() >= (n - 1) * ldw + k, "gemm weights too short");
    assert!(c.len() >= (m - 1) * ldc + n, "gemm output too short");
    assert!(
        packed_a.len() >= packed_len(level, m, k),
        "packed lhs too short"
    );
    assert!(
        ldc.saturating_mul(panel_width(level, m)) < i32::MAX as usize,
        "gemm output stride too large"
    );
    if let Some(b) = epi.bias {
        assert!(b.len() >= n, "gemm bias too short");
    }
    #[cfg(target_arch = "x86_64")]
    if level != Level::Scalar {
        let g = f32_x86::Gemm {
            m: n,
            n: m,
            k,
            a: w.as_ptr(),
            lda: ldw,
            b: packed_a.as_ptr(),
            bias: epi.bias.map_or(std::ptr::null(), |b| b.as_ptr()),
            min: epi.min,
            max: epi.max,
            c: c.as_mut_ptr(),
            ldc,
            trans: true,
        };
        // SAFETY: the asserts above establish f32_x86's contract for the transposed store and
        // `level` was detected at run time.
        unsafe {
            match (level, vectors_per_panel(level, m)) {
                (Level::Avx512, 1) => f32_x86::gemm_avx512::<1, 12>(g),
                (Level::Avx512, _) => f32_x86::gemm_avx512::<2, 8>(g),
                (_, 1) => f32_x86::gemm_avx2::<1, 8>(g),
                _ => f32_x86::gemm_avx2::<2, 6>(g),
            }
        }
        return;
    }
    let mr = panel_width(level, m);
    for i in 0..m {
        let panel = &packed_a[(i / mr) * mr * k..];
        for j in 0..n {
            let mut acc = 0.0f32;
            for kk in 0..k {
                acc += panel[kk * mr + i % mr] * w[j * ldw + kk];
            }
            let bias = epi.bias.map_or(0.0, |b| b[j]);
            c[i * ldc + j] = clamp(acc + bias, epi.min, epi.max);
        }
    }
}

/// `y[u] = clamp(x · w[u] + bias[u])` for the `n` rows of `w` (stride `ldw`), without packing.
fn gemv(
    level: Level,
    k: usize,
    x: &[f32],
    w: &[f32],
    ldw: usize,
    epi: Epilogue<'_>,
    y: &mut [f32],
) {
    let n = y.len();
    if n == 0 {
        return;
    }
    assert!(
        x.len() >= k && ldw >= k && w.len() >= (n - 1) * ldw + k,
        "gemv too short"
    );
    if let Some(b) = epi.bias {
        assert!(b.len() >= n, "gemv bias too short");
    }
    #[cfg(target_arch = "x86_64")]
    if level != Level::Scalar {
        let bias = epi.bias.map_or(std::ptr::null(), |b| b.as_ptr());
        let (xp, wp, yp) = (x.as_ptr(), w.as_ptr(), y.as_mut_ptr());
        // SAFETY: lengths checked above; the level was detected at run time.
        unsafe {
            if level == Level::Avx512 {
                f32_x86::gemv_avx512(k, xp, wp, ldw, n, bias, epi.min, epi.max, yp);
            } else {
                f32_x86::gemv_avx2(k, xp, wp, ldw, n, bias, epi.min, epi.max, yp);
            }
        }
        return;
    }
    let _ = level;
    for (u, out) in y.iter_mut().enumerate() {
        let acc = crate::kernels::common::dot_acc(0.0, &x[..k], &w[u * ldw..u * ldw + k]);
        *out = clamp(acc + epi.bias.map_or(0.0, |b| b[u]), epi.min, epi.max);
    }
}

/// FULLY_CONNECTED: `output[b] = clamp(input[b] · weightsᵀ + bias)` for every batch row.
/// Returns `false` (doing nothing) at the scalar level.
pub fn fully_connected(
    level: Level,
    input: &[f32],
    weights: &[f32],
    [units, depth]: [usize; 2],
    epi: Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    if level == Level::Scalar {
        return false;
    }
    if units == 0 || depth == 0 {
        return true;
    }
    let batches = (input.len() / depth).min(output.len() / units);
    if batches <= 2 {
        for (x, y) in input
            .chunks_exact(depth)
            .zip(output.chunks_exact_mut(units))
        {
            gemv(level, depth, x, weights, depth, epi, y);
        }
        return true;
    }
    let dims = (batches, units, depth);
    if prefer_transposed(level, dims) {
        with_f32_scratch(packed_len(level, batches, depth), 0, |packed, _| {
            pack_w(level, input, depth, batches, depth, packed);
            gemm_packed_trans(level, dims, weights, depth, packed, epi, output, units);
        });
        return true;
    }
    with_f32_scratch(packed_len(level, units, depth), 0, |packed, _| {
        pack_w(level, weights, depth, units, depth, packed);
        gemm_packed(level, dims, input, depth, packed, epi, output, units);
    });
    true
}

/// Output pixels gathered per im2col block for a `k`-wide patch (about 64 KiB of patches).
fn block_rows(k: usize) -> usize {
    ((16 * 1024) / k.max(1)).clamp(24, 480) / 24 * 24
}

/// CONV_2D (shapes as accepted by `conv2d_output_shape`) through GEMM. Returns `false` (doing
/// nothing) at the scalar level.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
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
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, filter_in] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(params.padding, in_h, fh, params.stride_h, params.dilation_h);
    let (_, pad_w) = compute_padding(params.padding, in_w, fw, params.stride_w, params.dilation_w);
    let groups = in_c / filter_in;
    let fpg = out_c / groups;
    let k = fh * fw * filter_in;
    let pixels = batches * out_h * out_w;
    let pointwise = fh == 1
        && fw == 1
        && params.stride_h == 1
        && params.stride_w == 1
        && pad_h == 0
        && pad_w == 0
        && out_h == in_h
        && out_w == in_w;
    let trans = pointwise && prefer_transposed(level, (pixels, fpg, k));
    let mc = if pointwise { pixels } else { block_rows(k) };
    let patch_len = if pointwise { 0 } else { mc * k };
    let packed_size = if trans {
        packed_len(level, mc.min(pixels), k)
    } else {
        packed_len(level, fpg, k)
    };
    let geo = PatchGeometry {
        in_h,
        in_w,
        in_c,
        fh,
        fw,
        depth: filter_in,
        stride: (params.stride_h, params.stride_w),
        dilation: (params.dilation_h, params.dilation_w),
        pad: (pad_h, pad_w),
        out_h,
        out_w,
    };
    with_tap_ranges(&geo, |taps| {
        with_f32_scratch(packed_size, patch_len, |packed, patches| {
            for g in 0..groups {
                let w = &filter[g * fpg * k..(g + 1) * fpg * k];
                if !trans {
                    pack_w(level, w, k, fpg, k, packed);
                }
                let bias = epi.bias.map(|b| &b[g * fpg..(g + 1) * fpg]);
                let epi = Epilogue { bias, ..epi };
                let out = &mut output[g * fpg..];
                let mut p0 = 0;
                while p0 < pixels {
                    let rows = mc.min(pixels - p0);
                    let (a, lda): (&[f32], usize) = if pointwise {
                        (&input[g * filter_in..], in_c)
                    } else {
                        let mut pos = PixelPos::at(&geo, p0);
                        for patch in patches.chunks_exact_mut(k).take(rows) {
                            patch_row(&geo, taps, input, pos, g * filter_in, patch, 0.0, |v| v);
                            pos.advance(&geo);
                        }
                        (&patches[..], k)
                    };
                    let c = &mut out[p0 * out_c..];
                    if trans {
                        pack_w(level, a, lda, rows, k, packed);
                        gemm_packed_trans(level, (rows, fpg, k), w, k, packed, epi, c, out_c);
                    } else {
                        gemm_packed(level, (rows, fpg, k), a, lda, packed, epi, c, out_c);
                    }
                    p0 += rows;
                }
            }
        })
    });
    true
}
