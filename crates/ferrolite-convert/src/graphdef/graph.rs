//! Navigating a decoded `GraphDef`: the node index, tensor references (`node:1`, `^ctrl`),
//! typed attribute access, and the set and order of nodes the requested outputs depend on.
//!
//! Only data edges count: control inputs (`^node`) order side effects in TensorFlow and mean
//! nothing for an inference graph, so they are ignored everywhere.

use super::error::{GraphDefError, Result};
use crate::prost::tensorflow::attr_value::Value as AttrV;
use crate::prost::tensorflow::{AttrValue, GraphDef, NodeDef, TensorShapeProto};
use std::collections::HashMap;

/// A reference to one output of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Port {
    /// Node index in `GraphDef.node`.
    pub node: usize,
    /// Output index.
    pub output: usize,
}

/// Splits `node:3` into `("node", 3)`; a name without a numeric suffix is output 0. `None` for
/// control inputs (`^node`).
pub fn split_ref(s: &str) -> Option<(&str, usize)> {
    if s.starts_with('^') {
        return None;
    }
    match s.rsplit_once(':') {
        Some((name, k)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => {
            Some((name, k.parse().unwrap_or(usize::MAX)))
        }
        _ => Some((s, 0)),
    }
}

/// The graph with its nodes indexed by name.
#[derive(Debug)]
pub struct GraphIndex<'g> {
    /// The nodes.
    pub nodes: &'g [NodeDef],
    by_name: HashMap<&'g str, usize>,
}

impl<'g> GraphIndex<'g> {
    /// Indexes `graph`; the last node wins when two share a name.
    pub fn new(graph: &'g GraphDef) -> Self {
        let by_name = graph
            .node
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        GraphIndex {
            nodes: &graph.node,
            by_name,
        }
    }

    /// The index of the node called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Resolves a tensor name given by the caller (`name` or `name:k`).
    pub fn resolve(&self, given: &str, role: &'static str) -> Result<Port> {
        let (name, output) = split_ref(given).unwrap_or((given, 0));
        let node = self.find(name).ok_or_else(|| GraphDefError::NoSuchNode {
            role,
            name: given.to_string(),
            hint: self.hint(name),
        })?;
        Ok(Port { node, output })
    }

