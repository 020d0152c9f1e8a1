//! Keras models to ferrolite IR, without TensorFlow.
//!
//! Reads the three ways Keras stores a model: the legacy HDF5 `.h5` written by Keras 2 / tf-keras
//! (`model.save("m.h5")`), the Keras 3 `.keras` zip (`config.json` + `model.weights.h5`, also
//! written by tf-keras), and a weights file (`.weights.h5` or a legacy weights `.h5`) next to the
//! architecture JSON (`model.to_json()`). The format is detected from the file's magic bytes.
//!
//! ```no_run
//! let model = ferrolite_convert::keras::load("model.h5")?;
//! ferrolite_model::write_file(&model, "model.tflite")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
pub mod h5;
pub mod lower;
pub mod weights;

use crate::error::{ConvertError, Result};
use crate::report::{EventKind, Report};
use config::{parse_model, ModelSpec};
use ferrolite_model::Model;
use h5::{H5, HDF5_MAGIC};
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// Conversion options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Fixed batch size; `None` keeps the batch dimension dynamic (`shape_signature` -1) as TF
    /// does, unless the model itself fixes it.
    pub batch_size: Option<u32>,
}

/// A converted model and the report of what the conversion did.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The model.
    pub model: Model,
    /// What was lowered, folded, fused and dropped.
    pub report: Report,
}

/// Converts a `.h5` or `.keras` file with default options.
pub fn load(path: impl AsRef<Path>) -> Result<Model> {
    Ok(convert_file(path, &Options::default())?.model)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| ConvertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Converts a `.h5` or `.keras` file.
pub fn convert_file(path: impl AsRef<Path>, options: &Options) -> Result<Conversion> {
    let path = path.as_ref();
    convert_bytes(read(path)?, &path.display().to_string(), options)
}

/// Converts a `.h5` or `.keras` image held in memory; `name` is used in errors and the report.
pub fn convert_bytes(bytes: Vec<u8>, name: &str, options: &Options) -> Result<Conversion> {
    if bytes.starts_with(HDF5_MAGIC) {
        convert_h5(bytes, name, options)
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        convert_keras_zip(bytes, name, options)
    } else {
        let reason = if bytes.is_empty() {
            "the file is empty".to_string()
        } else {
            "neither an HDF5 signature nor a zip header at offset 0".to_string()
        };
        Err(ConvertError::NotKeras {
            file: name.to_string(),
            reason,
        })
    }
}

/// Converts a weights file (`.weights.h5`, or a legacy weights-only `.h5`) with the model's
/// architecture JSON (`model.to_json()`, or a `.keras` archive's `config.json`).
pub fn load_weights_and_config(
    weights: impl AsRef<Path>,
    config: impl AsRef<Path>,
    options: &Options,
) -> Result<Conversion> {
    let (wp, cp) = (weights.as_ref(), config.as_ref());
    let json = String::from_utf8(read(cp)?).map_err(|e| ConvertError::Json {
        file: cp.display().to_string(),
        message: e.to_string(),
    })?;
    convert_parts(
        &json,
        &cp.display().to_string(),
        read(wp)?,
        &wp.display().to_string(),
        options,
    )
}

/// Converts from an architecture JSON string and the bytes of an HDF5 weights file.
pub fn convert_parts(
    config_json: &str,
    config_name: &str,
    weights_h5: Vec<u8>,
    weights_name: &str,
    options: &Options,
) -> Result<Conversion> {
    let root = parse_json(config_json, config_name)?;
    let spec = parse_model(&root, config_name)?;
    let h5 = H5::from_bytes(weights_h5, weights_name)?;
    let (store, format) = if h5.is_legacy_weights()? {
        (
            h5.legacy_weights()?,
            "architecture JSON + legacy HDF5 weights",
        )
    } else {
        (
            h5.keras3_weights(&spec)?,
            "architecture JSON + Keras 3 .weights.h5",
        )
    };
    let report = Report {
        source: weights_name.to_string(),
        format: format.into(),
        keras_version: root
            .get("keras_version")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Default::default()
    };
    finish(&spec, &store, report, options)
}

fn parse_json(text: &str, file: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| ConvertError::Json {
        file: file.to_string(),
        message: e.to_string(),
    })
}

