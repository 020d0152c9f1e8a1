//! Constant tensors: decoding `TensorProto`s (the `value` of `Const` nodes) and the host-side
//! values the importer folds shape arithmetic on.
//!
//! A [`ConstTensor`] keeps its elements as little-endian bytes in ferrolite's [`DType`], the
//! layout TFLite buffers use, so it can become a model constant unchanged. A `TensorProto`
//! carries its values either packed in `tensor_content` or in the typed repeated field for its
//! dtype (`float_val`, `int_val`, `half_val` for float16 and bfloat16, ...); a typed field
//! shorter than the shape is padded with its last value (TF's splat encoding) and an empty one
//! means zeros.

use crate::prost::tensorflow::{DataType, TensorProto, TensorShapeProto};
use ferrolite_model::DType;

/// Largest constant the importer materializes, in bytes.
pub const MAX_CONST_BYTES: usize = 1 << 31;

/// Largest constant, in bytes, expanded from a typed field shorter than its shape (TF's splat
/// encoding): past it a few bytes of `TensorProto` would make the importer allocate gigabytes.
pub const MAX_SPLAT_BYTES: usize = 1 << 28;

/// ferrolite's element type for a TensorFlow `DataType` value; `None` for types TFLite lacks
/// (quantized `qint*`, resources, variants, float8, int4).
pub fn dtype_of(tf: i32) -> Option<DType> {
    Some(match DataType::try_from(tf).ok()? {
        DataType::DtFloat => DType::F32,
        DataType::DtDouble => DType::F64,
        DataType::DtInt32 => DType::I32,
        DataType::DtUint8 => DType::U8,
        DataType::DtInt16 => DType::I16,
        DataType::DtInt8 => DType::I8,
        DataType::DtString => DType::String,
        DataType::DtComplex64 => DType::Complex64,
        DataType::DtInt64 => DType::I64,
        DataType::DtBool => DType::Bool,
        DataType::DtBfloat16 => DType::BF16,
        DataType::DtUint16 => DType::U16,
        DataType::DtComplex128 => DType::Complex128,
        DataType::DtHalf => DType::F16,
        DataType::DtUint32 => DType::U32,
        DataType::DtUint64 => DType::U64,
        _ => return None,
    })
}

/// The TensorFlow name of a `DataType` value (`DT_FLOAT`), for messages.
pub fn tf_type_name(tf: i32) -> String {
    DataType::try_from(tf)
        .map(|d| d.as_str_name().to_string())
        .unwrap_or_else(|_| format!("DataType({tf})"))
}

/// Bytes per element of the fixed-size types; `None` for strings and opaque types.
pub fn elem_size(dtype: DType) -> Option<usize> {
    Some(match dtype {
        DType::U8 | DType::I8 | DType::Bool => 1,
        DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
        DType::F32 | DType::I32 | DType::U32 => 4,
        DType::F64 | DType::I64 | DType::U64 | DType::Complex64 => 8,
        DType::Complex128 => 16,
        _ => return None,
    })
}

/// A shape from a `TensorShapeProto`: `None` for an unknown rank, `-1` for unknown dims.
pub fn shape_of(p: &TensorShapeProto) -> Option<Vec<i64>> {
    (!p.unknown_rank).then(|| p.dim.iter().map(|d| d.size.max(-1)).collect())
}

/// A constant tensor held by the importer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConstTensor {
    /// Element type.
    pub dtype: DType,
    /// Shape (all dims known).
    pub shape: Vec<usize>,
    /// Elements, little-endian, row major.
    pub data: Vec<u8>,
}

/// Number of elements of `shape`, `None` on overflow.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

