//! Helpers for the quantized-kernel fixture tests: a minimal `.npy` reader (`|i1`, `<f4`) and
//! accessors for the quantization and constant data of model tensors.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ferrolite_model::{DType, Tensor};
use ferrolite_runtime::kernels::quant::QuantParams;

/// The repo's `tests/fixtures` directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A parsed `.npy` array of int8 values (the only kind the int8 fixtures hold).
pub struct NpyI8 {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<i8>,
}

/// Header and payload of a C-order `.npy` file (format versions 1-3).
pub fn read_npy_raw(path: &Path, descr: &str) -> (Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: bad magic", path.display());
    let (header_len, start) = if bytes[6] == 1 {
        (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10)
    } else {
        let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        (n as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("utf8 header");
    assert!(
        header.contains(&format!("'descr': '{descr}'")),
        "not {descr}: {header}"
    );
    assert!(
        header.contains("'fortran_order': False"),
        "fortran order: {header}"
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape");
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("dim"))
        .collect();
    (shape, bytes[start + header_len..].to_vec())
}

/// Reads a C-order `|i1` array.
pub fn read_npy_i8(path: &Path) -> NpyI8 {
    let (shape, bytes) = read_npy_raw(path, "|i1");
    let data: Vec<i8> = bytes.iter().map(|&b| b as i8).collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    NpyI8 { shape, data }
}

/// Reads a C-order `<f4` array as `(shape, values)`.
pub fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let (shape, bytes) = read_npy_raw(path, "<f4");
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    (shape, data)
}

/// Per-tensor quantization of a tensor (first scale / zero point).
pub fn qparams(t: &Tensor) -> QuantParams {
    let q = t.quantization.as_ref().expect("quantized tensor");
    QuantParams::new(q.scale[0], q.zero_point[0] as i32)
}

/// All scales of a (possibly per-channel) tensor.
pub fn scales(t: &Tensor) -> Vec<f32> {
    t.quantization
        .as_ref()
        .expect("quantized tensor")
        .scale
        .clone()
}

/// Contents of a constant int8 tensor.
pub fn const_i8(t: &Tensor) -> Vec<i8> {
    assert_eq!(t.dtype, DType::I8);
    t.data
        .as_ref()
        .expect("constant")
        .iter()
        .map(|&b| b as i8)
        .collect()
}

/// Contents of a constant int32 tensor.
pub fn const_i32(t: &Tensor) -> Vec<i32> {
    assert_eq!(t.dtype, DType::I32);
    t.data
        .as_ref()
        .expect("constant")
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A rank-4 shape as an array.
pub fn dims4(shape: &[usize]) -> [usize; 4] {
    shape.try_into().expect("rank-4 tensor")
}

/// A rank-4 model shape (`i32` dims) as an array.
pub fn dims4_i32(shape: &[i32]) -> [usize; 4] {
    let v: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    dims4(&v)
}
