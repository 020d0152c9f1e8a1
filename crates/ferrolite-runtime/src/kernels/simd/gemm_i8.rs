//! 8-bit GEMM with int32 accumulation for quantized CONV_2D and FULLY_CONNECTED, bit-exact with
//! the scalar kernels.
//!
//! The scalar kernels accumulate `Σ (x + input_offset) · (w + filter_offset)` in wrapping int32.
//! The vector kernels multiply an unsigned activation byte `xu` by a signed weight byte `ws`
//! instead, with `x = xu - sx` (`sx` = 128 for int8 activations, 0 for uint8) and `w = ws + sw`
//! (`sw` = 0 for int8 weights, 128 for uint8). Writing `a = input_offset - sx` and
//! `b = filter_offset + sw`,
//!
//! `Σ (x + input_offset)(w + filter_offset) = Σ xu·ws + a·Σws + b·Σxu + k·a·b`,
//!
//! an identity in wrapping int32 arithmetic, so the result is exactly the scalar accumulator.
//! `Σws` is taken per output column while packing the weights, `Σxu` per row while gathering
//! the activations (only when `b ≠ 0`). Padding taps of a convolution gather `xu` of the input
//! zero point, i.e. `x + input_offset = 0`, and so contribute nothing, as in the scalar loop.
//!
//! Constant weights are packed once ([`pack_conv`] / [`pack_fc`], at prepare time) into a
//! [`PackedI8`]; otherwise they are packed per call (`pack_b`) into per-thread scratch. The
//! micro-kernel ([`Kernel`]) is AVX-512 VNNI at the `Avx512` level (when present), and at the
//! `Avx2` level AVX-VNNI's 256-bit `vpdpbusd` over the same byte-group layout in narrower panels
//! (`i8_avxvnni`, when present and not turned off) or `vpmaddwd` on int16 pairs. The output
//! is then cut into tiles (pixel blocks, plus column panels when there are few pixels) that run
//! on up to [`super::parallel::threads`] threads: each gathers its activation rows (im2col for
//! convolutions), the micro-kernel produces raw int32 dot products, and the store adds bias and
//! corrections, requantizes per channel with the caller's [`Rounding`] (see [`super::requant`])
//! and narrows to the output type ([`super::i8_tiles`]). Integer results are exact, so every
//! thread count gives the same bytes. Only 8-bit activation and weight types have a fast path;
//! the drivers return `false` otherwise.

use super::i8_tiles::{gemm_tile, gemv_tile, PackedView};
use super::im2col::{with_tap_ranges, PatchGeometry};
use super::pack_i8::{activation_shift, block_rows, Source};
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::requant::RowRequant;
use super::{features, Level};
use crate::kernels::common::compute_padding;
use crate::kernels::conv::Conv2DParams;
use crate::kernels::quant::conv::{QuantConvParams, QuantConvProblem};
use crate::kernels::quant::fixed_point::Rounding;
use crate::kernels::quant::fully_connected::QuantFcParams;

pub use super::gemm_hybrid::{hybrid_conv2d, hybrid_fully_connected, pack_hybrid_conv};
pub use super::packed_i8::PackedI8;
pub(super) use super::packed_i8::{pack_panels, Form, PACK};
use crate::kernels::quant::QuantElem;

/// Which micro-kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    /// AVX-512 VNNI, bytes in groups of four.
    Vnni,
    /// AVX2, int16 in pairs.
    Avx2,
    /// AVX-VNNI (256-bit `vpdpbusd`) at the `Avx2` level, bytes in groups of four.
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
}

