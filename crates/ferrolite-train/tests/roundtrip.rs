//! IR → burn → IR: without training the exported model is the original, and burn's forward
//! pass agrees with ferrolite's interpreter (and with Keras for a converted `.h5`).

mod common;

use common::{fixture, float_model, run};
use ferrolite_train::{NoHook, Trainer};

fn inputs() -> (Vec<f32>, usize) {
    let x = ferrolite_npy::read_npy(fixture("inputs_f32.npy")).unwrap();
    (x.to_f32_vec(), x.shape[0])
}

fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f32> {
    logits
        .chunks(classes)
        .flat_map(|row| {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let e: Vec<f32> = row.iter().map(|v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / s)
        })
        .collect()
}

#[test]
fn export_without_training_is_identical() {
    let (x, n) = inputs();
    for m in ["cnn_bn", "dwsep_res", "mlp"] {
        let model = float_model(m);
        let trainer = Trainer::new(&model).unwrap();
        let exported = trainer.export().unwrap();
        assert_eq!(
            ferrolite_model::write_bytes(&exported).unwrap(),
            ferrolite_model::write_bytes(&model).unwrap(),
            "{m}: exported bytes differ"
        );
        let reread =
            ferrolite_model::read_bytes(ferrolite_model::write_bytes(&exported).unwrap()).unwrap();
        assert_eq!(
            run(&reread, &x, n),
            run(&model, &x, n),
            "{m}: outputs differ"
        );
    }
}

#[test]
fn burn_forward_matches_the_interpreter() {
    let (x, n) = inputs();
    for m in ["cnn_bn", "dwsep_res", "mlp"] {
        let model = float_model(m);
        let trainer = Trainer::new(&model).unwrap();
        let logits = trainer.logits(x.clone(), n, &mut NoHook).unwrap();
        let probs = softmax_rows(&logits, trainer.net().classes);
        let reference = run(&model, &x, n);
        let worst = probs
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{m}: max |burn - interpreter| = {worst}");
    }
}

#[test]
fn keras_models_train_through_the_converter() {
    let (x, n) = inputs();
    for (m, file) in [
        ("cnn_bn", "cnn_bn.keras"),
        ("mlp", "mlp.keras"),
        ("dwsep_res", "dwsep_res.h5"),
    ] {
        let model = ferrolite_convert::keras::load(fixture(&format!("{m}/{file}"))).unwrap();
        let trainer = Trainer::new(&model).unwrap();
        let logits = trainer.logits(x.clone(), n, &mut NoHook).unwrap();
        let probs = softmax_rows(&logits, trainer.net().classes);
        let keras = ferrolite_npy::read_npy(fixture(&format!("{m}/keras_out.npy")))
            .unwrap()
            .to_f32_vec();
        let worst = probs
            .iter()
            .zip(&keras)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{m}: max |burn - keras| = {worst}");
    }
}

#[test]
fn add_mul_concat_match_the_interpreter() {
    // The Keras 3 fixture: ADD, MUL and CONCATENATION (channels) of conv branches.
    keras3_matches_the_interpreter("train/k3_branchy.keras", &["ADD", "MUL", "CONCATENATION"]);
}

#[test]
fn tanh_logistic_hard_swish_match_the_interpreter() {
    // TANH after a conv, HARD_SWISH, and a LOGISTIC gate multiplied into a depthwise output.
    keras3_matches_the_interpreter(
        "train/k3_acts.keras",
        &["TANH", "HARD_SWISH", "LOGISTIC", "DEPTHWISE_CONV_2D", "MUL"],
    );
}

/// Converts Keras 3 fixture `rel`, checks it has the operators `want`, and compares burn's
/// forward pass with the interpreter's on the shared inputs.
fn keras3_matches_the_interpreter(rel: &str, want: &[&str]) {
    let (x, n) = inputs();
    let model = ferrolite_convert::keras::load(fixture(rel)).unwrap();
    let ops: Vec<String> = model.subgraphs[0]
        .operators
        .iter()
        .map(|o| o.kind.name())
        .collect();
    for want in want {
        assert!(
            ops.iter().any(|o| o == want),
            "{rel}: {want} not in {ops:?}"
        );
    }
    let trainer = Trainer::new(&model).unwrap();
    let logits = trainer.logits(x.clone(), n, &mut NoHook).unwrap();
    let probs = softmax_rows(&logits, trainer.net().classes);
    let reference = run(&model, &x, n);
    let worst = probs
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "{rel}: max |burn - interpreter| = {worst}");
}
