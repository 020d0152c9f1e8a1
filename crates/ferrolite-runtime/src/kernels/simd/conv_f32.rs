//! CONV_2D and FULLY_CONNECTED (f32) on the packed GEMM of [`super::gemm_f32`]: weight
//! pre-packing, im2col blocks and tiling of the output across threads.
//!
//! Constant weights are packed once by [`pack_conv`] / [`pack_fc`] (called when the operator is
//! prepared; the result is kept by the kernel and counted in the interpreter's persistent bytes).
//! Without a pre-packed form the weights are packed per call into per-thread scratch, as before.
//! Products with few output rows and per-call packing may instead pack the activations and store
//! transposed ([`super::gemm_f32::gemm_packed_trans`]); a 1- or 2-row FULLY_CONNECTED runs dot
//! products over the weights in place.
//!
//! The output is cut into tiles — blocks of output pixels (rows), and column ranges aligned to
//! the packed panels when there are too few rows to share — that run on up to
//! [`super::parallel::threads`] threads. Which product form runs never depends on the thread
//! count, and every element is computed by the same instructions in the same order in any tile,
//! so results are bit-identical for every thread count.
//!
//! The drivers return `false` at the scalar level so the caller runs its reference loop.

use super::aligned::AlignedBuf;
use super::conv_direct;
use super::gemm_f32::{
    gemm_packed_nv, gemm_packed_trans, gemv, pack_w, packed_len, panel_width, prefer_transposed,
    vectors_per_panel, Epilogue,
};
use super::im2col::{patch_row, with_tap_ranges, PatchGeometry, PixelPos, TapRanges};
use super::parallel::{run_tiles, useful_threads, SharedMut};
use super::{with_scratch_a, with_scratch_b, Level};
use crate::kernels::common::compute_padding;
use crate::kernels::conv::Conv2DParams;

/// Row-tile granularity: a multiple of every micro-kernel's row count (12, 8, 6).
const ROW_STEP: usize = 24;

/// Weights packed once for a CONV_2D (one block of panels per group) or FULLY_CONNECTED, stored
/// 64-byte aligned ([`AlignedBuf::pooled`]; huge-page pool with `FERROLITE_HUGEPAGES=on`).
#[derive(Debug, Clone)]
pub struct PackedF32 {
    level: Level,
    groups: usize,
    n: usize,
    k: usize,
    data: AlignedBuf<f32>,
}

impl PackedF32 {
    /// Packs `groups` consecutive `n × k` weight matrices of `w` for `level`.
    fn pack(level: Level, w: &[f32], groups: usize, n: usize, k: usize) -> Self {
        let len = packed_len(level, n, k);
        let mut data = vec![0.0; groups * len];
        for (g, out) in data.chunks_exact_mut(len).enumerate() {
            pack_w(level, &w[g * n * k..(g + 1) * n * k], k, n, k, out);
        }
        PackedF32 {
            level,
            groups,
            n,
            k,
            data: AlignedBuf::pooled(&data),
        }
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }

    /// The SIMD level the panels were packed for.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Group `g`'s panels if the packing fits this call.
    fn group(
        &self,
        level: Level,
        (groups, n, k): (usize, usize, usize),
        g: usize,
    ) -> Option<&[f32]> {
        if (self.level, self.groups, self.n, self.k) != (level, groups, n, k) {
            return None;
        }
        let len = packed_len(level, n, k);
        self.data.get(g * len..(g + 1) * len)
    }
}

/// Output pixels gathered per im2col block for a `k`-wide patch (about 64 KiB of patches).
fn block_rows(k: usize) -> usize {
    ((16 * 1024) / k.max(1)).clamp(ROW_STEP, 480) / ROW_STEP * ROW_STEP
}

/// How one CONV_2D call is computed.
struct ConvPlan {
    geo: PatchGeometry,
    groups: usize,
    /// Output channels per group (GEMM `n`).
    fpg: usize,
    /// Patch length (GEMM `k`).
    k: usize,
    /// Output pixels (GEMM `m`).
    pixels: usize,
    /// 1x1, stride 1, no padding: the input rows are the GEMM's `A` as they are.
    pointwise: bool,
    /// Activations packed, weights in place, transposed store.
    trans: bool,
}

