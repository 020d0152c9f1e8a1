//! Inlining function calls: a SavedModel graph's `StatefulPartitionedCall` / `PartitionedCall`
//! nodes (and nodes whose op type is a library function) replaced by the functions' bodies.
//!
//! Body node `n` of a call `c` becomes `c/n` (recursively, so nested calls give `c/d/n`);
//! references to the function's arguments become the call's inputs, and the call node itself
//! becomes an `IdentityN` forwarding the function's results, so readers of `c:k` are unchanged.
//! Inside a function a tensor is named `node:output_arg:index`: the op definitions stored with
//! the graph (`stripped_op_list`) give each output argument's position, counting list arguments
//! by their `number_attr` / `type_list_attr`. Control inputs are dropped (they order side
//! effects, which an inference graph does not have).

use super::error::{GraphDefError, Result};
use crate::prost::tensorflow::attr_value::Value as AttrV;
use crate::prost::tensorflow::{FunctionDef, NodeDef, OpDef};
use std::collections::HashMap;
use std::path::Path;

/// How deep function calls may nest before the graph is considered malformed.
const MAX_CALL_DEPTH: usize = 32;

fn sm_err(path: &Path, message: impl Into<String>) -> GraphDefError {
    GraphDefError::SavedModel {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Output arguments (name, count) of an op or function for a node with `attrs`.
fn output_layout(def: &OpDef, node: &NodeDef) -> Vec<(String, usize)> {
    def.output_arg
        .iter()
        .map(|a| {
            let attr = |n: &str| node.attr.get(n).and_then(|v| v.value.as_ref());
            let n = if !a.number_attr.is_empty() {
                match attr(&a.number_attr) {
                    Some(AttrV::I(n)) => usize::try_from(*n).unwrap_or(1),
                    _ => 1,
                }
            } else if !a.type_list_attr.is_empty() {
                match attr(&a.type_list_attr) {
                    Some(AttrV::List(l)) => l.r#type.len(),
                    _ => 1,
                }
            } else {
                1
            };
            (a.name.clone(), n)
        })
        .collect()
}

/// Flattens function calls, given the op and function definitions of the graph.
pub struct Inliner<'a> {
    ops: HashMap<&'a str, &'a OpDef>,
    functions: HashMap<&'a str, &'a FunctionDef>,
    dir: &'a Path,
    out: Vec<NodeDef>,
}

impl<'a> Inliner<'a> {
    /// An inliner over the graph's op definitions and function library; `dir` names the
    /// SavedModel in errors.
    pub fn new(
        ops: HashMap<&'a str, &'a OpDef>,
        functions: HashMap<&'a str, &'a FunctionDef>,
        dir: &'a Path,
    ) -> Self {
        Inliner {
            ops,
            functions,
            dir,
            out: Vec::new(),
        }
    }

    /// The flat nodes emitted so far.
    pub fn into_nodes(self) -> Vec<NodeDef> {
        self.out
    }

    /// The function a node calls, if it is a call.
    fn callee(&self, n: &NodeDef) -> Option<&'a FunctionDef> {
        if let Some(f) = self.functions.get(n.op.as_str()) {
            return Some(f);
        }
        if !matches!(n.op.as_str(), "StatefulPartitionedCall" | "PartitionedCall") {
            return None;
        }
        match n.attr.get("f").and_then(|v| v.value.as_ref()) {
            Some(AttrV::Func(f)) => self.functions.get(f.name.as_str()).copied(),
            _ => None,
        }
    }

    /// The flat output index of `out_arg:idx` of body node `n`.
    fn output_index(&self, n: &NodeDef, out_arg: &str, idx: usize) -> Option<usize> {
        // A call op numbers its outputs as one list (`output:k`); a function used as an op
        // type by its signature's output arguments.
        if matches!(n.op.as_str(), "StatefulPartitionedCall" | "PartitionedCall") {
            return Some(idx);
        }
        let def = match self.functions.get(n.op.as_str()) {
            Some(f) => f.signature.as_ref()?,
            None => self.ops.get(n.op.as_str())?,
        };
        let mut base = 0;
        for (name, count) in output_layout(def, n) {
            if name == out_arg {
                return Some(base + idx);
            }
            base += count;
        }
        None
    }

    /// Emits `node` (inputs already flat), inlining it if it is a call.
    pub fn emit(&mut self, node: NodeDef, depth: usize) -> Result<()> {
        let Some(f) = self.callee(&node) else {
            self.out.push(node);
            return Ok(());
        };
        let sig = f.signature.as_ref().ok_or_else(|| {
            sm_err(
                self.dir,
                format!("function called by `{}` has no signature", node.name),
            )
        })?;
        if depth >= MAX_CALL_DEPTH {
            return Err(sm_err(
                self.dir,
                format!(
                    "function calls nest deeper than {MAX_CALL_DEPTH} at `{}`",
                    node.name
                ),
            ));
        }
        let data: Vec<&String> = node.input.iter().filter(|s| !s.starts_with('^')).collect();
        if data.len() != sig.input_arg.len() {
            return Err(sm_err(
                self.dir,
                format!(
                    "call `{}` passes {} inputs to `{}`, which takes {}",
                    node.name,
                    data.len(),
                    sig.name,
                    sig.input_arg.len()
                ),
            ));
        }
        let args: HashMap<&str, String> = sig
            .input_arg
            .iter()
            .map(|a| a.name.as_str())
            .zip(data.iter().map(|s| s.to_string()))
            .collect();
        let prefix = format!("{}/", node.name);
        let body: HashMap<&str, &NodeDef> =
            f.node_def.iter().map(|n| (n.name.as_str(), n)).collect();
        let rewrite = |r: &str| -> Result<Option<String>> {
            if r.starts_with('^') {
                return Ok(None);
            }
            if let Some(a) = args.get(r) {
                return Ok(Some(a.clone()));
            }
            let mut parts = r.splitn(3, ':');
            let (n, out, idx) = (parts.next(), parts.next(), parts.next());
            let bad = || {
                sm_err(
                    self.dir,
                    format!("function `{}`: cannot resolve tensor `{r}`", sig.name),
                )
            };
            let src = n.and_then(|n| body.get(n)).ok_or_else(bad)?;
            let k = match (out, idx.map(str::parse::<usize>)) {
                (Some(o), Some(Ok(i))) => self.output_index(src, o, i).ok_or_else(bad)?,
                (None, None) => 0,
                _ => return Err(bad()),
            };
            Ok(Some(format!("{prefix}{}:{k}", src.name)))
        };
        let mut inner = Vec::with_capacity(f.node_def.len());
        for b in &f.node_def {
            let mut nb = b.clone();
            nb.name = format!("{prefix}{}", b.name);
            let mut ins = Vec::with_capacity(b.input.len());
            for r in &b.input {
                if let Some(x) = rewrite(r)? {
                    ins.push(x);
                }
            }
            nb.input = ins;
            inner.push(nb);
        }
        let mut results = Vec::with_capacity(sig.output_arg.len());
        for a in &sig.output_arg {
            let r = f.ret.get(&a.name).ok_or_else(|| {
                sm_err(
                    self.dir,
                    format!("function `{}` does not return `{}`", sig.name, a.name),
                )
            })?;
            results.push(rewrite(r)?.unwrap_or_default());
        }
        for nb in inner {
            self.emit(nb, depth + 1)?;
        }
        self.out.push(NodeDef {
            name: node.name,
            op: "IdentityN".into(),
            input: results,
            ..Default::default()
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prost::tensorflow::op_def::ArgDef;
    use crate::prost::tensorflow::AttrValue;

    fn arg(name: &str) -> ArgDef {
        ArgDef {
            name: name.into(),
            ..Default::default()
        }
    }

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn calls_are_inlined_with_output_args_numbered() {
        // Split has a list output counted by `num_split`; the function returns its second
        // piece and a Relu of the first.
        let split = OpDef {
            name: "Split".into(),
            output_arg: vec![ArgDef {
                number_attr: "num_split".into(),
                ..arg("output")
            }],
            ..Default::default()
        };
        let relu = OpDef {
            name: "Relu".into(),
            output_arg: vec![arg("activations")],
            ..Default::default()
        };
        let mut s = node("s", "Split", &["axis", "x", "^ctrl"]);
        s.attr.insert(
            "num_split".into(),
            AttrValue {
                value: Some(AttrV::I(2)),
            },
        );
        let f = FunctionDef {
            signature: Some(OpDef {
                name: "f".into(),
                input_arg: vec![arg("x"), arg("axis")],
                output_arg: vec![arg("a"), arg("b")],
            }),
            node_def: vec![s, node("r", "Relu", &["s:output:0"])],
            ret: [
                ("a".to_string(), "s:output:1".to_string()),
                ("b".to_string(), "r:activations:0".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let ops = [("Split", &split), ("Relu", &relu)].into();
        let functions = [("f", &f)].into();
        let dir = Path::new("m");
        let mut inl = Inliner::new(ops, functions, dir);
        let mut call = node("call", "PartitionedCall", &["in", "ax"]);
        call.attr.insert(
            "f".into(),
            AttrValue {
                value: Some(AttrV::Func(crate::prost::tensorflow::NameAttrList {
                    name: "f".into(),
                    ..Default::default()
                })),
            },
        );
        inl.emit(call.clone(), 0).unwrap();
        let out = inl.into_nodes();
        let names: Vec<&str> = out.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["call/s", "call/r", "call"]);
        assert_eq!(out[0].input, ["ax", "in"]);
        assert_eq!(out[1].input, ["call/s:0"]);
        assert_eq!(out[2].op, "IdentityN");
        assert_eq!(out[2].input, ["call/s:1", "call/r:0"]);

        // Wrong arity and unknown tensors are typed errors.
        let mut inl = Inliner::new([("Split", &split)].into(), [("f", &f)].into(), dir);
        call.input.pop();
        assert!(inl
            .emit(call, 0)
            .unwrap_err()
            .to_string()
            .contains("passes 1 inputs"));
    }
}
