//! ONNX tensors (`TensorProto`) as constants the lowering can compute with.
//!
//! An initializer or `Constant` value stores its elements either in `raw_data` (little-endian
//! bytes) or in the typed field its `data_type` selects (`float_data`, `int32_data` for every
//! narrow integer type and the bit patterns of float16 / bfloat16, `int64_data`, `double_data`,
//! `uint64_data`). Both forms decode here to [`Const`]: float types as `f32`, integer and bool
//! types as `i64`. Data in an external file is refused with a typed error.

use super::error::{OnnxError, Result};
use crate::prost::onnx::tensor_proto::{DataLocation, DataType};
use crate::prost::onnx::TensorProto;

/// The elements of a constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Float elements (FLOAT, DOUBLE, FLOAT16, BFLOAT16), as `f32`.
    F32(Vec<f32>),
    /// Integer and bool elements, as `i64`.
    I64(Vec<i64>),
}

/// A decoded constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    /// Its dimensions (empty for a scalar).
    pub dims: Vec<i64>,
    /// Its elements, row-major.
    pub data: Data,
}

impl Const {
    /// A float constant.
    pub fn f32(dims: Vec<i64>, values: Vec<f32>) -> Self {
        Const {
            dims,
            data: Data::F32(values),
        }
    }

    /// An integer constant.
    pub fn i64(dims: Vec<i64>, values: Vec<i64>) -> Self {
        Const {
            dims,
            data: Data::I64(values),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for float element types.
    pub fn is_float(&self) -> bool {
        matches!(self.data, Data::F32(_))
    }

    /// The elements as `f32` (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The elements as `i64`, `None` for a float tensor.
    pub fn ints(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            Data::F32(_) => None,
        }
    }
}

/// Reads little-endian elements of `width` bytes from `raw`.
fn chunks<T>(raw: &[u8], width: usize, f: impl Fn(&[u8]) -> T) -> Vec<T> {
    raw.chunks_exact(width).map(f).collect()
}

fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&c[..N]);
    a
}

fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// The name of an ONNX element type, for messages.
pub fn type_name(data_type: i32) -> String {
    DataType::try_from(data_type)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| format!("type {data_type}"))
}