fn conv_plan(
    level: Level,
    params: &Conv2DParams,
    input_shape: [usize; 4],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
    prepacked: bool,
) -> ConvPlan {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, fh, fw, depth] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let (_, pad_h) = compute_padding(params.padding, in_h, fh, params.stride_h, params.dilation_h);
    let (_, pad_w) = compute_padding(params.padding, in_w, fw, params.stride_w, params.dilation_w);
    let groups = in_c / depth;
    let fpg = out_c / groups;
    let k = fh * fw * depth;
    let pixels = batches * out_h * out_w;
    let pointwise = fh == 1
        && fw == 1
        && params.stride_h == 1
        && params.stride_w == 1
        && pad_h == 0
        && pad_w == 0
        && out_h == in_h
        && out_w == in_w;
    let trans = pointwise && prefer_transposed(level, (pixels, fpg, k), prepacked);
    ConvPlan {
        geo: PatchGeometry {
            in_h,
            in_w,
            in_c,
            fh,
            fw,
            depth,
            stride: (params.stride_h, params.stride_w),
            dilation: (params.dilation_h, params.dilation_w),
            pad: (pad_h, pad_w),
            out_h,
            out_w,
        },
        groups,
        fpg,
        k,
        pixels,
        pointwise,
        trans,
    }
}

/// Packs a constant CONV_2D filter for [`conv2d_prepacked`]; `None` when the call would not use
/// it (scalar level, or a product that runs transposed with the weights in place).
pub fn pack_conv(
    level: Level,
    params: &Conv2DParams,
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    output_shape: [usize; 4],
) -> Option<PackedF32> {
    if level == Level::Scalar || filter.len() != filter_shape.iter().product::<usize>() {
        return None;
    }
    let plan = conv_plan(level, params, input_shape, filter_shape, output_shape, true);
    if !plan.pointwise && conv_direct::eligible(level, &plan.geo, plan.groups, plan.fpg) {
        return None;
    }
    (!plan.trans).then(|| PackedF32::pack(level, filter, plan.groups, plan.fpg, plan.k))
}

/// CONV_2D through GEMM (shapes as accepted by `conv2d_output_shape`), packing the weights per
/// call. Returns `false` (doing nothing) at the scalar level.
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
    conv2d_prepacked(
        level,
        params,
        input,
        input_shape,
        filter,
        filter_shape,
        None,
        epi,
        output,
        output_shape,
    )
}

/// [`conv2d`] using `packed` (from [`pack_conv`] for this filter) when it fits the level.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_prepacked(
    level: Level,
    params: &Conv2DParams,
    input: &[f32],
    input_shape: [usize; 4],
    filter: &[f32],
    filter_shape: [usize; 4],
    packed: Option<&PackedF32>,
    epi: Epilogue<'_>,
    output: &mut [f32],
    output_shape: [usize; 4],
) -> bool {
    if level == Level::Scalar {
        return false;
    }
    let probe = conv_plan(
        level,
        params,
        input_shape,
        filter_shape,
        output_shape,
        false,
    );
    let dims = (probe.groups, probe.fpg, probe.k);
    let packed = packed.filter(|p| p.group(level, dims, 0).is_some());
    let plan = match packed {
        Some(_) => conv_plan(level, params, input_shape, filter_shape, output_shape, true),
        None => probe,
    };
    let (in_c, out_c) = (input_shape[3], output_shape[3]);
    let (fpg, k) = (plan.fpg, plan.k);
    if !plan.pointwise && conv_direct::eligible(level, &plan.geo, plan.groups, fpg) {
        let batches = input_shape[0];
        conv_direct::conv2d(level, &plan.geo, batches, input, filter, fpg, epi, output);
        return true;
    }
    let out = SharedMut::new(output);
    with_tap_ranges(&plan.geo, |taps| {
        for g in 0..plan.groups {
            let w = &filter[g * fpg * k..(g + 1) * fpg * k];
            let bias = epi.bias.map(|b| &b[g * fpg..(g + 1) * fpg]);
            let epi = Epilogue { bias, ..epi };
            let a = if plan.pointwise {
                Lhs::Rows {
                    x: &input[g * plan.geo.depth..],
                    ld: in_c,
                }
            } else {
                Lhs::Patches {
                    geo: &plan.geo,
                    taps,
                    input,
                    off: g * plan.geo.depth,
                }
            };
            let problem = Product {
                level,
                m: plan.pixels,
                n: fpg,
                k,
                a,
                epi,
                out,
                out_off: g * fpg,
                ldc: out_c,
            };
            if plan.trans {
                problem.run_trans(w, k);
            } else if let Some(p) = packed.and_then(|p| p.group(level, dims, g)) {
                problem.run(p);
            } else {
                with_scratch_a(packed_len(level, fpg, k), |buf| {
                    pack_w(level, w, k, fpg, k, buf);
                    problem.run(buf);
                });
            }
        }
    });
    true
}