    /// `; did you mean a, b?` listing node names containing `name` (or placeholders for inputs).
    fn hint(&self, name: &str) -> String {
        let lower = name.to_ascii_lowercase();
        let mut close: Vec<&str> = self
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| {
                let l = n.to_ascii_lowercase();
                !lower.is_empty() && (l.contains(&lower) || lower.contains(&l))
            })
            .take(5)
            .collect();
        if close.is_empty() {
            close = self
                .nodes
                .iter()
                .filter(|n| n.op == "Placeholder")
                .map(|n| n.name.as_str())
                .take(5)
                .collect();
        }
        if close.is_empty() {
            String::new()
        } else {
            format!("; did you mean {}?", close.join(", "))
        }
    }

    /// The data inputs of node `i`, resolved.
    pub fn data_inputs(&self, i: usize) -> Result<Vec<Port>> {
        let n = &self.nodes[i];
        let mut out = Vec::new();
        for s in &n.input {
            let Some((name, output)) = split_ref(s) else {
                continue;
            };
            let node = self.find(name).ok_or_else(|| GraphDefError::BadInput {
                node: n.name.clone(),
                op: n.op.clone(),
                input: s.clone(),
                message: "names no node of the graph".into(),
            })?;
            out.push(Port { node, output });
        }
        Ok(out)
    }

    /// Nodes the `roots` depend on through data edges, stopping at `leaves`, in graph order.
    pub fn reachable(&self, roots: &[usize], leaves: &[usize]) -> Result<Vec<usize>> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = roots.to_vec();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) || leaves.contains(&i) {
                continue;
            }
            stack.extend(self.data_inputs(i)?.into_iter().map(|p| p.node));
        }
        Ok((0..self.nodes.len()).filter(|&i| seen[i]).collect())
    }

    /// The nodes the `roots` depend on, producers first (depth-first post-order), stopping at
    /// `leaves`; a data-flow loop is a [`GraphDefError::Cycle`].
    pub fn topo_order(&self, roots: &[usize], leaves: &[usize]) -> Result<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut mark = vec![Mark::New; self.nodes.len()];
        let mut order = Vec::new();
        for &root in roots {
            let mut stack = vec![(root, false)];
            while let Some((i, expanded)) = stack.pop() {
                if expanded {
                    mark[i] = Mark::Done;
                    order.push(i);
                    continue;
                }
                match mark[i] {
                    Mark::Done => continue,
                    Mark::Open => {
                        return Err(GraphDefError::Cycle {
                            node: self.nodes[i].name.clone(),
                            op: self.nodes[i].op.clone(),
                        })
                    }
                    Mark::New => {}
                }
                mark[i] = Mark::Open;
                stack.push((i, true));
                if leaves.contains(&i) {
                    continue;
                }
                for p in self.data_inputs(i)?.into_iter().rev() {
                    match mark[p.node] {
                        Mark::Done => {}
                        Mark::Open => {
                            return Err(GraphDefError::Cycle {
                                node: self.nodes[p.node].name.clone(),
                                op: self.nodes[p.node].op.clone(),
                            })
                        }
                        Mark::New => stack.push((p.node, false)),
                    }
                }
            }
        }
        Ok(order)
    }

    /// For each node, the highest output index any of `nodes` reads from it (plus `extra`).
    pub fn outputs_used(&self, nodes: &[usize], extra: &[Port]) -> Result<Vec<usize>> {
        let mut used = vec![0usize; self.nodes.len()];
        for &i in nodes {
            for p in self.data_inputs(i)? {
                used[p.node] = used[p.node].max(p.output + 1);
            }
        }
        for p in extra {
            used[p.node] = used[p.node].max(p.output + 1);
        }
        Ok(used)
    }
}

/// Typed access to a node's attributes, with errors naming the node.
pub struct Attrs<'a> {
    /// The node.
    pub node: &'a NodeDef,
}

impl<'a> Attrs<'a> {
    /// A [`GraphDefError::BadAttr`] for `attr`.
    pub fn err(&self, attr: &str, message: impl Into<String>) -> GraphDefError {
        GraphDefError::BadAttr {
            node: self.node.name.clone(),
            op: self.node.op.clone(),
            attr: attr.to_string(),
            message: message.into(),
        }
    }

