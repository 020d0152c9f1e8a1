//! Operand preparation for the integer GEMM: weight packing, activation gathering (rows or
//! im2col patches), the per-column zero-point corrections, block sizing and narrowing of
//! requantized rows, all generic over the 8-bit storage types.
//!
//! These loops run inside the drivers' `#[target_feature]` wrappers (they are
//! `#[inline(always)]`), so the compiler vectorizes the type conversions with AVX2 / AVX-512
//! rather than the SSE2 baseline.

use super::im2col::{patch_row, PatchGeometry, PixelPos, TapRanges};
use crate::kernels::quant::QuantElem;

/// `sx` for an activation type (`None` if it is not an 8-bit type).
pub(super) fn activation_shift<Q: QuantElem>() -> Option<i32> {
    match (Q::MIN, Q::MAX) {
        (-128, 127) => Some(128),
        (0, 255) => Some(0),
        _ => None,
    }
}

/// Storage of packed operands (`u8`/`i8` for VNNI, `i16` for AVX2).
pub(super) trait Lane: Copy + Default {
    fn from_i32(v: i32) -> Self;
    fn to_i32(self) -> i32;
}

macro_rules! lane {
    ($t:ty) => {
        impl Lane for $t {
            #[inline(always)]
            fn from_i32(v: i32) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_i32(self) -> i32 {
                i32::from(self)
            }
        }
    };
}
lane!(u8);
lane!(i8);
lane!(i16);

/// Packs `n` weight rows of `k` values (row stride `ldw`) as `ws = w - sw` into panels of `nr`
/// columns and groups of `G` consecutive `k`, zero padded; also returns each column's `Σ ws`.
/// `tmp` is scratch: each row is widened contiguously first (a vectorizable loop), then its
/// groups are copied to their strided places.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn pack_b<W: QuantElem, L: Lane, const G: usize>(
    w: &[W],
    ldw: usize,
    (n, k, kp): (usize, usize, usize),
    sw: i32,
    nr: usize,
    out: &mut Vec<L>,
    colsum: &mut Vec<i32>,
    tmp: &mut Vec<L>,
) {
    let panels = n.div_ceil(nr);
    out.clear();
    out.resize(panels * nr * kp, L::default());
    colsum.clear();
    colsum.resize(n, 0);
    if tmp.len() < kp {
        tmp.resize(kp, L::default());
    }
    let tmp = &mut tmp[..kp];
    let stride = nr * G;
    for (col, sum) in colsum.iter_mut().enumerate() {
        *sum = widen_row(&w[col * ldw..col * ldw + k], sw, tmp);
        let panel = &mut out[(col / nr) * nr * kp..(col / nr + 1) * nr * kp];
        let dst = &mut panel[(col % nr) * G..];
        for (q, group) in tmp.chunks_exact(G).enumerate() {
            dst[q * stride..q * stride + G].copy_from_slice(group);
        }
    }
}

/// Where the activation rows come from.
#[derive(Clone, Copy)]
pub(super) enum Source<'a, T> {
    /// Row `p` is `x[p · ld + off ..][..k]`.
    Rows { x: &'a [T], ld: usize, off: usize },
    /// Row `p` is output pixel `p`'s receptive field (im2col) over channels `off..off + depth`.
    Patches {
        input: &'a [T],
        geo: &'a PatchGeometry,
        taps: &'a TapRanges,
        off: usize,
    },
}

