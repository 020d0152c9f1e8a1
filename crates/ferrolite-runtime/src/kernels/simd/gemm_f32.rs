//! Packed f32 GEMM: `C[m × n] = clamp(A[m × k] · Wᵀ + bias)`.
//!
//! `A` holds one output pixel (or batch row) per row and `W` is TFLite's filter as stored, one
//! output channel per row of `k` values (OHWI flattened). `W` is packed into column panels
//! ([`pack_w`]) — once at prepare time for constant weights, per call otherwise — and `A` is read
//! in place. [`gemm_packed_trans`] is the mirrored product for few output rows (`A` packed, `W`
//! in place, transposed store) and [`gemv`] the unpacked matrix-vector product. The CONV_2D and
//! FULLY_CONNECTED drivers built on these live in [`super::conv_f32`] (re-exported here).
//!
//! Results differ from the scalar loops only by summation order (FMA, blocked partial sums); a
//! given output element is computed the same way whatever column or row range it is part of.

use super::Level;

pub use super::conv_f32::{conv2d, fully_connected};

#[cfg(target_arch = "aarch64")]
use super::f32_neon;
#[cfg(target_arch = "x86_64")]
use super::f32_x86;

/// Vectors per panel (`NV`) for an `n`-column product at `level`.
pub(super) fn vectors_per_panel(level: Level, n: usize) -> usize {
    match level {
        // 33..=48 columns fit one 3-vector panel instead of two 2-vector ones.
        Level::Avx512 if (33..=48).contains(&n) => 3,
        Level::Avx512 if n > 16 => 2,
        Level::Avx2 if n > 8 => 2,
        _ => 1,
    }
}

/// Columns per packed panel at `level` for an `n`-column product.
pub fn panel_width(level: Level, n: usize) -> usize {
    let lanes = match level {
        Level::Avx512 => 16,
        Level::Avx2 | Level::Neon | Level::Scalar => 8,
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
    dims: (usize, usize, usize),
    a: &[f32],
    lda: usize,
    packed: &[f32],
    epi: Epilogue<'_>,
    c: &mut [f32],
    ldc: usize,
) {
    let nv = vectors_per_panel(level, dims.1);
    gemm_packed_nv(level, nv, dims, a, lda, packed, epi, c, ldc);
}

/// Shape and operands of one GEMM call handed to an architecture's micro-kernels (raw pointers;
/// `f32_x86` and `f32_neon` state the length contract the safe drivers below establish).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[derive(Clone, Copy)]
pub(super) struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: *const f32,
    pub lda: usize,
    pub b: *const f32,
    pub bias: *const f32,
    pub min: f32,
    pub max: f32,
    pub c: *mut f32,
    pub ldc: usize,
    /// Transposed store with per-row bias.
    pub trans: bool,
}

/// [`gemm_packed`] with the panel width given as `nv` vectors (so a column range of a product
/// packed for a wider `n` can be computed on its own: `packed` then starts at the range's
/// first panel and `n` is the range's width).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_packed_nv(
    level: Level,
    nv: usize,
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
    let nr = nv * panel_width(level, 1);
    assert!(lda >= k && ldc >= n, "gemm strides too small");
    assert!(a.len() >= (m - 1) * lda + k, "gemm lhs too short");
    assert!(c.len() >= (m - 1) * ldc + n, "gemm output too short");
    assert!(
        packed.len() >= n.div_ceil(nr) * nr * k,
        "packed rhs too short"
    );
    if let Some(b) = epi.bias {
        assert!(b.len() >= n, "gemm bias too short");
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    let g = Gemm {
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
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon {
        // SAFETY: the asserts above establish f32_neon's length contract (nr = 8 at Neon).
        unsafe { f32_neon::gemm(g) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if level != Level::Scalar {
        // SAFETY: the asserts above establish f32_x86's length contract and `level` was
        // detected at run time (or capped below what was detected).
        unsafe {
            match (level, nv) {
                (Level::Avx512, 1) => f32_x86::gemm_avx512::<1, 12>(g),
                (Level::Avx512, 3) => f32_x86::gemm_avx512::<3, 8>(g),
                (Level::Avx512, _) => f32_x86::gemm_avx512::<2, 8>(g),
                (_, 1) => f32_x86::gemm_avx2::<1, 8>(g),
                _ => f32_x86::gemm_avx2::<2, 6>(g),
            }
        }
        return;
    }
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
pub(super) fn prefer_transposed(
    level: Level,
    (m, n, k): (usize, usize, usize),
    prepacked: bool,
) -> bool {
    if m > 256 {
        return false;
    }
    let lanes = panel_width(level, 1);
    let per_cycle = 2 * lanes;
    let (nr, mr) = (panel_width(level, n), panel_width(level, m));
    let packing = if prepacked { 0 } else { n * k };
    let normal = packing + n.div_ceil(nr) * nr * m * k / per_cycle;
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
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    let g = Gemm {
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
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon {
        // SAFETY: the asserts above establish f32_neon's contract for the transposed store.
        unsafe { f32_neon::gemm(g) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if level != Level::Scalar {
        // SAFETY: the asserts above establish f32_x86's contract for the transposed store and
        // `level` was detected at run time.
        unsafe {
            match (level, vectors_per_panel(level, m)) {
                (Level::Avx512, 1) => f32_x86::gemm_avx512::<1, 12>(g),
                (Level::Avx512, 3) => f32_x86::gemm_avx512::<3, 8>(g),
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
pub(super) fn gemv(
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
    #[cfg(target_arch = "aarch64")]
    if level == Level::Neon {
        let bias = epi.bias.map_or(std::ptr::null(), |b| b.as_ptr());
        let (xp, wp, yp) = (x.as_ptr(), w.as_ptr(), y.as_mut_ptr());
        // SAFETY: lengths checked above.
        unsafe { f32_neon::gemv(k, xp, wp, ldw, n, bias, (epi.min, epi.max), yp) };
        return;
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
