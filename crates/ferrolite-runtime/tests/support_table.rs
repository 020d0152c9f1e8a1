//! Keeps the operator support table honest: every `(operator, variant)` pair that a fixture model
//! exercises, in a model our interpreter runs, must be declared in the kernel registry
//! (`ops::registered()`, the source of `ferrolite ops` and the README's table).
//!
//! The test walks every `.tflite` under `tests/fixtures/` (recursively), classifies each operator
//! occurrence from its tensors (see [`classify`]), then loads, allocates and invokes the model on
//! zero inputs. A model counts when `allocate_tensors` succeeds (and, if its shapes depend on input
//! values so that operators are only prepared at `invoke`, when that invoke succeeds too). It
//! prints the models that do not run and the declared variants no fixture exercises (what lacks
//! fixtures); neither is a failure.

use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{names::builtin_name, DType, OpKind, Operator, Subgraph};
use ferrolite_runtime::ops::{lookup, registered, Variant};
use ferrolite_runtime::Interpreter;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The repo's `tests/fixtures` directory.
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Every `.tflite` file under `dir`, sorted.
fn tflite_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "tflite") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// True for a tensor with constant contents.
fn is_const(sg: &Subgraph, t: usize) -> bool {
    sg.tensors[t].data.is_some()
}

/// True when tensor `t` is the output of a DEQUANTIZE of a float16 constant.
fn from_f16_dequantize(sg: &Subgraph, t: usize) -> bool {
    sg.operators.iter().any(|op| {
        op.kind == OpKind::Builtin(B::Dequantize)
            && op.outputs.first() == Some(&Some(t))
            && op
                .inputs
                .first()
                .copied()
                .flatten()
                .is_some_and(|i| sg.tensors[i].dtype == DType::F16 && is_const(sg, i))
    })
}

/// The variants one operator occurrence exercises.
///
/// * QUANTIZE / DEQUANTIZE: each integer type they convert from or to (int8 → `Int8`, uint8 →
///   `UInt8`, int16 → `Int16x8`), and `F16Weights` for a DEQUANTIZE of float16.
/// * Otherwise, from the *activations* (non-constant inputs and the outputs): any int8 → `Int8`,
///   else uint8 → `UInt8`, else int16 → `Int16x8` (int8 first: an int8 SOFTMAX may write int16);
///   else float32 activations with an int8/uint8/int4 constant input → `Hybrid`, with an input
///   that is a float16 constant or a DEQUANTIZE of one → `F16Weights`, else `F32`.
/// * Operators on int32/int64/bool only (shape arithmetic, logical ops) exercise no variant.
fn classify(sg: &Subgraph, op: &Operator) -> BTreeSet<Variant> {
    let inputs: Vec<usize> = op.inputs.iter().flatten().copied().collect();
    let outputs: Vec<usize> = op.outputs.iter().flatten().copied().collect();
    let int_variant = |d: DType| match d {
        DType::I8 => Some(Variant::Int8),
        DType::U8 => Some(Variant::UInt8),
        DType::I16 => Some(Variant::Int16x8),
        _ => None,
    };
    let kind = op.kind.builtin();
    if matches!(kind, B::Quantize | B::Dequantize) {
        return inputs
            .iter()
            .chain(&outputs)
            .filter_map(|&t| match sg.tensors[t].dtype {
                DType::F16 => Some(Variant::F16Weights),
                d => int_variant(d),
            })
            .collect();
    }
    let activations: Vec<DType> = inputs
        .iter()
        .filter(|&&t| !is_const(sg, t))
        .chain(&outputs)
        .map(|&t| sg.tensors[t].dtype)
        .collect();
    for d in [DType::I8, DType::U8, DType::I16] {
        if activations.contains(&d) {
            return int_variant(d).into_iter().collect();
        }
    }
    if !activations.contains(&DType::F32) {
        return BTreeSet::new();
    }
    let const_dtype = |ds: &[DType]| {
        inputs
            .iter()
            .any(|&t| is_const(sg, t) && ds.contains(&sg.tensors[t].dtype))
    };
    let variant = if const_dtype(&[DType::I8, DType::U8, DType::I4]) {
        Variant::Hybrid
    } else if const_dtype(&[DType::F16]) || inputs.iter().any(|&t| from_f16_dequantize(sg, t)) {
        Variant::F16Weights
    } else {
        Variant::F32
    };
    BTreeSet::from([variant])
}

/// Loads, allocates and invokes a model on zero inputs; `Err` says why it does not run.
fn runs(path: &Path) -> Result<(), String> {
    let mut interp = Interpreter::from_file(path).map_err(|e| format!("load: {e}"))?;
    interp
        .allocate_tensors()
        .map_err(|e| format!("allocate: {e}"))?;
    match interp.invoke() {
        Err(e) if interp.has_value_dependent_shapes() => Err(format!("invoke: {e}")),
        _ => Ok(()),
    }
}

