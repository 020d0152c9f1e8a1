//! Reading Keras HDF5 files with `hdf5-pure`: the legacy whole-model `.h5` (root attribute
//! `model_config` + `model_weights/<layer>` groups listing `weight_names`), legacy weights-only
//! files (the same groups at the root), and Keras 3 weight files (`layers/<path>/vars/<i>`,
//! inside `.keras` archives or saved as `.weights.h5`).

use super::config::ModelSpec;
use super::weights::{snake_case, RawWeight, WeightStore};
use crate::error::{ConvertError, Result};
use hdf5_pure::{AttrValue, File, Group};
use std::collections::HashMap;

/// The HDF5 file signature.
pub const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Largest weight tensor read, in elements (2 GiB of `f32`).
pub const MAX_WEIGHT_ELEMENTS: u64 = 1 << 29;

/// Most elements a weight may hold per byte of the file: DEFLATE expands at most ~1032:1 and
/// every stored element takes at least one byte, so a larger shape cannot be backed by data and
/// is refused before anything is allocated for it.
const MAX_ELEMENTS_PER_FILE_BYTE: u64 = 1032;

/// An open HDF5 file and the name used in errors.
pub struct H5 {
    file: File,
    name: String,
    len: u64,
}

/// Converts an `hdf5-pure` error into ours.
fn h5_err(file: &str, context: &str, e: impl std::fmt::Display) -> ConvertError {
    ConvertError::Hdf5 {
        file: file.to_string(),
        context: context.to_string(),
        message: e.to_string(),
    }
}

fn attr_strings(v: &AttrValue) -> Option<Vec<String>> {
    if let Some(s) = v.as_strings() {
        return Some(s.to_vec());
    }
    // An empty list is written by h5py as an empty float64 array.
    match v {
        AttrValue::F64Array(a) if a.is_empty() => Some(Vec::new()),
        AttrValue::F32Array(a) if a.is_empty() => Some(Vec::new()),
        AttrValue::U8Array(bytes) => String::from_utf8(bytes.clone()).ok().map(|s| vec![s]),
        _ => None,
    }
}

impl H5 {
    /// Parses an HDF5 image held in memory.
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self> {
        if !bytes.starts_with(HDF5_MAGIC) {
            return Err(h5_err(
                name,
                "file signature",
                "no HDF5 signature at offset 0",
            ));
        }
        let len = bytes.len() as u64;
        let file = File::from_bytes(bytes).map_err(|e| h5_err(name, "superblock", e))?;
        let sb = file.superblock();
        let end = sb.base_address.get().saturating_add(sb.eof_address);
        if end > len {
            return Err(h5_err(
                name,
                "superblock",
                format!("truncated: the file is {len} bytes, its superblock says {end}"),
            ));
        }
        Ok(H5 {
            file,
            name: name.to_string(),
            len,
        })
    }

    fn root_attrs(&self) -> Result<HashMap<String, AttrValue>> {
        self.file
            .root()
            .attrs()
            .map_err(|e| h5_err(&self.name, "root attributes", e))
    }

