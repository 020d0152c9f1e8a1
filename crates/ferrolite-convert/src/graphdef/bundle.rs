//! TensorFlow tensor bundles (checkpoints, a SavedModel's `variables/`): the index file is an
//! SSTable mapping tensor names to `BundleEntryProto`s; the tensors' bytes live in data shards.
//!
//! Format facts (from TensorFlow's `tensor_bundle` and `lib/io/table` sources):
//!
//! - The index (`<prefix>.index`) is a LevelDB-style table. Its last 48 bytes are the footer:
//!   two block handles (varint64 offset and size: the meta-index block, then the index block),
//!   zero padding, and the 8-byte magic `0xdb4775248b80fb57` (little-endian). The index block
//!   maps keys to the handles of data blocks, which hold the entries — a two-level lookup.
//! - A block is followed by a 5-byte trailer: the compression type (0 = none) and the masked
//!   CRC32C of the block and that byte. Entries inside a block share key prefixes with the
//!   previous key (`shared`, `non_shared`, `value_len` varint32, key suffix, value); the block
//!   ends with the restart offsets (`u32`s) and their count.
//! - The entry under the empty key is the `BundleHeaderProto` (shard count, byte order); every
//!   other entry is a `BundleEntryProto`: dtype, shape, shard, offset, size and the masked
//!   CRC32C of the bytes in shard `<prefix>.data-NNNNN-of-MMMMM`.
//! - Numeric tensors are raw little-endian elements. A string tensor is the varint64 length of
//!   each element, the masked CRC32C of those lengths (each as a little-endian `u32`), then the
//!   bytes; its entry checksum covers the `u32` lengths, the 4 checksum bytes and the bytes.
//!
//! Every inconsistency (bad magic, a handle out of range, a checksum mismatch, a size that does
//! not fit the shape) is a [`GraphDefError::Bundle`] naming the file.

use super::error::{GraphDefError, Result};
use super::tensor::{dtype_of, elem_size, element_count, shape_of, tf_type_name, ConstTensor};
use crate::prost::tensorflow::{
    bundle_header_proto::Endianness, BundleEntryProto, BundleHeaderProto,
};
use ferrolite_model::DType;
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The table magic number at the end of an SSTable.
const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// Footer length: two padded block handles (40 bytes) and the magic.
const FOOTER_LEN: usize = 48;
/// CRC mask delta (LevelDB's `kMaskDelta`).
const MASK_DELTA: u32 = 0xa282_ead8;

/// Key/value entries of a block, borrowing the values.
type BlockEntries<'a> = Vec<(Vec<u8>, &'a [u8])>;

/// Key/value entries of a whole table.
pub type TableEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// The CRC32C (Castagnoli) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Extends a CRC32C over `data`.
pub fn crc32c_extend(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The masked form of a CRC stored in tables and bundles.
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// Reads a varint (up to 64 bits) at `*pos`, advancing it.
fn varint(b: &[u8], pos: &mut usize) -> std::result::Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".into())
}

/// A block handle: `(offset, size)`.
fn handle(b: &[u8], pos: &mut usize) -> std::result::Result<(usize, usize), String> {
    let off = varint(b, pos)?;
    let size = varint(b, pos)?;
    let to = |v: u64| usize::try_from(v).map_err(|_| "block handle overflows".to_string());
    Ok((to(off)?, to(size)?))
}

/// The contents of the block at `(off, size)`, after checking its trailer.
fn block(file: &[u8], (off, size): (usize, usize)) -> std::result::Result<&[u8], String> {
    let end = off
        .checked_add(size)
        .filter(|&e| e.checked_add(5).is_some_and(|t| t <= file.len()))
        .ok_or_else(|| format!("block at {off} (+{size}) runs past the end of the file"))?;
    let kind = file[end];
    let stored = u32::from_le_bytes([file[end + 1], file[end + 2], file[end + 3], file[end + 4]]);
    let actual = mask_crc(crc32c_extend(0, &file[off..=end]));
    if stored != actual {
        return Err(format!("block at {off}: checksum mismatch"));
    }
    match kind {
        0 => Ok(&file[off..end]),
        1 => Err(format!(
            "block at {off} is snappy-compressed, which is not supported"
        )),
        k => Err(format!("block at {off} has unknown compression type {k}")),
    }
}

/// The `(key, value)` entries of a block, in order.
fn block_entries(data: &[u8]) -> std::result::Result<BlockEntries<'_>, String> {
    let n = data.len();
    if n < 4 {
        return Err("block shorter than its restart count".into());
    }
    let restarts = u32::from_le_bytes([data[n - 4], data[n - 3], data[n - 2], data[n - 1]]);
    let limit = (restarts as usize)
        .checked_add(1)
        .and_then(|r| r.checked_mul(4))
        .and_then(|r| n.checked_sub(r))
        .ok_or("restart array larger than the block")?;
    let mut out: BlockEntries<'_> = Vec::new();
    let mut pos = 0;
    let mut key: Vec<u8> = Vec::new();
    while pos < limit {
        let shared = varint(data, &mut pos)? as usize;
        let own = varint(data, &mut pos)? as usize;
        let vlen = varint(data, &mut pos)? as usize;
        if shared > key.len() {
            return Err("entry shares more key bytes than the previous key has".into());
        }
        let kend = pos.checked_add(own).filter(|&e| e <= limit);
        let vend = kend
            .and_then(|k| k.checked_add(vlen))
            .filter(|&e| e <= limit);
        let (Some(kend), Some(vend)) = (kend, vend) else {
            return Err("entry runs past the end of its block".into());
        };
        key.truncate(shared);
        key.extend_from_slice(&data[pos..kend]);
        out.push((key.clone(), &data[kend..vend]));
        pos = vend;
    }
    Ok(out)
}

