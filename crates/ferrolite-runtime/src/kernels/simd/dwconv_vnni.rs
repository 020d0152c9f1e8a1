//! Int8 DEPTHWISE_CONV_2D (depth multiplier 1, int8 activations and symmetric int8 weights, at
//! most four horizontal taps) on AVX-512 VNNI, or at the `Avx2` level on AVX-VNNI (256-bit
//! `vpdpbusd`, `avxvnni_x86`, same layouts), bit-exact with the scalar kernel.
//!
//! With `xu = x + 128` and `a = input_offset - 128`, one valid filter row contributes
//! `Σ_f (x_f + input_offset) · w_f = Σ_f xu_f · w_f + a · Σ_f w_f` (wrapping int32). Horizontal
//! padding taps read the pad byte `xu = 128 - input_offset` (the input zero point, so
//! `x + input_offset = 0`), and the unused fourth tap has weight zero, so the same identity holds
//! for every row that lies inside the input; rows outside it are skipped together with their
//! correction. Each input row is rearranged once per thread into a tap-interleaved row
//! (`dwconv_vnni_x86::build_row`, kept in a small ring while the output rows that read it are
//! computed), then every output pixel needs one `vpdpbusd` per valid filter row and 16 channels,
//! and the result is requantized in registers. The filter is packed per call (`[fh][cpad][4]`,
//! small). Output rows are split across the thread budget; results do not depend on it.

use std::cell::RefCell;

#[cfg(target_arch = "x86_64")]
use super::avxvnni_x86 as x86_256;
use super::dwconv_f32::DwGeometry;
#[cfg(target_arch = "x86_64")]
use super::dwconv_vnni_x86::{self as x86, RowArgs};
use super::parallel::{run_tiles, useful_threads, SharedMut};
#[cfg(target_arch = "x86_64")]
use super::requant_x86::{BlockArgs, DOUBLE, RUY, SINGLE};
use super::{features, Level};
use crate::kernels::quant::conv::{QuantConvParams, QuantConvProblem};
#[cfg(target_arch = "x86_64")]
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::QuantElem;

/// Marks a padding tap in the column table.
pub(super) const PAD: usize = usize::MAX;

/// Per-thread buffers: the ring of tap-interleaved rows and one output row's corrections.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Default)]
struct Scratch {
    rows: Vec<u8>,
    tags: Vec<usize>,
    corr: Vec<i32>,
    row_ptrs: Vec<*const u8>,
    w_ptrs: Vec<*const i8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// What every thread shares.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Shared<'a> {
    g: DwGeometry,
    cpad: usize,
    input: *const u8,
    /// `[fh][cpad][4]` packed filter.
    wp: &'a [i8],
    /// `a · Σ_f w` per filter row and channel (`[fh][cpad]`).
    row_corr: &'a [i32],
    /// Bias per channel (`cpad`, zero padded).
    bias: &'a [i32],
    /// Input column of each tap per output column.
    cols: &'a [[usize; 4]],
    pad: u8,
    params: &'a QuantConvParams,
    out: *mut u8,
    /// AVX-512 VNNI kernels (else the AVX-VNNI ones).
    wide: bool,
}

// SAFETY: the raw pointers refer to the caller's input (read only) and output, of which every
// tile writes only its own rows, both borrowed for the duration of the `run_tiles` call.
unsafe impl Sync for Shared<'_> {}

/// A constant depthwise filter packed for this path at prepare time (with the per-row
/// zero-point corrections and the tap column table, which depend only on the parameters and
/// shapes); see [`pack_depthwise`].
#[derive(Debug, Clone)]
pub struct PackedDw {
    c: usize,
    fh: usize,
    fw: usize,
    input_offset: i32,
    /// Horizontal stride, dilation and padding, and the input width (the column table's inputs).
    cols_geo: (usize, usize, usize, usize),
    cpad: usize,
    /// `[fh][cpad][4]` signed weights, zero past `fw` taps and `c` channels (64-byte aligned,
    /// see [`super::aligned`]).
    wp: super::aligned::AlignedBuf<i8>,
    /// `(input_offset - 128) · Σ_f w` per filter row and channel (`[fh][cpad]`).
    row_corr: Vec<i32>,
    /// Input column of each tap per output column ([`PAD`] outside the input).
    cols: Vec<[usize; 4]>,
}

impl PackedDw {
    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.wp.len()
            + 4 * self.row_corr.len()
            + std::mem::size_of::<[usize; 4]>() * self.cols.len()
    }
}

