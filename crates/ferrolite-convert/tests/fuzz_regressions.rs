//! Inputs found by fuzzing the importers (`fuzz/`, targets `import_onnx`, `import_graphdef`,
//! `import_keras`): each once panicked or allocated without bound, and must now be a typed error.
//! Files live in `tests/fixtures/fuzz-regressions/`; where the crashing input is a mutated
//! fixture, the same mutation is also rebuilt here from the clean fixture so the cause is explicit.

use ferrolite_convert::onnx::{self, OnnxError, OnnxOptions};
use ferrolite_convert::prost::onnx::ModelProto;
use prost::Message;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn regression(file: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("fuzz-regressions").join(file)).unwrap()
}

fn onnx_fixture(name: &str) -> ModelProto {
    let bytes = std::fs::read(fixtures().join("onnx").join(format!("{name}.onnx"))).unwrap();
    ModelProto::decode(bytes.as_slice()).unwrap()
}

/// Sets the int64 initializer `name` of `m` to `values` (as raw little-endian data).
fn set_i64_init(m: &mut ModelProto, name: &str, values: &[i64]) {
    let g = m.graph.as_mut().unwrap();
    let t = g.initializer.iter_mut().find(|t| t.name == name).unwrap();
    t.dims = vec![values.len() as i64];
    t.int64_data.clear();
    t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
}

#[test]
fn onnx_reshape_to_a_huge_dimension_is_an_error() {
    // Fuzz input: mlp.onnx with the Reshape target [0, 3, 7638104968020361216]; the huge dim
    // then overflowed `Concat`'s axis sum.
    let r = onnx::convert_bytes(
        &regression("onnx-reshape-huge-dim.onnx"),
        "fuzz.onnx",
        &OnnxOptions::default(),
    );
    assert!(matches!(r, Err(OnnxError::BadNode { .. })), "{:?}", r.err());

    let mut m = onnx_fixture("mlp");
    set_i64_init(&mut m, "shape", &[0, 3, 7638104968020361216]);
    let r = onnx::convert_model(&m, "huge.onnx", &OnnxOptions::default());
    match r {
        Err(OnnxError::BadNode { op, message, .. }) => {
            assert_eq!(op, "Reshape");
            assert!(message.contains("7638104968020361216"), "{message}");
        }
        other => panic!("{:?}", other.err()),
    }
}

#[test]
fn onnx_static_reshape_must_keep_the_element_count() {
    // [N, 12] → [0, 3, -1] is the fixture's reshape; [0, 3, 5] changes the element count.
    let mut m = onnx_fixture("mlp");
    set_i64_init(&mut m, "shape", &[0, 3, 5]);
    let opts = OnnxOptions {
        batch_size: Some(2),
        ..Default::default()
    };
    let r = onnx::convert_model(&m, "count.onnx", &opts);
    assert!(
        matches!(&r, Err(OnnxError::BadNode { op, .. }) if op == "Reshape"),
        "{:?}",
        r.err()
    );
    // The unmodified fixture still converts with a fixed batch.
    let m = onnx_fixture("mlp");
    assert!(onnx::convert_model(&m, "ok.onnx", &opts).is_ok());
}