/// `(operator name, variant)` → the fixture files exercising it.
type Exercised = BTreeMap<(String, Variant), Vec<String>>;

#[test]
fn declared_variants_cover_every_fixture_that_runs() {
    let root = fixtures_dir();
    let files = tflite_files(&root);
    assert!(
        files.len() >= 200,
        "expected the fixture tree, found {} .tflite files under {}",
        files.len(),
        root.display()
    );
    let mut exercised = Exercised::new();
    let mut not_running = Vec::new();
    let mut unclassified = BTreeSet::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let model = ferrolite_model::read_file(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        if let Err(e) = runs(path) {
            not_running.push(format!("{rel}: {e}"));
            continue;
        }
        for sg in &model.subgraphs {
            for op in &sg.operators {
                let OpKind::Builtin(b) = op.kind else {
                    continue;
                };
                let variants = classify(sg, op);
                if variants.is_empty() {
                    unclassified.insert(builtin_name(b));
                }
                for v in variants {
                    let files = exercised.entry((builtin_name(b), v)).or_default();
                    if !files.contains(&rel) {
                        files.push(rel.clone());
                    }
                }
            }
        }
    }

    eprintln!(
        "{} fixture models, {} run; {} (operator, variant) pairs exercised",
        files.len(),
        files.len() - not_running.len(),
        exercised.len()
    );
    eprintln!("models that do not run here (not a failure):");
    for m in &not_running {
        eprintln!("  {m}");
    }
    eprintln!(
        "operators seen only on int32/int64/bool data (no variant): {}",
        unclassified.into_iter().collect::<Vec<_>>().join(", ")
    );
    let mut lacking: BTreeMap<Variant, Vec<String>> = BTreeMap::new();
    for (name, _, reg) in registered() {
        for v in reg.support.iter() {
            if !exercised.contains_key(&(name.clone(), v)) {
                lacking.entry(v).or_default().push(name.clone());
            }
        }
    }
    eprintln!("declared but exercised by no fixture (not a failure):");
    for (v, ops) in &lacking {
        eprintln!("  {v} ({}): {}", ops.len(), ops.join(", "));
    }

    // The classifier must actually see the fixture kinds, or the check below is empty.
    let seen: BTreeSet<Variant> = exercised.keys().map(|(_, v)| *v).collect();
    for v in [
        Variant::F32,
        Variant::Int8,
        Variant::UInt8,
        Variant::Int16x8,
        Variant::Hybrid,
        Variant::F16Weights,
    ] {
        assert!(
            seen.contains(&v),
            "no running fixture exercises {v}: {seen:?}"
        );
    }

    let undeclared: Vec<String> = exercised
        .iter()
        .filter(|((name, v), _)| {
            let b = registered()
                .into_iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, b, _)| b);
            !b.and_then(lookup).is_some_and(|r| r.support.contains(*v))
        })
        .map(|((name, v), files)| format!("{name} {v} (e.g. {})", files[0]))
        .collect();
    assert!(
        undeclared.is_empty(),
        "operators run in these variants but the registry does not declare them; add them to the \
         op's `.supports(...)` in crates/ferrolite-runtime/src/ops/:\n  {}",
        undeclared.join("\n  ")
    );
}

#[test]
fn classifier_distinguishes_the_model_kinds() {
    // One file per kind, checked on its main compute operator.
    let cases = [
        ("cnn_bn/cnn_bn_float32.tflite", B::Conv2d, Variant::F32),
        ("cnn_bn/cnn_bn_int8.tflite", B::Conv2d, Variant::Int8),
        (
            "cnn_bn/cnn_bn_dynamic.tflite",
            B::FullyConnected,
            Variant::Hybrid,
        ),
        (
            "cnn_bn/cnn_bn_float16.tflite",
            B::Conv2d,
            Variant::F16Weights,
        ),
        ("quant/cnn_bn_int16x8.tflite", B::Conv2d, Variant::Int16x8),
        (
            "quant/cnn_bn_int8_uint8_io.tflite",
            B::Quantize,
            Variant::UInt8,
        ),
        (
            "cnn_bn/cnn_bn_float16.tflite",
            B::Dequantize,
            Variant::F16Weights,
        ),
    ];
    for (file, op, want) in cases {
        let model = ferrolite_model::read_file(fixtures_dir().join(file)).expect(file);
        let sg = &model.subgraphs[0];
        let got: BTreeSet<Variant> = sg
            .operators
            .iter()
            .filter(|o| o.kind == OpKind::Builtin(op))
            .flat_map(|o| classify(sg, o))
            .collect();
        assert!(
            got.contains(&want),
            "{file}: {} classified {got:?}, expected {want}",
            builtin_name(op)
        );
    }
}
