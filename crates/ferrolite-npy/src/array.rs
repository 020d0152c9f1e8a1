//! [`Array`]: a dtype, a shape and the raw little-endian bytes of a C-order array, with typed
//! constructors and converting accessors.

use crate::dtype::{Element, NpyDType};
use crate::error::{NpyError, Result};
use half::f16;

/// An n-dimensional array as stored in a `.npy` file: C order, little-endian.
///
/// The invariant `data.len() == shape.iter().product() * dtype.item_size()` is checked by the
/// readers and the constructors; code that builds an `Array` literal should call
/// [`Array::validate`] before relying on it. Accessors never panic if it is broken; they
/// only look at whole elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Element type.
    pub dtype: NpyDType,
    /// Dimensions; empty for a 0-d (scalar) array.
    pub shape: Vec<usize>,
    /// Raw element bytes, little-endian, C order.
    pub data: Vec<u8>,
}

/// Number of elements of `shape`, or `None` on overflow.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl Array {
    /// Builds an array from raw little-endian bytes, checking their length.
    pub fn new(dtype: NpyDType, shape: Vec<usize>, data: Vec<u8>) -> Result<Self> {
        let a = Array { dtype, shape, data };
        a.validate()?;
        Ok(a)
    }

    /// An array of zeros.
    pub fn zeros(dtype: NpyDType, shape: &[usize]) -> Result<Self> {
        let bytes = element_count(shape)
            .and_then(|n| n.checked_mul(dtype.item_size()))
            .ok_or_else(|| length_error(dtype, shape, u64::MAX, 0))?;
        Ok(Array {
            dtype,
            shape: shape.to_vec(),
            data: vec![0; bytes],
        })
    }

    /// Checks that the data length matches the shape and dtype.
    pub fn validate(&self) -> Result<()> {
        let expected =
            element_count(&self.shape).and_then(|n| n.checked_mul(self.dtype.item_size()));
        if expected != Some(self.data.len()) {
            return Err(length_error(
                self.dtype,
                &self.shape,
                expected.map_or(u64::MAX, |e| e as u64),
                self.data.len() as u64,
            ));
        }
        Ok(())
    }

    /// Number of elements (the product of the shape; 1 for a scalar).
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.item_size()
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds an array of any [`Element`] type; the element count must match the shape.
    pub fn from_values<T: Element>(shape: &[usize], values: &[T]) -> Result<Self> {
        if element_count(shape) != Some(values.len()) {
            let item = T::DTYPE.item_size() as u64;
            return Err(length_error(
                T::DTYPE,
                shape,
                element_count(shape).map_or(u64::MAX, |n| (n as u64).saturating_mul(item)),
                (values.len() as u64).saturating_mul(item),
            ));
        }
        let mut data = Vec::with_capacity(values.len() * T::DTYPE.item_size());
        for &v in values {
            v.put(&mut data);
        }
        Ok(Array {
            dtype: T::DTYPE,
            shape: shape.to_vec(),
            data,
        })
    }

    /// The elements as `T`, which must be exactly the array's dtype.
    pub fn values<T: Element>(&self) -> Result<Vec<T>> {
        if self.dtype != T::DTYPE {
            return Err(NpyError::DTypeMismatch {
                actual: self.dtype.name(),
                requested: T::DTYPE.name(),
            });
        }
        Ok(self
            .data
            .chunks_exact(T::DTYPE.item_size())
            .map(T::get)
            .collect())
    }

    /// A float32 array.
    pub fn from_f32(shape: &[usize], values: &[f32]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// A float64 array.
    pub fn from_f64(shape: &[usize], values: &[f64]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// A float16 array.
    pub fn from_f16(shape: &[usize], values: &[f16]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// An int8 array.
    pub fn from_i8(shape: &[usize], values: &[i8]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// A uint8 array.
    pub fn from_u8(shape: &[usize], values: &[u8]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// An int16 array.
    pub fn from_i16(shape: &[usize], values: &[i16]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// An int32 array.
    pub fn from_i32(shape: &[usize], values: &[i32]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// An int64 array.
    pub fn from_i64(shape: &[usize], values: &[i64]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// A bool array.
    pub fn from_bool(shape: &[usize], values: &[bool]) -> Result<Self> {
        Self::from_values(shape, values)
    }

    /// Every element converted to `f64` (exact for all types except 64-bit integers beyond
    /// 2^53; bool becomes 0 or 1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let n = self.dtype.item_size();
        let chunks = self.data.chunks_exact(n);
        match self.dtype {
            NpyDType::Bool => chunks.map(|b| f64::from(u8::from(b[0] != 0))).collect(),
            NpyDType::I8 => chunks.map(|b| f64::from(i8::get(b))).collect(),
            NpyDType::U8 => chunks.map(|b| f64::from(b[0])).collect(),
            NpyDType::I16 => chunks.map(|b| f64::from(i16::get(b))).collect(),
            NpyDType::U16 => chunks.map(|b| f64::from(u16::get(b))).collect(),
            NpyDType::I32 => chunks.map(|b| f64::from(i32::get(b))).collect(),
            NpyDType::U32 => chunks.map(|b| f64::from(u32::get(b))).collect(),
            NpyDType::I64 => chunks.map(|b| i64::get(b) as f64).collect(),
            NpyDType::U64 => chunks.map(|b| u64::get(b) as f64).collect(),
            NpyDType::F16 => chunks.map(|b| f16::get(b).to_f64()).collect(),
            NpyDType::F32 => chunks.map(|b| f64::from(f32::get(b))).collect(),
            NpyDType::F64 => chunks.map(f64::get).collect(),
        }
    }

    /// Every element converted to `f32` (like NumPy's `astype(np.float32)`: round to nearest;
    /// bool becomes 0 or 1).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let n = self.dtype.item_size();
        let chunks = self.data.chunks_exact(n);
        match self.dtype {
            NpyDType::F32 => chunks.map(f32::get).collect(),
            NpyDType::F16 => chunks.map(|b| f16::get(b).to_f32()).collect(),
            NpyDType::I8 => chunks.map(|b| f32::from(i8::get(b))).collect(),
            NpyDType::U8 => chunks.map(|b| f32::from(b[0])).collect(),
            NpyDType::I16 => chunks.map(|b| f32::from(i16::get(b))).collect(),
            NpyDType::U16 => chunks.map(|b| f32::from(u16::get(b))).collect(),
            NpyDType::I32 => chunks.map(|b| i32::get(b) as f32).collect(),
            NpyDType::U32 => chunks.map(|b| u32::get(b) as f32).collect(),
            NpyDType::I64 => chunks.map(|b| i64::get(b) as f32).collect(),
            NpyDType::U64 => chunks.map(|b| u64::get(b) as f32).collect(),
            // Direct f64 -> f32 rounding (not via an intermediate) keeps it a single rounding.
            NpyDType::F64 => chunks.map(|b| f64::get(b) as f32).collect(),
            NpyDType::Bool => chunks.map(|b| f32::from(u8::from(b[0] != 0))).collect(),
        }
    }

    /// Every element converted to `i64`: integers and bool exactly (uint64 above `i64::MAX`
    /// saturates), floats truncated toward zero and saturated (NaN becomes 0).
    pub fn to_i64_vec(&self) -> Vec<i64> {
        let n = self.dtype.item_size();
        let chunks = self.data.chunks_exact(n);
        match self.dtype {
            NpyDType::Bool => chunks.map(|b| i64::from(b[0] != 0)).collect(),
            NpyDType::I8 => chunks.map(|b| i64::from(i8::get(b))).collect(),
            NpyDType::U8 => chunks.map(|b| i64::from(b[0])).collect(),
            NpyDType::I16 => chunks.map(|b| i64::from(i16::get(b))).collect(),
            NpyDType::U16 => chunks.map(|b| i64::from(u16::get(b))).collect(),
            NpyDType::I32 => chunks.map(|b| i64::from(i32::get(b))).collect(),
            NpyDType::U32 => chunks.map(|b| i64::from(u32::get(b))).collect(),
            NpyDType::I64 => chunks.map(i64::get).collect(),
            NpyDType::U64 => chunks
                .map(|b| i64::try_from(u64::get(b)).unwrap_or(i64::MAX))
                .collect(),
            NpyDType::F16 => chunks.map(|b| f16::get(b).to_f64() as i64).collect(),
            NpyDType::F32 => chunks.map(|b| f32::get(b) as i64).collect(),
            NpyDType::F64 => chunks.map(|b| f64::get(b) as i64).collect(),
        }
    }
}

pub(crate) fn length_error(
    dtype: NpyDType,
    shape: &[usize],
    expected: u64,
    found: u64,
) -> NpyError {
    NpyError::DataLength {
        file: "<array>".into(),
        shape: shape.to_vec(),
        dtype: dtype.name(),
        expected,
        found,
        more: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_round_trips() {
        let a = Array::from_f32(&[2, 2], &[1.0, -2.5, 3.25, f32::MAX]).unwrap();
        assert_eq!(a.data.len(), 16);
        assert_eq!(a.values::<f32>().unwrap(), vec![1.0, -2.5, 3.25, f32::MAX]);
        assert!(matches!(
            a.values::<i32>(),
            Err(NpyError::DTypeMismatch { .. })
        ));
        let b = Array::from_i8(&[3], &[-128, 0, 127]).unwrap();
        assert_eq!(b.to_f32_vec(), vec![-128.0, 0.0, 127.0]);
        assert_eq!(b.to_i64_vec(), vec![-128, 0, 127]);
        let s = Array::from_f64(&[], &[0.1]).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.to_f32_vec(), vec![0.1f32]);
        let h = Array::from_f16(&[2], &[f16::from_f32(0.5), f16::from_f32(-2.0)]).unwrap();
        assert_eq!(h.to_f32_vec(), vec![0.5, -2.0]);
        let t = Array::from_bool(&[2], &[true, false]).unwrap();
        assert_eq!(t.data, vec![1, 0]);
        assert_eq!(t.to_f64_vec(), vec![1.0, 0.0]);
        let u = Array::from_values::<u64>(&[1], &[u64::MAX]).unwrap();
        assert_eq!(u.to_i64_vec(), vec![i64::MAX]);
        let f = Array::from_f32(&[3], &[f32::NAN, -1.9, 1e30]).unwrap();
        assert_eq!(f.to_i64_vec(), vec![0, -1, i64::MAX]);
    }

    #[test]
    fn length_is_checked() {
        assert!(Array::from_f32(&[3], &[1.0]).is_err());
        assert!(Array::new(NpyDType::I16, vec![2], vec![0; 3]).is_err());
        assert!(Array::new(NpyDType::I16, vec![usize::MAX, 2], vec![]).is_err());
        assert!(Array::zeros(NpyDType::F64, &[usize::MAX]).is_err());
        assert_eq!(Array::zeros(NpyDType::F64, &[2, 0]).unwrap().len(), 0);
        let broken = Array {
            dtype: NpyDType::F32,
            shape: vec![2],
            data: vec![0; 5],
        };
        assert!(broken.validate().is_err());
        assert_eq!(broken.to_f32_vec().len(), 1);
    }
}
