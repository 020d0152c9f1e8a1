//! Detection kernels: single-class non-max suppression with optional Gaussian soft-NMS
//! (NON_MAX_SUPPRESSION_V4 / V5) and the SSD post-processing custom op
//! (`TFLite_Detection_PostProcess`: anchor decoding plus fast or per-class NMS).
//!
//! Both follow LiteRT's reference kernels step by step, including the details that decide which
//! boxes win: V4/V5 draw candidates from a binary max-heap with the same sift order as the C++
//! standard library's `std::priority_queue` (so equal scores come out in LiteRT's order), compare
//! IoU with `>=` and re-queue a soft-suppressed candidate; the SSD op sorts with a stable
//! descending sort, suppresses with IoU `>` the threshold and decodes boxes in f64 like LiteRT.

use super::common::KernelError;

/// Boxes as `[y1, x1, y2, x2]` rows; corners may come in either order.
fn corners(b: &[f32]) -> (f32, f32, f32, f32) {
    (
        b[0].min(b[2]),
        b[1].min(b[3]),
        b[0].max(b[2]),
        b[1].max(b[3]),
    )
}

/// IoU of boxes `i` and `j` as LiteRT's NMS computes it (0 when either area is not positive or
/// the union is zero).
fn nms_iou(boxes: &[f32], i: usize, j: usize) -> f32 {
    let (ay0, ax0, ay1, ax1) = corners(&boxes[4 * i..4 * i + 4]);
    let (by0, bx0, by1, bx1) = corners(&boxes[4 * j..4 * j + 4]);
    let area_a = (ay1 - ay0) * (ax1 - ax0);
    let area_b = (by1 - by0) * (bx1 - bx0);
    if area_a <= 0.0 || area_b <= 0.0 {
        return 0.0;
    }
    let ih = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let iw = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let inter = ih * iw;
    let union = area_a + area_b - inter;
    if union == 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// A queued NMS candidate.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    score: f32,
    suppress_begin: usize,
}

/// A max-heap on `score` with exactly libstdc++'s `push_heap` / `pop_heap` element moves, so
/// that candidates with equal scores leave in the same order as from LiteRT's
/// `std::priority_queue`.
#[derive(Debug, Default)]
struct Heap(Vec<Candidate>);

impl Heap {
    /// Moves `value` up from `hole` while its parent scores lower.
    fn sift_up(&mut self, mut hole: usize, top: usize, value: Candidate) {
        let h = &mut self.0;
        while hole > top {
            let parent = (hole - 1) / 2;
            if h[parent].score < value.score {
                h[hole] = h[parent];
                hole = parent;
            } else {
                break;
            }
        }
        h[hole] = value;
    }

    fn push(&mut self, c: Candidate) {
        self.0.push(c);
        let last = self.0.len() - 1;
        self.sift_up(last, 0, c);
    }

    fn pop(&mut self) -> Option<Candidate> {
        let len = self.0.len();
        if len <= 1 {
            return self.0.pop();
        }
        let top = self.0[0];
        let value = self.0[len - 1];
        self.0[len - 1] = top;
        let n = len - 1;
        // Hole at the root: move the larger child up until a leaf, then sift `value` up.
        let mut hole = 0;
        let mut child = 0;
        while n >= 1 && child < (n - 1) / 2 {
            child = 2 * (child + 1);
            if self.0[child].score < self.0[child - 1].score {
                child -= 1;
            }
            self.0[hole] = self.0[child];
            hole = child;
        }
        if n.is_multiple_of(2) && n >= 2 && child == (n - 2) / 2 {
            child = 2 * (child + 1);
            self.0[hole] = self.0[child - 1];
            hole = child - 1;
        }
        self.sift_up(hole, 0, value);
        self.0.pop()
    }
}

/// Parameters of one NON_MAX_SUPPRESSION_V4/V5 call.
#[derive(Debug, Clone, Copy)]
pub struct NmsParams {
    /// Most boxes to select.
    pub max_output: usize,
    /// A candidate whose IoU with a selected box is `>=` this is dropped.
    pub iou_threshold: f32,
    /// Only scores `>` this are candidates (also the floor for soft-suppressed scores).
    pub score_threshold: f32,
    /// Gaussian soft-NMS sigma; 0 = hard NMS.
    pub soft_nms_sigma: f32,
}

