//! Quantization-aware training on the digits fixtures: the int8 export carries the learned
//! ranges, runs in ferrolite's interpreter, and is at least as accurate as post-training int8.

mod common;

use common::{accuracy, fixture, float_model};
use ferrolite_quant::{quantize, CalibrationData, Io, Mode, QuantizeOptions};
use ferrolite_train::qat::{export_int8, Qat, QatConfig};
use ferrolite_train::{Dataset, TrainConfig, Trainer};
use std::time::Instant;

#[test]
fn qat_int8_is_at_least_as_good_as_ptq() {
    let train = Dataset::load_npz(fixture("digits_train.npz")).unwrap();
    let test = Dataset::load_npz(fixture("digits_test.npz")).unwrap();
    let calib = {
        let s = train.subset(0..100);
        let mut shape = vec![100];
        shape.extend(&s.sample_shape);
        CalibrationData::new(shape, s.x).unwrap()
    };
    for m in ["cnn_bn", "dwsep_res", "mlp"] {
        let model = float_model(m);
        let (ptq, _) = quantize(&model, &QuantizeOptions::new(Mode::Int8), Some(&calib)).unwrap();
        let ptq_acc = accuracy(&ptq, &test.x, &test.y);

        let mut trainer = Trainer::new(&model).unwrap();
        let mut qat = Qat::new(trainer.net(), QatConfig::default()).unwrap();
        let cfg = TrainConfig {
            epochs: 2,
            learning_rate: 1e-4,
            seed: 1234,
            ..TrainConfig::default()
        };
        let t = Instant::now();
        let history = trainer.fit(&train, &cfg, &mut qat, &mut |_| {}).unwrap();
        let (int8, report) = export_int8(&trainer, &qat, &train, Io::Float).unwrap();
        let bytes = ferrolite_model::write_bytes(&int8).unwrap();
        let int8 = ferrolite_model::read_bytes(bytes).unwrap();
        let qat_acc = accuracy(&int8, &test.x, &test.y);
        eprintln!(
            "{m}: PTQ int8 {ptq_acc:.4}, QAT int8 {qat_acc:.4} ({} steps, {:.1} ms/step, {:.1} s, {} tensors quantized)",
            history.steps,
            history.step_ms,
            t.elapsed().as_secs_f64(),
            report.tensors.len()
        );
        assert!(
            qat_acc >= ptq_acc - 0.005,
            "{m}: QAT {qat_acc} < PTQ {ptq_acc}"
        );

        // The exported activations use the learned ranges.
        let sg = &int8.subgraphs[0];
        for (t, lo, hi) in qat.learned_ranges() {
            let tensor = &sg.tensors[t];
            let Some(q) = tensor.quantization.as_ref().filter(|q| q.scale.len() == 1) else {
                continue;
            };
            if tensor.dtype != ferrolite_model::DType::I8 {
                continue;
            }
            let expect = (hi.max(0.0) - lo.min(0.0)) / 255.0;
            assert!(
                (q.scale[0] - expect).abs() <= expect * 1e-5,
                "{m}: tensor {t} '{}' scale {} vs learned {expect}",
                tensor.name,
                q.scale[0]
            );
        }
    }
}