impl Kernel {
    pub(super) fn pick(level: Level) -> Option<Kernel> {
        if cfg!(target_arch = "aarch64") && level == Level::Neon {
            // aarch64 reuses the two packed layouts: SDOT reads the byte groups of four, plain
            // NEON (`smlal`) the int16 pairs (see `i8_neon`).
            return Some(if features().dotprod {
                Kernel::Vnni
            } else {
                Kernel::Avx2
            });
        }
        if !cfg!(target_arch = "x86_64") {
            return None;
        }
        match level {
            Level::Avx512 if features().vnni => Some(Kernel::Vnni),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 if features().avxvnni => Some(Kernel::AvxVnni),
            Level::Avx512 | Level::Avx2 => Some(Kernel::Avx2),
            Level::Scalar | Level::Neon => None,
        }
    }
    /// The dispatch level this kernel belongs to.
    pub(super) fn level(self) -> Level {
        if cfg!(target_arch = "aarch64") {
            return Level::Neon;
        }
        match self {
            Kernel::Vnni => Level::Avx512,
            Kernel::Avx2 => Level::Avx2,
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => Level::Avx2,
        }
    }
    /// Whether the kernel reads bytes in groups of four (`Vnni`'s layout; else int16 pairs).
    pub(super) fn byte_groups(self) -> bool {
        self.group() == 4
    }
    /// `k` values per packed group.
    pub(super) fn group(self) -> usize {
        match self {
            Kernel::Vnni => 4,
            Kernel::Avx2 => 2,
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => 4,
        }
    }
    /// Columns per packed panel for an `n`-column product, and rows per tile.
    pub(super) fn panel(self, n: usize) -> (usize, usize) {
        match self {
            // 48-column panels when they waste fewer padding columns (n = 48, 96, 144, 336, …).
            Kernel::Vnni if n > 32 && n.div_ceil(48) * 48 < n.div_ceil(64) * 64 => (48, 8),
            Kernel::Vnni if n > 32 => (64, 6),
            Kernel::Vnni if n > 16 => (32, 8),
            Kernel::Vnni => (16, 12),
            Kernel::Avx2 if n > 8 => (16, 6),
            Kernel::Avx2 => (8, 8),
            // 16 ymm registers: 6 rows × 2 vectors of accumulators.
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni if n > 8 => (16, 6),
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => (8, 8),
        }
    }
}

/// Bias and requantization of the output columns.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuantOut<'a> {
    pub bias: Option<&'a [i32]>,
    pub multipliers: &'a [i32],
    pub shifts: &'a [i32],
    pub rounding: Rounding,
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl<'a> QuantOut<'a> {
    /// The store of `rq`'s columns with `bias` (its `colcorr` is not used).
    pub(super) fn new(bias: Option<&'a [i32]>, rq: RowRequant<'a>) -> Self {
        QuantOut {
            bias,
            multipliers: rq.multipliers,
            shifts: rq.shifts,
            rounding: rq.rounding,
            output_offset: rq.output_offset,
            act_min: rq.act_min,
            act_max: rq.act_max,
        }
    }

    /// The requantization of columns `j0..j0 + cols` with `colcorr` added per column.
    pub(super) fn columns<'b>(
        &self,
        (j0, cols): (usize, usize),
        colcorr: &'b [i32],
    ) -> RowRequant<'b>
    where
        'a: 'b,
    {
        let (multipliers, shifts) = if self.multipliers.len() > 1 {
            (
                &self.multipliers[j0..j0 + cols],
                &self.shifts[j0..j0 + cols],
            )
        } else {
            (self.multipliers, self.shifts)
        };
        RowRequant {
            colcorr,
            multipliers,
            shifts,
            rounding: self.rounding,
            output_offset: self.output_offset,
            act_min: self.act_min,
            act_max: self.act_max,
        }
    }
}

/// One integer product: `out[p · ldo + out_off + j] = requant(Σ_k (x_p[k] + in_off) · (w[j][k]
/// + f_off) + bias[j])` for rows `p < m` of `src` and the `n` weight rows of `w` (stride `k`).
#[derive(Clone, Copy)]
pub(super) struct Problem<'a, T, W> {
    pub kernel: Kernel,
    pub src: Source<'a, T>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub w: &'a [W],
    pub in_off: i32,
    pub f_off: i32,
    pub q: QuantOut<'a>,
    pub out_off: usize,
    pub ldo: usize,
    /// Dynamic-range products store f32 here instead of requantizing (`q` is then unused).
    pub float_out: Option<FloatOut<'a>>,
}