/// Single-class (soft-)NMS over `boxes` (`[n, 4]`, `[y1, x1, y2, x2]`) and `scores` (`[n]`).
///
/// Writes the selected indices (and, when given, their possibly decayed scores) to the front of
/// the outputs, zeroes the rest, and returns how many were selected.
pub fn non_max_suppression(
    boxes: &[f32],
    scores: &[f32],
    p: NmsParams,
    selected: &mut [i32],
    mut selected_scores: Option<&mut [f32]>,
) -> Result<usize, KernelError> {
    let n = scores.len();
    if boxes.len() != 4 * n {
        return Err(KernelError::Shape(format!(
            "{} box values for {n} scores",
            boxes.len()
        )));
    }
    if selected.len() < p.max_output
        || selected_scores
            .as_ref()
            .is_some_and(|s| s.len() < p.max_output)
    {
        return Err(KernelError::Shape(
            "outputs shorter than max_output_size".into(),
        ));
    }
    let mut heap = Heap::default();
    for (i, &s) in scores.iter().enumerate() {
        if s > p.score_threshold {
            heap.push(Candidate {
                index: i,
                score: s,
                suppress_begin: 0,
            });
        }
    }
    let target = heap.0.len().min(p.max_output);
    let scale = if p.soft_nms_sigma > 0.0 {
        -0.5 / p.soft_nms_sigma
    } else {
        0.0
    };
    let mut picked: Vec<usize> = Vec::with_capacity(target);
    while picked.len() < target {
        let Some(mut c) = heap.pop() else { break };
        let original = c.score;
        let mut hard = false;
        for j in (c.suppress_begin..picked.len()).rev() {
            let iou = nms_iou(boxes, c.index, picked[j]);
            if iou >= p.iou_threshold {
                hard = true;
                break;
            }
            if p.soft_nms_sigma > 0.0 {
                c.score *= (scale * iou * iou).exp();
            }
            if c.score <= p.score_threshold {
                break;
            }
        }
        c.suppress_begin = picked.len();
        if hard {
            continue;
        }
        if c.score == original {
            if let Some(out) = selected_scores.as_deref_mut() {
                out[picked.len()] = c.score;
            }
            picked.push(c.index);
        }
        if c.score > p.score_threshold {
            heap.push(c);
        }
    }
    for (k, o) in selected.iter_mut().enumerate().take(p.max_output) {
        *o = picked.get(k).map_or(0, |&i| i as i32);
    }
    if let Some(out) = selected_scores {
        for o in out.iter_mut().take(p.max_output).skip(picked.len()) {
            *o = 0.0;
        }
    }
    Ok(picked.len())
}

// ---------------------------------------------------------------------------------------------
// TFLite_Detection_PostProcess

/// Options of the SSD post-processing op (its flexbuffer custom options).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostProcessParams {
    /// Most detections (output rows / max_classes_per_detection).
    pub max_detections: usize,
    /// Classes reported per detection by fast NMS.
    pub max_classes_per_detection: usize,
    /// Boxes kept per class by regular NMS.
    pub detections_per_class: usize,
    /// Regular (per-class) instead of fast NMS.
    pub use_regular_nms: bool,
    /// Scores `>=` this are candidates.
    pub score_threshold: f32,
    /// Boxes with IoU `>` this with a kept box are dropped.
    pub iou_threshold: f32,
    /// Classes without the background class.
    pub num_classes: usize,
    /// Box-coder scales `[y, x, h, w]`.
    pub scales: [f32; 4],
}

/// The outputs of the SSD op: `[max_det * classes_per_det, 4]` boxes, classes and scores, and
/// the number of detections.
#[derive(Debug)]
pub struct PostProcessOut<'a> {
    /// Boxes `[ymin, xmin, ymax, xmax]`.
    pub boxes: &'a mut [f32],
    /// Class index (as float).
    pub classes: &'a mut [f32],
    /// Score.
    pub scores: &'a mut [f32],
}

/// Decodes centre-size encodings against anchors into `[ymin, xmin, ymax, xmax]` (f64 math, as
/// LiteRT); `encodings` rows may be longer than 4 (extra values are ignored).
pub fn decode_boxes(
    encodings: &[f32],
    row_len: usize,
    anchors: &[f32],
    scales: [f32; 4],
    out: &mut [f32],
) {
    let [sy, sx, sh, sw] = scales.map(f64::from);
    for (k, (o, a)) in out
        .chunks_exact_mut(4)
        .zip(anchors.chunks_exact(4))
        .enumerate()
    {
        let e = &encodings[k * row_len..k * row_len + 4];
        let [ay, ax, ah, aw] = [a[0], a[1], a[2], a[3]].map(f64::from);
        let yc = (f64::from(e[0]) / sy * ah + ay) as f32;
        let xc = (f64::from(e[1]) / sx * aw + ax) as f32;
        let hh = (0.5 * (f64::from(e[2]) / sh).exp() * ah) as f32;
        let hw = (0.5 * (f64::from(e[3]) / sw).exp() * aw) as f32;
        o.copy_from_slice(&[yc - hh, xc - hw, yc + hh, xc + hw]);
    }
}

