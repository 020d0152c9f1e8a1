//! Serializing an owned [`tflite::Model`] into `.tflite` bytes.
//!
//! planus produces a valid FlatBuffer, but two details need care for TFLite:
//!
//! * planus 1.3's `Builder::finish(root, Some(id))` writes the identifier
//!   *before* the root offset (planus PR #377). We finish without an
//!   identifier and splice in our own header: `[root offset][TFL3][zeros]`.
//! * planus ignores `force_align: 16` on `Buffer.data`. TFLite writers align
//!   constant data to 16 bytes so mmapped weights can be used in place. We
//!   write all data vectors first, nudging each (with small unreferenced
//!   filler vectors) so that every data start has the same position modulo
//!   16, then choose the header length (12 or 20 bytes; both multiples of 4
//!   that keep 8-byte alignment) that moves this common residue to 0.
//!
//! Positions are tracked through `Builder::len()`: planus writes back to
//! front, so an item written when `len() == e` ends up at `file_len - e`.

use std::collections::HashMap;
use std::fmt;

use crate::{tflite, FILE_IDENTIFIER};

/// Largest FlatBuffer TFLite accepts (offsets are signed 32-bit): 2 GiB - 1.
/// Bigger models must move data out of line (`Buffer.offset`/`size`).
pub const MAX_FLATBUFFER_SIZE: usize = i32::MAX as usize;

/// Alignment, from the start of the file, of every non-empty `Buffer.data`
/// written by [`serialize_model`].
pub const BUFFER_DATA_ALIGNMENT: usize = 16;

/// Why a model could not be serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SerializeError {
    /// The FlatBuffer would exceed [`MAX_FLATBUFFER_SIZE`].
    TooLarge {
        /// Size (or a lower bound of it) in bytes.
        bytes: u64,
    },
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerializeError::TooLarge { bytes } => write!(
                f,
                "model needs at least {bytes} bytes, over the 2 GiB FlatBuffer limit; \
                 store large buffers outside the FlatBuffer (Buffer.offset/size)"
            ),
        }
    }
}

impl std::error::Error for SerializeError {}

/// Serializes `model` to `.tflite` bytes with the `TFL3` identifier at 4..8.
///
/// Non-empty `Buffer.data` vectors start at 16-byte aligned file offsets and
/// identical data vectors are stored once. The model is written as given: no
/// validation of indices or version is done here.
pub fn serialize_model(model: &tflite::Model) -> Result<Vec<u8>, SerializeError> {
    serialize_with_shift(model).map(|(bytes, _)| bytes)
}

/// [`serialize_model`], also returning the header shift used (for tests).
fn serialize_with_shift(model: &tflite::Model) -> Result<(Vec<u8>, usize), SerializeError> {
    let payload = payload_lower_bound(model);
    if payload > MAX_FLATBUFFER_SIZE as u64 {
        return Err(SerializeError::TooLarge { bytes: payload });
    }

    let mut builder = planus::Builder::new();
    let mut tracker = AlignTracker::new(&mut builder);

    let buffers = match &model.buffers {
        Some(buffers) => {
            let mut written: HashMap<&[u8], planus::Offset<[u8]>> = HashMap::new();
            let mut tables = Vec::with_capacity(buffers.len());
            for buffer in buffers {
                let data = match buffer.data.as_deref() {
                    None => None,
                    Some([]) => Some(builder.create_vector(&[] as &[u8])),
                    Some(bytes) => Some(match written.get(bytes) {
                        Some(offset) => *offset,
                        None => {
                            let offset = tracker.write_aligned(&mut builder, bytes);
                            written.insert(bytes, offset);
                            offset
                        }
                    }),
                };
                tables.push(tflite::Buffer::create(
                    &mut builder,
                    data,
                    buffer.offset,
                    buffer.size,
                ));
            }
            Some(builder.create_vector(tables.as_slice()))
        }
        None => None,
    };

    let root = tflite::Model::create(
        &mut builder,
        model.version,
        &model.operator_codes,
        &model.subgraphs,
        &model.description,
        buffers,
        &model.metadata_buffer,
        &model.metadata,
        &model.signature_defs,
        &model.external_buffer_groups,
        &model.external_buffers,
    );
    let body = builder.finish(root, None);
    let shift = tracker.header_shift(body.len());
    Ok((splice_header(body, shift)?, shift))
}

