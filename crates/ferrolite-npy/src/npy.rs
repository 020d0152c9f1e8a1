//! Reading and writing single `.npy` arrays, from and to files, byte slices and streams.
//!
//! Readers check everything before trusting it: magic, version, header size (capped), the
//! header literal, the dtype, and that exactly shape × item size data bytes follow. Memory is
//! reserved only as data actually arrives, so a header claiming a huge shape cannot make the
//! reader allocate more than the input holds. Files are written atomically: to a temporary file
//! in the destination directory, then renamed over the target.

use crate::array::{element_count, Array};
use crate::error::{NpyError, Result};
use crate::header::{encode_header, parse_header, parse_prefix, Header};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Largest up-front reservation for array data; beyond it the buffer grows as bytes arrive.
const MAX_RESERVE: u64 = 64 << 20;

/// Reads up to `n` bytes (fewer only at end of stream).
fn read_up_to<R: Read>(r: &mut R, n: u64, reserve: u64, file: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(reserve.min(n).min(MAX_RESERVE)).unwrap_or(0));
    r.take(n)
        .read_to_end(&mut buf)
        .map_err(|e| NpyError::io(file, e))?;
    Ok(buf)
}

/// Reads one `.npy` array from a stream; `file` names the source in errors and `size_hint`
/// (total bytes, if known) sizes the data buffer. The stream must end right after the data.
pub fn read_npy_from<R: Read>(mut reader: R, file: &str, size_hint: Option<u64>) -> Result<Array> {
    let start = read_up_to(&mut reader, 12, 12, file)?;
    let prefix = parse_prefix(file, &start)?;
    let mut text = start[prefix.prefix_len..].to_vec();
    let already = text.len();
    if already < prefix.header_len {
        let rest = read_up_to(
            &mut reader,
            (prefix.header_len - already) as u64,
            u64::MAX,
            file,
        )?;
        text.extend_from_slice(&rest);
    }
    if text.len() < prefix.header_len {
        return Err(NpyError::TruncatedHeader {
            file: file.into(),
            detail: format!(
                "the header should be {} bytes, the data ends after {}",
                prefix.header_len,
                text.len()
            ),
        });
    }
    // With a short v1 header (<2 bytes) part of the 12-byte probe is already array data.
    let data_start = text.split_off(prefix.header_len);
    let header = parse_header(file, prefix.major, &text)?;

    let expected = element_count(&header.shape)
        .and_then(|n| n.checked_mul(header.dtype.item_size()))
        .map_or(u64::MAX, |b| b as u64);
    let size_left = size_hint.map_or(u64::MAX, |s| {
        s.saturating_sub((prefix.prefix_len + prefix.header_len) as u64)
    });
    let mut data = data_start;
    let want = expected.saturating_sub(data.len() as u64);
    let more = read_up_to(&mut reader, want, size_left, file)?;
    data.extend_from_slice(&more);
    let length_error = |found: u64, more: bool| NpyError::DataLength {
        file: file.into(),
        shape: header.shape.clone(),
        dtype: header.dtype.name(),
        expected,
        found,
        more,
    };
    if (data.len() as u64) < expected {
        return Err(length_error(data.len() as u64, false));
    }
    if data.len() as u64 > expected {
        return Err(length_error(expected, true));
    }
    let mut probe = [0u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(0) => break,
            Ok(_) => return Err(length_error(expected, true)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(NpyError::io(file, e)),
        }
    }
    let Header { dtype, shape } = header;
    Ok(Array { dtype, shape, data })
}

/// Reads a `.npy` array held in memory.
pub fn read_npy_bytes(bytes: &[u8]) -> Result<Array> {
    read_npy_from(bytes, "<bytes>", Some(bytes.len() as u64))
}

/// Reads a `.npy` file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Array> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| NpyError::io(&name, e))?;
    let len = file.metadata().ok().map(|m| m.len());
    read_npy_from(BufReader::new(file), &name, len)
}

/// Writes `array` in `.npy` format (header byte-identical to NumPy's `np.save`) to a stream.
pub fn write_npy_to<W: Write>(mut writer: W, array: &Array, file: &str) -> Result<()> {
    array.validate().map_err(|e| relabel(e, file))?;
    let header = encode_header(&Header {
        dtype: array.dtype,
        shape: array.shape.clone(),
    });
    writer
        .write_all(&header)
        .and_then(|()| writer.write_all(&array.data))
        .map_err(|e| NpyError::io(file, e))
}

