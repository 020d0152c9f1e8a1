//! [`NpyDType`], the element types this crate reads and writes, and the [`Element`] trait that
//! maps Rust scalar types onto them.
//!
//! Only little-endian numeric types and `bool` are supported: `<f2 <f4 <f8`, `|i1 |u1`,
//! `<i2 <u2 <i4 <u4 <i8 <u8` and `|b1`. Single-byte types are accepted with any byte-order
//! character (`|`, `<`, `>`, `=`) since order is meaningless for them.

use half::f16;

/// Element type of an [`Array`](crate::Array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NpyDType {
    /// `bool` (`|b1`), one byte per element, 0 or 1.
    Bool,
    /// `int8` (`|i1`).
    I8,
    /// `uint8` (`|u1`).
    U8,
    /// `int16` (`<i2`).
    I16,
    /// `uint16` (`<u2`).
    U16,
    /// `int32` (`<i4`).
    I32,
    /// `uint32` (`<u4`).
    U32,
    /// `int64` (`<i8`).
    I64,
    /// `uint64` (`<u8`).
    U64,
    /// `float16` (`<f2`), IEEE half precision.
    F16,
    /// `float32` (`<f4`).
    F32,
    /// `float64` (`<f8`).
    F64,
}

impl NpyDType {
    /// Every supported dtype.
    pub const ALL: [NpyDType; 12] = [
        NpyDType::Bool,
        NpyDType::I8,
        NpyDType::U8,
        NpyDType::I16,
        NpyDType::U16,
        NpyDType::I32,
        NpyDType::U32,
        NpyDType::I64,
        NpyDType::U64,
        NpyDType::F16,
        NpyDType::F32,
        NpyDType::F64,
    ];

    /// Bytes per element.
    pub fn item_size(self) -> usize {
        match self {
            NpyDType::Bool | NpyDType::I8 | NpyDType::U8 => 1,
            NpyDType::I16 | NpyDType::U16 | NpyDType::F16 => 2,
            NpyDType::I32 | NpyDType::U32 | NpyDType::F32 => 4,
            NpyDType::I64 | NpyDType::U64 | NpyDType::F64 => 8,
        }
    }

    /// The descriptor NumPy writes in headers (`dtype.str`): `<f4`, `|i1`, ...
    pub fn descr(self) -> &'static str {
        match self {
            NpyDType::Bool => "|b1",
            NpyDType::I8 => "|i1",
            NpyDType::U8 => "|u1",
            NpyDType::I16 => "<i2",
            NpyDType::U16 => "<u2",
            NpyDType::I32 => "<i4",
            NpyDType::U32 => "<u4",
            NpyDType::I64 => "<i8",
            NpyDType::U64 => "<u8",
            NpyDType::F16 => "<f2",
            NpyDType::F32 => "<f4",
            NpyDType::F64 => "<f8",
        }
    }

    /// NumPy's name (`float32`, `int8`, `bool`, ...).
    pub fn name(self) -> &'static str {
        match self {
            NpyDType::Bool => "bool",
            NpyDType::I8 => "int8",
            NpyDType::U8 => "uint8",
            NpyDType::I16 => "int16",
            NpyDType::U16 => "uint16",
            NpyDType::I32 => "int32",
            NpyDType::U32 => "uint32",
            NpyDType::I64 => "int64",
            NpyDType::U64 => "uint64",
            NpyDType::F16 => "float16",
            NpyDType::F32 => "float32",
            NpyDType::F64 => "float64",
        }
    }

    /// Looks a dtype up by its NumPy name (`"float32"`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// True for `float16/32/64`.
    pub fn is_float(self) -> bool {
        matches!(self, NpyDType::F16 | NpyDType::F32 | NpyDType::F64)
    }

    /// Parses a header descriptor; the error string says why it is rejected.
    pub fn from_descr(descr: &str) -> Result<Self, String> {
        let bytes = descr.as_bytes();
        if bytes.len() < 2 || !descr.is_ascii() {
            return Err("not a simple type descriptor like '<f4'".into());
        }
        let (order, kind) = (bytes[0], &descr[1..]);
        if !matches!(order, b'<' | b'>' | b'|' | b'=') {
            return Err("not a simple type descriptor like '<f4'".into());
        }
        let dtype = match kind {
            "b1" => NpyDType::Bool,
            "i1" => NpyDType::I8,
            "u1" => NpyDType::U8,
            "i2" => NpyDType::I16,
            "u2" => NpyDType::U16,
            "i4" => NpyDType::I32,
            "u4" => NpyDType::U32,
            "i8" => NpyDType::I64,
            "u8" => NpyDType::U64,
            "f2" => NpyDType::F16,
            "f4" => NpyDType::F32,
            "f8" => NpyDType::F64,
            _ => {
                return Err(
                    "only bool, int8..int64, uint8..uint64 and float16/32/64 are supported".into(),
                )
            }
        };
        if dtype.item_size() > 1 {
            match order {
                b'<' => {}
                b'>' => {
                    return Err("big-endian data is not supported (save it with arr.astype(arr.dtype.newbyteorder('<')))".into())
                }
                _ => return Err("multi-byte types need an explicit '<' (little-endian) byte order".into()),
            }
        }
        Ok(dtype)
    }
}

impl std::fmt::Display for NpyDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust scalar type stored in `.npy` files; implemented for `bool`, the integer types,
/// [`half::f16`], `f32` and `f64`.
pub trait Element: Copy + sealed::Sealed {
    /// The matching dtype.
    const DTYPE: NpyDType;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
    /// Decodes one element from exactly `DTYPE.item_size()` bytes.
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! element {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: NpyDType = NpyDType::$d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                <$t>::from_le_bytes(b)
            }
        }
    )*};
}

element!(i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, u64 => U64, f16 => F16, f32 => F32, f64 => F64);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: NpyDType = NpyDType::Bool;
    fn put(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
    fn get(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_round_trip() {
        for d in NpyDType::ALL {
            assert_eq!(NpyDType::from_descr(d.descr()), Ok(d));
            assert_eq!(NpyDType::from_name(d.name()), Some(d));
        }
    }

    #[test]
    fn byte_order_rules() {
        assert_eq!(NpyDType::from_descr("<i1"), Ok(NpyDType::I8));
        assert_eq!(NpyDType::from_descr(">u1"), Ok(NpyDType::U8));
        assert!(NpyDType::from_descr(">f4")
            .unwrap_err()
            .contains("big-endian"));
        assert!(NpyDType::from_descr("|f4").is_err());
        assert!(NpyDType::from_descr("<c8").is_err());
        assert!(NpyDType::from_descr("O").is_err());
        assert!(NpyDType::from_descr("").is_err());
        assert!(NpyDType::from_descr("<U10").is_err());
    }
}
