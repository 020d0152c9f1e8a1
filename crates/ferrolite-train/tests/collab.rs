//! Collaborative optimizations (tfmot's PQAT and CQAT) and the Keras 3 model tfmot refuses:
//! pruned zeros and clustered values survive quantization-aware training and the int8 export,
//! and a Keras 3 model with ADD / MUL / CONCATENATION gets a pruned, a clustered and a QAT-int8
//! `.tflite` with accuracy per epoch.

mod common;

use common::{accuracy, fixture, float_model};
use ferrolite_model::{DType, Model};
use ferrolite_quant::{quantize, CalibrationData, Io, Mode, QuantizeOptions};
use ferrolite_train::cluster::{cluster, CentroidInit, ClusterConfig};
use ferrolite_train::collab::{qat, Preserve};
use ferrolite_train::prune::{prune, PruneConfig, Schedule};
use ferrolite_train::qat::QatConfig;
use ferrolite_train::{Dataset, TrainConfig};

fn train_data() -> Dataset {
    Dataset::load_npz(fixture("digits_train.npz")).unwrap()
}

fn test_data() -> Dataset {
    Dataset::load_npz(fixture("digits_test.npz")).unwrap()
}

fn run_cfg(epochs: usize, lr: f32) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        learning_rate: lr,
        seed: 1234,
        ..TrainConfig::default()
    }
}

fn ptq_accuracy(model: &Model, train: &Dataset, test: &Dataset) -> f64 {
    let s = train.subset(0..100);
    let mut shape = vec![100];
    shape.extend(&s.sample_shape);
    let calib = CalibrationData::new(shape, s.x).unwrap();
    let (q, _) = quantize(model, &QuantizeOptions::new(Mode::Int8), Some(&calib)).unwrap();
    accuracy(&q, &test.x, &test.y)
}

/// `(name, raw bytes, shape)` of every constant int8 tensor of rank 2 or 4 (the kernels).
fn int8_kernels(model: &Model) -> Vec<(String, Vec<i8>, Vec<usize>)> {
    model.subgraphs[0]
        .tensors
        .iter()
        .filter(|t| t.dtype == DType::I8 && t.data.is_some() && matches!(t.shape.len(), 2 | 4))
        .map(|t| {
            let v = t.data.as_ref().unwrap().iter().map(|&b| b as i8).collect();
            (
                t.name.clone(),
                v,
                t.shape.iter().map(|&d| d as usize).collect(),
            )
        })
        .collect()
}

