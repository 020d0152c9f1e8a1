//! Loading a model from any supported source file: `.tflite` directly, Keras `.h5` / `.keras`,
//! TensorFlow frozen-graph `.pb` and SavedModel directories through the converters (which also
//! report what they folded, fused and dropped).

use anyhow::{bail, Context, Result};
use ferrolite_convert::{graphdef, keras, onnx};
use ferrolite_model::Model;
use std::path::Path;

/// What kind of file a path names, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A `.tflite` flatbuffer.
    Tflite,
    /// A Keras `.h5` or `.keras` file.
    Keras,
    /// A TensorFlow frozen `GraphDef` `.pb`, or a SavedModel directory (`saved_model.pb` +
    /// `variables/`).
    GraphDef,
    /// An ONNX `.onnx` model.
    Onnx,
}

/// The kind of `path`, or an error listing the supported extensions.
pub fn kind(path: &Path) -> Result<SourceKind> {
    if graphdef::saved_model::is_saved_model(path) {
        return Ok(SourceKind::GraphDef);
    }
    if path.is_dir() {
        bail!(
            "{}: a directory, but not a SavedModel (no saved_model.pb in it)",
            path.display()
        );
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "tflite" => Ok(SourceKind::Tflite),
        "h5" | "hdf5" | "keras" => Ok(SourceKind::Keras),
        "pb" => Ok(SourceKind::GraphDef),
        "onnx" => Ok(SourceKind::Onnx),
        _ => bail!(
            "{}: unsupported model format '.{ext}' (supported: .tflite, Keras .h5 and .keras, TensorFlow frozen .pb and SavedModel directories, ONNX .onnx)",
            path.display()
        ),
    }
}

/// Loads a model; for Keras files also returns the conversion report.
pub fn load_model(
    path: &Path,
    batch_size: Option<u32>,
) -> Result<(Model, Option<keras::Conversion>)> {
    match kind(path)? {
        SourceKind::Tflite => {
            let model = ferrolite_model::read_file(path)
                .with_context(|| format!("cannot load {}", path.display()))?;
            Ok((model, None))
        }
        SourceKind::Keras => {
            let conversion = keras::convert_file(path, &keras::Options { batch_size })
                .with_context(|| format!("cannot convert {}", path.display()))?;
            Ok((conversion.model.clone(), Some(conversion)))
        }
        SourceKind::GraphDef => {
            let (model, report) = load_graphdef(path, &graphdef::GraphDefOptions::default())?;
            Ok((model, Some(report)))
        }
        SourceKind::Onnx => {
            let options = onnx::OnnxOptions {
                batch_size,
                ..Default::default()
            };
            let (model, report) = load_onnx(path, &options)?;
            Ok((model, Some(report)))
        }
    }
}

/// Converts an `.onnx` model; the report is returned in the Keras converter's shape for printing.
pub fn load_onnx(path: &Path, options: &onnx::OnnxOptions) -> Result<(Model, keras::Conversion)> {
    let c = onnx::convert_file(path, options)
        .with_context(|| format!("cannot convert {}", path.display()))?;
    let report = keras::Conversion {
        model: c.model.clone(),
        report: c.report,
    };
    Ok((c.model, report))
}

/// Converts a frozen `.pb` with the given inputs and outputs (empty: the graph's placeholders and
/// unread nodes), or the default signature of a SavedModel directory; the report is returned in
/// the Keras converter's shape for printing.
pub fn load_graphdef(
    path: &Path,
    options: &graphdef::GraphDefOptions,
) -> Result<(Model, keras::Conversion)> {
    load_graphdef_signature(path, None, options)
}

/// [`load_graphdef`] with a SavedModel signature key (`None`: `serving_default`); for a
/// SavedModel, `--inputs` name signature input keys (or tensor names) and `--outputs` select
/// signature output keys.
pub fn load_graphdef_signature(
    path: &Path,
    signature: Option<&str>,
    options: &graphdef::GraphDefOptions,
) -> Result<(Model, keras::Conversion)> {
    let c = match graphdef::saved_model::saved_model_dir(path) {
        Some(dir) => graphdef::saved_model::convert_dir(&dir, signature, options),
        None if signature.is_some() => {
            bail!(
                "{}: --signature applies to SavedModel directories only",
                path.display()
            )
        }
        None => graphdef::convert_file(path, options),
    }
    .with_context(|| format!("cannot convert {}", path.display()))?;
    let report = keras::Conversion {
        model: c.model.clone(),
        report: c.report,
    };
    Ok((c.model, report))
}

/// An interpreter for any supported model file (Keras and `.pb` files are converted in memory).
pub fn interpreter(path: &Path) -> Result<ferrolite_runtime::Interpreter> {
    let (model, _) = load_model(path, None)?;
    ferrolite_runtime::Interpreter::from_model(model)
        .with_context(|| format!("cannot load {}", path.display()))
}

/// Parses `NAME` or `NAME:d1,d2,...` (`-1` or `?` for a dynamic dim) as given to `--inputs`.
/// A lone number after the colon is a tensor index (`x:0`); a rank-1 shape is written `x:16,`
/// or `x:0:16`.
pub fn parse_input_spec(spec: &str) -> Result<(String, Option<Vec<i64>>)> {
    let Some((name, dims)) = spec.rsplit_once(':') else {
        return Ok((spec.to_string(), None));
    };
    let is_index = !dims.is_empty() && dims.bytes().all(|b| b.is_ascii_digit());
    if is_index && !name.contains(':') {
        return Ok((spec.to_string(), None));
    }
    let shape = dims
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| match d.trim() {
            "?" | "-1" => Ok(-1),
            d => d
                .parse::<u32>()
                .map(i64::from)
                .with_context(|| format!("--inputs {spec}: `{d}` is not a dimension")),
        })
        .collect::<Result<Vec<i64>>>()?;
    Ok((name.to_string(), Some(shape)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_specs_parse() {
        let p = |s: &str| parse_input_spec(s).unwrap();
        assert_eq!(p("image"), ("image".into(), None));
        assert_eq!(p("image:0"), ("image:0".into(), None));
        assert_eq!(p("image:1,8,8,3"), ("image".into(), Some(vec![1, 8, 8, 3])));
        assert_eq!(p("x:?,16"), ("x".into(), Some(vec![-1, 16])));
        assert_eq!(p("x:16,"), ("x".into(), Some(vec![16])));
        assert_eq!(p("x:0:16"), ("x:0".into(), Some(vec![16])));
        assert!(parse_input_spec("x:1,a").is_err());
    }
}
