//! Batch normalization kept unfolded during training (cnn_bn: two conv + BN pairs).

mod common;

use common::{accuracy, fixture};
use ferrolite_train::bn::{keras_batch_norms, UnfoldedBatchNorm};
use ferrolite_train::prune::{prune, PruneConfig, Schedule};
use ferrolite_train::{Dataset, NoHook, TrainConfig, Trainer};

fn keras_model() -> ferrolite_model::Model {
    ferrolite_convert::keras::load(fixture("cnn_bn/cnn_bn.h5")).unwrap()
}

#[test]
fn reads_the_batch_norms_of_both_keras_formats() {
    let h5 = keras_batch_norms(fixture("cnn_bn/cnn_bn.h5")).unwrap();
    let k3 = keras_batch_norms(fixture("cnn_bn/cnn_bn.keras")).unwrap();
    assert_eq!(h5.len(), 2);
    assert_eq!(h5, k3);
    assert_eq!(h5[0].mean.len(), 16);
    assert_eq!(h5[1].gamma.len(), 32);
    assert!((h5[0].momentum - 0.99).abs() < 1e-6 && (h5[0].epsilon - 1e-3).abs() < 1e-9);
}

#[test]
fn unfolded_inference_matches_the_folded_model() {
    let model = keras_model();
    let bns = keras_batch_norms(fixture("cnn_bn/cnn_bn.h5")).unwrap();
    let test = Dataset::load_npz(fixture("digits_test.npz")).unwrap();
    let sample = test.subset(0..32);
    let folded = Trainer::new(&model).unwrap();
    let want = folded.logits(sample.x.clone(), 32, &mut NoHook).unwrap();
    let mut t = Trainer::new(&model).unwrap();
    let mut bn = UnfoldedBatchNorm::new(&mut t, &bns).unwrap();
    assert_eq!(bn.len(), 2);
    // Unfolded weights differ from the folded ones ...
    let w0 = folded.param_values(folded.net().layers[0].weight).unwrap();
    assert_ne!(t.param_values(t.net().layers[0].weight).unwrap(), w0);
    // ... but conv + BN with the moving statistics computes the same logits (float rounding).
    let got = t.logits(sample.x.clone(), 32, &mut bn).unwrap();
    for (a, b) in got.iter().zip(&want) {
        assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
    // Folding back without training restores the converter's weights.
    bn.fold(&mut t).unwrap();
    for (a, b) in t
        .param_values(t.net().layers[0].weight)
        .unwrap()
        .iter()
        .zip(&w0)
    {
        assert!((a - b).abs() < 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn pruning_with_unfolded_batch_norm() {
    let model = keras_model();
    let train = Dataset::load_npz(fixture("digits_train.npz")).unwrap();
    let test = Dataset::load_npz(fixture("digits_test.npz")).unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        learning_rate: 1e-3,
        seed: 1234,
        batch_norms: keras_batch_norms(fixture("cnn_bn/cnn_bn.h5")).unwrap(),
        ..TrainConfig::default()
    };
    let pcfg = PruneConfig::new(Schedule::constant(0.5, 0, -1, 10).unwrap());
    let out = prune(&model, &train, &cfg, &pcfg, &mut |_| {}).unwrap();
    for l in out.report.layers.iter().filter(|l| l.status.is_ok()) {
        // The unfolded kernel was masked; folding scales channels and keeps the zeros.
        assert_eq!(
            l.elements - l.zeros,
            ferrolite_train::prune::mask::kept_count(l.elements, 0.5),
            "{}",
            l.layer
        );
    }
    let acc = accuracy(&out.model, &test.x, &test.y);
    let h = &out.history.epochs[0];
    eprintln!(
        "cnn_bn 50% with unfolded BN: test {acc:.4}, train {:.4}",
        h.accuracy
    );
    assert!(acc > 0.9, "{acc}");
}

#[test]
fn qat_with_unfolded_batch_norm_beats_ptq() {
    // tfmot's default scheme: the unfolded kernel is fake-quantized, BN runs after the conv
    // with batch statistics, and the BN is folded into the conv for the int8 export.
    use ferrolite_quant::{quantize, CalibrationData, Io, Mode, QuantizeOptions};
    use ferrolite_train::collab::{qat, Preserve};
    use ferrolite_train::qat::QatConfig;
    let model = keras_model();
    let train = Dataset::load_npz(fixture("digits_train.npz")).unwrap();
    let test = Dataset::load_npz(fixture("digits_test.npz")).unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        learning_rate: 1e-4,
        seed: 1234,
        batch_norms: keras_batch_norms(fixture("cnn_bn/cnn_bn.h5")).unwrap(),
        ..TrainConfig::default()
    };
    let out = qat(
        &model,
        &train,
        &cfg,
        &QatConfig::default(),
        Preserve::Nothing,
        Io::Float,
        &mut |_| {},
    )
    .unwrap();
    let s = train.subset(0..100);
    let calib = CalibrationData::new(vec![100, 8, 8, 1], s.x).unwrap();
    let (ptq, _) = quantize(&model, &QuantizeOptions::new(Mode::Int8), Some(&calib)).unwrap();
    let (p, q) = (
        accuracy(&ptq, &test.x, &test.y),
        accuracy(&out.model, &test.x, &test.y),
    );
    eprintln!("cnn_bn QAT with unfolded BN: PTQ int8 {p:.4}, QAT int8 {q:.4}");
    assert!(q + 1e-9 >= p, "QAT {q} < PTQ {p}");
}
