//! One call of a Keras layer being lowered: its config accessors (with errors that name the
//! layer, class and field) and its input tensors.

use crate::error::{ConvertError, Result};
use crate::keras::config::LayerSpec;
use serde_json::Value;
use std::fmt::Display;

/// A layer call: the layer, which call it is, and the graph tensors it reads.
pub struct Call<'a> {
    /// The layer.
    pub layer: &'a LayerSpec,
    /// Call index (0 unless the layer is shared).
    pub index: usize,
    /// Input tensor indices, flattened in Keras' argument order.
    pub inputs: Vec<usize>,
}

impl Call<'_> {
    /// Base name of this call's output tensors (`layer`, or `layer_<k>` for later calls).
    pub fn name(&self) -> String {
        if self.index == 0 {
            self.layer.name.clone()
        } else {
            format!("{}_{}", self.layer.name, self.index)
        }
    }

    /// A raw config value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.layer.config.get(key).filter(|v| !v.is_null())
    }

    /// A [`ConvertError::BadConfig`] for `field`.
    pub fn bad(&self, field: &str, message: impl Into<String>) -> ConvertError {
        ConvertError::BadConfig {
            layer: self.layer.name.clone(),
            class_name: self.layer.class_name.clone(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A [`ConvertError::Unsupported`] for `option = value`.
    pub fn unsupported(&self, option: &str, value: impl Display, supported: &str) -> ConvertError {
        ConvertError::Unsupported {
            layer: self.layer.name.clone(),
            class_name: self.layer.class_name.clone(),
            option: option.to_string(),
            value: value.to_string(),
            supported: supported.to_string(),
        }
    }

    /// A [`ConvertError::BadShape`].
    pub fn bad_shape(&self, message: impl Into<String>) -> ConvertError {
        ConvertError::BadShape {
            layer: self.layer.name.clone(),
            class_name: self.layer.class_name.clone(),
            message: message.into(),
        }
    }

    /// A float option.
    pub fn f32(&self, key: &str, default: f32) -> Result<f32> {
        Ok(self.opt_f32(key)?.unwrap_or(default))
    }

    /// A float option that may be absent or null.
    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(|f| Some(f as f32))
                .ok_or_else(|| self.bad(key, format!("expected a number, found {v}"))),
        }
    }

    /// A boolean option.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.bad(key, format!("expected true/false, found {v}"))),
        }
    }

    /// A string option.
    pub fn str(&self, key: &str, default: &str) -> Result<String> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| self.bad(key, format!("expected a string, found {v}"))),
        }
    }

    /// An integer option.
    pub fn int(&self, key: &str, default: i64) -> Result<i64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| self.bad(key, format!("expected an integer, found {v}"))),
        }
    }

    /// A positive integer option (`default: None` makes it required).
    pub fn positive(&self, key: &str, default: Option<usize>) -> Result<usize> {
        let v = match (self.get(key), default) {
            (None, Some(d)) => return Ok(d),
            (None, None) => return Err(self.bad(key, "missing")),
            (Some(_), _) => self.int(key, 0)?,
        };
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| self.bad(key, format!("expected a positive integer, found {v}")))
    }

    /// A 2-D option written as one integer or a pair (`kernel_size`, `strides`, ...).
    pub fn pair(&self, key: &str, default: Option<[usize; 2]>) -> Result<[usize; 2]> {
        let bad = || self.bad(key, "expected a positive integer or a pair of them");
        let v = match self.get(key) {
            None => return default.ok_or_else(|| self.bad(key, "missing")),
            Some(v) => v,
        };
        let as_pos = |v: &Value| {
            v.as_u64()
                .and_then(|u| usize::try_from(u).ok())
                .filter(|&u| u > 0)
        };
        if let Some(n) = as_pos(v) {
            return Ok([n, n]);
        }
        match v.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok([as_pos(a).ok_or_else(bad)?, as_pos(b).ok_or_else(bad)?]),
            _ => Err(bad()),
        }
    }

    /// A 1-D option written as one integer or a one-element list (`kernel_size`, `strides`,
    /// `pool_size` of 1-D layers).
    pub fn single(&self, key: &str, default: Option<usize>) -> Result<usize> {
        let v = match self.get(key) {
            None => return default.ok_or_else(|| self.bad(key, "missing")),
            Some(v) => v,
        };
        let v = match v.as_array().map(Vec::as_slice) {
            Some([one]) => one,
            _ => v,
        };
        v.as_u64()
            .and_then(|u| usize::try_from(u).ok())
            .filter(|&u| u > 0)
            .ok_or_else(|| self.bad(key, "expected a positive integer or a list of one"))
    }

    /// A list of integers (`dims`, `axis` lists), or one integer as a list of one.
    pub fn ints(&self, key: &str) -> Result<Option<Vec<i64>>> {
        let bad = || self.bad(key, "expected an integer or a list of integers");
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(Value::as_i64)
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(bad),
            Some(v) => v.as_i64().map(|i| Some(vec![i])).ok_or_else(bad),
        }
    }

    /// The TFLite padding for Keras' `padding` option.
    pub fn padding(&self) -> Result<ferrolite_model::tflite::Padding> {
        use ferrolite_model::tflite::Padding;
        match self.str("padding", "valid")?.to_ascii_lowercase().as_str() {
            "same" => Ok(Padding::Same),
            "valid" => Ok(Padding::Valid),
            other => Err(self.unsupported("padding", other, "\"same\", \"valid\"")),
        }
    }

    /// Checks the options every layer may carry: `data_format` and `dtype`.
    pub fn check_common(&self) -> Result<()> {
        if let Some(f) = self.get("data_format") {
            if f.as_str() != Some("channels_last") {
                return Err(self.unsupported("data_format", f, "\"channels_last\""));
            }
        }
        if let Some(d) = self.get("dtype") {
            let name = d
                .as_str()
                .or_else(|| d.get("config")?.get("name")?.as_str())
                .unwrap_or("?");
            if name != "float32" {
                return Err(self.unsupported("dtype", d, "\"float32\""));
            }
        }
        Ok(())
    }

    /// The single input of a one-input layer.
    pub fn one_input(&self) -> Result<usize> {
        match self.inputs.as_slice() {
            [x] => Ok(*x),
            other => Err(self.bad_shape(format!("expects 1 input, got {}", other.len()))),
        }
    }
}