impl ConstTensor {
    /// An `f32` tensor (the caller guarantees `values` fits `shape`).
    pub fn from_f32(shape: Vec<usize>, values: &[f32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        ConstTensor {
            dtype: DType::F32,
            shape,
            data,
        }
    }

    /// An `i32` tensor (the caller guarantees `values` fits `shape`).
    pub fn from_i32(shape: Vec<usize>, values: &[i32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        ConstTensor {
            dtype: DType::I32,
            shape,
            data,
        }
    }

    /// An `i64` tensor (the caller guarantees `values` fits `shape`).
    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        ConstTensor {
            dtype: DType::I64,
            shape,
            data,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        element_count(&self.shape).unwrap_or(0)
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per element (every `ConstTensor` has a fixed-size type).
    pub fn elem_size(&self) -> usize {
        elem_size(self.dtype).unwrap_or(1)
    }

    /// The bytes of element `i` (row-major index; the caller keeps `i` in range).
    pub fn element(&self, i: usize) -> &[u8] {
        let s = self.elem_size();
        &self.data[i * s..(i + 1) * s]
    }

    /// A tensor of the same type made of the elements at `indices`, with shape `shape`.
    pub fn gather(&self, shape: Vec<usize>, indices: impl IntoIterator<Item = usize>) -> Self {
        let mut data = Vec::new();
        for i in indices {
            data.extend_from_slice(self.element(i));
        }
        ConstTensor {
            dtype: self.dtype,
            shape,
            data,
        }
    }

    /// The same elements with another shape (the caller keeps the element count).
    pub fn reshaped(&self, shape: Vec<usize>) -> Self {
        ConstTensor {
            shape,
            ..self.clone()
        }
    }

    /// The elements as `f64`, for float and integer types.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        let c = |n: usize| self.data.chunks_exact(n);
        Some(match self.dtype {
            DType::F32 => c(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
                .collect(),
            DType::F64 => c(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::F16 => c(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64())
                .collect(),
            DType::BF16 => c(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f64())
                .collect(),
            _ => self.to_i64()?.into_iter().map(|v| v as f64).collect(),
        })
    }

    /// The elements as `f32`, for float and integer types.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        Some(self.to_f64()?.into_iter().map(|v| v as f32).collect())
    }

    /// The elements as `i64`, for integer and boolean types.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        let c = |n: usize| self.data.chunks_exact(n);
        Some(match self.dtype {
            DType::I32 => c(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                .collect(),
            DType::I64 => c(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .collect(),
            DType::U32 => c(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                .collect(),
            DType::U64 => c(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as i64)
                .collect(),
            DType::I16 => c(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as i64)
                .collect(),
            DType::U16 => c(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as i64)
                .collect(),
            DType::I8 => self.data.iter().map(|&b| b as i8 as i64).collect(),
            DType::U8 | DType::Bool => self.data.iter().map(|&b| b as i64).collect(),
            _ => return None,
        })
    }

    /// Builds a tensor of `dtype` from `f64` values (floats round, integers truncate toward
    /// zero and wrap like TF's Cast); `None` for complex and opaque types.
    pub fn from_f64(dtype: DType, shape: Vec<usize>, v: &[f64]) -> Option<Self> {
        let data: Vec<u8> = match dtype {
            DType::F32 => v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
            DType::F64 => v.iter().flat_map(|&x| x.to_le_bytes()).collect(),
            DType::F16 => v
                .iter()
                .flat_map(|&x| half::f16::from_f64(x).to_le_bytes())
                .collect(),
            DType::BF16 => v
                .iter()
                .flat_map(|&x| half::bf16::from_f64(x).to_le_bytes())
                .collect(),
            DType::Bool => v.iter().map(|&x| u8::from(x != 0.0)).collect(),
            _ => {
                let ints: Vec<i64> = v.iter().map(|&x| x as i64).collect();
                return Self::from_i64_as(dtype, shape, &ints);
            }
        };
        Some(ConstTensor { dtype, shape, data })
    }

    /// Builds an integer (or boolean) tensor of `dtype` from `i64` values, wrapping.
    pub fn from_i64_as(dtype: DType, shape: Vec<usize>, v: &[i64]) -> Option<Self> {
        let data: Vec<u8> = match dtype {
            DType::I64 | DType::U64 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            DType::I32 | DType::U32 => v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect(),
            DType::I16 | DType::U16 => v.iter().flat_map(|&x| (x as i16).to_le_bytes()).collect(),
            DType::I8 | DType::U8 => v.iter().map(|&x| x as u8).collect(),
            DType::Bool => v.iter().map(|&x| u8::from(x != 0)).collect(),
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => {
                let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
                return Self::from_f64(dtype, shape, &f);
            }
            _ => return None,
        };
        Some(ConstTensor { dtype, shape, data })
    }

    /// The tensor converted to `to` (TF `Cast` semantics for real types).
    pub fn cast(&self, to: DType) -> Option<Self> {
        if to == self.dtype {
            return Some(self.clone());
        }
        match self.to_i64() {
            Some(ints) if !matches!(to, DType::F32 | DType::F64 | DType::F16 | DType::BF16) => {
                Self::from_i64_as(to, self.shape.clone(), &ints)
            }
            _ => Self::from_f64(to, self.shape.clone(), &self.to_f64()?),
        }
    }

    /// Decodes a `TensorProto`; the error says what is wrong with it.
    pub fn from_proto(t: &TensorProto) -> Result<Self, String> {
        let dtype = dtype_of(t.dtype)
            .ok_or_else(|| format!("{} constants are not supported", tf_type_name(t.dtype)))?;
        let size = elem_size(dtype).ok_or_else(|| {
            format!(
                "{} constants are not supported (only fixed-size numeric and bool types)",
                tf_type_name(t.dtype)
            )
        })?;
        let proto_shape = t
            .tensor_shape
            .as_ref()
            .and_then(shape_of)
            .unwrap_or_default();
        let shape = proto_shape
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| format!("constant shape {proto_shape:?} has unknown dimensions"))?;
        if let Some(d) = shape.iter().find(|&&d| d > i32::MAX as usize) {
            return Err(format!(
                "constant shape {shape:?}: dimension {d} is too large (TFLite's limit is 2^31-1)"
            ));
        }
        let n = element_count(&shape)
            .filter(|&n| n.checked_mul(size).is_some_and(|b| b <= MAX_CONST_BYTES))
            .ok_or_else(|| format!("constant of shape {shape:?} is too large"))?;
        let bytes = n * size;
        if !t.tensor_content.is_empty() {
            if t.tensor_content.len() != bytes {
                return Err(format!(
                    "tensor_content holds {} bytes, shape {shape:?} of {} needs {bytes}",
                    t.tensor_content.len(),
                    tf_type_name(t.dtype)
                ));
            }
            return Ok(ConstTensor {
                dtype,
                shape,
                data: t.tensor_content.clone(),
            });
        }
        if bytes > MAX_SPLAT_BYTES && typed_len(t, dtype) < n {
            return Err(format!(
                "constant of shape {shape:?} ({bytes} bytes) is stored as a splat of {} values; \
                 splats above {MAX_SPLAT_BYTES} bytes are refused",
                typed_len(t, dtype)
            ));
        }
        let data = typed_values(t, dtype, n)?;
        debug_assert_eq!(data.len(), bytes);
        Ok(ConstTensor { dtype, shape, data })
    }
}

/// Expands `vals` to `n` elements by TF's rules (empty = zeros, short = repeat the last one).
fn splat<T: Copy + Default>(vals: &[T], n: usize, what: &str) -> Result<Vec<T>, String> {
    if vals.len() > n {
        return Err(format!(
            "{what} holds {} values for {n} elements",
            vals.len()
        ));
    }
    let last = vals.last().copied().unwrap_or_default();
    let mut out = vals.to_vec();
    out.resize(n, last);
    Ok(out)
}

fn le<T: Copy, const N: usize>(v: Vec<T>, f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.into_iter().flat_map(f).collect()
}

/// The number of elements the typed repeated field matching `dtype` holds.
fn typed_len(t: &TensorProto, dtype: DType) -> usize {
    match dtype {
        DType::F32 => t.float_val.len(),
        DType::F64 => t.double_val.len(),
        DType::I32 | DType::I16 | DType::U16 | DType::I8 | DType::U8 => t.int_val.len(),
        DType::I64 => t.int64_val.len(),
        DType::U32 => t.uint32_val.len(),
        DType::U64 => t.uint64_val.len(),
        DType::Bool => t.bool_val.len(),
        DType::F16 | DType::BF16 => t.half_val.len(),
        DType::Complex64 => t.scomplex_val.len() / 2,
        DType::Complex128 => t.dcomplex_val.len() / 2,
        _ => 0,
    }
}

/// The values of the typed repeated field matching `dtype`, as little-endian bytes.
fn typed_values(t: &TensorProto, dtype: DType, n: usize) -> Result<Vec<u8>, String> {
    Ok(match dtype {
        DType::F32 => le(splat(&t.float_val, n, "float_val")?, f32::to_le_bytes),
        DType::F64 => le(splat(&t.double_val, n, "double_val")?, f64::to_le_bytes),
        DType::I32 => le(splat(&t.int_val, n, "int_val")?, i32::to_le_bytes),
        DType::I16 | DType::U16 => le(splat(&t.int_val, n, "int_val")?, |v| {
            (v as u16).to_le_bytes()
        }),
        DType::I8 | DType::U8 => le(splat(&t.int_val, n, "int_val")?, |v| [v as u8]),
        DType::I64 => le(splat(&t.int64_val, n, "int64_val")?, i64::to_le_bytes),
        DType::U32 => le(splat(&t.uint32_val, n, "uint32_val")?, u32::to_le_bytes),
        DType::U64 => le(splat(&t.uint64_val, n, "uint64_val")?, u64::to_le_bytes),
        DType::Bool => le(splat(&t.bool_val, n, "bool_val")?, |b| [u8::from(b)]),
        DType::F16 | DType::BF16 => le(splat(&t.half_val, n, "half_val")?, |v| {
            (v as u16).to_le_bytes()
        }),
        DType::Complex64 => {
            let v = splat_pairs(&t.scomplex_val, n, "scomplex_val")?;
            le(v, f32::to_le_bytes)
        }
        DType::Complex128 => {
            let v = splat_pairs(&t.dcomplex_val, n, "dcomplex_val")?;
            le(v, f64::to_le_bytes)
        }
        other => return Err(format!("{other:?} constants are not supported")),
    })
}

/// `splat` for complex values stored as (real, imaginary) pairs.
fn splat_pairs<T: Copy + Default>(vals: &[T], n: usize, what: &str) -> Result<Vec<T>, String> {
    if !vals.len().is_multiple_of(2) {
        return Err(format!("{what} holds an odd number of parts"));
    }
    let pairs: Vec<(T, T)> = vals.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    let filled = splat(&pairs, n, what)?;
    Ok(filled.into_iter().flat_map(|(a, b)| [a, b]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prost::tensorflow::tensor_shape_proto::Dim;

    fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
        Some(TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        })
    }

    fn proto(dtype: DataType, dims: &[i64]) -> TensorProto {
        TensorProto {
            dtype: dtype as i32,
            tensor_shape: shape(dims),
            ..Default::default()
        }
    }

    #[test]
    fn tensor_content_and_typed_fields_decode() {
        let mut t = proto(DataType::DtFloat, &[2]);
        t.tensor_content = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let c = ConstTensor::from_proto(&t).unwrap();
        assert_eq!(c.to_f32().unwrap(), vec![1.5, -2.0]);

        let mut t = proto(DataType::DtFloat, &[2, 2]);
        t.float_val = vec![0.5];
        assert_eq!(
            ConstTensor::from_proto(&t).unwrap().to_f32().unwrap(),
            vec![0.5; 4]
        );

        let mut t = proto(DataType::DtInt64, &[3]);
        t.int64_val = vec![7, -1];
        assert_eq!(
            ConstTensor::from_proto(&t).unwrap().to_i64().unwrap(),
            vec![7, -1, -1]
        );

        let t = proto(DataType::DtInt32, &[]);
        let c = ConstTensor::from_proto(&t).unwrap();
        assert_eq!((c.shape.len(), c.to_i64().unwrap()), (0, vec![0]));

        let mut t = proto(DataType::DtHalf, &[2]);
        t.half_val = vec![0x3C00, 0xC000]; // 1.0, -2.0
        let c = ConstTensor::from_proto(&t).unwrap();
        assert_eq!(c.dtype, DType::F16);
        assert_eq!(c.to_f32().unwrap(), vec![1.0, -2.0]);

        let mut t = proto(DataType::DtBool, &[2]);
        t.bool_val = vec![true, false];
        assert_eq!(ConstTensor::from_proto(&t).unwrap().data, vec![1, 0]);

        let mut t = proto(DataType::DtUint8, &[2]);
        t.int_val = vec![255, 3];
        assert_eq!(ConstTensor::from_proto(&t).unwrap().data, vec![255, 3]);
    }

    #[test]
    fn malformed_constants_are_errors() {
        let mut t = proto(DataType::DtFloat, &[3]);
        t.tensor_content = vec![0; 8];
        assert!(ConstTensor::from_proto(&t)
            .unwrap_err()
            .contains("needs 12"));
        let mut t = proto(DataType::DtFloat, &[1]);
        t.float_val = vec![1.0, 2.0];
        assert!(ConstTensor::from_proto(&t).is_err());
        assert!(ConstTensor::from_proto(&proto(DataType::DtFloat, &[-1, 2])).is_err());
        let big = proto(DataType::DtFloat, &[1 << 40, 1 << 40]);
        assert!(ConstTensor::from_proto(&big)
            .unwrap_err()
            .contains("too large"));
        assert!(ConstTensor::from_proto(&proto(DataType::DtString, &[1])).is_err());
        let empty_but_huge = proto(DataType::DtFloat, &[0, 1 << 40]);
        assert!(ConstTensor::from_proto(&empty_but_huge)
            .unwrap_err()
            .contains("2^31-1"));
        // Fuzz-found: 2^29 floats splatted from one value used to allocate 4 GiB.
        let mut bomb = proto(DataType::DtFloat, &[1 << 29]);
        bomb.float_val = vec![1.0];
        assert!(ConstTensor::from_proto(&bomb)
            .unwrap_err()
            .contains("splats above"));
        assert!(ConstTensor::from_proto(&proto(DataType::DtVariant, &[1])).is_err());
    }

    #[test]
    fn casts_follow_tf() {
        let f = ConstTensor::from_f32(vec![3], &[1.7, -1.7, 3.0]);
        assert_eq!(
            f.cast(DType::I32).unwrap().to_i64().unwrap(),
            vec![1, -1, 3]
        );
        let h = f.cast(DType::F16).unwrap();
        assert_eq!(h.data.len(), 6);
        let i = ConstTensor::from_i64(vec![2], &[5, -3]);
        assert_eq!(
            i.cast(DType::F32).unwrap().to_f32().unwrap(),
            vec![5.0, -3.0]
        );
        assert_eq!(i.cast(DType::I32).unwrap().dtype, DType::I32);
    }
}
