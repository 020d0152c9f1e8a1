//! Masks, schedule values and mask-update steps checked against tfmot 0.8.1 itself.
//!
//! `tests/fixtures/train/tfmot_masks.json` is written by `tools/make_train_fixtures.py` (run
//! `--masks-only` to remake just it): tfmot's `Pruning._maybe_update_block_mask` on fixed seeded
//! weights for each case of a table (element-wise, block with AVG / MAX pooling including ragged
//! dims, 2:4 on dense and conv kernels), transposed from Keras' kernel layouts to TFLite's;
//! `PolynomialDecay` values; and the sparsity of the mlp's fc1 mask after every batch of a short
//! `prune_low_magnitude` + `UpdatePruningStep` fit, which pins down at which step masks change.

mod common;

use common::{fixture, float_model};
use ferrolite_train::net::LayerKind;
use ferrolite_train::prune::{compute_mask, prune, BlockPooling, PruneConfig, Schedule};
use ferrolite_train::{Dataset, TrainConfig};
use serde_json::Value;

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture("train/tfmot_masks.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Every case of the table: same mask bit for bit, same threshold (tfmot's `(k-1)`-th largest
/// pooled magnitude) to float32 rounding.
#[test]
fn masks_match_tfmot_case_by_case() {
    let r = reference();
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() >= 10, "the table lost cases");
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let w = &r["weights"][c["weights"].as_str().unwrap()];
        let (shape, values) = (usizes(&w["shape"]), f32s(&w["values"]));
        let kind = if shape.len() == 2 {
            LayerKind::FullyConnected
        } else {
            LayerKind::Conv2d
        };
        let block = usizes(&c["block"]);
        let sparsity = c["sparsity"].as_f64().unwrap() as f32;
        let mut cfg = PruneConfig::new(Schedule::constant(sparsity, 0, -1, 1).unwrap());
        cfg.block = (block[0], block[1]);
        cfg.block_pooling = match c["pooling"].as_str().unwrap() {
            "AVG" => BlockPooling::Avg,
            _ => BlockPooling::Max,
        };
        cfg.m_by_n = c["m_by_n"].as_array().map(|mn| {
            let mn = usizes(&Value::Array(mn.clone()));
            (mn[0], mn[1])
        });
        let (threshold, mask) = compute_mask(kind, &shape, &values, &cfg, sparsity);
        let got: Vec<usize> = mask.iter().map(|&v| v as usize).collect();
        assert_eq!(got, usizes(&c["mask"]), "{name}: mask differs from tfmot's");
        match (threshold, c["threshold"].as_f64()) {
            (Some(t), Some(want)) => assert!(
                (t - want as f32).abs() <= 1e-6 * want.abs().max(1.0) as f32,
                "{name}: threshold {t} vs tfmot {want}"
            ),
            (_, None) => {} // m-by-n: tfmot returns a placeholder threshold.
            (None, Some(want)) => panic!("{name}: no threshold, tfmot has {want}"),
        }
    }
}

#[test]
fn polynomial_decay_values() {
    let s = Schedule::polynomial(0.0, 0.8, 0, 100, 3.0, 10).unwrap();
    for pair in reference()["polynomial"]["steps"].as_array().unwrap() {
        let (step, want) = (pair[0].as_i64().unwrap(), pair[1].as_f64().unwrap() as f32);
        let got = s.sparsity(step);
        assert!(
            (got - want).abs() < 1e-6,
            "step {step}: {got} vs tfmot {want}"
        );
    }
}

/// The mlp pruned over 10 unshuffled batches with PolynomialDecay(0.1, 0.9, 0, 9, power 3,
/// frequency 3): masks are recomputed at exactly the steps where tfmot's fc1 mask changed (batch
/// `i`, 0-based, is pruning step `i + 1`), and fc1 ends with tfmot's number of zeros.
#[test]
fn mask_updates_happen_at_tfmot_steps() {
    let r = reference();
    let t = &r["fit_trace"];
    let trace = f32s(&t["sparsity_after_batch"]);
    let mut changed = Vec::new();
    let mut last = 0.0f32;
    for (i, &s) in trace.iter().enumerate() {
        if s != last {
            changed.push(i as i64 + 1);
            last = s;
        }
    }
    assert!(changed.len() >= 2, "tfmot trace without updates: {trace:?}");
    let p = f32s(&t["schedule"]);
    let schedule =
        Schedule::polynomial(p[0], p[1], p[2] as i64, p[3] as i64, p[4], p[5] as i64).unwrap();
    let data = Dataset::load_npz(fixture("digits_train.npz")).unwrap();
    let data = data.subset(0..t["samples"].as_u64().unwrap() as usize);
    let train = TrainConfig {
        epochs: 1,
        batch_size: 32,
        learning_rate: 1e-3,
        shuffle: false,
        ..TrainConfig::default()
    };
    let out = prune(
        &float_model("mlp"),
        &data,
        &train,
        &PruneConfig::new(schedule),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.report.mask_updates, changed, "tfmot trace {trace:?}");
    let fc1 = out
        .report
        .layers
        .iter()
        .find(|l| l.layer == t["layer"].as_str().unwrap())
        .unwrap();
    let want = (f64::from(*trace.last().unwrap()) * fc1.elements as f64).round() as usize;
    assert_eq!(fc1.zeros, want, "fc1 zeros vs tfmot's final mask");
}
