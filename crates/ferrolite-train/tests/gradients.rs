//! Gradients of the training-time ops checked against central finite differences (where the op
//! is differentiable) and against their defined straight-through values (where it is not):
//! the clustering op, the sparsity mask of prune-preserving QAT, and fake quantization.

use burn::tensor::{Device, Tensor, TensorData};
use ferrolite_train::cluster::clustered_weight;
use ferrolite_train::forward::to_vec;
use ferrolite_train::qat::{fake_quant, fake_quant_weight};

fn t1(v: &[f32], dev: &Device) -> Tensor<1> {
    Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), dev)
}

/// A smooth scalar loss of a vector: sum(coef * y^2) + sum(y).
const COEF: [f32; 7] = [0.3, -1.2, 0.7, 2.0, -0.4, 1.1, 0.5];

fn loss_host(y: &[f32]) -> f64 {
    y.iter()
        .zip(COEF)
        .map(|(&v, c)| f64::from(c) * f64::from(v) * f64::from(v) + f64::from(v))
        .sum()
}

fn loss(y: Tensor<1>) -> Tensor<1> {
    let dev = y.device();
    let c = t1(&COEF[..y.dims()[0]], &dev);
    (y.clone() * y.clone() * c).sum() + y.sum()
}

const W: [f32; 7] = [0.11, 0.14, 0.92, 1.07, -0.48, -0.02, 0.5];
const C: [f32; 4] = [-0.5, 0.1, 0.55, 1.0];

#[test]
fn clustering_gradient_matches_finite_differences_for_centroids() {
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let w = t1(&W, &ad).require_grad();
    let c = t1(&C, &ad).require_grad();
    let y = clustered_weight(w.clone(), c.clone(), None).unwrap();
    // Forward: every weight takes its nearest centroid's value.
    let yv = to_vec(&y.clone().inner()).unwrap();
    assert_eq!(yv, vec![0.1, 0.1, 1.0, 1.0, -0.5, 0.1, 0.55]);
    let grads = loss(y).backward();
    let gc = to_vec(&c.grad(&grads).unwrap()).unwrap();
    let gw = to_vec(&w.grad(&grads).unwrap()).unwrap();
    // Centroids: central differences of the host loss (assignments do not change for a small
    // step, so the op is differentiable in the centroids).
    let eps = 1e-3f32;
    for j in 0..C.len() {
        let mut hi = C;
        let mut lo = C;
        hi[j] += eps;
        lo[j] -= eps;
        let f = |c: [f32; 4]| {
            let y = clustered_weight(t1(&W, &plain), t1(&c, &plain), None).unwrap();
            loss_host(&to_vec(&y).unwrap())
        };
        let fd = (f(hi) - f(lo)) / (2.0 * f64::from(eps));
        assert!(
            (f64::from(gc[j]) - fd).abs() < 1e-3 * (1.0 + fd.abs()),
            "centroid {j}: autodiff {} vs finite differences {fd}",
            gc[j]
        );
    }
    // Original weights: straight through, each gets d loss / d y_i = 2 coef_i y_i + 1.
    for i in 0..W.len() {
        let expect = 2.0 * COEF[i] * yv[i] + 1.0;
        assert!((gw[i] - expect).abs() < 1e-5, "w{i}: {} vs {expect}", gw[i]);
    }
}

#[test]
fn sparsity_preserving_clustering_masks_before_assigning() {
    let ad = Device::flex().autodiff();
    let mask = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let c = [-0.5, 0.0, 1.0];
    let w = t1(&W, &ad).require_grad();
    let cc = t1(&c, &ad).require_grad();
    let y = clustered_weight(w, cc.clone(), Some(&mask)).unwrap();
    let yv = to_vec(&y.clone().inner()).unwrap();
    // The masked -0.48 goes to the zero centroid instead of -0.5; 0.5 is a tie between 0 and
    // 1 and takes the first (tf.argmin).
    assert_eq!(yv, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    let g = to_vec(&cc.grad(&loss(y).backward()).unwrap()).unwrap();
    // Centroid -0.5 has no member left: zero gradient.
    assert_eq!(g[0], 0.0);
    assert!((g[2] - (2.0 * (COEF[2] + COEF[3]) + 2.0)).abs() < 1e-5);
}

#[test]
fn mask_gradient_matches_finite_differences() {
    // PQAT's mask op y = w * m: gradient m * dL/dy, zero at pruned weights.
    let plain = Device::flex();
    let ad = plain.clone().autodiff();
    let m = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
    let w = t1(&W, &ad).require_grad();
    let y = w.clone() * t1(&m, &ad);
    let g = to_vec(&w.grad(&loss(y).backward()).unwrap()).unwrap();
    let eps = 1e-3f32;
    for i in 0..W.len() {
        let f = |d: f32| {
            let mut v = W;
            v[i] += d;
            let y: Vec<f32> = v.iter().zip(m).map(|(a, b)| a * b).collect();
            loss_host(&y)
        };
        let fd = (f(eps) - f(-eps)) / (2.0 * f64::from(eps));
        assert!(
            (f64::from(g[i]) - fd).abs() < 1e-3,
            "w{i}: {} vs {fd}",
            g[i]
        );
        if m[i] == 0.0 {
            assert_eq!(g[i], 0.0);
        }
    }
}

#[test]
fn fake_quant_gradients_are_straight_through() {
    // Activations on [-1, 1]: dL/dx = dL/dq inside the (nudged) range, 0 outside. Between grid
    // points fake quantization is piecewise constant, so finite differences would give 0; the
    // defined (TensorFlow) gradient is the straight-through one checked here analytically.
    let ad = Device::flex().autodiff();
    let x = [-1.5, -0.3, 0.0, 0.2, 0.9, 1.4, 0.6];
    let xt = t1(&x, &ad).require_grad();
    let y = fake_quant(xt.clone(), -1.0, 1.0);
    let yv = to_vec(&y.clone().inner()).unwrap();
    let g = to_vec(&xt.grad(&loss(y).backward()).unwrap()).unwrap();
    for i in 0..x.len() {
        let inside = (-1.0..=1.0).contains(&x[i]);
        let expect = if inside {
            2.0 * COEF[i] * yv[i] + 1.0
        } else {
            0.0
        };
        assert!((g[i] - expect).abs() < 1e-5, "x{i}: {} vs {expect}", g[i]);
    }
    // Weights: the per-channel range always covers the weights, so the gradient is dL/dq.
    let w = t1(&W[..6], &ad).require_grad();
    let q = fake_quant_weight(w.clone(), 2, false);
    let qv = to_vec(&q.clone().inner()).unwrap();
    let g = to_vec(&w.grad(&loss(q).backward()).unwrap()).unwrap();
    for i in 0..6 {
        let expect = 2.0 * COEF[i] * qv[i] + 1.0;
        assert!((g[i] - expect).abs() < 1e-5, "w{i}: {} vs {expect}", g[i]);
    }
}
