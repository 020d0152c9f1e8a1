//! Writing the [`Model`] IR as `.tflite` bytes, and atomically to files.
//!
//! The writer rebuilds the tables the IR resolved away: one opcode entry per distinct
//! (operator, version) in first-use order, a buffer table whose entry 0 is the empty sentinel,
//! one buffer per distinct constant (tensors that shared storage when read share it again), and
//! metadata buffers after the tensor data. Buffer data is 16-byte aligned by the schema's
//! `force_align` and the identifier splice in `ferrolite-schema`.

use crate::bytes::Bytes;
use crate::error::{ModelError, Result};
use crate::ir::{Model, OpKind, Subgraph};
use ferrolite_schema::tflite;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Serializes a model to `.tflite` bytes after validating it.
pub fn write_bytes(model: &Model) -> Result<Vec<u8>> {
    crate::validate::validate(model)?;
    let fb = Encoder::default().model(model);
    ferrolite_schema::serialize_model(&fb).map_err(|e| ModelError::Unwritable(e.to_string()))
}

/// Writes a model to `path` atomically: a temporary file in the same directory is written,
/// flushed and renamed over `path`, so readers never see a partial file.
pub fn write_file(model: &Model, path: impl AsRef<Path>) -> Result<()> {
    let bytes = write_bytes(model)?;
    write_atomic(path.as_ref(), &bytes)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ferrolite-").suffix(".tmp");
    // Temp files are created 0600; ask for 0666 so the umask gives the usual permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Table builders for one serialization.
#[derive(Default)]
struct Encoder {
    opcodes: Vec<tflite::OperatorCode>,
    opcode_index: HashMap<(OpKind, i32), u32>,
    buffers: Vec<tflite::Buffer>,
    /// Buffer index of constant storage already written, keyed by the bytes' address and length.
    written: HashMap<(usize, usize), u32>,
}

impl Encoder {
    fn model(mut self, model: &Model) -> tflite::Model {
        self.buffers.push(tflite::Buffer::default());
        let subgraphs = model.subgraphs.iter().map(|s| self.subgraph(s)).collect();
        let metadata = model
            .metadata
            .iter()
            .map(|m| tflite::Metadata {
                name: Some(m.name.clone()),
                buffer: self.fresh_buffer(&m.data),
            })
            .collect::<Vec<_>>();
        let legacy = model
            .legacy_metadata_buffers
            .iter()
            .map(|b| self.fresh_buffer(b) as i32)
            .collect::<Vec<_>>();
        let signature_defs = model
            .signatures
            .iter()
            .map(|s| {
                let map = |list: &[(String, usize)]| {
                    list.iter()
                        .map(|(name, t)| tflite::TensorMap {
                            name: Some(name.clone()),
                            tensor_index: *t as u32,
                        })
                        .collect::<Vec<_>>()
                };
                tflite::SignatureDef {
                    inputs: Some(map(&s.inputs)),
                    outputs: Some(map(&s.outputs)),
                    signature_key: Some(s.key.clone()),
                    subgraph_index: s.subgraph_index as u32,
                }
            })
            .collect::<Vec<_>>();
        tflite::Model {
            version: model.version,
            operator_codes: Some(self.opcodes),
            subgraphs: Some(subgraphs),
            description: model.description.clone(),
            buffers: Some(self.buffers),
            metadata_buffer: (!legacy.is_empty()).then_some(legacy),
            metadata: (!metadata.is_empty()).then_some(metadata),
            signature_defs: (!signature_defs.is_empty()).then_some(signature_defs),
            external_buffer_groups: None,
            external_buffers: None,
        }
    }

    fn fresh_buffer(&mut self, data: &Bytes) -> u32 {
        self.buffers.push(tflite::Buffer {
            data: Some(data.to_vec()),
            offset: 0,
            size: 0,
        });
        (self.buffers.len() - 1) as u32
    }

    fn constant_buffer(&mut self, data: &Bytes) -> u32 {
        let key = (data.as_ptr() as usize, data.len());
        if let Some(&b) = self.written.get(&key) {
            return b;
        }
        let b = self.fresh_buffer(data);
        self.written.insert(key, b);
        b
    }

    fn opcode(&mut self, kind: &OpKind, version: i32) -> u32 {
        if let Some(&i) = self.opcode_index.get(&(kind.clone(), version)) {
            return i;
        }
        let code = kind.builtin() as i32;
        self.opcodes.push(tflite::OperatorCode {
            deprecated_builtin_code: ferrolite_schema::deprecated_code_for(code),
            custom_code: match kind {
                OpKind::Custom(name) => Some(name.clone()),
                OpKind::Builtin(_) => None,
            },
            version,
            builtin_code: kind.builtin(),
        });
        let i = (self.opcodes.len() - 1) as u32;
        self.opcode_index.insert((kind.clone(), version), i);
        i
    }

    fn subgraph(&mut self, sg: &Subgraph) -> tflite::SubGraph {
        let tensors = sg
            .tensors
            .iter()
            .map(|t| tflite::Tensor {
                shape: Some(t.shape.clone()),
                type_: tensor_type(t.dtype),
                buffer: t.data.as_ref().map_or(0, |d| self.constant_buffer(d)),
                name: Some(t.name.clone()),
                quantization: t.quantization.as_ref().map(|q| {
                    Box::new(tflite::QuantizationParameters {
                        min: non_empty(&q.min),
                        max: non_empty(&q.max),
                        scale: non_empty(&q.scale),
                        zero_point: non_empty(&q.zero_point),
                        details: q.details.clone(),
                        quantized_dimension: q.quantized_dimension,
                    })
                }),
                is_variable: t.is_variable,
                sparsity: t.sparsity.clone().map(Box::new),
                shape_signature: t.shape_signature.clone(),
                has_rank: t.has_rank,
                variant_tensors: non_empty(&t.variant_tensors),
                external_buffer: 0,
            })
            .collect();
        let operand = |o: &Option<usize>| o.map_or(-1, |i| i as i32);
        let operators = sg
            .operators
            .iter()
            .map(|op| tflite::Operator {
                opcode_index: self.opcode(&op.kind, op.version),
                inputs: Some(op.inputs.iter().map(operand).collect()),
                outputs: Some(op.outputs.iter().map(operand).collect()),
                builtin_options: op.options.clone(),
                custom_options: op.custom_options.as_ref().map(|b| b.to_vec()),
                custom_options_format: op.custom_options_format,
                mutating_variable_inputs: non_empty(&op.mutating_variable_inputs),
                intermediates: (!op.intermediates.is_empty())
                    .then(|| op.intermediates.iter().map(|&i| i as i32).collect()),
                large_custom_options_offset: 0,
                large_custom_options_size: 0,
                builtin_options_2: op.options_2.clone(),
                debug_metadata_index: op.debug_metadata_index,
            })
            .collect();
        let indices = |list: &[usize]| Some(list.iter().map(|&i| i as i32).collect());
        tflite::SubGraph {
            tensors: Some(tensors),
            inputs: indices(&sg.inputs),
            outputs: indices(&sg.outputs),
            operators: Some(operators),
            name: sg.name.clone(),
            debug_metadata_index: sg.debug_metadata_index,
        }
    }
}

fn non_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn tensor_type(d: crate::dtype::DType) -> tflite::TensorType {
    // Every DType discriminant is a TensorType value by construction (see dtype.rs tests).
    tflite::TensorType::try_from(d.code()).unwrap_or(tflite::TensorType::Float32)
}
