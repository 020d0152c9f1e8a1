//! Unit tests of the quantized BATCH_MATMUL kernels against straightforward formulas.

use super::*;
use crate::kernels::common::Activation;
use crate::kernels::matmul::batch_matmul;
use crate::kernels::quant::fixed_point::apply_multiplier;
use crate::kernels::quant::fully_connected::fully_connected_params;
use crate::kernels::quant::QuantParams;

fn vals(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn ints(n: usize, seed: u32) -> Vec<i8> {
    vals(n, seed).iter().map(|v| (v * 127.0) as i8).collect()
}

/// Element `(i, j)` of matrix `mat` of an operand, honouring the transpose flag.
fn at<T: Copy>(data: &[T], mat: usize, r: usize, c: usize, i: usize, j: usize, adj: bool) -> T {
    let base = mat * r * c;
    if adj {
        data[base + j * c + i]
    } else {
        data[base + i * c + j]
    }
}

#[test]
fn layout_broadcasts_batches() {
    let p = BatchMatMulParams::default();
    let l = BatchMatMulLayout::new(&p, &[2, 1, 3, 4], &[3, 4, 5]).unwrap();
    assert_eq!((l.m, l.k, l.n), (3, 4, 5));
    assert_eq!(
        l.pairs,
        vec![(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    );
    assert!(BatchMatMulLayout::new(&p, &[2, 3, 4], &[3, 5, 6]).is_err());
}

#[test]
fn hybrid_scale_index_follows_litert() {
    let p = BatchMatMulParams::default();
    // Two non-broadcast lhs batch dims: scale base is (a + b) * m, not (a * 3 + b) * m.
    let l = BatchMatMulLayout::new(&p, &[2, 3, 4, 8], &[3, 8, 5]).unwrap();
    let want: Vec<usize> = (0..2)
        .flat_map(|a| (0..3).map(move |b| (a + b) * 4))
        .collect();
    assert_eq!(l.hybrid_scale_base, want);
    assert_eq!(l.hybrid_row_sum_base, vec![0, 5, 10, 0, 5, 10]);
    // One batch dim: row-major.
    let l = BatchMatMulLayout::new(&p, &[3, 4, 8], &[3, 8, 5]).unwrap();
    assert_eq!(l.hybrid_scale_base, vec![0, 4, 8]);
    // rhs [.., 1, K, N] is folded away: lhs [2, 3, 4, 8] becomes [2, 12, 8].
    let l = BatchMatMulLayout::new(&p, &[2, 3, 4, 8], &[1, 8, 5]).unwrap();
    assert_eq!(l.hybrid_scale_base, vec![0, 4, 8, 12, 16, 20]);
    assert_eq!(l.hybrid_row_sum_base, vec![0; 6]);
}

#[test]
fn int8_matches_formula_for_every_transpose() {
    let (x_q, y_q, o_q) = (
        QuantParams::new(0.03, -3),
        QuantParams::new(0.02, 7),
        QuantParams::new(0.15, 2),
    );
    for (adj_x, adj_y) in [(false, false), (true, false), (false, true), (true, true)] {
        let p = BatchMatMulParams { adj_x, adj_y };
        let (m, k, n) = (3, 37, 5);
        let ls = if adj_x { [2, k, m] } else { [2, m, k] };
        let rs = if adj_y { [1, n, k] } else { [1, k, n] };
        let layout = BatchMatMulLayout::new(&p, &ls, &rs).unwrap();
        let qp = fully_connected_params::<i8, i8>(x_q, &[y_q.scale], 7, o_q, Activation::None, n)
            .unwrap();
        let lhs = ints(2 * m * k, 1);
        let rhs = ints(k * n, 2);
        let mut got = vec![0i8; 2 * m * n];
        batch_matmul_i8(
            &layout,
            &qp,
            &lhs,
            &rhs,
            &mut QuantBmmScratch::default(),
            &mut got,
        );
        for b in 0..2 {
            for i in 0..m {
                for j in 0..n {
                    let acc: i32 = (0..k)
                        .map(|kk| {
                            (i32::from(at(&lhs, b, ls[1], ls[2], i, kk, adj_x)) + 3)
                                * (i32::from(at(&rhs, 0, rs[1], rs[2], kk, j, adj_y)) - 7)
                        })
                        .sum();
                    let v = apply_multiplier(acc, qp.multipliers[0], qp.shifts[0], qp.rounding) + 2;
                    assert_eq!(got[(b * m + i) * n + j], v.clamp(-128, 127) as i8);
                }
            }
        }
    }
}

#[test]
fn hybrid_close_to_float_product() {
    for (asymmetric, adj_x, adj_y) in [(true, false, false), (false, true, true)] {
        let p = BatchMatMulParams { adj_x, adj_y };
        let (m, k, n) = (4, 33, 6);
        let ls = if adj_x { [3, k, m] } else { [3, m, k] };
        let rs = if adj_y { [3, n, k] } else { [3, k, n] };
        let layout = BatchMatMulLayout::new(&p, &ls, &rs).unwrap();
        let lhs: Vec<f32> = vals(3 * m * k, 3).iter().map(|v| v + 0.4).collect();
        let rhs = ints(3 * k * n, 4);
        let scale = 0.01f32;
        let mut got = vec![0f32; 3 * m * n];
        let mut scratch = HybridBmmScratch::new(true);
        let hp = HybridBmmParams {
            asymmetric,
            filter_scale: scale,
        };
        // Twice: the second call uses the cached weights.
        for _ in 0..2 {
            hybrid_batch_matmul(&layout, &hp, &lhs, &rhs, &mut scratch, &mut got);
        }
        let real: Vec<f32> = rhs.iter().map(|&w| f32::from(w) * scale).collect();
        let mut want = vec![0f32; got.len()];
        batch_matmul(&p, &lhs, &ls, &real, &rs, &mut want);
        // 8-bit rows and weights: about 1% of the output's range.
        let peak = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 0.02 * peak,
                "{g} vs {w} ({asymmetric}, {adj_x}, {adj_y}, peak {peak})"
            );
        }
    }
}