/// Sum of the byte payloads that alone would break the size limit.
fn payload_lower_bound(model: &tflite::Model) -> u64 {
    let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, |v| v.len() as u64);
    let buffers: u64 = model.buffers.iter().flatten().map(|b| len(&b.data)).sum();
    let custom: u64 = model
        .subgraphs
        .iter()
        .flatten()
        .flat_map(|g| g.operators.iter().flatten())
        .map(|op| len(&op.custom_options))
        .sum();
    buffers.saturating_add(custom)
}

/// Replaces the 4-byte root offset at the start of `body` with a header of
/// `4 + shift` bytes: root offset (adjusted), identifier, zero padding.
fn splice_header(body: &[u8], shift: usize) -> Result<Vec<u8>, SerializeError> {
    let total = body.len() + shift;
    if total > MAX_FLATBUFFER_SIZE {
        return Err(SerializeError::TooLarge {
            bytes: total as u64,
        });
    }
    let too_large = || SerializeError::TooLarge {
        bytes: total as u64,
    };
    let (root_bytes, rest) = body.split_at_checked(4).ok_or_else(too_large)?;
    let root_bytes: [u8; 4] = root_bytes.try_into().map_err(|_| too_large())?;
    let shift32 = u32::try_from(shift).map_err(|_| too_large())?;
    let root = u32::from_le_bytes(root_bytes)
        .checked_add(shift32)
        .ok_or_else(too_large)?;

    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&root.to_le_bytes());
    out.extend_from_slice(&FILE_IDENTIFIER);
    out.resize(4 + shift, 0);
    out.extend_from_slice(rest);
    Ok(out)
}

/// Tracks where byte vectors land so they can all be 16-byte aligned.
///
/// All distances are "bytes from the end of the finished buffer". Writes
/// aligned to `a` land at file position `file_len - e` with that position a
/// multiple of `a`, so `e ≡ file_len (mod a)`. An empty `[u64]` vector written
/// first reveals `file_len mod 8`; data starts are then steered to one common
/// residue `target` mod 16 with `target ≡ file_len (mod 8)`.
struct AlignTracker {
    /// `file_len mod 8`, learned from the anchor vector.
    file_len_mod8: usize,
    /// Distance from the end of each data start actually written.
    data_ends: Vec<usize>,
}

impl AlignTracker {
    /// Writes the anchor (4 bytes at the very end of the file).
    fn new(builder: &mut planus::Builder) -> Self {
        builder.create_vector(&[] as &[u64]);
        // The (empty) element run of the anchor starts right after its 4-byte
        // length prefix and is 8-aligned from the file start.
        let elements = builder.len().saturating_sub(4);
        Self {
            file_len_mod8: elements % 8,
            data_ends: Vec::new(),
        }
    }

    /// Where the data of a `len`-byte vector would start if written now.
    fn predict_data(&self, builder_len: usize, len: usize) -> usize {
        // The length prefix is 4-aligned: pad so prefix distance ≡ file_len (mod 4).
        let unpadded = builder_len + 4 + len;
        let pad = (self.file_len_mod8 % 4 + 4 - unpadded % 4) % 4;
        builder_len + pad + len
    }

    /// Distance after writing a filler `[u32]` vector of `words` elements.
    fn predict_filler(&self, builder_len: usize, words: usize) -> usize {
        let pad = (self.file_len_mod8 % 4 + 4 - builder_len % 4) % 4;
        builder_len + pad + 4 * words + 4
    }

    /// Writes `bytes` as a vector whose data start has the common residue.
    fn write_aligned(
        &mut self,
        builder: &mut planus::Builder,
        bytes: &[u8],
    ) -> planus::Offset<[u8]> {
        const FILLER: [u32; 3] = [0; 3];
        let target = self.file_len_mod8;
        let now = builder.len();
        if self.predict_data(now, bytes.len()) % 16 != target {
            let words = (0..4)
                .find(|&w| {
                    let after = self.predict_filler(now, w);
                    self.predict_data(after, bytes.len()) % 16 == target
                })
                .unwrap_or(0);
            builder.create_vector(&FILLER[..words]);
        }
        let before = builder.len();
        let offset = builder.create_vector(bytes);
        if builder.len() != before {
            self.data_ends.push(builder.len() - 4);
        }
        offset
    }

