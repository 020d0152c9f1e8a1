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

mod graphdef_cases {
    //! Frozen graphs whose constants or folds are sized by a few bytes of shape data.

    use super::*;
    use ferrolite_convert::graphdef::{self, GraphDefError, GraphDefOptions};
    use ferrolite_convert::prost::tensorflow::attr_value::Value as AttrV;
    use ferrolite_convert::prost::tensorflow::tensor_shape_proto::Dim;
    use ferrolite_convert::prost::tensorflow::{
        AttrValue, DataType, GraphDef, NodeDef, TensorProto, TensorShapeProto,
    };

    fn node(name: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, AttrV)>) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            attr: attrs
                .into_iter()
                .map(|(k, v)| (k.to_string(), AttrValue { value: Some(v) }))
                .collect(),
            ..Default::default()
        }
    }

    fn tensor(dtype: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            dtype: dtype as i32,
            tensor_shape: Some(TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&size| Dim {
                        size,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            ..Default::default()
        }
    }

    fn konst(name: &str, t: TensorProto) -> NodeDef {
        let dtype = AttrV::Type(t.dtype);
        node(
            name,
            "Const",
            &[],
            vec![("value", AttrV::Tensor(t)), ("dtype", dtype)],
        )
    }

    fn i32s(name: &str, v: &[i32]) -> NodeDef {
        let mut t = tensor(DataType::DtInt32, &[v.len() as i64]);
        t.int_val = v.to_vec();
        konst(name, t)
    }

    fn f32s(name: &str, dims: &[i64], v: &[f32]) -> NodeDef {
        let mut t = tensor(DataType::DtFloat, dims);
        t.float_val = v.to_vec();
        konst(name, t)
    }

    fn op(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        node(
            name,
            op,
            inputs,
            vec![("T", AttrV::Type(DataType::DtFloat as i32))],
        )
    }

    fn convert(nodes: Vec<NodeDef>, output: &str) -> Result<graphdef::Conversion, GraphDefError> {
        let g = GraphDef {
            node: nodes,
            ..Default::default()
        };
        let opts = GraphDefOptions {
            outputs: vec![output.to_string()],
            ..Default::default()
        };
        graphdef::convert_graph(&g, "fuzz.pb", &opts)
    }

    #[test]
    fn splat_bomb_is_refused_before_allocating() {
        // 83 bytes: Const float [2^29] with float_val [1.0] → Identity; used to allocate 4 GiB.
        let r = graphdef::convert_bytes(
            &regression("graphdef-splat-bomb.pb"),
            "bomb.pb",
            &GraphDefOptions::default(),
        );
        let err = r.expect_err("a 2 GiB splat must be refused").to_string();
        assert!(err.contains("splats above"), "{err}");
    }

    #[test]
    fn huge_folds_are_not_materialized() {
        // Fill [2^20, 2^20] and Tile by 2^40 would be 2^40 elements; Range 0..1e12 likewise.
        let fill = |dims: &[i32]| {
            vec![
                i32s("dims", dims),
                f32s("v", &[], &[1.0]),
                op("fill", "Fill", &["dims", "v"]),
            ]
        };
        // 2^25 elements: not folded, lowered as a FILL op computed at run time.
        let conv = convert(fill(&[1 << 13, 1 << 12]), "fill").expect("a big Fill lowers as FILL");
        assert_eq!(conv.model.subgraphs[0].operators.len(), 1);
        // 2^40 elements: the model validator refuses the output tensor.
        let err = convert(fill(&[1 << 20, 1 << 20]), "fill").expect_err("too big");
        assert!(err.to_string().contains("bytes"), "{err}");
        let mut big = tensor(DataType::DtInt64, &[1]);
        big.int64_val = vec![1 << 40];
        let tile = vec![
            f32s("x", &[1], &[1.0]),
            konst("m", big),
            op("tile", "Tile", &["x", "m"]),
        ];
        let _ = convert(tile, "tile");
        let range = vec![
            f32s("s", &[], &[0.0]),
            f32s("l", &[], &[1e12]),
            f32s("d", &[], &[1.0]),
            node(
                "r",
                "Range",
                &["s", "l", "d"],
                vec![("Tidx", AttrV::Type(DataType::DtFloat as i32))],
            ),
        ];
        let err = convert(range, "r").expect_err("no 1e12-element range");
        assert!(err.to_string().contains("range of"), "{err}");
    }

    #[test]
    fn overflowing_shape_arithmetic_is_an_error() {
        // Reshape target [2^40, 2^40, 2^40] overflows i64; Tile by i64::MAX overflows usize;
        // Slice from i64::MAX overflows begin + size.
        let mut target = tensor(DataType::DtInt64, &[3]);
        target.int64_val = vec![1 << 40; 3];
        let reshape = vec![
            f32s("x", &[2], &[1.0, 2.0]),
            konst("s", target),
            op("y", "Reshape", &["x", "s"]),
        ];
        assert!(convert(reshape, "y").is_err());
        let mut m = tensor(DataType::DtInt64, &[1]);
        m.int64_val = vec![i64::MAX];
        let tile = vec![
            f32s("x", &[2], &[1.0, 2.0]),
            konst("m", m),
            op("y", "Tile", &["x", "m"]),
        ];
        let err = convert(tile, "y").expect_err("a tile past i32 dims");
        assert!(err.to_string().contains("2^31-1"), "{err}");
        let mut b = tensor(DataType::DtInt64, &[1]);
        b.int64_val = vec![i64::MAX];
        let mut n = tensor(DataType::DtInt64, &[1]);
        n.int64_val = vec![2];
        let slice = vec![
            f32s("x", &[2], &[1.0, 2.0]),
            konst("b", b),
            konst("n", n),
            op("y", "Slice", &["x", "b", "n"]),
        ];
        assert!(convert(slice, "y").is_err());
    }
}

