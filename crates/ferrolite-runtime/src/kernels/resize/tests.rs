//! Unit tests for the resize and space/depth kernels: hand-derived coordinates for every flag
//! combination plus an independent f64 formula on random data.

use super::*;
use crate::kernels::common::rand_vec;

const FLAGS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// The 2x2 image `[[0, 1], [2, 3]]`: value = 2 * row + col, so a bilinear resize of it equals
/// `2 * ry + rx` for the effective (clamped) source coordinates `ry`, `rx`.
const IMG: [f32; 4] = [0.0, 1.0, 2.0, 3.0];

fn run_bilinear(p: ResizeParams, size: [i32; 2]) -> Vec<f32> {
    let os = resize_bilinear_output_shape(&p, [1, 2, 2, 1], &size).unwrap();
    let mut out = vec![0.0; os.iter().product()];
    resize_bilinear(&p, &IMG, [1, 2, 2, 1], &mut out, os);
    out
}

fn run_nearest(p: ResizeParams, size: [i32; 2]) -> Vec<f32> {
    let os = resize_nearest_neighbor_output_shape(&p, [1, 2, 2, 1], &size).unwrap();
    let mut out = vec![0.0; os.iter().product()];
    resize_nearest_neighbor(&p, &IMG, [1, 2, 2, 1], &mut out, os);
    out
}

fn grid(ry: &[f32], rx: &[f32]) -> Vec<f32> {
    ry.iter()
        .flat_map(|y| rx.iter().map(move |x| 2.0 * y + x))
        .collect()
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() < 1e-6, "{what} index {i}: {x} vs {y}");
    }
}

#[test]
fn bilinear_2x2_to_4x4_and_3x5_hand_derived() {
    let t = 1.0 / 3.0;
    // (align_corners, half_pixel) → (ry for 4, rx for 4, ry for 3, rx for 5).
    type Case<'a> = ((bool, bool), [&'a [f32]; 4]);
    let cases: [Case; 3] = [
        // scale in/out; coordinate i * scale; the last ones clamp to the edge row/col.
        (
            (false, false),
            [
                &[0.0, 0.5, 1.0, 1.0],
                &[0.0, 0.5, 1.0, 1.0],
                &[0.0, 2.0 * t, 1.0],
                &[0.0, 0.4, 0.8, 1.0, 1.0],
            ],
        ),
        // scale (in - 1) / (out - 1).
        (
            (true, false),
            [
                &[0.0, t, 2.0 * t, 1.0],
                &[0.0, t, 2.0 * t, 1.0],
                &[0.0, 0.5, 1.0],
                &[0.0, 0.25, 0.5, 0.75, 1.0],
            ],
        ),
        // (i + 0.5) * scale - 0.5; negative coordinates collapse onto row/col 0.
        (
            (false, true),
            [
                &[0.0, 0.25, 0.75, 1.0],
                &[0.0, 0.25, 0.75, 1.0],
                &[0.0, 0.5, 1.0],
                &[0.0, 0.1, 0.5, 0.9, 1.0],
            ],
        ),
    ];
    for ((align_corners, half_pixel_centers), [ry4, rx4, ry3, rx5]) in cases {
        let p = ResizeParams {
            align_corners,
            half_pixel_centers,
        };
        assert_close(
            &run_bilinear(p, [4, 4]),
            &grid(ry4, rx4),
            &format!("{p:?} 4x4"),
        );
        assert_close(
            &run_bilinear(p, [3, 5]),
            &grid(ry3, rx5),
            &format!("{p:?} 3x5"),
        );
    }
    let both = ResizeParams {
        align_corners: true,
        half_pixel_centers: true,
    };
    assert!(resize_bilinear_output_shape(&both, [1, 2, 2, 1], &[4, 4]).is_err());
}

