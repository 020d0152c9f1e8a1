//! x86-64 AVX-512 VNNI kernels of the int8 depthwise conv in [`super::dwconv_vnni`].
//!
//! [`build_row`] turns one input row into a tap-interleaved row: for every output column and
//! channel, the (up to four) input bytes its horizontal filter taps read, as unsigned bytes
//! `xu = x ^ 0x80`, in one 32-bit lane (padding taps hold the caller's pad byte). [`out_row`]
//! then adds one `vpdpbusd` per valid filter row and 16 channels (four taps per lane against the
//! filter row's four signed weights), requantizes in registers (`requant_x86`) and stores bytes.
//! Contracts are stated per function; the safe driver checks lengths before calling.

use std::arch::x86_64::*;

use super::dwconv_vnni::PAD;
use super::requant_x86::{
    any_left512, channel_block512, finish_bytes512, store_consts512, BlockArgs,
};

/// `dst[(ox · cpad + ch) · 4 + f] = x[cols[ox][f] · c + ch] ^ flip` for `ch < c`, or `pad` where
/// `cols[ox][f] == PAD`; the lanes of channels `c..cpad` are unspecified.
///
/// # Safety
/// AVX-512 F/BW/VL are available; `cpad` is `c` rounded up to a multiple of 16; `x` is readable
/// for `(ix + 1) · c` bytes for every non-`PAD` index `ix` of `cols`; `dst` is writable for
/// `cols.len() · cpad · 4` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn build_row(
    x: *const u8,
    c: usize,
    cpad: usize,
    cols: &[[usize; 4]],
    pad_flip: (u8, u8),
    dst: *mut u8,
) {
    let masked = |src: *const u8, lanes: usize| {
        let mask = ((1u32 << lanes) - 1) as u16;
        // SAFETY: the mask keeps the load inside the `lanes` readable bytes at src.
        unsafe { _mm_maskz_loadu_epi8(mask, src.cast()) }
    };
    // SAFETY: forwarded from the caller.
    unsafe { build_row_with(x, (c, cpad), cols, pad_flip, dst, masked) };
}

/// The body of [`build_row`] (and of its AVX-VNNI counterpart), which loads a partial channel
/// block of `lanes < 16` bytes at `src` with `partial(src, lanes)` (upper bytes zero).
///
/// # Safety
/// As for [`build_row`], minus the AVX-512 requirement; `partial` reads only `lanes` bytes.
#[inline(always)]
pub(super) unsafe fn build_row_with<F: Fn(*const u8, usize) -> __m128i>(
    x: *const u8,
    (c, cpad): (usize, usize),
    cols: &[[usize; 4]],
    (pad, flip): (u8, u8),
    dst: *mut u8,
    partial: F,
) {
    let padv = _mm_set1_epi8(pad as i8);
    let flipv = _mm_set1_epi8(flip as i8);
    let mut d = dst;
    for taps in cols {
        let mut cb = 0;
        while cb < cpad {
            let lanes = (c - cb).min(16);
            let mut t = [padv; 4];
            for (tv, &ix) in t.iter_mut().zip(taps) {
                if ix != PAD {
                    // SAFETY: `lanes` bytes from channel cb of pixel ix lie inside the input.
                    let v = unsafe {
                        let src = x.add(ix * c + cb);
                        if lanes == 16 {
                            _mm_loadu_si128(src.cast())
                        } else {
                            partial(src, lanes)
                        }
                    };
                    *tv = _mm_xor_si128(v, flipv);
                }
            }
            // SAFETY: 64 bytes of this column's block inside dst.
            unsafe {
                interleave_taps(t, d);
                d = d.add(64);
            }
            cb += 16;
        }
    }
}

/// Stores the four tap vectors `t` (16 channels each) interleaved: channel `ch`'s four bytes
/// at `d + 4 · ch` (SSE2, baseline on x86-64).
///
/// # Safety
/// `d` is writable for 64 bytes.
#[inline(always)]
unsafe fn interleave_taps(t: [__m128i; 4], d: *mut u8) {
    let lo01 = _mm_unpacklo_epi8(t[0], t[1]);
    let hi01 = _mm_unpackhi_epi8(t[0], t[1]);
    let lo23 = _mm_unpacklo_epi8(t[2], t[3]);
    let hi23 = _mm_unpackhi_epi8(t[2], t[3]);
    // SAFETY: per the contract.
    unsafe {
        _mm_storeu_si128(d.cast(), _mm_unpacklo_epi16(lo01, lo23));
        _mm_storeu_si128(d.add(16).cast(), _mm_unpackhi_epi16(lo01, lo23));
        _mm_storeu_si128(d.add(32).cast(), _mm_unpacklo_epi16(hi01, hi23));
        _mm_storeu_si128(d.add(48).cast(), _mm_unpackhi_epi16(hi01, hi23));
    }
}