/// The f32 store of a dynamic-range product: `out = acc · scale[j] + bias[j]`, clamped.
#[derive(Clone, Copy)]
pub(super) struct FloatOut<'a> {
    /// Per column: filter scale · input scale (as the scalar kernel forms it, in f32).
    pub scale: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub min: f32,
    pub max: f32,
    pub out: SharedMut<f32>,
}

/// Whether a product runs in the matrix-vector form (`m <= 2` rows read in place), except for
/// the VNNI (AVX-512 or AVX-VNNI) full-integer products (`float = false`): their panel form
/// reads the weights as one sequential stream without horizontal sums and requantizes in
/// registers.
fn is_gemv<T>(kernel: Kernel, float: bool, m: usize, src: &Source<'_, T>) -> bool {
    m <= 2 && matches!(src, Source::Rows { .. }) && (!kernel.byte_groups() || float)
}

/// The packed form a full-integer product with `rows_form` (few rows read in place) reads.
fn int_form(kernel: Kernel, rows_form: bool) -> Form {
    if rows_form && !kernel.byte_groups() {
        Form::Rows
    } else {
        Form::Panels
    }
}

/// Runs `p` into `out`, with `packed` (this group's pre-packed weights) when given.
pub(super) fn run<T: QuantElem, W: QuantElem>(
    p: Problem<'_, T, W>,
    packed: Option<PackedView<'_>>,
    out: SharedMut<T>,
) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    if is_gemv(p.kernel, p.float_out.is_some(), p.m, &p.src) {
        let threads = useful_threads(p.m * p.n * p.k, p.n.div_ceil(4));
        let per = p.n.div_ceil(threads).div_ceil(4) * 4;
        let tile = |t: usize| {
            let u0 = t * per;
            gemv_tile(&p, packed, (u0, per.min(p.n - u0)), out);
        };
        run_tiles(p.n.div_ceil(per), threads, &tile);
        return;
    }
    match packed {
        Some(v) => run_panels(&p, v, out),
        None => {
            let mut s = PACK.with(|c| c.take());
            pack_panels(p.kernel, p.w, (p.n, p.k), &mut s);
            let v = s.view();
            run_panels(&p, v, out);
            PACK.with(|c| c.replace(s));
        }
    }
}

/// The panel form, tiled over pixel blocks and (with few pixels) column panels.
fn run_panels<T: QuantElem, W: QuantElem>(
    p: &Problem<'_, T, W>,
    v: PackedView<'_>,
    out: SharedMut<T>,
) {
    let (m, n) = (p.m, p.n);
    let (nr, mr) = p.kernel.panel(n);
    let kp = p.k.div_ceil(p.kernel.group()) * p.kernel.group();
    let panels = n.div_ceil(nr);
    let threads = useful_threads(m * n * p.k, m.div_ceil(mr) * panels);
    let rows_per = block_rows(kp, n, mr)
        .min(m.div_ceil(threads).div_ceil(mr) * mr)
        .max(1);
    let row_tiles = m.div_ceil(rows_per);
    let col_tiles = if row_tiles < threads {
        threads.div_ceil(row_tiles).min(panels)
    } else {
        1
    };
    let panels_per = panels.div_ceil(col_tiles);
    let col_tiles = panels.div_ceil(panels_per);
    let tile = |t: usize| {
        let (p0, j0) = (
            (t / col_tiles) * rows_per,
            (t % col_tiles) * panels_per * nr,
        );
        let rows = rows_per.min(m - p0);
        let cols = (panels_per * nr).min(n - j0);
        gemm_tile(p, v, (p0, rows), (j0, cols), out);
    };
    run_tiles(row_tiles * col_tiles, threads, &tile);
}