/// Writes activation rows `p0..p0 + rows` as `xu = x + sx` (`pad_xu` for padding taps, zero past
/// `k`) at stride `kp` into `a`; when `rowsum` is given, also each row's `Σ xu`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn gather<T: QuantElem, L: Lane>(
    src: Source<'_, T>,
    p0: usize,
    rows: usize,
    (k, kp): (usize, usize),
    sx: i32,
    pad_xu: i32,
    a: &mut [L],
    mut rowsum: Option<&mut [i32]>,
) {
    if let Source::Rows { x, ld, off: 0 } = src {
        if ld == k && kp == k && rowsum.is_none() {
            // Contiguous rows without padding: one flat conversion.
            let xs = &x[p0 * k..(p0 + rows) * k];
            for (d, v) in a[..rows * k].iter_mut().zip(xs) {
                *d = L::from_i32(v.to_i32() + sx);
            }
            return;
        }
    }
    let mut finish = |r: usize, row: &mut [L]| {
        row[k..].fill(L::default());
        if let Some(sums) = rowsum.as_deref_mut() {
            sums[r] = row[..k]
                .iter()
                .fold(0i32, |s, v| s.wrapping_add(v.to_i32()));
        }
    };
    let rows_out = a.chunks_exact_mut(kp).take(rows).enumerate();
    match src {
        Source::Rows { x, ld, off } => {
            for (r, row) in rows_out {
                let p = p0 + r;
                let xs = &x[p * ld + off..p * ld + off + k];
                for (d, v) in row.iter_mut().zip(xs) {
                    *d = L::from_i32(v.to_i32() + sx);
                }
                finish(r, row);
            }
        }
        Source::Patches {
            input,
            geo,
            taps,
            off,
        } => {
            let pad = L::from_i32(pad_xu);
            let mut pos = PixelPos::at(geo, p0);
            for (r, row) in rows_out {
                patch_row(geo, taps, input, pos, off, &mut row[..k], pad, |v| {
                    L::from_i32(v.to_i32() + sx)
                });
                pos.advance(geo);
                finish(r, row);
            }
        }
    }
}

/// Writes `w - sw` into `dst` (zero past `w.len()`) and returns its sum.
#[inline(always)]
pub(super) fn widen_row<W: QuantElem, L: Lane>(w: &[W], sw: i32, dst: &mut [L]) -> i32 {
    let mut s = 0i32;
    for (d, v) in dst.iter_mut().zip(w) {
        let ws = v.to_i32() - sw;
        s = s.wrapping_add(ws);
        *d = L::from_i32(ws);
    }
    dst[w.len()..].fill(L::default());
    s
}

/// Narrows requantized rows (`n` wide, already clamped) into output rows `p0..` at stride `ldo`.
#[inline(always)]
pub(super) fn narrow_rows<T: QuantElem>(
    acc: &[i32],
    n: usize,
    out: &mut [T],
    p0: usize,
    ldo: usize,
) {
    for (r, row) in acc.chunks_exact(n).enumerate() {
        let o = (p0 + r) * ldo;
        for (d, &v) in out[o..o + n].iter_mut().zip(row) {
            *d = T::from_i32_clamped(v);
        }
    }
}

/// Column corrections `bias[j] + a·Σws[j] + k·a·b` (wrapping) into `colcorr`.
#[inline(always)]
pub(super) fn column_corrections(
    colsum: &[i32],
    bias: Option<&[i32]>,
    (a_off, b_off, k): (i32, i32, usize),
    colcorr: &mut Vec<i32>,
) {
    let kab = (k as i32).wrapping_mul(a_off).wrapping_mul(b_off);
    colcorr.clear();
    colcorr.extend(colsum.iter().enumerate().map(|(j, &cs)| {
        let bias = bias.map_or(0, |b| b[j]);
        bias.wrapping_add(a_off.wrapping_mul(cs)).wrapping_add(kab)
    }));
}

/// Activation rows per block for `kp`-wide rows and `n` columns: about 32 KiB of gathered
/// activations and at most 64 KiB of int32 accumulators.
pub(super) fn block_rows(kp: usize, n: usize, mr: usize) -> usize {
    let rows = (32 * 1024 / kp.max(1))
        .min(16 * 1024 / n.max(1))
        .clamp(mr, 1024);
    rows / mr * mr
}

/// Grows `v` to at least `len` elements (never shrinks, so a buffer shared by calls of
/// different sizes is not zero-filled again and again).
pub(super) fn grow<X: Copy + Default>(v: &mut Vec<X>, len: usize) {
    if v.len() < len {
        v.resize(len, X::default());
    }
}