/// One output row of the depthwise conv (see [`out_row`]).
pub(super) struct RowArgs<'a> {
    /// Tap-interleaved input rows ([`build_row`]) of the valid filter rows.
    pub rows: &'a [*const u8],
    /// The matching packed filter rows: `[cpad][4]` signed bytes each.
    pub weights: &'a [*const i8],
    /// Per channel: bias plus the zero-point corrections of this output row (`cpad` values).
    pub corr: *const i32,
    /// Multipliers and shifts: `c` values each, or one when `!per_channel`.
    pub mult: *const i32,
    pub shift: *const i32,
    pub per_channel: bool,
    pub c: usize,
    pub cpad: usize,
    pub out_w: usize,
    /// The output row (`out_w · c` bytes).
    pub out: *mut u8,
    /// Output offset and clamp (other fields unused).
    pub q: &'a BlockArgs,
}

/// `out[ox · c + ch] = requant(corr[ch] + Σ_i Σ_f rows[i][(ox · cpad + ch) · 4 + f] ·
/// weights[i][ch · 4 + f])`, narrowed to bytes.
///
/// # Safety
/// AVX-512 F/BW/VL and VNNI are available; `rows[i]` is readable for `out_w · cpad · 4` bytes,
/// `weights[i]` for `cpad · 4` (`rows` and `weights` of equal length), `corr` for `cpad` values,
/// `mult` / `shift` as documented, `out` writable for `out_w · c` bytes; the multipliers and
/// shifts satisfy `requant_x86`'s contract.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
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

/// [`out_row`] with `N` valid filter rows, a block's weights held in registers.
///
/// # Safety
/// As for [`out_row`], with `N` rows and weights.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn out_row_fixed<const RND: u8, const N: usize>(r: &RowArgs<'_>) {
    let consts = store_consts512(r.q);
    let mut rows = [std::ptr::null::<u8>(); N];
    rows.copy_from_slice(&r.rows[..N]);
    let mut cb = 0;
    while cb < r.c {
        // SAFETY: block cb of the parameters and filter rows (caller).
        let (cv, m, s, mask) =
            unsafe { channel_block512(r.corr, r.mult, r.shift, r.per_channel, r.c, cb) };
        let shl = any_left512(s);
        let mut w = [_mm512_setzero_si512(); N];
        for (i, wv) in w.iter_mut().enumerate() {
            // SAFETY: block cb of filter row i.
            *wv = unsafe { _mm512_loadu_si512(r.weights[i].add(cb * 4).cast()) };
        }
        for ox in 0..r.out_w {
            let at = (ox * r.cpad + cb) * 4;
            let mut acc = cv;
            for i in 0..N {
                // SAFETY: block (ox, cb) of a tap-interleaved row.
                let xv = unsafe { _mm512_loadu_si512(rows[i].add(at).cast()) };
                acc = _mm512_dpbusd_epi32(acc, xv, w[i]);
            }
            // SAFETY: the mask keeps the store inside pixel ox's c channels.
            unsafe {
                finish_bytes512::<RND>(acc, (m, s, shl), consts, r.out.add(ox * r.c + cb), mask)
            };
        }
        cb += 16;
    }
}

/// [`out_row`] for any number of filter rows.
///
/// # Safety
/// As for [`out_row`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn out_row_any<const RND: u8>(r: &RowArgs<'_>) {
    let consts = store_consts512(r.q);
    let n = r.rows.len().min(r.weights.len());
    let mut cb = 0;
    while cb < r.c {
        // SAFETY: block cb of the parameters (caller).
        let (cv, m, s, mask) =
            unsafe { channel_block512(r.corr, r.mult, r.shift, r.per_channel, r.c, cb) };
        let shl = any_left512(s);
        for ox in 0..r.out_w {
            let at = (ox * r.cpad + cb) * 4;
            let mut acc = cv;
            for i in 0..n {
                // SAFETY: block (ox, cb) of a tap-interleaved row and of a filter row.
                unsafe {
                    let xv = _mm512_loadu_si512(r.rows[i].add(at).cast());
                    let wv = _mm512_loadu_si512(r.weights[i].add(cb * 4).cast());
                    acc = _mm512_dpbusd_epi32(acc, xv, wv);
                }
            }
            // SAFETY: the mask keeps the store inside pixel ox's c channels.
            unsafe {
                finish_bytes512::<RND>(acc, (m, s, shl), consts, r.out.add(ox * r.c + cb), mask)
            };
        }
        cb += 16;
    }
}
