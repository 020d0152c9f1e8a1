//! Every reference `.tflite` fixture (made by TensorFlow's converter) reads, validates, writes and
//! reads back to an identical model; LiteRT then checks the written files in `tools/test.sh`.

use ferrolite_model::{read_bytes, read_file, tflite, write_bytes};
use planus::ReadAsRoot;
use std::path::{Path, PathBuf};

fn fixture_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixtures directory") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "tflite") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 15,
        "expected the reference fixtures, found {}",
        out.len()
    );
    out
}

#[test]
fn every_fixture_round_trips_structurally() {
    for path in fixture_files() {
        let original = read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let written = write_bytes(&original).unwrap();
        let again = read_bytes(written.clone()).unwrap();
        assert_eq!(
            original,
            again,
            "{}: model changed in a round trip",
            path.display()
        );
        // Writing the re-read model gives the same bytes: serialization is deterministic.
        assert_eq!(write_bytes(&again).unwrap(), written, "{}", path.display());
    }
}

#[test]
fn written_fixtures_keep_the_tflite_layout() {
    for path in fixture_files() {
        let original = read_file(&path).unwrap();
        let written = write_bytes(&original).unwrap();
        assert_eq!(&written[4..8], b"TFL3");
        let root = tflite::ModelRef::read_as_root(&written).unwrap();
        let buffers = root.buffers().unwrap().unwrap();
        let first = buffers.get(0).unwrap().unwrap();
        assert!(
            first.data().unwrap().is_none_or(|d| d.is_empty()),
            "buffer 0 must be empty"
        );
        let base = written.as_ptr() as usize;
        for b in buffers.iter() {
            if let Some(d) = b.unwrap().data().unwrap().filter(|d| !d.is_empty()) {
                assert_eq!(
                    (d.as_ptr() as usize - base) % 16,
                    0,
                    "{}: unaligned buffer",
                    path.display()
                );
            }
        }
        // The original's opcode table had no duplicates either, so the counts agree.
        let orig_bytes = std::fs::read(&path).unwrap();
        let orig_root = tflite::ModelRef::read_as_root(&orig_bytes).unwrap();
        assert_eq!(
            root.operator_codes().unwrap().unwrap().len(),
            orig_root.operator_codes().unwrap().unwrap().len()
        );
        // Metadata (min_runtime_version, CONVERSION_METADATA) and signatures survive.
        assert_eq!(
            root.metadata().unwrap().map_or(0, |m| m.len()),
            orig_root.metadata().unwrap().map_or(0, |m| m.len())
        );
        assert_eq!(
            root.signature_defs().unwrap().map_or(0, |s| s.len()),
            orig_root.signature_defs().unwrap().map_or(0, |s| s.len())
        );
        // Constant data is smaller or equal: TF writes one (mostly empty) buffer per tensor.
        assert!(written.len() <= orig_bytes.len() + 64, "{}", path.display());
    }
}

#[test]
fn weights_are_borrowed_from_the_file_not_copied() {
    let path = fixture_files()
        .into_iter()
        .find(|p| p.ends_with("cnn_bn_float32.tflite"))
        .unwrap();
    let model = read_file(&path).unwrap();
    let file_len = std::fs::metadata(&path).unwrap().len() as usize;
    let consts: Vec<_> = model.subgraphs[0]
        .tensors
        .iter()
        .filter_map(|t| t.data.clone())
        .collect();
    assert!(!consts.is_empty());
    // All constants are views into the one memory-mapped file, not per-tensor copies.
    for c in &consts {
        assert!(
            c.same_backing(&consts[0]),
            "a constant was copied out of the file"
        );
        assert!(c.len() < file_len);
    }
    let copy = ferrolite_model::Bytes::from_vec(consts[0].to_vec());
    assert!(!copy.same_backing(&consts[0]));
}
