//! `.npz` archives: zip files of `.npy` members, as written by `np.savez` (stored) and
//! `np.savez_compressed` (deflated).
//!
//! Keys are member names without the `.npy` suffix (what `np.load(...).files` reports), kept
//! in archive order. Written archives use fixed timestamps (1980-01-01) so the output is
//! reproducible.

use crate::array::Array;
use crate::error::{NpyError, Result};
use crate::npy::{atomic_write, read_npy_from, relabel, write_npy_to};
use std::borrow::Borrow;
use std::collections::HashSet;
use std::io::{BufReader, Read, Seek, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// How members of a written `.npz` are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NpzCompression {
    /// Uncompressed, like `np.savez`.
    #[default]
    Stored,
    /// Deflate, like `np.savez_compressed`.
    Deflated,
}

/// Reads every array of an `.npz` from a seekable stream; `file` names it in errors.
pub fn read_npz_from<R: Read + Seek>(reader: R, file: &str) -> Result<Vec<(String, Array)>> {
    let zip_err = |source| NpyError::Zip {
        file: file.to_string(),
        source,
    };
    let mut archive = ZipArchive::new(reader).map_err(zip_err)?;
    let mut out = Vec::with_capacity(archive.len().min(1024));
    let mut seen = HashSet::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(zip_err)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(zip_err)?.into_owned();
        let location = format!("{file}:{name}");
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        if !seen.insert(key.clone()) {
            return Err(NpyError::DuplicateEntry {
                file: file.into(),
                name: key,
            });
        }
        let size = entry.size();
        let array = read_npy_from(entry, &location, Some(size))?;
        out.push((key, array));
    }
    Ok(out)
}

/// Reads an `.npz` held in memory.
pub fn read_npz_bytes(bytes: &[u8]) -> Result<Vec<(String, Array)>> {
    read_npz_from(std::io::Cursor::new(bytes), "<bytes>")
}

/// Reads an `.npz` file; returns `(key, array)` pairs in archive order.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Array)>> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| NpyError::io(&name, e))?;
    read_npz_from(BufReader::new(file), &name)
}

/// Writes `(key, array)` pairs as an `.npz` archive (members `key.npy`) to a seekable stream.
pub fn write_npz_to<W, K, A>(
    writer: W,
    entries: &[(K, A)],
    compression: NpzCompression,
    file: &str,
) -> Result<()>
where
    W: Write + Seek,
    K: AsRef<str>,
    A: Borrow<Array>,
{
    let zip_err = |source| NpyError::Zip {
        file: file.to_string(),
        source,
    };
    let mut seen = HashSet::new();
    for (key, array) in entries {
        let key = key.as_ref();
        if !seen.insert(key) {
            return Err(NpyError::DuplicateEntry {
                file: file.into(),
                name: key.into(),
            });
        }
        array
            .borrow()
            .validate()
            .map_err(|e| relabel(e, &format!("{file}:{key}.npy")))?;
    }
    let method = match compression {
        NpzCompression::Stored => CompressionMethod::Stored,
        NpzCompression::Deflated => CompressionMethod::Deflated,
    };
    let mut zip = ZipWriter::new(writer);
    for (key, array) in entries {
        let array = array.borrow();
        let member = format!("{}.npy", key.as_ref());
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            .large_file(array.data.len() as u64 >= 0xFFFF_0000);
        zip.start_file(member.as_str(), options).map_err(zip_err)?;
        write_npy_to(&mut zip, array, &format!("{file}:{member}"))?;
    }
    zip.finish().map_err(zip_err)?;
    Ok(())
}

/// Encodes `(key, array)` pairs as the bytes of an `.npz` archive.
pub fn to_npz_bytes<K: AsRef<str>, A: Borrow<Array>>(
    entries: &[(K, A)],
    compression: NpzCompression,
) -> Result<Vec<u8>> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    write_npz_to(&mut cursor, entries, compression, "<bytes>")?;
    Ok(cursor.into_inner())
}

/// Writes an `.npz` file atomically; accepts `&[(String, Array)]` as returned by [`read_npz`]
/// as well as `&[("x", &array)]`.
pub fn write_npz<K: AsRef<str>, A: Borrow<Array>>(
    path: impl AsRef<Path>,
    entries: &[(K, A)],
    compression: NpzCompression,
) -> Result<()> {
    let path = path.as_ref();
    let name = path.display().to_string();
    atomic_write(path, |w| write_npz_to(w, entries, compression, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_compressions_in_order() {
        let x = Array::from_f32(&[2, 2], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let y = Array::from_i64(&[3], &[7, 8, 9]).unwrap();
        let z = Array::from_bool(&[], &[true]).unwrap();
        for c in [NpzCompression::Stored, NpzCompression::Deflated] {
            let bytes = to_npz_bytes(&[("zeta", &x), ("alpha", &y), ("m", &z)], c).unwrap();
            let back = read_npz_bytes(&bytes).unwrap();
            let keys: Vec<&str> = back.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["zeta", "alpha", "m"]);
            assert_eq!(back[0].1, x);
            assert_eq!(back[1].1, y);
            assert_eq!(back[2].1, z);
        }
    }

    #[test]
    fn deflate_shrinks_repetitive_data() {
        let a = Array::zeros(crate::NpyDType::F32, &[1000]).unwrap();
        let stored = to_npz_bytes(&[("a", &a)], NpzCompression::Stored).unwrap();
        let deflated = to_npz_bytes(&[("a", &a)], NpzCompression::Deflated).unwrap();
        assert!(
            deflated.len() * 4 < stored.len(),
            "{} vs {}",
            deflated.len(),
            stored.len()
        );
        // Output is reproducible.
        assert_eq!(
            deflated,
            to_npz_bytes(&[("a", &a)], NpzCompression::Deflated).unwrap()
        );
    }

    #[test]
    fn errors_name_the_entry() {
        let a = Array::from_u8(&[2], &[1, 2]).unwrap();
        let dup = to_npz_bytes(&[("a", &a), ("a", &a)], NpzCompression::Stored).unwrap_err();
        assert!(matches!(dup, NpyError::DuplicateEntry { .. }));
        let broken = Array {
            data: vec![1],
            ..a.clone()
        };
        let err = to_npz_bytes(&[("w", &broken)], NpzCompression::Stored).unwrap_err();
        assert!(err.to_string().contains("<bytes>:w.npy"), "{err}");

        // A member that is not .npy data.
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut zip = ZipWriter::new(&mut cursor);
        zip.start_file("junk.npy", SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"hello").unwrap();
        zip.finish().unwrap();
        let err = read_npz_bytes(cursor.get_ref()).unwrap_err();
        assert!(matches!(err, NpyError::BadMagic { .. }));
        assert!(err.to_string().contains("<bytes>:junk.npy"), "{err}");
        assert!(matches!(
            read_npz_bytes(b"not a zip"),
            Err(NpyError::Zip { .. })
        ));
    }

    #[test]
    fn file_round_trip_accepts_owned_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npz");
        let pairs = vec![("q".to_string(), Array::from_i8(&[1], &[-3]).unwrap())];
        write_npz(&path, &pairs, NpzCompression::Deflated).unwrap();
        assert_eq!(read_npz(&path).unwrap(), pairs);
    }
}
