//! Matrix-product kernels: `FULLY_CONNECTED` and `BATCH_MATMUL` (f32).
//!
//! `FULLY_CONNECTED` follows TFLite: weights are `[units, depth]` (each output unit is a row), the
//! input is flattened to `[input_size / depth, depth]`, bias is optional and the output is either
//! `[batches, units]` or, with `keep_num_dims`, the input shape with its last dim replaced by
//! `units`. `BATCH_MATMUL` multiplies the last two dims (optionally transposed by `adj_x` /
//! `adj_y`) and broadcasts the leading batch dims numpy-style, like TFLite (ranks 2..=5). The
//! `*_output_shape` functions validate operands; the kernels then assume consistent shapes.

use super::common::{
    activation_range, clamp_activation, dot_acc, row_major_strides, Activation, KernelError,
};

/// Options of `FULLY_CONNECTED` (float path; the weights format must be the default one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullyConnectedParams {
    /// Fused activation.
    pub activation: Activation,
    /// Keep the input's leading dims instead of flattening the output to 2-D.
    pub keep_num_dims: bool,
}

/// Options of `BATCH_MATMUL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchMatMulParams {
    /// Use the transpose of the last two dims of the left operand.
    pub adj_x: bool,
    /// Use the transpose of the last two dims of the right operand.
    pub adj_y: bool,
}

/// Validates `FULLY_CONNECTED` operands and returns the output shape.
///
/// `weights_shape` must be `[units, depth]` with `depth > 0` dividing the input's element count;
/// with `keep_num_dims` the input's last dim must equal `depth`.
pub fn fully_connected_output_shape(
    params: &FullyConnectedParams,
    input_shape: &[usize],
    weights_shape: &[usize],
    bias_len: Option<usize>,
) -> Result<Vec<usize>, KernelError> {
    let &[units, depth] = weights_shape else {
        return Err(KernelError::Shape(format!(
            "fully connected weights must be 2-D, got {weights_shape:?}"
        )));
    };
    if depth == 0 {
        return Err(KernelError::Shape(
            "fully connected weights have depth 0".into(),
        ));
    }
    let input_size: usize = input_shape.iter().product();
    if !input_size.is_multiple_of(depth) {
        return Err(KernelError::Shape(format!(
            "input {input_shape:?} cannot be flattened into rows of {depth}"
        )));
    }
    if let Some(n) = bias_len {
        if n != units {
            return Err(KernelError::Shape(format!(
                "bias has {n} elements, expected {units}"
            )));
        }
    }
    if params.keep_num_dims {
        match input_shape.split_last() {
            Some((&last, lead)) if last == depth => {
                let mut out = lead.to_vec();
                out.push(units);
                Ok(out)
            }
            _ => Err(KernelError::Shape(format!(
                "keep_num_dims needs input {input_shape:?} to end in {depth}"
            ))),
        }
    } else {
        Ok(vec![input_size / depth, units])
    }
}

/// `FULLY_CONNECTED`: `output[b, u] = act(bias[u] + Σ_d input[b, d] · weights[u, d])`.
///
/// The batch count is `input.len() / depth`; `output` holds `batches * units` values. Shapes must be
/// those accepted by [`fully_connected_output_shape`].
pub fn fully_connected(
    params: &FullyConnectedParams,
    input: &[f32],
    weights: &[f32],
    weights_shape: [usize; 2],
    bias: Option<&[f32]>,
    output: &mut [f32],
) {
    fully_connected_at(
        super::simd::level(),
        params,
        input,
        weights,
        weights_shape,
        bias,
        output,
    );
}

/// [`fully_connected`] at a given SIMD level (`Level::Scalar` runs the reference loop below).
pub(crate) fn fully_connected_at(
    level: super::simd::Level,
    params: &FullyConnectedParams,
    input: &[f32],
    weights: &[f32],
    weights_shape: [usize; 2],
    bias: Option<&[f32]>,
    output: &mut [f32],
) {
    let [units, depth] = weights_shape;
    if units == 0 || depth == 0 {
        return;
    }
    let (act_min, act_max) = activation_range(params.activation);
    let epi = super::simd::gemm_f32::Epilogue {
        bias,
        min: act_min,
        max: act_max,
    };
    if super::simd::gemm_f32::fully_connected(level, input, weights, weights_shape, epi, output) {
        return;
    }
    for (in_row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(units))
    {
        for (u, (out_v, w_row)) in out_row
            .iter_mut()
            .zip(weights.chunks_exact(depth))
            .enumerate()
        {
            let acc = dot_acc(0.0, in_row, w_row);
            let bias_v = bias.map_or(0.0, |bias| bias[u]);
            *out_v = clamp_activation(acc + bias_v, act_min, act_max);
        }
    }
}

