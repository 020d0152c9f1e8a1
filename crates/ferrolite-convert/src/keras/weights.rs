//! Layer weights read from a Keras file, and matching them to the roles a layer needs.
//!
//! Legacy `.h5` files name every weight (`conv1/kernel:0`); Keras 3 weight files only number
//! them (`layers/conv2d/vars/0`). [`WeightStore::take`] resolves the roles a layer asks for
//! (`kernel`, `bias`, ...) by name when names are present and by position otherwise, so both
//! formats feed the same lowering code.

use crate::error::{ConvertError, Result};
use std::collections::HashMap;

/// One weight array as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RawWeight {
    /// Stored name (`conv1/kernel:0`), `None` in Keras 3 files.
    pub name: Option<String>,
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

impl RawWeight {
    /// The variable's short name: last path component without the `:0` suffix.
    pub fn short_name(&self) -> Option<&str> {
        let n = self.name.as_deref()?;
        let last = n.rsplit('/').next().unwrap_or(n);
        Some(last.split(':').next().unwrap_or(last))
    }

    /// The path component before the short name: the layer that owns the variable
    /// (`d1` in `d1/kernel:0` and in `inner/d1/kernel`).
    pub fn owner(&self) -> Option<&str> {
        let n = self.name.as_deref()?;
        let mut parts = n.rsplit('/');
        parts.next();
        parts.next()
    }
}

/// A weight role: its canonical name and the other names Keras versions use for it.
#[derive(Debug, Clone, Copy)]
pub struct Role {
    /// Canonical name (used in errors).
    pub name: &'static str,
    /// Accepted stored names.
    pub aliases: &'static [&'static str],
}

impl Role {
    /// A role known under one name only.
    pub const fn one(name: &'static str) -> Self {
        Role { name, aliases: &[] }
    }

    fn matches(&self, short: &str) -> bool {
        short == self.name || self.aliases.contains(&short)
    }
}

/// All weights of a model, by layer name.
#[derive(Debug, Clone, Default)]
pub struct WeightStore {
    /// Where the weights came from (for errors).
    pub origin: String,
    layers: HashMap<String, Vec<RawWeight>>,
}

impl WeightStore {
    /// An empty store.
    pub fn new(origin: impl Into<String>) -> Self {
        WeightStore {
            origin: origin.into(),
            layers: HashMap::new(),
        }
    }

    /// Records the weights of one layer (in Keras' variable order).
    pub fn insert(&mut self, layer: impl Into<String>, weights: Vec<RawWeight>) {
        self.layers.insert(layer.into(), weights);
    }

    /// The weights stored for a layer (empty when none). A layer of a nested model is named by
    /// its path (`inner/dense`): Keras 3 weight files store it under that path, legacy files
    /// store all of a nested model's variables in the nested model's group, named
    /// `dense/kernel:0` (tf-keras) or `inner/dense/kernel` (Keras 3), and are picked by owner.
    pub fn layer(&self, layer: &str) -> Vec<&RawWeight> {
        if let Some(w) = self.layers.get(layer) {
            return w.iter().collect();
        }
        if let Some((top, rest)) = layer.split_once('/') {
            let inner = rest.rsplit('/').next().unwrap_or(rest);
            if let Some(w) = self.layers.get(top) {
                return w.iter().filter(|w| w.owner() == Some(inner)).collect();
            }
        }
        Vec::new()
    }

    /// Resolves `roles` (in Keras' variable order, only those the config says exist) for
    /// `layer`: by stored name when every role is found by name, else by position when the
    /// layer stores exactly that many weights.
    pub fn take(&self, layer: &str, roles: &[Role]) -> Result<Vec<&RawWeight>> {
        let stored = self.layer(layer);
        let by_name: Option<Vec<&RawWeight>> = roles
            .iter()
            .map(|r| {
                stored
                    .iter()
                    .find(|w| w.short_name().is_some_and(|s| r.matches(s)))
                    .copied()
            })
            .collect();
        if let Some(found) = by_name {
            return Ok(found);
        }
        if stored.len() == roles.len() {
            return Ok(stored);
        }
        let named = stored.iter().any(|w| w.name.is_some());
        let missing = if named {
            roles.iter().find(|r| {
                !stored
                    .iter()
                    .any(|w| w.short_name().is_some_and(|s| r.matches(s)))
            })
        } else {
            // Unnamed (Keras 3) weights are positional: the first role past the stored ones.
            roles.get(stored.len())
        }
        .or(roles.first())
        .map_or("?", |r| r.name);
        let names: Vec<String> = stored
            .iter()
            .enumerate()
            .map(|(i, w)| w.name.clone().unwrap_or_else(|| format!("#{i}")))
            .collect();
        Err(ConvertError::MissingWeight {
            layer: layer.to_string(),
            weight: missing.to_string(),
            detail: format!(
                "{} stores {} weight(s) for this layer [{}], the config implies {}",
                self.origin,
                stored.len(),
                names.join(", "),
                roles.len()
            ),
        })
    }
}

