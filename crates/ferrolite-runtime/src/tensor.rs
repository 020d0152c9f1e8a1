//! Tensor views handed to kernels, element types, and aligned owned storage.

use crate::kernels::common::KernelError;
use ferrolite_model::{DType, Quantization};

/// A Rust element type that maps to one tensor dtype.
pub trait Element: bytemuck::Pod {
    /// The tensor dtype holding this element type.
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$d;
        }
    )*};
}
element!(f32 => F32, f64 => F64, i32 => I32, i64 => I64, u8 => U8, i8 => I8, i16 => I16, u16 => U16, u32 => U32, u64 => U64);

/// Casts bytes to elements, failing (not panicking) on misalignment or a ragged length.
pub fn cast<T: bytemuck::Pod>(bytes: &[u8]) -> Result<&[T], KernelError> {
    bytemuck::try_cast_slice(bytes).map_err(|e| {
        KernelError::Param(format!(
            "tensor data cannot be viewed as {}: {e:?}",
            std::any::type_name::<T>()
        ))
    })
}

/// Mutable version of [`cast`].
pub fn cast_mut<T: bytemuck::Pod>(bytes: &mut [u8]) -> Result<&mut [T], KernelError> {
    bytemuck::try_cast_slice_mut(bytes).map_err(|e| {
        KernelError::Param(format!(
            "tensor data cannot be viewed as {}: {e:?}",
            std::any::type_name::<T>()
        ))
    })
}

/// A read-only operand during `eval`.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    /// Resolved shape.
    pub shape: &'a [usize],
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian data.
    pub bytes: &'a [u8],
    /// Quantization parameters, when any.
    pub quant: Option<&'a Quantization>,
}

impl<'a> TensorView<'a> {
    /// The data as a typed slice.
    pub fn data<T: bytemuck::Pod>(&self) -> Result<&'a [T], KernelError> {
        cast(self.bytes)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A writable result operand during `eval`.
#[derive(Debug)]
pub struct TensorViewMut<'a> {
    /// Resolved shape.
    pub shape: &'a [usize],
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian data to fill.
    pub bytes: &'a mut [u8],
    /// Quantization parameters, when any.
    pub quant: Option<&'a Quantization>,
}

impl TensorViewMut<'_> {
    /// The data as a typed mutable slice.
    pub fn data<T: bytemuck::Pod>(&mut self) -> Result<&mut [T], KernelError> {
        cast_mut(self.bytes)
    }
}

/// Heap bytes aligned to 16, for constants that were not aligned in the file and values computed
/// while preparing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlignedBytes {
    words: Vec<u128>,
    len: usize,
}

impl AlignedBytes {
    /// Zeroed storage of `len` bytes.
    pub fn zeroed(len: usize) -> Self {
        AlignedBytes {
            words: vec![0u128; len.div_ceil(16)],
            len,
        }
    }

    /// Zeroed storage of `len` bytes, or `None` when the allocator cannot provide it (instead of
    /// aborting the process).
    pub fn try_zeroed(len: usize) -> Option<Self> {
        let mut words = Vec::new();
        words.try_reserve_exact(len.div_ceil(16)).ok()?;
        words.resize(len.div_ceil(16), 0u128);
        Some(AlignedBytes { words, len })
    }

    /// The underlying 16-byte words (the last one zero-padded).
    pub fn into_words(self) -> Vec<u128> {
        self.words
    }

    /// A 16-byte-aligned copy of `bytes`.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut a = AlignedBytes::zeroed(bytes.len());
        a.as_mut_slice().copy_from_slice(bytes);
        a
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_bytes_cast_to_wide_types() {
        let mut a = AlignedBytes::zeroed(12);
        cast_mut::<f32>(a.as_mut_slice())
            .unwrap()
            .copy_from_slice(&[1.0, 2.0, 3.0]);
        assert_eq!(cast::<f32>(a.as_slice()).unwrap(), &[1.0, 2.0, 3.0]);
        assert!(cast::<f32>(&a.as_slice()[1..5]).is_err());
    }
}