#[test]
fn nearest_2x2_to_4x4_and_3x5_hand_derived() {
    // Source rows/cols per flag combo, in FLAGS order: (iy for 4, ix for 4, iy for 3, ix for 5).
    let expected: [[&[usize]; 4]; 4] = [
        // floor(i * in/out).
        [&[0, 0, 1, 1], &[0, 0, 1, 1], &[0, 0, 1], &[0, 0, 0, 1, 1]],
        // round(i * (in-1)/(out-1)), halves away from zero: 3 rows → 0, 0.5, 1.
        [&[0, 0, 1, 1], &[0, 0, 1, 1], &[0, 1, 1], &[0, 0, 1, 1, 1]],
        // floor((i + 0.5) * in/out).
        [&[0, 0, 1, 1], &[0, 0, 1, 1], &[0, 1, 1], &[0, 0, 1, 1, 1]],
        // round((i + 0.5) * (in-1)/(out-1)): (1.5) / 3 = 0.5 rounds up.
        [&[0, 1, 1, 1], &[0, 1, 1, 1], &[0, 1, 1], &[0, 0, 1, 1, 1]],
    ];
    for ((align_corners, half_pixel_centers), [iy4, ix4, iy3, ix5]) in
        FLAGS.into_iter().zip(expected)
    {
        let p = ResizeParams {
            align_corners,
            half_pixel_centers,
        };
        let f = |v: &[usize]| v.iter().map(|&i| i as f32).collect::<Vec<f32>>();
        assert_eq!(run_nearest(p, [4, 4]), grid(&f(iy4), &f(ix4)), "{p:?} 4x4");
        assert_eq!(run_nearest(p, [3, 5]), grid(&f(iy3), &f(ix5)), "{p:?} 3x5");
    }
}

/// Independent f64 statement of TFLite's bilinear formula on a whole NHWC tensor.
fn naive_bilinear(p: &ResizeParams, x: &[f32], xs: [usize; 4], oh: usize, ow: usize) -> Vec<f32> {
    let coord = |o: usize, inn: usize, out: usize| -> (f64, usize, usize) {
        let scale = if p.align_corners && out > 1 {
            (inn - 1) as f64 / (out - 1) as f64
        } else {
            inn as f64 / out as f64
        };
        let v = if p.half_pixel_centers {
            (o as f64 + 0.5) * scale - 0.5
        } else {
            o as f64 * scale
        };
        let lo = v.floor().max(0.0) as usize;
        let hi = (v.ceil() as usize).min(inn - 1);
        (v - lo as f64, lo, hi)
    };
    let at = |b: usize, y: usize, xx: usize, c: usize| {
        x[((b * xs[1] + y) * xs[2] + xx) * xs[3] + c] as f64
    };
    let mut out = Vec::new();
    for b in 0..xs[0] {
        for oy in 0..oh {
            let (dy, y0, y1) = coord(oy, xs[1], oh);
            for ox in 0..ow {
                let (dx, x0, x1) = coord(ox, xs[2], ow);
                for c in 0..xs[3] {
                    let top = at(b, y0, x0, c) * (1.0 - dx) + at(b, y0, x1, c) * dx;
                    let bottom = at(b, y1, x0, c) * (1.0 - dx) + at(b, y1, x1, c) * dx;
                    out.push((top * (1.0 - dy) + bottom * dy) as f32);
                }
            }
        }
    }
    out
}