#[test]
fn keras_weight_with_an_unbacked_huge_shape_is_refused() {
    // acts.h5 with `fc/bias:0` replaced by an unwritten chunked [2^20, 2^20] float dataset
    // (h5py `create_dataset` without data): reading it used to request 4 TiB.
    let bytes = regression("keras-huge-weight.h5");
    let r = ferrolite_convert::keras::convert_bytes(
        bytes,
        "huge.h5",
        &ferrolite_convert::keras::Options::default(),
    );
    let err = r.expect_err("a 4 TiB weight must be refused").to_string();
    assert!(err.contains("too large"), "{err}");
}

#[test]
fn onnx_declared_sizes_without_data_are_errors() {
    let opts = OnnxOptions::default();
    let bad_node = |r: Result<onnx::Conversion, OnnxError>, want_op: &str| match r {
        Err(OnnxError::BadNode { op, message, .. }) => {
            assert_eq!(op, want_op, "{message}");
            message
        }
        other => panic!("{want_op}: {:?}", other.err()),
    };
    // A bias-less Conv whose empty filter declares 2^31-1 output channels: the zero bias was
    // allocated from that count (8 GiB) before anything checked it.
    let mut m = onnx_fixture("cnn");
    let g = m.graph.as_mut().unwrap();
    let conv = g
        .node
        .iter_mut()
        .find(|n| n.input.get(1).is_some_and(|w| w == "c2_w"));
    conv.unwrap().attribute.retain(|a| a.name != "kernel_shape");
    let w = g.initializer.iter_mut().find(|t| t.name == "c2_w").unwrap();
    w.dims = vec![i64::from(i32::MAX), 4, 0, 3];
    w.raw_data.clear();
    w.float_data.clear();
    let msg = bad_node(onnx::convert_model(&m, "conv.onnx", &opts), "Conv");
    assert!(msg.contains("non-empty"), "{msg}");

    // Pad by i64::MAX overflowed the output shape.
    let mut m = onnx_fixture("misc");
    set_i64_init(&mut m, "pads", &[0, 0, 0, 0, 0, 0, i64::MAX, 0]);
    let msg = bad_node(onnx::convert_model(&m, "pad.onnx", &opts), "Pad");
    assert!(msg.contains("pads"), "{msg}");

    // Resize to a negative height was accepted as a "dynamic" dimension.
    let mut m = onnx_fixture("misc");
    let g = m.graph.as_ref().unwrap();
    let sizes = g.initializer.iter().find(|t| t.name == "sizes").unwrap();
    let mut v: Vec<i64> = sizes
        .raw_data
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    if v.is_empty() {
        v = sizes.int64_data.clone();
    }
    v[2] = -5;
    set_i64_init(&mut m, "sizes", &v);
    let msg = bad_node(onnx::convert_model(&m, "resize.onnx", &opts), "Resize");
    assert!(msg.contains("-5"), "{msg}");
}