fn finish(
    spec: &ModelSpec,
    store: &weights::WeightStore,
    mut report: Report,
    options: &Options,
) -> Result<Conversion> {
    report.layers = spec.layers.len();
    let model = lower::lower_model(spec, store, options.batch_size, &mut report)?;
    Ok(Conversion { model, report })
}

fn convert_h5(bytes: Vec<u8>, name: &str, options: &Options) -> Result<Conversion> {
    let h5 = H5::from_bytes(bytes, name)?;
    let config = h5
        .root_str("model_config")?
        .ok_or_else(|| ConvertError::MissingConfig {
            file: name.to_string(),
        })?;
    let root = parse_json(&config, &format!("{name}: model_config"))?;
    let spec = parse_model(&root, name)?;
    let store = h5.legacy_weights()?;
    let report = Report {
        source: name.to_string(),
        format: "legacy HDF5 .h5".into(),
        keras_version: h5.root_str("keras_version")?,
        ..Default::default()
    };
    finish(&spec, &store, report, options)
}

/// Reads one member of a zip archive (the reader stops at the entry's declared size).
fn zip_member(
    zip: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>,
    file: &str,
    member: &str,
) -> Result<Option<Vec<u8>>> {
    let zip_err = |e: &dyn std::fmt::Display| ConvertError::Zip {
        file: file.to_string(),
        message: format!("{member}: {e}"),
    };
    let mut entry = match zip.by_name(member) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(zip_err(&e)),
    };
    let size = entry.size();
    let mut buf = Vec::new();
    buf.try_reserve(usize::try_from(size).unwrap_or(usize::MAX).min(1 << 30))
        .map_err(|e| zip_err(&e))?;
    // Reading to the end lets the zip reader check the entry's CRC.
    entry.read_to_end(&mut buf).map_err(|e| zip_err(&e))?;
    Ok(Some(buf))
}

fn convert_keras_zip(bytes: Vec<u8>, name: &str, options: &Options) -> Result<Conversion> {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| ConvertError::Zip {
            file: name.to_string(),
            message: e.to_string(),
        })?;
    let missing = |member: &str| ConvertError::MissingMember {
        file: name.to_string(),
        member: member.to_string(),
    };
    let config =
        zip_member(&mut zip, name, "config.json")?.ok_or_else(|| missing("config.json"))?;
    let weights = zip_member(&mut zip, name, "model.weights.h5")?
        .ok_or_else(|| missing("model.weights.h5"))?;
    let metadata = zip_member(&mut zip, name, "metadata.json")?
        .and_then(|m| serde_json::from_slice::<Value>(&m).ok());
    let config_name = format!("{name}: config.json");
    let text = String::from_utf8(config).map_err(|e| ConvertError::Json {
        file: config_name.clone(),
        message: e.to_string(),
    })?;
    let root = parse_json(&text, &config_name)?;
    let spec = parse_model(&root, &config_name)?;
    let h5 = H5::from_bytes(weights, &format!("{name}: model.weights.h5"))?;
    let store = h5.keras3_weights(&spec)?;
    let keras_version = metadata
        .as_ref()
        .and_then(|m| m.get("keras_version")?.as_str().map(str::to_string));
    let major3 = keras_version.as_deref().is_some_and(|v| v.starts_with('3'));
    let mut report = Report {
        source: name.to_string(),
        format: if major3 {
            "Keras 3 .keras"
        } else {
            "tf-keras .keras"
        }
        .into(),
        keras_version,
        ..Default::default()
    };
    if store_is_empty(&spec, &store) {
        report.push(
            EventKind::Note,
            "the weights file holds no weights for any layer",
        );
    }
    finish(&spec, &store, report, options)
}

fn store_is_empty(spec: &ModelSpec, store: &weights::WeightStore) -> bool {
    spec.layers.iter().all(|l| store.layer(&l.name).is_empty())
}
