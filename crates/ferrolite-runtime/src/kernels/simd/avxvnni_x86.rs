//! x86-64 AVX-VNNI (256-bit VEX `vpdpbusd`) kernels of the int8 depthwise conv in
//! [`super::dwconv_vnni`] and the few-channel int8 CONV_2D in [`super::conv_vnni`]: the `Avx2`
//! level's counterparts of `dwconv_vnni_x86` and `conv_vnni_x86`.
//!
//! They read and write the same layouts (channels padded to blocks of 16, each processed as two
//! 8-lane halves): [`build_row`] makes the depthwise conv's tap-interleaved row (four tap bytes
//! per channel, `xu = x ^ 0x80`, padding taps holding the pad byte), [`out_row`] adds one
//! `vpdpbusd` per valid filter row and 8 channels, [`conv_row`] one per broadcast input dword
//! and 8 output channels; both requantize in registers with the merged exact rounding shift
//! (`requant_x86::requant_merged256`), add the offset, clamp and store bytes. Contracts are those
//! of the AVX-512 functions with AVX2 + AVX-VNNI in place of AVX-512.

use std::arch::x86_64::*;

use super::conv_vnni_x86::ConvRow;
use super::dwconv_vnni_x86::{build_row_with, RowArgs};
use super::requant_x86::{merged_consts256, requant_merged256, BlockArgs, Merged256};

/// As `dwconv_vnni_x86::build_row` (partial channel blocks are loaded through a small buffer,
/// AVX2 having no masked byte load).
///
/// # Safety
/// AVX2 is available; otherwise as `dwconv_vnni_x86::build_row`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn build_row(
    x: *const u8,
    c: usize,
    cpad: usize,
    cols: &[[usize; 4]],
    pad_flip: (u8, u8),
    dst: *mut u8,
) {
    let copied = |src: *const u8, lanes: usize| {
        let mut buf = [0u8; 16];
        // SAFETY: `lanes` (< 16) bytes are readable at src.
        unsafe {
            std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), lanes);
            _mm_loadu_si128(buf.as_ptr().cast())
        }
    };
    // SAFETY: forwarded from the caller.
    unsafe { build_row_with(x, (c, cpad), cols, pad_flip, dst, copied) };
}

/// As `dwconv_vnni_x86::out_row`, on AVX-VNNI.
///
/// # Safety
/// AVX2 and AVX-VNNI are available; otherwise as `dwconv_vnni_x86::out_row`.
#[target_feature(enable = "avx2,avxvnni")]
pub(super) unsafe fn out_row<const RND: u8>(r: &RowArgs<'_>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match r.rows.len().min(r.weights.len()) {
            3 => out_row_fixed::<RND, 3>(r),
            2 => out_row_fixed::<RND, 2>(r),
            1 => out_row_fixed::<RND, 1>(r),
            _ => out_row_any::<RND>(r),
        }
    }
}

/// Per-channel parameters: corrections (padded to whole blocks), multipliers and shifts (`c`
/// values each, or one when not per channel).
#[derive(Clone, Copy)]
struct Channels {
    corr: *const i32,
    mult: *const i32,
    shift: *const i32,
    per_channel: bool,
    c: usize,
}

/// The 8-channel half at `ch` (`ch < c`): `(corr, requantization constants, valid lanes)`.
///
/// # Safety
/// AVX2 is available; `corr` is readable for `ch + 8` values (it holds whole blocks), `mult` /
/// `shift` for `c` values when `per_channel` (else one).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn half_block<const RND: u8>(p: Channels, ch: usize) -> (__m256i, Merged256, usize) {
    let lanes = (p.c - ch).min(8);
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), idx);
    // SAFETY: per the contract; the masked loads stay below c.
    unsafe {
        let cv = _mm256_loadu_si256(p.corr.add(ch).cast());
        let (m, s) = if p.per_channel {
            (
                _mm256_maskload_epi32(p.mult.add(ch), mask),
                _mm256_maskload_epi32(p.shift.add(ch), mask),
            )
        } else {
            (_mm256_set1_epi32(*p.mult), _mm256_set1_epi32(*p.shift))
        };
        (cv, merged_consts256::<RND>(m, s), lanes)
    }
}

/// The depthwise row's per-channel parameters.
fn dw_channels(r: &RowArgs<'_>) -> Channels {
    Channels {
        corr: r.corr,
        mult: r.mult,
        shift: r.shift,
        per_channel: r.per_channel,
        c: r.c,
    }
}

