//! Element types of tensors, numbered as TFLite's `TensorType` enum.

use std::fmt;

/// A tensor element type. The discriminants are TFLite's `TensorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum DType {
    /// 32-bit float.
    F32 = 0,
    /// IEEE half float.
    F16 = 1,
    /// 32-bit signed integer.
    I32 = 2,
    /// 8-bit unsigned integer.
    U8 = 3,
    /// 64-bit signed integer.
    I64 = 4,
    /// Variable-length strings (TFLite's packed string format).
    String = 5,
    /// Boolean, one byte per element.
    Bool = 6,
    /// 16-bit signed integer.
    I16 = 7,
    /// Complex of two f32.
    Complex64 = 8,
    /// 8-bit signed integer.
    I8 = 9,
    /// 64-bit float.
    F64 = 10,
    /// Complex of two f64.
    Complex128 = 11,
    /// 64-bit unsigned integer.
    U64 = 12,
    /// Resource handle (opaque).
    Resource = 13,
    /// Variant (opaque).
    Variant = 14,
    /// 32-bit unsigned integer.
    U32 = 15,
    /// 16-bit unsigned integer.
    U16 = 16,
    /// 4-bit signed integer, packed two per byte in constant buffers.
    I4 = 17,
    /// bfloat16.
    BF16 = 18,
    /// 2-bit signed integer, packed four per byte.
    I2 = 19,
    /// 4-bit unsigned integer, packed two per byte.
    U4 = 20,
    /// 8-bit float e4m3fn.
    F8E4M3FN = 21,
    /// 8-bit float e5m2.
    F8E5M2 = 22,
}

impl DType {
    /// All known types in `TensorType` order.
    pub const ALL: [DType; 23] = [
        DType::F32,
        DType::F16,
        DType::I32,
        DType::U8,
        DType::I64,
        DType::String,
        DType::Bool,
        DType::I16,
        DType::Complex64,
        DType::I8,
        DType::F64,
        DType::Complex128,
        DType::U64,
        DType::Resource,
        DType::Variant,
        DType::U32,
        DType::U16,
        DType::I4,
        DType::BF16,
        DType::I2,
        DType::U4,
        DType::F8E4M3FN,
        DType::F8E5M2,
    ];

    /// The type for a raw `TensorType` value, if known.
    pub fn from_code(code: i64) -> Option<DType> {
        usize::try_from(code)
            .ok()
            .and_then(|i| DType::ALL.get(i).copied())
    }

    /// The raw `TensorType` value.
    pub fn code(self) -> i8 {
        self as i8
    }

    /// Bits per element for fixed-size types; `None` for strings, resources and variants.
    pub fn bits(self) -> Option<usize> {
        Some(match self {
            DType::I2 => 2,
            DType::I4 | DType::U4 => 4,
            DType::U8 | DType::I8 | DType::Bool | DType::F8E4M3FN | DType::F8E5M2 => 8,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 16,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F64 | DType::I64 | DType::U64 | DType::Complex64 => 64,
            DType::Complex128 => 128,
            DType::String | DType::Resource | DType::Variant => return None,
        })
    }

    /// Bytes needed for `elements` values stored densely (sub-byte types packed, rounded up).
    pub fn byte_len(self, elements: usize) -> Option<usize> {
        let bits = self.bits()?;
        elements.checked_mul(bits).map(|b| b.div_ceil(8))
    }

    /// TFLite's upper-case name (`FLOAT32`, `INT8`, ...).
    pub fn tflite_name(self) -> &'static str {
        match self {
            DType::F32 => "FLOAT32",
            DType::F16 => "FLOAT16",
            DType::I32 => "INT32",
            DType::U8 => "UINT8",
            DType::I64 => "INT64",
            DType::String => "STRING",
            DType::Bool => "BOOL",
            DType::I16 => "INT16",
            DType::Complex64 => "COMPLEX64",
            DType::I8 => "INT8",
            DType::F64 => "FLOAT64",
            DType::Complex128 => "COMPLEX128",
            DType::U64 => "UINT64",
            DType::Resource => "RESOURCE",
            DType::Variant => "VARIANT",
            DType::U32 => "UINT32",
            DType::U16 => "UINT16",
            DType::I4 => "INT4",
            DType::BF16 => "BFLOAT16",
            DType::I2 => "INT2",
            DType::U4 => "UINT4",
            DType::F8E4M3FN => "FLOAT8_E4M3FN",
            DType::F8E5M2 => "FLOAT8_E5M2",
        }
    }

    /// NumPy's name for the type (`float32`, `int8`, ...), as LiteRT's Python API prints it.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::I64 => "int64",
            DType::String => "object",
            DType::Bool => "bool",
            DType::I16 => "int16",
            DType::Complex64 => "complex64",
            DType::I8 => "int8",
            DType::F64 => "float64",
            DType::Complex128 => "complex128",
            DType::U64 => "uint64",
            DType::U32 => "uint32",
            DType::U16 => "uint16",
            DType::I4 => "int4",
            DType::BF16 => "bfloat16",
            DType::Resource => "resource",
            DType::Variant => "variant",
            DType::I2 => "int2",
            DType::U4 => "uint4",
            DType::F8E4M3FN => "float8_e4m3fn",
            DType::F8E5M2 => "float8_e5m2",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tflite_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_tensor_type_numbering() {
        for (i, d) in DType::ALL.iter().enumerate() {
            assert_eq!(d.code() as usize, i);
            assert_eq!(DType::from_code(i as i64), Some(*d));
        }
        assert_eq!(DType::I8.code(), 9);
        assert_eq!(DType::from_code(23), None);
        assert_eq!(DType::from_code(-1), None);
    }

    #[test]
    fn byte_lengths_pack_sub_byte_types() {
        assert_eq!(DType::F32.byte_len(3), Some(12));
        assert_eq!(DType::I4.byte_len(3), Some(2));
        assert_eq!(DType::String.byte_len(3), None);
        assert_eq!(DType::F64.byte_len(usize::MAX), None);
    }
}