/// All `(key, value)` entries of an SSTable, in key order.
pub fn read_table(file: &[u8]) -> std::result::Result<TableEntries, String> {
    if file.len() < FOOTER_LEN {
        return Err(format!(
            "{} bytes is too short for a table footer",
            file.len()
        ));
    }
    let footer = &file[file.len() - FOOTER_LEN..];
    let magic = u64::from_le_bytes(footer[40..48].try_into().unwrap_or([0; 8]));
    if magic != TABLE_MAGIC {
        return Err(format!("bad table magic {magic:#018x}"));
    }
    let mut pos = 0;
    let _meta = handle(footer, &mut pos)?;
    let index = handle(footer, &mut pos)?;
    let mut out = Vec::new();
    for (_, v) in block_entries(block(file, index)?)? {
        let mut p = 0;
        let h = handle(v, &mut p)?;
        for (k, val) in block_entries(block(file, h)?)? {
            out.push((k, val.to_vec()));
        }
    }
    Ok(out)
}

/// An opened tensor bundle: its entries and data shards.
#[derive(Debug)]
pub struct Bundle {
    /// The index file.
    pub index_path: PathBuf,
    /// Entries by tensor name.
    pub entries: BTreeMap<String, BundleEntryProto>,
    shards: Vec<(PathBuf, Vec<u8>)>,
}