/// Requantizes `acc`, adds the offset, clamps and stores the first `lanes` (≤ 8) as int8.
///
/// # Safety
/// AVX2 is available; `dst` is writable for `lanes` bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn finish8<const RND: u8>(
    acc: __m256i,
    q: &Merged256,
    [off, lo, hi]: [__m256i; 3],
    dst: *mut u8,
    lanes: usize,
) {
    let y = _mm256_add_epi32(requant_merged256::<RND>(acc, q), off);
    let y = _mm256_min_epi32(_mm256_max_epi32(y, lo), hi);
    // int16 lanes [y0..4, y0..4 | y4..8, y4..8]; qwords 0 and 2 hold y0..8 in order. The
    // clamped values fit in int8, so the saturating packs are exact.
    let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(y, y));
    let b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_castsi256_si128(w));
    // SAFETY: per the contract.
    unsafe {
        if lanes == 8 {
            _mm_storel_epi64(dst.cast(), b);
        } else {
            let mut buf = [0u8; 16];
            _mm_storeu_si128(buf.as_mut_ptr().cast(), b);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, lanes);
        }
    }
}

/// Output offset and clamp as vectors `[offset, min, max]`.
#[target_feature(enable = "avx2")]
#[inline]
fn store_consts(q: &BlockArgs) -> [__m256i; 3] {
    [
        _mm256_set1_epi32(q.output_offset),
        _mm256_set1_epi32(q.act_min),
        _mm256_set1_epi32(q.act_max),
    ]
}

/// [`out_row`] with `N` valid filter rows, a half block's weights held in registers.
///
/// # Safety
/// As for [`out_row`], with `N` rows and weights.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn out_row_fixed<const RND: u8, const N: usize>(r: &RowArgs<'_>) {
    let consts = store_consts(r.q);
    let mut rows = [std::ptr::null::<u8>(); N];
    rows.copy_from_slice(&r.rows[..N]);
    let mut ch = 0;
    while ch < r.c {
        // SAFETY: half block ch of the parameters and filter rows (caller).
        let (cv, q, lanes) = unsafe { half_block::<RND>(dw_channels(r), ch) };
        let mut w = [_mm256_setzero_si256(); N];
        for (i, wv) in w.iter_mut().enumerate() {
            // SAFETY: channels ch..ch + 8 of filter row i (it holds cpad · 4 bytes).
            *wv = unsafe { _mm256_loadu_si256(r.weights[i].add(ch * 4).cast()) };
        }
        for ox in 0..r.out_w {
            let at = (ox * r.cpad + ch) * 4;
            let mut acc = cv;
            for i in 0..N {
                // SAFETY: channels ch..ch + 8 of column ox of a tap-interleaved row.
                let xv = unsafe { _mm256_loadu_si256(rows[i].add(at).cast()) };
                acc = _mm256_dpbusd_avx_epi32(acc, xv, w[i]);
            }
            // SAFETY: `lanes` channels of pixel ox lie inside the output row.
            unsafe { finish8::<RND>(acc, &q, consts, r.out.add(ox * r.c + ch), lanes) };
        }
        ch += 8;
    }
}

/// [`out_row`] for any number of filter rows.
///
/// # Safety
/// As for [`out_row`].
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn out_row_any<const RND: u8>(r: &RowArgs<'_>) {
    let consts = store_consts(r.q);
    let n = r.rows.len().min(r.weights.len());
    let mut ch = 0;
    while ch < r.c {
        // SAFETY: half block ch of the parameters (caller).
        let (cv, q, lanes) = unsafe { half_block::<RND>(dw_channels(r), ch) };
        for ox in 0..r.out_w {
            let at = (ox * r.cpad + ch) * 4;
            let mut acc = cv;
            for i in 0..n {
                // SAFETY: channels ch..ch + 8 of a tap-interleaved row and of a filter row.
                unsafe {
                    let xv = _mm256_loadu_si256(r.rows[i].add(at).cast());
                    let wv = _mm256_loadu_si256(r.weights[i].add(ch * 4).cast());
                    acc = _mm256_dpbusd_avx_epi32(acc, xv, wv);
                }
            }
            // SAFETY: `lanes` channels of pixel ox lie inside the output row.
            unsafe { finish8::<RND>(acc, &q, consts, r.out.add(ox * r.c + ch), lanes) };
        }
        ch += 8;
    }
}