/// The geometry when this path applies to these operand types, parameters and shapes.
fn eligible<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantConvParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
) -> Option<DwGeometry> {
    let int8 = |min: i32, max: i32, size: usize| (min, max, size) == (-128, 127, 1);
    if !cfg!(target_arch = "x86_64")
        || !((level == Level::Avx512 && features().vnni)
            || (level == Level::Avx2 && features().avxvnni))
        || !int8(T::MIN, T::MAX, std::mem::size_of::<T>())
        || !int8(W::MIN, W::MAX, std::mem::size_of::<W>())
        || params.filter_offset != 0
    {
        return None;
    }
    let g = DwGeometry::new(&params.geometry, input_shape, filter_shape, output_shape)?;
    let c = g.channels;
    let pad = 128 - i64::from(params.input_offset);
    let ok = (1..=4).contains(&g.fw)
        && g.fh > 0
        && c > 0
        && (0..=255).contains(&pad)
        && params.covers(c)
        && params.requant(0..c, &[]).vector_ok();
    ok.then_some(g)
}

/// Packs `filter` (`[1, fh, fw, c]`) for [`depthwise_conv2d`]; `None` when this path does not
/// apply (or the filter is too short).
pub fn pack_depthwise<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantConvParams,
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
) -> Option<PackedDw> {
    let g = eligible::<T, W>(level, params, input_shape, filter_shape, output_shape)?;
    (filter.len() >= g.lens().1).then(|| pack(&g, params.input_offset, filter))
}

fn pack<W: QuantElem>(g: &DwGeometry, input_offset: i32, filter: &[W]) -> PackedDw {
    let (c, fh, fw) = (g.channels, g.fh, g.fw);
    let cpad = c.div_ceil(16) * 16;
    let a = input_offset.wrapping_sub(128);
    let mut wp = vec![0i8; fh * cpad * 4];
    let mut row_corr = vec![0i32; fh * cpad];
    for (t, taps) in filter[..fh * fw * c].chunks_exact(c).enumerate() {
        let (fy, fx) = (t / fw, t % fw);
        let dst = &mut wp[fy * cpad * 4..(fy + 1) * cpad * 4];
        let corr = &mut row_corr[fy * cpad..(fy + 1) * cpad];
        for ((d, rc), w) in dst.chunks_exact_mut(4).zip(corr.iter_mut()).zip(taps) {
            let w = w.to_i32();
            d[fx] = w as i8;
            *rc = rc.wrapping_add(a.wrapping_mul(w));
        }
    }
    let (sw, dw, pw) = (g.stride.1, g.dilation.1, g.pad.1);
    let cols = (0..g.out_w)
        .map(|ox| {
            let mut t = [PAD; 4];
            for (fx, slot) in t.iter_mut().enumerate().take(fw) {
                let ix = (ox * sw + fx * dw).wrapping_sub(pw);
                if ix < g.in_w {
                    *slot = ix;
                }
            }
            t
        })
        .collect();
    PackedDw {
        c,
        fh,
        fw,
        input_offset,
        cols_geo: (sw, dw, pw, g.in_w),
        cpad,
        wp: super::aligned::AlignedBuf::pooled(&wp),
        row_corr,
        cols,
    }
}

/// Runs the depthwise conv when this path applies (see the module doc), with `packed` (from
/// [`pack_depthwise`] for this filter and call) or packing now; returns `false` (doing nothing)
/// when the path does not apply.
pub fn depthwise_conv2d<T: QuantElem, W: QuantElem>(
    level: Level,
    problem: &QuantConvProblem<'_, T, W>,
    packed: Option<&PackedDw>,
    output: &mut [T],
) -> bool {
    let params = problem.params;
    let shapes = (
        problem.input_shape,
        problem.filter_shape,
        problem.output_shape,
    );
    let Some(g) = eligible::<T, W>(level, params, shapes.0, shapes.1, shapes.2) else {
        return false;
    };
    let (input, filter) = (problem.input, problem.filter);
    let c = g.channels;
    let (n_in, n_f, n_out) = g.lens();
    if input.len() < n_in
        || filter.len() < n_f
        || output.len() < n_out
        || problem.bias.is_some_and(|b| b.len() < c)
    {
        return false;
    }
    if n_out == 0 {
        return true;
    }
    let fits = |p: &&PackedDw| {
        let geo = (g.stride.1, g.dilation.1, g.pad.1, g.in_w);
        (p.c, p.fh, p.fw, p.input_offset, p.cols.len(), p.cols_geo)
            == (c, g.fh, g.fw, params.input_offset, g.out_w, geo)
    };
    let fresh;
    let pk = match packed.filter(fits) {
        Some(p) => p,
        None => {
            fresh = pack(&g, params.input_offset, filter);
            &fresh
        }
    };
    let cpad = pk.cpad;
    let mut bias_p = Vec::with_capacity(cpad);
    problem.bias_into(c, &mut bias_p);
    bias_p.resize(cpad, 0);
    let out = SharedMut::new(&mut output[..n_out]);
    let sh = Shared {
        g,
        cpad,
        input: input.as_ptr().cast(),
        wp: &pk.wp,
        row_corr: &pk.row_corr,
        bias: &bias_p,
        cols: &pk.cols,
        pad: (128 - params.input_offset) as u8,
        params,
        out: out.as_ptr().cast(),
        wide: level == Level::Avx512,
    };
    let rows = g.batches * g.out_h;
    let threads = useful_threads(n_out * g.fh * g.fw, rows);
    let rows_per = rows.div_ceil(threads);
    let tile = |t: usize| {
        let first = t * rows_per;
        let count = rows_per.min(rows - first);
        let mut s = SCRATCH.with(|cell| cell.take());
        rows_tile(&sh, first, count, &mut s);
        SCRATCH.with(|cell| cell.replace(s));
    };
    run_tiles(rows.div_ceil(rows_per), threads, &tile);
    true
}