/// Left-pads `shape` with ones to `rank` dims.
fn extend_shape(shape: &[usize], rank: usize) -> Vec<usize> {
    let mut out = vec![1; rank - shape.len()];
    out.extend_from_slice(shape);
    out
}

/// `(rows, cols)` of a matrix operand after an optional transpose of its last two dims.
fn matrix_dims(shape: &[usize], adjoint: bool) -> (usize, usize) {
    let (r, c) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    if adjoint {
        (c, r)
    } else {
        (r, c)
    }
}

/// Validates `BATCH_MATMUL` operands and returns the output shape.
///
/// Both ranks must lie in `2..=5`; batch dims are aligned from the right and must be equal or 1;
/// the contraction dims (`lhs` cols after `adj_x`, `rhs` rows after `adj_y`) must agree. The output
/// has rank `max(lhs_rank, rhs_rank)`, broadcast batch dims, then `[rows(lhs), cols(rhs)]`.
pub fn batch_matmul_output_shape(
    params: &BatchMatMulParams,
    lhs_shape: &[usize],
    rhs_shape: &[usize],
) -> Result<Vec<usize>, KernelError> {
    for (name, shape) in [("lhs", lhs_shape), ("rhs", rhs_shape)] {
        if !(2..=5).contains(&shape.len()) {
            return Err(KernelError::Shape(format!(
                "batch matmul {name} must have rank 2..=5, got {shape:?}"
            )));
        }
    }
    let rank = lhs_shape.len().max(rhs_shape.len());
    let lhs = extend_shape(lhs_shape, rank);
    let rhs = extend_shape(rhs_shape, rank);
    let mut out = Vec::with_capacity(rank);
    for (&l, &r) in lhs[..rank - 2].iter().zip(&rhs[..rank - 2]) {
        if l != r && l != 1 && r != 1 {
            return Err(KernelError::Shape(format!(
                "batch dims of {lhs_shape:?} and {rhs_shape:?} do not broadcast"
            )));
        }
        out.push(if l == 1 { r } else { l });
    }
    let (m, k_lhs) = matrix_dims(&lhs, params.adj_x);
    let (k_rhs, n) = matrix_dims(&rhs, params.adj_y);
    if k_lhs != k_rhs {
        return Err(KernelError::Shape(format!(
            "batch matmul contraction mismatch: {lhs_shape:?} (adj_x={}) vs {rhs_shape:?} \
             (adj_y={})",
            params.adj_x, params.adj_y
        )));
    }
    out.push(m);
    out.push(n);
    Ok(out)
}

/// Per-operand batch strides (in matrices) over the broadcast batch dims; 0 where broadcast.
fn broadcast_batch_strides(shape: &[usize], out_batch: &[usize]) -> Vec<usize> {
    let batch = &shape[..shape.len() - 2];
    let strides = row_major_strides(batch);
    batch
        .iter()
        .zip(strides)
        .zip(out_batch)
        .map(|((&d, s), &o)| if d == 1 && o != 1 { 0 } else { s })
        .collect()
}