/// Checks a weight's shape.
pub fn expect_shape(layer: &str, role: &str, w: &RawWeight, expected: &[usize]) -> Result<()> {
    if w.shape == expected && w.data.len() == expected.iter().product::<usize>() {
        Ok(())
    } else {
        Err(ConvertError::ShapeMismatch {
            layer: layer.to_string(),
            weight: role.to_string(),
            expected: expected.to_vec(),
            found: w.shape.clone(),
        })
    }
}

/// Keras 3's file name for a layer class: `Conv2D` → `conv2d`, `ReLU` → `re_lu`,
/// `DepthwiseConv2D` → `depthwise_conv2d` (Keras' `to_snake_case`).
pub fn snake_case(class_name: &str) -> String {
    let chars: Vec<char> = class_name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // Pass 1: `_` before an upper-case letter that starts a capitalized word (`xConv` → `x_Conv`).
    let mut pass1 = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let starts_word = c.is_ascii_uppercase()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
            && i > 0;
        if starts_word {
            pass1.push('_');
        }
        pass1.push(c);
    }
    // Pass 2: `_` between a lower-case letter and an upper-case one (`eL` → `e_L`).
    let p: Vec<char> = pass1.chars().collect();
    let mut out = String::new();
    for (i, &c) in p.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && p[i - 1].is_ascii_lowercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: Option<&str>, n: usize) -> RawWeight {
        RawWeight {
            name: name.map(str::to_string),
            shape: vec![n],
            data: vec![0.0; n],
        }
    }

    #[test]
    fn roles_resolve_by_name_then_position() {
        let mut s = WeightStore::new("t");
        s.insert("a", vec![w(Some("a/bias:0"), 2), w(Some("a/kernel:0"), 4)]);
        s.insert("b", vec![w(None, 4), w(None, 2)]);
        let roles = [Role::one("kernel"), Role::one("bias")];
        assert_eq!(s.take("a", &roles).unwrap()[0].data.len(), 4);
        assert_eq!(s.take("b", &roles).unwrap()[1].data.len(), 2);
        let err = s.take("b", &roles[..1]).unwrap_err();
        assert!(
            matches!(err, ConvertError::MissingWeight { ref weight, .. } if weight == "kernel")
        );
        assert!(s.take("missing", &roles).is_err());
    }

    #[test]
    fn nested_model_layers_resolve_in_legacy_groups() {
        let mut s = WeightStore::new("t");
        s.insert(
            "inner",
            vec![
                w(Some("d1/kernel:0"), 4),
                w(Some("d1/bias:0"), 2),
                w(Some("inner/d2/kernel"), 6),
            ],
        );
        assert_eq!(s.layer("inner/d1").len(), 2);
        assert_eq!(s.layer("inner/d2")[0].data.len(), 6);
        assert!(s.layer("inner/d3").is_empty());
        assert_eq!(
            s.take("inner/d1", &[Role::one("kernel")]).unwrap()[0]
                .data
                .len(),
            4
        );
    }

    #[test]
    fn snake_case_matches_keras() {
        assert_eq!(snake_case("Conv2D"), "conv2d");
        assert_eq!(snake_case("ReLU"), "re_lu");
        assert_eq!(snake_case("DepthwiseConv2D"), "depthwise_conv2d");
        assert_eq!(snake_case("BatchNormalization"), "batch_normalization");
        assert_eq!(snake_case("GlobalMaxPooling2D"), "global_max_pooling2d");
        assert_eq!(snake_case("InputLayer"), "input_layer");
        assert_eq!(snake_case("LeakyReLU"), "leaky_re_lu");
        assert_eq!(snake_case("ZeroPadding2D"), "zero_padding2d");
    }
}
