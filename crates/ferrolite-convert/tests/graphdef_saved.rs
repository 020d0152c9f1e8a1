//! SavedModel directories against TensorFlow: the fixture saved by
//! `tools/make_graphdef_fixtures.py` (a `tf.Module` with three variables and two signatures)
//! converts per signature to the op multiset TF's `from_saved_model` produced, runs in
//! ferrolite's interpreter within 1e-5 of TF's outputs, and a corrupt `variables/` bundle or an
//! unknown signature is a typed error.

use ferrolite_convert::graphdef::bundle::Bundle;
use ferrolite_convert::graphdef::saved_model::{self, convert_dir};
use ferrolite_convert::graphdef::{GraphDefError, GraphDefOptions};
use ferrolite_runtime::Interpreter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// TF ran the same float32 ops; the difference is summation order only.
const TOL: f32 = 1e-5;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/graphdef")
}

fn saved() -> PathBuf {
    fixtures().join("saved")
}

fn manifest() -> Value {
    let m: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("manifest.json")).unwrap()).unwrap();
    m["saved_model"].clone()
}

fn npy(file: &str) -> (Vec<usize>, Vec<f32>) {
    let a = ferrolite_npy::read_npy(fixtures().join(file)).unwrap();
    (a.shape.clone(), a.to_f32_vec())
}

fn histogram<S: AsRef<str>>(ops: &[S]) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for o in ops {
        *h.entry(o.as_ref().to_string()).or_insert(0) += 1;
    }
    h
}

/// Converts `key`, checks ops and outputs against TF's; returns the output keys in model order.
fn check_signature(key: &str) -> Vec<String> {
    let man = manifest();
    let conv = convert_dir(saved(), Some(key), &GraphDefOptions::default())
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    let m = &conv.model;
    let ours: Vec<String> = m.subgraphs[0]
        .operators
        .iter()
        .map(|o| o.kind.name())
        .collect();
    let tf: Vec<String> = man["signatures"][key]["tf_ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(histogram(&ours), histogram(&tf), "{key}\n{}", conv.report);
    let sig = &m.signatures[0];
    assert_eq!(sig.key, key);
    assert_eq!(sig.inputs[0].0, "features");
    let (shape, x) = npy(man["input"].as_str().unwrap());
    let bytes = ferrolite_model::write_bytes(m).unwrap();
    let mut it = Interpreter::from_model(ferrolite_model::read_bytes(bytes).unwrap()).unwrap();
    it.resize_input_tensor(0, &shape).unwrap();
    it.allocate_tensors().unwrap();
    it.set_tensor(0, &x).unwrap();
    it.invoke().unwrap();
    let mut keys = Vec::new();
    for (k, (name, t)) in sig.outputs.iter().enumerate() {
        assert_eq!(m.subgraphs[0].outputs[k], *t);
        let file = man["signatures"][key]["outputs"][name.as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("no TF output `{name}`"));
        let (_, golden) = npy(file);
        let got = it.tensor::<f32>(*t).unwrap();
        assert_eq!(got.len(), golden.len());
        let d = got
            .iter()
            .zip(&golden)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        println!("{key}/{name}: max |ours - TF| = {d:e}");
        assert!(d <= TOL, "{key}/{name}: {d:e}");
        keys.push(name.clone());
    }
    keys
}

#[test]
fn serving_default_matches_tf() {
    assert!(saved_model::is_saved_model(&saved()));
    let keys = check_signature("serving_default");
    assert_eq!(keys, ["hidden", "probs"]);
}

#[test]
fn other_signatures_are_selectable() {
    assert_eq!(check_signature("scaled"), ["y"]);
    let sm = saved_model::load(&saved()).unwrap();
    assert_eq!(
        saved_model::signature_keys(&sm, &saved()).unwrap(),
        ["scaled", "serving_default"]
    );
    let e = convert_dir(saved(), Some("serve"), &GraphDefOptions::default()).unwrap_err();
    assert!(
        matches!(&e, GraphDefError::NoSignature { available, .. } if available == "scaled, serving_default"),
        "{e}"
    );
}

#[test]
fn outputs_and_input_shapes_can_be_chosen() {
    let opts = GraphDefOptions {
        inputs: vec![("features".into(), Some(vec![3, 6]))],
        outputs: vec!["probs".into()],
        allow_custom_ops: false,
    };
    let conv = convert_dir(saved(), None, &opts).unwrap();
    let sg = &conv.model.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].shape, vec![3, 6]);
    assert_eq!(sg.outputs.len(), 1);
    assert_eq!(conv.model.signatures[0].outputs[0].0, "probs");
    let bad = GraphDefOptions {
        inputs: vec![("pixels".into(), None)],
        ..Default::default()
    };
    let e = convert_dir(saved(), None, &bad).unwrap_err();
    assert!(e.to_string().contains("features"), "{e}");
    let bad = GraphDefOptions {
        outputs: vec!["logits".into()],
        ..Default::default()
    };
    let e = convert_dir(saved(), None, &bad).unwrap_err();
    assert!(e.to_string().contains("hidden, probs"), "{e}");
}