#[test]
fn bilinear_random_matches_formula() {
    let shapes = [
        ([2, 3, 4, 2], (7, 5)),
        ([1, 5, 3, 3], (2, 8)),
        ([1, 4, 4, 1], (1, 1)),
    ];
    for (i, (xs, (oh, ow))) in shapes.into_iter().enumerate() {
        let x = rand_vec(xs.iter().product(), i as u64);
        for (align_corners, half_pixel_centers) in FLAGS.into_iter().take(3) {
            let p = ResizeParams {
                align_corners,
                half_pixel_centers,
            };
            let os = resize_bilinear_output_shape(&p, xs, &[oh as i32, ow as i32]).unwrap();
            let mut out = vec![0.0; os.iter().product()];
            resize_bilinear(&p, &x, xs, &mut out, os);
            let want = naive_bilinear(&p, &x, xs, oh, ow);
            for (g, w) in out.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "case {i} {p:?}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn nearest_copies_whole_channel_vectors_and_downsamples() {
    // 1x2x4x2 → 1x1x2x2 (default flags): sources (0, 0) and (0, 2).
    let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let p = ResizeParams::default();
    let os = resize_nearest_neighbor_output_shape(&p, [1, 2, 4, 2], &[1, 2]).unwrap();
    let mut out = vec![0.0; 4];
    resize_nearest_neighbor(&p, &x, [1, 2, 4, 2], &mut out, os);
    assert_eq!(out, [0.0, 1.0, 4.0, 5.0]);
    // Zero sizes give an empty output; negative sizes and bad operands are rejected.
    assert_eq!(
        resize_nearest_neighbor_output_shape(&p, [1, 2, 4, 2], &[0, 3]).unwrap(),
        [1, 0, 3, 2]
    );
    assert!(resize_nearest_neighbor_output_shape(&p, [1, 2, 4, 2], &[-1, 3]).is_err());
    assert!(resize_nearest_neighbor_output_shape(&p, [1, 2, 4, 2], &[3]).is_err());
    assert!(resize_bilinear_output_shape(&p, [1, 2, 4, 2], &[0, 3]).is_err());
    assert!(resize_bilinear_output_shape(&p, [1, 0, 4, 2], &[2, 3]).is_err());
}

#[test]
fn space_to_depth_hand_checked() {
    // 1x2x2x2 with value = 10 * (row * 2 + col) + channel → one pixel, DCR channel order.
    let x = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0];
    assert_eq!(
        space_to_depth_output_shape([1, 2, 2, 2], 2).unwrap(),
        [1, 1, 1, 8]
    );
    let mut out = [0.0; 8];
    space_to_depth(2, &x, [1, 2, 2, 2], &mut out);
    assert_eq!(out, x);
    // 1x2x4x1 block 2: two output pixels, each [tl, tr, bl, br].
    let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
    let mut out = [0.0; 8];
    space_to_depth(2, &x, [1, 2, 4, 1], &mut out);
    assert_eq!(out, [0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
    let mut back = [0.0; 8];
    depth_to_space(2, &out, [1, 1, 2, 4], &mut back);
    assert_eq!(back.to_vec(), x);
}

#[test]
fn depth_to_space_inverts_space_to_depth() {
    for (xs, bs) in [([2, 6, 4, 3], 2), ([1, 3, 6, 2], 3), ([1, 2, 2, 5], 1)] {
        let x = rand_vec(xs.iter().product(), bs as u64);
        let mid = space_to_depth_output_shape(xs, bs as i32).unwrap();
        assert_eq!(depth_to_space_output_shape(mid, bs as i32).unwrap(), xs);
        let mut s2d = vec![0.0; x.len()];
        space_to_depth(bs, &x, xs, &mut s2d);
        let mut d2s = vec![0.0; x.len()];
        depth_to_space(bs, &s2d, mid, &mut d2s);
        assert_eq!(d2s, x);
        // Spot-check the DCR formula on the last element.
        let [n, h, w, c] = mid;
        let oc = c / (bs * bs);
        let (b, y, xx, ch) = (n - 1, h * bs - 1, w * bs - 1, oc - 1);
        let src = ((b * h + y / bs) * w + xx / bs) * c + ((y % bs) * bs + xx % bs) * oc + ch;
        assert_eq!(d2s.last().copied(), Some(s2d[src]));
    }
    assert!(space_to_depth_output_shape([1, 3, 4, 1], 2).is_err());
    assert!(space_to_depth_output_shape([1, 4, 4, 1], 0).is_err());
    assert!(depth_to_space_output_shape([1, 2, 2, 6], 2).is_err());
}