/// `BATCH_MATMUL`: `output[..., i, j] = Σ_k X[..., i, k] · Y[..., k, j]` where `X` is `lhs` (or its
/// last-two-dims transpose when `adj_x`) and `Y` is `rhs` (transposed when `adj_y`), with batch
/// dims broadcast.
///
/// Shapes must be those accepted by [`batch_matmul_output_shape`]; `output` holds the product of
/// that shape. The contiguous case (`adj_y` set, `adj_x` clear) reduces to row dot products.
pub fn batch_matmul(
    params: &BatchMatMulParams,
    lhs: &[f32],
    lhs_shape: &[usize],
    rhs: &[f32],
    rhs_shape: &[usize],
    output: &mut [f32],
) {
    let rank = lhs_shape.len().max(rhs_shape.len());
    let lhs_ext = extend_shape(lhs_shape, rank);
    let rhs_ext = extend_shape(rhs_shape, rank);
    let (m, k) = matrix_dims(&lhs_ext, params.adj_x);
    let (_, n) = matrix_dims(&rhs_ext, params.adj_y);
    let out_batch: Vec<usize> = lhs_ext[..rank - 2]
        .iter()
        .zip(&rhs_ext[..rank - 2])
        .map(|(&l, &r)| if l == 1 { r } else { l })
        .collect();
    let lhs_strides = broadcast_batch_strides(&lhs_ext, &out_batch);
    let rhs_strides = broadcast_batch_strides(&rhs_ext, &out_batch);
    // Element strides of X[i, k] and Y[k, j] inside one matrix.
    let (x_i, x_k) = if params.adj_x { (1, m) } else { (k, 1) };
    let (y_k, y_j) = if params.adj_y { (1, k) } else { (n, 1) };
    if m * n == 0 {
        return;
    }

    let mut idx = vec![0usize; out_batch.len()];
    let (mut lhs_mat, mut rhs_mat) = (0usize, 0usize);
    for out_mat in output.chunks_exact_mut(m * n) {
        let x = &lhs[lhs_mat * m * k..(lhs_mat + 1) * m * k];
        let y = &rhs[rhs_mat * k * n..(rhs_mat + 1) * k * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for kk in 0..k {
                    acc += x[i * x_i + kk * x_k] * y[kk * y_k + j * y_j];
                }
                out_mat[i * n + j] = acc;
            }
        }
        // Advance the batch odometer, moving each operand by its (possibly zero) stride.
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            lhs_mat += lhs_strides[d];
            rhs_mat += rhs_strides[d];
            if idx[d] < out_batch[d] {
                break;
            }
            lhs_mat -= lhs_strides[d] * out_batch[d];
            rhs_mat -= rhs_strides[d] * out_batch[d];
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::rand_vec;

    fn fc(activation: Activation, keep_num_dims: bool) -> FullyConnectedParams {
        FullyConnectedParams {
            activation,
            keep_num_dims,
        }
    }

    #[test]
    fn fully_connected_hand_checked() {
        // Two rows [1, 2, 3] and [-1, 0, 1]; units w0 = [1, 0, -1], w1 = [2, 1, 0].
        let x = [1.0, 2.0, 3.0, -1.0, 0.0, 1.0];
        let w = [1.0, 0.0, -1.0, 2.0, 1.0, 0.0];
        let p = fc(Activation::None, false);
        assert_eq!(
            fully_connected_output_shape(&p, &[2, 3], &[2, 3], Some(2)).unwrap(),
            [2, 2]
        );
        let mut out = [0.0; 4];
        fully_connected(&p, &x, &w, [2, 3], Some(&[0.5, -0.5]), &mut out);
        assert_eq!(out, [-1.5, 3.5, -1.5, -2.5]);
        fully_connected(&fc(Activation::Relu, false), &x, &w, [2, 3], None, &mut out);
        assert_eq!(out, [0.0, 4.0, 0.0, 0.0]);
    }

    #[test]
    fn fully_connected_shapes_flatten_or_keep_dims() {
        let flat = fc(Activation::None, false);
        let keep = fc(Activation::None, true);
        assert_eq!(
            fully_connected_output_shape(&flat, &[2, 2, 3], &[5, 3], None).unwrap(),
            [4, 5]
        );
        assert_eq!(
            fully_connected_output_shape(&keep, &[2, 2, 3], &[5, 3], None).unwrap(),
            [2, 2, 5]
        );
        // Flattening may regroup across dims: [2, 6] with depth 3 is four rows.
        assert_eq!(
            fully_connected_output_shape(&flat, &[2, 6], &[5, 3], None).unwrap(),
            [4, 5]
        );
        assert!(fully_connected_output_shape(&keep, &[2, 6], &[5, 3], None).is_err());
        assert!(fully_connected_output_shape(&flat, &[2, 5], &[5, 3], None).is_err());
        assert!(fully_connected_output_shape(&flat, &[2, 3], &[5, 3], Some(3)).is_err());
        assert!(fully_connected_output_shape(&flat, &[2, 3], &[5, 3, 1], None).is_err());
        assert!(fully_connected_output_shape(&flat, &[2, 3], &[5, 0], None).is_err());

        // keep_num_dims only changes the shape, not the values.
        let x = rand_vec(12, 1);
        let w = rand_vec(15, 2);
        let (mut a, mut b) = ([0.0; 20], [0.0; 20]);
        fully_connected(&flat, &x, &w, [5, 3], None, &mut a);
        fully_connected(&keep, &x, &w, [5, 3], None, &mut b);
        assert_eq!(a, b);
        for r in 0..4 {
            for u in 0..5 {
                let e: f32 = (0..3).map(|d| x[r * 3 + d] * w[u * 3 + d]).sum();
                assert!((a[r * 5 + u] - e).abs() < 1e-6);
            }
        }
    }

    /// Materializes the transposed/broadcast operands explicitly, then multiplies plainly.
    fn naive_bmm(
        p: &BatchMatMulParams,
        l: &[f32],
        ls: &[usize],
        r: &[f32],
        rs: &[usize],
    ) -> Vec<f32> {
        let os = batch_matmul_output_shape(p, ls, rs).unwrap();
        let rank = os.len();
        let (m, n) = (os[rank - 2], os[rank - 1]);
        let k = if p.adj_x {
            ls[ls.len() - 2]
        } else {
            ls[ls.len() - 1]
        };
        let batches: usize = os[..rank - 2].iter().product();
        // Index of the operand matrix used for output batch `b` (right-aligned, 1 = broadcast).
        let pick = |shape: &[usize], b: usize| {
            let bdims = &shape[..shape.len() - 2];
            let (mut rem, mut idx, mut mul) = (b, 0, 1);
            for d in (0..rank - 2).rev() {
                let o = os[d];
                let coord = rem % o;
                rem /= o;
                let off = (rank - 2) - bdims.len();
                if d >= off {
                    let size = bdims[d - off];
                    idx += if size == 1 { 0 } else { coord } * mul;
                    mul *= size;
                }
            }
            idx
        };
        let mut out = Vec::new();
        for b in 0..batches {
            let (lb, rb) = (pick(ls, b), pick(rs, b));
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0.0f64;
                    for kk in 0..k {
                        let xv = if p.adj_x {
                            l[lb * m * k + kk * m + i]
                        } else {
                            l[lb * m * k + i * k + kk]
                        };
                        let yv = if p.adj_y {
                            r[rb * k * n + j * k + kk]
                        } else {
                            r[rb * k * n + kk * n + j]
                        };
                        s += (xv * yv) as f64;
                    }
                    out.push(s as f32);
                }
            }
        }
        out
    }

    #[test]
    fn batch_matmul_hand_checked() {
        // [[1, 2, 3], [4, 5, 6]] x [[1, 0], [0, 1], [1, 1]].
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let p = BatchMatMulParams::default();
        assert_eq!(
            batch_matmul_output_shape(&p, &[2, 3], &[3, 2]).unwrap(),
            [2, 2]
        );
        let mut out = [0.0; 4];
        batch_matmul(&p, &a, &[2, 3], &b, &[3, 2], &mut out);
        assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
        // Same product from stored transposes: a^T is [3, 2], b^T is [2, 3].
        let at = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        let bt = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let adj = BatchMatMulParams {
            adj_x: true,
            adj_y: true,
        };
        assert_eq!(
            batch_matmul_output_shape(&adj, &[3, 2], &[2, 3]).unwrap(),
            [2, 2]
        );
        let mut out2 = [0.0; 4];
        batch_matmul(&adj, &at, &[3, 2], &bt, &[2, 3], &mut out2);
        assert_eq!(out2, out);
    }

    #[test]
    fn batch_matmul_adjoints_and_broadcast_match_naive() {
        let cases: [(&[usize], &[usize]); 5] = [
            (&[3, 4, 5], &[3, 5, 2]),
            (&[2, 1, 4, 5], &[3, 5, 2]),
            (&[4, 5], &[2, 3, 5, 6]),
            (&[2, 1, 3, 4, 5], &[1, 2, 1, 5, 3]),
            (&[1, 2, 3], &[4, 1, 3, 2]),
        ];
        for (c, (ls, rs)) in cases.iter().enumerate() {
            for (adj_x, adj_y) in [(false, false), (true, false), (false, true), (true, true)] {
                let p = BatchMatMulParams { adj_x, adj_y };
                // Swap the last two dims of each stored operand when its adjoint flag is set.
                let swap = |s: &[usize], t: bool| {
                    let mut v = s.to_vec();
                    let r = v.len();
                    if t {
                        v.swap(r - 1, r - 2);
                    }
                    v
                };
                let (ls, rs) = (swap(ls, adj_x), swap(rs, adj_y));
                let os = batch_matmul_output_shape(&p, &ls, &rs).unwrap();
                let l = rand_vec(ls.iter().product(), 10 + c as u64);
                let r = rand_vec(rs.iter().product(), 20 + c as u64);
                let mut out = vec![0.0; os.iter().product()];
                batch_matmul(&p, &l, &ls, &r, &rs, &mut out);
                let expect = naive_bmm(&p, &l, &ls, &r, &rs);
                for (a, e) in out.iter().zip(&expect) {
                    assert!(
                        (a - e).abs() < 1e-5,
                        "case {c} adj ({adj_x}, {adj_y}): {a} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn batch_matmul_shapes() {
        let p = BatchMatMulParams::default();
        assert_eq!(
            batch_matmul_output_shape(&p, &[2, 1, 4, 5], &[3, 5, 2]).unwrap(),
            [2, 3, 4, 2]
        );
        assert!(batch_matmul_output_shape(&p, &[2, 4, 5], &[3, 5, 2]).is_err());
        assert!(batch_matmul_output_shape(&p, &[4, 5], &[4, 2]).is_err());
        assert!(batch_matmul_output_shape(&p, &[5], &[5, 2]).is_err());
        assert!(batch_matmul_output_shape(&p, &[1, 1, 1, 1, 2, 3], &[3, 2]).is_err());
        let adj = BatchMatMulParams {
            adj_x: true,
            adj_y: false,
        };
        assert_eq!(
            batch_matmul_output_shape(&adj, &[5, 4], &[5, 2]).unwrap(),
            [4, 2]
        );
    }
}
