//! Errors of the GraphDef importer, and the report of unsupported ops.
//!
//! Every variant names the node (and its op type) or the file at fault. When the graph holds
//! ops the importer cannot lower, conversion fails once with [`GraphDefError::Unsupported`],
//! whose [`UnsupportedOps`] lists *every* offending op type with its count and node names, so a
//! user sees the whole problem up front instead of one op per attempt.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Result alias of the GraphDef importer.
pub type Result<T, E = GraphDefError> = std::result::Result<T, E>;

/// One unsupported op type: how many nodes use it, and their names (graph order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedOp {
    /// TensorFlow op type (`Cumsum`, `TensorListReserve`, ...).
    pub op: String,
    /// Names of the nodes of this type that the requested outputs depend on.
    pub nodes: Vec<String>,
}

impl UnsupportedOp {
    /// Number of nodes of this type.
    pub fn count(&self) -> usize {
        self.nodes.len()
    }
}

/// Every op type of a graph that the importer cannot lower to a TFLite builtin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsupportedOps {
    /// The op types, most frequent first (ties by name).
    pub ops: Vec<UnsupportedOp>,
}

/// TF op types with a TFLite builtin that the importer does not lower yet.
const HAS_BUILTIN: &[(&str, &str)] = &[
    ("Abs", "ABS"),
    ("ArgMin", "ARG_MIN"),
    ("Cumsum", "CUMSUM"),
    ("DepthToSpace", "DEPTH_TO_SPACE"),
    ("Equal", "EQUAL"),
    ("GatherNd", "GATHER_ND"),
    ("Greater", "GREATER"),
    ("Less", "LESS"),
    ("Min", "REDUCE_MIN"),
    ("Neg", "NEG"),
    ("NonMaxSuppressionV3", "NON_MAX_SUPPRESSION_V4 (padded)"),
    ("Pow", "POW"),
    ("Prod", "REDUCE_PROD"),
    ("SelectV2", "SELECT_V2"),
    ("SpaceToDepth", "SPACE_TO_DEPTH"),
];

/// What TFLite offers for an op the importer cannot lower: a builtin not lowered yet, control
/// flow (subgraphs), or nothing but TF's Flex delegate.
pub fn tflite_hint(op: &str) -> String {
    if let Some((_, b)) = HAS_BUILTIN.iter().find(|(tf, _)| *tf == op) {
        return format!("TFLite builtin {b}, not lowered by ferrolite yet");
    }
    match op {
        "Enter" | "Exit" | "Merge" | "Switch" | "NextIteration" | "LoopCond" => {
            "TF1 control flow (a lowered while loop)".into()
        }
        "While" | "StatelessWhile" | "If" | "StatelessIf" => "control flow (subgraphs)".into(),
        "PartitionedCall" | "StatefulPartitionedCall" => {
            "function call left in the graph; freeze with inlining".into()
        }
        o if o.starts_with("TensorList") || o.starts_with("TensorArray") => {
            "no TFLite builtin (TF Flex ops only)".into()
        }
        _ => "no lowering".into(),
    }
}

/// How many node names [`UnsupportedOps`]' `Display` prints per op type.
const NAMES_SHOWN: usize = 4;