/// IoU as the SSD op computes it (corners already ordered).
fn ssd_iou(b: &[f32], i: usize, j: usize) -> f32 {
    let (p, q) = (&b[4 * i..4 * i + 4], &b[4 * j..4 * j + 4]);
    let area_i = (p[2] - p[0]) * (p[3] - p[1]);
    let area_j = (q[2] - q[0]) * (q[3] - q[1]);
    if area_i <= 0.0 || area_j <= 0.0 {
        return 0.0;
    }
    let ih = (p[2].min(q[2]) - p[0].max(q[0])).max(0.0);
    let iw = (p[3].min(q[3]) - p[1].max(q[1])).max(0.0);
    let inter = ih * iw;
    inter / (area_i + area_j - inter)
}

/// Indices `0..values.len()` sorted by descending value, ties in index order.
fn argsort_desc(values: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| {
        if values[a] > values[b] {
            std::cmp::Ordering::Less
        } else if values[b] > values[a] {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    idx
}

/// Greedy single-class NMS of the SSD op: box indices kept, best first.
fn ssd_single_class(
    boxes: &[f32],
    scores: &[f32],
    p: &PostProcessParams,
    max: usize,
) -> Vec<usize> {
    let keep: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i] >= p.score_threshold)
        .collect();
    let keep_scores: Vec<f32> = keep.iter().map(|&i| scores[i]).collect();
    let order = argsort_desc(&keep_scores);
    let mut active = vec![true; keep.len()];
    let mut n_active = keep.len();
    let mut selected = Vec::new();
    for i in 0..keep.len() {
        if n_active == 0 || selected.len() >= max.min(keep.len()) {
            break;
        }
        if !active[i] {
            continue;
        }
        let bi = keep[order[i]];
        selected.push(bi);
        active[i] = false;
        n_active -= 1;
        for j in i + 1..keep.len() {
            if active[j] && ssd_iou(boxes, bi, keep[order[j]]) > p.iou_threshold {
                active[j] = false;
                n_active -= 1;
            }
        }
    }
    selected
}

