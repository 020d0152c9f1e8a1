//! Reading `.tflite` bytes into the [`Model`] IR.
//!
//! Decoding resolves the file's indirections (opcode table, buffer table, `-1` operands, data stored
//! after the flatbuffer) and then hands the IR to [`crate::validate`], so a model that comes out of
//! here is safe for every other crate to index without further checks.

use crate::bytes::Bytes;
use crate::dtype::DType;
use crate::error::{ModelError, Result};
use crate::ir::{Metadata, Model, OpKind, Operator, Quantization, Signature, Subgraph, Tensor};
use ferrolite_schema::tflite;
use planus::ReadAsRoot;
use std::path::Path;

/// Smallest buffer that can hold a root offset and the file identifier.
const HEADER_LEN: usize = 8;

/// Reads and validates a model from a file, memory-mapping it so weights are never copied.
pub fn read_file(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < HEADER_LEN as u64 {
        return Err(ModelError::Truncated(format!(
            "{} is {len} bytes long",
            path.display()
        )));
    }
    let bytes = match map_file(&file) {
        Some(m) => Bytes::from_mmap(m),
        None => Bytes::from_vec(std::fs::read(path).map_err(io)?),
    };
    read_bytes(bytes)
}

#[allow(unsafe_code)]
fn map_file(file: &std::fs::File) -> Option<memmap2::Mmap> {
    // SAFETY: `Mmap::map` is unsafe because another process could change the file while it is
    // mapped. Every read of the mapping goes through bounds-checked flatbuffer accessors and
    // validation, so such a change can produce wrong values or a decode error, never out-of-bounds
    // access. This is the crate's only unsafe block; the README lists it.
    unsafe { memmap2::Mmap::map(file) }.ok()
}

/// Reads and validates a model from bytes; constant data borrows from `bytes`.
pub fn read_bytes(bytes: impl Into<Bytes>) -> Result<Model> {
    let bytes: Bytes = bytes.into();
    if bytes.len() < HEADER_LEN {
        return Err(ModelError::Truncated(format!(
            "{} bytes is shorter than the 8-byte header",
            bytes.len()
        )));
    }
    if !ferrolite_schema::has_file_identifier(&bytes) {
        let mut found = [0u8; 4];
        found.copy_from_slice(&bytes[4..8]);
        return Err(ModelError::BadIdentifier { found });
    }
    let root =
        tflite::ModelRef::read_as_root(&bytes).map_err(|e| ModelError::malformed("Model", e))?;
    let model = Decoder { file: &bytes }.model(root)?;
    crate::validate::validate(&model)?;
    Ok(model)
}

/// Decoding state: the whole file, for slicing constant data out of it.
struct Decoder<'f> {
    file: &'f Bytes,
}

/// Converts a planus error into ours, tagged with a location.
fn fb<T>(r: planus::Result<T>, location: impl FnOnce() -> String) -> Result<T> {
    r.map_err(|e| ModelError::malformed(location(), e))
}

fn index(value: u32, len: usize, location: impl FnOnce() -> String) -> Result<usize> {
    let i = value as usize;
    if i < len {
        Ok(i)
    } else {
        Err(ModelError::IndexOutOfRange {
            location: location(),
            index: i64::from(value),
            len,
        })
    }
}