/// Decodes a `TensorProto` (initializer, `Constant` value or attribute tensor).
pub fn decode(t: &TensorProto) -> Result<Const> {
    let bad = |message: String| OnnxError::BadTensor {
        tensor: t.name.clone(),
        message,
    };
    if t.data_location == DataLocation::External as i32 || !t.external_data.is_empty() {
        let location = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map(|e| e.value.clone())
            .unwrap_or_default();
        return Err(OnnxError::ExternalData {
            tensor: t.name.clone(),
            location,
        });
    }
    if t.segment.is_some() {
        return Err(bad("segmented tensors are not supported".into()));
    }
    if let Some(d) = t.dims.iter().find(|&&d| d < 0) {
        return Err(bad(format!("negative dimension {d} in {:?}", t.dims)));
    }
    if let Some(d) = t.dims.iter().find(|&&d| d > i64::from(i32::MAX)) {
        return Err(bad(format!(
            "dimension {d} in {:?} exceeds TFLite's limit of 2^31-1",
            t.dims
        )));
    }
    let count = t
        .dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
        .filter(|&n| n <= 1 << 31)
        .ok_or_else(|| bad(format!("dimensions {:?} are too large", t.dims)))?;
    let dt = DataType::try_from(t.data_type)
        .map_err(|_| bad(format!("unknown data_type {}", t.data_type)))?;
    let raw = &t.raw_data;
    let width = match dt {
        DataType::Float | DataType::Int32 | DataType::Uint32 => 4,
        DataType::Double | DataType::Int64 | DataType::Uint64 => 8,
        DataType::Float16 | DataType::Bfloat16 | DataType::Int16 | DataType::Uint16 => 2,
        DataType::Int8 | DataType::Uint8 | DataType::Bool => 1,
        _ => {
            return Err(bad(format!(
                "element type {} is not supported",
                type_name(t.data_type)
            )))
        }
    };
    let data = if !raw.is_empty() {
        if raw.len() != count * width {
            return Err(bad(format!(
                "raw_data has {} bytes, but {:?} {} needs {}",
                raw.len(),
                t.dims,
                type_name(t.data_type),
                count * width
            )));
        }
        match dt {
            DataType::Float => Data::F32(chunks(raw, 4, |c| f32::from_le_bytes(le(c)))),
            DataType::Double => Data::F32(chunks(raw, 8, |c| f64::from_le_bytes(le(c)) as f32)),
            DataType::Float16 => Data::F32(chunks(raw, 2, |c| {
                half::f16::from_bits(u16::from_le_bytes(le(c))).to_f32()
            })),
            DataType::Bfloat16 => {
                Data::F32(chunks(raw, 2, |c| bf16_to_f32(u16::from_le_bytes(le(c)))))
            }
            DataType::Int32 => Data::I64(chunks(raw, 4, |c| i32::from_le_bytes(le(c)).into())),
            DataType::Uint32 => Data::I64(chunks(raw, 4, |c| u32::from_le_bytes(le(c)).into())),
            DataType::Int64 => Data::I64(chunks(raw, 8, |c| i64::from_le_bytes(le(c)))),
            DataType::Uint64 => Data::I64(chunks(raw, 8, |c| u64::from_le_bytes(le(c)) as i64)),
            DataType::Int16 => Data::I64(chunks(raw, 2, |c| i16::from_le_bytes(le(c)).into())),
            DataType::Uint16 => Data::I64(chunks(raw, 2, |c| u16::from_le_bytes(le(c)).into())),
            DataType::Int8 => Data::I64(chunks(raw, 1, |c| i64::from(c[0] as i8))),
            _ => Data::I64(chunks(raw, 1, |c| i64::from(c[0]))),
        }
    } else {
        match dt {
            DataType::Float => Data::F32(t.float_data.clone()),
            DataType::Double => Data::F32(t.double_data.iter().map(|&v| v as f32).collect()),
            DataType::Float16 => Data::F32(
                t.int32_data
                    .iter()
                    .map(|&v| half::f16::from_bits(v as u16).to_f32())
                    .collect(),
            ),
            DataType::Bfloat16 => Data::F32(
                t.int32_data
                    .iter()
                    .map(|&v| bf16_to_f32(v as u16))
                    .collect(),
            ),
            DataType::Int64 => Data::I64(t.int64_data.clone()),
            DataType::Uint32 | DataType::Uint64 => {
                Data::I64(t.uint64_data.iter().map(|&v| v as i64).collect())
            }
            _ => Data::I64(t.int32_data.iter().map(|&v| i64::from(v)).collect()),
        }
    };
    let c = Const {
        dims: t.dims.clone(),
        data,
    };
    if c.len() != count {
        return Err(bad(format!(
            "holds {} elements, but its dimensions {:?} need {count}",
            c.len(),
            t.dims
        )));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prost::onnx::StringStringEntryProto;

    fn proto(dt: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: "t".into(),
            data_type: dt as i32,
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn raw_and_typed_fields_decode_alike() {
        let mut raw = proto(DataType::Float, &[2]);
        raw.raw_data = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut typed = proto(DataType::Float, &[2]);
        typed.float_data = vec![1.5, -2.0];
        assert_eq!(decode(&raw).unwrap(), decode(&typed).unwrap());

        let mut i = proto(DataType::Int64, &[3]);
        i.int64_data = vec![1, -1, 7];
        assert_eq!(decode(&i).unwrap().ints(), Some(&[1, -1, 7][..]));
        let mut h = proto(DataType::Float16, &[1]);
        h.int32_data = vec![0x3C00]; // 1.0
        assert_eq!(decode(&h).unwrap().to_f32(), vec![1.0]);
        let mut b = proto(DataType::Int8, &[2]);
        b.raw_data = vec![0xFF, 3];
        assert_eq!(decode(&b).unwrap().ints(), Some(&[-1, 3][..]));
    }

    #[test]
    fn bad_tensors_give_typed_errors() {
        let mut short = proto(DataType::Float, &[3]);
        short.raw_data = vec![0; 8];
        assert!(matches!(decode(&short), Err(OnnxError::BadTensor { .. })));
        let mut count = proto(DataType::Float, &[2, 2]);
        count.float_data = vec![1.0];
        assert!(matches!(decode(&count), Err(OnnxError::BadTensor { .. })));
        let mut ext = proto(DataType::Float, &[2]);
        ext.data_location = DataLocation::External as i32;
        ext.external_data = vec![StringStringEntryProto {
            key: "location".into(),
            value: "w.bin".into(),
        }];
        assert!(
            matches!(decode(&ext), Err(OnnxError::ExternalData { location, .. }) if location == "w.bin")
        );
        let s = proto(DataType::String, &[1]);
        assert!(matches!(decode(&s), Err(OnnxError::BadTensor { .. })));
        // Zero elements, but a dimension TFLite cannot store (fuzz-found shape overflow).
        let huge = proto(DataType::Float, &[0, 1 << 40]);
        assert!(
            matches!(decode(&huge), Err(OnnxError::BadTensor { message, .. }) if message.contains("2^31-1"))
        );
    }
}