/// Conv geometry as the GEMM sees it: `(patch geometry, groups, fpg, k, pixels, pointwise)`.
pub(super) fn conv_shape(
    g: &Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
) -> (PatchGeometry, usize, usize, usize, usize, bool) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, depth] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(g.padding, in_h, fh, g.stride_h, g.dilation_h);
    let (_, pad_w) = compute_padding(g.padding, in_w, fw, g.stride_w, g.dilation_w);
    let groups = in_c / depth;
    let pointwise = fh == 1
        && fw == 1
        && g.stride_h == 1
        && g.stride_w == 1
        && pad_h == 0
        && pad_w == 0
        && out_h == in_h
        && out_w == in_w;
    let geo = PatchGeometry {
        in_h,
        in_w,
        in_c,
        fh,
        fw,
        depth,
        stride: (g.stride_h, g.stride_w),
        dilation: (g.dilation_h, g.dilation_w),
        pad: (pad_h, pad_w),
        out_h,
        out_w,
    };
    let pixels = batches * out_h * out_w;
    (
        geo,
        groups,
        out_c / groups,
        fh * fw * depth,
        pixels,
        pointwise,
    )
}

/// Packs a constant quantized CONV_2D filter for [`conv2d_prepacked`] (`T` activations, `W`
/// weights); `None` when no fast path would use it.
pub fn pack_conv<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantConvParams,
    input_shape: [usize; 4],
    filter: &[W],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
) -> Option<PackedI8> {
    let kernel = Kernel::pick(level)?;
    activation_shift::<T>()?;
    activation_shift::<W>()?;
    if filter.len() != filter_shape.iter().product::<usize>()
        || super::dwconv_i8::direct_eligible::<T, W>(level, input_shape, filter_shape)
    {
        return None;
    }
    let (_, groups, fpg, k, pixels, pointwise) =
        conv_shape(&params.geometry, input_shape, filter_shape, output_shape);
    let form = int_form(kernel, pointwise && pixels <= 2);
    Some(PackedI8::new(kernel, form, filter, groups, fpg, k))
}

/// The packed form a conv with these properties reads.
pub(super) fn form_for(pointwise: bool, pixels: usize) -> Form {
    if pointwise && pixels <= 2 {
        Form::Rows
    } else {
        Form::Panels
    }
}

/// Packs constant quantized FULLY_CONNECTED weights (`[units, depth]`) for
/// [`fully_connected_prepacked`] with `batches` input rows; `None` when no fast path would use it.
pub fn pack_fc<T: QuantElem, W: QuantElem>(
    level: Level,
    filter: &[W],
    [units, depth]: [usize; 2],
    batches: usize,
) -> Option<PackedI8> {
    let kernel = Kernel::pick(level)?;
    activation_shift::<T>()?;
    activation_shift::<W>()?;
    if depth == 0 || filter.len() != units * depth {
        return None;
    }
    let form = int_form(kernel, batches <= 2);
    Some(PackedI8::new(kernel, form, filter, 1, units, depth))
}

/// Quantized CONV_2D through the integer GEMM (shapes as accepted by `conv2d_output_shape`),
/// packing the weights per call. Returns `false` (doing nothing) when there is no fast path for
/// the level or the types.
pub fn conv2d<T: QuantElem, W: QuantElem>(
    level: Level,
    problem: &QuantConvProblem<'_, T, W>,
    output: &mut [T],
) -> bool {
    conv2d_prepacked(level, problem, None, output)
}

