//! A representative dataset read from a directory, one sample per file, in file-name order:
//! float32 `.npy` arrays (one sample each, with or without a leading 1) and binary PGM / PPM
//! images (`P5` / `P6`, values divided by the file's maxval, so in `[0, 1]`, shaped
//! `[height, width, channels]`). PNG and JPEG need an image decoder, which this library does not
//! link (the `ferrolite` CLI decodes them before calling it); such files are refused here with
//! a hint. Other files are ignored.

use crate::calibration::{CalibrationData, CalibrationInput};
use crate::error::{QuantError, Result};
use std::path::Path;

fn bad(name: &str, reason: impl Into<String>) -> QuantError {
    QuantError::BadCalibration {
        input: 0,
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// Reads the next whitespace-separated header token of a netpbm file (skipping `#` comments).
fn token<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    loop {
        while *pos < bytes.len() && bytes[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
        if bytes.get(*pos) == Some(&b'#') {
            while *pos < bytes.len() && bytes[*pos] != b'\n' {
                *pos += 1;
            }
            continue;
        }
        break;
    }
    let start = *pos;
    while *pos < bytes.len() && !bytes[*pos].is_ascii_whitespace() {
        *pos += 1;
    }
    (start < *pos).then(|| &bytes[start..*pos])
}

/// Decodes a binary PGM (`P5`) or PPM (`P6`) image to `[h, w, c]` floats in `[0, 1]`.
fn netpbm(bytes: &[u8], name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let mut pos = 0;
    let magic = token(bytes, &mut pos).unwrap_or_default();
    let channels = match magic {
        b"P5" => 1,
        b"P6" => 3,
        _ => {
            return Err(bad(
                name,
                "only binary PGM (P5) and PPM (P6) images are supported",
            ))
        }
    };
    let mut num = || -> Result<usize> {
        token(bytes, &mut pos)
            .and_then(|t| std::str::from_utf8(t).ok()?.parse().ok())
            .ok_or_else(|| bad(name, "malformed PGM/PPM header"))
    };
    let (w, h, maxval) = (num()?, num()?, num()?);
    if w == 0 || h == 0 || maxval == 0 || maxval > 65535 {
        return Err(bad(
            name,
            format!("bad image header ({w}x{h}, maxval {maxval})"),
        ));
    }
    pos += 1; // the single whitespace byte after maxval
    let per = if maxval > 255 { 2 } else { 1 };
    let n = w * h * channels;
    let data = bytes.get(pos..pos + n * per).ok_or_else(|| {
        bad(
            name,
            format!("image data is shorter than {w}x{h}x{channels}"),
        )
    })?;
    let values = (0..n)
        .map(|i| {
            let v = if per == 2 {
                u16::from_be_bytes([data[2 * i], data[2 * i + 1]]) as f32
            } else {
                f32::from(data[i])
            };
            v / maxval as f32
        })
        .collect();
    Ok((vec![h, w, channels], values))
}

impl CalibrationData {
    /// A single-input dataset from the files of `dir` (see the module docs).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let label = dir.display().to_string();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| bad(&label, format!("cannot read the directory: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let mut shape: Option<Vec<usize>> = None;
        let mut values = Vec::new();
        let mut count = 0usize;
        for path in files {
            let name = path.display().to_string();
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default()
                .to_ascii_lowercase();
            let (s, v) = match ext.as_str() {
                "npy" => {
                    let a = ferrolite_npy::read_npy(&path).map_err(|e| bad(&name, e.to_string()))?;
                    if a.dtype != ferrolite_npy::NpyDType::F32 {
                        return Err(bad(&name, format!("dtype is {}, expected float32", a.dtype.name())));
                    }
                    let v = a.values::<f32>().map_err(|e| bad(&name, e.to_string()))?;
                    let s = match a.shape.split_first() {
                        Some((1, rest)) if !rest.is_empty() => rest.to_vec(),
                        _ => a.shape.clone(),
                    };
                    (s, v)
                }
                "pgm" | "ppm" => {
                    let bytes = std::fs::read(&path).map_err(|e| bad(&name, e.to_string()))?;
                    netpbm(&bytes, &name)?
                }
                "png" | "jpg" | "jpeg" | "bmp" | "gif" | "webp" | "tif" | "tiff" => {
                    return Err(bad(
                        &name,
                        "ferrolite-quant links no image decoder; the ferrolite CLI decodes PNG/JPEG \
                         folders, or convert the images to .npy samples or binary PGM/PPM",
                    ))
                }
                _ => continue,
            };
            match &shape {
                None => shape = Some(s),
                Some(first) if *first != s => {
                    return Err(bad(
                        &name,
                        format!("shape {s:?} differs from the first sample's {first:?}"),
                    ))
                }
                _ => {}
            }
            values.extend(v);
            count += 1;
        }
        let Some(sample) = shape else {
            return Err(bad(
                &label,
                "no samples (.npy, .pgm or .ppm files) in the directory",
            ));
        };
        CalibrationData::from_inputs(vec![CalibrationInput {
            label,
            shape: [&[count][..], &sample].concat(),
            values,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netpbm_images_decode_to_unit_floats() {
        let (s, v) = netpbm(b"P5\n# c\n2 1\n255\n\x00\xff", "a.pgm").unwrap();
        assert_eq!((s, v), (vec![1, 2, 1], vec![0.0, 1.0]));
        let (s, v) = netpbm(b"P6 1 1 65535\n\xff\xff\x00\x00\x80\x00", "a.ppm").unwrap();
        assert_eq!(s, vec![1, 1, 3]);
        assert_eq!(v[0], 1.0);
        assert!(netpbm(b"P2 1 1 255\n0", "a.pgm").is_err());
        assert!(netpbm(b"P5 4 4 255\n\x00", "a.pgm")
            .unwrap_err()
            .to_string()
            .contains("shorter"));
    }
}