impl Decoder<'_> {
    fn model(&self, root: tflite::ModelRef<'_>) -> Result<Model> {
        let version = fb(root.version(), || "Model.version".into())?;
        if version != ferrolite_schema::TFLITE_SCHEMA_VERSION {
            return Err(ModelError::UnsupportedVersion(version));
        }
        let buffers = self.buffers(&root)?;
        let opcodes = self.opcodes(&root)?;

        let mut subgraphs = Vec::new();
        if let Some(list) = fb(root.subgraphs(), || "Model.subgraphs".into())? {
            for (i, sg) in list.iter().enumerate() {
                let loc = || format!("subgraphs[{i}]");
                let sg = fb(sg, loc)?;
                let owned = fb(tflite::SubGraph::try_from(sg), loc)?;
                subgraphs.push(self.subgraph(i, owned, &buffers, &opcodes)?);
            }
        }

        let mut signatures = Vec::new();
        if let Some(list) = fb(root.signature_defs(), || "Model.signature_defs".into())? {
            for (i, s) in list.iter().enumerate() {
                let loc = || format!("signature_defs[{i}]");
                let s = fb(s, loc).and_then(|s| fb(tflite::SignatureDef::try_from(s), loc))?;
                signatures.push(signature(s));
            }
        }

        let mut metadata = Vec::new();
        if let Some(list) = fb(root.metadata(), || "Model.metadata".into())? {
            for (i, m) in list.iter().enumerate() {
                let loc = || format!("metadata[{i}]");
                let m = fb(m, loc).and_then(|m| fb(tflite::Metadata::try_from(m), loc))?;
                let b = index(m.buffer, buffers.len(), || format!("metadata[{i}].buffer"))?;
                metadata.push(Metadata {
                    name: m.name.unwrap_or_default(),
                    data: buffers[b]
                        .clone()
                        .unwrap_or_else(|| Bytes::from_vec(Vec::new())),
                });
            }
        }

        let mut legacy_metadata_buffers = Vec::new();
        if let Some(list) = fb(root.metadata_buffer(), || "Model.metadata_buffer".into())? {
            for (i, b) in list.iter().enumerate() {
                let loc = || format!("metadata_buffer[{i}]");
                let raw = b;
                let b = u32::try_from(raw).map_err(|_| ModelError::IndexOutOfRange {
                    location: loc(),
                    index: i64::from(raw),
                    len: buffers.len(),
                })?;
                let b = index(b, buffers.len(), loc)?;
                legacy_metadata_buffers.push(
                    buffers[b]
                        .clone()
                        .unwrap_or_else(|| Bytes::from_vec(Vec::new())),
                );
            }
        }

        let has_external = fb(root.external_buffers(), || "Model.external_buffers".into())?
            .is_some_and(|v| !v.is_empty());
        if has_external {
            return Err(ModelError::invalid(
                "Model.external_buffers",
                "external buffer files are not supported",
            ));
        }

        Ok(Model {
            version,
            description: fb(root.description(), || "Model.description".into())?.map(str::to_owned),
            subgraphs,
            signatures,
            metadata,
            legacy_metadata_buffers,
        })
    }

    /// The buffer table, with empty buffers as `None` and out-of-flatbuffer data resolved.
    fn buffers(&self, root: &tflite::ModelRef<'_>) -> Result<Vec<Option<Bytes>>> {
        let mut out = Vec::new();
        let Some(list) = fb(root.buffers(), || "Model.buffers".into())? else {
            return Ok(out);
        };
        let base = self.file.as_ptr() as usize;
        for (i, b) in list.iter().enumerate() {
            let loc = || format!("buffers[{i}]");
            let b = fb(b, loc)?;
            let offset = fb(b.offset(), || format!("buffers[{i}].offset"))?;
            let size = fb(b.size(), || format!("buffers[{i}].size"))?;
            let data = if offset > 1 {
                // Data stored after the flatbuffer, addressed from the start of the file.
                let range = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(size).ok())
                    .and_then(|(o, s)| Some(o..o.checked_add(s)?));
                let slice = range.and_then(|r| self.file.slice(r));
                Some(slice.ok_or_else(|| {
                    ModelError::invalid(
                        format!("buffers[{i}].offset"),
                        format!(
                            "data at offset {offset} size {size} lies outside the {}-byte file",
                            self.file.len()
                        ),
                    )
                })?)
            } else {
                match fb(b.data(), || format!("buffers[{i}].data"))? {
                    Some(d) => {
                        let start = d.as_ptr() as usize - base;
                        self.file.slice(start..start + d.len())
                    }
                    None => None,
                }
            };
            out.push(data.filter(|d| !d.is_empty()));
        }
        Ok(out)
    }

    /// The opcode table as (kind, version) pairs, applying the deprecated-code rule.
    fn opcodes(&self, root: &tflite::ModelRef<'_>) -> Result<Vec<(OpKind, i32)>> {
        let mut out = Vec::new();
        let Some(list) = fb(root.operator_codes(), || "Model.operator_codes".into())? else {
            return Ok(out);
        };
        for (i, c) in list.iter().enumerate() {
            let loc = || format!("operator_codes[{i}]");
            let c = fb(c, loc)?;
            let code = fb(ferrolite_schema::read_builtin_code(&c), loc)?;
            let op =
                tflite::BuiltinOperator::try_from(code).map_err(|_| ModelError::UnknownEnum {
                    location: format!("operator_codes[{i}].builtin_code"),
                    what: "BuiltinOperator",
                    value: i64::from(code),
                })?;
            let custom = fb(c.custom_code(), loc)?;
            let kind = if op == tflite::BuiltinOperator::Custom {
                match custom {
                    Some(name) => OpKind::Custom(name.to_owned()),
                    None => {
                        return Err(ModelError::invalid(
                            format!("operator_codes[{i}].custom_code"),
                            "CUSTOM operator without a custom_code",
                        ))
                    }
                }
            } else {
                OpKind::Builtin(op)
            };
            out.push((kind, fb(c.version(), loc)?));
        }
        Ok(out)
    }

    fn subgraph(
        &self,
        sg_index: usize,
        sg: tflite::SubGraph,
        buffers: &[Option<Bytes>],
        opcodes: &[(OpKind, i32)],
    ) -> Result<Subgraph> {
        let mut tensors = Vec::new();
        for (t_index, t) in sg.tensors.unwrap_or_default().into_iter().enumerate() {
            let loc = || format!("subgraphs[{sg_index}].tensors[{t_index}]");
            tensors.push(tensor(t, buffers, loc)?);
        }
        let mut operators = Vec::new();
        for (o_index, op) in sg.operators.unwrap_or_default().into_iter().enumerate() {
            let loc = || format!("subgraphs[{sg_index}].operators[{o_index}]");
            operators.push(self.operator(op, opcodes, loc)?);
        }
        let boundary = |list: Option<Vec<i32>>, field: &str| -> Result<Vec<usize>> {
            list.unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(k, v)| {
                    usize::try_from(v).map_err(|_| ModelError::IndexOutOfRange {
                        location: format!("subgraphs[{sg_index}].{field}[{k}]"),
                        index: i64::from(v),
                        len: tensors.len(),
                    })
                })
                .collect()
        };
        let inputs = boundary(sg.inputs, "inputs")?;
        let outputs = boundary(sg.outputs, "outputs")?;
        Ok(Subgraph {
            name: sg.name,
            inputs,
            outputs,
            tensors,
            operators,
            debug_metadata_index: sg.debug_metadata_index,
        })
    }

    fn operator(
        &self,
        op: tflite::Operator,
        opcodes: &[(OpKind, i32)],
        loc: impl Fn() -> String,
    ) -> Result<Operator> {
        let code = index(op.opcode_index, opcodes.len(), || {
            format!("{}.opcode_index", loc())
        })?;
        let (kind, version) = opcodes[code].clone();
        let custom_options = if op.large_custom_options_offset > 1 {
            let range = usize::try_from(op.large_custom_options_offset)
                .ok()
                .zip(usize::try_from(op.large_custom_options_size).ok())
                .and_then(|(o, s)| Some(o..o.checked_add(s)?));
            Some(range.and_then(|r| self.file.slice(r)).ok_or_else(|| {
                ModelError::invalid(
                    format!("{}.large_custom_options_offset", loc()),
                    "custom options lie outside the file",
                )
            })?)
        } else {
            op.custom_options.map(Bytes::from_vec)
        };
        let operands = |list: Option<Vec<i32>>, field: &str| -> Result<Vec<Option<usize>>> {
            list.unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(k, v)| match v {
                    -1 => Ok(None),
                    v => usize::try_from(v)
                        .map(Some)
                        .map_err(|_| ModelError::IndexOutOfRange {
                            location: format!("{}.{field}[{k}]", loc()),
                            index: i64::from(v),
                            len: 0,
                        }),
                })
                .collect()
        };
        let intermediates = operands(op.intermediates, "intermediates")?
            .into_iter()
            .enumerate()
            .map(|(k, v)| {
                v.ok_or_else(|| {
                    ModelError::invalid(
                        format!("{}.intermediates[{k}]", loc()),
                        "-1 is not allowed here",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Operator {
            kind,
            version,
            inputs: operands(op.inputs, "inputs")?,
            outputs: operands(op.outputs, "outputs")?,
            options: op.builtin_options,
            options_2: op.builtin_options_2,
            custom_options,
            custom_options_format: op.custom_options_format,
            mutating_variable_inputs: op.mutating_variable_inputs.unwrap_or_default(),
            intermediates,
            debug_metadata_index: op.debug_metadata_index,
        })
    }
}

fn tensor(
    t: tflite::Tensor,
    buffers: &[Option<Bytes>],
    loc: impl Fn() -> String,
) -> Result<Tensor> {
    let dtype =
        DType::from_code(i64::from(t.type_ as i8)).ok_or_else(|| ModelError::UnknownEnum {
            location: format!("{}.type", loc()),
            what: "TensorType",
            value: i64::from(t.type_ as i8),
        })?;
    if t.external_buffer != 0 {
        return Err(ModelError::invalid(
            format!("{}.external_buffer", loc()),
            "external buffer files are not supported",
        ));
    }
    let b = index(t.buffer, buffers.len().max(1), || {
        format!("{}.buffer", loc())
    })?;
    let data = buffers.get(b).cloned().flatten();
    let quantization = t.quantization.map(|q| Quantization {
        min: q.min.unwrap_or_default(),
        max: q.max.unwrap_or_default(),
        scale: q.scale.unwrap_or_default(),
        zero_point: q.zero_point.unwrap_or_default(),
        quantized_dimension: q.quantized_dimension,
        details: q.details,
    });
    Ok(Tensor {
        name: t.name.unwrap_or_default(),
        shape: t.shape.unwrap_or_default(),
        shape_signature: t.shape_signature,
        dtype,
        data,
        quantization,
        is_variable: t.is_variable,
        sparsity: t.sparsity.map(|s| *s),
        has_rank: t.has_rank,
        variant_tensors: t.variant_tensors.unwrap_or_default(),
    })
}

fn signature(s: tflite::SignatureDef) -> Signature {
    let map = |list: Option<Vec<tflite::TensorMap>>| {
        list.unwrap_or_default()
            .into_iter()
            .map(|m| (m.name.unwrap_or_default(), m.tensor_index as usize))
            .collect()
    };
    Signature {
        key: s.signature_key.unwrap_or_default(),
        subgraph_index: s.subgraph_index as usize,
        inputs: map(s.inputs),
        outputs: map(s.outputs),
    }
}