/// Where the GEMM's `A` rows come from.
#[derive(Clone, Copy)]
enum Lhs<'a> {
    /// Row `p` is `x[p · ld ..][..k]`.
    Rows { x: &'a [f32], ld: usize },
    /// Row `p` is output pixel `p`'s receptive field over channels `off..off + depth`.
    Patches {
        geo: &'a PatchGeometry,
        taps: &'a TapRanges,
        input: &'a [f32],
        off: usize,
    },
}

/// One product `out[p · ldc + out_off + j] = clamp(A[p] · W[j] + bias[j])`, `p < m`, `j < n`.
#[derive(Clone, Copy)]
struct Product<'a> {
    level: Level,
    m: usize,
    n: usize,
    k: usize,
    a: Lhs<'a>,
    epi: Epilogue<'a>,
    out: SharedMut<f32>,
    out_off: usize,
    ldc: usize,
}

impl Product<'_> {
    /// Runs with `W` packed by `pack_w` (for this `n` and level), tiled over rows and, when
    /// there are too few rows for every thread, column panels.
    fn run(&self, packed: &[f32]) {
        let (level, m, n, k) = (self.level, self.m, self.n, self.k);
        let nv = vectors_per_panel(level, n);
        let nr = nv * panel_width(level, 1);
        let panels = n.div_ceil(nr);
        let threads = useful_threads(m * n * k, m.div_ceil(ROW_STEP) * panels);
        let block = match self.a {
            Lhs::Rows { .. } => m,
            Lhs::Patches { .. } => block_rows(k),
        };
        let rows_per = block
            .min(m.div_ceil(threads).div_ceil(ROW_STEP) * ROW_STEP)
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
            let bias = self.epi.bias.map(|b| &b[j0..]);
            let epi = Epilogue { bias, ..self.epi };
            let pk = &packed[j0 * k..];
            // SAFETY: the tile writes only rows p0..p0 + rows, columns out_off + j0.. + cols,
            // which no other tile writes; the output stays borrowed by the driver meanwhile.
            let c = unsafe { self.out.tail(p0 * self.ldc + self.out_off + j0) };
            match self.a {
                Lhs::Rows { x, ld } => gemm_packed_nv(
                    level,
                    nv,
                    (rows, cols, k),
                    &x[p0 * ld..],
                    ld,
                    pk,
                    epi,
                    c,
                    self.ldc,
                ),
                Lhs::Patches {
                    geo,
                    taps,
                    input,
                    off,
                } => with_scratch_b(rows * k, |patches| {
                    let mut pos = PixelPos::at(geo, p0);
                    for patch in patches.chunks_exact_mut(k) {
                        patch_row(geo, taps, input, pos, off, patch, 0.0, |v| v);
                        pos.advance(geo);
                    }
                    gemm_packed_nv(level, nv, (rows, cols, k), patches, k, pk, epi, c, self.ldc);
                }),
            }
        };
        run_tiles(row_tiles * col_tiles, threads, &tile);
    }

    /// Runs transposed: `A` (rows form only, `m` small) packed once, `W` (`n` rows at stride
    /// `ldw`) read in place and split into row ranges across threads.
    fn run_trans(&self, w: &[f32], ldw: usize) {
        let Lhs::Rows { x, ld } = self.a else {
            unreachable!("only the rows form runs transposed");
        };
        let (level, m, n, k) = (self.level, self.m, self.n, self.k);
        with_scratch_a(packed_len(level, m, k), |pa| {
            pack_w(level, x, ld, m, k, pa);
            let pa = &*pa;
            let threads = useful_threads(m * n * k, n.div_ceil(8));
            let per = n.div_ceil(threads).div_ceil(8) * 8;
            let tile = |t: usize| {
                let j0 = t * per;
                let cols = per.min(n - j0);
                let bias = self.epi.bias.map(|b| &b[j0..]);
                let epi = Epilogue { bias, ..self.epi };
                // SAFETY: the tile writes only columns out_off + j0.. + cols of each row.
                let c = unsafe { self.out.tail(self.out_off + j0) };
                gemm_packed_trans(
                    level,
                    (m, cols, k),
                    &w[j0 * ldw..],
                    ldw,
                    pa,
                    epi,
                    c,
                    self.ldc,
                );
            };
            run_tiles(n.div_ceil(per), threads, &tile);
        });
    }
}