/// Non-x86 targets never reach this path ([`eligible`] is `None` there).
#[cfg(not(target_arch = "x86_64"))]
fn rows_tile(_: &Shared<'_>, _: usize, _: usize, _: &mut Scratch) {}

/// Output rows `first..first + count` (over batch and y).
#[cfg(target_arch = "x86_64")]
fn rows_tile(sh: &Shared<'_>, first: usize, count: usize, s: &mut Scratch) {
    let g = &sh.g;
    let (c, cpad, fh) = (g.channels, sh.cpad, g.fh);
    let (sy, dy, py) = (g.stride.0, g.dilation.0, g.pad.0);
    let slots = fh * dy;
    let row_bytes = g.out_w * cpad * 4;
    if s.rows.len() < slots * row_bytes {
        s.rows.resize(slots * row_bytes, 0);
    }
    s.tags.clear();
    s.tags.resize(slots, usize::MAX);
    s.corr.resize(cpad, 0);
    let p = sh.params;
    let args = BlockArgs::for_store(p.output_offset, p.act_min, p.act_max);
    let per_channel = p.multipliers.len() > 1;
    for row in first..first + count {
        let (b, oy) = (row / g.out_h, row % g.out_h);
        s.corr.copy_from_slice(sh.bias);
        s.row_ptrs.clear();
        s.w_ptrs.clear();
        for fy in 0..fh {
            let iy = (oy * sy + fy * dy).wrapping_sub(py);
            if iy >= g.in_h {
                continue;
            }
            let key = b * g.in_h + iy;
            let slot = key % slots;
            let dst = &mut s.rows[slot * row_bytes..(slot + 1) * row_bytes];
            if s.tags[slot] != key {
                let (x, d) = (sh.input.wrapping_add(key * g.in_w * c), dst.as_mut_ptr());
                // SAFETY: the level's VNNI detected; the input holds every pixel of row `key`
                // (each column index is below in_w), dst holds out_w · cpad · 4 bytes.
                unsafe {
                    if sh.wide {
                        x86::build_row(x, c, cpad, sh.cols, (sh.pad, 0x80), d);
                    } else {
                        x86_256::build_row(x, c, cpad, sh.cols, (sh.pad, 0x80), d);
                    }
                }
                s.tags[slot] = key;
            }
            s.row_ptrs.push(dst.as_ptr());
            s.w_ptrs.push(sh.wp[fy * cpad * 4..].as_ptr());
            for (cv, &rc) in s.corr.iter_mut().zip(&sh.row_corr[fy * cpad..]) {
                *cv = cv.wrapping_add(rc);
            }
        }
        let r = RowArgs {
            rows: &s.row_ptrs,
            weights: &s.w_ptrs,
            corr: s.corr.as_ptr(),
            mult: p.multipliers.as_ptr(),
            shift: p.shifts.as_ptr(),
            per_channel,
            c,
            cpad,
            out_w: g.out_w,
            // Row `row` of the output, written only by this tile.
            out: sh.out.wrapping_add(row * g.out_w * c),
            q: &args,
        };
        // SAFETY: the level's VNNI detected by the driver; rows / weights / corr have the sizes
        // out_row needs (see above), the multipliers passed `vector_ok`, and output row `row`
        // exists.
        unsafe {
            match (p.rounding, sh.wide) {
                (Rounding::Double, true) => x86::out_row::<DOUBLE>(&r),
                (Rounding::Single, true) => x86::out_row::<SINGLE>(&r),
                (Rounding::RuyX86, true) => x86::out_row::<RUY>(&r),
                (Rounding::Double, false) => x86_256::out_row::<DOUBLE>(&r),
                (Rounding::Single, false) => x86_256::out_row::<SINGLE>(&r),
                (Rounding::RuyX86, false) => x86_256::out_row::<RUY>(&r),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::conv::depthwise_conv2d_output_shape;
    use crate::kernels::quant::conv::{depthwise_conv2d_at, depthwise_conv_params};
    #[cfg(not(target_arch = "x86_64"))]
    use crate::kernels::quant::fixed_point::Rounding;
    use crate::kernels::quant::QuantParams;
    use crate::kernels::simd::parallel::with_threads;
    use crate::kernels::simd::tests::{random_geometry, Rng};

    /// Random int8 depthwise convs (channel counts around the 16-lane blocks, 1–4 taps wide and
    /// up to 5 high, strides, dilations, padding, extreme zero points, per-channel scales, every
    /// rounding mode): this path, packed per call and at "prepare" time on 1–3 threads, against
    /// the scalar kernel bit for bit.
    #[test]
    fn vnni_depthwise_matches_scalar() {
        let f = features();
        for (level, present) in [(Level::Avx512, f.vnni), (Level::Avx2, f.avxvnni)] {
            if present {
                vnni_depthwise_cases(level);
            }
        }
    }

    /// [`vnni_depthwise_matches_scalar`] at `level`, which must take this path.
    fn vnni_depthwise_cases(level: Level) {
        let mut rng = Rng::new(91);
        let mut cases = 0;
        while cases < 300 {
            let p = random_geometry(&mut rng);
            let c = rng.pick(&[1, 3, 15, 16, 17, 31, 32, 33, 48, 70, 96]);
            let is = [rng.range(1, 2), rng.range(1, 9), rng.range(1, 9), c];
            let fs = [1, rng.range(1, 5), rng.range(1, 4), c];
            let Ok(os) = depthwise_conv2d_output_shape(&p, is, fs, Some(c)) else {
                continue;
            };
            cases += 1;
            let zp_in = rng.pick(&[-128, 127, 0, -5, 90]);
            let nscales = if rng.range(0, 1) == 0 { 1 } else { c };
            let fscales: Vec<f32> = (0..nscales)
                .map(|_| 10f32.powf(-4.0 + 4.0 * (rng.next() % 1000) as f32 / 1000.0))
                .collect();
            let mut qp = depthwise_conv_params::<i8, i8>(
                &p,
                QuantParams::new(0.02, zp_in),
                &fscales,
                0,
                QuantParams::new(rng.pick(&[0.05, 0.0002]), rng.pick(&[-128, 127, 3])),
                c,
            )
            .unwrap();
            qp.rounding = rng.pick(&[Rounding::Double, Rounding::Single, Rounding::RuyX86]);
            let byte = |r: &mut Rng| (r.next() % 256) as u8 as i8;
            let x: Vec<i8> = (0..is.iter().product()).map(|_| byte(&mut rng)).collect();
            let w: Vec<i8> = (0..fs.iter().product()).map(|_| byte(&mut rng)).collect();
            let b: Vec<i32> = (0..c)
                .map(|_| (rng.next() % 200_001) as i32 - 100_000)
                .collect();
            let bias = (rng.range(0, 2) > 0).then_some(&b[..]);
            let n_out: usize = os.iter().product();
            let mut want = vec![0i8; n_out];
            depthwise_conv2d_at(Level::Scalar, &qp, &x, is, &w, fs, bias, &mut want, os);
            let pk = pack_depthwise::<i8, i8>(level, &qp, is, &w, fs, os);
            assert!(pk.is_some(), "{p:?} {is:?} {fs:?}: path not taken");
            for (threads, packed) in [(1, None), (2, pk.as_ref()), (3, pk.as_ref())] {
                let mut got = vec![0i8; n_out];
                let problem = QuantConvProblem::new(&qp, (&x, is), (&w, fs), bias, os);
                let taken = with_threads(threads, || {
                    depthwise_conv2d(level, &problem, packed, &mut got)
                });
                assert!(taken);
                assert_eq!(
                    got, want,
                    "{level:?} {p:?} {is:?} {fs:?} {:?} {threads}",
                    qp.rounding
                );
            }
        }
    }

    #[test]
    fn other_types_and_levels_are_declined() {
        let p = random_geometry(&mut Rng::new(5));
        let (is, fs) = ([1, 4, 4, 8], [1, 3, 3, 8]);
        let os = depthwise_conv2d_output_shape(&p, is, fs, Some(8)).unwrap();
        let qp = depthwise_conv_params::<u8, u8>(
            &p,
            QuantParams::new(0.02, 3),
            &[0.1],
            7,
            QuantParams::new(0.05, 2),
            8,
        )
        .unwrap();
        let w = vec![0u8; 72];
        assert!(pack_depthwise::<u8, u8>(Level::Avx512, &qp, is, &w, fs, os).is_none());
        let w = vec![0i8; 72];
        assert!(pack_depthwise::<i8, i8>(Level::Scalar, &qp, is, &w, fs, os).is_none());
    }
}