fn f32_values(model: &Model, name: &str) -> Vec<f32> {
    let t = model.subgraphs[0]
        .tensors
        .iter()
        .find(|t| t.name == name)
        .unwrap();
    t.data
        .as_ref()
        .unwrap()
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn pqat_keeps_the_pruned_zeros() {
    let (train, test) = (train_data(), test_data());
    let pcfg = PruneConfig::new(Schedule::constant(0.5, 0, -1, 10).unwrap());
    let pruned = prune(
        &float_model("mlp"),
        &train,
        &run_cfg(2, 1e-3),
        &pcfg,
        &mut |_| {},
    )
    .unwrap();
    let out = qat(
        &pruned.model,
        &train,
        &run_cfg(1, 1e-4),
        &QatConfig::default(),
        Preserve::Sparsity,
        Io::Float,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.preserved_kernels, 3);
    let kernels = int8_kernels(&out.model);
    assert_eq!(kernels.len(), 3);
    for l in &pruned.report.layers {
        let float = f32_values(&pruned.model, &l.tensor);
        let (_, q, _) = kernels
            .iter()
            .find(|(n, _, s)| *s == l.shape && n.contains(&l.layer))
            .unwrap_or_else(|| panic!("no int8 kernel for {}", l.layer));
        for (i, (&f, &v)) in float.iter().zip(q).enumerate() {
            assert!(
                f != 0.0 || v == 0,
                "{}[{i}]: pruned weight revived",
                l.layer
            );
        }
    }
    let (ptq, pqat) = (
        ptq_accuracy(&pruned.model, &train, &test),
        accuracy(&out.model, &test.x, &test.y),
    );
    eprintln!("mlp 50% pruned: PTQ int8 {ptq:.4}, PQAT int8 {pqat:.4}");
    assert!(pqat + 1e-9 >= ptq, "PQAT {pqat} < PTQ {ptq}");
}

#[test]
fn cqat_keeps_the_clusters() {
    let (train, test) = (train_data(), test_data());
    let mut ccfg = ClusterConfig::new(16);
    ccfg.init = CentroidInit::Linear;
    let clustered = cluster(
        &float_model("mlp"),
        &train,
        &run_cfg(1, 1e-4),
        &ccfg,
        &mut |_| {},
    )
    .unwrap();
    let out = qat(
        &clustered.model,
        &train,
        &run_cfg(1, 1e-4),
        &QatConfig::default(),
        Preserve::Clusters {
            preserve_sparsity: false,
        },
        Io::Float,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.preserved_kernels, 3);
    for (name, q, shape) in int8_kernels(&out.model) {
        // Per-channel int8: each output channel (row of [O, I]) keeps at most 16 values.
        for row in q.chunks(shape[1..].iter().product()) {
            let mut u = row.to_vec();
            u.sort_unstable();
            u.dedup();
            assert!(u.len() <= 16, "{name}: {} values in a channel", u.len());
        }
    }
    let (ptq, cqat) = (
        ptq_accuracy(&clustered.model, &train, &test),
        accuracy(&out.model, &test.x, &test.y),
    );
    eprintln!("mlp 16 clusters: PTQ int8 {ptq:.4}, CQAT int8 {cqat:.4}");
    assert!(cqat + 1e-9 >= ptq, "CQAT {cqat} < PTQ {ptq}");
}

#[test]
fn keras3_model_tfmot_refuses() {
    // tools/make_train_fixtures.py records tfmot's refusal (prune_low_magnitude and
    // quantize_model raise ValueError on Keras 3 models).
    let refusal = std::fs::read_to_string(fixture("train/tfmot.json")).unwrap();
    assert!(
        refusal.contains("ValueError"),
        "tfmot.json lacks the refusal"
    );
    let model = ferrolite_convert::keras::load(fixture("train/k3_branchy.keras")).unwrap();
    let (train, test) = (train_data(), test_data());
    let before = accuracy(&model, &test.x, &test.y);
    let pcfg = PruneConfig::new(Schedule::constant(0.5, 0, -1, 10).unwrap());
    let pruned = prune(&model, &train, &run_cfg(3, 1e-3), &pcfg, &mut |_| {}).unwrap();
    let mut ccfg = ClusterConfig::new(16);
    ccfg.init = CentroidInit::KmeansPlusPlus;
    let clustered = cluster(&model, &train, &run_cfg(1, 1e-4), &ccfg, &mut |_| {}).unwrap();
    let q = qat(
        &model,
        &train,
        &run_cfg(1, 1e-4),
        &QatConfig::default(),
        Preserve::Nothing,
        Io::Float,
        &mut |_| {},
    )
    .unwrap();
    let ptq = ptq_accuracy(&model, &train, &test);
    let accs = [
        (
            "pruned",
            accuracy(&pruned.model, &test.x, &test.y),
            &pruned.history,
        ),
        (
            "clustered",
            accuracy(&clustered.model, &test.x, &test.y),
            &clustered.history,
        ),
        ("qat int8", accuracy(&q.model, &test.x, &test.y), &q.history),
    ];
    for (what, acc, h) in &accs {
        eprintln!(
            "k3_branchy {what}: {acc:.4} (float {before:.4}); epochs: {:?}",
            h.epochs.iter().map(|e| e.accuracy).collect::<Vec<_>>()
        );
        assert!(!h.epochs.is_empty());
        assert!(*acc > before - 0.05, "{what}: {acc} vs float {before}");
    }
    eprintln!("k3_branchy PTQ int8: {ptq:.4}");
    assert!(accs[2].1 + 1e-9 >= ptq, "QAT {} < PTQ {ptq}", accs[2].1);
    for l in pruned.report.layers.iter().filter(|l| l.status.is_ok()) {
        assert_eq!(
            l.elements - l.zeros,
            ferrolite_train::prune::mask::kept_count(l.elements, 0.5),
            "{}",
            l.layer
        );
    }
    for l in clustered.report.layers.iter().filter(|l| l.status.is_ok()) {
        assert!(l.unique <= 16, "{}: {}", l.layer, l.unique);
    }
}