/// Packs constant FULLY_CONNECTED weights (`[units, depth]`) for [`fully_connected_prepacked`]
/// with `batches` input rows; `None` when the call would not use it (scalar level, one or two
/// rows, or a transposed product).
pub fn pack_fc(
    level: Level,
    weights: &[f32],
    [units, depth]: [usize; 2],
    batches: usize,
) -> Option<PackedF32> {
    if level == Level::Scalar
        || batches <= 2
        || weights.len() != units * depth
        || prefer_transposed(level, (batches, units, depth), true)
    {
        return None;
    }
    Some(PackedF32::pack(level, weights, 1, units, depth))
}

/// FULLY_CONNECTED: `output[b] = clamp(input[b] · weightsᵀ + bias)` for every batch row,
/// packing per call. Returns `false` (doing nothing) at the scalar level.
pub fn fully_connected(
    level: Level,
    input: &[f32],
    weights: &[f32],
    dims: [usize; 2],
    epi: Epilogue<'_>,
    output: &mut [f32],
) -> bool {
    fully_connected_prepacked(level, input, weights, dims, None, epi, output)
}

/// [`fully_connected`] using `packed` (from [`pack_fc`] for these weights) when it fits.
pub fn fully_connected_prepacked(
    level: Level,
    input: &[f32],
    weights: &[f32],
    [units, depth]: [usize; 2],
    packed: Option<&PackedF32>,
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
    let out = SharedMut::new(output);
    if batches <= 2 {
        let threads = useful_threads(batches * units * depth, units.div_ceil(8));
        let per = units.div_ceil(threads).div_ceil(8) * 8;
        let tile = |t: usize| {
            let u0 = t * per;
            let cols = per.min(units - u0);
            let bias = epi.bias.map(|b| &b[u0..]);
            let epi = Epilogue { bias, ..epi };
            for (b, x) in input.chunks_exact(depth).take(batches).enumerate() {
                // SAFETY: the tile writes only units u0..u0 + cols of each row.
                let y = unsafe { &mut out.tail(b * units + u0)[..cols] };
                gemv(level, depth, x, &weights[u0 * depth..], depth, epi, y);
            }
        };
        run_tiles(units.div_ceil(per), threads, &tile);
        return true;
    }
    let packed = packed.and_then(|p| p.group(level, (1, units, depth), 0));
    let problem = Product {
        level,
        m: batches,
        n: units,
        k: depth,
        a: Lhs::Rows {
            x: input,
            ld: depth,
        },
        epi,
        out,
        out_off: 0,
        ldc: units,
    };
    match packed {
        Some(p) => problem.run(p),
        None if prefer_transposed(level, (batches, units, depth), false) => {
            problem.run_trans(weights, depth)
        }
        None => with_scratch_a(packed_len(level, units, depth), |buf| {
            pack_w(level, weights, depth, units, depth, buf);
            problem.run(buf);
        }),
    }
    true
}
