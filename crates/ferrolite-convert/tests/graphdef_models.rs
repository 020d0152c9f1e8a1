//! Whole-model frozen graphs against TensorFlow: the digits CNN (conv + BatchNorm, frozen from
//! `tests/fixtures/cnn_bn/cnn_bn.h5`), a detection-like graph (conv backbone, box and score
//! heads, box decoding, NonMaxSuppressionV4/V5) and a TF1 TensorArray loop, which must yield the
//! unsupported-op report rather than a crash. Fixtures: `tools/make_graphdef_fixtures.py`.

use ferrolite_convert::graphdef::{self, GraphDefError, GraphDefOptions};
use ferrolite_model::{DType, Model};
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Same float32 ops as TF; differences come from summation order only.
const TOL: f32 = 1e-5;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/graphdef")
}

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap()
}

fn npy(file: &str) -> (Vec<usize>, Vec<f32>) {
    let a = ferrolite_npy::read_npy(dir().join(file)).unwrap();
    (a.shape.clone(), a.to_f32_vec())
}

fn histogram(ops: &[String]) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for o in ops {
        *h.entry(o.clone()).or_insert(0) += 1;
    }
    h
}

fn op_names(m: &Model) -> Vec<String> {
    m.subgraphs[0]
        .operators
        .iter()
        .map(|o| o.kind.name())
        .collect()
}

