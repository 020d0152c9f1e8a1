//! Loading a model from any supported source file: `.tflite` directly, Keras `.h5` / `.keras`
//! through the converter (which also reports what it folded, fused and dropped).

use anyhow::{bail, Context, Result};
use ferrolite_convert::keras;
use ferrolite_model::Model;
use std::path::Path;

/// What kind of file a path names, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A `.tflite` flatbuffer.
    Tflite,
    /// A Keras `.h5` or `.keras` file.
    Keras,
}

/// The kind of `path`, or an error listing the supported extensions.
pub fn kind(path: &Path) -> Result<SourceKind> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "tflite" => Ok(SourceKind::Tflite),
        "h5" | "hdf5" | "keras" => Ok(SourceKind::Keras),
        _ => bail!(
            "{}: unsupported model format '.{ext}' (supported: .tflite, Keras .h5 and .keras; GraphDef .pb and ONNX are planned)",
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
    }
}

/// An interpreter for any supported model file (Keras files are converted in memory).
pub fn interpreter(path: &Path) -> Result<ferrolite_runtime::Interpreter> {
    let (model, _) = load_model(path, None)?;
    ferrolite_runtime::Interpreter::from_model(model)
        .with_context(|| format!("cannot load {}", path.display()))
}