/// Runs the SSD post-processing on decoded `boxes` (`[n, 4]`) and `scores`
/// (`[n, classes_with_background]`); returns the number of detections. Rows past it are zero.
pub fn detection_post_process(
    boxes: &[f32],
    scores: &[f32],
    classes_with_bg: usize,
    p: &PostProcessParams,
    out: PostProcessOut<'_>,
) -> Result<usize, KernelError> {
    if !(p.iou_threshold > 0.0 && p.iou_threshold <= 1.0) {
        return Err(KernelError::Param(format!(
            "nms_iou_threshold {} must be in (0, 1]",
            p.iou_threshold
        )));
    }
    if boxes.chunks_exact(4).any(|b| b[0] > b[2] || b[1] > b[3]) {
        return Err(KernelError::Param("a decoded box has min > max".into()));
    }
    let n = boxes.len() / 4;
    let offset = classes_with_bg - p.num_classes;
    out.boxes.fill(0.0);
    out.classes.fill(0.0);
    out.scores.fill(0.0);
    let row = |r: usize| &scores[r * classes_with_bg + offset..(r + 1) * classes_with_bg];
    if p.use_regular_nms {
        if p.detections_per_class == 0 {
            return Err(KernelError::Param(
                "detections_per_class must be positive".into(),
            ));
        }
        // (score, anchor, class) of the best detections so far, best first.
        let mut best: Vec<(f32, usize, usize)> = Vec::new();
        let mut class_scores = vec![0.0f32; n];
        for c in 0..p.num_classes {
            for (r, s) in class_scores.iter_mut().enumerate() {
                *s = row(r)[c];
            }
            let sel = ssd_single_class(boxes, &class_scores, p, p.detections_per_class);
            best.extend(sel.iter().map(|&b| (class_scores[b], b, c)));
            let vals: Vec<f32> = best.iter().map(|t| t.0).collect();
            let order = argsort_desc(&vals);
            best = order
                .into_iter()
                .take(p.max_detections)
                .map(|k| best[k])
                .collect();
        }
        for (k, &(s, b, c)) in best.iter().enumerate() {
            out.boxes[4 * k..4 * k + 4].copy_from_slice(&boxes[4 * b..4 * b + 4]);
            out.classes[k] = c as f32;
            out.scores[k] = s;
        }
        return Ok(best.len());
    }
    if p.max_classes_per_detection == 0 {
        return Err(KernelError::Param(
            "max_classes_per_detection must be positive".into(),
        ));
    }
    let per = p.max_classes_per_detection.min(p.num_classes);
    let mut class_order = Vec::with_capacity(n);
    let mut max_scores = vec![0.0f32; n];
    for (r, m) in max_scores.iter_mut().enumerate() {
        let order = if per == 1 {
            // First maximum, as LiteRT's ArgMaxVector.
            let s = row(r);
            let mut best = 0;
            for (k, &v) in s.iter().enumerate() {
                if v > s[best] {
                    best = k;
                }
            }
            vec![best]
        } else {
            argsort_desc(row(r))
        };
        *m = row(r)[order[0]];
        class_order.push(order);
    }
    let sel = ssd_single_class(boxes, &max_scores, p, p.max_detections);
    for (k, &b) in sel.iter().enumerate() {
        for (col, &c) in class_order[b].iter().take(per).enumerate() {
            let o = p.max_classes_per_detection * k + col;
            out.boxes[4 * o..4 * o + 4].copy_from_slice(&boxes[4 * b..4 * b + 4]);
            out.classes[o] = c as f32;
            out.scores[o] = row(b)[c];
        }
    }
    Ok(sel.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_pops_in_descending_score_order() {
        let mut h = Heap::default();
        for (i, s) in [0.3f32, 0.9, 0.1, 0.5, 0.7, 0.2].into_iter().enumerate() {
            h.push(Candidate {
                index: i,
                score: s,
                suppress_begin: 0,
            });
        }
        let order: Vec<usize> = std::iter::from_fn(|| h.pop()).map(|c| c.index).collect();
        assert_eq!(order, vec![1, 4, 3, 0, 5, 2]);
    }

    #[test]
    fn hard_nms_suppresses_overlaps_and_pads() {
        // Box 1 overlaps box 0 heavily; box 2 is apart.
        let boxes = [0.0, 0.0, 1.0, 1.0, 0.0, 0.1, 1.0, 1.1, 2.0, 2.0, 3.0, 3.0];
        let scores = [0.9, 0.8, 0.7];
        let p = NmsParams {
            max_output: 4,
            iou_threshold: 0.5,
            score_threshold: 0.0,
            soft_nms_sigma: 0.0,
        };
        let mut sel = [9; 4];
        let mut sc = [9.0; 4];
        let n = non_max_suppression(&boxes, &scores, p, &mut sel, Some(&mut sc)).unwrap();
        assert_eq!((n, sel), (2, [0, 2, 0, 0]));
        assert_eq!(sc, [0.9, 0.7, 0.0, 0.0]);
    }

    #[test]
    fn soft_nms_decays_and_requeues() {
        let boxes = [0.0, 0.0, 1.0, 1.0, 0.0, 0.5, 1.0, 1.5];
        let scores = [0.9, 0.8];
        let p = NmsParams {
            max_output: 2,
            iou_threshold: 1.0,
            score_threshold: 0.0,
            soft_nms_sigma: 0.5,
        };
        let mut sel = [0; 2];
        let mut sc = [0.0; 2];
        let n = non_max_suppression(&boxes, &scores, p, &mut sel, Some(&mut sc)).unwrap();
        let iou = 0.5f32 / 1.5;
        assert_eq!(n, 2);
        assert_eq!(sel, [0, 1]);
        assert_eq!(sc[1], 0.8 * (-iou * iou).exp());
    }

    #[test]
    fn decode_centre_size() {
        let mut out = [0.0; 4];
        let anchor = [0.5, 0.5, 0.2, 0.4];
        decode_boxes(
            &[1.0, -2.0, 0.0, 0.0],
            4,
            &anchor,
            [10.0, 10.0, 5.0, 5.0],
            &mut out,
        );
        // Centre moves by encoding / scale * anchor size; zero size encodings keep the anchor size.
        let want = [0.52 - 0.1, 0.42 - 0.2, 0.52 + 0.1, 0.42 + 0.2];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?}");
        }
    }
}