impl UnsupportedOps {
    /// Groups `(op type, node name)` pairs by op type.
    pub fn from_nodes<'a>(nodes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut by_op: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (op, name) in nodes {
            by_op.entry(op).or_default().push(name.to_string());
        }
        let mut ops: Vec<UnsupportedOp> = by_op
            .into_iter()
            .map(|(op, nodes)| UnsupportedOp {
                op: op.to_string(),
                nodes,
            })
            .collect();
        ops.sort_by(|a, b| b.count().cmp(&a.count()).then_with(|| a.op.cmp(&b.op)));
        UnsupportedOps { ops }
    }

    /// True when every op is supported.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Total number of unsupported nodes.
    pub fn node_count(&self) -> usize {
        self.ops.iter().map(UnsupportedOp::count).sum()
    }

    /// The entry of one op type.
    pub fn get(&self, op: &str) -> Option<&UnsupportedOp> {
        self.ops.iter().find(|o| o.op == op)
    }

    /// `Cumsum ×2, Merge ×6, ...`: the op types with their counts.
    pub fn summary(&self) -> String {
        self.ops
            .iter()
            .map(|o| format!("{} ×{}", o.op, o.count()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for UnsupportedOps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} unsupported op type(s) in {} node(s):",
            self.ops.len(),
            self.node_count()
        )?;
        for o in &self.ops {
            let shown: Vec<&str> = o
                .nodes
                .iter()
                .take(NAMES_SHOWN)
                .map(String::as_str)
                .collect();
            let more = o.count().saturating_sub(NAMES_SHOWN);
            write!(
                f,
                "  {:<24} ×{:<4} [{}] {}",
                o.op,
                o.count(),
                tflite_hint(&o.op),
                shown.join(", ")
            )?;
            if more > 0 {
                write!(f, ", … and {more} more")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Why a GraphDef conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphDefError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a serialized `GraphDef` (truncated, or another format).
    #[error("{file}: not a TensorFlow GraphDef: {message}")]
    Decode {
        /// The file.
        file: String,
        /// The protobuf decoder's message, or what is wrong.
        message: String,
    },
    /// A name given as an input or output is not a node of the graph.
    #[error("{role} `{name}` is not a node of the graph{hint}")]
    NoSuchNode {
        /// `input` or `output`.
        role: &'static str,
        /// The name as given.
        name: String,
        /// `; did you mean ...?` with similar node names, or empty.
        hint: String,
    },
    /// A node reads an input that names no node, or an output index the node does not have.
    #[error("node `{node}` ({op}): input `{input}` {message}")]
    BadInput {
        /// The reading node.
        node: String,
        /// Its op type.
        op: String,
        /// The input as written in the node.
        input: String,
        /// What is wrong.
        message: String,
    },
    /// The requested outputs depend on ops the importer cannot lower (the full list).
    #[error(
        "{0}the graph cannot be converted to TFLite builtins; pass allow_custom_ops \
         (--allow-custom-ops) to emit these as custom operators, which a plain TFLite runtime \
         cannot run"
    )]
    Unsupported(UnsupportedOps),
    /// A node uses a data layout other than NHWC.
    #[error(
        "node `{node}` ({op}): data_format {format} is not supported; ferrolite converts NHWC \
         graphs only (TFLite is NHWC); re-export the model with data_format NHWC"
    )]
    DataFormat {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
        /// The data format found.
        format: String,
    },
    /// A node lacks an attribute, or has one of the wrong type or an unsupported value.
    #[error("node `{node}` ({op}): attribute `{attr}`: {message}")]
    BadAttr {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
        /// The attribute.
        attr: String,
        /// What is wrong.
        message: String,
    },
    /// A node's operands have shapes or types it cannot take.
    #[error("node `{node}` ({op}): {message}")]
    BadNode {
        /// Node name.
        node: String,
        /// Op type.
        op: String,
        /// What is wrong.
        message: String,
    },
    /// A node depends on itself (a control-flow loop left in the graph).
    #[error(
        "node `{node}` ({op}) depends on itself: the graph has a loop (TF control flow), which \
         cannot be emitted as a TFLite operator sequence"
    )]
    Cycle {
        /// A node on the loop.
        node: String,
        /// Its op type.
        op: String,
    },
    /// A placeholder the outputs depend on is not among the inputs.
    #[error(
        "the outputs depend on placeholder `{node}`, which is not among the inputs ({inputs})"
    )]
    UnfedPlaceholder {
        /// The placeholder.
        node: String,
        /// The inputs given.
        inputs: String,
    },
    /// An input shape given by the caller contradicts the placeholder's shape.
    #[error("input `{node}`: shape {given:?} does not fit the placeholder's shape {graph:?}")]
    InputShape {
        /// The input node.
        node: String,
        /// The shape given (`-1` = dynamic).
        given: Vec<i64>,
        /// The shape in the graph (`-1` = unknown).
        graph: Vec<i64>,
    },
    /// A tensor bundle (`variables/variables.index` + data shards) is corrupt or unreadable.
    #[error("{}: corrupt tensor bundle: {message}", path.display())]
    Bundle {
        /// The index or data file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A SavedModel directory is malformed, or its graph cannot be flattened.
    #[error("{}: {message}", path.display())]
    SavedModel {
        /// The SavedModel directory (or file in it).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The requested signature is not in the SavedModel.
    #[error("signature `{key}` is not in the SavedModel (it has: {available})")]
    NoSignature {
        /// The key asked for.
        key: String,
        /// The keys present.
        available: String,
    },
    /// The converted model failed ferrolite's structural validation (an importer bug).
    #[error("internal error, the converted model is invalid: {0}")]
    Invalid(#[from] ferrolite_model::ModelError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_ops_are_grouped_counted_and_all_listed() {
        let r = UnsupportedOps::from_nodes([
            ("Merge", "m1"),
            ("Cumsum", "c1"),
            ("Merge", "m2"),
            ("Exit", "e"),
            ("Merge", "m3"),
            ("Merge", "m4"),
            ("Merge", "m5"),
        ]);
        assert_eq!(r.ops.len(), 3);
        assert_eq!(r.ops[0].op, "Merge");
        assert_eq!(r.ops[0].count(), 5);
        assert_eq!(r.get("Cumsum").unwrap().nodes, vec!["c1"]);
        assert_eq!(r.node_count(), 7);
        assert_eq!(r.summary(), "Merge ×5, Cumsum ×1, Exit ×1");
        let text = r.to_string();
        assert!(
            text.contains("3 unsupported op type(s) in 7 node(s)"),
            "{text}"
        );
        assert!(text.contains("and 1 more"), "{text}");
        assert!(text.contains("TFLite builtin CUMSUM"), "{text}");
        assert!(tflite_hint("TensorListReserve").contains("Flex"));
        let e = GraphDefError::Unsupported(r).to_string();
        assert!(
            e.contains("Cumsum") && e.contains("allow-custom-ops"),
            "{e}"
        );
    }
}