/// [`conv2d`] using `packed` (from [`pack_conv`] for this filter) when it fits the level.
pub fn conv2d_prepacked<T: QuantElem, W: QuantElem>(
    level: Level,
    problem: &QuantConvProblem<'_, T, W>,
    packed: Option<&PackedI8>,
    output: &mut [T],
) -> bool {
    if super::dwconv_i8::conv2d_direct(level, problem, output) {
        return true;
    }
    let (params, input, filter, bias) =
        (problem.params, problem.input, problem.filter, problem.bias);
    let Some(kernel) = Kernel::pick(level) else {
        return false;
    };
    if activation_shift::<T>().is_none() || activation_shift::<W>().is_none() {
        return false;
    }
    let (geo, groups, fpg, k, pixels, pointwise) = conv_shape(
        &params.geometry,
        problem.input_shape,
        problem.filter_shape,
        problem.output_shape,
    );
    let (in_c, out_c, depth) = (geo.in_c, problem.output_shape[3], geo.depth);
    let form = int_form(kernel, pointwise && pixels <= 2);
    let out = SharedMut::new(output);
    with_tap_ranges(&geo, |taps| {
        for grp in 0..groups {
            let cols = grp * fpg..(grp + 1) * fpg;
            let src = if pointwise {
                Source::Rows {
                    x: input,
                    ld: in_c,
                    off: grp * depth,
                }
            } else {
                Source::Patches {
                    input,
                    geo: &geo,
                    taps,
                    off: grp * depth,
                }
            };
            let q = QuantOut::new(bias.map(|b| &b[cols.clone()]), params.requant(cols, &[]));
            let problem = Problem {
                kernel,
                src,
                m: pixels,
                n: fpg,
                k,
                w: &filter[grp * fpg * k..(grp + 1) * fpg * k],
                in_off: params.input_offset,
                f_off: params.filter_offset,
                q,
                out_off: grp * fpg,
                ldo: out_c,
                float_out: None,
            };
            let view = packed.and_then(|pk| pk.view(kernel, form, (groups, fpg, k), grp));
            run(problem, view, out);
        }
    });
    true
}

/// Full-integer FULLY_CONNECTED through the integer GEMM (`input` `[batches, depth]`, `filter`
/// `[units, depth]`), packing per call. Returns `false` (doing nothing) when there is no fast
/// path.
pub fn fully_connected<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantFcParams,
    input: &[T],
    filter: &[W],
    bias: Option<&[i32]>,
    depth: usize,
    output: &mut [T],
) -> bool {
    fully_connected_prepacked(level, params, input, filter, None, bias, depth, output)
}

/// [`fully_connected`] using `packed` (from [`pack_fc`] for these weights) when it fits.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_prepacked<T: QuantElem, W: QuantElem>(
    level: Level,
    params: &QuantFcParams,
    input: &[T],
    filter: &[W],
    packed: Option<&PackedI8>,
    bias: Option<&[i32]>,
    depth: usize,
    output: &mut [T],
) -> bool {
    let Some(kernel) = Kernel::pick(level) else {
        return false;
    };
    if depth == 0 || activation_shift::<T>().is_none() || activation_shift::<W>().is_none() {
        return false;
    }
    let units = filter.len() / depth;
    let batches = (input.len() / depth).min(output.len() / units.max(1));
    let q = QuantOut {
        bias,
        multipliers: &params.multipliers,
        shifts: &params.shifts,
        rounding: params.rounding,
        output_offset: params.output_offset,
        act_min: params.act_min,
        act_max: params.act_max,
    };
    let src = Source::Rows {
        x: input,
        ld: depth,
        off: 0,
    };
    let form = int_form(kernel, is_gemv(kernel, true, batches, &src));
    let problem = Problem {
        kernel,
        src,
        m: batches,
        n: units,
        k: depth,
        w: filter,
        in_off: params.input_offset,
        f_off: params.filter_offset,
        q,
        out_off: 0,
        ldo: units,
        float_out: None,
    };
    let view = packed.and_then(|pk| pk.view(kernel, form, (1, units, depth), 0));
    run(problem, view, SharedMut::new(output));
    true
}