    fn value(&self, attr: &str) -> Option<&'a AttrV> {
        self.node
            .attr
            .get(attr)
            .and_then(|a: &AttrValue| a.value.as_ref())
    }

    fn wrong(&self, attr: &str, want: &str) -> GraphDefError {
        self.err(
            attr,
            format!("expected {want}, found {:?}", self.value(attr)),
        )
    }

    /// An integer attribute, `default` when absent.
    pub fn int(&self, attr: &str, default: Option<i64>) -> Result<i64> {
        match self.value(attr) {
            Some(AttrV::I(v)) => Ok(*v),
            None => default.ok_or_else(|| self.err(attr, "missing")),
            Some(_) => Err(self.wrong(attr, "an int")),
        }
    }

    /// A float attribute, `default` when absent.
    pub fn float(&self, attr: &str, default: Option<f32>) -> Result<f32> {
        match self.value(attr) {
            Some(AttrV::F(v)) => Ok(*v),
            None => default.ok_or_else(|| self.err(attr, "missing")),
            Some(_) => Err(self.wrong(attr, "a float")),
        }
    }

    /// A boolean attribute, `default` when absent.
    pub fn bool(&self, attr: &str, default: bool) -> Result<bool> {
        match self.value(attr) {
            Some(AttrV::B(v)) => Ok(*v),
            None => Ok(default),
            Some(_) => Err(self.wrong(attr, "a bool")),
        }
    }

    /// A string attribute, `default` when absent.
    pub fn string(&self, attr: &str, default: Option<&str>) -> Result<String> {
        match self.value(attr) {
            Some(AttrV::S(v)) => Ok(String::from_utf8_lossy(v).into_owned()),
            None => default
                .map(str::to_string)
                .ok_or_else(|| self.err(attr, "missing")),
            Some(_) => Err(self.wrong(attr, "a string")),
        }
    }

    /// A list-of-ints attribute, `default` when absent.
    pub fn ints(&self, attr: &str, default: Option<&[i64]>) -> Result<Vec<i64>> {
        match self.value(attr) {
            Some(AttrV::List(l)) => Ok(l.i.clone()),
            None => default
                .map(<[i64]>::to_vec)
                .ok_or_else(|| self.err(attr, "missing")),
            Some(_) => Err(self.wrong(attr, "a list of ints")),
        }
    }

    /// A type attribute (raw `DataType` value), `None` when absent.
    pub fn dtype(&self, attr: &str) -> Result<Option<i32>> {
        match self.value(attr) {
            Some(AttrV::Type(t)) => Ok(Some(*t)),
            None => Ok(None),
            Some(_) => Err(self.wrong(attr, "a type")),
        }
    }

    /// A shape attribute, `None` when absent.
    pub fn shape(&self, attr: &str) -> Result<Option<&'a TensorShapeProto>> {
        match self.value(attr) {
            Some(AttrV::Shape(s)) => Ok(Some(s)),
            None => Ok(None),
            Some(_) => Err(self.wrong(attr, "a shape")),
        }
    }

    /// The `value` tensor of a `Const` node.
    pub fn tensor(&self, attr: &str) -> Result<&'a crate::prost::tensorflow::TensorProto> {
        match self.value(attr) {
            Some(AttrV::Tensor(t)) => Ok(t),
            None => Err(self.err(attr, "missing")),
            Some(_) => Err(self.wrong(attr, "a tensor")),
        }
    }

    /// Fails with [`GraphDefError::DataFormat`] unless `data_format` is absent or NHWC.
    pub fn require_nhwc(&self) -> Result<()> {
        let f = self.string("data_format", Some("NHWC"))?;
        if f == "NHWC" {
            Ok(())
        } else {
            Err(GraphDefError::DataFormat {
                node: self.node.name.clone(),
                op: self.node.op.clone(),
                format: f,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, op: &str, inputs: &[&str]) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn refs_split_and_control_inputs_are_skipped() {
        assert_eq!(split_ref("a/b:2"), Some(("a/b", 2)));
        assert_eq!(split_ref("a/b"), Some(("a/b", 0)));
        assert_eq!(split_ref("^a"), None);
        let g = GraphDef {
            node: vec![
                node("x", "Placeholder", &[]),
                node("c", "Const", &["^x"]),
                node("y", "AddV2", &["x", "c:0", "^c"]),
            ],
            ..Default::default()
        };
        let idx = GraphIndex::new(&g);
        assert_eq!(idx.data_inputs(2).unwrap().len(), 2);
        assert_eq!(idx.data_inputs(1).unwrap().len(), 0);
        assert_eq!(idx.topo_order(&[2], &[0]).unwrap(), vec![0, 1, 2]);
        let e = idx.resolve("xx", "input").unwrap_err().to_string();
        assert!(e.contains("did you mean x"), "{e}");
    }

    #[test]
    fn loops_are_cycle_errors_but_still_reachable() {
        let g = GraphDef {
            node: vec![
                node("x", "Placeholder", &[]),
                node("m", "Merge", &["x", "n"]),
                node("n", "NextIteration", &["m"]),
                node("bad", "Relu", &["missing"]),
            ],
            ..Default::default()
        };
        let idx = GraphIndex::new(&g);
        assert_eq!(idx.reachable(&[2], &[0]).unwrap(), vec![0, 1, 2]);
        assert!(matches!(
            idx.topo_order(&[2], &[0]),
            Err(GraphDefError::Cycle { .. })
        ));
        assert!(matches!(
            idx.data_inputs(3),
            Err(GraphDefError::BadInput { .. })
        ));
    }
}
