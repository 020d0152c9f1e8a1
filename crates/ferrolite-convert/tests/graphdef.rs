//! GraphDef importer against TensorFlow: the frozen fixture graphs
//! (`tools/make_graphdef_fixtures.py`) convert to the op multiset TF's `from_frozen_graph`
//! produced, run in ferrolite's interpreter within 1e-5 of TF's outputs, and the graph with a
//! cumsum and a TensorArray loop yields one report listing every unsupported op type. Malformed
//! graphs and wrong arguments give typed errors, never a panic.

use ferrolite_convert::graphdef::{self, GraphDefError, GraphDefOptions};
use ferrolite_convert::prost::tensorflow::attr_value::Value as AttrV;
use ferrolite_convert::prost::tensorflow::{AttrValue, GraphDef};
use ferrolite_convert::EventKind;
use ferrolite_model::Model;
use ferrolite_runtime::Interpreter;
use prost::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
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

fn opts(inputs: &[(&str, Option<Vec<i64>>)], outputs: &[&str]) -> GraphDefOptions {
    GraphDefOptions {
        inputs: inputs
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        allow_custom_ops: false,
    }
}

/// Runs the model's only input on `x` and returns every output.
fn run(model: Model, shape: &[usize], x: &[f32]) -> Vec<Vec<f32>> {
    let mut it = Interpreter::from_model(model).unwrap();
    it.resize_input_tensor(0, shape).unwrap();
    it.allocate_tensors().unwrap();
    it.set_tensor(0, x).unwrap();
    it.invoke().unwrap();
    (0..it.output_details().len())
        .map(|k| {
            let idx = it.output_details()[k].index;
            it.tensor::<f32>(idx).unwrap().to_vec()
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "output sizes differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Converts fixture `m` as the manifest's TF conversion did, checks the op multiset against TF's
/// and the outputs against TF's; returns the conversion.
fn check_model(m: &str, input_shape: Option<Vec<i64>>) -> graphdef::Conversion {
    let man = manifest();
    let e = &man["models"][m];
    let input = e["inputs"][0]["name"].as_str().unwrap();
    let outputs: Vec<String> = e["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    let out_refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let conv = graphdef::convert_file(
        dir().join(format!("{m}.pb")),
        &opts(&[(input, input_shape)], &out_refs),
    )
    .unwrap_or_else(|e| panic!("{m}: {e}"));
    let ours = op_names(&conv.model);
    let tf_ops = strings(&e["tf_from_frozen_graph"]["ops"]);
    assert_eq!(
        histogram(&ours),
        histogram(&tf_ops),
        "{m}: op multiset differs from TF's\nours: {ours:?}\nTF:   {tf_ops:?}\n{}",
        conv.report
    );
    // The model survives a write/read round trip.
    ferrolite_model::read_bytes(ferrolite_model::write_bytes(&conv.model).unwrap()).unwrap();
    let (shape, x) = npy(e["inputs"][0]["file"].as_str().unwrap());
    let outs = run(conv.model.clone(), &shape, &x);
    for (k, o) in e["outputs"].as_array().unwrap().iter().enumerate() {
        let (_, golden) = npy(o["file"].as_str().unwrap());
        let d = max_abs_diff(&outs[k], &golden);
        println!("{m} output {k}: max |ours - TF| = {d:e}");
        assert!(d <= TOL, "{m} output {k}: max abs diff {d:e}");
    }
    conv
}

#[test]
fn convnet_matches_tf_ops_and_outputs() {
    let conv = check_model("convnet", None);
    let sg = &conv.model.subgraphs[0];
    let input = &sg.tensors[sg.inputs[0]];
    assert_eq!(input.name, "image");
    assert_eq!(input.shape_signature, Some(vec![-1, 8, 8, 3]));
    assert_eq!(sg.tensors[sg.outputs[0]].name, "Identity");
    // BiasAdd and the folded FusedBatchNorm (MUL + ADD) went into the first conv, relu fused.
    assert!(conv.report.count(EventKind::Folded) >= 3, "{}", conv.report);
    assert!(conv.report.count(EventKind::Fused) >= 2, "{}", conv.report);
}

#[test]
fn mlp_matches_tf_with_fixed_and_dynamic_batch() {
    let conv = check_model("mlp", Some(vec![2, 16]));
    let sg = &conv.model.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].shape, vec![2, 16]);
    assert_eq!(sg.tensors[sg.inputs[0]].shape_signature, None);
    // Without input_shapes the batch stays dynamic, as in the placeholder.
    let dynamic = check_model("mlp", None);
    let sg = &dynamic.model.subgraphs[0];
    assert_eq!(sg.tensors[sg.inputs[0]].shape_signature, Some(vec![-1, 16]));
}

#[test]
fn misc_ops_match_tf() {
    // EXPLICIT conv padding → PAD + CONV_2D, ellipsis/new-axis slice → STRIDED_SLICE + RESHAPE,
    // MatMul of two activations → BATCH_MATMUL, RealDiv by a tensor → DIV, Cast of a run-time
    // shape value → CAST.
    let conv = check_model("misc", None);
    let ops = op_names(&conv.model);
    assert!(ops.contains(&"BATCH_MATMUL".to_string()) && ops.contains(&"DIV".to_string()));
}

#[test]
fn extra_ops_match_tf() {
    // Conv2DBackpropInput, LeakyRelu, SplitV/Split, Elu, both resizes (align_corners and
    // half-pixel centers), PadV2, both MirrorPad modes, Slice, Sum, Max, Square/Sqrt/Rsqrt/Exp/Log,
    // SquaredDifference, ArgMax (int64 and int32), GatherV2 with constant and run-time indices,
    // Tile, Unpack, a folded Range and BatchMatMulV2 with rank-3 and rank-2 constant operands.
    let conv = check_model("extra", None);
    let ops = op_names(&conv.model);
    for op in [
        "TRANSPOSE_CONV",
        "UNPACK",
        "SPLIT",
        "SPLIT_V",
        "GATHER",
        "ARG_MAX",
    ] {
        assert!(ops.contains(&op.to_string()), "{op} missing: {ops:?}");
    }
    assert!(!ops.contains(&"RANGE".to_string()), "Range was not folded");
    // The rank-2 constant operand went to FULLY_CONNECTED with keep_num_dims.
    let fc = conv.model.subgraphs[0]
        .operators
        .iter()
        .find(|o| o.kind.name() == "FULLY_CONNECTED")
        .unwrap();
    assert!(
        matches!(&fc.options, Some(ferrolite_model::tflite::BuiltinOptions::FullyConnectedOptions(o)) if o.keep_num_dims)
    );
}

#[test]
fn unsupported_ops_are_all_reported_with_counts() {
    let man = manifest();
    let e = &man["models"]["unsupported"];
    let err = graphdef::convert_file(
        dir().join("unsupported.pb"),
        &opts(&[("seq", None)], &["Identity"]),
    )
    .unwrap_err();
    let GraphDefError::Unsupported(report) = &err else {
        panic!("expected the unsupported-op report, got {err}");
    };
    println!("{err}");
    let graph_ops = e["graph_ops"].as_object().unwrap();
    // Every node of these types feeds the output, so the report counts all of them.
    for op in [
        "Cumsum",
        "TensorListReserve",
        "TensorListSetItem",
        "TensorListStack",
        "Exit",
        "LoopCond",
        "Less",
    ] {
        let want = graph_ops[op].as_u64().unwrap() as usize;
        let got = report.get(op).map(|o| o.count());
        assert_eq!(got, Some(want), "{op} in\n{report}");
    }
    // The lowered while loop has six loop variables; the loop counter reaches the rest only
    // through control edges, so five Enter/Merge/Switch/NextIteration chains feed the output.
    for op in ["Enter", "Merge", "Switch", "NextIteration"] {
        assert_eq!(graph_ops[op].as_u64(), Some(6));
        assert_eq!(
            report.get(op).map(|o| o.count()),
            Some(5),
            "{op} in\n{report}"
        );
    }
    let cumsum = report.get("Cumsum").unwrap();
    assert!(cumsum.nodes.contains(&"Cumsum".to_string()));
    assert!(cumsum.nodes.iter().any(|n| n.ends_with("while/Cumsum")));
    for supported in [
        "MatMul",
        "Relu",
        "Mul",
        "AddV2",
        "StridedSlice",
        "Pack",
        "Identity",
    ] {
        assert!(report.get(supported).is_none(), "{supported} listed");
    }
    assert_eq!(report.ops.len(), 11, "{report}");
    let text = err.to_string();
    assert!(text.contains("Cumsum") && text.contains("×2"), "{text}");
    assert!(text.contains("allow-custom-ops"), "{text}");
    // TF itself cannot convert it with builtins only (it needs SELECT_TF_OPS).
    assert!(e["tf_from_frozen_graph"]["error"].as_str().is_some());
    // Scanning without converting gives the same list.
    let g = graphdef::decode(&std::fs::read(dir().join("unsupported.pb")).unwrap(), "u").unwrap();
    let scanned = graphdef::scan_unsupported(&g, &opts(&[("seq", None)], &["Identity"])).unwrap();
    assert_eq!(&scanned, report);
}

#[test]
fn custom_ops_are_emitted_on_request_and_refused_by_the_interpreter() {
    let path = dir().join("unsupported.pb");
    let mut o = opts(&[("seq", None)], &["Identity"]);
    o.allow_custom_ops = true;
    // The TensorArray loop is a data-flow cycle: no operator sequence can express it.
    let err = graphdef::convert_file(&path, &o).unwrap_err();
    assert!(matches!(err, GraphDefError::Cycle { .. }), "{err}");
    // Cut before the loop: MatMul + Relu + one Cumsum.
    o.outputs = vec!["Cumsum".into()];
    let conv = graphdef::convert_file(&path, &o).unwrap();
    assert_eq!(op_names(&conv.model), vec!["FULLY_CONNECTED", "Cumsum"]);
    let op = &conv.model.subgraphs[0].operators[1];
    assert_eq!(op.custom_options, None);
    assert_eq!(conv.custom_ops.summary(), "Cumsum ×1");
    let note = conv
        .report
        .events
        .iter()
        .find(|e| e.kind == EventKind::Note && e.message.contains("custom"))
        .expect("custom-op note");
    assert!(note.message.contains("will NOT run"), "{}", note.message);
    // The model writes and reads back, and our interpreter refuses it naming the op.
    let bytes = ferrolite_model::write_bytes(&conv.model).unwrap();
    let model = ferrolite_model::read_bytes(bytes).unwrap();
    let mut it = Interpreter::from_model(model).unwrap();
    let e = it.allocate_tensors().unwrap_err().to_string();
    assert!(e.contains("Cumsum"), "{e}");
    // Without the flag, the same cut reports the one op.
    o.allow_custom_ops = false;
    let err = graphdef::convert_file(&path, &o).unwrap_err();
    assert!(
        matches!(&err, GraphDefError::Unsupported(r) if r.summary() == "Cumsum ×1"),
        "{err}"
    );
}

fn convnet_graph() -> GraphDef {
    GraphDef::decode(std::fs::read(dir().join("convnet.pb")).unwrap().as_slice()).unwrap()
}

fn convert_graph(g: &GraphDef, o: &GraphDefOptions) -> Result<graphdef::Conversion, GraphDefError> {
    graphdef::convert_bytes(&g.encode_to_vec(), "test.pb", o)
}

#[test]
fn malformed_graphs_and_bad_arguments_are_typed_errors() {
    let bytes = std::fs::read(dir().join("convnet.pb")).unwrap();
    let o = opts(&[("image", None)], &["Identity"]);
    for cut in [bytes.len() / 2, bytes.len() - 3, 7] {
        let e = graphdef::convert_bytes(&bytes[..cut], "cut.pb", &o).unwrap_err();
        assert!(
            matches!(
                e,
                GraphDefError::Decode { .. } | GraphDefError::BadInput { .. }
            ),
            "cut at {cut}: {e}"
        );
    }
    for junk in [&b""[..], b"TFL3\x00\x00\x00\x00garbage", &[0xff; 64]] {
        let e = graphdef::convert_bytes(junk, "junk.pb", &o).unwrap_err();
        assert!(matches!(e, GraphDefError::Decode { .. }), "{e}");
    }
    let e = graphdef::convert_bytes(&bytes, "x.pb", &opts(&[("images", None)], &["Identity"]))
        .unwrap_err();
    assert!(
        matches!(&e, GraphDefError::NoSuchNode { role: "input", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("did you mean image"), "{e}");
    let e =
        graphdef::convert_bytes(&bytes, "x.pb", &opts(&[("image", None)], &["nope"])).unwrap_err();
    assert!(
        matches!(e, GraphDefError::NoSuchNode { role: "output", .. }),
        "{e}"
    );
    let e = graphdef::convert_bytes(
        &bytes,
        "x.pb",
        &opts(&[("image", Some(vec![1, 9, 9, 3]))], &["Identity"]),
    )
    .unwrap_err();
    assert!(matches!(e, GraphDefError::InputShape { .. }), "{e}");
    // Cutting at an intermediate node leaves the placeholder unfed.
    let e = graphdef::convert_bytes(
        &bytes,
        "x.pb",
        &opts(&[("Relu", Some(vec![1, 8, 8, 8]))], &["Identity"]),
    );
    assert!(
        e.is_ok(),
        "cutting at Relu with a shape works: {:?}",
        e.err()
    );
    let e = graphdef::convert_bytes(&bytes, "x.pb", &opts(&[("Relu", None)], &["Identity"]))
        .unwrap_err();
    assert!(matches!(e, GraphDefError::BadNode { .. }), "{e}");
}

#[test]
fn nchw_and_broken_nodes_name_the_node() {
    let o = opts(&[("image", None)], &["Identity"]);
    let mut g = convnet_graph();
    let conv = g.node.iter_mut().find(|n| n.op == "Conv2D").unwrap();
    let name = conv.name.clone();
    conv.attr.insert(
        "data_format".into(),
        AttrValue {
            value: Some(AttrV::S(b"NCHW".to_vec())),
        },
    );
    let e = convert_graph(&g, &o).unwrap_err();
    assert!(
        matches!(&e, GraphDefError::DataFormat { node, .. } if *node == name),
        "{e}"
    );
    assert!(e.to_string().contains("NCHW"), "{e}");

    let mut g = convnet_graph();
    let n = g.node.iter_mut().find(|n| n.op == "MaxPool").unwrap();
    n.input[0] = "does_not_exist".into();
    let e = convert_graph(&g, &o).unwrap_err();
    assert!(matches!(e, GraphDefError::BadInput { .. }), "{e}");

    let mut g = convnet_graph();
    let n = g
        .node
        .iter_mut()
        .find(|n| n.op == "FusedBatchNormV3")
        .unwrap();
    n.attr.insert(
        "is_training".into(),
        AttrValue {
            value: Some(AttrV::B(true)),
        },
    );
    let e = convert_graph(&g, &o).unwrap_err();
    assert!(matches!(e, GraphDefError::BadAttr { .. }), "{e}");

    let mut g = convnet_graph();
    let n = g.node.iter_mut().find(|n| n.op == "MaxPool").unwrap();
    n.attr.remove("ksize");
    let e = convert_graph(&g, &o).unwrap_err();
    assert!(e.to_string().contains("ksize"), "{e}");

    // A constant whose tensor_content does not match its shape.
    let mut g = convnet_graph();
    let c = g
        .node
        .iter_mut()
        .find(|n| {
            n.op == "Const"
                && matches!(
                    n.attr.get("value").and_then(|v| v.value.as_ref()),
                    Some(AttrV::Tensor(t)) if t.tensor_content.len() > 16
                )
        })
        .unwrap();
    if let Some(AttrV::Tensor(t)) = c.attr.get_mut("value").and_then(|v| v.value.as_mut()) {
        t.tensor_content.truncate(10);
    }
    let e = convert_graph(&g, &o).unwrap_err();
    assert!(e.to_string().contains("tensor_content"), "{e}");

    // Every single-node mutation of the graph's op types is handled without a panic.
    let base = convnet_graph();
    for i in 0..base.node.len() {
        let mut g = base.clone();
        g.node[i].attr.clear();
        let _ = convert_graph(&g, &o);
        let mut g = base.clone();
        g.node[i].input.reverse();
        let _ = convert_graph(&g, &o);
    }
}

#[test]
fn outputs_and_inputs_default_to_the_graph_ends() {
    let conv = graphdef::convert_file(dir().join("mlp.pb"), &GraphDefOptions::default()).unwrap();
    let sg = &conv.model.subgraphs[0];
    assert_eq!(sg.inputs.len(), 1);
    assert_eq!(sg.outputs.len(), 1);
    assert_eq!(sg.tensors[sg.outputs[0]].name, "Identity");
    assert!(conv
        .report
        .events
        .iter()
        .any(|e| e.message.contains("inputs not given")));
}

mod synthetic {
    //! Small graphs built in code for lowerings the TF fixtures do not reach.

    use super::*;
    use ferrolite_convert::prost::tensorflow::attr_value::ListValue;
    use ferrolite_convert::prost::tensorflow::tensor_shape_proto::Dim;
    use ferrolite_convert::prost::tensorflow::{DataType, NodeDef, TensorProto, TensorShapeProto};

    fn shape(dims: &[i64]) -> TensorShapeProto {
        TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }
    }

    fn attr(v: AttrV) -> AttrValue {
        AttrValue { value: Some(v) }
    }

    fn node(name: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, AttrV)>) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            attr: attrs
                .into_iter()
                .map(|(k, v)| (k.to_string(), attr(v)))
                .collect(),
            ..Default::default()
        }
    }

    fn placeholder(name: &str, dims: &[i64]) -> NodeDef {
        node(
            name,
            "Placeholder",
            &[],
            vec![
                ("dtype", AttrV::Type(DataType::DtFloat as i32)),
                ("shape", AttrV::Shape(shape(dims))),
            ],
        )
    }

    fn const_f32(name: &str, dims: &[i64], v: &[f32]) -> NodeDef {
        let t = TensorProto {
            dtype: DataType::DtFloat as i32,
            tensor_shape: Some(shape(dims)),
            float_val: v.to_vec(),
            ..Default::default()
        };
        node(name, "Const", &[], vec![("value", AttrV::Tensor(t))])
    }

    fn const_i64(name: &str, dims: &[i64], v: &[i64]) -> NodeDef {
        let t = TensorProto {
            dtype: DataType::DtInt64 as i32,
            tensor_shape: Some(shape(dims)),
            tensor_content: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        };
        node(name, "Const", &[], vec![("value", AttrV::Tensor(t))])
    }

    fn convert(nodes: Vec<NodeDef>, input: &str, output: &str) -> graphdef::Conversion {
        let g = GraphDef {
            node: nodes,
            ..Default::default()
        };
        convert_graph(&g, &opts(&[(input, None)], &[output])).unwrap()
    }

    #[test]
    fn matmul_with_transpose_a_and_a_constant_b() {
        // y = xᵀ · W with x [3, 2], W [3, 4].
        let w: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect();
        let mut mm = node(
            "mm",
            "MatMul",
            &["x", "w"],
            vec![("transpose_a", AttrV::B(true))],
        );
        mm.attr.insert("transpose_b".into(), attr(AttrV::B(false)));
        let conv = convert(
            vec![placeholder("x", &[3, 2]), const_f32("w", &[3, 4], &w), mm],
            "x",
            "mm",
        );
        assert_eq!(op_names(&conv.model), vec!["TRANSPOSE", "FULLY_CONNECTED"]);
        let x = [1.0f32, -1.0, 2.0, 0.5, -3.0, 4.0];
        let y = run(conv.model, &[3, 2], &x);
        let mut want = vec![0f32; 8];
        for i in 0..2 {
            for j in 0..4 {
                want[i * 4 + j] = (0..3).map(|k| x[k * 2 + i] * w[k * 4 + j]).sum();
            }
        }
        assert!(max_abs_diff(&y[0], &want) <= TOL, "{:?} vs {want:?}", y[0]);
    }

    #[test]
    fn squeeze_of_two_unknown_dims_stays_squeeze_and_int64_axes_work() {
        let sq = node(
            "sq",
            "Squeeze",
            &["x"],
            vec![(
                "squeeze_dims",
                AttrV::List(ListValue {
                    i: vec![1],
                    ..Default::default()
                }),
            )],
        );
        let mean = node(
            "m",
            "Mean",
            &["sq", "axes"],
            vec![("keep_dims", AttrV::B(false))],
        );
        let conv = convert(
            vec![
                placeholder("x", &[-1, 1, -1]),
                sq,
                const_i64("axes", &[1], &[-1]),
                mean,
            ],
            "x",
            "m",
        );
        assert_eq!(op_names(&conv.model), vec!["SQUEEZE", "MEAN"]);
        let y = run(conv.model, &[2, 1, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 9.0]);
        assert_eq!(y[0], vec![2.0, 6.0]);
    }
}