    /// Header shift (8 or 16) that puts every data start on a 16-byte boundary.
    fn header_shift(&self, body_len: usize) -> usize {
        // Data starts share one residue r ∈ {0, 8} (mod 16); shifting by 16
        // keeps r = 0, shifting by 8 fixes r = 8. Both preserve 8-alignment.
        match self.data_ends.first() {
            Some(&end) if (body_len.wrapping_sub(end)) % 16 == 8 => 8,
            _ => 16,
        }
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    fn buffers_model(datas: &[Vec<u8>]) -> tflite::Model {
        let mut buffers = vec![tflite::Buffer::default()];
        buffers.extend(datas.iter().map(|d| tflite::Buffer {
            data: Some(d.clone()),
            ..Default::default()
        }));
        tflite::Model {
            version: 3,
            buffers: Some(buffers),
            description: Some("alignment".into()),
            ..Default::default()
        }
    }

    fn data_offsets(bytes: &[u8]) -> Vec<usize> {
        let model = crate::read_model(bytes).unwrap();
        let mut out = Vec::new();
        for buffer in model.buffers().unwrap().unwrap() {
            if let Some(data) = buffer.unwrap().data().unwrap() {
                if !data.is_empty() {
                    out.push(data.as_ptr() as usize - bytes.as_ptr() as usize);
                }
            }
        }
        out
    }

    #[test]
    fn every_data_vector_is_16_aligned_for_many_lengths() {
        for first in 0..24usize {
            let datas: Vec<Vec<u8>> = (0..12)
                .map(|i| vec![(i + first) as u8; 1 + (i * 7 + first) % 37])
                .collect();
            let bytes = serialize_model(&buffers_model(&datas)).unwrap();
            assert!(crate::has_file_identifier(&bytes));
            let offsets = data_offsets(&bytes);
            assert_eq!(offsets.len(), datas.len());
            for (off, data) in offsets.iter().zip(&datas) {
                assert_eq!(
                    off % BUFFER_DATA_ALIGNMENT,
                    0,
                    "first={first} len={}",
                    data.len()
                );
                assert_eq!(&bytes[*off..*off + data.len()], data.as_slice());
            }
        }
    }

    #[test]
    fn both_header_lengths_occur_and_align() {
        let mut shifts = std::collections::BTreeSet::new();
        for desc_len in 0..40 {
            let mut model = buffers_model(&[vec![1u8; 5], vec![2u8; 33]]);
            model.description = Some("d".repeat(desc_len));
            let (bytes, shift) = serialize_with_shift(&model).unwrap();
            shifts.insert(shift);
            assert!(crate::has_file_identifier(&bytes));
            for off in data_offsets(&bytes) {
                assert_eq!(off % BUFFER_DATA_ALIGNMENT, 0, "desc_len={desc_len}");
            }
            let back = crate::read_model(&bytes).unwrap();
            assert_eq!(back.description().unwrap().map(str::len), Some(desc_len));
        }
        assert_eq!(shifts.into_iter().collect::<Vec<_>>(), vec![8, 16]);
    }

    #[test]
    fn identical_data_is_stored_once() {
        let datas = vec![vec![7u8; 100], vec![7u8; 100], vec![1u8; 3]];
        let bytes = serialize_model(&buffers_model(&datas)).unwrap();
        let offsets = data_offsets(&bytes);
        assert_eq!(offsets[0], offsets[1]);
        assert_ne!(offsets[0], offsets[2]);
    }

    #[test]
    fn model_without_buffers_serializes() {
        let model = tflite::Model {
            version: 3,
            ..Default::default()
        };
        let bytes = serialize_model(&model).unwrap();
        assert!(crate::has_file_identifier(&bytes));
        let back = crate::read_model(&bytes).unwrap();
        assert_eq!(back.version().unwrap(), 3);
        assert!(back.buffers().unwrap().is_none());
    }

    #[test]
    fn header_shift_rejects_oversized_output() {
        let body = [0u8; 8];
        assert!(splice_header(&body, 16).is_ok());
        assert!(splice_header(&body[..2], 16).is_err());
        let err = SerializeError::TooLarge { bytes: 1 << 32 };
        assert!(err.to_string().contains("2 GiB"));
    }
}