#[test]
fn the_bundle_reader_decodes_variables_and_the_object_graph() {
    let b = Bundle::open(&saved().join("variables/variables")).unwrap();
    let w = b.tensor("w/.ATTRIBUTES/VARIABLE_VALUE").unwrap();
    assert_eq!(w.shape, vec![6, 4]);
    let s = b.tensor("scale/.ATTRIBUTES/VARIABLE_VALUE").unwrap();
    assert_eq!(s.to_f32().unwrap(), vec![1.5]);
    let g = b.strings("_CHECKPOINTABLE_OBJECT_GRAPH").unwrap();
    assert_eq!(g.len(), 1);
    assert!(matches!(
        b.tensor("nope"),
        Err(GraphDefError::Bundle { .. })
    ));
    // A string entry is not a numeric tensor.
    assert!(b.tensor("_CHECKPOINTABLE_OBJECT_GRAPH").is_err());
}

/// A copy of the fixture with `edit` applied to one of its files.
fn corrupted(file: &str, mut edit: impl FnMut(&mut Vec<u8>)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path();
    std::fs::create_dir_all(dst.join("variables")).unwrap();
    for f in [
        "saved_model.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
    ] {
        let mut bytes = std::fs::read(saved().join(f)).unwrap();
        if f == file {
            edit(&mut bytes);
        }
        std::fs::write(dst.join(f), bytes).unwrap();
    }
    tmp
}

#[test]
fn corrupt_bundles_are_typed_errors() {
    let o = GraphDefOptions::default();
    let bundle_err = |dir: &Path, want: &str| {
        let e = convert_dir(dir, None, &o).unwrap_err();
        assert!(
            matches!(e, GraphDefError::Bundle { .. }) && e.to_string().contains(want),
            "{want}: {e}"
        );
    };
    // A flipped bit in the weights.
    let t = corrupted("variables/variables.data-00000-of-00001", |b| b[5] ^= 1);
    bundle_err(t.path(), "checksum");
    // A truncated data shard.
    let t = corrupted("variables/variables.data-00000-of-00001", |b| {
        b.truncate(40)
    });
    bundle_err(t.path(), "past the end");
    // A flipped bit inside the index's data block, a broken magic, a truncated index.
    let t = corrupted("variables/variables.index", |b| b[20] ^= 0x10);
    bundle_err(t.path(), "checksum");
    let t = corrupted("variables/variables.index", |b| {
        let n = b.len();
        b[n - 1] ^= 0xff
    });
    bundle_err(t.path(), "magic");
    for cut in [0, 30, 100] {
        let t = corrupted("variables/variables.index", |b| b.truncate(cut));
        let e = convert_dir(t.path(), None, &o).unwrap_err();
        assert!(matches!(e, GraphDefError::Bundle { .. }), "cut {cut}: {e}");
    }
    // Every single-byte corruption of the index is an error or (if it hits padding) harmless,
    // never a panic.
    let len = std::fs::read(saved().join("variables/variables.index"))
        .unwrap()
        .len();
    for i in (0..len).step_by(7) {
        let t = corrupted("variables/variables.index", |b| {
            b[i] = b[i].wrapping_add(0x55)
        });
        let _ = convert_dir(t.path(), None, &o);
    }
    // A missing shard.
    let t = corrupted("saved_model.pb", |_| {});
    std::fs::remove_file(t.path().join("variables/variables.data-00000-of-00001")).unwrap();
    let e = convert_dir(t.path(), None, &o).unwrap_err();
    assert!(matches!(e, GraphDefError::Io { .. }), "{e}");
    // A saved_model.pb that is not one.
    let t = corrupted("saved_model.pb", |b| b.truncate(b.len() / 3));
    let e = convert_dir(t.path(), None, &o).unwrap_err();
    assert!(
        matches!(
            e,
            GraphDefError::Decode { .. } | GraphDefError::SavedModel { .. }
        ),
        "{e}"
    );
}