fn tf_ops(e: &Value) -> Vec<String> {
    e["tf_from_frozen_graph"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn opts(input: &str, outputs: &[String]) -> GraphDefOptions {
    GraphDefOptions {
        inputs: vec![(input.to_string(), None)],
        outputs: outputs.to_vec(),
        allow_custom_ops: false,
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "output sizes differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// An interpreter over `model` with input 0 set to `x` and invoked.
fn invoke(model: Model, shape: &[usize], x: &[f32]) -> Result<Interpreter, String> {
    let mut it = Interpreter::from_model(model).map_err(|e| e.to_string())?;
    it.resize_input_tensor(0, shape)
        .map_err(|e| e.to_string())?;
    it.allocate_tensors().map_err(|e| e.to_string())?;
    it.set_tensor(0, x).unwrap();
    it.invoke().map_err(|e| e.to_string())?;
    Ok(it)
}

#[test]
fn digits_cnn_matches_tf() {
    let man = manifest();
    let e = &man["models"]["digits_cnn"];
    let conv = graphdef::convert_file(
        dir().join("digits_cnn.pb"),
        &opts("digits", &["Identity".to_string()]),
    )
    .unwrap();
    assert_eq!(histogram(&op_names(&conv.model)), histogram(&tf_ops(e)));
    let sg = &conv.model.subgraphs[0];
    assert_eq!(
        sg.tensors[sg.inputs[0]].shape_signature,
        Some(vec![-1, 8, 8, 1])
    );
    let (shape, x) = npy("digits_cnn.in0.npy");
    let it = invoke(conv.model.clone(), &shape, &x).unwrap();
    let y = it.tensor::<f32>(it.output_details()[0].index).unwrap();
    let (_, golden) = npy("digits_cnn.out0.npy");
    let d = max_abs_diff(y, &golden);
    println!("digits_cnn: max |ours - TF| = {d:e}");
    assert!(d <= TOL, "{d:e}");
    // Same predicted classes as TF on the 8 test digits.
    let argmax = |v: &[f32]| -> Vec<usize> {
        v.chunks(10)
            .map(|r| (0..10).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
            .collect()
    };
    assert_eq!(argmax(y), argmax(&golden));
}

#[test]
fn detection_graph_converts_with_nms_and_matches_tf() {
    let man = manifest();
    let e = &man["models"]["detect"];
    let outs: Vec<String> = e["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    let conv = graphdef::convert_file(dir().join("detect.pb"), &opts("image", &outs)).unwrap();
    let ours = op_names(&conv.model);
    assert_eq!(
        histogram(&ours),
        histogram(&tf_ops(e)),
        "ours: {ours:?}\n{}",
        conv.report
    );
    // NMS outputs: padded int32 indices [6], V5 scores [6], int32 scalar counts.
    let sg = &conv.model.subgraphs[0];
    let out = |k: usize| &sg.tensors[sg.outputs[k]];
    assert_eq!((out(2).dtype, out(2).shape.clone()), (DType::I32, vec![6]));
    assert_eq!((out(3).dtype, out(3).shape.clone()), (DType::I32, vec![]));
    assert_eq!((out(5).dtype, out(5).shape.clone()), (DType::F32, vec![6]));

    let (shape, x) = npy("detect.in0.npy");
    let golden: Vec<Vec<f32>> = (0..outs.len())
        .map(|k| npy(&format!("detect.out{k}.npy")).1)
        .collect();
    // The heads (boxes, scores) run in our interpreter.
    let heads =
        graphdef::convert_file(dir().join("detect.pb"), &opts("image", &outs[..2])).unwrap();
    let it = invoke(heads.model, &shape, &x).unwrap();
    for k in 0..2 {
        let y = it.tensor::<f32>(it.output_details()[k].index).unwrap();
        let d = max_abs_diff(y, &golden[k]);
        println!("detect {}: max |ours - TF| = {d:e}", outs[k]);
        assert!(d <= TOL, "{}: {d:e}", outs[k]);
    }
    // The whole graph runs (NON_MAX_SUPPRESSION_V4/V5 kernels) and the selections match TF's
    // exactly: same padded indices and counts, V5 scores within TOL.
    let it = invoke(conv.model.clone(), &shape, &x).unwrap();
    let ints = |k: usize| -> Vec<f32> {
        let t = it.output_details()[k].index;
        it.tensor::<i32>(t)
            .unwrap()
            .iter()
            .map(|&v| v as f32)
            .collect()
    };
    for k in [2, 3, 4, 6] {
        assert_eq!(ints(k), golden[k], "{}", outs[k]);
    }
    let s = it.tensor::<f32>(it.output_details()[5].index).unwrap();
    let d = max_abs_diff(s, &golden[5]);
    println!("detect {}: max |ours - TF| = {d:e}", outs[5]);
    assert!(d <= TOL, "{d:e}");
}

#[test]
fn tf1_tensor_array_loop_yields_the_report() {
    let man = manifest();
    let e = &man["tensorarray"];
    let graph_ops = e["graph_ops"].as_object().unwrap();
    // TF itself needs SELECT_TF_OPS for this graph.
    assert!(e["tf_builtins_error"].as_str().is_some());
    let o = opts("rows", &["result".to_string()]);
    let err = graphdef::convert_file(dir().join("tensorarray.pb"), &o).unwrap_err();
    let GraphDefError::Unsupported(report) = &err else {
        panic!("expected the unsupported-op report, got {err}");
    };
    println!("{err}");
    for op in [
        "TensorArrayV3",
        "TensorArrayScatterV3",
        "TensorArrayReadV3",
        "TensorArrayWriteV3",
        "TensorArrayGatherV3",
        "LoopCond",
    ] {
        let want = graph_ops[op].as_u64().unwrap() as usize;
        assert_eq!(
            report.get(op).map(|r| r.count()),
            Some(want),
            "{op}\n{report}"
        );
    }
    for op in ["Enter", "Exit", "Merge", "Switch", "NextIteration"] {
        assert!(report.get(op).is_some(), "{op}\n{report}");
    }
    for supported in ["Relu", "Mul", "Tanh", "AddV2", "Range"] {
        assert!(
            report.get(supported).is_none(),
            "{supported} listed\n{report}"
        );
    }
    let text = err.to_string();
    assert!(
        text.contains("TensorArrayScatterV3") && text.contains("Flex"),
        "{text}"
    );
    // With custom ops allowed the loop is a data-flow cycle: a typed error, not a crash.
    let mut o = o;
    o.allow_custom_ops = true;
    let err = graphdef::convert_file(dir().join("tensorarray.pb"), &o).unwrap_err();
    assert!(matches!(err, GraphDefError::Cycle { .. }), "{err}");
}