    /// A root attribute as a string (`model_config`, `keras_version`).
    pub fn root_str(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .root_attrs()?
            .get(key)
            .and_then(attr_strings)
            .and_then(|v| v.into_iter().next()))
    }

    fn group(&self, path: &str) -> Result<Group> {
        if path.is_empty() {
            return Ok(self.file.root());
        }
        self.file
            .group(path)
            .map_err(|e| h5_err(&self.name, path, e))
    }

    fn has_group(&self, parent: &Group, name: &str, context: &str) -> Result<bool> {
        Ok(parent
            .groups()
            .map_err(|e| h5_err(&self.name, context, e))?
            .iter()
            .any(|g| g == name))
    }

    fn read_weight(&self, group: &Group, path: &str, context: &str) -> Result<RawWeight> {
        let ctx = format!("{context}/{path}");
        let ds = group
            .dataset(path)
            .map_err(|e| h5_err(&self.name, &ctx, e))?;
        let shape = ds.shape().map_err(|e| h5_err(&self.name, &ctx, e))?;
        let limit = MAX_WEIGHT_ELEMENTS.min(self.len.saturating_mul(MAX_ELEMENTS_PER_FILE_BYTE));
        let count = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= limit)
            .ok_or_else(|| {
                h5_err(
                    &self.name,
                    &ctx,
                    format!(
                        "shape {shape:?} is too large (at most {limit} elements for a {}-byte file)",
                        self.len
                    ),
                )
            })?;
        let shape = shape
            .into_iter()
            .map(usize::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| h5_err(&self.name, &ctx, e))?;
        let data = ds.read_f32().map_err(|e| h5_err(&self.name, &ctx, e))?;
        if data.len() as u64 != count {
            return Err(h5_err(
                &self.name,
                &ctx,
                "element count does not match the shape",
            ));
        }
        Ok(RawWeight {
            name: None,
            shape,
            data,
        })
    }

    /// True when the file has the legacy weight layout (a `layer_names` attribute on
    /// `model_weights` or on the root).
    pub fn is_legacy_weights(&self) -> Result<bool> {
        let root = self.file.root();
        if self.has_group(&root, "model_weights", "root")? {
            return Ok(true);
        }
        Ok(self.root_attrs()?.contains_key("layer_names"))
    }

    /// Reads the legacy layout: `model_weights/<layer>` (or `<layer>` at the root for
    /// weights-only files), each with a `weight_names` attribute naming its datasets.
    pub fn legacy_weights(&self) -> Result<WeightStore> {
        let root = self.file.root();
        let base = if self.has_group(&root, "model_weights", "root")? {
            "model_weights"
        } else {
            ""
        };
        let top = self.group(base)?;
        let attrs = top
            .attrs()
            .map_err(|e| h5_err(&self.name, "model_weights attributes", e))?;
        let layer_names = match attrs.get("layer_names") {
            Some(v) => attr_strings(v)
                .ok_or_else(|| h5_err(&self.name, "layer_names", "not a list of strings"))?,
            None => top.groups().map_err(|e| h5_err(&self.name, base, e))?,
        };
        let mut store = WeightStore::new(format!("{} ({base})", self.name));
        for layer in layer_names {
            let ctx = if base.is_empty() {
                layer.clone()
            } else {
                format!("{base}/{layer}")
            };
            let g = self.group(&ctx)?;
            let gattrs = g.attrs().map_err(|e| h5_err(&self.name, &ctx, e))?;
            let names = match gattrs.get("weight_names") {
                Some(v) => attr_strings(v)
                    .ok_or_else(|| h5_err(&self.name, &ctx, "weight_names is not a string list"))?,
                None => Vec::new(),
            };
            let mut weights = Vec::with_capacity(names.len());
            for wn in names {
                let mut w = self.read_weight(&g, &wn, &ctx)?;
                w.name = Some(wn);
                weights.push(w);
            }
            store.insert(layer, weights);
        }
        Ok(store)
    }

    /// Reads the Keras 3 layout `layers/<dir>/vars/<i>`. Layer directories are matched to
    /// layers by the `name` attribute Keras writes on `vars` when present, else by Keras'
    /// naming rule (snake-cased class name plus a per-class counter, in layer order). A nested
    /// model's layers live under `layers/<dir>/layers/...` and are stored as `model/layer`.
    pub fn keras3_weights(&self, spec: &ModelSpec) -> Result<WeightStore> {
        let mut store = WeightStore::new(self.name.clone());
        let root = self.file.root();
        if !self.has_group(&root, "layers", "root")? {
            return Err(h5_err(
                &self.name,
                "layers",
                "no `layers` group (not a Keras 3 weights file)",
            ));
        }
        self.keras3_level(spec, "layers", "", &mut store)?;
        Ok(store)
    }

    /// One level of the Keras 3 layout: the layers of `spec` under the group `base`.
    fn keras3_level(
        &self,
        spec: &ModelSpec,
        base: &str,
        prefix: &str,
        store: &mut WeightStore,
    ) -> Result<()> {
        let layers = self.group(base)?;
        let dirs = layers.groups().map_err(|e| h5_err(&self.name, base, e))?;
        let mut by_attr: HashMap<String, String> = HashMap::new();
        for d in &dirs {
            let path = format!("{base}/{d}");
            let g = self.group(&path)?;
            if !self.has_group(&g, "vars", &path)? {
                continue;
            }
            let vars = self.group(&format!("{path}/vars"))?;
            if let Some(name) = vars
                .attrs()
                .map_err(|e| h5_err(&self.name, &path, e))?
                .get("name")
                .and_then(attr_strings)
                .and_then(|v| v.into_iter().next())
            {
                by_attr.insert(name, d.clone());
            }
        }
        let mut counters: HashMap<String, usize> = HashMap::new();
        for layer in &spec.layers {
            let skip_input = spec.is_sequential() && layer.class_name == "InputLayer";
            let dir = if skip_input {
                None
            } else {
                let base = snake_case(&layer.class_name);
                let n = counters.entry(base.clone()).or_insert(0);
                let dir = if *n == 0 { base } else { format!("{base}_{n}") };
                *n += 1;
                Some(dir)
            };
            let dir = by_attr.get(&layer.name).cloned().or(dir);
            let Some(dir) = dir.filter(|d| dirs.contains(d)) else {
                continue;
            };
            let path = format!("{base}/{dir}");
            let g = self.group(&path)?;
            if layer.is_model() {
                if self.has_group(&g, "layers", &path)? {
                    let inner = layer.nested_spec()?;
                    let inner_prefix = format!("{prefix}{}/", layer.name);
                    self.keras3_level(&inner, &format!("{path}/layers"), &inner_prefix, store)?;
                }
                continue;
            }
            if !self.has_group(&g, "vars", &path)? {
                continue;
            }
            let path = format!("{path}/vars");
            let vars = self.group(&path)?;
            let mut names = vars.datasets().map_err(|e| h5_err(&self.name, &path, e))?;
            names.sort_by_key(|n| n.parse::<usize>().unwrap_or(usize::MAX));
            let mut weights = Vec::with_capacity(names.len());
            for n in names {
                weights.push(self.read_weight(&vars, &n, &path)?);
            }
            store.insert(format!("{prefix}{}", layer.name), weights);
        }
        Ok(())
    }
}