impl Bundle {
    /// Opens the bundle with path prefix `prefix` (`dir/variables/variables`).
    pub fn open(prefix: &Path) -> Result<Self> {
        let index_path = PathBuf::from(format!("{}.index", prefix.display()));
        let err = |path: &Path, message: String| GraphDefError::Bundle {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(&index_path).map_err(|source| GraphDefError::Io {
            path: index_path.clone(),
            source,
        })?;
        let table = read_table(&bytes).map_err(|m| err(&index_path, m))?;
        let mut header = None;
        let mut entries = BTreeMap::new();
        for (k, v) in table {
            if k.is_empty() {
                let h = BundleHeaderProto::decode(v.as_slice())
                    .map_err(|e| err(&index_path, format!("bad header: {e}")))?;
                header = Some(h);
                continue;
            }
            let key = String::from_utf8(k)
                .map_err(|_| err(&index_path, "a tensor name is not UTF-8".into()))?;
            let e = BundleEntryProto::decode(v.as_slice())
                .map_err(|e| err(&index_path, format!("entry `{key}`: {e}")))?;
            entries.insert(key, e);
        }
        let header = header.ok_or_else(|| err(&index_path, "no header entry".into()))?;
        if header.endianness == Endianness::Big as i32 {
            return Err(err(
                &index_path,
                "big-endian bundles are not supported".into(),
            ));
        }
        if !(1..=4096).contains(&header.num_shards) {
            return Err(err(
                &index_path,
                format!("implausible shard count {}", header.num_shards),
            ));
        }
        let mut shards = Vec::new();
        for s in 0..header.num_shards {
            let path = PathBuf::from(format!(
                "{}.data-{s:05}-of-{:05}",
                prefix.display(),
                header.num_shards
            ));
            let data = std::fs::read(&path).map_err(|source| GraphDefError::Io {
                path: path.clone(),
                source,
            })?;
            shards.push((path, data));
        }
        Ok(Bundle {
            index_path,
            entries,
            shards,
        })
    }

    /// The checked bytes of entry `key` and the entry.
    fn raw(&self, key: &str) -> Result<(&[u8], &BundleEntryProto, &Path)> {
        let e = self.entries.get(key).ok_or_else(|| GraphDefError::Bundle {
            path: self.index_path.clone(),
            message: format!("no tensor `{key}`"),
        })?;
        let (path, data) = usize::try_from(e.shard_id)
            .ok()
            .and_then(|s| self.shards.get(s))
            .ok_or_else(|| GraphDefError::Bundle {
                path: self.index_path.clone(),
                message: format!(
                    "tensor `{key}` is in shard {}, which does not exist",
                    e.shard_id
                ),
            })?;
        let err = |message: String| GraphDefError::Bundle {
            path: path.clone(),
            message: format!("tensor `{key}`: {message}"),
        };
        let (off, size) = (usize::try_from(e.offset), usize::try_from(e.size));
        let (Ok(off), Ok(size)) = (off, size) else {
            return Err(err("negative offset or size".into()));
        };
        let bytes = off
            .checked_add(size)
            .and_then(|end| data.get(off..end))
            .ok_or_else(|| {
                err(format!(
                    "bytes {off}..+{size} are past the end of the shard"
                ))
            })?;
        let crc = mask_crc(crc32c_extend(0, bytes));
        if e.dtype != crate::prost::tensorflow::DataType::DtString as i32 && crc != e.crc32c {
            return Err(err("checksum mismatch".into()));
        }
        Ok((bytes, e, path))
    }

    /// The numeric tensor stored under `key`.
    pub fn tensor(&self, key: &str) -> Result<ConstTensor> {
        let (bytes, e, path) = self.raw(key)?;
        let err = |message: String| GraphDefError::Bundle {
            path: path.to_path_buf(),
            message: format!("tensor `{key}`: {message}"),
        };
        let dtype = dtype_of(e.dtype)
            .filter(|d| *d != DType::String)
            .ok_or_else(|| err(format!("type {} is not supported", tf_type_name(e.dtype))))?;
        let shape: Vec<usize> = e
            .shape
            .as_ref()
            .map_or(Some(Vec::new()), shape_of)
            .and_then(|s| s.iter().map(|&d| usize::try_from(d).ok()).collect())
            .ok_or_else(|| err("the shape is not fully known".into()))?;
        let want = element_count(&shape)
            .and_then(|n| n.checked_mul(elem_size(dtype)?))
            .ok_or_else(|| err(format!("shape {shape:?} overflows")))?;
        if want != bytes.len() {
            return Err(err(format!(
                "{} bytes stored, shape {shape:?} of {dtype:?} needs {want}",
                bytes.len()
            )));
        }
        Ok(ConstTensor {
            dtype,
            shape,
            data: bytes.to_vec(),
        })
    }

    /// The elements of the string tensor stored under `key`, checksum verified.
    pub fn strings(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        let (bytes, e, path) = self.raw(key)?;
        let err = |message: &str| GraphDefError::Bundle {
            path: path.to_path_buf(),
            message: format!("string tensor `{key}`: {message}"),
        };
        let n = e
            .shape
            .as_ref()
            .and_then(shape_of)
            .map(|s| s.iter().product::<i64>())
            .filter(|&n| (0..=bytes.len() as i64).contains(&n))
            .ok_or_else(|| err("bad shape"))? as usize;
        let mut pos = 0;
        let mut lens = Vec::with_capacity(n);
        let mut crc = 0;
        for _ in 0..n {
            let l = varint(bytes, &mut pos).map_err(|m| err(&m))?;
            crc = match u32::try_from(l) {
                Ok(l32) => crc32c_extend(crc, &l32.to_le_bytes()),
                Err(_) => crc32c_extend(crc, &l.to_le_bytes()),
            };
            lens.push(usize::try_from(l).map_err(|_| err("length overflows"))?);
        }
        let sum = bytes.get(pos..pos + 4).ok_or_else(|| err("truncated"))?;
        if u32::from_le_bytes([sum[0], sum[1], sum[2], sum[3]]) != mask_crc(crc) {
            return Err(err("length checksum mismatch"));
        }
        crc = crc32c_extend(crc, sum);
        pos += 4;
        let mut out = Vec::with_capacity(n);
        for l in lens {
            let s = pos
                .checked_add(l)
                .and_then(|end| bytes.get(pos..end))
                .ok_or_else(|| err("element runs past the entry"))?;
            crc = crc32c_extend(crc, s);
            out.push(s.to_vec());
            pos += l;
        }
        if mask_crc(crc) != e.crc32c {
            return Err(err("checksum mismatch"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // CRC-32C of "123456789" is 0xe3069283 (RFC 3720 test vector).
        assert_eq!(crc32c_extend(0, b"123456789"), 0xe306_9283);
        let (a, b) = b"123456789".split_at(4);
        assert_eq!(crc32c_extend(crc32c_extend(0, a), b), 0xe306_9283);
        assert_ne!(mask_crc(1), 1);
    }

    #[test]
    fn tables_reject_garbage_with_messages() {
        assert!(read_table(&[0; 10]).unwrap_err().contains("too short"));
        assert!(read_table(&[0; 64]).unwrap_err().contains("magic"));
        let mut f = vec![0u8; 64];
        f[56..].copy_from_slice(&TABLE_MAGIC.to_le_bytes());
        f[16] = 0x7f; // index handle offset 127: past the end
        f[17] = 0x05;
        assert!(read_table(&f).is_err());
    }

    #[test]
    fn block_entries_share_prefixes() {
        // "abc" → "1", "abd" → "22" (shares 2 bytes), one restart at 0.
        let mut b = vec![0, 3, 1, b'a', b'b', b'c', b'1', 2, 1, 2, b'd', b'2', b'2'];
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        let e = block_entries(&b).unwrap();
        assert_eq!(e[0], (b"abc".to_vec(), &b"1"[..]));
        assert_eq!(e[1], (b"abd".to_vec(), &b"22"[..]));
        b[7] = 9; // shares more than the previous key has
        assert!(block_entries(&b).is_err());
    }
}
