//! x86-64 AVX-512 VNNI kernel of the few-channel int8 CONV_2D in [`super::conv_vnni`]: one output
//! row, every pixel a sum of `vpdpbusd` of broadcast input dwords (four consecutive bytes of a
//! filter row's receptive field) with packed weights, requantized in registers.

use std::arch::x86_64::*;

use super::requant_x86::{
    any_left512, channel_block512, finish_bytes512, store_consts512, BlockArgs,
};

/// One output row (see [`conv_row`]).
pub(super) struct ConvRow<'a> {
    /// Per filter row: the padded image row it reads, at the row's first column.
    pub rows: &'a [*const u8],
    /// Bytes between the receptive fields of neighbouring output pixels.
    pub step: usize,
    /// Dwords per filter row.
    pub kq: usize,
    /// `[fh][kq][npad][4]` packed weights.
    pub weights: *const i8,
    /// Per output channel: bias plus zero-point correction (`npad` values).
    pub corr: *const i32,
    /// Multipliers and shifts: `n` values each, or one when `!per_channel`.
    pub mult: *const i32,
    pub shift: *const i32,
    pub per_channel: bool,
    pub n: usize,
    pub npad: usize,
    pub out_w: usize,
    /// The output row (`out_w · n` bytes).
    pub out: *mut u8,
    /// Output offset and clamp.
    pub q: &'a BlockArgs,
}

/// `out[ox · n + j] = requant(corr[j] + Σ_fy Σ_q dword(rows[fy] + ox · step + 4q) ·
/// weights[fy][q][j])`, narrowed to bytes.
///
/// # Safety
/// AVX-512 F/BW/VL and VNNI are available; every `rows[fy] + ox · step + 4q` (`ox < out_w`,
/// `q < kq`) is readable for four bytes; `weights` holds `rows.len() · kq · npad · 4` bytes,
/// `corr` `npad` values, `mult` / `shift` as documented; `out` is writable for `out_w · n`
/// bytes; the multipliers and shifts satisfy `requant_x86`'s contract.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
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

/// [`conv_row`] with `FH` filter rows of `KQ` dwords, the weights of a block held in registers.
///
/// # Safety
/// As for [`conv_row`], with `r.rows.len() == FH` and `r.kq == KQ`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn conv_row_fixed<const RND: u8, const FH: usize, const KQ: usize>(r: &ConvRow<'_>) {
    let consts = store_consts512(r.q);
    let mut rows = [std::ptr::null::<u8>(); FH];
    rows.copy_from_slice(&r.rows[..FH]);
    let mut nb = 0;
    while nb < r.n {
        // SAFETY: block nb of the packed weights and parameters (caller).
        let (cv, m, s, mask) =
            unsafe { channel_block512(r.corr, r.mult, r.shift, r.per_channel, r.n, nb) };
        let shl = any_left512(s);
        let mut w = [[_mm512_setzero_si512(); KQ]; FH];
        for (fy, wr) in w.iter_mut().enumerate() {
            for (q, wv) in wr.iter_mut().enumerate() {
                // SAFETY: weight dword (fy, q), block nb.
                *wv = unsafe {
                    let p = r.weights.add(((fy * KQ + q) * r.npad + nb) * 4);
                    _mm512_loadu_si512(p.cast())
                };
            }
        }
        for ox in 0..r.out_w {
            let at = ox * r.step;
            let mut acc = cv;
            for (row, wr) in rows.iter().zip(&w) {
                for (q, wv) in wr.iter().enumerate() {
                    // SAFETY: four readable bytes of the receptive field (caller).
                    let x = unsafe { row.add(at + 4 * q).cast::<i32>().read_unaligned() };
                    acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(x), *wv);
                }
            }
            // SAFETY: the mask keeps the store inside pixel ox's n channels.
            unsafe {
                finish_bytes512::<RND>(acc, (m, s, shl), consts, r.out.add(ox * r.n + nb), mask)
            };
        }
        nb += 16;
    }
}

/// [`conv_row`] for any filter height and row width.
///
/// # Safety
/// As for [`conv_row`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn conv_row_any<const RND: u8>(r: &ConvRow<'_>) {
    let consts = store_consts512(r.q);
    let mut nb = 0;
    while nb < r.n {
        // SAFETY: block nb of the parameters (caller).
        let (cv, m, s, mask) =
            unsafe { channel_block512(r.corr, r.mult, r.shift, r.per_channel, r.n, nb) };
        let shl = any_left512(s);
        for ox in 0..r.out_w {
            let mut acc = cv;
            for (fy, &row) in r.rows.iter().enumerate() {
                let px = row.wrapping_add(ox * r.step);
                for q in 0..r.kq {
                    // SAFETY: four readable bytes of the receptive field (caller), and block nb
                    // of packed weight dword (fy, q).
                    unsafe {
                        let xv = _mm512_set1_epi32(px.add(4 * q).cast::<i32>().read_unaligned());
                        let w = r.weights.add(((fy * r.kq + q) * r.npad + nb) * 4);
                        acc = _mm512_dpbusd_epi32(acc, xv, _mm512_loadu_si512(w.cast()));
                    }
                }
            }
            // SAFETY: the mask keeps the store inside pixel ox's n channels.
            unsafe {
                finish_bytes512::<RND>(acc, (m, s, shl), consts, r.out.add(ox * r.n + nb), mask)
            };
        }
        nb += 16;
    }
}