/// As `conv_vnni_x86::conv_row`, on AVX-VNNI.
///
/// # Safety
/// AVX2 and AVX-VNNI are available; otherwise as `conv_vnni_x86::conv_row` (`npad` a multiple
/// of 16).
#[target_feature(enable = "avx2,avxvnni")]
pub(super) unsafe fn conv_row<const RND: u8>(r: &ConvRow<'_>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (r.rows.len(), r.kq) {
            (3, 3) => conv_row_fixed::<RND, 3, 3>(r),
            (3, 2) => conv_row_fixed::<RND, 3, 2>(r),
            (3, 1) => conv_row_fixed::<RND, 3, 1>(r),
            _ => conv_row_any::<RND>(r),
        }
    }
}

/// The conv row's per-channel parameters.
fn conv_channels(r: &ConvRow<'_>) -> Channels {
    Channels {
        corr: r.corr,
        mult: r.mult,
        shift: r.shift,
        per_channel: r.per_channel,
        c: r.n,
    }
}

/// [`conv_row`] with `FH` filter rows of `KQ` dwords, a half block's weights in registers.
///
/// # Safety
/// As for [`conv_row`], with `r.rows.len() == FH` and `r.kq == KQ`.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn conv_row_fixed<const RND: u8, const FH: usize, const KQ: usize>(r: &ConvRow<'_>) {
    let consts = store_consts(r.q);
    let mut rows = [std::ptr::null::<u8>(); FH];
    rows.copy_from_slice(&r.rows[..FH]);
    let mut nb = 0;
    while nb < r.n {
        // SAFETY: half block nb of the parameters (caller).
        let (cv, q, lanes) = unsafe { half_block::<RND>(conv_channels(r), nb) };
        let mut w = [[_mm256_setzero_si256(); KQ]; FH];
        for (fy, wr) in w.iter_mut().enumerate() {
            for (kq, wv) in wr.iter_mut().enumerate() {
                // SAFETY: weight dword (fy, kq), channels nb..nb + 8 (npad is a multiple of 16).
                *wv = unsafe {
                    let p = r.weights.add(((fy * KQ + kq) * r.npad + nb) * 4);
                    _mm256_loadu_si256(p.cast())
                };
            }
        }
        for ox in 0..r.out_w {
            let at = ox * r.step;
            let mut acc = cv;
            for (row, wr) in rows.iter().zip(&w) {
                for (kq, wv) in wr.iter().enumerate() {
                    // SAFETY: four readable bytes of the receptive field (caller).
                    let x = unsafe { row.add(at + 4 * kq).cast::<i32>().read_unaligned() };
                    acc = _mm256_dpbusd_avx_epi32(acc, _mm256_set1_epi32(x), *wv);
                }
            }
            // SAFETY: `lanes` channels of pixel ox lie inside the output row.
            unsafe { finish8::<RND>(acc, &q, consts, r.out.add(ox * r.n + nb), lanes) };
        }
        nb += 8;
    }
}

/// [`conv_row`] for any filter height and row width.
///
/// # Safety
/// As for [`conv_row`].
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn conv_row_any<const RND: u8>(r: &ConvRow<'_>) {
    let consts = store_consts(r.q);
    let mut nb = 0;
    while nb < r.n {
        // SAFETY: half block nb of the parameters (caller).
        let (cv, q, lanes) = unsafe { half_block::<RND>(conv_channels(r), nb) };
        for ox in 0..r.out_w {
            let mut acc = cv;
            for (fy, &row) in r.rows.iter().enumerate() {
                let px = row.wrapping_add(ox * r.step);
                for kq in 0..r.kq {
                    // SAFETY: four readable bytes of the receptive field (caller), and channels
                    // nb..nb + 8 of packed weight dword (fy, kq).
                    unsafe {
                        let xv = _mm256_set1_epi32(px.add(4 * kq).cast::<i32>().read_unaligned());
                        let w = r.weights.add(((fy * r.kq + kq) * r.npad + nb) * 4);
                        acc = _mm256_dpbusd_avx_epi32(acc, xv, _mm256_loadu_si256(w.cast()));
                    }
                }
            }
            // SAFETY: `lanes` channels of pixel ox lie inside the output row.
            unsafe { finish8::<RND>(acc, &q, consts, r.out.add(ox * r.n + nb), lanes) };
        }
        nb += 8;
    }
}