/// Encodes `array` as the bytes of a `.npy` file.
pub fn to_npy_bytes(array: &Array) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(array.data.len() + 128);
    write_npy_to(&mut out, array, "<bytes>")?;
    Ok(out)
}

/// Writes `array` to a `.npy` file atomically (temporary file in the same directory + rename).
pub fn write_npy(path: impl AsRef<Path>, array: &Array) -> Result<()> {
    let path = path.as_ref();
    let name = path.display().to_string();
    array.validate().map_err(|e| relabel(e, &name))?;
    atomic_write(path, |w| write_npy_to(w, array, &name))
}

/// Replaces the `<array>` placeholder of a validation error with the real destination.
pub(crate) fn relabel(e: NpyError, file: &str) -> NpyError {
    match e {
        NpyError::DataLength {
            shape,
            dtype,
            expected,
            found,
            more,
            ..
        } => NpyError::DataLength {
            file: file.into(),
            shape,
            dtype,
            expected,
            found,
            more,
        },
        other => other,
    }
}

/// Creates `path` by writing a temporary sibling and renaming it into place.
pub(crate) fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<&mut std::fs::File>) -> Result<()>,
) -> Result<()> {
    let name = path.display().to_string();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ferrolite-npy-").suffix(".tmp");
    // Like `File::create`: 0o666 minus the umask, not the temp file's private 0o600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| NpyError::io(&name, e))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        fill(&mut w)?;
        w.flush().map_err(|e| NpyError::io(&name, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| NpyError::io(&name, e))?;
    tmp.persist(path)
        .map_err(|e| NpyError::io(&name, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::NpyDType;

    #[test]
    fn round_trip_through_bytes() {
        let a = Array::from_f32(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.5]).unwrap();
        let bytes = to_npy_bytes(&a).unwrap();
        assert_eq!(bytes.len(), 128 + 24);
        assert_eq!(read_npy_bytes(&bytes).unwrap(), a);
    }

    #[test]
    fn data_length_is_checked_both_ways() {
        let a = Array::from_i16(&[4], &[1, 2, 3, 4]).unwrap();
        let bytes = to_npy_bytes(&a).unwrap();
        let short = read_npy_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(
            matches!(
                short,
                NpyError::DataLength {
                    expected: 8,
                    found: 7,
                    more: false,
                    ..
                }
            ),
            "{short}"
        );
        let mut long = bytes.clone();
        long.push(0);
        let err = read_npy_bytes(&long).unwrap_err();
        assert!(
            matches!(err, NpyError::DataLength { more: true, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("more than 8"), "{err}");
    }

    #[test]
    fn huge_shape_does_not_allocate() {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }\n";
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text);
        bytes.extend_from_slice(&[0; 16]);
        let err = read_npy_bytes(&bytes).unwrap_err();
        assert!(
            matches!(err, NpyError::DataLength { found: 16, .. }),
            "{err}"
        );
        let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text);
        assert!(matches!(
            read_npy_bytes(&bytes),
            Err(NpyError::DataLength {
                expected: u64::MAX,
                ..
            })
        ));
    }

    #[test]
    fn tiny_header_with_data_in_the_probe() {
        // A 2-byte header is invalid, but must not confuse the prefix/data split.
        let mut bytes = b"\x93NUMPY\x01\x00\x02\x00{}".to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(
            read_npy_bytes(&bytes),
            Err(NpyError::BadHeader { .. })
        ));
        let mut bytes = b"\x93NUMPY\x01\x00\x00\x00".to_vec();
        bytes.extend_from_slice(&[1, 2]);
        assert!(matches!(
            read_npy_bytes(&bytes),
            Err(NpyError::BadHeader { .. })
        ));
    }

    #[test]
    fn atomic_file_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let a = Array::from_values::<u32>(&[], &[7]).unwrap();
        write_npy(&path, &a).unwrap();
        assert_eq!(read_npy(&path).unwrap(), a);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let plain = dir.path().join("plain");
            std::fs::File::create(&plain).unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(
                mode(&path),
                mode(&plain),
                "same permissions as File::create"
            );
            std::fs::remove_file(plain).unwrap();
        }
        let bad = Array {
            dtype: NpyDType::F32,
            shape: vec![2],
            data: vec![0; 3],
        };
        let err = write_npy(dir.path().join("b.npy"), &bad).unwrap_err();
        assert!(err.to_string().contains("b.npy"), "{err}");
        assert!(!dir.path().join("b.npy").exists());
        let missing = read_npy(dir.path().join("nope.npy")).unwrap_err();
        assert!(matches!(missing, NpyError::Io { .. }));
    }
}
